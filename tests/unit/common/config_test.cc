// Tests for YAML configuration reading: typed getters, error messages with
// file:line and key path, unknown-key suggestions, and the value parsers.
#include "edge/common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace edge {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::unique_ptr<ConfigDocument> load(std::string_view yaml) {
  auto doc = ConfigDocument::parse(yaml, "test.yaml");
  EXPECT_TRUE(doc.ok()) << (doc.ok() ? "" : doc.error().message);
  if (!doc.ok()) return nullptr;
  return std::move(doc).value();
}

// ---------------------------------------------------------------------------
// Documents

TEST(ConfigDocumentTest, ParseErrorNamesFileLineAndColumn) {
  auto doc = ConfigDocument::parse("log:\n  level: [info, debug\n", "agent.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kConfig);
  EXPECT_THAT(doc.error().message, MatchesRegex("agent\\.yaml:[0-9]+:[0-9]+: .+"));
}

TEST(ConfigDocumentTest, ParseErrorPointsAtTheBadLine) {
  auto doc = ConfigDocument::parse("a: 1\nb: 2\nc: d: e\n", "x.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().message, "x.yaml:3:5: illegal map value");
}

TEST(ConfigDocumentTest, EmptyDocumentGivesDefaults) {
  auto doc = load("");
  ConfigNode root = doc->root();
  EXPECT_EQ(root.getString("name", "dflt"), "dflt");
  EXPECT_EQ(root.getInt("n", 5, 0, 10), 5);
  EXPECT_TRUE(doc->finish().ok());
}

TEST(ConfigDocumentTest, LoadFileReadsARealFile) {
  auto path = std::filesystem::temp_directory_path() /
              ("edge_config_test_" + std::to_string(getpid()) + ".yaml");
  {
    std::ofstream out(path);
    out << "agent:\n  id: web-1\n  port: nope\n";
  }
  auto doc = ConfigDocument::loadFile(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(doc.ok()) << doc.error().message;
  EXPECT_EQ((*doc)->filename(), path.string());
  ConfigNode root = (*doc)->root();
  EXPECT_EQ(root["agent"].getString("id", ""), "web-1");
  EXPECT_EQ(root["agent"].getInt("port", 1, 1, 65535), 1);
  ASSERT_EQ((*doc)->errors().size(), 1u);
  EXPECT_EQ((*doc)->errors()[0],
            path.string() + ":3: agent.port: expected an integer from 1 to 65535, got \"nope\"");
}

TEST(ConfigDocumentTest, LoadFileMissingNamesTheFile) {
  auto doc = ConfigDocument::loadFile("/nonexistent/dir/agent.yaml");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(doc.error().message, HasSubstr("/nonexistent/dir/agent.yaml"));
  EXPECT_THAT(doc.error().message, HasSubstr("No such file or directory"));
}

TEST(ConfigDocumentTest, FinishJoinsAllErrorsInOrder) {
  auto doc = load(
      "a: x\n"
      "b: y\n");
  ConfigNode root = doc->root();
  root.getInt("a", 0, 0, 9);
  root.getBool("b", false);
  auto st = doc->finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kConfig);
  EXPECT_EQ(st.error().message,
            "test.yaml:1: a: expected an integer from 0 to 9, got \"x\"\n"
            "test.yaml:2: b: expected true or false, got \"y\"");
}

TEST(ConfigDocumentTest, DuplicateKeysAreReported) {
  auto doc = load(
      "log:\n"
      "  level: info\n"
      "  level: debug\n");
  ASSERT_EQ(doc->errors().size(), 1u);
  EXPECT_EQ(doc->errors()[0],
            "test.yaml:3: log.level: duplicate key (first set at line 2); remove one of them");
}

// ---------------------------------------------------------------------------
// Navigation

TEST(ConfigNodeTest, PathsAndLines) {
  auto doc = load(
      "a:\n"
      "  b:\n"
      "    - c: 1\n"
      "    - c: 2\n"
      "    - c: three\n");
  ConfigNode b = doc->root()["a"]["b"];
  EXPECT_TRUE(b.exists());
  EXPECT_TRUE(b.isSequence());
  EXPECT_EQ(b.path(), "a.b");
  auto items = b.elements();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[2].path(), "a.b[2]");
  EXPECT_EQ(items[2].line(), 5);
  EXPECT_EQ(items[0].getInt("c", 0, 0, 100), 1);
  EXPECT_EQ(items[2].getInt("c", 0, 0, 100), 0);
  EXPECT_THAT(
      doc->errors(),
      ElementsAre("test.yaml:5: a.b[2].c: expected an integer from 0 to 100, got \"three\""));
}

TEST(ConfigNodeTest, MissingNodes) {
  auto doc = load("a:\n  b: 1\n");
  ConfigNode missing = doc->root()["x"]["y"];
  EXPECT_FALSE(missing.exists());
  EXPECT_EQ(missing.line(), 0);
  EXPECT_EQ(missing.path(), "x.y");
  EXPECT_TRUE(missing.elements().empty());
  EXPECT_TRUE(missing.keys().empty());
  EXPECT_TRUE(doc->finish().ok());
}

TEST(ConfigNodeTest, KeysInDocumentOrder) {
  auto doc = load("z: 1\na: 2\nm: 3\n");
  EXPECT_THAT(doc->root().keys(), ElementsAre("z", "a", "m"));
}

TEST(ConfigNodeTest, ScalarWhereMapExpectedIsReportedOnce) {
  auto doc = load("log: debug\n");
  ConfigNode log = doc->root()["log"];
  EXPECT_EQ(log.getString("level", "info"), "info");
  EXPECT_EQ(log.getString("format", "text"), "text");
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:1: log: expected a map, got \"debug\""));
}

TEST(ConfigNodeTest, ElementsOfNonSequence) {
  auto doc = load("inputs:\n  path: /var/log\n");
  EXPECT_TRUE(doc->root()["inputs"].elements().empty());
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:2: inputs: expected a list, got a map"));
}

TEST(ConfigNodeTest, NullCountsAsMissing) {
  auto doc = load(
      "a: ~\n"
      "b:\n"
      "c: null\n");
  ConfigNode root = doc->root();
  EXPECT_TRUE(root["a"].exists());
  EXPECT_EQ(root.getString("a", "d"), "d");
  EXPECT_EQ(root.getInt("b", 3, 0, 9), 3);
  EXPECT_EQ(root.getStringList("c", {"x"}), std::vector<std::string>{"x"});
  EXPECT_TRUE(doc->finish().ok());
  root.requireString("b");
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:2: b: missing required key"));
}

TEST(ConfigNodeTest, RequireStringMissingPointsAtParentMap) {
  auto doc = load(
      "log:\n"
      "  level: info\n"
      "agent:\n"
      "  name: web\n"
      "  zone: eu\n");
  ConfigNode agent = doc->root()["agent"];
  EXPECT_EQ(agent.requireString("name"), "web");
  EXPECT_EQ(agent.requireString("id"), "");
  EXPECT_EQ(doc->root()["spool"].requireString("dir"), "");
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:4: agent.id: missing required key",
                                         "test.yaml:1: spool.dir: missing required key"));
}

TEST(ConfigNodeTest, CustomErrors) {
  auto doc = load("tls:\n  cert: a.pem\n");
  ConfigNode tls = doc->root()["tls"];
  tls.addError("cert", "file not found; create it with edgectl ca issue");
  tls.addError("key", "required when cert is set");
  tls.addError("incomplete");
  EXPECT_THAT(doc->errors(),
              ElementsAre("test.yaml:2: tls.cert: file not found; create it with edgectl ca issue",
                          "test.yaml:2: tls.key: required when cert is set",
                          "test.yaml:2: tls: incomplete"));
}

TEST(ConfigNodeTest, AsString) {
  auto doc = load("paths:\n  - /a\n  - {x: 1}\n");
  auto items = doc->root()["paths"].elements();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].asString(), "/a");
  EXPECT_EQ(items[1].asString(), "");
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:3: paths[1]: expected a string, got a map"));
}

// ---------------------------------------------------------------------------
// Typed getters

TEST(ConfigGetterTest, Strings) {
  auto doc = load("name: web-1\nnum: 42\nlist: [a]\n");
  ConfigNode root = doc->root();
  EXPECT_EQ(root.getString("name", ""), "web-1");
  EXPECT_EQ(root.getString("num", ""), "42");
  EXPECT_EQ(root.getString("missing", "dflt"), "dflt");
  EXPECT_EQ(root.getString("list", "dflt"), "dflt");
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:3: list: expected a string, got a list"));
}

TEST(ConfigGetterTest, Bools) {
  auto doc = load("a: true\nb: no\nc: On\nd: OFF\ne: Yes\nf: maybe\ng: 1\n");
  ConfigNode root = doc->root();
  EXPECT_TRUE(root.getBool("a", false));
  EXPECT_FALSE(root.getBool("b", true));
  EXPECT_TRUE(root.getBool("c", false));
  EXPECT_FALSE(root.getBool("d", true));
  EXPECT_TRUE(root.getBool("e", false));
  EXPECT_TRUE(root.getBool("f", true));
  EXPECT_FALSE(root.getBool("g", false));
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:6: f: expected true or false, got \"maybe\"",
                                         "test.yaml:7: g: expected true or false, got \"1\""));
}

TEST(ConfigGetterTest, IntsAreRangeChecked) {
  auto doc = load("a: 10\nb: -3\nc: 70000\nd: 1.5\ne: 0x10\nf: 9223372036854775808\n");
  ConfigNode root = doc->root();
  EXPECT_EQ(root.getInt("a", 0, 0, 100), 10);
  EXPECT_EQ(root.getInt("b", 0, -5, 5), -3);
  EXPECT_EQ(root.getInt("c", 7400, 1, 65535), 7400);
  EXPECT_EQ(root.getInt("d", 1, 0, 10), 1);
  EXPECT_EQ(root.getInt("e", 2, 0, 100), 2);
  EXPECT_EQ(root.getInt("f", 3, INT64_MIN, INT64_MAX), 3);
  EXPECT_THAT(
      doc->errors(),
      ElementsAre(
          "test.yaml:3: c: expected an integer from 1 to 65535, got \"70000\"",
          "test.yaml:4: d: expected an integer from 0 to 10, got \"1.5\"",
          "test.yaml:5: e: expected an integer from 0 to 100, got \"0x10\"",
          "test.yaml:6: f: expected an integer from -9223372036854775808 to 9223372036854775807, "
          "got \"9223372036854775808\""));
}

TEST(ConfigGetterTest, Doubles) {
  auto doc = load("a: 0.25\nb: 3\nc: fast\nd: .nan\n");
  ConfigNode root = doc->root();
  EXPECT_DOUBLE_EQ(root.getDouble("a", 0), 0.25);
  EXPECT_DOUBLE_EQ(root.getDouble("b", 0), 3.0);
  EXPECT_DOUBLE_EQ(root.getDouble("c", 1.5), 1.5);
  EXPECT_DOUBLE_EQ(root.getDouble("d", 2.5), 2.5);
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:3: c: expected a number, got \"fast\"",
                                         "test.yaml:4: d: expected a number, got \".nan\""));
}

TEST(ConfigGetterTest, StringLists) {
  auto doc = load(
      "one: /var/log/syslog\n"
      "many:\n"
      "  - /a\n"
      "  - /b\n"
      "flow: [x, y]\n"
      "bad: {k: v}\n"
      "mixed:\n"
      "  - ok\n"
      "  - [nested]\n");
  ConfigNode root = doc->root();
  EXPECT_THAT(root.getStringList("one", {}), ElementsAre("/var/log/syslog"));
  EXPECT_THAT(root.getStringList("many", {}), ElementsAre("/a", "/b"));
  EXPECT_THAT(root.getStringList("flow", {}), ElementsAre("x", "y"));
  EXPECT_THAT(root.getStringList("missing", {"d"}), ElementsAre("d"));
  EXPECT_THAT(root.getStringList("bad", {"d"}), ElementsAre("d"));
  EXPECT_THAT(root.getStringList("mixed", {"d"}), ElementsAre("d"));
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:6: bad: expected a list of strings, got a map",
                                         "test.yaml:9: mixed[1]: expected a string, got a list"));
}

TEST(ConfigGetterTest, Bytes) {
  auto doc = load(
      "a: 1048576\n"
      "b: 64KiB\n"
      "c: 500MB\n"
      "d: 1GiB\n"
      "e: 10XB\n"
      "f: 99999999999GiB\n");
  ConfigNode root = doc->root();
  EXPECT_EQ(root.getBytes("a", 0), 1048576u);
  EXPECT_EQ(root.getBytes("b", 0), 65536u);
  EXPECT_EQ(root.getBytes("c", 0), 500000000u);
  EXPECT_EQ(root.getBytes("d", 0), 1073741824u);
  EXPECT_EQ(root.getBytes("e", 7), 7u);
  EXPECT_EQ(root.getBytes("f", 8), 8u);
  EXPECT_THAT(
      doc->errors(),
      ElementsAre(
          "test.yaml:5: e: expected a byte size such as 1048576, 64KiB or 10MiB (units B, KB, MB, "
          "GB, TB, KiB, MiB, GiB, TiB), got \"10XB\"",
          "test.yaml:6: f: expected a byte size of at most 16EiB, got \"99999999999GiB\""));
}

TEST(ConfigGetterTest, Durations) {
  auto doc = load("a: 250\nb: 250ms\nc: 5s\nd: 2m\ne: 1h\nf: 1.5s\ng: soon\n");
  ConfigNode root = doc->root();
  EXPECT_EQ(root.getDuration("a", milliseconds(0)), milliseconds(250));
  EXPECT_EQ(root.getDuration("b", milliseconds(0)), milliseconds(250));
  EXPECT_EQ(root.getDuration("c", milliseconds(0)), milliseconds(5000));
  EXPECT_EQ(root.getDuration("d", milliseconds(0)), milliseconds(120000));
  EXPECT_EQ(root.getDuration("e", milliseconds(0)), milliseconds(3600000));
  EXPECT_EQ(root.getDuration("f", milliseconds(0)), milliseconds(1500));
  EXPECT_EQ(root.getDuration("g", milliseconds(9)), milliseconds(9));
  EXPECT_THAT(
      doc->errors(),
      ElementsAre("test.yaml:7: g: expected a duration such as 250ms, 5s, 2m or 1h, got \"soon\""));
}

TEST(ConfigGetterTest, Enums) {
  auto doc = load("action: sample\nother: dorp\n");
  ConfigNode root = doc->root();
  EXPECT_EQ(root.getEnum("action", "drop", {"drop", "sample", "throttle"}), "sample");
  EXPECT_EQ(root.getEnum("other", "drop", {"drop", "sample", "throttle"}), "drop");
  EXPECT_EQ(root.getEnum("missing", "throttle", {"drop", "sample", "throttle"}), "throttle");
  EXPECT_THAT(
      doc->errors(),
      ElementsAre("test.yaml:2: other: expected one of drop, sample, throttle, got \"dorp\""));
}

TEST(ConfigGetterTest, HostPorts) {
  auto doc = load(
      "output:\n"
      "  gateway: gw.example.com:7400\n"
      "  v6: \"[::1]:7400\"\n"
      "  bad: localhost\n"
      "  zero: host:0\n");
  ConfigNode out = doc->root()["output"];
  EXPECT_EQ(out.getHostPort("gateway", ""), "gw.example.com:7400");
  EXPECT_EQ(out.getHostPort("v6", ""), "[::1]:7400");
  EXPECT_EQ(out.getHostPort("bad", "127.0.0.1:1"), "127.0.0.1:1");
  EXPECT_EQ(out.getHostPort("zero", "d:2"), "d:2");
  EXPECT_THAT(doc->errors(),
              ElementsAre("test.yaml:4: output.bad: expected host:port, got \"localhost\"",
                          "test.yaml:5: output.zero: expected host:port with a port from 1 to "
                          "65535, got \"host:0\""));
}

TEST(ConfigGetterTest, LongAndControlCharacterValuesAreQuotedAndCut) {
  auto doc = load("a: \"tab\\there\"\nb: " + std::string(200, 'x') + "\n");
  ConfigNode root = doc->root();
  root.getInt("a", 0, 0, 1);
  root.getInt("b", 0, 0, 1);
  ASSERT_EQ(doc->errors().size(), 2u);
  EXPECT_EQ(doc->errors()[0],
            "test.yaml:1: a: expected an integer from 0 to 1, got \"tab\\there\"");
  EXPECT_EQ(doc->errors()[1], "test.yaml:2: b: expected an integer from 0 to 1, got \"" +
                                  std::string(80, 'x') + "...\"");
}

// ---------------------------------------------------------------------------
// Unknown keys

TEST(ConfigUnknownKeysTest, SuggestsClosestKnownKey) {
  auto doc = load(
      "log:\n"
      "  level: info\n"
      "  fromat: json\n"
      "  levle: debug\n");
  doc->root()["log"].rejectUnknownKeys({"level", "format", "component"});
  EXPECT_THAT(doc->errors(),
              ElementsAre("test.yaml:3: log.fromat: unknown key, did you mean 'format'?",
                          "test.yaml:4: log.levle: unknown key, did you mean 'level'?"));
}

TEST(ConfigUnknownKeysTest, ListsKnownKeysWhenNothingIsClose) {
  auto doc = load("agent: {}\nzzzzzzzz: 1\n");
  doc->root().rejectUnknownKeys({"agent", "log"});
  EXPECT_THAT(doc->errors(),
              ElementsAre("test.yaml:2: zzzzzzzz: unknown key; known keys are agent, log"));
}

TEST(ConfigUnknownKeysTest, KnownKeysPassAndNonMapsAreReported) {
  auto doc = load("a: 1\nb: 2\nc: [1]\n");
  ConfigNode root = doc->root();
  root.rejectUnknownKeys({"a", "b", "c"});
  EXPECT_TRUE(doc->finish().ok());
  root["c"].rejectUnknownKeys({"x"});
  root["missing"].rejectUnknownKeys({"x"});
  EXPECT_THAT(doc->errors(), ElementsAre("test.yaml:3: c: expected a map, got a list"));
}

// ---------------------------------------------------------------------------
// Parsers

TEST(ParseByteSizeTest, Valid) {
  EXPECT_EQ(*parseByteSize("0"), 0u);
  EXPECT_EQ(*parseByteSize("1024"), 1024u);
  EXPECT_EQ(*parseByteSize("10B"), 10u);
  EXPECT_EQ(*parseByteSize("1KB"), 1000u);
  EXPECT_EQ(*parseByteSize("1KiB"), 1024u);
  EXPECT_EQ(*parseByteSize("10MiB"), 10485760u);
  EXPECT_EQ(*parseByteSize("2GB"), 2000000000u);
  EXPECT_EQ(*parseByteSize("1TiB"), 1099511627776u);
  EXPECT_EQ(*parseByteSize(" 64 kib "), 65536u);
  EXPECT_EQ(*parseByteSize("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(*parseByteSize("16777215TiB"), 16777215ULL << 40);
}

TEST(ParseByteSizeTest, Invalid) {
  for (const char* bad : {"", "KiB", "-1", "1.5GiB", "10XB", "10 K", "0x10", "1e6", "1KiB2"}) {
    auto r = parseByteSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(ParseByteSizeTest, OverflowIsRefused) {
  auto r = parseByteSize("18446744073709551616");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "expected a byte size of at most 16EiB, got \"18446744073709551616\"");
  EXPECT_FALSE(parseByteSize("16777216TiB").ok());
  EXPECT_FALSE(parseByteSize("17179869184GiB").ok());
  EXPECT_TRUE(parseByteSize("17179869183GiB").ok());
}

TEST(ParseDurationTest, Valid) {
  EXPECT_EQ(*parseDuration("0"), milliseconds(0));
  EXPECT_EQ(*parseDuration("250"), milliseconds(250));
  EXPECT_EQ(*parseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*parseDuration("5s"), milliseconds(5000));
  EXPECT_EQ(*parseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(*parseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(*parseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*parseDuration("0.001s"), milliseconds(1));
  EXPECT_EQ(*parseDuration("0.25h"), milliseconds(900000));
  EXPECT_EQ(*parseDuration(" 30 s "), milliseconds(30000));
}

TEST(ParseDurationTest, Invalid) {
  for (const char* bad : {"", "s", "1.5", "-5s", "5x", "5S", "1..5s", ".5s", "5.s", "5sec", "1e3ms",
                          "99999999999999999999s"}) {
    auto r = parseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  auto r = parseDuration("5x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "expected a duration such as 250ms, 5s, 2m or 1h, got \"5x\"");
  EXPECT_FALSE(parseDuration("9223372036854775807s").ok());
}

TEST(ParseHostPortTest, Valid) {
  auto a = parseHostPort("gw.example.com:7400");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "gw.example.com");
  EXPECT_EQ(a->port, 7400);
  auto b = parseHostPort("[::1]:1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 1);
  auto c = parseHostPort("10.0.0.1:65535");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 65535);
}

TEST(ParseHostPortTest, Invalid) {
  for (const char* bad :
       {"", "localhost", ":80", "host:", "host:0", "host:65536", "host:080000", "host:+80",
        "host:8o", "[::1]", "[::1]:", "[::1]7400", "[]:80", "::1:7400", "host: 80"}) {
    auto r = parseHostPort(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_EQ(parseHostPort("::1:7400").error().message,
            "expected host:port with an IPv6 host in brackets, as in [::1]:7400, got \"::1:7400\"");
  EXPECT_EQ(parseHostPort("h:65536").error().message,
            "expected host:port with a port from 1 to 65535, got \"h:65536\"");
}

}  // namespace
}  // namespace edge
