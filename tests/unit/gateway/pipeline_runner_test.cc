// PipelineSpec and PipelineRunner: reading and validating `pipeline:` with
// gateway.plugin_dir (errors with file:line, together with the rest of the
// gateway configuration), and one worker's runner: stages in order (rate
// limits with an injected clock, real first-party plugins), routing into
// per-sink batches, fan-out copies, counters.
#include "edge/gateway/pipeline_runner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "edge/gateway/config.h"
#include "edge/gateway/pipeline_spec.h"

namespace edge::gateway::testing {
namespace {

const std::string kPluginDir = EDGE_PLUGIN_DIR;

Result<PipelineSpecPtr> specOf(std::string_view yaml, std::vector<std::string> sinks,
                               std::string plugin_dir = "") {
  auto parsed = ConfigDocument::parse(yaml, "pipeline.yaml");
  if (!parsed) return parsed.error();
  std::shared_ptr<ConfigDocument> doc = std::move(*parsed);
  auto spec = readPipelineSpec(*doc, {std::move(sinks), std::move(plugin_dir)}, doc);
  EDGE_TRY(doc->finish());
  return PipelineSpecPtr(std::move(spec));
}

std::string specErrors(std::string_view yaml, std::vector<std::string> sinks,
                       std::string plugin_dir = "") {
  auto spec = specOf(yaml, std::move(sinks), std::move(plugin_dir));
  EXPECT_FALSE(spec.ok()) << "expected errors in:\n" << yaml;
  return spec.ok() ? std::string() : spec.error().message;
}

Event event(uint64_t seq, std::string kind, std::string raw) {
  Event e;
  e.seq = seq;
  e.ts_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(seq);
  e.kind = std::move(kind);
  e.source = "/var/log/app.log";
  e.host = "web-1";
  e.tenant = "acme";
  e.severity = Severity::kInfo;
  e.raw = std::move(raw);
  e.fields.push_back(Field{"user", std::string("alice")});
  e.fields.push_back(Field{"password", std::string("hunter2")});
  return e;
}

SinkBatch batchOf(std::vector<Event> events, uint64_t batch_id = 7) {
  SinkBatch batch;
  batch.agent_id = "agent-1";
  batch.batch_id = batch_id;
  batch.received_at_ns = 123;
  batch.events = std::move(events);
  return batch;
}

std::vector<uint64_t> seqs(const SinkBatch& batch) {
  std::vector<uint64_t> out;
  for (const Event& e : batch.events) out.push_back(e.seq);
  return out;
}

const Field* findField(const Event& e, std::string_view key) {
  for (const Field& f : e.fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

// The batches a run produced, by "sink|topic|table".
std::map<std::string, const SinkBatch*> bySink(const PipelineRunner& runner,
                                               const PipelineResult& result) {
  std::map<std::string, const SinkBatch*> out;
  for (const RoutedSinkBatch& b : result.batches) {
    const std::string key =
        runner.sinkNames()[b.sink] + "|" + b.batch->topic + "|" + b.batch->table;
    EXPECT_EQ(out.count(key), 0u) << key;
    out[key] = b.batch.get();
  }
  return out;
}

RunnerOptions withMetrics(MetricsRegistry& registry) {
  RunnerOptions options;
  options.metrics = &registry;
  return options;
}

uint64_t counter(MetricsRegistry& registry, const std::string& name,
                 const MetricLabels& labels = {}) {
  return registry.counter(name, "", labels).value();
}

// ----------------------------------------------------------------- spec --

TEST(PipelineSpecTest, NoPipelineSectionSendsEverythingToTheOneSink) {
  auto spec = specOf("gateway: {}\n", {"sqlite"});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_FALSE((*spec)->hasRouting());
  auto runner = PipelineRunner::create(*spec, {"sqlite"});
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  EXPECT_EQ((*runner)->sinkNames(), std::vector<std::string>{"sqlite"});

  PipelineResult result;
  (*runner)->run(batchOf({event(1, "log", "a"), event(2, "log", "b")}), result);
  ASSERT_EQ(result.batches.size(), 1u);
  EXPECT_EQ(seqs(*result.batches[0].batch), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(result.batches[0].batch->agent_id, "agent-1");
  EXPECT_EQ(result.batches[0].batch->batch_id, 7u);
  EXPECT_EQ(result.batches[0].batch->received_at_ns, 123);
  EXPECT_EQ(result.routed, 2u);
  EXPECT_EQ(result.unrouted, 0u);
}

TEST(PipelineSpecTest, TwoSinksWithoutRoutingIsAnError) {
  const std::string errors = specErrors("gateway: {}\n", {"sqlite", "discard"});
  EXPECT_NE(errors.find("sinks sqlite, discard are all enabled but nothing says which events go"),
            std::string::npos)
      << errors;
  // A runner built by hand from an empty spec refuses the same.
  auto runner = PipelineRunner::create(std::make_shared<PipelineSpec>(), {"a", "b"});
  ASSERT_FALSE(runner.ok());
  EXPECT_NE(runner.error().message.find("does not route between them"), std::string::npos);
}

TEST(PipelineSpecTest, MistakesAreReportedWithFileLineAndKey) {
  const std::string errors = specErrors(R"(pipeline:
  stages:
    - plugin: filter_fields
    - lua: {script: detect.lua}
  routes:
    - name: errors
      match: {field: raw, contains: ERROR}
      sinks: [kafka]
  default_route: {sinks: [discard]}
)",
                                        {"sqlite", "discard"});
  EXPECT_NE(errors.find("pipeline.yaml:3: pipeline.stages[0].plugin: plugin stages need "
                        "gateway.plugin_dir, the directory holding filter_fields.so"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("pipeline.yaml:4: pipeline.stages[1].lua.rules: missing required key"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("pipeline.yaml:8: pipeline.routes[0].sinks[0]: unknown sink \"kafka\"; "
                        "configured sinks are sqlite, discard"),
            std::string::npos)
      << errors;
}

TEST(PipelineSpecTest, PluginStagesAreValidatedAgainstTheLoadedPlugins) {
  const std::string errors = specErrors(R"(pipeline:
  stages:
    - plugin: filter_nope
    - plugin: filter_fields
      options:
        renam: [a=b]
    - plugin: {name: filter_dedup, options: {window: 5s}}
    - plugin: filter_fields
      instance: hashing
      options: {hash: [user]}
)",
                                        {"sqlite"}, kPluginDir);
  EXPECT_NE(errors.find("pipeline.yaml:3: pipeline.stages[0].plugin: no plugin \"filter_nope\" in "
                        "gateway.plugin_dir " +
                        kPluginDir),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("filter_fields"), std::string::npos) << errors;  // listed as available
  EXPECT_NE(errors.find("pipeline.yaml:6: pipeline.stages[1].options.renam: plugin filter_fields "
                        "has no option 'renam'; did you mean 'rename'?"),
            std::string::npos)
      << errors;
  // A required option missing: the plugin's table says so.
  EXPECT_NE(errors.find("pipeline.yaml:7:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("key"), std::string::npos) << errors;
  // Types were fine, but the plugin's create hook refused (hash needs a key):
  // found at load, not when a worker starts.
  EXPECT_NE(errors.find("pipeline.yaml:8: pipeline.stages[3].plugin: plugin filter_fields "
                        "(instance hashing) refused its options:"),
            std::string::npos)
      << errors;
}

TEST(PipelineSpecTest, ARefusedFileInThePluginDirFailsTheLoad) {
  const std::string errors = specErrors("pipeline:\n  stages:\n    - plugin: filter_fields\n",
                                        {"sqlite"}, "/nonexistent/plugins");
  EXPECT_NE(errors.find("gateway.plugin_dir"), std::string::npos) << errors;
  EXPECT_NE(errors.find("/nonexistent/plugins"), std::string::npos) << errors;
}

TEST(PipelineSpecTest, GatewayConfigReportsPipelineErrorsWithTheOthers) {
  auto parsed = parseGatewayConfig(R"(gateway:
  listen: 127.0.0.1:0
  tls: {enabled: false, allow_plaintext: true}
  max_connections: 0
sinks:
  sqlite: {enabled: true}
  discard: {enabled: true}
pipeline:
  routes:
    - name: x
      sinks: [postgres]
  default_route: {sinks: [discard]}
)",
                                   "gw.yaml");
  ASSERT_FALSE(parsed.ok());
  const std::string& errors = parsed.error().message;
  EXPECT_NE(errors.find("gw.yaml:4: gateway.max_connections:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("gw.yaml:11: pipeline.routes[0].sinks[0]: unknown sink \"postgres\""),
            std::string::npos)
      << errors;
}

TEST(PipelineSpecTest, SinkEnablingRules) {
  auto only_discard = parseGatewayConfig(
      "gateway: {listen: 127.0.0.1:0, tls: {enabled: false, allow_plaintext: true}}\n"
      "sinks: {discard: {enabled: true}}\n",
      "a.yaml");
  ASSERT_TRUE(only_discard.ok()) << only_discard.error().message;
  EXPECT_EQ(only_discard->enabledSinks(), std::vector<std::string>{"discard"});

  auto both = parseGatewayConfig(
      "gateway: {listen: 127.0.0.1:0, tls: {enabled: false, allow_plaintext: true}}\n"
      "sinks: {sqlite: {enabled: true}, discard: {enabled: true}}\n"
      "pipeline: {default_route: {sinks: [sqlite, discard]}}\n",
      "b.yaml");
  ASSERT_TRUE(both.ok()) << both.error().message;
  EXPECT_EQ(both->enabledSinks(), (std::vector<std::string>{"sqlite", "discard"}));
  EXPECT_TRUE(both->pipeline->hasRouting());

  const auto none = parseGatewayConfig(
      "gateway: {listen: 127.0.0.1:0, tls: {enabled: false, allow_plaintext: true}}\n"
      "sinks: {sqlite: {enabled: false}}\n",
      "c.yaml");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("c.yaml:2: sinks.sqlite.enabled: no sink is enabled"),
            std::string::npos)
      << none.error().message;
}

// --------------------------------------------------------------- runner --

TEST(PipelineRunnerTest, RoutesSplitABatchBetweenTwoSinks) {
  auto spec = specOf(R"(pipeline:
  routes:
    - name: errors
      match: {field: raw, contains: ERROR}
      sinks: [sqlite]
      table: "errors_{tenant}"
  default_route: {sinks: [discard]}
)",
                     {"sqlite", "discard"});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  MetricsRegistry registry;
  auto runner = PipelineRunner::create(*spec, {"discard", "sqlite"}, withMetrics(registry));
  ASSERT_TRUE(runner.ok()) << runner.error().message;

  PipelineResult result;
  (*runner)->run(batchOf({event(1, "log", "ERROR disk"), event(2, "log", "INFO ok"),
                          event(3, "log", "ERROR net"), event(4, "log", "DEBUG x")}),
                 result);
  auto out = bySink(**runner, result);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out.count("sqlite||errors_acme"));
  ASSERT_TRUE(out.count("discard||"));
  EXPECT_EQ(seqs(*out["sqlite||errors_acme"]), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(seqs(*out["discard||"]), (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(out["sqlite||errors_acme"]->events[0].raw, "ERROR disk");  // moved, intact
  EXPECT_EQ(result.events_in, 4u);
  EXPECT_EQ(result.routed, 4u);
  EXPECT_EQ(result.unmatched, 2u);
  EXPECT_EQ(result.unrouted, 0u);
  EXPECT_EQ(counter(registry, "edge_gateway_route_events_total", {{"route", "errors"}}), 2u);
  EXPECT_EQ(counter(registry, "edge_gateway_route_events_total", {{"route", "default"}}), 2u);
}

TEST(PipelineRunnerTest, FanOutCopiesAndUnmatchedWithoutDefaultAreCounted) {
  auto spec = specOf(R"(pipeline:
  routes:
    - name: all_errors
      match: {field: raw, prefix: ERROR}
      sinks: [sqlite, discard]
      continue: true
    - name: disk
      match: {field: raw, contains: disk}
      sinks: [discard]
      topic: "edge.{kind}"
)",
                     {"sqlite", "discard"});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  MetricsRegistry registry;
  auto runner = PipelineRunner::create(*spec, {"sqlite", "discard"}, withMetrics(registry));
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  PipelineResult result;
  (*runner)->run(batchOf({event(1, "log", "ERROR disk"), event(2, "log", "INFO"),
                          event(3, "audit", "ERROR net")}),
                 result);
  auto out = bySink(**runner, result);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(seqs(*out["sqlite||"]), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(seqs(*out["discard||"]), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(seqs(*out["discard|edge.log|"]), (std::vector<uint64_t>{1}));
  // Every copy is whole, whichever got the moved original.
  for (const auto& [key, batch] : out) {
    for (const Event& e : batch->events) {
      EXPECT_EQ(e.raw.substr(0, 5), "ERROR") << key;
      EXPECT_EQ(e.fields.size(), 2u) << key;
    }
  }
  EXPECT_EQ(result.routed, 2u);  // distinct events
  EXPECT_EQ(result.unmatched, 1u);
  EXPECT_EQ(result.unrouted, 1u);
  EXPECT_EQ(counter(registry, "edge_gateway_route_dropped_total"), 1u);
}

TEST(PipelineRunnerTest, RateLimitDropAndSampleRemoveEventsInOrder) {
  auto spec = specOf(R"(pipeline:
  stages:
    - rate_limit: {name: debug_cap, key: agent, rate: 1/h, burst: 2, action: drop,
                   match: {field: raw, contains: DEBUG}}
    - rate_limit: {name: sampler, key: "{kind}", rate: 1/h, burst: 1, action: sample, sample: 2}
)",
                     {"sqlite"});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  MetricsRegistry registry;
  int64_t now = 1'000'000'000;
  RunnerOptions options;
  options.metrics = &registry;
  options.clock = [&now] { return now; };
  auto runner = PipelineRunner::create(*spec, {"sqlite"}, options);
  ASSERT_TRUE(runner.ok()) << runner.error().message;

  std::vector<Event> events;
  for (uint64_t i = 1; i <= 5; ++i)
    events.push_back(event(i, "debug", "DEBUG " + std::to_string(i)));
  for (uint64_t i = 6; i <= 10; ++i)
    events.push_back(event(i, "info", "INFO " + std::to_string(i)));
  PipelineResult result;
  (*runner)->run(batchOf(std::move(events)), result);
  // debug_cap: DEBUG 1, 2 pass (burst 2), 3-5 dropped. sampler keyed by kind,
  // burst 1: debug 1 passes, debug 2 is the first over the limit (kept, 1 in
  // 2); info 6 passes, then 7 kept, 8 out, 9 kept, 10 out.
  ASSERT_EQ(result.batches.size(), 1u);
  EXPECT_EQ(seqs(*result.batches[0].batch), (std::vector<uint64_t>{1, 2, 6, 7, 9}));
  EXPECT_EQ(result.stage_dropped, 5u);
  EXPECT_EQ(result.throttle_wait_ns, 0);
  EXPECT_EQ(
      counter(registry, "edge_gateway_pipeline_events_dropped_total", {{"stage", "debug_cap"}}),
      3u);
  EXPECT_EQ(counter(registry, "edge_gateway_pipeline_events_dropped_total", {{"stage", "sampler"}}),
            2u);
  EXPECT_EQ(counter(registry, "edge_gateway_ratelimit_events_total",
                    {{"limiter", "debug_cap"}, {"decision", "dropped"}}),
            3u);
}

TEST(PipelineRunnerTest, ThrottleKeepsEventsAndSaysHowLongToWithholdCredit) {
  auto spec = specOf(R"(pipeline:
  stages:
    - rate_limit: {name: per_agent, key: agent, rate: 10/s, burst: 2, action: throttle}
)",
                     {"sqlite"});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  int64_t now = 5'000'000'000;
  RunnerOptions options;
  options.clock = [&now] { return now; };
  auto runner = PipelineRunner::create(*spec, {"sqlite"}, options);
  ASSERT_TRUE(runner.ok()) << runner.error().message;

  std::vector<Event> events;
  for (uint64_t i = 1; i <= 5; ++i) events.push_back(event(i, "log", "x"));
  PipelineResult result;
  (*runner)->run(batchOf(std::move(events)), result);
  ASSERT_EQ(result.batches.size(), 1u);
  EXPECT_EQ(result.batches[0].batch->events.size(), 5u);  // nothing lost
  EXPECT_EQ(result.stage_dropped, 0u);
  // 5 events at 100ms each from t: TAT = t + 500ms; burst 2 tolerates
  // 100ms, so the key conforms again at t + 400ms.
  EXPECT_EQ(result.throttle_wait_ns, 400'000'000);

  now += 400'000'000;  // exactly when it conforms: one more passes freely
  (*runner)->run(batchOf({event(6, "log", "x")}), result);
  EXPECT_EQ(result.throttle_wait_ns, 0);
  // The next is in debt again: TAT t+700ms, conforming at t+600ms, 200ms from now.
  (*runner)->run(batchOf({event(7, "log", "x")}), result);
  EXPECT_EQ(result.throttle_wait_ns, 200'000'000);
}

TEST(PipelineRunnerTest, PluginStagesRunInOrderOnTheRealPlugins) {
  auto spec = specOf(R"(pipeline:
  stages:
    - plugin: {name: filter_fields, options: {remove: [password], set: ["stage=one"]}}
    - plugin: filter_dedup
      options: {key: "{raw}", window: 1h}
    - plugin: filter_fields
      instance: second
      options: {set: ["after={stage}"]}
)",
                     {"sqlite"}, kPluginDir);
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  MetricsRegistry registry;
  auto runner = PipelineRunner::create(*spec, {"sqlite"}, withMetrics(registry));
  ASSERT_TRUE(runner.ok()) << runner.error().message;

  PipelineResult result;
  (*runner)->run(
      batchOf({event(1, "log", "same"), event(2, "log", "same"), event(3, "log", "other")}),
      result);
  ASSERT_EQ(result.batches.size(), 1u);
  const SinkBatch& out = *result.batches[0].batch;
  EXPECT_EQ(seqs(out), (std::vector<uint64_t>{1, 3}));  // dedup dropped the repeat
  for (const Event& e : out.events) {
    EXPECT_EQ(findField(e, "password"), nullptr);
    ASSERT_NE(findField(e, "stage"), nullptr);
    EXPECT_EQ(std::get<std::string>(findField(e, "stage")->value), "one");
    ASSERT_NE(findField(e, "after"), nullptr);  // the later stage saw the earlier one's work
    EXPECT_EQ(std::get<std::string>(findField(e, "after")->value), "one");
  }
  EXPECT_EQ(result.stage_dropped, 1u);
  EXPECT_EQ(
      counter(registry, "edge_gateway_pipeline_events_dropped_total", {{"stage", "filter_dedup"}}),
      1u);
  EXPECT_EQ(counter(registry, "edge_plugins_events_dropped_total",
                    {{"plugin", "filter_dedup"}, {"instance", "filter_dedup"}}),
            1u);
}

TEST(PipelineRunnerTest, EverythingDroppedMeansNoSinkBatch) {
  auto spec = specOf(R"(pipeline:
  stages:
    - rate_limit: {name: none, rate: 1/h, burst: 1, action: drop, match: {field: kind, equals: noise}}
  routes:
    - {name: only_audit, match: {field: kind, equals: audit}, sinks: [sqlite]}
)",
                     {"sqlite"});
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  auto runner = PipelineRunner::create(*spec, {"sqlite"});
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  PipelineResult result;
  (*runner)->run(batchOf({event(1, "noise", "a"), event(2, "noise", "b"), event(3, "log", "c")}),
                 result);
  EXPECT_TRUE(result.batches.empty());
  EXPECT_EQ(result.stage_dropped, 1u);
  EXPECT_EQ(result.unrouted, 2u);
  EXPECT_EQ(result.routed, 0u);
}

TEST(PipelineRunnerTest, ARouteToASinkThatDoesNotRunIsRefused) {
  auto spec = specOf("pipeline:\n  default_route: {sinks: [kafka]}\n", {});
  ASSERT_TRUE(spec.ok()) << spec.error().message;  // not checked without known sinks
  auto runner = PipelineRunner::create(*spec, {"sqlite"});
  ASSERT_FALSE(runner.ok());
  EXPECT_NE(runner.error().message.find("routes to sink \"kafka\", which this gateway does not run "
                                        "(its sinks: sqlite)"),
            std::string::npos)
      << runner.error().message;
}

}  // namespace
}  // namespace edge::gateway::testing
