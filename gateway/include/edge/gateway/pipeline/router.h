// Content routing: ordered routes, each a condition, one or more sinks and
// optional topic/table name templates. An event goes to the first route that
// matches, and on to later ones while the matched route says continue: true.
// Events no route takes are counted and go to the default route if there is
// one, else they are dropped (and counted).
//
// The output for a batch is, per sink, groups of event indices that share a
// rendered topic and table; events are never copied. A RoutedBatch is meant
// to be reused batch after batch: its vectors and strings keep their
// capacity, so routing a batch like the previous one allocates nothing.
//
//   auto router = Router::create(config.routing, &registry);
//   RoutedBatch routed;
//   router->route(batch.events, {agent_id}, routed);
//   for (const SinkRouting& sink : routed.sinks())
//     for (const DestinationGroup& group : sink.groups())
//       send(sink.name(), group.topic, group.table, group.events);
//
// Threading: one Router per worker (its conditions keep regex buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/pipeline/condition.h"
#include "edge/gateway/pipeline/field.h"
#include "edge/gateway/pipeline/template.h"

namespace edge::gateway::pipeline {

struct RouteConfig {
  std::string name;
  std::optional<ConditionSpec> match;  // none: every event
  std::vector<std::string> sinks;      // at least one, no repeats
  std::string topic;                   // template (TemplateMode::kTopic); "" = none
  std::string table;                   // template (TemplateMode::kTable); "" = none
  bool continue_matching = false;      // YAML `continue`
  // Where it came from, for messages.
  std::string path;
  int line = 0;
};

struct RoutingConfig {
  std::vector<RouteConfig> routes;
  std::optional<RouteConfig> default_route;  // its name is "default", it has no match
  std::string missing_value = "unknown";     // templates' value for missing fields

  // Every sink name the routes use, in first-use order.
  std::vector<std::string> sinkNames() const;
  bool empty() const { return routes.empty() && !default_route; }
};

// Events of one batch bound for one sink with the same topic and table.
struct DestinationGroup {
  std::string topic;             // "" when the route has no topic template
  std::string table;             // "" when the route has no table template
  std::vector<uint32_t> events;  // indices into the batch, ascending
};

class SinkRouting {
 public:
  std::string_view name() const { return name_; }
  uint32_t sinkIndex() const { return index_; }
  std::span<const DestinationGroup> groups() const { return {groups_.data(), used_}; }
  size_t eventCount() const { return events_; }  // sum over groups
  bool empty() const { return used_ == 0; }

 private:
  friend class Router;
  friend class RoutedBatch;
  std::string name_;
  uint32_t index_ = 0;
  // Groups beyond used_ are spares kept for their capacity.
  std::vector<DestinationGroup> groups_;
  size_t used_ = 0;
  size_t events_ = 0;
};

class RoutedBatch {
 public:
  // One entry per sink of the router (Router::sinkNames() order), empty
  // ones included, so a sink's index is stable across batches.
  std::span<const SinkRouting> sinks() const { return sinks_; }
  const SinkRouting* find(std::string_view sink) const;

  uint64_t events = 0;     // events in the batch
  uint64_t unmatched = 0;  // taken by no route (includes defaulted and dropped)
  uint64_t defaulted = 0;  // unmatched, sent to the default route
  uint64_t dropped = 0;    // unmatched with no default route: delivered nowhere

  // Empties every group but keeps the memory.
  void clear();

 private:
  friend class Router;
  std::vector<SinkRouting> sinks_;
};

class Router {
 public:
  // Compiles conditions and templates; errors name the route. metrics:
  // nullptr keeps counters private. Counters (shared by every router built
  // with the same registry): edge_gateway_route_events_total{route},
  // edge_gateway_route_unmatched_total, edge_gateway_route_dropped_total.
  static Result<std::unique_ptr<Router>> create(const RoutingConfig& config,
                                                MetricsRegistry* metrics = nullptr);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Routes a batch into `out` (cleared first). Counters are updated once per batch.
  void route(std::span<const Event> events, const EventContext& context, RoutedBatch& out);

  const std::vector<std::string>& sinkNames() const { return sink_names_; }

  struct RouteStats {
    std::string name;
    uint64_t events = 0;  // events this route took
  };
  // Counts of this router alone (the registry's are shared).
  const std::vector<RouteStats>& routeStats() const { return stats_; }
  uint64_t unmatchedTotal() const { return unmatched_total_; }
  uint64_t droppedTotal() const { return dropped_total_; }

 private:
  struct CompiledRoute;
  Router();
  void deliver(const CompiledRoute& route, uint32_t index, const Event& event,
               const EventContext& context, RoutedBatch& out);

  std::vector<CompiledRoute> routes_;  // default route last, if any
  bool has_default_ = false;
  std::vector<std::string> sink_names_;
  std::vector<RouteStats> stats_;
  std::vector<uint64_t> batch_counts_;  // per route, scratch for one batch
  std::string topic_scratch_;
  std::string table_scratch_;
  uint64_t unmatched_total_ = 0;
  uint64_t dropped_total_ = 0;

  std::unique_ptr<MetricsRegistry> own_metrics_;
  std::vector<Counter*> route_counters_;
  Counter* unmatched_counter_ = nullptr;
  Counter* dropped_counter_ = nullptr;
};

}  // namespace edge::gateway::pipeline
