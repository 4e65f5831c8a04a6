// Tests of the per-input parsers (json, logfmt, regex, syslog wrapper), their
// configuration, type coercion, time parsing and severity mapping.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "edge/agent/parser.h"
#include "edge/common/config.h"
#include "parsers/field_parser.h"
#include "parsers/json_parser.h"
#include "parsers/syslog_parser.h"
#include "parsers/time_parse.h"

namespace edge::agent {
namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t k20260314 = 1773446400;  // 2026-03-14T00:00:00Z

// Parses `yaml` (an input's map) and returns its ParserConfig plus the
// errors recorded while reading it.
struct ConfigResult {
  ParserConfig config;
  std::vector<std::string> errors;
};

ConfigResult readConfig(const std::string& yaml) {
  auto doc = ConfigDocument::parse(yaml, "test.yaml");
  EXPECT_TRUE(doc.ok()) << doc.error().message;
  ConfigResult result;
  result.config = parseParserConfig((*doc)->root());
  result.errors = (*doc)->errors();
  return result;
}

std::unique_ptr<Parser> makeFromYaml(const std::string& yaml) {
  ConfigResult r = readConfig(yaml);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front());
  auto parser = makeParser(r.config);
  EXPECT_TRUE(parser.ok()) << parser.error().message;
  if (!parser.ok()) return nullptr;
  EXPECT_NE(*parser, nullptr);
  return std::move(parser.value());
}

Event eventOf(std::string raw) {
  Event event;
  event.ts_ns = 123;
  event.raw = std::move(raw);
  return event;
}

template <typename T>
T get(const Event& event, std::string_view key) {
  const FieldValue* value = event.findField(key);
  EXPECT_NE(value, nullptr) << "no field " << key << " in " << fieldsToJson(event.fields);
  if (value == nullptr) return T{};
  const T* typed = std::get_if<T>(value);
  EXPECT_NE(typed, nullptr) << "field " << key << " has another type in "
                            << fieldsToJson(event.fields);
  return typed == nullptr ? T{} : *typed;
}

std::string str(const Event& e, std::string_view key) { return get<std::string>(e, key); }

// --- JSON ---------------------------------------------------------------

TEST(JsonParserTest, MembersBecomeTypedFields) {
  auto parser = makeFromYaml("parser: {type: json}");
  ASSERT_NE(parser, nullptr);
  std::string raw = R"({"s":"x","i":42,"neg":-3,"f":1.5,"b":true,"off":false,"n":null,)"
                    R"("big":18446744073709551615,"nested":{"a":{"b":1},"c":"d"},)"
                    R"("arr":[1,"two",{"x":null,"y":[]},[true,2.50]],"esc":"a\"b\\n\u00e9\t"})";
  Event event = eventOf(raw);
  ASSERT_TRUE(parser->parse(event));
  EXPECT_EQ(str(event, "s"), "x");
  EXPECT_EQ(get<int64_t>(event, "i"), 42);
  EXPECT_EQ(get<int64_t>(event, "neg"), -3);
  EXPECT_DOUBLE_EQ(get<double>(event, "f"), 1.5);
  EXPECT_TRUE(get<bool>(event, "b"));
  EXPECT_FALSE(get<bool>(event, "off"));
  EXPECT_EQ(event.findField("n"), nullptr);
  EXPECT_EQ(str(event, "big"), "18446744073709551615");
  EXPECT_EQ(get<int64_t>(event, "nested.a.b"), 1);
  EXPECT_EQ(str(event, "nested.c"), "d");
  EXPECT_EQ(event.findField("nested"), nullptr);
  EXPECT_EQ(str(event, "arr"), R"([1,"two",{"x":null,"y":[]},[true,2.50]])");
  EXPECT_EQ(str(event, "esc"), "a\"b\\n\xC3\xA9\t");
  EXPECT_EQ(event.raw, raw);
  EXPECT_EQ(event.ts_ns, 123);  // no time_key: the read time stays
  EXPECT_EQ(event.fields.size(), 11u);
  EXPECT_EQ(parser->stats().records, 1u);
  EXPECT_EQ(parser->stats().parse_errors, 0u);
}

TEST(JsonParserTest, BenchLineParses) {
  auto parser = makeFromYaml("parser: {type: json, time_key: ts}");
  ASSERT_NE(parser, nullptr);
  Event event = eventOf(
      R"({"ts":"2026-03-14T00:00:00.000533Z","host":"web-07","app":"sshd","pid":28540,)"
      R"("level":"warn","event":"auth_failure","user":"postgres","src_ip":"193.132.121.109",)"
      R"("src_port":21852,"msg":"Failed password for postgres from 193.132.121.109 port 21852 ssh2"})");
  ASSERT_TRUE(parser->parse(event));
  EXPECT_EQ(event.ts_ns, k20260314 * kSec + 533'000);
  EXPECT_EQ(event.severity, Severity::kWarning);
  EXPECT_EQ(get<int64_t>(event, "src_port"), 21852);
  EXPECT_EQ(str(event, "msg"), "Failed password for postgres from 193.132.121.109 port 21852 ssh2");
  EXPECT_EQ(event.host, "");  // a "host" member is a field, not Event::host
}

TEST(JsonParserTest, MalformedRecordsAreCountedAndLeftRaw) {
  auto parser = makeFromYaml("parser: json");
  ASSERT_NE(parser, nullptr);
  const char* bad[] = {
      R"({"a":1)",           R"([1,2])",     R"("text")",       "42", "", "not json",
      R"({"a":1} trailing)", R"({"a":tru})", "{\"a\":\"\xff\"}"};
  uint64_t n = 0;
  for (const char* raw : bad) {
    Event event = eventOf(raw);
    event.fields.push_back(Field{"path", std::string("/var/log/x")});
    EXPECT_FALSE(parser->parse(event)) << raw;
    ++n;
    EXPECT_EQ(event.raw, raw);
    ASSERT_EQ(event.fields.size(), 2u) << raw << " " << fieldsToJson(event.fields);
    EXPECT_EQ(str(event, "path"), "/var/log/x");
    std::string error = str(event, "parse_error");
    EXPECT_EQ(error.rfind("json: ", 0), 0u) << error;
    EXPECT_EQ(event.findField("a"), nullptr);
    EXPECT_EQ(parser->stats().parse_errors, n);
  }
  Event ok = eventOf(R"({"a":1})");
  EXPECT_TRUE(parser->parse(ok));
  EXPECT_EQ(parser->stats().records, n + 1);
  EXPECT_EQ(parser->stats().parse_errors, n);
}

TEST(JsonParserTest, RecordFieldsReplaceSameNamedOnesAndLastDuplicateWins) {
  auto parser = makeFromYaml("parser: json");
  ASSERT_NE(parser, nullptr);
  Event event = eventOf(R"({"path":"from-record","k":1,"k":2})");
  event.fields.push_back(Field{"path", std::string("/var/log/x")});
  ASSERT_TRUE(parser->parse(event));
  ASSERT_EQ(event.fields.size(), 2u) << fieldsToJson(event.fields);
  EXPECT_EQ(str(event, "path"), "from-record");
  EXPECT_EQ(get<int64_t>(event, "k"), 2);
}

TEST(JsonParserTest, DeepObjectsAreKeptAsJsonText) {
  auto parser = makeFromYaml("parser: json");
  ASSERT_NE(parser, nullptr);
  std::string raw;
  for (int i = 0; i < 12; ++i) raw += "{\"k\":";
  raw += "1";
  for (int i = 0; i < 12; ++i) raw += "}";
  Event event = eventOf(raw);
  ASSERT_TRUE(parser->parse(event));
  ASSERT_EQ(event.fields.size(), 1u);
  // The record and 7 levels below it are flattened; deeper objects are text.
  EXPECT_EQ(event.fields[0].key, "k.k.k.k.k.k.k.k");
  EXPECT_EQ(str(event, "k.k.k.k.k.k.k.k"), R"({"k":{"k":{"k":{"k":1}}}})");
}

TEST(JsonParserTest, FieldsBeyondTheLimitAreDroppedAndCounted) {
  auto parser = makeFromYaml("parser: json");
  ASSERT_NE(parser, nullptr);
  std::string raw = "{";
  for (int i = 0; i < 300; ++i)
    raw += (i ? ",\"f" : "\"f") + std::to_string(i) + "\":" + std::to_string(i);
  raw += "}";
  Event event = eventOf(raw);
  ASSERT_TRUE(parser->parse(event));
  EXPECT_EQ(event.fields.size(), FieldParser::kMaxFieldsPerRecord);
  EXPECT_EQ(parser->stats().fields_dropped, 300 - FieldParser::kMaxFieldsPerRecord);
}

TEST(JsonParserTest, LevelAndSeverityMapToEventSeverity) {
  auto parser = makeFromYaml("parser: json");
  ASSERT_NE(parser, nullptr);
  struct Case {
    const char* raw;
    Severity expected;
  } cases[] = {
      {R"({"level":"warn"})", Severity::kWarning},
      {R"({"level":"ERROR"})", Severity::kError},
      {R"({"severity":"crit"})", Severity::kCritical},
      {R"({"level":"fatal"})", Severity::kCritical},
      {R"({"level":"trace"})", Severity::kDebug},
      {R"({"level":3})", Severity::kError},
      {R"({"severity":"7"})", Severity::kDebug},
      {R"({"level":"verbose-ish"})", Severity::kInfo},  // unknown: unchanged
      {R"({"level":42})", Severity::kInfo},
      {R"({"level":"debug","severity":"emerg"})", Severity::kDebug},  // level first
  };
  for (const Case& c : cases) {
    Event event = eventOf(c.raw);
    ASSERT_TRUE(parser->parse(event)) << c.raw;
    EXPECT_EQ(event.severity, c.expected) << c.raw;
  }
}

// The flat-object fast path must give exactly what nlohmann-json gives:
// the same verdict and the same typed fields, on valid records and on
// random mutations of them.
TEST(JsonParserTest, FastPathAgreesWithNlohmann) {
  JsonParser fast(ParserOptions{}, true);
  JsonParser slow(ParserOptions{}, false);
  std::mt19937 rng(20240601);
  const std::vector<std::string> values = {R"("text")",
                                           R"("")",
                                           R"("with space")",
                                           R"("a\"b")",
                                           R"("\u00e9")",
                                           "\"\xC3\xA9\"",
                                           "0",
                                           "-0",
                                           "42",
                                           "-17",
                                           "9223372036854775807",
                                           "9223372036854775808",
                                           "-9223372036854775808",
                                           "-9223372036854775809",
                                           "18446744073709551616",
                                           "1.5",
                                           "-0.0",
                                           "1e5",
                                           "1E-3",
                                           "2.50",
                                           "1e999",
                                           "01",
                                           "1.",
                                           ".5",
                                           "-",
                                           "+1",
                                           "true",
                                           "false",
                                           "null",
                                           "tru",
                                           "nul",
                                           R"({"x":1})",
                                           "[1,2]",
                                           "[]",
                                           "{}",
                                           R"("tab\there")"};
  const std::vector<std::string> keys = {R"("k")",      R"("")",       R"("a.b")",
                                         R"("sp ace")", R"("esc\"k")", R"("k")"};
  const std::vector<std::string> spaces = {"", " ", "\t", "\r\n", "  "};
  auto pick = [&](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
  };
  auto same = [&](const std::string& raw) {
    Event a = eventOf(raw);
    Event b = eventOf(raw);
    bool ok_a = fast.parse(a);
    bool ok_b = slow.parse(b);
    EXPECT_EQ(ok_a, ok_b) << raw;
    if (!ok_a || !ok_b) return;
    ASSERT_EQ(a.fields.size(), b.fields.size()) << raw;
    for (size_t i = 0; i < a.fields.size(); ++i) {
      EXPECT_EQ(a.fields[i].key, b.fields[i].key) << raw;
      EXPECT_EQ(a.fields[i].value.index(), b.fields[i].value.index()) << raw;
      EXPECT_TRUE(a.fields[i].value == b.fields[i].value) << raw;
    }
  };
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string raw = pick(spaces) + "{";
    int members = std::uniform_int_distribution<int>(0, 5)(rng);
    for (int m = 0; m < members; ++m) {
      if (m > 0) raw += pick(spaces) + "," + pick(spaces);
      raw += pick(keys) + pick(spaces) + ":" + pick(spaces) + pick(values);
    }
    raw += pick(spaces) + "}" + pick(spaces);
    same(raw);
    // Mutations: a byte replaced, dropped or inserted.
    for (int k = 0; k < 3 && !raw.empty(); ++k) {
      std::string mutated = raw;
      size_t at = std::uniform_int_distribution<size_t>(0, mutated.size() - 1)(rng);
      char byte = "{}[]\",:0-e.tn \\\x01\xff"[std::uniform_int_distribution<int>(0, 16)(rng)];
      switch (k) {
        case 0:
          mutated[at] = byte;
          break;
        case 1:
          mutated.erase(at, 1);
          break;
        default:
          mutated.insert(at, 1, byte);
          break;
      }
      same(mutated);
    }
    checked += 4;
  }
  EXPECT_EQ(checked, 12000);
  EXPECT_GT(fast.stats().records, 0u);
  EXPECT_EQ(fast.stats().parse_errors, slow.stats().parse_errors);
}

// --- logfmt --------------------------------------------------------------

TEST(LogfmtParserTest, PairsQuotesEscapesAndBareKeys) {
  auto parser = makeFromYaml("parser: logfmt");
  ASSERT_NE(parser, nullptr);
  Event event = eventOf(
      "level=info msg=\"user \\\"bob\\\" logged in\\n\" took=12ms\tretry empty= "
      "url=/a?b=c uni=\"\\u00e9\\ud83d\\ude00\" odd=\"a\\qb\" path=/x  ");
  ASSERT_TRUE(parser->parse(event)) << str(event, "parse_error");
  EXPECT_EQ(str(event, "level"), "info");
  EXPECT_EQ(str(event, "msg"), "user \"bob\" logged in\n");
  EXPECT_EQ(str(event, "took"), "12ms");
  EXPECT_TRUE(get<bool>(event, "retry"));
  EXPECT_EQ(str(event, "empty"), "");
  EXPECT_EQ(str(event, "url"), "/a?b=c");
  EXPECT_EQ(str(event, "uni"), "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(str(event, "odd"), "a\\qb");  // unknown escape kept as written
  EXPECT_EQ(str(event, "path"), "/x");
  EXPECT_EQ(event.fields.size(), 9u);
  EXPECT_EQ(event.severity, Severity::kInfo);
}

TEST(LogfmtParserTest, TypesCoerceAndFailuresAreCounted) {
  auto parser = makeFromYaml(
      "parser: {type: logfmt, types: {count: int, ratio: float, ok: bool, bad: int, "
      "missing: int, code: string}}");
  ASSERT_NE(parser, nullptr);
  Event event = eventOf("count=-17 ratio=0.25 ok=yes bad=12abc code=007 level=error");
  ASSERT_TRUE(parser->parse(event));
  EXPECT_EQ(get<int64_t>(event, "count"), -17);
  EXPECT_DOUBLE_EQ(get<double>(event, "ratio"), 0.25);
  EXPECT_TRUE(get<bool>(event, "ok"));
  EXPECT_EQ(str(event, "bad"), "12abc");  // kept as text
  EXPECT_EQ(str(event, "code"), "007");
  EXPECT_EQ(event.findField("missing"), nullptr);
  EXPECT_EQ(event.severity, Severity::kError);
  EXPECT_EQ(parser->stats().conversion_errors, 1u);
  EXPECT_EQ(parser->stats().parse_errors, 0u);
}

TEST(LogfmtParserTest, MalformedRecordsAreCountedAndLeftRaw) {
  auto parser = makeFromYaml("parser: logfmt");
  ASSERT_NE(parser, nullptr);
  const char* bad[] = {"a=\"unterminated", "=x", "a\"b=c", "a=b\"c",
                       "a=\"b\"c",         "",   "   ",    "a=\"ends with backslash\\\""};
  uint64_t n = 0;
  for (const char* raw : bad) {
    Event event = eventOf(raw);
    EXPECT_FALSE(parser->parse(event)) << raw;
    ++n;
    ASSERT_EQ(event.fields.size(), 1u) << raw << " " << fieldsToJson(event.fields);
    EXPECT_EQ(str(event, "parse_error").rfind("logfmt: ", 0), 0u);
    EXPECT_EQ(event.raw, raw);
  }
  EXPECT_EQ(parser->stats().parse_errors, n);
}

// --- regex ---------------------------------------------------------------

constexpr const char* kAccessLog =
    R"(203.0.113.9 - frank [14/Mar/2026:01:00:00 +0100] "GET /index.html HTTP/1.1" 200 2326)";

TEST(RegexParserTest, NamedGroupsBecomeFieldsWithTypesAndTime) {
  auto parser = makeFromYaml(
      "parser:\n"
      "  type: regex\n"
      R"(  pattern: '^(?P<ip>\S+) \S+ (?<user>\S+) \[(?<time>[^\]]+)\] "(?<method>\S+) )"
      R"((?<path>\S+)[^"]*" (?<status>\d{3}) (?<bytes>\d+)(?: (?<referer>\S+))?$')"
      "\n"
      "  time_key: time\n"
      "  time_format: '%d/%b/%Y:%H:%M:%S %z'\n"
      "  types: {status: int, bytes: int}\n");
  ASSERT_NE(parser, nullptr);
  Event event = eventOf(kAccessLog);
  ASSERT_TRUE(parser->parse(event)) << str(event, "parse_error");
  EXPECT_EQ(str(event, "ip"), "203.0.113.9");
  EXPECT_EQ(str(event, "user"), "frank");
  EXPECT_EQ(str(event, "method"), "GET");
  EXPECT_EQ(str(event, "path"), "/index.html");
  EXPECT_EQ(get<int64_t>(event, "status"), 200);
  EXPECT_EQ(get<int64_t>(event, "bytes"), 2326);
  EXPECT_EQ(event.findField("referer"), nullptr);  // optional group not set
  EXPECT_EQ(event.ts_ns, k20260314 * kSec);
  EXPECT_EQ(event.fields.size(), 7u);
}

TEST(RegexParserTest, NonMatchingRecordIsAParseError) {
  auto parser = makeFromYaml(R"(parser: {type: regex, pattern: '^(?<n>\d+)$'})");
  ASSERT_NE(parser, nullptr);
  Event event = eventOf("abc");
  EXPECT_FALSE(parser->parse(event));
  EXPECT_EQ(str(event, "parse_error"), "regex: the record does not match the pattern");
  Event good = eventOf("123");
  EXPECT_TRUE(parser->parse(good));
  EXPECT_EQ(str(good, "n"), "123");
  EXPECT_EQ(parser->stats().parse_errors, 1u);
}

TEST(RegexParserTest, BytesByDefaultCharactersWithUtfVerb) {
  auto bytes = makeFromYaml(R"(parser: {type: regex, pattern: '^(?<a>.)(?<rest>.*)$'})");
  ASSERT_NE(bytes, nullptr);
  Event event = eventOf("\xC3\xA9t\xC3\xA9");
  ASSERT_TRUE(bytes->parse(event));
  EXPECT_EQ(str(event, "a"), "\xC3");
  Event invalid = eventOf("x\xff\xfe");
  ASSERT_TRUE(bytes->parse(invalid)) << str(invalid, "parse_error");
  EXPECT_EQ(str(invalid, "rest"), "\xff\xfe");

  auto chars = makeFromYaml(R"(parser: {type: regex, pattern: '(*UTF)^(?<a>.)(?<rest>.*)$'})");
  ASSERT_NE(chars, nullptr);
  Event utf = eventOf("\xC3\xA9t\xC3\xA9");
  ASSERT_TRUE(chars->parse(utf));
  EXPECT_EQ(str(utf, "a"), "\xC3\xA9");  // one character, two bytes
  EXPECT_EQ(str(utf, "rest"), "t\xC3\xA9");
  // Invalid UTF-8 is no error, but '.' does not match it.
  Event broken = eventOf("x\xff");
  EXPECT_FALSE(chars->parse(broken));
  EXPECT_EQ(str(broken, "parse_error"), "regex: the record does not match the pattern");
}

TEST(RegexParserTest, BadPatternIsRefusedNamingPatternAndOffset) {
  ParserConfig config;
  config.type = ParserType::kRegex;
  config.pattern = "^(?<x>[a-";
  auto parser = makeParser(config);
  ASSERT_FALSE(parser.ok());
  EXPECT_NE(parser.error().message.find("^(?<x>[a-"), std::string::npos) << parser.error().message;
  EXPECT_NE(parser.error().message.find("at offset 9"), std::string::npos)
      << parser.error().message;
  EXPECT_NE(parser.error().message.find("missing terminating ]"), std::string::npos)
      << parser.error().message;

  config.pattern = "^(\\d+)$";
  parser = makeParser(config);
  ASSERT_FALSE(parser.ok());
  EXPECT_NE(parser.error().message.find("no named groups"), std::string::npos);

  // The same is reported by the configuration check, located at the key.
  ConfigResult r = readConfig("name: x\nparser:\n  type: regex\n  pattern: '(?<a>'\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("test.yaml:4: parser.pattern: "), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("offset"), std::string::npos) << r.errors[0];
}

// --- configuration -------------------------------------------------------

TEST(ParserConfigTest, ReadsAllKeys) {
  ConfigResult r = readConfig(
      "parser:\n  type: json\n  time_key: t\n  time_format: unix_ms\n  types: {a: int, b: "
      "bool}\n");
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_EQ(r.config.type, ParserType::kJson);
  EXPECT_EQ(r.config.time_key, "t");
  EXPECT_EQ(r.config.time_format, "unix_ms");
  EXPECT_EQ(r.config.types.size(), 2u);
  EXPECT_EQ(r.config.types.at("a"), "int");

  EXPECT_EQ(readConfig("name: x\n").config.type, ParserType::kNone);
  EXPECT_EQ(readConfig("parser: logfmt\n").config.type, ParserType::kLogfmt);
  EXPECT_EQ(readConfig("parser: {type: syslog}\n").config.type, ParserType::kSyslog);
  auto none = makeParser(ParserConfig{});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
}

TEST(ParserConfigTest, MistakesAreReportedWithTheKey) {
  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"parser: {type: json, patern: x}\n", "parser.patern"},
      {"parser: {type: xml}\n", "got \"xml\""},
      {"parser: {time_key: t}\n", "parser.type: missing required key"},
      {"parser: {type: json, types: {a: integer2}}\n", "parser.types.a: expected int, float"},
      {"parser: {type: json, types: [a]}\n", "parser.types: expected a map"},
      {"parser: {type: regex}\n", "parser.pattern: missing required key"},
      {"parser: regex\n", "parser: a regex parser needs a pattern"},
      {"parser: {type: json, pattern: x}\n", "only a regex parser takes a pattern"},
      {"parser: {type: json, time_key: t, time_format: yyyy}\n", "parser.time_format: "},
      {"parser: {type: json, time_format: unix}\n", "has no effect without time_key"},
  };
  for (const Case& c : cases) {
    ConfigResult r = readConfig(c.yaml);
    ASSERT_FALSE(r.errors.empty()) << c.yaml;
    EXPECT_NE(r.errors[0].find(c.expected), std::string::npos) << c.yaml << " -> " << r.errors[0];
  }
}

// --- time ----------------------------------------------------------------

int64_t parseTime(const char* format, const FieldValue& value) {
  auto parser = TimeParser::create(format);
  EXPECT_TRUE(parser.ok());
  if (!parser.ok()) return -1;
  return parser->parse(value).value_or(-1);
}

TEST(TimeParseTest, Rfc3339) {
  const int64_t base = k20260314 * kSec;
  EXPECT_EQ(parseTime("rfc3339", std::string("2026-03-14T00:00:00Z")), base);
  EXPECT_EQ(parseTime("rfc3339", std::string("2026-03-14T00:00:00.000533Z")), base + 533'000);
  EXPECT_EQ(parseTime("rfc3339", std::string("2026-03-14t02:00:00.5+02:00")), base + kSec / 2);
  EXPECT_EQ(parseTime("rfc3339", std::string("2026-03-13 19:00:00-0500")), base);
  EXPECT_EQ(parseTime("rfc3339", std::string("2026-03-14T00:00:00.123456789123z")),
            base + 123'456'789);
  EXPECT_EQ(parseTime("rfc3339", std::string("2026-03-14T00:00:00")), base);  // UTC
  EXPECT_EQ(parseTime("rfc3339", std::string("1969-12-31T23:59:59Z")), -kSec);
  EXPECT_EQ(parseTime("rfc3339", std::string("2024-02-29T00:00:00Z")), 1709164800 * kSec);
  for (const char* bad : {"2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-03-14T24:00:00Z",
                          "2026-03-14", "2026-03-14T00:00:00.Z", "2026-03-14T00:00:00Zjunk",
                          "2026-03-14T00:00:00+2", "14/Mar/2026"}) {
    EXPECT_EQ(parseTime("rfc3339", std::string(bad)), -1) << bad;
  }
  EXPECT_EQ(parseTime("rfc3339", int64_t{5}), -1);
}

TEST(TimeParseTest, UnixForms) {
  EXPECT_EQ(parseTime("unix", std::string("1773446400")), k20260314 * kSec);
  EXPECT_EQ(parseTime("unix", std::string("1773446400.25")), k20260314 * kSec + kSec / 4);
  EXPECT_EQ(parseTime("unix", int64_t{1773446400}), k20260314 * kSec);
  EXPECT_EQ(parseTime("unix", 1773446400.5), k20260314 * kSec + kSec / 2);
  EXPECT_EQ(parseTime("unix_ms", int64_t{1773446400123}), k20260314 * kSec + 123'000'000);
  EXPECT_EQ(parseTime("unix_ms", std::string("1773446400123")), k20260314 * kSec + 123'000'000);
  EXPECT_EQ(parseTime("unix_us", int64_t{1773446400000001}), k20260314 * kSec + 1000);
  EXPECT_EQ(parseTime("unix_ns", int64_t{42}), 42);
  EXPECT_EQ(parseTime("unix", std::string("12x")), -1);
  EXPECT_EQ(parseTime("unix", std::string("")), -1);
  EXPECT_EQ(parseTime("unix", std::string("99999999999999999999")), -1);
  EXPECT_EQ(parseTime("unix", true), -1);
}

TEST(TimeParseTest, StrptimeFormats) {
  EXPECT_EQ(parseTime("%d/%b/%Y:%H:%M:%S %z", std::string("14/Mar/2026:01:00:00 +0100")),
            k20260314 * kSec);
  EXPECT_EQ(parseTime("%Y-%m-%d %H:%M:%S.%f", std::string("2026-03-14 00:00:01.25")),
            k20260314 * kSec + kSec + kSec / 4);
  EXPECT_EQ(parseTime("%Y-%m-%d %H:%M:%S", std::string("2026-03-14 00:00:00 junk")), -1);
  EXPECT_EQ(parseTime("%Y-%m-%d", std::string("nope")), -1);
  EXPECT_FALSE(TimeParser::create("yyyy-mm-dd").ok());

  // No year in the format: the current year, or the last one if that would
  // put the time more than a day ahead.
  auto syslog = TimeParser::create("%b %d %H:%M:%S");
  ASSERT_TRUE(syslog.ok());
  syslog->setNowForTests((k20260314 + 3600) * kSec);
  EXPECT_EQ(syslog->parseText("Mar 14 00:00:00").value_or(-1), k20260314 * kSec);
  syslog->setNowForTests(1767225600 * kSec + kSec);  // 2026-01-01T00:00:01Z
  EXPECT_EQ(syslog->parseText("Dec 31 23:59:59").value_or(-1), (1767225600 - 1) * kSec);
}

TEST(TimeParseTest, UnparsableTimeKeepsReadTimeAndIsCounted) {
  auto parser = makeFromYaml("parser: {type: json, time_key: t, time_format: unix}");
  ASSERT_NE(parser, nullptr);
  Event bad = eventOf(R"({"t":"yesterday"})");
  ASSERT_TRUE(parser->parse(bad));
  EXPECT_EQ(bad.ts_ns, 123);
  EXPECT_EQ(parser->stats().conversion_errors, 1u);
  Event good = eventOf(R"({"t":1773446400})");
  ASSERT_TRUE(parser->parse(good));
  EXPECT_EQ(good.ts_ns, k20260314 * kSec);
  Event absent = eventOf(R"({"x":1})");
  ASSERT_TRUE(parser->parse(absent));
  EXPECT_EQ(absent.ts_ns, 123);
  EXPECT_EQ(parser->stats().conversion_errors, 1u);
}

// --- coercion and severity helpers ----------------------------------------

TEST(CoerceTest, Conversions) {
  FieldValue v = std::string(" 42 ");
  EXPECT_TRUE(coerceField(v, FieldType::kInt));
  EXPECT_EQ(std::get<int64_t>(v), 42);
  EXPECT_TRUE(coerceField(v, FieldType::kFloat));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 42.0);
  EXPECT_TRUE(coerceField(v, FieldType::kInt));  // whole float -> int
  EXPECT_EQ(std::get<int64_t>(v), 42);
  v = 2.5;
  EXPECT_FALSE(coerceField(v, FieldType::kInt));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 2.5);
  EXPECT_TRUE(coerceField(v, FieldType::kString));
  EXPECT_EQ(std::get<std::string>(v), "2.5");
  v = std::string("1e3");
  EXPECT_TRUE(coerceField(v, FieldType::kFloat));
  EXPECT_DOUBLE_EQ(std::get<double>(v), 1000.0);
  v = std::string("9223372036854775808");
  EXPECT_FALSE(coerceField(v, FieldType::kInt));
  v = std::string("OFF");
  EXPECT_TRUE(coerceField(v, FieldType::kBool));
  EXPECT_FALSE(std::get<bool>(v));
  v = int64_t{2};
  EXPECT_FALSE(coerceField(v, FieldType::kBool));
  v = true;
  EXPECT_TRUE(coerceField(v, FieldType::kInt));
  EXPECT_EQ(std::get<int64_t>(v), 1);
  v = std::string("maybe");
  EXPECT_FALSE(coerceField(v, FieldType::kBool));
  EXPECT_EQ(std::get<std::string>(v), "maybe");
}

// --- syslog wrapper -------------------------------------------------------

TEST(SyslogParserWrapTest, Rfc5424RecordSetsHostTimeSeverity) {
  ParserConfig config;
  config.type = ParserType::kSyslog;
  auto parser = makeParser(config);
  ASSERT_TRUE(parser.ok()) << parser.error().message;
  Event event =
      eventOf("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed");
  event.host = "agent-host";
  ASSERT_TRUE((*parser)->parse(event));
  EXPECT_EQ(event.severity, Severity::kCritical);
  EXPECT_EQ(event.host, "mymachine.example.com");
  EXPECT_EQ(event.ts_ns, 1065910455 * kSec + 3'000'000);
  EXPECT_EQ(str(event, "app_name"), "su");

  Event plain = eventOf("just some text");
  EXPECT_FALSE((*parser)->parse(plain));
  EXPECT_NE(plain.findField("parse_error"), nullptr);
  EXPECT_EQ((*parser)->stats().parse_errors, 1u);
}

// Structured data beyond the syslog parser's own limit is dropped and
// counted where the core reads parser counts (ParserStats), and the message
// is never what the per-record field limit cuts.
TEST(SyslogParserWrapTest, DroppedStructuredDataIsCounted) {
  auto parser = makeFromYaml("parser: syslog");
  ASSERT_NE(parser, nullptr);
  std::string sd;
  for (size_t i = 0; i < kMaxSyslogSdFields + 7; ++i) {
    sd += "[p" + std::to_string(i) + " k=\"v\"]";
  }
  Event event = eventOf("<13>1 2003-10-11T22:14:15Z h app proc msgid " + sd + " body");
  ASSERT_TRUE(parser->parse(event));
  EXPECT_EQ(str(event, "message"), "body");
  EXPECT_EQ(str(event, "msgid"), "msgid");
  EXPECT_EQ(parser->stats().fields_dropped, 7u);
  EXPECT_LE(event.fields.size(), FieldParser::kMaxFieldsPerRecord);
}

}  // namespace
}  // namespace edge::agent
