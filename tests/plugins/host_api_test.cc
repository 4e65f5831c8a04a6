// The edge_host_* callback table over a HostBatch, called directly as a C
// plugin would: views, typed fields, read-only rules, drop/emit and commit.
#include <gtest/gtest.h>

#include <cstring>

#include "plugin_test_support.h"

namespace edge::plugins {
namespace {

using namespace edge::plugins::testing;

edge_str s(const char* text) { return edge_str{text, std::strlen(text)}; }
std::string str(edge_str v) { return std::string(v.data ? v.data : "", v.len); }

class HostApiTest : public ::testing::Test {
 protected:
  const edge_host_api* api = hostApi();
};

TEST_F(HostApiTest, TableStartsWithItsSizeAndVersion) {
  EXPECT_EQ(api->struct_size, sizeof(edge_host_api));
  EXPECT_EQ(api->abi_minor, EDGE_PLUGIN_ABI_MINOR);
  // Every 1.0 entry is implemented.
  const void* const* first = reinterpret_cast<const void* const*>(&api->edge_host_batch_size);
  size_t count =
      (sizeof(edge_host_api) - offsetof(edge_host_api, edge_host_batch_size)) / sizeof(void*);
  for (size_t i = 0; i < count; ++i) EXPECT_NE(first[i], nullptr) << "entry " << i;
}

TEST_F(HostApiTest, AttributesAndTypedFields) {
  std::vector<Event> events{makeEvent("log", {{"n", int64_t{5}}, {"ok", true}, {"ratio", 0.5}})};
  events[0].seq = 99;
  events[0].raw = "<13>raw line";
  HostBatch batch(events, BatchContext{}, [] { return int64_t{0}; });
  edge_event* e = api->edge_host_batch_event(batch.handle(), 0);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(api->edge_host_batch_event(batch.handle(), 1), nullptr);

  EXPECT_EQ(str(api->edge_host_event_get_str(e, EDGE_ATTR_KIND)), "log");
  EXPECT_EQ(str(api->edge_host_event_get_str(e, EDGE_ATTR_HOST)), "web-1");
  EXPECT_EQ(str(api->edge_host_event_get_str(e, EDGE_ATTR_TENANT)), "acme");
  EXPECT_EQ(str(api->edge_host_event_get_str(e, EDGE_ATTR_RAW)), "<13>raw line");
  EXPECT_EQ(api->edge_host_event_get_seq(e), 99u);
  EXPECT_EQ(api->edge_host_event_get_str(e, 42).len, 0u);

  EXPECT_EQ(api->edge_host_event_set_str(e, EDGE_ATTR_HOST, s("db-2")), EDGE_HOST_OK);
  EXPECT_EQ(api->edge_host_event_set_str(e, EDGE_ATTR_TENANT, s("evil")), EDGE_HOST_READ_ONLY);
  EXPECT_EQ(api->edge_host_event_set_str(e, 42, s("x")), EDGE_HOST_INVALID);
  EXPECT_EQ(api->edge_host_event_set_severity(e, 3), EDGE_HOST_OK);
  EXPECT_EQ(api->edge_host_event_set_severity(e, 8), EDGE_HOST_INVALID);
  EXPECT_EQ(api->edge_host_event_set_ts(e, 123), EDGE_HOST_OK);

  edge_value v{};
  ASSERT_EQ(api->edge_host_event_get_field(e, s("n"), &v), EDGE_HOST_OK);
  EXPECT_EQ(v.type, static_cast<uint32_t>(EDGE_VALUE_INT));
  EXPECT_EQ(v.integer, 5);
  ASSERT_EQ(api->edge_host_event_get_field(e, s("ok"), &v), EDGE_HOST_OK);
  EXPECT_EQ(v.type, static_cast<uint32_t>(EDGE_VALUE_BOOL));
  EXPECT_EQ(v.boolean, 1u);
  EXPECT_EQ(api->edge_host_event_get_field(e, s("absent"), &v), EDGE_HOST_NOT_FOUND);

  edge_value text{};
  text.type = EDGE_VALUE_STRING;
  text.string = s("hello");
  EXPECT_EQ(api->edge_host_event_set_field(e, s("greeting"), &text), EDGE_HOST_OK);
  edge_value bad{};
  bad.type = 17;
  EXPECT_EQ(api->edge_host_event_set_field(e, s("x"), &bad), EDGE_HOST_INVALID);
  EXPECT_EQ(api->edge_host_event_remove_field(e, s("ratio")), EDGE_HOST_OK);
  EXPECT_EQ(api->edge_host_event_remove_field(e, s("ratio")), EDGE_HOST_NOT_FOUND);

  ASSERT_EQ(api->edge_host_event_field_count(e), 3u);
  edge_str key{};
  ASSERT_EQ(api->edge_host_event_field_at(e, 2, &key, &v), EDGE_HOST_OK);
  EXPECT_EQ(str(key), "greeting");
  EXPECT_EQ(str(v.string), "hello");
  EXPECT_EQ(api->edge_host_event_field_at(e, 3, &key, &v), EDGE_HOST_NOT_FOUND);

  batch.commit();
  EXPECT_EQ(events[0].host, "db-2");
  EXPECT_EQ(events[0].tenant, "acme");
  EXPECT_EQ(events[0].severity, Severity::kError);
  EXPECT_EQ(events[0].ts_ns, 123);
  EXPECT_EQ(stringField(events[0], "greeting"), "hello");
}

TEST_F(HostApiTest, SettingAFieldFromAViewIntoTheSameEventIsSafe) {
  std::vector<Event> events{makeEvent("log", {{"a", std::string(100, 'x')}})};
  HostBatch batch(events, BatchContext{}, nullptr);
  edge_event* e = api->edge_host_batch_event(batch.handle(), 0);
  edge_value v{};
  ASSERT_EQ(api->edge_host_event_get_field(e, s("a"), &v), EDGE_HOST_OK);
  // Adding fields may reallocate the field vector under the view.
  for (int i = 0; i < 20; ++i) {
    std::string key = "copy" + std::to_string(i);
    ASSERT_EQ(api->edge_host_event_set_field(e, edge_str{key.data(), key.size()}, &v),
              EDGE_HOST_OK);
    ASSERT_EQ(api->edge_host_event_get_field(e, s("a"), &v), EDGE_HOST_OK);
  }
  edge_str host = api->edge_host_event_get_str(e, EDGE_ATTR_HOST);
  EXPECT_EQ(api->edge_host_event_set_str(e, EDGE_ATTR_HOST, host), EDGE_HOST_OK);
  batch.commit();
  EXPECT_EQ(stringField(events[0], "copy19"), std::string(100, 'x'));
  EXPECT_EQ(events[0].host, "web-1");
}

TEST_F(HostApiTest, DropAndEmitApplyOnCommitInOrder) {
  std::vector<Event> events{makeEvent("a"), makeEvent("b"), makeEvent("c")};
  HostBatch batch(events, BatchContext{"agent", 1, 0, "acme"}, [] { return int64_t{777}; });
  edge_batch* b = batch.handle();
  edge_event* second = api->edge_host_batch_event(b, 1);
  edge_str kept_view =
      api->edge_host_event_get_str(api->edge_host_batch_event(b, 0), EDGE_ATTR_KIND);
  EXPECT_EQ(api->edge_host_event_drop(second), EDGE_HOST_OK);
  EXPECT_EQ(api->edge_host_event_is_dropped(second), 1);
  // Still readable until the call returns.
  EXPECT_EQ(str(api->edge_host_event_get_str(second, EDGE_ATTR_KIND)), "b");

  edge_event* blank = api->edge_host_batch_emit(b, nullptr);
  ASSERT_NE(blank, nullptr);
  EXPECT_EQ(api->edge_host_event_get_ts(blank), 777);
  EXPECT_EQ(str(api->edge_host_event_get_str(blank, EDGE_ATTR_TENANT)), "acme");
  api->edge_host_event_set_str(blank, EDGE_ATTR_KIND, s("new"));
  edge_event* copy = api->edge_host_batch_emit(b, api->edge_host_batch_event(b, 2));
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(str(api->edge_host_event_get_str(copy, EDGE_ATTR_KIND)), "c");
  edge_event* doomed = api->edge_host_batch_emit(b, nullptr);
  api->edge_host_event_drop(doomed);
  EXPECT_EQ(api->edge_host_batch_size(b), 6u);
  EXPECT_EQ(api->edge_host_batch_event(b, 3), blank);
  // Emitting moved no existing event: an old view is still intact.
  EXPECT_EQ(str(kept_view), "a");

  HostBatch::Commit commit = batch.commit();
  EXPECT_EQ(commit.dropped, 1u);
  EXPECT_EQ(commit.emitted, 2u);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kind, "a");
  EXPECT_EQ(events[1].kind, "c");
  EXPECT_EQ(events[2].kind, "new");
  EXPECT_EQ(events[3].kind, "c");
}

TEST_F(HostApiTest, ReadOnlyBatchRefusesEveryChange) {
  const std::vector<Event> events{makeEvent("log", {{"k", std::string("v")}})};
  HostBatch batch(events, BatchContext{"agent-9", 5, 11, "acme"});
  edge_batch* b = batch.handle();
  edge_event* e = api->edge_host_batch_event(b, 0);
  edge_value v{};
  v.type = EDGE_VALUE_INT;
  EXPECT_EQ(api->edge_host_event_set_field(e, s("k"), &v), EDGE_HOST_READ_ONLY);
  EXPECT_EQ(api->edge_host_event_remove_field(e, s("k")), EDGE_HOST_READ_ONLY);
  EXPECT_EQ(api->edge_host_event_set_str(e, EDGE_ATTR_HOST, s("x")), EDGE_HOST_READ_ONLY);
  EXPECT_EQ(api->edge_host_event_set_ts(e, 1), EDGE_HOST_READ_ONLY);
  EXPECT_EQ(api->edge_host_event_drop(e), EDGE_HOST_READ_ONLY);
  EXPECT_EQ(api->edge_host_batch_emit(b, nullptr), nullptr);
  ASSERT_EQ(api->edge_host_event_get_field(e, s("k"), &v), EDGE_HOST_OK);
  EXPECT_EQ(str(v.string), "v");

  edge_batch_info info{};
  info.struct_size = sizeof(info);
  api->edge_host_batch_info(b, &info);
  EXPECT_EQ(str(info.agent_id), "agent-9");
  EXPECT_EQ(info.batch_id, 5u);
  EXPECT_EQ(info.received_ns, 11);
  EXPECT_EQ(str(info.tenant), "acme");
}

TEST_F(HostApiTest, BatchInfoHonoursAnOlderSmallerStruct) {
  std::vector<Event> events;
  HostBatch batch(events, BatchContext{"agent", 8, 0, "t"}, nullptr);
  // A plugin built when the struct ended after agent_id.
  struct {
    edge_batch_info info;
    uint64_t guard;
  } small{};
  small.guard = 0xfeedfacecafebeefULL;
  small.info.struct_size = offsetof(edge_batch_info, batch_id);
  small.info.batch_id = 1234;
  api->edge_host_batch_info(batch.handle(), &small.info);
  EXPECT_EQ(str(small.info.agent_id), "agent");
  EXPECT_EQ(small.info.batch_id, 1234u) << "wrote past the caller's struct_size";
  EXPECT_EQ(small.guard, 0xfeedfacecafebeefULL);
}

TEST_F(HostApiTest, NullHandlesAreRefusedNotDereferenced) {
  edge_value v{};
  EXPECT_EQ(api->edge_host_batch_size(nullptr), 0u);
  EXPECT_EQ(api->edge_host_batch_event(nullptr, 0), nullptr);
  EXPECT_EQ(api->edge_host_event_get_field(nullptr, s("k"), &v), EDGE_HOST_INVALID);
  EXPECT_EQ(api->edge_host_event_set_field(nullptr, s("k"), &v), EDGE_HOST_INVALID);
  EXPECT_EQ(api->edge_host_event_drop(nullptr), EDGE_HOST_INVALID);
  EXPECT_EQ(api->edge_host_counter_create(nullptr, s("x"), s("y")), nullptr);
  api->edge_host_counter_add(nullptr, 1);
}

}  // namespace
}  // namespace edge::plugins
