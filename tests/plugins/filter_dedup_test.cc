// filter_dedup loaded through the real host with an injected clock: window
// boundaries are exact, eviction under max_keys is LRU and counted, and
// events missing a key field are never dropped.
#include <gtest/gtest.h>

#include "plugin_test_support.h"

namespace edge::plugins {
namespace {

using namespace edge::plugins::testing;

class FilterDedupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_ = loadFirstParty("filter_dedup");
    ASSERT_NE(plugin_, nullptr);
    env_.metrics = &metrics_;
    env_.clock = clock_.fn();
  }

  Result<std::unique_ptr<ProcessorInstance>> make(const std::string& yaml) {
    auto options = optionsFromYaml(*plugin_, yaml);
    if (!options) return options.error();
    return ProcessorInstance::create(plugin_, "dedup", *options, env_);
  }

  static Event msg(const std::string& host, const std::string& text) {
    return makeEvent("log", {{"msg", text}}, host);
  }

  // The messages of the events that survived.
  static std::vector<std::string> pass(ProcessorInstance& instance, std::vector<Event> events) {
    ProcessOutcome out = instance.process(events);
    EXPECT_FALSE(out.failed) << out.error;
    std::vector<std::string> kept;
    for (const Event& e : events) kept.push_back(e.host + ":" + stringField(e, "msg"));
    return kept;
  }

  uint64_t counter(const std::string& name) {
    std::string text = metrics_.renderPrometheus();
    std::string series = name + "{";
    size_t at = text.find("\n" + series);
    if (at == std::string::npos) return 0;
    size_t space = text.find("} ", at);
    return std::stoull(text.substr(space + 2));
  }

  PluginPtr plugin_;
  MetricsRegistry metrics_;
  FakeClock clock_;
  HostEnvironment env_;
};

using Kept = std::vector<std::string>;

TEST_F(FilterDedupTest, DropsRepeatsWithinTheWindowOnly) {
  auto instance = make("key: \"{host}:{msg}\"\nwindow: 10s\n");
  ASSERT_TRUE(instance) << instance.error().message;

  // Duplicates inside one batch, and the same message from another host.
  EXPECT_EQ(pass(**instance, {msg("a", "disk full"), msg("a", "disk full"), msg("b", "disk full")}),
            (Kept{"a:disk full", "b:disk full"}));
  clock_.advanceMs(9999);  // 1 ms before the window ends
  EXPECT_EQ(pass(**instance, {msg("a", "disk full")}), Kept{});
  clock_.advanceMs(1);  // window over: passes and opens a new window
  EXPECT_EQ(pass(**instance, {msg("a", "disk full")}), (Kept{"a:disk full"}));
  clock_.advanceMs(5000);  // the window counts from that pass, not from the drops
  EXPECT_EQ(pass(**instance, {msg("a", "disk full")}), Kept{});
  clock_.advanceMs(5000);
  EXPECT_EQ(pass(**instance, {msg("a", "disk full")}), (Kept{"a:disk full"}));

  EXPECT_EQ(counter("edge_plugin_filter_dedup_duplicates_total"), 3u);
  EXPECT_EQ(counter("edge_plugins_events_dropped_total"), 3u);
}

TEST_F(FilterDedupTest, EventsMissingAKeyFieldAlwaysPass) {
  auto instance = make("key: \"{host}:{msg}\"\n");
  ASSERT_TRUE(instance) << instance.error().message;
  std::vector<Event> events{makeEvent("log"), makeEvent("log"), makeEvent("log")};
  ProcessOutcome out = (*instance)->process(events);
  EXPECT_EQ(out.dropped, 0u);
  EXPECT_EQ(events.size(), 3u);
}

TEST_F(FilterDedupTest, MaxKeysEvictsTheLeastRecentlySeenAndCountsIt) {
  auto instance = make("key: \"{msg}\"\nwindow: 1h\nmax_keys: 2\n");
  ASSERT_TRUE(instance) << instance.error().message;
  EXPECT_EQ(pass(**instance, {msg("h", "one"), msg("h", "two")}), (Kept{"h:one", "h:two"}));
  clock_.advanceMs(10);
  EXPECT_EQ(pass(**instance, {msg("h", "one")}), Kept{});  // "one" is now the most recent
  clock_.advanceMs(10);
  EXPECT_EQ(pass(**instance, {msg("h", "three")}), (Kept{"h:three"}));  // evicts "two"
  EXPECT_EQ(counter("edge_plugin_filter_dedup_evictions_total"), 1u);
  clock_.advanceMs(10);
  // "two" was forgotten, so it passes again (evicting "one"); "three" is remembered.
  EXPECT_EQ(pass(**instance, {msg("h", "two"), msg("h", "three")}), (Kept{"h:two"}));
  EXPECT_EQ(counter("edge_plugin_filter_dedup_evictions_total"), 2u);
}

TEST_F(FilterDedupTest, ExpiredKeysAreNotCountedAsEvictions) {
  auto instance = make("key: \"{msg}\"\nwindow: 1s\nmax_keys: 1\n");
  ASSERT_TRUE(instance) << instance.error().message;
  EXPECT_EQ(pass(**instance, {msg("h", "one")}), (Kept{"h:one"}));
  clock_.advanceMs(2000);
  EXPECT_EQ(pass(**instance, {msg("h", "two")}), (Kept{"h:two"}));
  EXPECT_EQ(counter("edge_plugin_filter_dedup_evictions_total"), 0u);
}

TEST_F(FilterDedupTest, LongKeysAreDigestedWithoutMixingThemUp) {
  auto instance = make("key: \"{msg}\"\n");
  ASSERT_TRUE(instance) << instance.error().message;
  std::string long_a(5000, 'a');
  std::string long_b = long_a;
  long_b.back() = 'b';
  EXPECT_EQ(pass(**instance, {msg("h", long_a), msg("h", long_b), msg("h", long_a)}).size(), 2u);
}

TEST_F(FilterDedupTest, BadOptionsAreRefusedWithTheReason) {
  auto zero = make("key: \"{msg}\"\nwindow: 0s\n");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().message,
            "plugin filter_dedup, instance dedup: option window must be positive, e.g. 60s");
  auto keys = make("key: \"{msg}\"\nmax_keys: 0\n");
  ASSERT_FALSE(keys);
  EXPECT_EQ(
      keys.error().message,
      "plugin filter_dedup, instance dedup: option max_keys must be from 1 to 100000000, got 0");
  auto unbalanced = make("key: \"{msg\"\n");
  ASSERT_FALSE(unbalanced);
  EXPECT_NE(unbalanced.error().message.find(
                "option key: template \"{msg\": '{' at offset 0 is never closed"),
            std::string::npos);
}

TEST_F(FilterDedupTest, ReloadKeepsStateUnlessTheKeyChanges) {
  auto instance = make("key: \"{msg}\"\nwindow: 1h\n");
  ASSERT_TRUE(instance) << instance.error().message;
  EXPECT_EQ(pass(**instance, {msg("a", "x")}).size(), 1u);
  auto longer = optionsFromYaml(*plugin_, "key: \"{msg}\"\nwindow: 2h\n");
  ASSERT_TRUE(longer);
  ASSERT_TRUE((*instance)->reconfigure(*longer));
  EXPECT_EQ(pass(**instance, {msg("a", "x")}).size(), 0u);  // still remembered
  auto rekeyed = optionsFromYaml(*plugin_, "key: \"{host}:{msg}\"\n");
  ASSERT_TRUE(rekeyed);
  ASSERT_TRUE((*instance)->reconfigure(*rekeyed));
  EXPECT_EQ(pass(**instance, {msg("a", "x")}).size(), 1u);  // new key space
}

}  // namespace
}  // namespace edge::plugins
