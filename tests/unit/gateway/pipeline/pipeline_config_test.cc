// The pipeline config reader: every stage kind and route key read into the
// structs, and every mistake reported at once with file:line and a "did you
// mean" for misspelt keys.
#include "edge/gateway/pipeline/pipeline_config.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace edge::gateway::pipeline::testing {
namespace {

constexpr std::string_view kFull = R"(pipeline:
  missing_value: none
  stages:
    - plugin: {name: filter_fields, options: {remove: [password]}}
    - plugin: filter_dedup
      instance: dedup_auth
      options:
        key: "{host}:{raw}"
        window: 30s
    - rate_limit:
        name: per_agent
        key: agent
        rate: 1000/s
        burst: 2000
        action: throttle
        max_keys: 5000
        idle_timeout: 2m
    - rate_limit: {name: noisy_debug, key: "{tenant}/{host}", rate: 60/m, action: sample, sample: 20,
                   match: {field: severity, equals: debug}}
    - rate_limit: {key: tenant, rate: 10, action: drop}
    - lua: {script: detect.lua, budget: 10000}
  routes:
    - name: auth
      match: {field: kind, equals: auth}
      sinks: [kafka, postgres]
      topic: "edge.{tenant}.{kind}"
      table: "auth_{tenant}"
      continue: true
    - name: everything
      sinks: kafka
  default_route: {sinks: [sqlite], table: events}
)";

TEST(PipelineConfigTest, ReadsEveryStageKindAndRoute) {
  auto loaded = parsePipelineConfig(kFull, "pipeline.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const PipelineConfig& c = loaded->config;
  ASSERT_EQ(c.stages.size(), 6u);

  ASSERT_EQ(c.stages[0].kind(), StageKind::kPlugin);
  const auto& fields = std::get<PluginStage>(c.stages[0].stage);
  EXPECT_EQ(fields.plugin, "filter_fields");
  EXPECT_EQ(fields.instance, "filter_fields");
  ASSERT_TRUE(fields.options.isMap());
  EXPECT_EQ(fields.options.getStringList("remove", {}), std::vector<std::string>{"password"});
  EXPECT_EQ(fields.options.path(), "pipeline.stages[0].plugin.options");
  EXPECT_EQ(c.stages[0].line, 4);
  EXPECT_EQ(c.stages[0].path, "pipeline.stages[0]");

  const auto& dedup = std::get<PluginStage>(c.stages[1].stage);
  EXPECT_EQ(dedup.plugin, "filter_dedup");
  EXPECT_EQ(dedup.instance, "dedup_auth");
  EXPECT_EQ(dedup.options.getString("key", ""), "{host}:{raw}");
  EXPECT_EQ(dedup.options.line(), 8);

  ASSERT_EQ(c.stages[2].kind(), StageKind::kRateLimit);
  const RateLimitConfig& per_agent = std::get<RateLimitStage>(c.stages[2].stage).config;
  EXPECT_EQ(per_agent.name, "per_agent");
  EXPECT_EQ(per_agent.key, "{agent_id}");
  EXPECT_DOUBLE_EQ(per_agent.rate_per_second, 1000);
  EXPECT_EQ(per_agent.burst, 2000u);
  EXPECT_EQ(per_agent.action, RateLimitAction::kThrottle);
  EXPECT_EQ(per_agent.max_keys, 5000u);
  EXPECT_EQ(per_agent.idle_timeout, std::chrono::minutes(2));
  EXPECT_FALSE(per_agent.match);
  EXPECT_EQ(per_agent.missing_value, "none");

  const RateLimitConfig& noisy = std::get<RateLimitStage>(c.stages[3].stage).config;
  EXPECT_EQ(noisy.key, "{tenant}/{host}");
  EXPECT_DOUBLE_EQ(noisy.rate_per_second, 1);
  EXPECT_EQ(noisy.burst, 0u);  // default: one second's worth
  EXPECT_EQ(noisy.action, RateLimitAction::kSample);
  EXPECT_EQ(noisy.sample_one_in, 20u);
  ASSERT_TRUE(noisy.match);
  EXPECT_EQ(noisy.match->field, "severity");

  const RateLimitConfig& unnamed = std::get<RateLimitStage>(c.stages[4].stage).config;
  EXPECT_EQ(unnamed.name, "rate_limit_4");
  EXPECT_EQ(unnamed.key, "{tenant}");
  EXPECT_EQ(unnamed.action, RateLimitAction::kDrop);
  EXPECT_EQ(unnamed.max_keys, 100'000u);
  EXPECT_EQ(unnamed.idle_timeout, std::chrono::minutes(5));

  ASSERT_EQ(c.stages[5].kind(), StageKind::kLua);
  const auto& lua = std::get<LuaStage>(c.stages[5].stage);
  EXPECT_EQ(lua.config.getString("script", ""), "detect.lua");
  EXPECT_EQ(lua.config.getInt("budget", 0, 0, 1'000'000), 10000);

  ASSERT_EQ(c.routing.routes.size(), 2u);
  const RouteConfig& auth = c.routing.routes[0];
  EXPECT_EQ(auth.name, "auth");
  ASSERT_TRUE(auth.match);
  EXPECT_EQ(auth.sinks, (std::vector<std::string>{"kafka", "postgres"}));
  EXPECT_EQ(auth.topic, "edge.{tenant}.{kind}");
  EXPECT_EQ(auth.table, "auth_{tenant}");
  EXPECT_TRUE(auth.continue_matching);
  EXPECT_EQ(auth.line, 23);
  const RouteConfig& everything = c.routing.routes[1];
  EXPECT_FALSE(everything.match);
  EXPECT_EQ(everything.sinks, std::vector<std::string>{"kafka"});
  EXPECT_FALSE(everything.continue_matching);
  ASSERT_TRUE(c.routing.default_route);
  EXPECT_EQ(c.routing.default_route->name, "default");
  EXPECT_EQ(c.routing.default_route->table, "events");
  EXPECT_EQ(c.routing.missing_value, "none");
  EXPECT_EQ(c.routing.sinkNames(), (std::vector<std::string>{"kafka", "postgres", "sqlite"}));
}

TEST(PipelineConfigTest, WhatWasReadBuildsWorkingRoutersAndLimiters) {
  auto loaded = parsePipelineConfig(kFull, "pipeline.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  auto router = Router::create(loaded->config.routing);
  ASSERT_TRUE(router.ok()) << router.error().message;
  std::vector<Event> events{makeEvent("auth"), makeEvent("log")};
  RoutedBatch routed;
  (*router)->route(events, {}, routed);
  const SinkRouting* kafka = routed.find("kafka");
  ASSERT_EQ(kafka->groups().size(), 2u);
  EXPECT_EQ(kafka->groups()[0].topic, "edge.acme.auth");
  EXPECT_EQ(kafka->groups()[0].events, std::vector<uint32_t>{0});
  // Route auth continues, so event 0 also reaches route everything (no topic).
  EXPECT_EQ(kafka->groups()[1].topic, "");
  EXPECT_EQ(kafka->groups()[1].events, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(routed.find("postgres")->groups()[0].table, "auth_acme");
  for (const StageConfig& stage : loaded->config.stages) {
    if (stage.kind() != StageKind::kRateLimit) continue;
    auto limiter = RateLimiter::create(std::get<RateLimitStage>(stage.stage).config);
    EXPECT_TRUE(limiter.ok()) << limiter.error().message;
  }
}

TEST(PipelineConfigTest, MissingSectionIsAnEmptyPipeline) {
  auto loaded = parsePipelineConfig("{}\n", "empty.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_TRUE(loaded->config.stages.empty());
  EXPECT_TRUE(loaded->config.routing.empty());
}

std::string errorsOf(std::string_view yaml, const PipelineReadOptions& options = {}) {
  auto loaded = parsePipelineConfig(yaml, "bad.yaml", options);
  EXPECT_FALSE(loaded.ok()) << "expected errors in:\n" << yaml;
  return loaded.ok() ? std::string() : loaded.error().message;
}

TEST(PipelineConfigTest, EveryMistakeIsReportedAtOnceWithItsLine) {
  const std::string errors = errorsOf(R"(pipeline:
  stages:
    - plugin: {name: filter_fields, optoins: {}}
    - rate_limit: {name: a, rate: 1000/s, brust: 10, action: drop}
    - rate_limit: {name: a, rate: quick, action: discard}
    - rate_limit: {name: b, rate: 5/s}
    - plugin: filter_fields
    - lua: {}
      plugin: x
    - nothing: 1
  routes:
    - name: auth
      match: {field: knd, equals: auth}
      sinkz: [kafka]
    - name: auth
      sinks: [kafka, kafka]
      topic: "edge.{tenant"
    - name: default
      sinks: [x]
  default_route: {sinks: [s], match: {field: kind, equals: x}}
  stagse: []
)");
  const std::vector<std::string> expected = {
      "bad.yaml:21: pipeline.stagse: unknown key, did you mean 'stages'?",
      "bad.yaml:3: pipeline.stages[0].plugin.optoins: unknown key, did you mean 'options'?",
      "bad.yaml:4: pipeline.stages[1].rate_limit.brust: unknown key, did you mean 'burst'?",
      "bad.yaml:5: pipeline.stages[2].rate_limit.rate: expected a rate such as 1000/s, 60/m or "
      "5/h, got \"quick\"",
      "bad.yaml:5: pipeline.stages[2].rate_limit.action: expected one of drop, sample, throttle, "
      "got \"discard\"",
      "bad.yaml:5: pipeline.stages[2]: rate_limit name \"a\" is used by an earlier stage",
      "bad.yaml:6: pipeline.stages[3].rate_limit.action: missing required key: drop, sample "
      "(keep 1 in N) or throttle (withhold credit, nothing lost)",
      "bad.yaml:7: pipeline.stages[4]: instance name \"filter_fields\" is used by an earlier "
      "stage; give this one its own instance:",
      "bad.yaml:8: pipeline.stages[5]: a stage has exactly one of plugin, rate_limit or lua, not "
      "lua, plugin; make them separate stages",
      "bad.yaml:10: pipeline.stages[6].nothing: unknown key; known keys are plugin, options, "
      "instance, rate_limit, lua",
      "bad.yaml:10: pipeline.stages[6]: a stage needs one of plugin, rate_limit or lua",
      "bad.yaml:14: pipeline.routes[0].sinkz: unknown key, did you mean 'sinks'?",
      "bad.yaml:13: pipeline.routes[0].match.field: unknown field \"knd\"; did you mean 'kind'?",
      "bad.yaml:12: pipeline.routes[0].sinks: missing required key",
      "bad.yaml:16: pipeline.routes[1].sinks[1]: sink \"kafka\" is listed twice",
      "bad.yaml:17: pipeline.routes[1].topic: template \"edge.{tenant\": unclosed '{'",
      "bad.yaml:15: pipeline.routes[1].name: another route is already named \"auth\"",
      "bad.yaml:18: pipeline.routes[2].name: \"default\" is reserved for default_route",
      "bad.yaml:20: pipeline.default_route.match: unknown key; known keys are sinks, topic, table",
  };
  for (const std::string& e : expected) {
    EXPECT_NE(errors.find(e), std::string::npos) << "missing: " << e << "\nin:\n" << errors;
  }
  // One line per error, nothing else.
  size_t lines = std::count(errors.begin(), errors.end(), '\n') + 1;
  EXPECT_EQ(lines, expected.size()) << errors;
}

TEST(PipelineConfigTest, RateLimitValueErrors) {
  std::string errors = errorsOf(R"(pipeline:
  stages:
    - rate_limit: {rate: 0/s, action: drop}
    - rate_limit: {rate: 1/d, burst: 1000000000000, action: sample, sample: 0}
    - rate_limit: {rate: 5/s, action: drop, sample: 3, key: "{tenant", idle_timeout: 0}
    - rate_limit: {action: drop, max_keys: 0, match: {field: kind}}
    - rate_limit: [1]
)");
  const std::vector<std::string> expected = {
      "bad.yaml:3: pipeline.stages[0].rate_limit.rate: a rate must be above zero, got \"0/s\"",
      "bad.yaml:4: pipeline.stages[1].rate_limit.burst: burst 1000000000000 at this rate spans "
      "more than 30 years; lower burst",
      "bad.yaml:4: pipeline.stages[1].rate_limit.sample: expected an integer from 1 to 1000000",
      "bad.yaml:5: pipeline.stages[2].rate_limit.key: expected agent, tenant or a template such "
      "as \"{tenant}/{host}\": template \"{tenant\": unclosed '{'",
      "bad.yaml:5: pipeline.stages[2].rate_limit.sample: only applies to action: sample",
      "bad.yaml:5: pipeline.stages[2].rate_limit.idle_timeout: must be above zero",
      "bad.yaml:6: pipeline.stages[3].rate_limit.rate: missing required key: a rate such as "
      "1000/s, 60/m or 5/h",
      "bad.yaml:6: pipeline.stages[3].rate_limit.max_keys: expected an integer from 1 to",
      "bad.yaml:6: pipeline.stages[3].rate_limit.match: a condition on field \"kind\" needs an "
      "operator",
      "bad.yaml:7: pipeline.stages[4].rate_limit: expected a map such as {key: agent, rate: "
      "1000/s, action: throttle}",
  };
  for (const std::string& e : expected) {
    EXPECT_NE(errors.find(e), std::string::npos) << "missing: " << e << "\nin:\n" << errors;
  }
}

TEST(PipelineConfigTest, RouteAndSectionShapeErrors) {
  std::string errors = errorsOf(R"(pipeline:
  missing_value: ""
  routes:
    - name: a
      sinks: []
      table: "ev.{kind}"
      topic: ""
    - [x]
    - name: b
      sinks: [{x: 1}]
      continue: maybe
  default_route: [sqlite]
)");
  const std::vector<std::string> expected = {
      "bad.yaml:2: pipeline.missing_value: must not be empty",
      "bad.yaml:5: pipeline.routes[0].sinks: a route needs at least one sink",
      "bad.yaml:6: pipeline.routes[0].table: template \"ev.{kind}\": '.' is not allowed in a "
      "table name",
      "bad.yaml:7: pipeline.routes[0].topic: empty template; leave the key out instead",
      "bad.yaml:8: pipeline.routes[1]: expected a route: a map with name, match, sinks, ...",
      "bad.yaml:10: pipeline.routes[2].sinks[0]: expected a sink name",
      "bad.yaml:11: pipeline.routes[2].continue: expected true or false, got \"maybe\"",
      "bad.yaml:12: pipeline.default_route: expected a map such as {sinks: [sqlite]}",
  };
  for (const std::string& e : expected) {
    EXPECT_NE(errors.find(e), std::string::npos) << "missing: " << e << "\nin:\n" << errors;
  }
  EXPECT_EQ(errorsOf("pipeline:\n  stages:\n    - plugin: {name: x}\n      options: {a: 1}\n"),
            "bad.yaml:4: pipeline.stages[0].options: options goes inside plugin: {name: ..., "
            "options: ...}, or use the short form plugin: <name>");
  EXPECT_EQ(errorsOf("pipeline:\n  routes:\n    - {name: a, sinks: [s], topic: {x: 1}}\n"),
            "bad.yaml:3: pipeline.routes[0].topic: expected a string, got a map");
  EXPECT_EQ(errorsOf("pipeline: [a]\n"),
            "bad.yaml:1: pipeline: expected a map with stages, routes and default_route");
  EXPECT_EQ(errorsOf("pipeline:\n  stages: {plugin: x}\n"),
            "bad.yaml:2: pipeline.stages: expected a list, got a map");
  EXPECT_EQ(errorsOf("pipeline: {}\npipline: {}\n"),
            "bad.yaml:2: pipline: unknown key, did you mean 'pipeline'?");
}

TEST(PipelineConfigTest, UnknownSinksAreErrorsWhenTheCallerKnowsTheSinks) {
  PipelineReadOptions options;
  options.known_sinks = {"kafka", "sqlite"};
  EXPECT_EQ(errorsOf("pipeline:\n  routes:\n    - {name: a, sinks: [kafka, kafak]}\n", options),
            "bad.yaml:3: pipeline.routes[0].sinks[1]: unknown sink \"kafak\"; configured sinks "
            "are kafka, sqlite");
  auto ok =
      parsePipelineConfig("pipeline:\n  default_route: {sinks: sqlite}\n", "ok.yaml", options);
  EXPECT_TRUE(ok.ok()) << ok.error().message;
}

TEST(PipelineConfigTest, ReadingIntoACallersDocumentLeavesOtherSectionsToTheCaller) {
  // How the gateway embeds it: its own root keys, then pipeline:.
  auto doc = ConfigDocument::parse(
      "gateway: {listen: 127.0.0.1:0}\npipeline:\n  routes:\n    - {name: a, sinks: [s], "
      "match: {field: kind, gt: x}}\n",
      "gateway.yaml");
  ASSERT_TRUE(doc.ok());
  PipelineConfig config = readPipelineConfig((*doc)->root()["pipeline"]);
  auto finished = (*doc)->finish();
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(finished.error().message,
            "gateway.yaml:4: pipeline.routes[0].match.gt: expected a number, got \"x\" (gt, ge, "
            "lt and le compare numbers)");
}

}  // namespace
}  // namespace edge::gateway::pipeline::testing
