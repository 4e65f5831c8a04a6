// The agent core between inputs and the spool. Per input it applies the
// input's parser, then its when_full policy, and buffers the events with the
// input's positions; a buffer is committed as one batch (tagged with the
// input) when batch_max_events or batch_max_bytes is reached or
// flush_interval has passed since the first buffered event.
//
// The spool's size limit (spool.max_bytes) and each input's policy:
//   block        the input is paused (Pressure::kFull) and resumes when acks
//                bring the spool below half the limit (low watermark);
//   drop_newest  new events are discarded while the spool is full; the
//                input's position still advances;
//   drop_oldest  the input's own oldest batches that are not in flight are
//                deleted to make room; with none left, new events are
//                discarded as with drop_newest.
// Every drop is counted in edge_agent_events_dropped_total{input,reason}
// and logged at a bounded rate. A failing spool (disk full, I/O error)
// pauses every input (Pressure::kFailing) and the write is retried.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edge/agent/agent_config.h"
#include "edge/agent/input.h"
#include "edge/agent/input_registry.h"
#include "edge/agent/parser.h"
#include "edge/agent/spool.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"

namespace edge::agent {

class SpoolWriter final : public InputSink {
 public:
  // Pauses after a failed commit are retried this often.
  static constexpr std::chrono::milliseconds kRetryInterval{1000};

  enum class Pressure {
    kNone,     // every input may read
    kFull,     // spool at max_bytes: "block" inputs pause
    kFailing,  // the spool cannot be written: every input pauses
  };

  SpoolWriter(uv_loop_t* loop, Spool& spool, const SpoolConfig& config, MetricsRegistry& metrics);
  ~SpoolWriter() override;
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;

  // Declares an input with its policy and parser (nullptr: none). An input
  // that delivers without being declared is treated as "block", no parser.
  void addInput(const std::string& name, WhenFull when_full, std::unique_ptr<Parser> parser,
                ParserType parser_type = ParserType::kNone);

  Result<void> start();

  // What inputs must respect so one delivery always fits in a batch.
  DeliveryLimits limits() const;

  void deliver(std::string_view input, std::vector<Event>&& events,
               std::vector<InputPosition>&& positions) override;

  // Commits whatever is buffered now (shutdown, tests).
  Result<void> flush();

  // Called after a batch was committed (wake the shipper).
  void setOnAppended(std::function<void()> callback) { on_appended_ = std::move(callback); }
  // Called when the pressure changes.
  void setOnPressure(std::function<void(Pressure)> callback) {
    on_pressure_ = std::move(callback);
  }
  // Tells drop_oldest which batches it must not delete (in flight).
  void setInFlightCheck(std::function<bool(uint64_t)> check) { in_flight_ = std::move(check); }

  // The shipper removed batches: refresh gauges, maybe resume inputs.
  void onSpoolShrunk();

  void close();

  size_t bufferedEvents() const;
  Pressure pressure() const { return pressure_; }
  bool paused() const { return pressure_ != Pressure::kNone; }
  // Events of `input` the policy dropped (both reasons).
  uint64_t droppedEvents(std::string_view input) const;
  uint64_t droppedEvents() const;

 private:
  struct InputState {
    std::string name;
    WhenFull when_full = WhenFull::kBlock;
    std::unique_ptr<Parser> parser;
    std::string parser_name;
    std::vector<Event> events;
    uint64_t bytes = 0;
    // Latest position per path; later deliveries overwrite earlier ones.
    std::map<std::string, InputPosition> positions;
    Counter* dropped_newest = nullptr;
    Counter* dropped_oldest = nullptr;
    Counter* parse_errors = nullptr;
    Counter* conversion_errors = nullptr;
    Counter* fields_dropped = nullptr;
    ParserStats seen;  // the parser's counters when last exported
  };

  InputState& stateFor(std::string_view input);
  void applyParser(InputState& state, std::vector<Event>& events);
  // Applies when_full to events arriving while the spool is full.
  void applyPolicy(InputState& state, std::vector<Event>& events, uint64_t& bytes);
  Result<void> flushInput(InputState& state);
  bool spoolFull() const { return spool_.payloadBytes() >= config_.max_bytes; }
  static void onTimer(uv_timer_t* timer);
  void armTimer(std::chrono::milliseconds delay);
  void updateGauges();
  void updatePressure();

  uv_loop_t* loop_;
  Spool& spool_;
  SpoolConfig config_;
  MetricsRegistry& metrics_;
  uv_timer_t timer_{};
  bool timer_initialized_ = false;
  bool timer_armed_ = false;
  bool closed_ = false;

  std::map<std::string, std::unique_ptr<InputState>, std::less<>> inputs_;

  bool write_failed_ = false;
  Pressure pressure_ = Pressure::kNone;

  std::function<void()> on_appended_;
  std::function<void(Pressure)> on_pressure_;
  std::function<bool(uint64_t)> in_flight_;

  Gauge& spool_batches_;
  Gauge& spool_bytes_;
  Gauge& spool_events_;
  Counter& input_paused_;
  LogRateLimiter error_log_{3, std::chrono::seconds(60)};
  LogRateLimiter drop_log_{5, std::chrono::seconds(60)};
  LogRateLimiter pressure_log_{3, std::chrono::seconds(60)};
};

}  // namespace edge::agent
