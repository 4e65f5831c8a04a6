// The `lua:` pipeline stage as the gateway runs it: rules compiled when the
// spec is read (a bad rule refuses the configuration with file:line), run by
// each runner with drops, alerts routed like any other event, ev:route()
// matched by a route condition, and rule state carried to the runner a
// reload builds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "edge/gateway/pipeline_runner.h"
#include "edge/gateway/pipeline_spec.h"

namespace edge::gateway::testing {
namespace {

using ::testing::HasSubstr;

class LuaStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "edge-lua-stage-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string yaml(const std::string& extra = "") {
    return "pipeline:\n"
           "  stages:\n"
           "    - lua: {rules: " + dir_ + ", name: detect" + extra + "}\n"
           "  routes:\n"
           "    - name: alerts\n"
           "      match: {field: kind, equals: alert}\n"
           "      sinks: [alerts]\n"
           "    - name: security\n"
           "      match: {field: fields.edge_route, equals: security}\n"
           "      sinks: [alerts]\n"
           "  default_route: {sinks: [main]}\n";
  }
  Result<PipelineSpecPtr> spec(const std::string& text) {
    auto parsed = ConfigDocument::parse(text, "pipeline.yaml");
    if (!parsed) return parsed.error();
    std::shared_ptr<ConfigDocument> doc = std::move(*parsed);
    auto read = readPipelineSpec(*doc, {{"main", "alerts"}, ""}, doc);
    EDGE_TRY(doc->finish());
    return PipelineSpecPtr(std::move(read));
  }
  static Event event(uint64_t seq, std::string user) {
    Event e;
    e.seq = seq;
    e.ts_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(seq) * 1'000'000'000;
    e.kind = "syslog";
    e.host = "web-1";
    e.tenant = "acme";
    e.fields.push_back(Field{"user", std::move(user)});
    return e;
  }
  static SinkBatch batchOf(std::vector<Event> events) {
    SinkBatch batch;
    batch.agent_id = "agent-1";
    batch.batch_id = 3;
    batch.events = std::move(events);
    return batch;
  }

  std::string dir_;
};

constexpr const char* kRule = R"(return {
  name = "root_watch",
  description = "root activity",
  severity = "high",
  attack = {"T1078"},
  process = function(ev)
    local user = ev.fields.user
    if user == "debug" then ev:drop() return end
    if user == "root" then
      local n = window.add("root", 3600)
      alert{title = "root seen " .. n .. " times", fields = {count = n}}
      ev:route("security")
    end
  end,
}
)";

TEST_F(LuaStageTest, BadRuleRefusesTheConfigurationWithFileAndLine) {
  write("bad.lua", "return {\n  name = 'bad',\n  process = function(ev) ev.x = end,\n}\n");
  auto read = spec(yaml());
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.error().message,
              HasSubstr("pipeline.yaml:3: pipeline.stages[0].lua.rules: " + dir_ + "/bad.lua:3:"));
}

TEST_F(LuaStageTest, StageSettingsAreChecked) {
  auto read = spec("pipeline:\n  stages:\n    - lua: {fail: sometimes, budget_instructions: 5}\n"
                   "  default_route: {sinks: [main]}\n");
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.error().message, HasSubstr("rules: missing required key"));
  EXPECT_THAT(read.error().message, HasSubstr("fail"));
  EXPECT_THAT(read.error().message, HasSubstr("budget_instructions"));
}

TEST_F(LuaStageTest, RunsRulesDropsAndRoutesAlerts) {
  write("root.lua", kRule);
  auto read = spec(yaml());
  ASSERT_TRUE(read.ok()) << read.error().message;
  MetricsRegistry metrics;
  RunnerOptions options;
  options.metrics = &metrics;
  auto runner = PipelineRunner::create(*read, {"main", "alerts"}, options);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  EXPECT_THAT((*read)->summary(), HasSubstr("lua detect"));

  PipelineResult result;
  (*runner)->run(batchOf({event(1, "alice"), event(2, "debug"), event(3, "root")}), result);
  EXPECT_EQ(result.stage_dropped, 1u);
  EXPECT_EQ(result.stage_emitted, 1u);
  std::map<std::string, std::vector<const Event*>> by_sink;
  for (const RoutedSinkBatch& b : result.batches) {
    for (const Event& e : b.batch->events) by_sink[(*runner)->sinkNames()[b.sink]].push_back(&e);
  }
  ASSERT_EQ(by_sink["main"].size(), 1u);
  EXPECT_EQ(by_sink["main"][0]->seq, 1u);
  ASSERT_EQ(by_sink["alerts"].size(), 2u);  // the routed root event and its alert
  EXPECT_EQ(by_sink["alerts"][0]->seq, 3u);
  EXPECT_EQ(by_sink["alerts"][1]->kind, "alert");
  EXPECT_EQ(by_sink["alerts"][1]->raw, "root seen 1 times");
  const std::string text = metrics.renderPrometheus();
  EXPECT_THAT(text, HasSubstr("edge_gateway_lua_rule_alerts_total{stage=\"detect\",rule=\"root_watch\"} 1"));
  EXPECT_THAT(text, HasSubstr("edge_gateway_pipeline_events_dropped_total{stage=\"detect\"} 1"));
  EXPECT_THAT(text, HasSubstr("edge_gateway_pipeline_events_emitted_total{stage=\"detect\"} 1"));
}

TEST_F(LuaStageTest, AReloadedRunnerKeepsTheStateOfUnchangedRules) {
  write("root.lua", kRule);
  auto read = spec(yaml());
  ASSERT_TRUE(read.ok()) << read.error().message;
  auto first = PipelineRunner::create(*read, {"main", "alerts"});
  ASSERT_TRUE(first.ok());
  PipelineResult result;
  (*first)->run(batchOf({event(1, "root"), event(2, "root")}), result);

  RunnerOptions options;
  options.previous = first->get();
  auto second = PipelineRunner::create(*read, {"main", "alerts"}, options);
  ASSERT_TRUE(second.ok());
  (*second)->run(batchOf({event(3, "root")}), result);
  bool found = false;
  for (const RoutedSinkBatch& b : result.batches) {
    for (const Event& e : b.batch->events) {
      if (e.kind == "alert") {
        EXPECT_EQ(e.raw, "root seen 3 times");
        found = true;
      }
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace edge::gateway::testing
