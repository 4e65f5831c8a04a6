// The metrics input: configuration, the sampling timer, and deliveries.
#include "inputs/in_metrics/metrics_input.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "edge/agent/pending_delivery.h"

namespace edge::agent {
namespace {

int64_t monotonicNs() { return static_cast<int64_t>(uv_hrtime()); }

}  // namespace

std::unique_ptr<InputSpec> parseMetricsInputSpec(const ConfigNode& node, InputCommonConfig common) {
  rejectUnknownInputKeys(node, {"interval", "collectors", "proc_root", "mount_points",
                                "disk_devices", "network_interfaces"});
  MetricsInputConfig config;
  config.interval = node.getDuration("interval", std::chrono::seconds(10));
  if (config.interval < std::chrono::milliseconds(100) ||
      config.interval > std::chrono::hours(24)) {
    node.addError("interval", "expected a duration between 100ms and 24h");
  }
  if (node["collectors"].exists()) {
    std::vector<std::string> names = node.getStringList("collectors", {});
    config.metrics.collectors.clear();
    for (const std::string& name : names) {
      auto kind = parseCollectorKind(name);
      if (!kind) {
        node.addError("collectors", "unknown collector \"" + name +
                                        "\": expected cpu, memory, load, disk, network or "
                                        "filesystem");
        continue;
      }
      if (std::find(config.metrics.collectors.begin(), config.metrics.collectors.end(), *kind) ==
          config.metrics.collectors.end()) {
        config.metrics.collectors.push_back(*kind);
      }
    }
    if (names.empty()) {
      node.addError("collectors",
                    "expected at least one of cpu, memory, load, disk, network, "
                    "filesystem");
    }
  }
  config.metrics.proc_root = node.getString("proc_root", "/proc");
  if (config.metrics.proc_root.empty() || config.metrics.proc_root.front() != '/') {
    node.addError("proc_root", "expected an absolute path, e.g. /proc");
  }
  config.metrics.mount_points = node.getStringList("mount_points", {"/"});
  config.metrics.disk_devices = node.getStringList("disk_devices", {});
  config.metrics.network_interfaces = node.getStringList("network_interfaces", {});
  return std::make_unique<BasicInputSpec<MetricsInput, MetricsInputConfig>>(std::move(common), std::move(config));
}

const InputTypeInfo& metricsInputType() {
  // block: pausing only skips samples; the cumulative counters lose nothing.
  static const InputTypeInfo kInfo{"metrics", "metric", &parseMetricsInputSpec, WhenFull::kBlock};
  return kInfo;
}

MetricsInput::MetricsInput(const InputContext& context, InputCommonConfig common,
                           MetricsInputConfig config)
    : loop_(context.loop),
      common_(std::move(common)),
      config_(std::move(config)),
      limits_(context.limits),
      sink_(*context.sink),
      events_read_(context.metrics->counter("edge_agent_events_read_total", "Events read by inputs",
                                            {{"input", common_.name}})),
      errors_(context.metrics->counter("edge_agent_input_errors_total",
                                       "I/O errors seen by inputs (open, read, stat)",
                                       {{"input", common_.name}})),
      collector_(config_.metrics, common_.kind.empty() ? "metric" : common_.kind,
                 context.hostname) {
  if (limits_.max_events == 0) limits_.max_events = 1;
}

MetricsInput::~MetricsInput() = default;

Result<void> MetricsInput::start(std::vector<InputPosition> /*saved*/) {
  if (started_) return makeError(ErrorCode::kInternal, "input " + common_.name + " started twice");
  int rc = uv_timer_init(loop_, &timer_);
  if (rc != 0) {
    return makeError(ErrorCode::kInternal,
                     "input " + common_.name + ": cannot create its timer: " + uv_strerror(rc));
  }
  timer_.data = this;
  timer_initialized_ = true;
  started_ = true;
  // The baseline for rates; its events are not delivered.
  (void)collector_.collect(monotonicNs(), nowNs());
  if (collector_.errors() > 0) {
    spdlog::warn("input {}: {} (that collector is skipped; check proc_root and mount_points)",
                 common_.name, collector_.lastError());
  }
  reported_errors_ = collector_.errors();
  stats_.errors = reported_errors_;
  errors_.inc(reported_errors_);
  auto interval = static_cast<uint64_t>(config_.interval.count());
  uv_timer_start(&timer_, &MetricsInput::onTimer, interval, interval);
  return okResult();
}

void MetricsInput::pause() {
  if (paused_) return;
  paused_ = true;
  if (timer_initialized_ && !closed_) uv_timer_stop(&timer_);
}

void MetricsInput::resume() {
  if (!paused_) return;
  paused_ = false;
  if (!started_ || closed_) return;
  auto interval = static_cast<uint64_t>(config_.interval.count());
  uv_timer_start(&timer_, &MetricsInput::onTimer, interval, interval);
}

void MetricsInput::close() {
  if (closed_) return;
  closed_ = true;
  if (timer_initialized_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

InputStats MetricsInput::stats() const { return stats_; }

void MetricsInput::onTimer(uv_timer_t* timer) {
  static_cast<MetricsInput*>(timer->data)->sampleNow();
}

void MetricsInput::sampleNow() {
  if (closed_ || paused_) return;
  std::vector<Event> events = collector_.collect(monotonicNs(), nowNs());
  ++samples_;
  if (collector_.errors() > reported_errors_) {
    uint64_t added = collector_.errors() - reported_errors_;
    reported_errors_ = collector_.errors();
    stats_.errors += added;
    errors_.inc(added);
    if (uint64_t n = log_limiter_.allow(); n != 0) {
      spdlog::warn("input {}: {} (that collector is skipped this sample)", common_.name,
                   collector_.lastError());
    }
  }
  deliver(std::move(events));
}

void MetricsInput::deliver(std::vector<Event>&& events) {
  stats_.events_read += events.size();
  events_read_.inc(events.size());
  // One delivery must fit one spool batch.
  PendingDelivery delivery(sink_, common_.name, limits_);
  for (Event& event : events) delivery.add(std::move(event));
  delivery.flush();
}

}  // namespace edge::agent
