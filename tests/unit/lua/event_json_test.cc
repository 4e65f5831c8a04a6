// Event NDJSON: the format edgectl rules test reads and writes.
#include "edge/common/event_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace edge {
namespace {

using ::testing::HasSubstr;

TEST(EventJsonTest, RoundTripsEveryAttribute) {
  Event e;
  e.ts_ns = 1449730546123456789;
  e.seq = 7;
  e.kind = "syslog";
  e.source = "/var/log/auth.log";
  e.host = "LabSZ";
  e.severity = Severity::kWarning;
  e.tenant = "acme";
  e.fields = {{"program", std::string("sshd")}, {"pid", int64_t{24200}}, {"load", 0.5}, {"ok", true}};
  e.raw = "Dec 10 06:55:46 LabSZ sshd[24200]: x";
  const std::string line = eventToJson(e);
  EXPECT_THAT(line, HasSubstr("\"ts\":\"2015-12-10T06:55:46.123456789Z\""));
  auto back = eventFromJson(line);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->ts_ns, e.ts_ns);
  EXPECT_EQ(back->seq, 7u);
  EXPECT_EQ(back->kind, e.kind);
  EXPECT_EQ(back->source, e.source);
  EXPECT_EQ(back->host, e.host);
  EXPECT_EQ(back->severity, e.severity);
  EXPECT_EQ(back->tenant, e.tenant);
  EXPECT_EQ(back->raw, e.raw);
  ASSERT_EQ(back->fields.size(), 4u);
  EXPECT_EQ(std::get<int64_t>(back->fields[1].value), 24200);
  EXPECT_EQ(std::get<double>(back->fields[2].value), 0.5);
  EXPECT_EQ(std::get<bool>(back->fields[3].value), true);
}

TEST(EventJsonTest, AcceptsOffsetsIntegerTimesAndSeverityNumbers) {
  auto e = eventFromJson(R"({"ts":"2015-12-10T07:55:46.5+01:00","severity":3})");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->ts_ns, 1449730546500000000);
  EXPECT_EQ(e->severity, Severity::kError);
  e = eventFromJson(R"({"ts":1449730546000000000})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ts_ns, 1449730546000000000);
  e = eventFromJson("{}");
  ASSERT_TRUE(e.ok());
}

TEST(EventJsonTest, ErrorsNameTheKey) {
  EXPECT_THAT(eventFromJson("[1]").error().message, HasSubstr("expected a JSON object"));
  EXPECT_THAT(eventFromJson("{").error().message, HasSubstr("not valid JSON"));
  EXPECT_THAT(eventFromJson(R"({"ts":"yesterday"})").error().message, HasSubstr("ts: expected an RFC 3339"));
  EXPECT_THAT(eventFromJson(R"({"host":1})").error().message, HasSubstr("host: expected a string"));
  EXPECT_THAT(eventFromJson(R"({"severity":"loud"})").error().message, HasSubstr("severity: unknown name"));
  EXPECT_THAT(eventFromJson(R"({"fields":{"a":[1]}})").error().message, HasSubstr("fields.a: expected a string"));
  EXPECT_THAT(eventFromJson(R"({"colour":"red"})").error().message, HasSubstr("unknown key \"colour\""));
}

}  // namespace
}  // namespace edge
