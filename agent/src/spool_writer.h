// The agent core between inputs and the spool: buffers deliveries and
// commits them as one batch when batch_max_events or batch_max_bytes is
// reached or flush_interval has passed since the first buffered event. It
// also applies the spool's size limit: above spool.max_bytes the inputs are
// paused until acks free space (the "block" policy).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "edge/agent/agent_config.h"
#include "edge/agent/input.h"
#include "edge/agent/spool.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"

namespace edge::agent {

class SpoolWriter final : public InputSink {
 public:
  // Pauses after a failed commit are retried this often.
  static constexpr std::chrono::milliseconds kRetryInterval{1000};

  SpoolWriter(uv_loop_t* loop, Spool& spool, const SpoolConfig& config, MetricsRegistry& metrics);
  ~SpoolWriter() override;
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  Result<void> start();

  // What inputs must respect so one delivery always fits in a batch.
  DeliveryLimits limits() const;

  void deliver(std::string_view input, std::vector<Event>&& events,
               std::vector<InputPosition>&& positions) override;

  // Commits whatever is buffered now (shutdown, tests).
  Result<void> flush();

  // Called after a batch was committed (wake the shipper).
  void setOnAppended(std::function<void()> callback) { on_appended_ = std::move(callback); }
  // Called with true when inputs must pause, false when they may resume.
  void setOnPressure(std::function<void(bool)> callback) { on_pressure_ = std::move(callback); }

  // The shipper removed batches: refresh gauges, maybe resume inputs.
  void onSpoolShrunk();

  void close();

  size_t bufferedEvents() const { return events_.size(); }
  bool paused() const { return over_limit_ || write_failed_; }

 private:
  static void onTimer(uv_timer_t* timer);
  void armTimer(std::chrono::milliseconds delay);
  void updateGauges();
  void updatePressure();

  uv_loop_t* loop_;
  Spool& spool_;
  SpoolConfig config_;
  uv_timer_t timer_{};
  bool timer_initialized_ = false;
  bool timer_armed_ = false;
  bool closed_ = false;

  std::vector<Event> events_;
  uint64_t bytes_ = 0;
  // Latest position per (input, path); later deliveries overwrite earlier ones.
  std::map<std::pair<std::string, std::string>, InputPosition> positions_;

  bool over_limit_ = false;
  bool write_failed_ = false;
  bool inputs_paused_ = false;

  std::function<void()> on_appended_;
  std::function<void(bool)> on_pressure_;

  Gauge& spool_batches_;
  Gauge& spool_bytes_;
  Gauge& spool_events_;
  Counter& input_paused_;
  LogRateLimiter error_log_{3, std::chrono::seconds(60)};
};

}  // namespace edge::agent
