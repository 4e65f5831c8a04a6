// filter_fields loaded through the real host: rename/remove/set/add, redact
// and HMAC-SHA256 hashing (checked against mbedTLS directly), option errors,
// and reload that either applies completely or not at all.
#include <gtest/gtest.h>
#include <mbedtls/md.h>

#include "plugin_test_support.h"

namespace edge::plugins {
namespace {

using namespace edge::plugins::testing;

constexpr const char* kKey = "0123456789abcdef-test-key";

std::string hmacHex(const std::string& key, const std::string& value) {
  unsigned char digest[32];
  const mbedtls_md_info_t* info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  EXPECT_EQ(
      mbedtls_md_hmac(info, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                      reinterpret_cast<const unsigned char*>(value.data()), value.size(), digest),
      0);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

class FilterFieldsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_ = loadFirstParty("filter_fields");
    ASSERT_NE(plugin_, nullptr);
    env_.metrics = &metrics_;
  }

  Result<std::unique_ptr<ProcessorInstance>> make(const std::string& yaml) {
    auto options = optionsFromYaml(*plugin_, yaml);
    if (!options) return options.error();
    return ProcessorInstance::create(plugin_, "fields", *options, env_);
  }

  PluginPtr plugin_;
  MetricsRegistry metrics_;
  HostEnvironment env_;
};

TEST_F(FilterFieldsTest, RenameRemoveSetAdd) {
  auto instance = make(R"(
rename: [usr=user, code=status]
remove: [debug_info]
set: ["env=prod", "origin={host}:{source}", "copy={status}", "sev={severity}"]
add: ["team=core", "user=nobody"]
)");
  ASSERT_TRUE(instance) << instance.error().message;
  std::vector<Event> events{makeEvent("log", {{"usr", std::string("alice")},
                                              {"code", int64_t{404}},
                                              {"debug_info", std::string("x")},
                                              {"team", std::string("payments")}})};
  ProcessOutcome out = (*instance)->process(events);
  ASSERT_FALSE(out.failed) << out.error;
  const Event& e = events[0];
  EXPECT_EQ(field(e, "usr"), nullptr);
  EXPECT_EQ(stringField(e, "user"), "alice");  // add did not overwrite the renamed field
  ASSERT_NE(field(e, "status"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*field(e, "status")), 404);  // rename keeps the type
  EXPECT_EQ(field(e, "debug_info"), nullptr);
  EXPECT_EQ(stringField(e, "env"), "prod");
  EXPECT_EQ(stringField(e, "origin"), "web-1:/var/log/app.log");
  ASSERT_NE(field(e, "copy"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*field(e, "copy")), 404);  // a lone {field} copies the typed value
  EXPECT_EQ(stringField(e, "sev"), "info");
  EXPECT_EQ(stringField(e, "team"), "payments");  // add keeps an existing field
}

TEST_F(FilterFieldsTest, MissingFieldsAreLeftAlone) {
  auto instance =
      make("rename: [a=b]\nredact: [password]\nset: [\"c={nothere}\", \"d=x{nothere}y\"]\n");
  ASSERT_TRUE(instance) << instance.error().message;
  std::vector<Event> events{makeEvent("log")};
  ASSERT_FALSE((*instance)->process(events).failed);
  EXPECT_EQ(field(events[0], "b"), nullptr);
  EXPECT_EQ(field(events[0], "password"), nullptr);  // redact never adds a field
  EXPECT_EQ(field(events[0], "c"), nullptr);         // a lone missing field copies nothing
  EXPECT_EQ(stringField(events[0], "d"), "xy");      // inside text it renders as nothing
}

TEST_F(FilterFieldsTest, RedactAndHashProtectPii) {
  auto instance = make(
      std::string("redact: [password]\nhash: [email, user_id]\nclear_raw: true\nhash_key: \"") +
      kKey + "\"\n");
  ASSERT_TRUE(instance) << instance.error().message;
  std::vector<Event> events{
      makeEvent("log", {{"password", std::string("hunter2")},
                        {"email", std::string("alice@example.com")},
                        {"user_id", int64_t{42}}}),
      makeEvent("log", {{"email", std::string("alice@example.com")}}),
  };
  events[0].raw = "login alice@example.com password=hunter2";
  ASSERT_FALSE((*instance)->process(events).failed);
  EXPECT_EQ(stringField(events[0], "password"), "[REDACTED]");
  EXPECT_EQ(stringField(events[0], "email"), hmacHex(kKey, "alice@example.com"));
  EXPECT_EQ(stringField(events[0], "user_id"), hmacHex(kKey, "42"));
  EXPECT_EQ(stringField(events[1], "email"), stringField(events[0], "email"));  // still joinable
  EXPECT_EQ(events[0].raw, "");
  std::string text = metrics_.renderPrometheus();
  EXPECT_NE(text.find("edge_plugin_filter_fields_redacted_total{instance=\"fields\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("edge_plugin_filter_fields_hashed_total{instance=\"fields\"} 3"),
            std::string::npos)
      << text;
}

TEST_F(FilterFieldsTest, HashKeyFromFile) {
  TempDir dir;
  writeFile(dir.file("key"), std::string(kKey) + "\n");
  auto instance = make("hash: [email]\nhash_key_file: " + dir.file("key") + "\n");
  ASSERT_TRUE(instance) << instance.error().message;
  std::vector<Event> events{makeEvent("log", {{"email", std::string("bob@example.com")}})};
  ASSERT_FALSE((*instance)->process(events).failed);
  EXPECT_EQ(stringField(events[0], "email"), hmacHex(kKey, "bob@example.com"));
}

TEST_F(FilterFieldsTest, RefusesUnsafeOrMalformedOptions) {
  auto no_key = make("hash: [email]\n");
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.error().message,
            "plugin filter_fields, instance fields: option hash lists fields but no key is "
            "configured; set "
            "hash_key_file (or hash_key) to a random secret of at least 16 bytes");
  auto short_key = make("hash: [email]\nhash_key: short\n");
  ASSERT_FALSE(short_key);
  EXPECT_NE(short_key.error().message.find("the hash key is 5 bytes; use at least 16 random bytes"),
            std::string::npos)
      << short_key.error().message;
  auto bad_pair = make("rename: [justaname]\n");
  ASSERT_FALSE(bad_pair);
  EXPECT_EQ(bad_pair.error().message,
            "plugin filter_fields, instance fields: option rename: \"justaname\" is not of the "
            "form from=to");
  auto bad_template = make("set: [\"x={host\"]\n");
  ASSERT_FALSE(bad_template);
  EXPECT_EQ(bad_template.error().message,
            "plugin filter_fields, instance fields: option set: template \"{host\": '{' at offset "
            "0 is never "
            "closed; write {{ for a literal brace");
  auto missing_file = make("hash: [a]\nhash_key_file: /nonexistent/key\n");
  ASSERT_FALSE(missing_file);
  EXPECT_NE(missing_file.error().message.find("option hash_key_file: cannot read /nonexistent/key"),
            std::string::npos);
}

TEST_F(FilterFieldsTest, ReloadAppliesAllOrNothing) {
  auto instance = make("set: [\"env=staging\"]\n");
  ASSERT_TRUE(instance) << instance.error().message;
  ASSERT_TRUE((*instance)->supportsReload());

  auto bad =
      optionsFromYaml(*plugin_, "set: [\"env=prod\"]\nhash: [email]\n");  // hash without a key
  ASSERT_TRUE(bad);
  auto refused = (*instance)->reconfigure(*bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("reload refused, keeping the old options"),
            std::string::npos);
  std::vector<Event> events{makeEvent("log")};
  ASSERT_FALSE((*instance)->process(events).failed);
  EXPECT_EQ(stringField(events[0], "env"), "staging");

  auto good = optionsFromYaml(*plugin_, "set: [\"env=prod\"]\n");
  ASSERT_TRUE(good);
  ASSERT_TRUE((*instance)->reconfigure(*good));
  std::vector<Event> more{makeEvent("log")};
  ASSERT_FALSE((*instance)->process(more).failed);
  EXPECT_EQ(stringField(more[0], "env"), "prod");
}

}  // namespace
}  // namespace edge::plugins
