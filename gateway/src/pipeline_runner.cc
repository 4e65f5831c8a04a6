// One worker's pipeline: stages, then routing into per-sink batches (see
// pipeline_runner.h).
#include "edge/gateway/pipeline_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace edge::gateway {

struct PipelineRunner::Stage {
  std::string name;  // metrics label: the limiter's name or the plugin instance
  std::unique_ptr<pipeline::RateLimiter> limiter;
  std::unique_ptr<plugins::ProcessorInstance> plugin;
  std::unique_ptr<lua::RuleEngine> lua;
  Counter* dropped = nullptr;
  Counter* emitted = nullptr;  // plugins and Lua stages
};

void PipelineResult::clear() {
  events_in = 0;
  stage_dropped = 0;
  stage_emitted = 0;
  routed = 0;
  unmatched = 0;
  unrouted = 0;
  throttle_wait_ns = 0;
  batches.clear();
}

PipelineRunner::PipelineRunner() = default;
PipelineRunner::~PipelineRunner() = default;

Result<std::unique_ptr<PipelineRunner>> PipelineRunner::create(
    PipelineSpecPtr spec, const std::vector<std::string>& sinks, RunnerOptions options) {
  if (!spec) spec = std::make_shared<PipelineSpec>();
  std::unique_ptr<PipelineRunner> runner(new PipelineRunner());
  MetricsRegistry* metrics = options.metrics;
  if (metrics == nullptr) {
    runner->own_metrics_ = std::make_unique<MetricsRegistry>();
    metrics = runner->own_metrics_.get();
  }
  if (options.plugin_env.metrics == nullptr) options.plugin_env.metrics = metrics;

  const pipeline::PipelineConfig& config = spec->config;
  runner->stages_.reserve(config.stages.size());
  for (size_t i = 0; i < config.stages.size(); ++i) {
    const pipeline::StageConfig& stage_config = config.stages[i];
    Stage stage;
    if (const auto* limit = std::get_if<pipeline::RateLimitStage>(&stage_config.stage)) {
      auto limiter = pipeline::RateLimiter::create(limit->config, options.clock, metrics);
      if (!limiter) return limiter.error();
      stage.name = limit->config.name;
      stage.limiter = std::move(*limiter);
    } else if (std::holds_alternative<pipeline::PluginStage>(stage_config.stage)) {
      const auto& plugin_config = std::get<pipeline::PluginStage>(stage_config.stage);
      if (i >= spec->plugins.size() || !spec->plugins[i]) {
        return makeError(ErrorCode::kConfig, stage_config.path + ": plugin " +
                                                 plugin_config.plugin +
                                                 " was not loaded and validated with the "
                                                 "configuration (readPipelineSpec)");
      }
      const PluginStageSpec& plugin = *spec->plugins[i];
      auto instance = plugins::ProcessorInstance::create(plugin.plugin, plugin_config.instance,
                                                         plugin.options, options.plugin_env);
      if (!instance) {
        return makeError(ErrorCode::kConfig,
                         stage_config.path + ": plugin " + plugin_config.plugin + " (instance " +
                             plugin_config.instance + "): " + instance.error().message);
      }
      stage.name = plugin_config.instance;
      stage.plugin = std::move(*instance);
      stage.emitted = &metrics->counter("edge_gateway_pipeline_events_emitted_total",
                                        "Events pipeline stages added (processor plugins)",
                                        {{"stage", stage.name}});
    } else {
      if (i >= spec->lua.size() || !spec->lua[i]) {
        return makeError(ErrorCode::kConfig, stage_config.path +
                                                 ": Lua stage was not read and compiled with the "
                                                 "configuration (readPipelineSpec)");
      }
      lua::EngineOptions lua_options;
      lua_options.metrics = metrics;
      auto engine = lua::RuleEngine::create(*spec->lua[i], lua_options);
      if (!engine) {
        // The rules compiled when the spec was read; a file changed since.
        return makeError(ErrorCode::kConfig,
                         stage_config.path + ": Lua rules: " + engine.error().message);
      }
      stage.name = spec->lua[i]->name;
      stage.lua = std::move(*engine);
      if (options.previous != nullptr) {
        for (Stage& old : options.previous->stages_) {
          if (old.lua && old.name == stage.name) {
            const size_t kept = stage.lua->adoptState(*old.lua);
            if (kept > 0) spdlog::info("lua stage {}: {} rule(s) kept their state", stage.name, kept);
            break;
          }
        }
      }
      stage.emitted = &metrics->counter("edge_gateway_pipeline_events_emitted_total",
                                        "Events pipeline stages added (processor plugins)",
                                        {{"stage", stage.name}});
    }
    stage.dropped = &metrics->counter(
        "edge_gateway_pipeline_events_dropped_total",
        "Events pipeline stages removed (rate limit drop/sample, processor plugins)",
        {{"stage", stage.name}});
    runner->stages_.push_back(std::move(stage));
  }

  // Without routes every event goes to the one sink: the gateway as it was
  // before pipelines, so a configuration without `pipeline:` keeps working.
  pipeline::RoutingConfig routing = config.routing;
  if (routing.empty()) {
    if (sinks.size() != 1) {
      std::string names;
      for (const std::string& name : sinks) names += (names.empty() ? "" : ", ") + name;
      return makeError(ErrorCode::kConfig,
                       sinks.empty()
                           ? std::string("no sink to send events to; enable one under sinks:")
                           : "sinks " + names +
                                 " are all enabled but the pipeline does not route between "
                                 "them; add pipeline.routes and/or pipeline.default_route");
    }
    pipeline::RouteConfig all;
    all.name = "default";
    all.sinks = {sinks.front()};
    all.path = "pipeline.default_route";
    routing.default_route = std::move(all);
  }
  for (const std::string& name : routing.sinkNames()) {
    if (std::find(sinks.begin(), sinks.end(), name) == sinks.end()) {
      std::string names;
      for (const std::string& sink : sinks) names += (names.empty() ? "" : ", ") + sink;
      return makeError(ErrorCode::kConfig,
                       "the pipeline routes to sink \"" + name +
                           "\", which this gateway does not run (its sinks: " + names + ")");
    }
  }
  auto router = pipeline::Router::create(routing, metrics);
  if (!router) return router.error();
  runner->router_ = std::move(*router);
  runner->spec_ = std::move(spec);
  return runner;
}

const std::vector<std::string>& PipelineRunner::sinkNames() const { return router_->sinkNames(); }

void PipelineRunner::run(SinkBatch&& batch, PipelineResult& out) {
  out.clear();
  std::vector<Event>& events = batch.events;
  out.events_in = events.size();
  const pipeline::EventContext context{batch.agent_id};

  for (Stage& stage : stages_) {
    if (events.empty()) break;
    const size_t before = events.size();
    if (stage.limiter) {
      decisions_.resize(events.size());
      const auto limited = stage.limiter->decideBatch(events, context, decisions_);
      out.throttle_wait_ns = std::max(out.throttle_wait_ns, limited.throttle_wait_ns);
      if (limited.kept() < before) {
        // Stable compaction: the survivors keep their order.
        size_t kept = 0;
        for (size_t i = 0; i < before; ++i) {
          if (!pipeline::keepsEvent(decisions_[i])) continue;
          if (kept != i) events[kept] = std::move(events[i]);
          ++kept;
        }
        events.erase(events.begin() + static_cast<std::ptrdiff_t>(kept), events.end());
      }
    } else if (stage.lua) {
      tenant_ = events.front().tenant;
      stage.lua->process(events, lua::BatchContext{batch.agent_id, tenant_}, lua_result_);
      if (lua_result_.alerts > 0) {
        stage.emitted->inc(lua_result_.alerts);
        out.stage_emitted += lua_result_.alerts;
      }
      if (lua_result_.dropped > 0) {
        stage.dropped->inc(lua_result_.dropped);
        out.stage_dropped += lua_result_.dropped;
      }
      continue;
    } else {
      // Every event carries the connection's tenant; plugins stamp it on
      // events they emit from scratch.
      tenant_ = events.front().tenant;
      plugins::BatchContext plugin_context{batch.agent_id, batch.batch_id, batch.received_at_ns,
                                           tenant_};
      const plugins::ProcessOutcome outcome = stage.plugin->process(events, plugin_context);
      if (outcome.emitted > 0) {
        stage.emitted->inc(outcome.emitted);
        out.stage_emitted += outcome.emitted;
      }
      if (outcome.failed) {
        // Counted by the host (edge_plugins_errors_total); the batch goes on
        // as the plugin left it.
        if (const uint64_t n = plugin_log_limiter_.allow(); n > 0) {
          spdlog::warn("pipeline stage {} failed on batch {} of agent {}: {}; the batch goes on{}",
                       stage.name, batch.batch_id, batch.agent_id, outcome.error,
                       n > 1 ? " (" + std::to_string(n - 1) + " similar messages suppressed)"
                             : std::string());
        }
      }
      if (outcome.dropped > 0) {
        stage.dropped->inc(outcome.dropped);
        out.stage_dropped += outcome.dropped;
      }
      continue;
    }
    if (events.size() < before) {
      stage.dropped->inc(before - events.size());
      out.stage_dropped += before - events.size();
    }
  }

  router_->route(events, context, routed_);
  out.unmatched = routed_.unmatched;
  out.unrouted = routed_.dropped;

  // How many destinations each event has, so its last one can take it by
  // move and only genuine fan-out copies.
  uses_.assign(events.size(), 0);
  size_t groups = 0;
  for (const pipeline::SinkRouting& sink : routed_.sinks()) {
    for (const pipeline::DestinationGroup& group : sink.groups()) {
      ++groups;
      for (uint32_t index : group.events) ++uses_[index];
    }
  }
  out.routed = static_cast<uint64_t>(
      std::count_if(uses_.begin(), uses_.end(), [](uint32_t n) { return n > 0; }));
  out.batches.reserve(groups);
  for (const pipeline::SinkRouting& sink : routed_.sinks()) {
    for (const pipeline::DestinationGroup& group : sink.groups()) {
      auto sink_batch = std::make_shared<SinkBatch>();
      sink_batch->agent_id = batch.agent_id;
      sink_batch->batch_id = batch.batch_id;
      sink_batch->received_at_ns = batch.received_at_ns;
      sink_batch->topic = group.topic;
      sink_batch->table = group.table;
      if (groups == 1 && group.events.size() == events.size()) {
        // The common case (one sink takes everything): no per-event work.
        sink_batch->events = std::move(events);
      } else {
        sink_batch->events.reserve(group.events.size());
        for (uint32_t index : group.events) {
          if (--uses_[index] == 0) {
            sink_batch->events.push_back(std::move(events[index]));
          } else {
            sink_batch->events.push_back(events[index]);
          }
        }
      }
      out.batches.push_back(RoutedSinkBatch{sink.sinkIndex(), std::move(sink_batch)});
    }
  }
}

}  // namespace edge::gateway
