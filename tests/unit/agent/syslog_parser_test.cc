// Tests of the syslog parser: rsyslog's own parser test cases (compared
// property by property through rsyslog's templates), the RFC 5424 messages
// of a real capture (Zeek's syslog.log from WRCCDC), rsyslog's fuzz corpus,
// and the tolerance cases real senders need.
#include "parsers/syslog_parser.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace edge::agent {
namespace {

namespace fs = std::filesystem;

// 2024-06-15T12:00:00Z: the receive time the year of BSD timestamps is inferred from.
constexpr int64_t kNowNs = 1718452800LL * 1000000000LL;
constexpr const char* kLocalHost = "agent-host";

std::string sharedDataDir() {
  if (const char* env = std::getenv("EDGE_SHARED_DATA"); env != nullptr && *env != '\0') return env;
  return std::string(EDGE_SOURCE_DIR) + "/../shared/data";
}

#define SKIP_UNLESS_EXISTS(path)                           \
  if (!fs::exists(path))                                   \
  GTEST_SKIP() << "shared test data not found: " << (path) \
               << " (set EDGE_SHARED_DATA to the directory holding rsyslog/ and zeek-wrccdc/)"

SyslogParseOptions rsyslogLikeOptions() {
  SyslogParseOptions options;
  options.local_hostname = kLocalHost;
  options.now_ns = kNowNs;
  options.utc = true;
  options.assume_syslog = true;
  return options;
}

std::string text(const Event& event, std::string_view key) {
  const FieldValue* value = event.findField(key);
  if (value == nullptr) return {};
  if (const auto* s = std::get_if<std::string>(value)) return *s;
  return "<not a string>";
}

int64_t integer(const Event& event, std::string_view key) {
  const FieldValue* value = event.findField(key);
  if (value == nullptr || !std::holds_alternative<int64_t>(*value)) return -1;
  return std::get<int64_t>(*value);
}

int64_t utcNs(int year, int month, int day, int hour, int minute, int second, int64_t nanos = 0) {
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(::timegm(&tm)) * 1000000000LL + nanos;
}

// --- rsyslog's parser tests --------------------------------------------------

const char* const kRsyslogSeverityNames[] = {"emerg",   "alert",  "crit", "err",
                                             "warning", "notice", "info", "debug"};

// Our parse of one rsyslog test input, rendered through the test's rsyslog
// template so the whole line compares with rsyslog's expected output.
struct Rendered {
  Event event;
  SyslogFormat format = SyslogFormat::kNone;
  std::string raw;
  int offset_s = 0;  // the zone of the message's timestamp; rsyslog prints its own time
};

std::string formatTime(const Rendered& r, const char* format) {
  time_t seconds = static_cast<time_t>(r.event.ts_ns / 1000000000LL) + r.offset_s;
  struct tm tm {};
  ::gmtime_r(&seconds, &tm);
  char out[64];
  std::strftime(out, sizeof(out), format, &tm);
  return out;
}

std::string property(const Rendered& r, const std::string& name, const std::string& options) {
  const Event& e = r.event;
  if (name == "PRI")
    return std::to_string(integer(e, "facility_code") * 8 + static_cast<int>(e.severity));
  if (name == "syslogfacility-text") return text(e, "facility");
  if (name == "syslogseverity-text") return kRsyslogSeverityNames[static_cast<int>(e.severity)];
  if (name == "syslogseverity") return std::to_string(static_cast<int>(e.severity));
  if (name == "timestamp" || name == "timereported") {
    if (options.find("date-rfc3339") != std::string::npos)
      return formatTime(r, "%Y-%m-%dT%H:%M:%S");
    if (options.find("date-rfc3164-buggyday") != std::string::npos)
      return formatTime(r, "%b %d %H:%M:%S");
    return formatTime(r, "%b %e %H:%M:%S");
  }
  if (name == "hostname") return e.host;
  if (name == "programname") return text(e, "app_name");
  if (name == "syslogtag") {
    // rsyslog keeps the TAG's ':' terminator; we drop it (it is syntax), so
    // put it back when the message had one.
    std::string tag = text(e, "app_name");
    if (!text(e, "procid").empty()) tag += "[" + text(e, "procid") + "]";
    if (r.format == SyslogFormat::kRfc3164 && !tag.empty() &&
        r.raw.find(tag + ":") != std::string::npos) {
      tag += ":";
    }
    return tag;
  }
  if (name == "msg") {
    // In RFC 3164 rsyslog's msg starts with the space that separates it from
    // the TAG; our message does not.
    std::string message = text(e, "message");
    if (r.format == SyslogFormat::kRfc3164 && !message.empty()) {
      size_t at = r.raw.size() - message.size();
      if (at > 0 && r.raw.compare(at, std::string::npos, message) == 0 && r.raw[at - 1] == ' ') {
        message.insert(message.begin(), ' ');
      }
    }
    return message;
  }
  ADD_FAILURE() << "the test does not know the rsyslog property " << name;
  return {};
}

// %name:from:to:options% as rsyslog's template engine applies it (the parts
// these tests use: substrings, regex extraction, csv, date formats).
std::string renderTemplate(const Rendered& r, std::string tmpl) {
  if (tmpl.size() >= 2 && tmpl.compare(tmpl.size() - 2, 2, "\\n") == 0)
    tmpl.resize(tmpl.size() - 2);
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] != '%') {
      out += tmpl[i++];
      continue;
    }
    size_t end = tmpl.find('%', i + 1);
    std::string spec = tmpl.substr(i + 1, end - i - 1);
    i = end + 1;
    std::vector<std::string> parts;
    size_t start = 0;
    while (parts.size() < 3) {
      size_t colon = spec.find(':', start);
      if (colon == std::string::npos) break;
      parts.push_back(spec.substr(start, colon - start));
      start = colon + 1;
    }
    parts.push_back(spec.substr(start));
    while (parts.size() < 4) parts.emplace_back();
    const std::string& options = parts[3];
    std::string value = property(r, parts[0], options);
    if (parts[1].rfind("R,", 0) == 0) {
      std::string pattern = parts[2].substr(0, parts[2].find("--end"));
      std::smatch match;
      value = std::regex_search(value, match, std::regex(pattern, std::regex::extended))
                  ? match.str(0)
                  : std::string();
    } else if (!parts[1].empty() && !parts[2].empty()) {
      size_t from = std::stoul(parts[1]);
      size_t to = std::stoul(parts[2]);
      value = value.substr(std::min(from - 1, value.size()), to - from + 1);
    }
    if (options.find("csv") != std::string::npos) {
      std::string quoted = "\"";
      for (char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      value = quoted + "\"";
    }
    out += value;
  }
  return out;
}

Rendered parseCase(const std::string& input) {
  Rendered r;
  r.raw = input;
  r.event.ts_ns = 42;  // stays when the message has no timestamp
  r.format = parseSyslogRecord(input, r.event, rsyslogLikeOptions());
  std::smatch zone;
  if (std::regex_search(input, zone,
                        std::regex(R"(\d\d:\d\d:\d\d(\.\d+)?(Z|([+-])(\d\d):(\d\d)))")) &&
      zone[2] != "Z") {
    r.offset_s = (zone[3] == "-" ? -1 : 1) * (std::stoi(zone[4]) * 3600 + std::stoi(zone[5]) * 60);
  }
  return r;
}

// Where our reading reasonably differs from rsyslog's; each one is checked
// against our own expectation instead.
struct Exception {
  const char* reason;
  void (*check)(const Rendered& r);
};

const std::map<std::pair<std::string, int>, Exception>& rsyslogExceptions() {
  static const std::map<std::pair<std::string, int>, Exception> kExceptions = {
      {{"tests/parsertest-parse1.sh", 21},
       {"\"AUG 10 22:18:24 2009  host\": some network gear puts the year after the time; rsyslog "
        "takes 2009 for the hostname, we read it as the year and the next word as the host",
        [](const Rendered& r) {
          EXPECT_EQ(r.format, SyslogFormat::kRfc3164);
          EXPECT_EQ(r.event.ts_ns, utcNs(2009, 8, 10, 22, 18, 24));
          EXPECT_EQ(r.event.host, "netips-warden2-p");
          EXPECT_EQ(text(r.event, "facility"), "kern");
          EXPECT_EQ(r.event.severity, Severity::kInfo);
          EXPECT_EQ(r.event.findField("app_name"), nullptr) << "\"[audit]\" is not a program name";
          EXPECT_EQ(text(r.event, "message"),
                    "[audit] user=[*SMS] src=192.168.11.11 iface=5 access=9 Update State Reset");
        }}},
      {{"tests/parsertest-parse-nodate.sh", 2},
       {"\"This is a message!\" has neither PRI nor timestamp: rsyslog still takes the first words "
        "for hostname and tag; we keep plain text whole as the message (RFC 3164 section 4.3.3) "
        "and the host is the receiver's",
        [](const Rendered& r) {
          EXPECT_EQ(r.format, SyslogFormat::kRfc3164);
          EXPECT_EQ(text(r.event, "facility"), "user");
          EXPECT_EQ(r.event.severity, Severity::kNotice);
          EXPECT_EQ(r.event.host, kLocalHost);
          EXPECT_EQ(r.event.findField("app_name"), nullptr);
          EXPECT_EQ(text(r.event, "message"), "This is a message!");
          EXPECT_EQ(r.event.ts_ns, 42) << "no timestamp: the receive time stays";
        }}},
  };
  return kExceptions;
}

TEST(SyslogParserRsyslog, AllParserCasesMatchRsyslogOrAListedException) {
  const std::string path = sharedDataDir() + "/rsyslog/rsyslog_parser_cases.jsonl";
  SKIP_UNLESS_EXISTS(path);
  std::ifstream in(path);
  std::string line;
  int cases = 0;
  int exceptions_used = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto json = nlohmann::json::parse(line);
    const std::string source = json.at("source_test");
    const int number = json.at("case");
    const std::string input = json.at("input");
    SCOPED_TRACE(source + " case " + std::to_string(number) + ": " + input);
    ++cases;
    Rendered r = parseCase(input);
    ASSERT_NE(r.format, SyslogFormat::kNone);
    auto exception = rsyslogExceptions().find({source, number});
    if (exception != rsyslogExceptions().end()) {
      ++exceptions_used;
      SCOPED_TRACE(std::string("exception: ") + exception->second.reason);
      exception->second.check(r);
      continue;
    }
    std::string expected = json.at("expected_output");
    for (size_t at; (at = expected.find("$RS_HOSTNAME")) != std::string::npos;) {
      expected.replace(at, 12, kLocalHost);
    }
    EXPECT_EQ(renderTemplate(r, json.at("rsyslog_template")), expected)
        << "template " << json.at("rsyslog_template");
  }
  EXPECT_EQ(cases, 39) << "rsyslog_parser_cases.jsonl changed";
  EXPECT_EQ(exceptions_used, static_cast<int>(rsyslogExceptions().size()))
      << "an exception names a case that is not in the file";
}

// --- Zeek's capture of real RFC 5424 traffic ---------------------------------

int facilityCode(const std::string& name) {
  for (int code = 0; code < 24; ++code) {
    std::string upper = syslogFacilityName(code);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (upper == name) return code;
  }
  return -1;
}

int zeekSeverity(const std::string& name) {
  static const std::map<std::string, int> kNames = {{"EMERG", 0}, {"ALERT", 1},   {"CRIT", 2},
                                                    {"ERR", 3},   {"WARNING", 4}, {"NOTICE", 5},
                                                    {"INFO", 6},  {"DEBUG", 7}};
  auto it = kNames.find(name);
  return it == kNames.end() ? -1 : it->second;
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::stringstream stream(line);
  std::string part;
  while (std::getline(stream, part, sep)) out.push_back(part);
  return out;
}

TEST(SyslogParserZeek, EveryRfc5424RecordParsesAndMatchesItsColumns) {
  const std::string path = sharedDataDir() + "/zeek-wrccdc/syslog.log";
  SKIP_UNLESS_EXISTS(path);
  std::ifstream in(path);
  std::string line;
  int records = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> columns = split(line, '\t');
    ASSERT_EQ(columns.size(), 10u) << line;
    const std::string& message = columns[9];
    SCOPED_TRACE("record " + std::to_string(records + 1) + ": " + message.substr(0, 120));
    const int facility = facilityCode(columns[7]);
    const int severity = zeekSeverity(columns[8]);
    ASSERT_GE(facility, 0) << columns[7];
    ASSERT_GE(severity, 0) << columns[8];
    // Zeek logs the payload after the PRI; put the PRI back.
    const std::string raw = "<" + std::to_string(facility * 8 + severity) + ">" + message;
    Event event;
    ASSERT_EQ(parseSyslogRecord(raw, event, rsyslogLikeOptions()), SyslogFormat::kRfc5424);
    ++records;

    EXPECT_EQ(text(event, "facility"), syslogFacilityName(facility));
    EXPECT_EQ(integer(event, "facility_code"), facility);
    EXPECT_EQ(static_cast<int>(event.severity), severity);
    // The header, split independently: VERSION TIMESTAMP HOSTNAME APP-NAME
    // PROCID MSGID SD MSG.
    std::vector<std::string> words = split(message, ' ');
    ASSERT_GE(words.size(), 7u);
    EXPECT_EQ(event.host, words[2]);
    EXPECT_EQ(text(event, "app_name"), words[3]);
    EXPECT_EQ(event.findField("procid"), nullptr);
    EXPECT_EQ(event.findField("msgid"), nullptr);
    size_t msg_at = 0;
    for (int k = 0; k < 7; ++k) msg_at = message.find(' ', msg_at) + 1;
    EXPECT_EQ(text(event, "message"), message.substr(msg_at));
    // The timestamp: "2018-03-24T08:59:37-07:00".
    int y, mo, d, h, mi, s, oh, om;
    char sign;
    ASSERT_EQ(std::sscanf(words[1].c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%2d:%2d", &y, &mo, &d, &h,
                          &mi, &s, &sign, &oh, &om),
              9);
    int64_t offset = (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    EXPECT_EQ(event.ts_ns, utcNs(y, mo, d, h, mi, s) - offset * 1000000000LL);
    // The sender's clock is not Zeek's, but within hours of it.
    double zeek_ts = std::stod(columns[0]);
    EXPECT_LT(std::abs(static_cast<double>(event.ts_ns) / 1e9 - zeek_ts), 6 * 3600.0);
  }
  EXPECT_EQ(records, 2378) << "syslog.log changed";
}

// --- rsyslog's fuzz corpus ---------------------------------------------------

struct CorpusExpectation {
  SyslogFormat format;
  int facility;
  Severity severity;
  std::string host;
  std::string app_name;
  std::string procid;
  std::string msgid;
  std::string message;
  int64_t ts_ns;  // 42: the message has none
  std::vector<std::pair<std::string, std::string>> sd;
};

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(SyslogParserFuzzCorpus, EveryFileParsesAsExpected) {
  const std::string dir = sharedDataDir() + "/rsyslog/fuzz-corpus-syslog-message";
  SKIP_UNLESS_EXISTS(dir);
  const std::map<std::string, CorpusExpectation> expected = {
      {"rfc3164-basic",
       {SyslogFormat::kRfc3164,
        4,
        Severity::kCritical,
        "mymachine",
        "su",
        "",
        "",
        "'su root' failed for lonvick on /dev/pts/8",
        utcNs(2023, 10, 11, 22, 14, 15),
        {}}},
      {"rfc3164-no-pri",
       {SyslogFormat::kRfc3164,
        1,
        Severity::kNotice,
        "host.example",
        "app",
        "123",
        "",
        "legacy message without PRI",
        utcNs(2023, 10, 11, 22, 14, 15),
        {}}},
      {"rfc3164-rfc3339",
       {SyslogFormat::kRfc3164,
        1,
        Severity::kNotice,
        "host",
        "daemon",
        "",
        "",
        "timestamp variant",
        utcNs(2026, 7, 23, 7, 30, 45, 123000000),
        {}}},
      {"rfc3164-short",
       {SyslogFormat::kRfc3164, 0, Severity::kEmergency, kLocalHost, "", "", "", "x", 42, {}}},
      {"rfc5424-basic",
       {SyslogFormat::kRfc5424,
        20,
        Severity::kNotice,
        "mymachine.example.com",
        "evntslog",
        "",
        "ID47",
        "An application event log entry",
        utcNs(2003, 10, 11, 22, 14, 15, 3000000),
        {{"sd.exampleSDID@32473.iut", "3"}, {"sd.exampleSDID@32473.eventSource", "Application"}}}},
      {"rfc5424-escaped-sd",
       {SyslogFormat::kRfc5424,
        4,
        Severity::kCritical,
        "host",
        "app",
        "123",
        "msg",
        "payload",
        utcNs(2026, 7, 23, 7, 30, 45),
        {{"sd.meta@32473.value", "escaped]bracket"}, {"sd.meta@32473.quote", "\""}}}},
      {"rfc5424-nil",
       {SyslogFormat::kRfc5424, 1, Severity::kNotice, kLocalHost, "", "", "", "minimal", 42, {}}},
  };
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    const std::string raw = readFile(entry.path());
    Event event;
    event.ts_ns = 42;
    SyslogFormat format = parseSyslogRecord(raw, event, rsyslogLikeOptions());
    ASSERT_NE(format, SyslogFormat::kNone);
    ++files;
    auto it = expected.find(name);
    if (it == expected.end()) continue;  // a new corpus file: it parses, nothing more to say
    const CorpusExpectation& want = it->second;
    EXPECT_EQ(format, want.format);
    EXPECT_EQ(integer(event, "facility_code"), want.facility);
    EXPECT_EQ(event.severity, want.severity);
    EXPECT_EQ(event.host, want.host);
    EXPECT_EQ(text(event, "app_name"), want.app_name);
    EXPECT_EQ(text(event, "procid"), want.procid);
    EXPECT_EQ(text(event, "msgid"), want.msgid);
    EXPECT_EQ(text(event, "message"), want.message);
    EXPECT_EQ(event.ts_ns, want.ts_ns);
    for (const auto& [key, value] : want.sd) EXPECT_EQ(text(event, key), value) << key;
  }
  EXPECT_GE(files, static_cast<int>(expected.size()));
}

// Truncations and byte flips of real messages never crash, hang or read out
// of bounds (run under ASan), and anything with a PRI still parses.
TEST(SyslogParserFuzzCorpus, PrefixesAndMutationsAreHandled) {
  std::vector<std::string> seeds = {
      "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
      "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][x@1 a=\"\\]\\\"\\\\\"] msg",
      "<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed",
      "<6>AUG 10 22:18:24 2009  netips-warden2-p [audit] user=[*SMS]",
      "<13>2026-07-23T09:30:45.123+02:00 host daemon: timestamp variant",
      "<189>*Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured",
  };
  const std::string dir = sharedDataDir() + "/rsyslog/fuzz-corpus-syslog-message";
  if (fs::exists(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) seeds.push_back(readFile(entry.path()));
  }
  std::mt19937 random(12345);
  int parsed = 0;
  for (const std::string& seed : seeds) {
    for (size_t len = 0; len <= seed.size(); ++len) {
      Event event;
      if (parseSyslogRecord(seed.substr(0, len), event, rsyslogLikeOptions()) !=
          SyslogFormat::kNone)
        ++parsed;
    }
    for (int k = 0; k < 2000; ++k) {
      std::string mutated = seed;
      int flips = 1 + static_cast<int>(random() % 4);
      for (int f = 0; f < flips && !mutated.empty(); ++f) {
        size_t at = random() % mutated.size();
        static const char kInteresting[] = {'<', '>', '[',  ']', '"', '\\', ' ',    '=',
                                            '-', ':', '\0', '9', 'T', 'Z',  '\xff', '\xef'};
        mutated[at] = random() % 2 == 0 ? static_cast<char>(random() % 256)
                                        : kInteresting[random() % sizeof(kInteresting)];
      }
      Event event;
      SyslogFormat format = parseSyslogRecord(mutated, event, rsyslogLikeOptions());
      if (format != SyslogFormat::kNone) {
        ++parsed;
        ASSERT_NE(event.findField("message"), nullptr) << mutated;
      }
    }
  }
  EXPECT_GT(parsed, 10000);
}

// --- tolerance and details ---------------------------------------------------

TEST(SyslogParser, Rfc5424FieldsAndStructuredData) {
  Event event;
  std::string raw =
      "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 ID1 "
      "[origin ip=\"10.0.0.1\" ip=\"10.0.0.2\"][meta@1 v=\"a\\\"b\\\\c\\]d\\x\"][flag@1] "
      "\xEF\xBB\xBFhello \xC3\xA4";
  ASSERT_EQ(parseSyslogRecord(raw, event, rsyslogLikeOptions()), SyslogFormat::kRfc5424);
  EXPECT_EQ(event.ts_ns, utcNs(2003, 8, 24, 12, 14, 15, 3000));
  EXPECT_EQ(event.host, "192.0.2.1");
  EXPECT_EQ(text(event, "facility"), "local4");
  EXPECT_EQ(event.severity, Severity::kNotice);
  EXPECT_EQ(text(event, "app_name"), "myproc");
  EXPECT_EQ(text(event, "procid"), "8710");
  EXPECT_EQ(text(event, "msgid"), "ID1");
  EXPECT_EQ(text(event, "sd.origin.ip"), "10.0.0.1,10.0.0.2") << "repeated params join";
  EXPECT_EQ(text(event, "sd.meta@1.v"), "a\"b\\c]d\\x") << "only \\\" \\\\ \\] are escapes";
  const FieldValue* flag = event.findField("sd.flag@1");
  ASSERT_NE(flag, nullptr);
  EXPECT_EQ(std::get<bool>(*flag), true);
  EXPECT_EQ(text(event, "message"), "hello \xC3\xA4") << "the BOM goes, UTF-8 stays";
}

TEST(SyslogParser, MalformedStructuredDataBecomesTheMessage) {
  Event event;
  ASSERT_EQ(parseSyslogRecord("<13>1 2020-01-01T00:00:00Z h a - - [broken x=\"unterminated] rest",
                              event, rsyslogLikeOptions()),
            SyslogFormat::kRfc5424);
  EXPECT_EQ(text(event, "message"), "[broken x=\"unterminated] rest");
  for (const Field& field : event.fields) EXPECT_NE(field.key.rfind("sd.", 0), 0u) << field.key;
}

TEST(SyslogParser, BadRfc5424HeaderFallsBackToRfc3164) {
  Event event;
  ASSERT_EQ(parseSyslogRecord("<13>1 not-a-time host app: hi", event, rsyslogLikeOptions()),
            SyslogFormat::kRfc3164);
  EXPECT_EQ(text(event, "message"), "1 not-a-time host app: hi");
  EXPECT_EQ(event.host, kLocalHost);
}

TEST(SyslogParser, BsdTimestampVariants) {
  struct Case {
    const char* raw;
    int64_t ts;
    const char* host;
    const char* app;
    const char* message;
  };
  const Case cases[] = {
      {"<13>Oct  1 01:02:03 h app: m", utcNs(2023, 10, 1, 1, 2, 3), "h", "app", "m"},
      {"<13>oct 01 01:02:03 h app: m", utcNs(2023, 10, 1, 1, 2, 3), "h", "app", "m"},
      {"<13>OCT 1 2019 01:02:03 h app: m", utcNs(2019, 10, 1, 1, 2, 3), "h", "app", "m"},
      {"<13>Oct 1 01:02:03.250 h app: m", utcNs(2023, 10, 1, 1, 2, 3, 250000000), "h", "app", "m"},
      {"<13>Oct 1 01:02:03: h app: m", utcNs(2023, 10, 1, 1, 2, 3), "h", "app", "m"},
      {"<189>*Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured",
       utcNs(2024, 3, 1, 18, 46, 11, 123000000), kLocalHost, "%SYS-5-CONFIG_I", "Configured"},
      {"<13>Jun 15 11:00:00 sshd[77]: no host", utcNs(2024, 6, 15, 11, 0, 0), kLocalHost, "sshd",
       "no host"},
      {"<13>2024-06-15 10:00:00 h app: space separated", utcNs(2024, 6, 15, 10, 0, 0), "h", "app",
       "space separated"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.raw);
    Event event;
    ASSERT_EQ(parseSyslogRecord(c.raw, event, rsyslogLikeOptions()), SyslogFormat::kRfc3164);
    EXPECT_EQ(event.ts_ns, c.ts);
    EXPECT_EQ(event.host, c.host);
    EXPECT_EQ(text(event, "app_name"), c.app);
    EXPECT_EQ(text(event, "message"), c.message);
  }
}

TEST(SyslogParser, YearRollsOverAtNewYear) {
  SyslogParseOptions options = rsyslogLikeOptions();
  // Read on Jan 1, 2024 00:00:10: a Dec 31 message is from 2023.
  options.now_ns = utcNs(2024, 1, 1, 0, 0, 10);
  Event december;
  ASSERT_TRUE(parseSyslog("<13>Dec 31 23:59:59 h app: late", december, options));
  EXPECT_EQ(december.ts_ns, utcNs(2023, 12, 31, 23, 59, 59));
  // Read on Dec 31, 2023 23:59:50 from a sender whose clock runs ahead.
  options.now_ns = utcNs(2023, 12, 31, 23, 59, 50);
  Event january;
  ASSERT_TRUE(parseSyslog("<13>Jan  1 00:00:05 h app: early", january, options));
  EXPECT_EQ(january.ts_ns, utcNs(2024, 1, 1, 0, 0, 5));
  // Months ahead: last year's (old messages are common, clocks far ahead are not).
  options.now_ns = utcNs(2024, 6, 15, 0, 0, 0);
  Event october;
  ASSERT_TRUE(parseSyslog("<13>Oct  1 00:00:00 h app: old", october, options));
  EXPECT_EQ(october.ts_ns, utcNs(2023, 10, 1, 0, 0, 0));
  // Feb 29 only exists in leap years.
  options.now_ns = utcNs(2024, 3, 1, 0, 0, 0);
  Event leap;
  ASSERT_TRUE(parseSyslog("<13>Feb 29 12:00:00 h app: leap", leap, options));
  EXPECT_EQ(leap.ts_ns, utcNs(2024, 2, 29, 12, 0, 0));
}

TEST(SyslogParser, BsdTimestampIsLocalTimeUnlessUtc) {
  const char* old_tz = std::getenv("TZ");
  std::string saved = old_tz != nullptr ? old_tz : "";
  ::setenv("TZ", "America/New_York", 1);
  ::tzset();
  SyslogParseOptions options = rsyslogLikeOptions();
  options.utc = false;
  Event event;
  ASSERT_TRUE(parseSyslog("<13>Jun 15 08:00:00 h app: m", event, options));
  EXPECT_EQ(event.ts_ns, utcNs(2024, 6, 15, 12, 0, 0)) << "EDT is UTC-4";
  Event zoned;
  ASSERT_TRUE(parseSyslog("<13>1 2024-06-15T08:00:00+02:00 h app - - - m", zoned, options));
  EXPECT_EQ(zoned.ts_ns, utcNs(2024, 6, 15, 6, 0, 0)) << "an explicit zone wins";
  if (old_tz != nullptr) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(SyslogParser, PlainTextIsNotSyslogUnlessAssumed) {
  Event event;
  event.host = "file-host";
  event.ts_ns = 7;
  SyslogParseOptions options;
  EXPECT_EQ(parseSyslogRecord("just a line: with a colon", event, options), SyslogFormat::kNone);
  EXPECT_TRUE(event.fields.empty());
  EXPECT_EQ(event.host, "file-host");
  EXPECT_EQ(event.ts_ns, 7);
  EXPECT_EQ(parseSyslogRecord("", event, rsyslogLikeOptions()), SyslogFormat::kNone);
  // Without local_hostname the input's host stays.
  ASSERT_TRUE(parseSyslog("<14>x", event, options));
  EXPECT_EQ(event.host, "file-host");
  EXPECT_EQ(text(event, "message"), "x");
}

TEST(SyslogParser, InvalidPriIsText) {
  Event event;
  ASSERT_EQ(parseSyslogRecord("<192>Oct 11 22:14:15 h app: m", event, rsyslogLikeOptions()),
            SyslogFormat::kRfc3164);
  EXPECT_EQ(integer(event, "facility_code"), 1) << "out-of-range PRI: the default user.notice";
  EXPECT_EQ(text(event, "message"), "<192>Oct 11 22:14:15 h app: m");
}

TEST(SyslogParser, TrailingNewlineAndNulAreIgnored) {
  Event event;
  ASSERT_TRUE(parseSyslog("<13>1 - h a - - - body\r\n", event, rsyslogLikeOptions()));
  EXPECT_EQ(text(event, "message"), "body");
  Event nul;
  ASSERT_TRUE(parseSyslog(std::string("<13>Oct 11 22:14:15 h app: body") + '\0', nul,
                          rsyslogLikeOptions()));
  EXPECT_EQ(text(nul, "message"), "body");
}

TEST(SyslogParser, Rfc3339Parsing) {
  EXPECT_EQ(parseRfc3339("2003-10-11T22:14:15.003Z", true),
            utcNs(2003, 10, 11, 22, 14, 15, 3000000));
  EXPECT_EQ(parseRfc3339("2003-10-11t22:14:15.123456789+01:30", true),
            utcNs(2003, 10, 11, 20, 44, 15, 123456789));
  EXPECT_EQ(parseRfc3339("2003-10-11T22:14:15.1234567891-0100", true),
            utcNs(2003, 10, 11, 23, 14, 15, 123456789));
  EXPECT_EQ(parseRfc3339("2003-10-11T22:14:15", true), utcNs(2003, 10, 11, 22, 14, 15));
  EXPECT_FALSE(parseRfc3339("2003-02-30T22:14:15Z", true));
  EXPECT_FALSE(parseRfc3339("2003-10-11T24:14:15Z", true));
  EXPECT_FALSE(parseRfc3339("2003-10-11T22:14:15Zx", true));
  EXPECT_FALSE(parseRfc3339("2003-10-11T22:14:15.Z", true));
  EXPECT_FALSE(parseRfc3339("9999-10-11T22:14:15Z", true)) << "beyond what int64 ns hold";
}

TEST(SyslogParser, FacilityNames) {
  EXPECT_STREQ(syslogFacilityName(0), "kern");
  EXPECT_STREQ(syslogFacilityName(10), "authpriv");
  EXPECT_STREQ(syslogFacilityName(23), "local7");
  EXPECT_EQ(syslogFacilityName(24), nullptr);
  EXPECT_EQ(syslogFacilityName(-1), nullptr);
}

}  // namespace
}  // namespace edge::agent
