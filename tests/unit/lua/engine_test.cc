// RuleEngine: the event view, drop/route/alert, prefilters, the sandbox,
// the instruction budget (also on loops the JIT would compile), the memory
// cap, fail-open/closed, lookups, regex, JSON, windows and hot reload.
#include "edge/lua/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "lua_test_support.h"

namespace edge::lua {
namespace {

using ::testing::HasSubstr;
using testing::makeEvent;
using testing::rule;
using testing::TempDir;

class EngineTest : public ::testing::Test {
 protected:
  LuaStageConfig config() {
    LuaStageConfig c;
    c.rules_dir = dir_.path();
    c.reload_interval = std::chrono::milliseconds(0);  // tests reload by hand
    return c;
  }
  std::unique_ptr<RuleEngine> engine(LuaStageConfig c) {
    EngineOptions options;
    options.metrics = &metrics_;
    options.wall_clock = [] { return int64_t{1'800'000'000'000'000'000}; };
    auto made = RuleEngine::create(c, options);
    EXPECT_TRUE(made.ok()) << (made.ok() ? "" : made.error().message);
    return made.ok() ? std::move(*made) : nullptr;
  }
  std::unique_ptr<RuleEngine> engine() { return engine(config()); }
  std::string createError(LuaStageConfig c) {
    auto made = RuleEngine::create(c, {});
    return made.ok() ? std::string("(no error)") : made.error().message;
  }
  std::vector<Event> run(RuleEngine& e, std::vector<Event> events, ProcessResult* result = nullptr) {
    ProcessResult local;
    e.process(events, {"agent-7", "acme"}, result ? *result : local);
    return events;
  }
  static const FieldValue* field(const Event& e, std::string_view key) { return e.findField(key); }
  static std::string str(const Event& e, std::string_view key) {
    const FieldValue* v = e.findField(key);
    return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<missing>";
  }

  TempDir dir_;
  MetricsRegistry metrics_;
};

TEST_F(EngineTest, ViewReadsEveryAttributeWithItsType) {
  dir_.write("view.lua", rule("view", R"(
  process = function(ev)
    ev.fields.seen = table.concat({ev.kind, ev.source, ev.host, ev.severity, ev.tenant,
                                   ev.agent_id, tostring(ev.ts), ev.raw}, "|")
    ev.fields.types = table.concat({type(ev.fields.s), type(ev.fields.i), type(ev.fields.f),
                                    type(ev.fields.b), type(ev.fields.missing)}, ",")
    ev.fields.i_plus = ev.fields.i + 1
    ev.fields.ftype = ev:field_type("f") .. "," .. ev:field_type("i")
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  Event in = makeEvent("line");
  in.fields = {{"s", std::string("x")}, {"i", int64_t{41}}, {"f", 2.5}, {"b", true}};
  auto out = run(*e, {in});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(str(out[0], "seen"), "syslog|/var/log/auth.log|web-1|info|acme|agent-7|1700000000|line");
  EXPECT_EQ(str(out[0], "types"), "string,number,number,boolean,nil");
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "i_plus")), 42);
  EXPECT_EQ(str(out[0], "ftype"), "number,integer");
}

TEST_F(EngineTest, ViewWritesAttributesAndTypedFields) {
  dir_.write("write.lua", rule("write", R"(
  process = function(ev)
    ev.kind = "auth"; ev.host = "h2"; ev.source = "s2"; ev.raw = "r2"
    ev.severity = "warning"; ev.ts = 1700000001.5
    ev.fields.n = 7; ev.fields.x = 0.5; ev.fields.t = true; ev.fields.s = "v"
    ev.fields.f = 3          -- an existing float stays a float
    ev.fields.gone = nil
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  Event in = makeEvent();
  in.fields = {{"f", 1.5}, {"gone", std::string("bye")}};
  auto out = run(*e, {in});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, "auth");
  EXPECT_EQ(out[0].host, "h2");
  EXPECT_EQ(out[0].source, "s2");
  EXPECT_EQ(out[0].raw, "r2");
  EXPECT_EQ(out[0].severity, Severity::kWarning);
  EXPECT_EQ(out[0].ts_ns, 1'700'000'001'500'000'000LL);
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "n")), 7);
  EXPECT_EQ(std::get<double>(*field(out[0], "x")), 0.5);
  EXPECT_EQ(std::get<bool>(*field(out[0], "t")), true);
  EXPECT_EQ(std::get<double>(*field(out[0], "f")), 3.0);
  EXPECT_EQ(field(out[0], "gone"), nullptr);
}

TEST_F(EngineTest, ReadOnlyAndBadWritesAreErrorsWithTheRuleLine) {
  dir_.write("ro.lua", rule("ro", R"(
  process = function(ev)
    ev.tenant = "other"
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  ProcessResult result;
  auto out = run(*e, {makeEvent()}, &result);
  EXPECT_EQ(result.errors, 1u);
  ASSERT_EQ(out.size(), 1u);  // fail open
  EXPECT_EQ(out[0].tenant, "acme");
  EXPECT_THAT(metrics_.renderPrometheus(),
              HasSubstr("edge_gateway_lua_rule_errors_total{stage=\"lua\",rule=\"ro\",reason=\"error\"} 1"));
}

TEST_F(EngineTest, DropRemovesEventsAndKeepsOrder) {
  dir_.write("drop.lua", rule("drop", R"(
  process = function(ev)
    if ev.fields.n % 2 == 0 then ev:drop() end
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  std::vector<Event> in;
  for (int64_t i = 0; i < 10; ++i) {
    in.push_back(makeEvent());
    in.back().fields = {{"n", i}};
  }
  ProcessResult result;
  auto out = run(*e, in, &result);
  EXPECT_EQ(result.dropped, 5u);
  ASSERT_EQ(out.size(), 5u);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(std::get<int64_t>(*field(out[i], "n")), static_cast<int64_t>(2 * i + 1));
  }
  EXPECT_EQ(e->stats("drop").dropped, 5u);
}

TEST_F(EngineTest, RouteSetsTheRouteField) {
  dir_.write("route.lua", rule("route", R"(
  process = function(ev) ev:route("security") end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto out = run(*e, {makeEvent()});
  EXPECT_EQ(str(out[0], "edge_route"), "security");
}

TEST_F(EngineTest, AlertIsAnEventWithRuleMetadataAndTriggerReference) {
  dir_.write("alert.lua", R"(return {
  name = "ssh_root",
  description = "root login attempt",
  severity = "high",
  attack = {"T1110", "T1110.001"},
  references = {"https://attack.mitre.org/techniques/T1110/"},
  author = "tests",
  process = function(ev)
    alert{title = "root login from " .. ev.fields.ip, fields = {src_ip = ev.fields.ip, tries = 3}}
  end,
})");
  auto e = engine();
  ASSERT_TRUE(e);
  Event in = makeEvent();
  in.seq = 99;
  in.fields = {{"ip", std::string("10.0.0.7")}};
  ProcessResult result;
  auto out = run(*e, {in}, &result);
  EXPECT_EQ(result.alerts, 1u);
  ASSERT_EQ(out.size(), 2u);  // the event, then the alert
  const Event& alert = out[1];
  EXPECT_EQ(alert.kind, "alert");
  EXPECT_EQ(alert.source, "lua:ssh_root");
  EXPECT_EQ(alert.host, "web-1");
  EXPECT_EQ(alert.tenant, "acme");
  EXPECT_EQ(alert.severity, Severity::kError);
  EXPECT_EQ(alert.ts_ns, in.ts_ns);
  EXPECT_EQ(alert.raw, "root login from 10.0.0.7");
  EXPECT_NE(alert.seq & (1ull << 63), 0u);
  EXPECT_EQ(str(alert, "rule"), "ssh_root");
  EXPECT_EQ(str(alert, "level"), "high");
  EXPECT_EQ(str(alert, "attack"), "T1110,T1110.001");
  EXPECT_EQ(str(alert, "trigger_agent_id"), "agent-7");
  EXPECT_EQ(std::get<int64_t>(*field(alert, "trigger_seq")), 99);
  EXPECT_EQ(str(alert, "src_ip"), "10.0.0.7");
  EXPECT_EQ(std::get<int64_t>(*field(alert, "tries")), 3);

  // The same batch again gives the same alert id (idempotent sinks).
  auto again = run(*e, {in});
  EXPECT_EQ(again[1].seq, alert.seq);
}

TEST_F(EngineTest, AlertsPastTheBatchCapAreDroppedAndCounted) {
  dir_.write("many.lua", rule("many", R"(
  process = function(ev) for i = 1, 5 do alert{title = "x"} end end)"));
  LuaStageConfig c = config();
  c.max_alerts_per_batch = 3;
  auto e = engine(c);
  ASSERT_TRUE(e);
  ProcessResult result;
  auto out = run(*e, {makeEvent()}, &result);
  EXPECT_EQ(result.alerts, 3u);
  EXPECT_THAT(metrics_.renderPrometheus(),
              HasSubstr("edge_gateway_lua_alerts_dropped_total{stage=\"lua\"} 2"));
}

TEST_F(EngineTest, PrefilterRunsBeforeLua) {
  dir_.write("pf.lua", rule("pf", R"(
  prefilter = {
    kind = {"syslog", "auth"},
    source = {contains = "auth"},
    fields = {program = "sshd", pid = {exists = true}, port = 22, user = {exists = false}},
    raw = {contains = {"Failed", "Invalid"}},
  },
  process = function(ev) ev.fields.ran = true end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto good = makeEvent();
  good.fields = {{"program", std::string("sshd")}, {"pid", int64_t{1}}, {"port", int64_t{22}}};
  auto wrong_program = good;
  wrong_program.fields[0].value = std::string("cron");
  auto has_user = good;
  has_user.fields.push_back({"user", std::string("root")});
  auto wrong_raw = good;
  wrong_raw.raw = "Accepted password";
  auto wrong_kind = good;
  wrong_kind.kind = "metric";
  auto out = run(*e, {good, wrong_program, has_user, wrong_raw, wrong_kind});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_NE(field(out[0], "ran"), nullptr);
  for (size_t i = 1; i < out.size(); ++i) EXPECT_EQ(field(out[i], "ran"), nullptr) << i;
  EXPECT_EQ(e->stats("pf").events, 5u);
  EXPECT_EQ(e->stats("pf").matched, 1u);
  EXPECT_THAT(e->rules()[0].prefilter, HasSubstr("fields.program equals \"sshd\""));
}

TEST_F(EngineTest, BadPrefilterIsACompileError) {
  dir_.write("bad.lua", rule("bad", R"(
  prefilter = {kind = {startswith = "x"}, colour = "red"},
  process = function(ev) end)"));
  const std::string error = createError(config());
  EXPECT_THAT(error, HasSubstr("bad.lua:7: prefilter kind: unknown operator startswith"));
  EXPECT_THAT(error, HasSubstr("prefilter: unknown key colour"));
}

TEST_F(EngineTest, CompileErrorsNameFileAndLine) {
  dir_.write("a_syntax.lua", "return {\n  name = 'x',\n  process = function(ev)\n    if then\n  end,\n}\n");
  dir_.write("b_meta.lua", "return {\n  name = 'has space',\n  severity = 'severe',\n  process = 1,\n}\n");
  dir_.write("c_runtime.lua", "local x = nil\nreturn x.y\n");
  const std::string error = createError(config());
  EXPECT_THAT(error, HasSubstr("a_syntax.lua:4:"));
  EXPECT_THAT(error, HasSubstr("b_meta.lua:2: name: use letters"));
  EXPECT_THAT(error, HasSubstr("b_meta.lua: rule metadata: missing description"));
  EXPECT_THAT(error, HasSubstr("b_meta.lua:3: severity: expected low, medium, high"));
  EXPECT_THAT(error, HasSubstr("b_meta.lua:4: process: expected a function"));
  EXPECT_THAT(error, HasSubstr("c_runtime.lua:2:"));
}

TEST_F(EngineTest, DuplicateRuleNamesAreRefused) {
  dir_.write("one.lua", rule("same", "process = function(ev) end"));
  dir_.write("two.lua", rule("same", "process = function(ev) end"));
  EXPECT_THAT(createError(config()), HasSubstr("two.lua: rule name \"same\" is already used"));
}

TEST_F(EngineTest, BytecodeIsNeverLoaded) {
  dir_.write("compiled.lua", std::string("\033LJ\002") + "junk");
  EXPECT_THAT(createError(config()), HasSubstr("compiled.lua: precompiled Lua bytecode"));
}

TEST_F(EngineTest, SandboxHidesDangerousGlobals) {
  dir_.write("sandbox.lua", rule("sandbox", R"(
  process = function(ev)
    local names = {"io", "require", "debug", "load", "loadstring", "dofile", "loadfile", "jit",
                   "ffi", "package", "module", "getfenv", "setfenv", "collectgarbage", "newproxy",
                   "gcinfo"}
    local present = {}
    for _, name in ipairs(names) do
      if _G[name] ~= nil then present[#present + 1] = name end
    end
    for _, name in ipairs({"execute", "exit", "getenv", "remove", "rename", "tmpname", "setlocale"}) do
      if os[name] ~= nil then present[#present + 1] = "os." .. name end
    end
    if string.dump ~= nil or ("").dump ~= nil then present[#present + 1] = "string.dump" end
    if getmetatable("") ~= false then present[#present + 1] = "string metatable" end
    if getmetatable(ev) ~= "event view" then present[#present + 1] = "view metatable" end
    ev.fields.present = table.concat(present, ",")
    ev.fields.time_ok = type(os.time()) == "number" and type(os.clock()) == "number"
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto out = run(*e, {makeEvent()});
  EXPECT_EQ(str(out[0], "present"), "");
  EXPECT_EQ(std::get<bool>(*field(out[0], "time_ok")), true);
}

TEST_F(EngineTest, RulesCannotReachEachOthersLibraries) {
  dir_.write("a.lua", rule("a", R"(
  process = function(ev) string.find = nil; math.floor = nil end)"));
  dir_.write("b.lua", rule("b", R"(
  process = function(ev) ev.fields.ok = type(string.find) == "function" and type(math.floor) == "function" end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto out = run(*e, {makeEvent()});
  EXPECT_EQ(std::get<bool>(*field(out[0], "ok")), true);
}

TEST_F(EngineTest, AllowLoadGivesSourceLoadingButNeverBytecode) {
  dir_.write("load.lua", rule("load", R"(
  process = function(ev)
    local f = load("return 40 + 2")
    ev.fields.v = f()
    local g, err = load("\027LJ\002junk")
    ev.fields.err = err
  end)"));
  LuaStageConfig c = config();
  EXPECT_THAT(createError(c), HasSubstr("(no error)"));  // compiles: load is only called later
  {
    auto e = engine(c);
    ASSERT_TRUE(e);
    ProcessResult result;
    run(*e, {makeEvent()}, &result);
    EXPECT_EQ(result.errors, 1u);  // load is nil without allow
  }
  c.allow_load = true;
  auto e = engine(c);
  ASSERT_TRUE(e);
  auto out = run(*e, {makeEvent()});
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "v")), 42);
  EXPECT_THAT(str(out[0], "err"), HasSubstr("bytecode"));
}

// The budget must stop loops the JIT would compile (hooks never run inside
// traces): the engine keeps the JIT off, so these end after the budget.
TEST_F(EngineTest, BudgetStopsInfiniteAndHugeLoops) {
  dir_.write("a_while.lua", rule("a_while", "process = function(ev) while true do end end"));
  dir_.write("b_for.lua", rule("b_for", R"(
  process = function(ev) local s = 0 for i = 1, 1e15 do s = s + i end ev.fields.s = s end)"));
  dir_.write("c_pcall.lua", rule("c_pcall", R"(
  process = function(ev)
    while true do pcall(function() while true do end end) end
  end)"));
  dir_.write("d_ok.lua", rule("d_ok", "process = function(ev) ev.fields.after = true end"));
  auto e = engine();
  ASSERT_TRUE(e);
  const auto start = std::chrono::steady_clock::now();
  ProcessResult result;
  auto out = run(*e, {makeEvent(), makeEvent()}, &result);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.errors, 6u);
  ASSERT_EQ(out.size(), 2u);  // fail open: the events go on
  EXPECT_NE(field(out[0], "after"), nullptr);
  EXPECT_EQ(e->stats("a_while").errors, 2u);
  EXPECT_EQ(e->stats("b_for").errors, 2u);
  EXPECT_EQ(e->stats("c_pcall").errors, 2u);
  const std::string text = metrics_.renderPrometheus();
  EXPECT_THAT(text, HasSubstr("rule=\"a_while\",reason=\"budget\"} 2"));
  EXPECT_THAT(text, HasSubstr("rule=\"b_for\",reason=\"budget\"} 2"));
  // Not a timing assertion on speed, a sanity bound: 6 budgets of 200k
  // instructions are milliseconds; an unbounded loop would never return.
  EXPECT_LT(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count(), 60);
}

TEST_F(EngineTest, BudgetAlsoBoundsTheFileItself) {
  dir_.write("loop.lua", "while true do end\nreturn {}\n");
  EXPECT_THAT(createError(config()), HasSubstr("loop.lua:1: instruction budget exceeded"));
}

TEST_F(EngineTest, RepeatedErrorsSkipTheRuleForTheRestOfTheBatch) {
  dir_.write("loop.lua", rule("loop", "process = function(ev) while true do end end"));
  LuaStageConfig c = config();
  c.max_errors_per_batch = 3;
  auto e = engine(c);
  ASSERT_TRUE(e);
  std::vector<Event> in(10, makeEvent());
  ProcessResult result;
  run(*e, in, &result);
  EXPECT_EQ(result.errors, 10u);
  const std::string text = metrics_.renderPrometheus();
  EXPECT_THAT(text, HasSubstr("rule=\"loop\",reason=\"budget\"} 3"));
  EXPECT_THAT(text, HasSubstr("rule=\"loop\",reason=\"skipped\"} 7"));
}

TEST_F(EngineTest, FailClosedDropsTheEventOnError) {
  dir_.write("err.lua", rule("err", R"(
  process = function(ev) if ev.fields.bad then error("boom") end end)"));
  LuaStageConfig c = config();
  c.fail = FailMode::kClosed;
  auto e = engine(c);
  ASSERT_TRUE(e);
  auto bad = makeEvent();
  bad.fields = {{"bad", true}};
  ProcessResult result;
  auto out = run(*e, {makeEvent(), bad, makeEvent()}, &result);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(result.dropped, 1u);
  EXPECT_EQ(result.errors, 1u);
}

TEST_F(EngineTest, MemoryCapFailsTheCallNotTheEngine) {
  dir_.write("hog.lua", rule("hog", R"(
  process = function(ev)
    if ev.fields.hog then
      local t = {}
      for i = 1, 1e8 do t[i] = "x" .. i end
    end
    ev.fields.ok = true
  end)"));
  LuaStageConfig c = config();
  c.memory_bytes = 8u << 20;
  c.budget_instructions = 1000000000;
  auto e = engine(c);
  ASSERT_TRUE(e);
  auto hog = makeEvent();
  hog.fields = {{"hog", true}};
  ProcessResult result;
  auto out = run(*e, {hog, makeEvent()}, &result);
  EXPECT_EQ(result.errors, 1u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(field(out[1], "ok"), nullptr);  // the next event runs normally
  EXPECT_THAT(metrics_.renderPrometheus(), HasSubstr("rule=\"hog\",reason=\"memory\"} 1"));
  EXPECT_LE(e->memoryBytes(), c.memory_bytes);
}

TEST_F(EngineTest, KeptViewsFailOutsideTheirCall) {
  dir_.write("keep.lua", rule("keep", R"(
  process = function(ev)
    if kept then
      local ok, err = pcall(function() return kept.fields.x end)
      -- The pool may rebind the same view to this event; both are safe.
      ev.fields.kept_ok = ok
    end
    kept = ev
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  run(*e, {makeEvent()});
  auto out = run(*e, {makeEvent()});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(field(out[0], "kept_ok"), nullptr);
}

TEST_F(EngineTest, ProcessBatchSeesEveryMatchingEvent) {
  dir_.write("batch.lua", rule("batch", R"(
  prefilter = {fields = {n = {exists = true}}},
  process_batch = function(events)
    for i, ev in ipairs(events) do
      ev.fields.pos = i
      if i == 1 then ev:drop() end
    end
    alert{title = "batch of " .. #events, event = events[2]}
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  std::vector<Event> in;
  for (int64_t i = 0; i < 4; ++i) {
    in.push_back(makeEvent());
    in.back().seq = static_cast<uint64_t>(i);
    if (i != 2) in.back().fields = {{"n", i}};
  }
  auto out = run(*e, in);
  ASSERT_EQ(out.size(), 4u);  // one dropped, one alert
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "pos")), 2);
  EXPECT_EQ(field(out[1], "pos"), nullptr);  // no n: not offered
  EXPECT_EQ(out[3].raw, "batch of 3");
  EXPECT_EQ(std::get<int64_t>(*field(out[3], "trigger_seq")), 1);
}

TEST_F(EngineTest, WindowsCountInEventTime) {
  dir_.write("brute.lua", rule("brute", R"(
  process = function(ev)
    local n = window.add("fail:" .. ev.fields.ip, 60)
    local users = window.distinct("users:" .. ev.fields.ip, ev.fields.user, 60)
    local total = counter.incr("all")
    ev.fields.n = n
    ev.fields.users = users
    ev.fields.total = total
    if n == 3 then alert{title = "brute force from " .. ev.fields.ip} end
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  std::vector<Event> in;
  const int64_t seconds[] = {0, 10, 20, 100, 110, 115};
  const char* users[] = {"a", "b", "a", "c", "c", "d"};
  for (int i = 0; i < 6; ++i) {
    in.push_back(makeEvent("x", 1'700'000'000 + seconds[i]));
    in.back().fields = {{"ip", std::string("10.0.0.7")}, {"user", std::string(users[i])}};
  }
  ProcessResult result;
  auto out = run(*e, in, &result);
  ASSERT_EQ(out.size(), 8u);  // two bursts of three: two alerts
  const int64_t expected_n[] = {1, 2, 3, 1, 2, 3};
  const int64_t expected_users[] = {1, 2, 2, 1, 1, 2};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(std::get<int64_t>(*field(out[i], "n")), expected_n[i]) << i;
    EXPECT_EQ(std::get<int64_t>(*field(out[i], "users")), expected_users[i]) << i;
    EXPECT_EQ(std::get<int64_t>(*field(out[i], "total")), i + 1) << i;
  }
  EXPECT_EQ(result.alerts, 2u);
  EXPECT_EQ(e->stats("brute").state_keys, 3u);
}

TEST_F(EngineTest, LookupsLoadAndReloadOnChange) {
  dir_.write("iocs.txt", "# bad addresses\n10.0.0.7\n\n  192.0.2.1  \n");
  dir_.write("assets.csv", "ip,owner,role\n10.0.0.7,alice,\"db, primary\"\n");
  dir_.write("ioc.lua", rule("ioc", R"(
  process = function(ev)
    local iocs = lookup.set("iocs.txt")
    local assets = lookup.csv("assets.csv", "ip")
    ev.fields.bad = iocs:has(ev.fields.ip)
    ev.fields.size = iocs:size()
    ev.fields.owner = assets:get(ev.fields.ip, "owner") or "none"
    local row = assets:get(ev.fields.ip)
    ev.fields.role = row and row.role or "none"
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto in = makeEvent();
  in.fields = {{"ip", std::string("10.0.0.7")}};
  auto out = run(*e, {in});
  EXPECT_EQ(std::get<bool>(*field(out[0], "bad")), true);
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "size")), 2);
  EXPECT_EQ(str(out[0], "owner"), "alice");
  EXPECT_EQ(str(out[0], "role"), "db, primary");

  dir_.write("iocs.txt", "192.0.2.1\n");
  dir_.write("assets.csv", "ip,owner,role\n10.0.0.7,bob,web\n");
  e->reload();
  out = run(*e, {in});
  EXPECT_EQ(std::get<bool>(*field(out[0], "bad")), false);
  EXPECT_EQ(str(out[0], "owner"), "bob");

  // A broken file keeps the previous contents.
  dir_.write("assets.csv", "ip,owner,role\n10.0.0.7,\"unterminated\n");
  e->reload();
  out = run(*e, {in});
  EXPECT_EQ(str(out[0], "owner"), "bob");
}

TEST_F(EngineTest, MissingLookupFileIsALoadErrorWithLine) {
  dir_.write("ioc.lua", "local iocs = lookup.set('nope.txt')\n" + rule("ioc", "process = function(ev) end"));
  EXPECT_THAT(createError(config()), HasSubstr("ioc.lua:1: lookup file"));
}

TEST_F(EngineTest, RegexThroughPcre2) {
  dir_.write("re.lua", rule("re", R"(
  process = function(ev)
    local user, ip = re.match(ev.raw, [[for (?:invalid user )?(\S+) from (\d+\.\d+\.\d+\.\d+)]])
    ev.fields.user = user
    ev.fields.ip = ip
    ev.fields.hit = re.test(ev.raw, "FAILED", "i")
    local s, e = re.find(ev.raw, "root")
    ev.fields.span = s .. "-" .. e
    local ok, err = pcall(re.test, "x", "(")
    ev.fields.bad = err
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto out = run(*e, {makeEvent()});
  EXPECT_EQ(str(out[0], "user"), "root");
  EXPECT_EQ(str(out[0], "ip"), "10.0.0.7");
  EXPECT_EQ(std::get<bool>(*field(out[0], "hit")), true);
  EXPECT_EQ(str(out[0], "span"), "21-24");
  EXPECT_THAT(str(out[0], "bad"), HasSubstr("missing closing parenthesis"));
}

TEST_F(EngineTest, JsonDecodeOfAField) {
  dir_.write("json.lua", rule("json", R"(
  process = function(ev)
    local doc = json.decode(ev.fields.body)
    ev.fields.user = doc.user.name
    ev.fields.second = doc.tags[2]
    ev.fields.null_is_sentinel = doc.none == json.null
    local bad, err = json.decode("{oops")
    ev.fields.err = err ~= nil and bad == nil
    ev.fields.back = json.encode({a = 1})
  end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto in = makeEvent();
  in.fields = {{"body", std::string(R"({"user":{"name":"eve"},"tags":["a","b"],"none":null})")}};
  auto out = run(*e, {in});
  EXPECT_EQ(str(out[0], "user"), "eve");
  EXPECT_EQ(str(out[0], "second"), "b");
  EXPECT_EQ(std::get<bool>(*field(out[0], "null_is_sentinel")), true);
  EXPECT_EQ(std::get<bool>(*field(out[0], "err")), true);
  EXPECT_EQ(str(out[0], "back"), R"({"a":1})");
}

TEST_F(EngineTest, HotReloadKeepsOldVersionOnBadFileAndStateOfUnchangedRules) {
  const std::string counting = rule("counting", R"(
  process = function(ev) ev.fields.count = window.add("k", 3600) end)");
  dir_.write("a_counting.lua", counting);
  dir_.write("b_tag.lua", rule("tag", R"(process = function(ev) ev.fields.tag = "v1" end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  run(*e, {makeEvent(), makeEvent()});

  // A broken version is refused with file:line; v1 keeps running.
  dir_.write("b_tag.lua", rule("tag", "process = function(ev) ev.fields.tag = end"));
  ReloadReport report = e->reload();
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_THAT(report.errors[0], HasSubstr("b_tag.lua:6:"));
  auto out = run(*e, {makeEvent()});
  EXPECT_EQ(str(out[0], "tag"), "v1");
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "count")), 3);  // state kept

  // A good version replaces it; the unchanged rule keeps its window.
  dir_.write("b_tag.lua", rule("tag", R"(process = function(ev) ev.fields.tag = "v2" end)"));
  dir_.write("a_counting.lua", counting);  // touched, same source
  report = e->reload();
  EXPECT_TRUE(report.errors.empty());
  ASSERT_EQ(report.loaded.size(), 1u);
  EXPECT_EQ(report.loaded[0], "tag");
  out = run(*e, {makeEvent()});
  EXPECT_EQ(str(out[0], "tag"), "v2");
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "count")), 4);

  // New and removed files.
  dir_.write("c_new.lua", rule("new", R"(process = function(ev) ev.fields.new = true end)"));
  dir_.remove("b_tag.lua");
  report = e->reload();
  EXPECT_EQ(report.removed, std::vector<std::string>{"tag"});
  out = run(*e, {makeEvent()});
  EXPECT_EQ(field(out[0], "tag"), nullptr);
  EXPECT_NE(field(out[0], "new"), nullptr);
}

TEST_F(EngineTest, ReloadIsCheckedByProcessAtTheInterval) {
  dir_.write("tag.lua", rule("tag", R"(process = function(ev) ev.fields.tag = "v1" end)"));
  int64_t now = 0;
  LuaStageConfig c = config();
  c.reload_interval = std::chrono::milliseconds(1000);
  EngineOptions options;
  options.monotonic_clock = [&] { return now; };
  auto made = RuleEngine::create(c, options);
  ASSERT_TRUE(made.ok());
  auto& e = **made;
  dir_.write("tag.lua", rule("tag", R"(process = function(ev) ev.fields.tag = "v2" end)"));
  now = 500'000'000;
  EXPECT_EQ(str(run(e, {makeEvent()})[0], "tag"), "v1");  // not yet checked
  now = 1'000'000'000;
  EXPECT_EQ(str(run(e, {makeEvent()})[0], "tag"), "v2");
}

TEST_F(EngineTest, AdoptStateCarriesWindowsToANewEngine) {
  dir_.write("a.lua", rule("a", R"(process = function(ev) ev.fields.count = window.add("k", 3600) end)"));
  dir_.write("b.lua", rule("b", R"(process = function(ev) ev.fields.b = counter.incr("k") end)"));
  auto first = engine();
  ASSERT_TRUE(first);
  run(*first, {makeEvent(), makeEvent()});
  dir_.write("b.lua", rule("b", R"(process = function(ev) ev.fields.b = counter.incr("k") + 100 end)"));
  auto second = engine();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->adoptState(*first), 1u);  // only the unchanged rule
  auto out = run(*second, {makeEvent()});
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "count")), 3);
  EXPECT_EQ(std::get<int64_t>(*field(out[0], "b")), 101);
}

TEST_F(EngineTest, StageMetricsPerRule) {
  dir_.write("m.lua", rule("m", R"(
  prefilter = {fields = {n = {exists = true}}},
  process = function(ev) ev:drop() alert{title = "t"} end)"));
  auto e = engine();
  ASSERT_TRUE(e);
  auto with_n = makeEvent();
  with_n.fields = {{"n", int64_t{1}}};
  run(*e, {with_n, makeEvent(), with_n});
  const std::string text = metrics_.renderPrometheus();
  EXPECT_THAT(text, HasSubstr("edge_gateway_lua_rule_events_total{stage=\"lua\",rule=\"m\"} 3"));
  EXPECT_THAT(text, HasSubstr("edge_gateway_lua_rule_matched_total{stage=\"lua\",rule=\"m\"} 2"));
  EXPECT_THAT(text, HasSubstr("edge_gateway_lua_rule_dropped_total{stage=\"lua\",rule=\"m\"} 2"));
  EXPECT_THAT(text, HasSubstr("edge_gateway_lua_rule_alerts_total{stage=\"lua\",rule=\"m\"} 2"));
  EXPECT_THAT(text, HasSubstr("edge_gateway_lua_rule_run_ns_total{stage=\"lua\",rule=\"m\"}"));
  EXPECT_THAT(text, HasSubstr("edge_gateway_lua_memory_bytes{stage=\"lua\"}"));
}

TEST_F(EngineTest, MissingRulesDirectoryIsAClearError) {
  LuaStageConfig c = config();
  c.rules_dir = dir_.path() + "/nope";
  EXPECT_THAT(createError(c), HasSubstr("nope: cannot open the rules directory"));
}

}  // namespace
}  // namespace edge::lua
