// The metrics input ("type: metrics"): host CPU, memory, load, disk,
// network and filesystem metrics from /proc on an interval, as events (see
// metrics_collector.h for the fields). It reads the counters once at start,
// so the first events, one interval later, already carry rates.
//
//   - type: metrics
//     interval: 10s
//     collectors: [cpu, memory, load, disk, network, filesystem]
//     mount_points: ["/"]
//     disk_devices: []        # fnmatch patterns; empty: all but loop*, ram*
//     network_interfaces: []  # fnmatch patterns; empty: all
//     proc_root: /proc
//
// There are no positions. While paused (spool full with when_full: block)
// no samples are taken; the counters are cumulative, so the rates of the
// next sample cover the gap and nothing is lost but resolution.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <string>

#include "edge/agent/input.h"
#include "edge/agent/input_registry.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "inputs/in_metrics/metrics_collector.h"

namespace edge::agent {

struct MetricsInputConfig {
  std::chrono::milliseconds interval{10000};
  MetricsConfig metrics;
};

std::unique_ptr<InputSpec> parseMetricsInputSpec(const ConfigNode& node, InputCommonConfig common);
// The registry entry (agent/src/input_registry.cc).
const InputTypeInfo& metricsInputType();

class MetricsInput final : public Input {
 public:
  MetricsInput(const InputContext& context, InputCommonConfig common, MetricsInputConfig config);
  ~MetricsInput() override;
  MetricsInput(const MetricsInput&) = delete;
  MetricsInput& operator=(const MetricsInput&) = delete;

  const std::string& name() const override { return common_.name; }
  std::string_view type() const override { return "metrics"; }
  Result<void> start(std::vector<InputPosition> saved) override;
  void pause() override;
  void resume() override;
  void close() override;
  InputStats stats() const override;

  // Takes a sample now and delivers it (tests).
  void sampleNow();
  uint64_t samples() const { return samples_; }

 private:
  static void onTimer(uv_timer_t* timer);
  void deliver(std::vector<Event>&& events);

  uv_loop_t* loop_;
  InputCommonConfig common_;
  MetricsInputConfig config_;
  DeliveryLimits limits_;
  InputSink& sink_;
  Counter& events_read_;
  Counter& errors_;
  MetricsCollector collector_;
  uv_timer_t timer_{};
  bool timer_initialized_ = false;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  uint64_t samples_ = 0;
  uint64_t reported_errors_ = 0;
  InputStats stats_;
  LogRateLimiter log_limiter_{5, std::chrono::minutes(10)};
};

}  // namespace edge::agent
