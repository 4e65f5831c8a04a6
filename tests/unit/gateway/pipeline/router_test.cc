// Router: first match wins, continue, default route, counting of unmatched
// and dropped events, per-sink groups by rendered topic/table, reuse of the
// output across batches, and metrics.
#include "edge/gateway/pipeline/router.h"

#include <gtest/gtest.h>

#include <vector>

#include "edge/gateway/pipeline/pipeline_config.h"
#include "test_support.h"

namespace edge::gateway::pipeline::testing {
namespace {

// Reads routes from inline YAML (under pipeline:) and builds a router.
struct Fixture {
  LoadedPipeline loaded;
  MetricsRegistry registry;
  std::unique_ptr<Router> router;
};

std::unique_ptr<Fixture> build(std::string_view yaml) {
  auto fixture = std::make_unique<Fixture>();
  auto loaded = parsePipelineConfig(yaml, "routes.yaml");
  if (!loaded) {
    ADD_FAILURE() << loaded.error().message;
    return nullptr;
  }
  fixture->loaded = std::move(*loaded);
  auto router = Router::create(fixture->loaded.config.routing, &fixture->registry);
  if (!router) {
    ADD_FAILURE() << router.error().message;
    return nullptr;
  }
  fixture->router = std::move(*router);
  return fixture;
}

// "sink: [i, j]" per destination group, for compact assertions.
std::vector<uint32_t> eventsOf(const RoutedBatch& routed, std::string_view sink,
                               std::string_view topic = "", std::string_view table = "") {
  const SinkRouting* s = routed.find(sink);
  if (s == nullptr) {
    ADD_FAILURE() << "no sink " << sink;
    return {};
  }
  for (const DestinationGroup& g : s->groups()) {
    if (g.topic == topic && g.table == table) return g.events;
  }
  return {};
}

std::vector<Event> batch() {
  std::vector<Event> events;
  events.push_back(makeEvent("auth", "web-1", Severity::kWarning));  // 0
  events.push_back(makeEvent("log", "web-2", Severity::kInfo));      // 1
  events.push_back(makeEvent("auth", "db-1", Severity::kError));     // 2
  events.push_back(makeEvent("metric", "web-1", Severity::kDebug));  // 3
  events.push_back(makeEvent("log", "db-2", Severity::kCritical));   // 4
  return events;
}

TEST(PipelineRouterTest, FirstMatchWinsAndUnmatchedGoToTheDefaultRoute) {
  auto f = build(R"(pipeline:
  routes:
    - name: auth
      match: {field: kind, equals: auth}
      sinks: [kafka]
    - name: severe
      match: {field: severity, le: error}
      sinks: [postgres]
  default_route: {sinks: [sqlite]}
)");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->router->sinkNames(), (std::vector<std::string>{"kafka", "postgres", "sqlite"}));
  auto events = batch();
  RoutedBatch routed;
  f->router->route(events, {}, routed);
  EXPECT_EQ(eventsOf(routed, "kafka"),
            (std::vector<uint32_t>{0, 2}));  // 2 is severe too: first wins
  EXPECT_EQ(eventsOf(routed, "postgres"), (std::vector<uint32_t>{4}));
  EXPECT_EQ(eventsOf(routed, "sqlite"), (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(routed.events, 5u);
  EXPECT_EQ(routed.unmatched, 2u);
  EXPECT_EQ(routed.defaulted, 2u);
  EXPECT_EQ(routed.dropped, 0u);
  ASSERT_EQ(routed.sinks().size(), 3u);
  EXPECT_EQ(routed.sinks()[0].name(), "kafka");
  EXPECT_EQ(routed.sinks()[0].sinkIndex(), 0u);
  EXPECT_EQ(routed.sinks()[0].eventCount(), 2u);
  const auto& stats = f->router->routeStats();
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].name, "auth");
  EXPECT_EQ(stats[0].events, 2u);
  EXPECT_EQ(stats[1].events, 1u);
  EXPECT_EQ(stats[2].name, "default");
  EXPECT_EQ(stats[2].events, 2u);
}

TEST(PipelineRouterTest, ContinueSendsToLaterRoutesToo) {
  auto f = build(R"(pipeline:
  routes:
    - name: archive
      sinks: [s3]
      continue: true
    - name: auth
      match: {field: kind, equals: auth}
      sinks: [kafka]
    - name: severe
      match: {field: severity, le: error}
      sinks: [postgres]
  default_route: {sinks: [sqlite]}
)");
  ASSERT_TRUE(f);
  auto events = batch();
  RoutedBatch routed;
  f->router->route(events, {}, routed);
  EXPECT_EQ(eventsOf(routed, "s3"), (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(eventsOf(routed, "kafka"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(eventsOf(routed, "postgres"), (std::vector<uint32_t>{4}));
  // A route with continue took them, so they are not "unmatched", and the
  // default route (for events no route takes) gets nothing.
  EXPECT_EQ(routed.unmatched, 0u);
  EXPECT_TRUE(routed.find("sqlite")->empty());
}

TEST(PipelineRouterTest, UnmatchedWithoutDefaultAreDroppedAndCounted) {
  auto f = build(R"(pipeline:
  routes:
    - name: auth
      match: {field: kind, equals: auth}
      sinks: [kafka]
)");
  ASSERT_TRUE(f);
  auto events = batch();
  RoutedBatch routed;
  f->router->route(events, {}, routed);
  EXPECT_EQ(eventsOf(routed, "kafka"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(routed.unmatched, 3u);
  EXPECT_EQ(routed.dropped, 3u);
  EXPECT_EQ(routed.defaulted, 0u);
  f->router->route(events, {}, routed);
  EXPECT_EQ(f->router->droppedTotal(), 6u);
  EXPECT_EQ(f->router->unmatchedTotal(), 6u);
  const std::string text = f->registry.renderPrometheus();
  EXPECT_NE(text.find("edge_gateway_route_dropped_total 6"), std::string::npos) << text;
  EXPECT_NE(text.find("edge_gateway_route_unmatched_total 6"), std::string::npos) << text;
  EXPECT_NE(text.find("edge_gateway_route_events_total{route=\"auth\"} 4"), std::string::npos)
      << text;
}

TEST(PipelineRouterTest, GroupsBySinkTopicAndTable) {
  auto f = build(R"(pipeline:
  missing_value: none
  routes:
    - name: per_kind
      sinks: [kafka, postgres]
      topic: "edge.{tenant}.{kind}"
      table: "ev_{kind}"
)");
  ASSERT_TRUE(f);
  auto events = batch();
  events[1].tenant = "globex";
  events[3].kind.clear();
  RoutedBatch routed;
  f->router->route(events, {}, routed);
  const SinkRouting* kafka = routed.find("kafka");
  ASSERT_NE(kafka, nullptr);
  ASSERT_EQ(kafka->groups().size(), 4u);
  // Groups appear in order of first use.
  EXPECT_EQ(kafka->groups()[0].topic, "edge.acme.auth");
  EXPECT_EQ(kafka->groups()[0].table, "ev_auth");
  EXPECT_EQ(kafka->groups()[0].events, (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(kafka->groups()[1].topic, "edge.globex.log");
  EXPECT_EQ(kafka->groups()[1].events, (std::vector<uint32_t>{1}));
  EXPECT_EQ(kafka->groups()[2].topic, "edge.acme.none");
  EXPECT_EQ(kafka->groups()[2].table, "ev_none");
  EXPECT_EQ(kafka->groups()[3].topic, "edge.acme.log");
  EXPECT_EQ(kafka->groups()[3].events, (std::vector<uint32_t>{4}));
  EXPECT_EQ(kafka->eventCount(), 5u);
  EXPECT_EQ(routed.find("postgres")->eventCount(), 5u);
}

TEST(PipelineRouterTest, AnEventReachesASinkAndNameOnceEvenThroughTwoRoutes) {
  auto f = build(R"(pipeline:
  routes:
    - name: a
      sinks: [kafka]
      topic: "t.{kind}"
      continue: true
    - name: b
      match: {field: kind, equals: auth}
      sinks: [kafka]
      topic: "t.{kind}"
      continue: true
    - name: c
      match: {field: kind, equals: auth}
      sinks: [kafka]
      topic: "alerts"
)");
  ASSERT_TRUE(f);
  auto events = batch();
  RoutedBatch routed;
  f->router->route(events, {}, routed);
  EXPECT_EQ(eventsOf(routed, "kafka", "t.auth"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(eventsOf(routed, "kafka", "alerts"), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(eventsOf(routed, "kafka", "t.log"), (std::vector<uint32_t>{1, 4}));
  EXPECT_EQ(routed.find("kafka")->eventCount(), 7u);
}

TEST(PipelineRouterTest, AgentIdComesFromTheBatchContext) {
  auto f = build(R"(pipeline:
  routes:
    - name: vip
      match: {field: agent_id, in: [agent-1]}
      sinks: [fast]
      topic: "agent.{agent_id}"
  default_route: {sinks: [slow]}
)");
  ASSERT_TRUE(f);
  auto events = batch();
  RoutedBatch routed;
  f->router->route(events, EventContext{"agent-1"}, routed);
  EXPECT_EQ(eventsOf(routed, "fast", "agent.agent-1").size(), 5u);
  f->router->route(events, EventContext{"agent-2"}, routed);
  EXPECT_TRUE(routed.find("fast")->empty());
  EXPECT_EQ(routed.find("slow")->eventCount(), 5u);
}

TEST(PipelineRouterTest, RoutedBatchIsReusedWithoutStaleGroups) {
  auto f = build(R"(pipeline:
  routes:
    - name: all
      sinks: [kafka]
      topic: "t.{host}"
)");
  ASSERT_TRUE(f);
  RoutedBatch routed;
  auto events = batch();
  f->router->route(events, {}, routed);
  EXPECT_EQ(routed.find("kafka")->groups().size(), 4u);
  std::vector<Event> small{makeEvent("x", "web-9")};
  f->router->route(small, {}, routed);
  ASSERT_EQ(routed.find("kafka")->groups().size(), 1u);
  EXPECT_EQ(routed.find("kafka")->groups()[0].topic, "t.web-9");
  EXPECT_EQ(routed.find("kafka")->groups()[0].events, (std::vector<uint32_t>{0}));
  EXPECT_EQ(routed.events, 1u);
  f->router->route({}, {}, routed);
  EXPECT_TRUE(routed.find("kafka")->empty());
  EXPECT_EQ(routed.events, 0u);
}

TEST(PipelineRouterTest, CreateRefusesBadRoutesBuiltByHand) {
  RoutingConfig config;
  RouteConfig r;
  r.name = "r";
  r.sinks = {"a"};
  r.path = "pipeline.routes[0]";
  r.line = 3;
  r.topic = "bad topic";
  config.routes.push_back(r);
  auto router = Router::create(config);
  ASSERT_FALSE(router.ok());
  EXPECT_EQ(router.error().message,
            "pipeline.routes[0] (r) at line 3: topic: template \"bad topic\": ' ' is not allowed "
            "in a Kafka topic name (use letters, digits, '.', '_' and '-') at position 4");
  config.routes[0].topic.clear();
  config.routes[0].sinks = {"a", "a"};
  EXPECT_NE(Router::create(config).error().message.find("sinks: \"a\" is listed twice"),
            std::string::npos);
  config.routes[0].sinks = {};
  EXPECT_NE(Router::create(config).error().message.find("needs at least one sink"),
            std::string::npos);
  config.routes[0].sinks = {"a"};
  config.routes.push_back(config.routes[0]);
  EXPECT_NE(Router::create(config).error().message.find("two routes are named \"r\""),
            std::string::npos);
  config.routes.pop_back();
  EXPECT_TRUE(Router::create(config).ok());
  EXPECT_EQ(config.sinkNames(), std::vector<std::string>{"a"});
}

}  // namespace
}  // namespace edge::gateway::pipeline::testing
