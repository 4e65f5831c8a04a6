// PipelineRunner: one worker's instance of a PipelineSpec. It runs a decoded
// batch through the stages in order (rate limits, processor plugins, Lua
// rule stages with one Lua state per runner, docs/lua.md), then
// the router, and hands back one SinkBatch per (sink, topic, table) that has
// events. The worker submits those, acks the agent once every one of them
// committed, and withholds the connection's credit for throttle_wait_ns.
//
//   auto runner = PipelineRunner::create(spec, {"sqlite", "discard"}, options);
//   PipelineResult result;                  // reuse: keeps its capacity
//   runner->run(std::move(batch), result);  // batch.events are moved out
//   for (RoutedSinkBatch& out : result.batches)
//     sinks[runner->sinkNames()[out.sink]]->submit(std::move(out.batch), ...);
//
// Everything runs synchronously on the worker's loop when the batch
// arrives, so a batch waiting for its sinks no longer needs its runner: a
// reload swaps the worker's runner (shared_ptr) between two batches, and
// batches already routed finish with the routing they got.
//
// Metrics (in addition to the router's and the limiters', docs/pipeline.md):
//   edge_gateway_pipeline_events_dropped_total{stage}  events a stage removed
//   edge_gateway_pipeline_events_emitted_total{stage}  events a plugin or Lua stage added (alerts)
// `stage` is the rate limit's name, the plugin stage's instance name or the
// Lua stage's name (plus the per-rule edge_gateway_lua_* metrics).
//
// Threading: one runner per worker, used from its loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/pipeline/rate_limiter.h"
#include "edge/gateway/pipeline/router.h"
#include "edge/gateway/pipeline_spec.h"
#include "edge/gateway/sink.h"
#include "edge/lua/engine.h"
#include "edge/plugins/host.h"

namespace edge::gateway {

class PipelineRunner;

struct RunnerOptions {
  // Where stage, route and limiter counters go; null keeps them private.
  MetricsRegistry* metrics = nullptr;
  // Monotonic ns for the rate limiters; empty: the steady clock. Tests
  // drive it by hand.
  pipeline::MonotonicClock clock;
  // Plugin instances' host services (their counters, clock, log). Its
  // metrics default to `metrics` above.
  plugins::HostEnvironment plugin_env;
  // The runner this one replaces (a reload), if any: Lua stages of the same
  // name take over the window/counter state of their unchanged rules. Only
  // read during create(), on the same loop thread.
  PipelineRunner* previous = nullptr;
};

struct RoutedSinkBatch {
  uint32_t sink = 0;  // index into PipelineRunner::sinkNames()
  SinkBatchPtr batch;
};

struct PipelineResult {
  uint64_t events_in = 0;      // events the batch arrived with
  uint64_t stage_dropped = 0;  // removed by stages (rate limit drop/sample, plugins)
  uint64_t stage_emitted = 0;  // added by plugins
  uint64_t routed = 0;         // events sent to at least one sink (each counted once)
  uint64_t unmatched = 0;      // taken by no route (defaulted or dropped)
  uint64_t unrouted = 0;       // unmatched without a default route: delivered nowhere
  // How long the connection's credit should be withheld because a throttle
  // stage put a key of this batch into debt; 0 when none did.
  int64_t throttle_wait_ns = 0;
  // One per (sink, topic, table) with events; empty when nothing was routed.
  std::vector<RoutedSinkBatch> batches;

  void clear();
};

class PipelineRunner {
 public:
  // `sinks`: the sinks that exist. Fails, naming the problem, when a route
  // names another sink, when the spec has no routing and there is not
  // exactly one sink (that one then takes every event), or when a plugin's
  // create hook refuses its options now.
  static Result<std::unique_ptr<PipelineRunner>> create(PipelineSpecPtr spec,
                                                        const std::vector<std::string>& sinks,
                                                        RunnerOptions options = {});
  ~PipelineRunner();
  PipelineRunner(const PipelineRunner&) = delete;
  PipelineRunner& operator=(const PipelineRunner&) = delete;

  // Runs the stages over batch.events, routes what is left and fills `out`
  // (cleared first). The events are moved into the sink batches (copied
  // only when routed to more than one destination).
  void run(SinkBatch&& batch, PipelineResult& out);

  // Sink names in index order (RoutedSinkBatch::sink).
  const std::vector<std::string>& sinkNames() const;
  const PipelineSpec& spec() const { return *spec_; }
  const PipelineSpecPtr& specPtr() const { return spec_; }

 private:
  struct Stage;
  PipelineRunner();

  // First, so it is destroyed last: limiters and the router update their
  // counters (gauges) in their destructors.
  std::unique_ptr<MetricsRegistry> own_metrics_;
  PipelineSpecPtr spec_;
  std::vector<Stage> stages_;
  std::unique_ptr<pipeline::Router> router_;
  pipeline::RoutedBatch routed_;
  std::vector<pipeline::RateDecision> decisions_;
  std::vector<uint32_t> uses_;
  std::string tenant_;
  lua::ProcessResult lua_result_;
  LogRateLimiter plugin_log_limiter_{5, std::chrono::seconds(10)};
};

}  // namespace edge::gateway
