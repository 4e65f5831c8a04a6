// The per-event paths allocate nothing once warm: condition evaluation
// (every operator, regex included), template rendering into a reused buffer,
// routing into a reused RoutedBatch, and rate-limit decisions on known keys.
#include <gtest/gtest.h>

#include <vector>

#include "alloc_counter.h"
#include "edge/gateway/pipeline/pipeline_config.h"
#include "edge/gateway/pipeline/rate_limiter.h"
#include "edge/gateway/pipeline/router.h"
#include "edge/gateway/pipeline/template.h"
#include "test_support.h"

namespace edge::gateway::pipeline::testing {
namespace {

std::vector<Event> events() {
  std::vector<Event> out;
  for (int i = 0; i < 200; ++i) {
    Event e = makeEvent(i % 3 == 0 ? "auth" : "log", "web-" + std::to_string(i % 7),
                        static_cast<Severity>(i % 8));
    e.setField("user", std::string(i % 2 ? "root" : "bob"));
    e.setField("status", int64_t{200 + i % 5});
    e.setField("latency", i * 0.5);
    out.push_back(std::move(e));
  }
  return out;
}

TEST(PipelineAllocationTest, ConditionEvaluationAllocatesNothing) {
  auto c = compileYaml(R"(match:
  any:
    - all:
        - {field: kind, equals: auth}
        - {field: severity, le: warning}
        - {field: fields.user, in: [root, admin, operator]}
        - {field: raw, regex: 'from \d+\.\d+\.\d+\.\d+'}
        - not: {field: host, prefix: test-}
    - {field: fields.status, ge: 203}
    - {field: fields.latency, regex: '\.5$'}
    - {field: seq, contains: '9'}
    - {field: ts, suffix: '7'}
    - {field: fields.user, not_equals: bob, exists: true}
    - {field: agent_id, equals: a1}
)");
  ASSERT_TRUE(c);
  auto batch = events();
  size_t matched = 0;
  size_t allocations = 0;
  {
    AllocationCounter counter;
    for (int round = 0; round < 5; ++round) {
      for (const Event& e : batch) matched += c->matches(e, EventContext{"a0"}) ? 1 : 0;
    }
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 0u);
  EXPECT_GT(matched, 0u);
  EXPECT_LT(matched, 5 * batch.size());
}

TEST(PipelineAllocationTest, RoutingAndRenderingIntoReusedBuffersAllocatesNothing) {
  auto loaded = parsePipelineConfig(R"(pipeline:
  routes:
    - name: auth
      match: {field: kind, equals: auth}
      sinks: [kafka, postgres]
      topic: "edge.{tenant}.{kind}.{host}"
      table: "auth_{tenant}"
      continue: true
    - name: errors
      match: {field: severity, le: error}
      sinks: [kafka]
      topic: "errors.{fields.user}"
  default_route: {sinks: [sqlite]}
)",
                                    "routes.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  auto router = Router::create(loaded->config.routing);
  ASSERT_TRUE(router.ok()) << router.error().message;
  auto batch = events();
  RoutedBatch routed;
  (*router)->route(batch, {}, routed);  // warm: groups, strings, index vectors
  auto topic = Template::compile("edge.{tenant}.{kind}.{fields.status}", TemplateMode::kTopic);
  ASSERT_TRUE(topic.ok());
  std::string rendered;
  rendered.reserve(128);
  size_t allocations = 0;
  {
    AllocationCounter counter;
    for (int round = 0; round < 5; ++round) (*router)->route(batch, {}, routed);
    for (const Event& e : batch) topic->render(e, {}, rendered);
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(routed.events, batch.size());
  EXPECT_GT(routed.find("kafka")->eventCount(), 0u);
  EXPECT_GT(routed.find("sqlite")->eventCount(), 0u);
}

TEST(PipelineAllocationTest, RateLimitDecisionsOnKnownKeysAllocateNothing) {
  int64_t now = 1'000'000'000;
  RateLimitConfig config;
  config.name = "alloc";
  config.key = "{tenant}/{host}";
  config.rate_per_second = 1000;
  config.burst = 50;
  config.action = RateLimitAction::kSample;
  auto limiter = RateLimiter::create(config, [&] { return now; });
  ASSERT_TRUE(limiter.ok()) << limiter.error().message;
  auto batch = events();
  std::vector<RateDecision> decisions(batch.size());
  (void)(*limiter)->decideBatch(batch, {}, decisions);  // warm: keys inserted
  size_t allocations = 0;
  uint64_t kept = 0;
  {
    AllocationCounter counter;
    for (int round = 0; round < 5; ++round) {
      now += 1'000'000;
      kept += (*limiter)->decideBatch(batch, {}, decisions).kept();
      for (const Event& e : batch) kept += keepsEvent((*limiter)->decide(e, {})) ? 1 : 0;
    }
    allocations = counter.count();
  }
  EXPECT_EQ(allocations, 0u);
  EXPECT_GT(kept, 0u);
  EXPECT_EQ((*limiter)->trackedKeys(), 7u);
}

}  // namespace
}  // namespace edge::gateway::pipeline::testing
