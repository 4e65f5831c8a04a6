// SpoolWriter: batching of input deliveries into spool transactions, the
// flush timer, and pausing inputs on a full or failing spool.
#include "spool_writer.h"

#include <spdlog/spdlog.h>

namespace edge::agent {

SpoolWriter::SpoolWriter(uv_loop_t* loop, Spool& spool, const SpoolConfig& config,
                         MetricsRegistry& metrics)
    : loop_(loop),
      spool_(spool),
      config_(config),
      spool_batches_(
          metrics.gauge("edge_agent_spool_batches", "Batches in the spool, waiting for an ack")),
      spool_bytes_(
          metrics.gauge("edge_agent_spool_bytes", "Payload bytes of the batches in the spool")),
      spool_events_(
          metrics.gauge("edge_agent_spool_events", "Events in the spool, waiting for an ack")),
      input_paused_(
          metrics.counter("edge_agent_input_paused_total",
                          "Times inputs were paused because the spool was full or failing")) {
  updateGauges();
}

SpoolWriter::~SpoolWriter() = default;

Result<void> SpoolWriter::start() {
  int rc = uv_timer_init(loop_, &timer_);
  if (rc != 0)
    return makeError(ErrorCode::kInternal, std::string("spool flush timer: ") + uv_strerror(rc));
  timer_.data = this;
  timer_initialized_ = true;
  updatePressure();
  return okResult();
}

DeliveryLimits SpoolWriter::limits() const {
  return DeliveryLimits{config_.batch_max_events, config_.batch_max_bytes};
}

void SpoolWriter::deliver(std::string_view input, std::vector<Event>&& events,
                          std::vector<InputPosition>&& positions) {
  (void)input;
  uint64_t bytes = 0;
  for (const Event& event : events) bytes += estimateEventBytes(event);
  // Commit what is buffered first if this delivery would not fit, so a batch
  // always ends on a position some input reported.
  if (!events_.empty() && !events.empty() &&
      (events_.size() + events.size() > config_.batch_max_events ||
       bytes_ + bytes > config_.batch_max_bytes)) {
    (void)flush();  // a failure is logged and retried; the events stay buffered
  }
  if (events_.empty()) {
    events_ = std::move(events);
  } else {
    events_.insert(events_.end(), std::make_move_iterator(events.begin()),
                   std::make_move_iterator(events.end()));
  }
  bytes_ += bytes;
  for (InputPosition& pos : positions) {
    auto key = std::make_pair(pos.input, pos.path);
    positions_.insert_or_assign(std::move(key), std::move(pos));
  }
  if (events_.size() >= config_.batch_max_events || bytes_ >= config_.batch_max_bytes) {
    (void)flush();
  } else if ((!events_.empty() || !positions_.empty()) && !timer_armed_ && !write_failed_) {
    armTimer(config_.flush_interval);
  }
}

Result<void> SpoolWriter::flush() {
  if (events_.empty() && positions_.empty()) return okResult();
  std::vector<InputPosition> positions;
  positions.reserve(positions_.size());
  for (auto& [key, pos] : positions_) positions.push_back(pos);
  auto appended = spool_.append(events_, positions);
  if (!appended) {
    if (uint64_t n = error_log_.allow(); n != 0) {
      spdlog::error(
          "cannot write {} events to the spool: {}; inputs are paused and the write is retried "
          "every "
          "{}s",
          events_.size(), appended.error().message, kRetryInterval.count() / 1000);
    }
    write_failed_ = true;
    updatePressure();
    armTimer(kRetryInterval);
    return appended.error();
  }
  events_.clear();
  bytes_ = 0;
  positions_.clear();
  if (timer_armed_) {
    uv_timer_stop(&timer_);
    timer_armed_ = false;
  }
  if (write_failed_) {
    write_failed_ = false;
    spdlog::info("the spool {} accepts writes again", spool_.path());
  }
  updateGauges();
  updatePressure();
  if (appended->batch_id != 0) {
    spdlog::trace("spooled batch {} (seq {}..{}, {} bytes)", appended->batch_id,
                  appended->first_seq, appended->last_seq, appended->payload_bytes);
    if (on_appended_) on_appended_();
  }
  return okResult();
}

void SpoolWriter::onSpoolShrunk() {
  updateGauges();
  updatePressure();
}

void SpoolWriter::close() {
  if (closed_) return;
  closed_ = true;
  if (timer_initialized_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  timer_armed_ = false;
}

void SpoolWriter::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<SpoolWriter*>(timer->data);
  self->timer_armed_ = false;
  (void)self->flush();
}

void SpoolWriter::armTimer(std::chrono::milliseconds delay) {
  if (!timer_initialized_ || closed_) return;
  uv_timer_start(&timer_, &SpoolWriter::onTimer, static_cast<uint64_t>(delay.count()), 0);
  timer_armed_ = true;
}

void SpoolWriter::updateGauges() {
  spool_batches_.set(static_cast<int64_t>(spool_.batchCount()));
  spool_bytes_.set(static_cast<int64_t>(spool_.payloadBytes()));
  spool_events_.set(static_cast<int64_t>(spool_.eventCount()));
}

void SpoolWriter::updatePressure() {
  bool over = spool_.payloadBytes() >= config_.max_bytes;
  if (over != over_limit_) {
    over_limit_ = over;
    if (over) {
      spdlog::warn(
          "the spool {} holds {} bytes, at spool.max_bytes ({}): pausing inputs until the gateway "
          "acks "
          "batches (raise spool.max_bytes to buffer more)",
          spool_.path(), spool_.payloadBytes(), config_.max_bytes);
    } else {
      spdlog::info("the spool {} is below spool.max_bytes again; resuming inputs", spool_.path());
    }
  }
  bool pause = over_limit_ || write_failed_;
  if (pause == inputs_paused_) return;
  inputs_paused_ = pause;
  if (pause) input_paused_.inc();
  if (on_pressure_) on_pressure_(pause);
}

}  // namespace edge::agent
