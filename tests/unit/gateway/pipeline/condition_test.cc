// Match conditions: every operator on every kind of value (strings, typed
// fields, severity, missing values), the combinators, and the errors an
// operator sees for a wrong condition, with file:line.
#include "edge/gateway/pipeline/condition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "test_support.h"

namespace edge::gateway::pipeline::testing {
namespace {

// Compiles `match: <condition>` and evaluates it on `event`.
bool eval(std::string_view condition, const Event& event, const EventContext& context = {}) {
  auto compiled = compileYaml("match: " + std::string(condition) + "\n");
  if (!compiled) return false;
  return compiled->matches(event, context);
}

Event withFields() {
  Event e = makeEvent();
  e.setField("user", std::string("root"));
  e.setField("status", int64_t{404});
  e.setField("latency", 1.5);
  e.setField("ok", false);
  e.setField("count_text", std::string("17"));
  e.setField("empty", std::string());
  e.setField("big", int64_t{9007199254740993});  // 2^53 + 1: not exact as a double
  return e;
}

TEST(PipelineConditionTest, EqualsOnBuiltInStrings) {
  Event e = makeEvent("auth", "web-1");
  EXPECT_TRUE(eval("{field: kind, equals: auth}", e));
  EXPECT_FALSE(eval("{field: kind, equals: Auth}", e));  // case-sensitive
  EXPECT_TRUE(eval("{field: host, equals: web-1}", e));
  EXPECT_TRUE(eval("{field: source, equals: /var/log/auth.log}", e));
  EXPECT_TRUE(eval("{field: tenant, equals: acme}", e));
  EXPECT_TRUE(eval("{field: raw, equals: 'Failed password for root from 10.0.0.7 port 22'}", e));
  EXPECT_TRUE(eval("{field: agent_id, equals: agent-7}", e, EventContext{"agent-7"}));
  EXPECT_FALSE(eval("{field: agent_id, equals: agent-7}", e, EventContext{"agent-8"}));
  e.host.clear();  // an empty built-in string is missing
  EXPECT_FALSE(eval("{field: host, equals: ''}", e));
}

TEST(PipelineConditionTest, EqualsOnTypedFields) {
  Event e = withFields();
  EXPECT_TRUE(eval("{field: fields.user, equals: root}", e));
  EXPECT_FALSE(eval("{field: fields.user, equals: admin}", e));
  EXPECT_TRUE(eval("{field: fields.status, equals: 404}", e));
  EXPECT_TRUE(eval("{field: fields.status, equals: '404'}", e));  // quoting does not matter
  EXPECT_TRUE(eval("{field: fields.status, equals: 404.0}", e));  // numerically equal
  EXPECT_FALSE(eval("{field: fields.status, equals: abc}", e));   // not a number: no match
  EXPECT_TRUE(eval("{field: fields.latency, equals: 1.5}", e));
  EXPECT_FALSE(eval("{field: fields.latency, equals: '1.50x'}", e));
  EXPECT_TRUE(eval("{field: fields.ok, equals: false}", e));
  EXPECT_TRUE(eval("{field: fields.ok, equals: 'no'}", e));
  EXPECT_FALSE(eval("{field: fields.ok, equals: true}", e));
  EXPECT_FALSE(eval("{field: fields.ok, equals: maybe}", e));
  EXPECT_TRUE(eval("{field: fields.empty, equals: ''}", e));  // present, empty
  EXPECT_FALSE(eval("{field: fields.nope, equals: ''}", e));  // missing never equals
  // A string field compares as text: "17" is not "17.0".
  EXPECT_TRUE(eval("{field: fields.count_text, equals: 17}", e));
  EXPECT_FALSE(eval("{field: fields.count_text, equals: 17.0}", e));
  // Integers compare exactly, beyond double precision.
  EXPECT_TRUE(eval("{field: fields.big, equals: 9007199254740993}", e));
  EXPECT_FALSE(eval("{field: fields.big, equals: 9007199254740992}", e));
}

TEST(PipelineConditionTest, NotEqualsIsTheNegationOfEqualsIncludingMissing) {
  Event e = withFields();
  EXPECT_FALSE(eval("{field: fields.user, not_equals: root}", e));
  EXPECT_TRUE(eval("{field: fields.user, not_equals: admin}", e));
  EXPECT_TRUE(eval("{field: fields.nope, not_equals: admin}", e));
  EXPECT_FALSE(eval("{field: fields.status, not_equals: 404}", e));
  // "present and different" is spelled with two operators in one leaf.
  EXPECT_FALSE(eval("{field: fields.nope, exists: true, not_equals: admin}", e));
  EXPECT_TRUE(eval("{field: fields.user, exists: true, not_equals: admin}", e));
}

TEST(PipelineConditionTest, PrefixSuffixContains) {
  Event e = withFields();
  EXPECT_TRUE(eval("{field: raw, prefix: 'Failed password'}", e));
  EXPECT_FALSE(eval("{field: raw, prefix: 'password'}", e));
  EXPECT_TRUE(eval("{field: raw, suffix: 'port 22'}", e));
  EXPECT_FALSE(eval("{field: raw, suffix: 'port 2'}", e));
  EXPECT_TRUE(eval("{field: raw, contains: 'for root'}", e));
  EXPECT_FALSE(eval("{field: raw, contains: 'for admin'}", e));
  EXPECT_TRUE(eval("{field: raw, contains: ''}", e));  // the empty string is in every string
  EXPECT_FALSE(eval("{field: fields.nope, contains: ''}", e));
  // Numbers and bools are matched as their text.
  EXPECT_TRUE(eval("{field: fields.status, prefix: '40'}", e));
  EXPECT_TRUE(eval("{field: fields.latency, suffix: '.5'}", e));
  EXPECT_TRUE(eval("{field: fields.ok, equals: false, contains: als}", e));
  EXPECT_TRUE(eval("{field: ts, prefix: '17000'}", e));
  EXPECT_TRUE(eval("{field: seq, equals: 42, suffix: '2'}", e));
  // Severity's text is its name.
  EXPECT_TRUE(eval("{field: severity, prefix: inf}", e));
  EXPECT_FALSE(eval("{field: severity, contains: '6'}", e));
}

TEST(PipelineConditionTest, Regex) {
  Event e = withFields();
  EXPECT_TRUE(eval(R"({field: raw, regex: 'from \d+\.\d+\.\d+\.\d+ port'})", e));
  EXPECT_FALSE(eval(R"({field: raw, regex: '^from'})", e));
  EXPECT_TRUE(eval(R"({field: raw, regex: '(?i)FAILED'})", e));
  EXPECT_TRUE(eval(R"({field: fields.status, regex: '^4\d\d$'})", e));
  EXPECT_TRUE(eval(R"({field: severity, regex: '^(info|notice)$'})", e));
  EXPECT_FALSE(eval(R"({field: fields.nope, regex: '.*'})", e));
  // Bytes by default: invalid UTF-8 in a value still matches byte patterns;
  // with (*UTF) such a value is simply no match.
  e.raw = "caf\xe9 \xff user=bob";
  EXPECT_TRUE(eval(R"({field: raw, regex: 'user=(\w+)'})", e));
  EXPECT_FALSE(eval(R"({field: raw, regex: '(*UTF)caf.\s'})", e));
  e.raw = "caf\xc3\xa9 user=bob";
  EXPECT_TRUE(eval(R"({field: raw, regex: '(*UTF)^caf.\s'})", e));
  EXPECT_FALSE(eval(R"({field: raw, regex: '^caf.\s'})", e));  // é is two bytes
}

TEST(PipelineConditionTest, RegexUsedRepeatedlyGivesTheSameAnswers) {
  auto c = compileYaml("match: {field: host, regex: '^web-\\d+$'}\n");
  ASSERT_TRUE(c);
  for (int i = 0; i < 1000; ++i) {
    Event e = makeEvent("log", (i % 3 == 0 ? "db-" : "web-") + std::to_string(i));
    EXPECT_EQ(c->matches(e), i % 3 != 0) << i;
  }
}

TEST(PipelineConditionTest, In) {
  Event e = withFields();
  EXPECT_TRUE(eval("{field: fields.user, in: [admin, root]}", e));
  EXPECT_FALSE(eval("{field: fields.user, in: [admin, bob]}", e));
  EXPECT_TRUE(eval("{field: fields.status, in: [200, 404]}", e));
  EXPECT_TRUE(eval("{field: fields.status, in: [500, 404.0]}", e));
  EXPECT_FALSE(eval("{field: fields.status, in: [200, '40']}", e));
  EXPECT_TRUE(eval("{field: fields.latency, in: [1, 1.5]}", e));
  EXPECT_TRUE(eval("{field: fields.ok, in: [false]}", e));
  EXPECT_FALSE(eval("{field: fields.ok, in: [true, yes]}", e));
  EXPECT_FALSE(eval("{field: fields.nope, in: [a, b]}", e));
  EXPECT_TRUE(eval("{field: severity, in: [warning, info]}", e));
  EXPECT_TRUE(eval("{field: severity, in: [6]}", e));
  EXPECT_FALSE(eval("{field: severity, in: [err, crit]}", e));
  EXPECT_TRUE(eval("{field: kind, in: [log]}", e));
}

TEST(PipelineConditionTest, InWithAManyValuesList) {
  std::string list;
  for (int i = 0; i < 500; ++i) list += (i ? ", " : "") + ("user" + std::to_string(i * 7));
  auto c = compileYaml("match: {field: fields.user, in: [" + list + "]}\n");
  ASSERT_TRUE(c);
  for (int i = 0; i < 3500; ++i) {
    Event e = makeEvent();
    e.setField("user", "user" + std::to_string(i));
    EXPECT_EQ(c->matches(e), i % 7 == 0) << i;
  }
}

TEST(PipelineConditionTest, Exists) {
  Event e = withFields();
  EXPECT_TRUE(eval("{field: fields.user, exists: true}", e));
  EXPECT_FALSE(eval("{field: fields.user, exists: false}", e));
  EXPECT_TRUE(eval("{field: fields.nope, exists: false}", e));
  EXPECT_TRUE(eval("{field: fields.empty, exists: true}", e));  // present though empty
  EXPECT_TRUE(eval("{field: host, exists: true}", e));
  e.host.clear();
  EXPECT_TRUE(eval("{field: host, exists: false}", e));
  EXPECT_TRUE(eval("{field: agent_id, exists: false}", e));
  EXPECT_TRUE(eval("{field: agent_id, exists: true}", e, EventContext{"a1"}));
  EXPECT_TRUE(eval("{field: severity, exists: true}", e));
}

TEST(PipelineConditionTest, NumericComparisons) {
  Event e = withFields();
  EXPECT_TRUE(eval("{field: fields.status, gt: 399}", e));
  EXPECT_FALSE(eval("{field: fields.status, gt: 404}", e));
  EXPECT_TRUE(eval("{field: fields.status, ge: 404}", e));
  EXPECT_FALSE(eval("{field: fields.status, ge: 404.5}", e));
  EXPECT_TRUE(eval("{field: fields.status, lt: 404.5}", e));
  EXPECT_FALSE(eval("{field: fields.status, lt: 404}", e));
  EXPECT_TRUE(eval("{field: fields.status, le: 404}", e));
  EXPECT_TRUE(eval("{field: fields.latency, gt: 1}", e));
  EXPECT_TRUE(eval("{field: fields.latency, le: 1.5}", e));
  EXPECT_FALSE(eval("{field: fields.latency, lt: 1.5}", e));
  EXPECT_TRUE(eval("{field: fields.latency, ge: -2e3}", e));
  // A string holding a number compares as that number; any other string,
  // a bool or a missing field is simply no match.
  EXPECT_TRUE(eval("{field: fields.count_text, gt: 9}", e));  // 17 > 9 (not "17" < "9")
  EXPECT_FALSE(eval("{field: fields.user, gt: 0}", e));
  EXPECT_FALSE(eval("{field: fields.user, le: 0}", e));
  EXPECT_FALSE(eval("{field: fields.ok, lt: 1}", e));
  EXPECT_FALSE(eval("{field: fields.nope, lt: 1}", e));
  EXPECT_FALSE(eval("{field: raw, ge: 0}", e));
  // Exact integer comparison beyond 2^53.
  EXPECT_TRUE(eval("{field: fields.big, gt: 9007199254740992}", e));
  EXPECT_FALSE(eval("{field: fields.big, lt: 9007199254740993}", e));
  // Built-in numbers.
  EXPECT_TRUE(eval("{field: ts, ge: 1700000000000000000}", e));
  EXPECT_FALSE(eval("{field: ts, gt: 1700000000000000000}", e));
  EXPECT_TRUE(eval("{field: seq, lt: 43}", e));
  e.setField("nan", std::nan(""));
  EXPECT_FALSE(eval("{field: fields.nan, lt: 1}", e));
  EXPECT_FALSE(eval("{field: fields.nan, ge: 1}", e));
}

TEST(PipelineConditionTest, SeverityComparesByRfc5424NumberLowerIsMoreSevere) {
  // "le: warning" = warning or worse.
  for (int s = 0; s <= 7; ++s) {
    Event e = makeEvent("log", "h", static_cast<Severity>(s));
    EXPECT_EQ(eval("{field: severity, le: warning}", e), s <= 4) << s;
    EXPECT_EQ(eval("{field: severity, le: warn}", e), s <= 4) << s;
    EXPECT_EQ(eval("{field: severity, lt: 4}", e), s < 4) << s;
    EXPECT_EQ(eval("{field: severity, gt: notice}", e), s > 5) << s;
    EXPECT_EQ(eval("{field: severity, ge: err}", e), s >= 3) << s;
    EXPECT_EQ(eval("{field: severity, equals: error}", e), s == 3) << s;
    EXPECT_EQ(eval("{field: severity, equals: ERR}", e), s == 3) << s;
    EXPECT_EQ(eval("{field: severity, not_equals: debug}", e), s != 7) << s;
  }
}

TEST(PipelineConditionTest, FieldLookupFollowsChangingFieldOrder) {
  // Lookups try the position of the previous hit first; events with other
  // orders, fewer fields or the key missing must still be read right.
  auto c = compileYaml("match: {field: fields.user, equals: root}\n");
  ASSERT_TRUE(c);
  Event a = makeEvent();
  a.setField("app", std::string("sshd"));
  a.setField("user", std::string("root"));
  Event b = makeEvent();
  b.setField("user", std::string("root"));
  b.setField("app", std::string("sshd"));
  Event c_only = makeEvent();
  c_only.setField("usr", std::string("root"));
  Event d = makeEvent();
  d.setField("user", std::string("bob"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(c->matches(a));
    EXPECT_TRUE(c->matches(b));
    EXPECT_FALSE(c->matches(c_only));
    EXPECT_FALSE(c->matches(d));
    EXPECT_TRUE(c->matches(a));
    EXPECT_FALSE(c->matches(makeEvent()));
  }
}

TEST(PipelineConditionTest, Combinators) {
  Event e = withFields();
  EXPECT_TRUE(eval("{all: [{field: kind, equals: log}, {field: fields.user, equals: root}]}", e));
  EXPECT_FALSE(eval("{all: [{field: kind, equals: log}, {field: fields.user, equals: bob}]}", e));
  EXPECT_TRUE(eval("{any: [{field: kind, equals: x}, {field: fields.user, equals: root}]}", e));
  EXPECT_FALSE(eval("{any: [{field: kind, equals: x}, {field: fields.user, equals: bob}]}", e));
  EXPECT_TRUE(eval("{not: {field: kind, equals: x}}", e));
  EXPECT_FALSE(eval("{not: {field: kind, equals: log}}", e));
  EXPECT_TRUE(eval("{all: [{field: kind, equals: log}]}", e));
  EXPECT_FALSE(eval("{any: [{field: kind, equals: x}]}", e));
  EXPECT_TRUE(eval("{not: {not: {field: kind, equals: log}}}", e));
}

TEST(PipelineConditionTest, NestedConditionFromBlockYaml) {
  auto c = compileYaml(R"(
match:
  all:
    - {field: kind, equals: auth}
    - {field: severity, le: warning}
    - any:
        - {field: fields.user, in: [root, admin]}
        - {field: raw, regex: 'Failed password .* from \d+\.\d+\.\d+\.\d+'}
    - not: {field: host, prefix: test-}
)");
  ASSERT_TRUE(c);
  Event e = makeEvent("auth", "web-1", Severity::kWarning);
  EXPECT_TRUE(c->matches(e));
  e.host = "test-1";
  EXPECT_FALSE(c->matches(e));
  e.host = "web-1";
  e.severity = Severity::kInfo;
  EXPECT_FALSE(c->matches(e));
  e.severity = Severity::kError;
  e.raw = "Accepted password for bob";
  EXPECT_FALSE(c->matches(e));
  e.setField("user", std::string("admin"));
  EXPECT_TRUE(c->matches(e));
}

TEST(PipelineConditionTest, ErrorsCarryFileLineAndPath) {
  EXPECT_EQ(conditionErrors("match:\n  field: kind\n  equlas: auth\n"),
            "match.yaml:3: match.equlas: unknown key, did you mean 'equals'?\n"
            "match.yaml:2: match: a condition on field \"kind\" needs an operator: one of equals, "
            "not_equals, prefix, suffix, contains, regex, in, exists, gt, ge, lt, le");
  EXPECT_EQ(conditionErrors("match:\n  field: sevrity\n  equals: warning\n"),
            "match.yaml:2: match.field: unknown field \"sevrity\"; did you mean 'severity'? (an "
            "event field is written fields.sevrity); known names are kind, source, host, "
            "severity, tenant, agent_id, raw, ts, seq, fields.<name>");
  EXPECT_NE(conditionErrors("match: {field: user, equals: root}\n")
                .find("match.yaml:1: match.field: unknown field \"user\"; an event field is "
                      "written fields.user"),
            std::string::npos);
  EXPECT_EQ(conditionErrors("match: {equals: root}\n"),
            "match.yaml:1: match.equals: equals: needs field: naming what to test, e.g. {field: "
            "kind, equals: ...}");
}

TEST(PipelineConditionTest, ValueErrors) {
  EXPECT_EQ(conditionErrors("match:\n  field: fields.status\n  gt: lots\n"),
            "match.yaml:3: match.gt: expected a number, got \"lots\" (gt, ge, lt and le compare "
            "numbers)");
  EXPECT_EQ(conditionErrors("match: {field: severity, le: loud}\n"),
            "match.yaml:1: match.le: expected a severity name (emergency, alert, critical, "
            "error, warning, notice, info, debug) or a number 0..7, got \"loud\"");
  EXPECT_EQ(conditionErrors("match: {field: severity, in: [info, 9]}\n"),
            "match.yaml:1: match.in: expected a severity name (emergency, alert, critical, "
            "error, warning, notice, info, debug) or a number 0..7, got \"9\"");
  const std::string regex = conditionErrors("match:\n  field: raw\n  regex: 'a(b'\n");
  EXPECT_NE(regex.find("match.yaml:3: match.regex: regex \"a(b\" is not a valid PCRE2 pattern: "
                       "at offset 3: missing closing parenthesis"),
            std::string::npos)
      << regex;
  EXPECT_EQ(conditionErrors("match: {field: kind, in: auth}\n"),
            "match.yaml:1: match.in: expected a list of values, e.g. in: [root, admin], got "
            "\"auth\"");
  EXPECT_EQ(conditionErrors("match: {field: kind, in: []}\n"),
            "match.yaml:1: match.in: needs a non-empty list of values, e.g. in: [root, admin]");
  EXPECT_EQ(conditionErrors("match: {field: kind, exists: maybe}\n"),
            "match.yaml:1: match.exists: expected true or false, got \"maybe\"");
  EXPECT_EQ(conditionErrors("match: {field: kind, equals: [a, b]}\n"),
            "match.yaml:1: match.equals: expected a value (a string or a number), got a list");
  EXPECT_EQ(conditionErrors("match:\n  field: kind\n  equals:\n"),
            "match.yaml:3: match.equals: expected a value (a string or a number), got nothing; "
            "to test that a field is absent write exists: false");
  EXPECT_EQ(conditionErrors("match: {field: kind, equals: {a: 1}}\n"),
            "match.yaml:1: match.equals: expected a value (a string or a number), got a map");
}

TEST(PipelineConditionTest, ShapeErrors) {
  EXPECT_EQ(conditionErrors("match: []\n"),
            "match.yaml:1: match: expected a condition: {field: <name>, <op>: <value>} or one of "
            "all: [...], any: [...], not: {...}, got a list");
  EXPECT_EQ(conditionErrors("match: {}\n"),
            "match.yaml:1: match: expected a condition: {field: <name>, <op>: <value>} or one of "
            "all: [...], any: [...], not: {...}");
  EXPECT_EQ(conditionErrors("match: {all: []}\n"),
            "match.yaml:1: match.all: all: needs at least one condition");
  EXPECT_EQ(conditionErrors("match: {any: {field: kind, equals: a}}\n"),
            "match.yaml:1: match.any: any: expected a list of conditions, got a map");
  EXPECT_EQ(conditionErrors("match: {all: [{field: kind, equals: a}], any: [{field: kind, "
                            "equals: b}]}\n"),
            "match.yaml:1: match: use one of all, any or not per map (nest them for more), not 2 "
            "keys");
  EXPECT_EQ(conditionErrors("match: {field: kind, equals: a, all: [{field: kind, equals: b}]}\n"),
            "match.yaml:1: match.all: all: cannot share a map with field:; put the field test "
            "inside the all list");
  EXPECT_EQ(conditionErrors("match: {nott: {field: kind, equals: a}}\n"),
            "match.yaml:1: match.nott: unknown key, did you mean 'not'?");
}

TEST(PipelineConditionTest, EveryMistakeInANestedConditionIsReportedAtOnce) {
  const std::string errors = conditionErrors(R"(match:
  all:
    - {field: kind, equals: auth}
    - {field: fields.n, gt: x}
    - any:
        - {field: hots, equals: a}
        - {field: raw, regex: '('}
    - not: {field: kind}
)");
  EXPECT_NE(errors.find("match.yaml:4: match.all[1].gt: expected a number"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("match.yaml:6: match.all[2].any[0].field: unknown field \"hots\"; did "
                        "you mean 'host'?"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("match.yaml:7: match.all[2].any[1].regex: regex \"(\" is not a valid"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("match.yaml:8: match.all[3].not: a condition on field \"kind\" needs an "
                        "operator"),
            std::string::npos)
      << errors;
}

TEST(PipelineConditionTest, DeepNestingIsRefused) {
  std::string yaml = "match: ";
  for (int i = 0; i < 40; ++i) yaml += "{not: ";
  yaml += "{field: kind, equals: a}";
  for (int i = 0; i < 40; ++i) yaml += "}";
  EXPECT_NE(conditionErrors(yaml + "\n").find("nested more than 32 levels deep"),
            std::string::npos);
}

TEST(PipelineConditionTest, CompilingASpecBuiltByHandReportsItsLocation) {
  ConditionSpec spec;
  spec.field = "fields.n";
  spec.op = MatchOp::kGe;
  spec.values = {"ten"};
  spec.path = "routes[2].match.ge";
  spec.line = 17;
  auto compiled = Condition::compile(spec);
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.error().message,
            "routes[2].match.ge (line 17): expected a number, got \"ten\" (gt, ge, lt and le "
            "compare numbers)");
  spec.values = {"10"};
  auto ok = Condition::compile(spec);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  Event e = makeEvent();
  e.setField("n", int64_t{10});
  EXPECT_TRUE(ok->matches(e));
  EXPECT_STREQ(matchOpName(MatchOp::kNotEquals), "not_equals");
}

}  // namespace
}  // namespace edge::gateway::pipeline::testing
