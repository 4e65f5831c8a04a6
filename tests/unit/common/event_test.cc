// Tests for the event model: severities, field helpers, JSON rendering.
#include "edge/common/event.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>

namespace edge {
namespace {

TEST(SeverityTest, NamesRoundTrip) {
  for (int i = 0; i <= 7; ++i) {
    auto severity = static_cast<Severity>(i);
    auto parsed = parseSeverity(severityName(severity));
    ASSERT_TRUE(parsed.has_value()) << severityName(severity);
    EXPECT_EQ(*parsed, severity);
  }
  EXPECT_STREQ(severityName(Severity::kWarning), "warning");
  EXPECT_STREQ(severityName(Severity::kEmergency), "emergency");
}

TEST(SeverityTest, AcceptsSyslogAliasesCaseInsensitively) {
  EXPECT_EQ(parseSeverity("emerg"), Severity::kEmergency);
  EXPECT_EQ(parseSeverity("EMERGENCY"), Severity::kEmergency);
  EXPECT_EQ(parseSeverity("Alert"), Severity::kAlert);
  EXPECT_EQ(parseSeverity("crit"), Severity::kCritical);
  EXPECT_EQ(parseSeverity("critical"), Severity::kCritical);
  EXPECT_EQ(parseSeverity("err"), Severity::kError);
  EXPECT_EQ(parseSeverity("Error"), Severity::kError);
  EXPECT_EQ(parseSeverity("warn"), Severity::kWarning);
  EXPECT_EQ(parseSeverity("WARNING"), Severity::kWarning);
  EXPECT_EQ(parseSeverity("notice"), Severity::kNotice);
  EXPECT_EQ(parseSeverity("info"), Severity::kInfo);
  EXPECT_EQ(parseSeverity("informational"), Severity::kInfo);
  EXPECT_EQ(parseSeverity("debug"), Severity::kDebug);
}

TEST(SeverityTest, RejectsUnknownNames) {
  EXPECT_FALSE(parseSeverity("").has_value());
  EXPECT_FALSE(parseSeverity("fatal").has_value());
  EXPECT_FALSE(parseSeverity("warnings").has_value());
  EXPECT_FALSE(parseSeverity("inf").has_value());
  EXPECT_FALSE(parseSeverity(std::string_view("info\0", 5)).has_value());
}

TEST(EventTest, SetFindRemoveFields) {
  Event e;
  EXPECT_EQ(e.findField("user"), nullptr);
  e.setField("user", std::string("alice"));
  e.setField("pid", int64_t{42});
  ASSERT_NE(e.findField("user"), nullptr);
  EXPECT_EQ(std::get<std::string>(*e.findField("user")), "alice");
  EXPECT_EQ(std::get<int64_t>(*e.findField("pid")), 42);

  // Setting an existing key replaces in place (order kept, no duplicate).
  e.setField("user", true);
  ASSERT_EQ(e.fields.size(), 2u);
  EXPECT_EQ(e.fields[0].key, "user");
  EXPECT_EQ(std::get<bool>(e.fields[0].value), true);

  EXPECT_TRUE(e.removeField("user"));
  EXPECT_FALSE(e.removeField("user"));
  ASSERT_EQ(e.fields.size(), 1u);
  EXPECT_EQ(e.fields[0].key, "pid");
}

TEST(EventTest, FieldsToJsonExactText) {
  std::vector<Field> fields = {
      {"s", std::string("x")}, {"n", int64_t{-7}}, {"f", 1.5}, {"b", true}, {"no", false}};
  EXPECT_EQ(fieldsToJson(fields), R"({"s":"x","n":-7,"f":1.5,"b":true,"no":false})");
  EXPECT_EQ(fieldsToJson({}), "{}");
}

TEST(EventTest, FieldsToJsonEscapesStrings) {
  std::vector<Field> fields = {{"msg", std::string("a \"quoted\" \\ path\nnext\ttab\x01")},
                               {"key \"k\"", std::string("v")}};
  std::string text = fieldsToJson(fields);
  EXPECT_EQ(text, R"({"msg":"a \"quoted\" \\ path\nnext\ttab\u0001","key \"k\"":"v"})");
  auto parsed = nlohmann::json::parse(text);
  EXPECT_EQ(parsed["msg"], "a \"quoted\" \\ path\nnext\ttab\x01");
}

TEST(EventTest, FieldsToJsonNonFiniteDoublesAreNull) {
  std::vector<Field> fields = {{"nan", std::numeric_limits<double>::quiet_NaN()},
                               {"inf", std::numeric_limits<double>::infinity()},
                               {"ninf", -std::numeric_limits<double>::infinity()},
                               {"ok", 0.25}};
  EXPECT_EQ(fieldsToJson(fields), R"({"nan":null,"inf":null,"ninf":null,"ok":0.25})");
}

TEST(EventTest, FieldsToJsonLargeIntsAndInvalidUtf8) {
  std::vector<Field> fields = {{"max", std::numeric_limits<int64_t>::max()},
                               {"min", std::numeric_limits<int64_t>::min()},
                               {"bytes", std::string("ok\xff")}};
  std::string text = fieldsToJson(fields);
  auto parsed = nlohmann::json::parse(text);  // must stay valid JSON
  EXPECT_EQ(parsed["max"].get<int64_t>(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parsed["min"].get<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(parsed["bytes"].get<std::string>().substr(0, 2), "ok");
}

TEST(EventTest, NowNsIsWallClock) {
  int64_t before = static_cast<int64_t>(std::time(nullptr));
  int64_t ns = nowNs();
  int64_t after = static_cast<int64_t>(std::time(nullptr));
  EXPECT_GE(ns / 1000000000, before - 1);
  EXPECT_LE(ns / 1000000000, after + 1);
}

}  // namespace
}  // namespace edge
