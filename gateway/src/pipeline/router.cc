// Router: first-match (or continue) routing of a batch into per-sink groups
// of event indices keyed by rendered topic and table.
#include "edge/gateway/pipeline/router.h"

#include <algorithm>

namespace edge::gateway::pipeline {
namespace {

std::string where(const RouteConfig& route) {
  std::string out = route.path.empty() ? "route" : route.path;
  if (!route.name.empty()) out += " (" + route.name + ")";
  if (route.line > 0) out += " at line " + std::to_string(route.line);
  return out;
}

}  // namespace

std::vector<std::string> RoutingConfig::sinkNames() const {
  std::vector<std::string> names;
  auto add = [&](const RouteConfig& route) {
    for (const std::string& sink : route.sinks) {
      if (std::find(names.begin(), names.end(), sink) == names.end()) names.push_back(sink);
    }
  };
  for (const RouteConfig& route : routes) add(route);
  if (default_route) add(*default_route);
  return names;
}

const SinkRouting* RoutedBatch::find(std::string_view sink) const {
  for (const SinkRouting& s : sinks_) {
    if (s.name_ == sink) return &s;
  }
  return nullptr;
}

void RoutedBatch::clear() {
  for (SinkRouting& sink : sinks_) {
    for (size_t i = 0; i < sink.used_; ++i) sink.groups_[i].events.clear();
    sink.used_ = 0;
    sink.events_ = 0;
  }
  events = unmatched = defaulted = dropped = 0;
}

struct Router::CompiledRoute {
  std::string name;
  std::optional<Condition> match;
  std::vector<uint32_t> sinks;
  std::optional<Template> topic;
  std::optional<Template> table;
  bool continue_matching = false;
};

Router::Router() = default;
Router::~Router() = default;

Result<std::unique_ptr<Router>> Router::create(const RoutingConfig& config,
                                               MetricsRegistry* metrics) {
  std::unique_ptr<Router> router(new Router());
  auto compileRoute = [&](const RouteConfig& spec, bool is_default) -> Result<void> {
    auto fail = [&](const std::string& message) {
      return makeError(ErrorCode::kConfig, where(spec) + ": " + message);
    };
    CompiledRoute route;
    route.name = is_default ? "default" : spec.name;
    if (!is_default) {
      if (route.name.empty()) return fail("a route needs a name");
      if (route.name == "default") {
        return fail("the name \"default\" is reserved for default_route; choose another");
      }
      for (const CompiledRoute& other : router->routes_) {
        if (other.name == route.name) return fail("two routes are named \"" + route.name + "\"");
      }
      if (spec.match) {
        auto match = Condition::compile(*spec.match);
        if (!match) return fail("match: " + match.error().message);
        route.match.emplace(std::move(*match));
      }
    }
    if (spec.sinks.empty()) return fail("sinks: a route needs at least one sink");
    for (const std::string& sink : spec.sinks) {
      auto it = std::find(router->sink_names_.begin(), router->sink_names_.end(), sink);
      uint32_t index = static_cast<uint32_t>(it - router->sink_names_.begin());
      if (it == router->sink_names_.end()) router->sink_names_.push_back(sink);
      if (std::find(route.sinks.begin(), route.sinks.end(), index) != route.sinks.end()) {
        return fail("sinks: \"" + sink + "\" is listed twice");
      }
      route.sinks.push_back(index);
    }
    if (!spec.topic.empty()) {
      auto topic = Template::compile(spec.topic, TemplateMode::kTopic, config.missing_value);
      if (!topic) return fail("topic: " + topic.error().message);
      route.topic.emplace(std::move(*topic));
    }
    if (!spec.table.empty()) {
      auto table = Template::compile(spec.table, TemplateMode::kTable, config.missing_value);
      if (!table) return fail("table: " + table.error().message);
      route.table.emplace(std::move(*table));
    }
    route.continue_matching = !is_default && spec.continue_matching;
    router->routes_.push_back(std::move(route));
    return okResult();
  };
  for (const RouteConfig& spec : config.routes) EDGE_TRY(compileRoute(spec, false));
  if (config.default_route) {
    EDGE_TRY(compileRoute(*config.default_route, true));
    router->has_default_ = true;
  }

  if (metrics == nullptr) {
    router->own_metrics_ = std::make_unique<MetricsRegistry>();
    metrics = router->own_metrics_.get();
  }
  for (const CompiledRoute& route : router->routes_) {
    router->stats_.push_back(RouteStats{route.name, 0});
    router->route_counters_.push_back(&metrics->counter(
        "edge_gateway_route_events_total", "Events each route took", {{"route", route.name}}));
  }
  router->batch_counts_.assign(router->routes_.size(), 0);
  router->unmatched_counter_ =
      &metrics->counter("edge_gateway_route_unmatched_total",
                        "Events no route matched (sent to default_route, or dropped)");
  router->dropped_counter_ = &metrics->counter("edge_gateway_route_dropped_total",
                                               "Events no route matched and no default_route took");
  return router;
}

void Router::deliver(const CompiledRoute& route, uint32_t index, const Event& event,
                     const EventContext& context, RoutedBatch& out) {
  topic_scratch_.clear();
  table_scratch_.clear();
  if (route.topic) route.topic->render(event, context, topic_scratch_);
  if (route.table) route.table->render(event, context, table_scratch_);
  for (uint32_t sink_index : route.sinks) {
    SinkRouting& sink = out.sinks_[sink_index];
    DestinationGroup* group = nullptr;
    // Newest group first: consecutive events usually share a destination.
    for (size_t g = sink.used_; g-- > 0;) {
      DestinationGroup& candidate = sink.groups_[g];
      if (candidate.topic == topic_scratch_ && candidate.table == table_scratch_) {
        group = &candidate;
        break;
      }
    }
    if (group == nullptr) {
      if (sink.used_ == sink.groups_.size()) sink.groups_.emplace_back();
      group = &sink.groups_[sink.used_++];
      group->topic.assign(topic_scratch_);
      group->table.assign(table_scratch_);
      group->events.clear();
    }
    // Two continuing routes may send an event to the same sink and name;
    // it is delivered there once.
    if (group->events.empty() || group->events.back() != index) {
      group->events.push_back(index);
      ++sink.events_;
    }
  }
}

void Router::route(std::span<const Event> events, const EventContext& context, RoutedBatch& out) {
  bool same_sinks = out.sinks_.size() == sink_names_.size();
  for (size_t i = 0; same_sinks && i < sink_names_.size(); ++i) {
    same_sinks = out.sinks_[i].name_ == sink_names_[i];
  }
  if (!same_sinks) {
    // First use, or a batch object carried over from another router.
    out.sinks_.clear();
    out.sinks_.resize(sink_names_.size());
    for (size_t i = 0; i < sink_names_.size(); ++i) {
      out.sinks_[i].name_ = sink_names_[i];
      out.sinks_[i].index_ = static_cast<uint32_t>(i);
    }
  }
  out.clear();
  out.events = events.size();
  std::fill(batch_counts_.begin(), batch_counts_.end(), 0);
  const size_t ordinary = has_default_ ? routes_.size() - 1 : routes_.size();
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& event = events[i];
    const auto index = static_cast<uint32_t>(i);
    bool taken = false;
    for (size_t r = 0; r < ordinary; ++r) {
      const CompiledRoute& route = routes_[r];
      if (route.match && !route.match->matches(event, context)) continue;
      taken = true;
      ++batch_counts_[r];
      deliver(route, index, event, context, out);
      if (!route.continue_matching) break;
    }
    if (taken) continue;
    ++out.unmatched;
    if (has_default_) {
      ++out.defaulted;
      ++batch_counts_.back();
      deliver(routes_.back(), index, event, context, out);
    } else {
      ++out.dropped;
    }
  }
  for (size_t r = 0; r < routes_.size(); ++r) {
    if (batch_counts_[r] == 0) continue;
    stats_[r].events += batch_counts_[r];
    route_counters_[r]->inc(batch_counts_[r]);
  }
  unmatched_total_ += out.unmatched;
  dropped_total_ += out.dropped;
  if (out.unmatched > 0) unmatched_counter_->inc(out.unmatched);
  if (out.dropped > 0) dropped_counter_->inc(out.dropped);
}

}  // namespace edge::gateway::pipeline
