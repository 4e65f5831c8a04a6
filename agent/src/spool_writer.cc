// SpoolWriter: per-input parsing, when_full policies, batching of input
// deliveries into spool transactions, the flush timer, and pausing inputs
// on a full or failing spool.
#include "spool_writer.h"

#include <spdlog/spdlog.h>

namespace edge::agent {
namespace {

const char* parserName(ParserType type) {
  switch (type) {
    case ParserType::kJson:
      return "json";
    case ParserType::kLogfmt:
      return "logfmt";
    case ParserType::kRegex:
      return "regex";
    case ParserType::kSyslog:
      return "syslog";
    case ParserType::kNone:
      break;
  }
  return "none";
}

}  // namespace

SpoolWriter::SpoolWriter(uv_loop_t* loop, Spool& spool, const SpoolConfig& config,
                         MetricsRegistry& metrics)
    : loop_(loop),
      spool_(spool),
      config_(config),
      metrics_(metrics),
      spool_batches_(
          metrics.gauge("edge_agent_spool_batches", "Batches in the spool, waiting for an ack")),
      spool_bytes_(
          metrics.gauge("edge_agent_spool_bytes", "Payload bytes of the batches in the spool")),
      spool_events_(
          metrics.gauge("edge_agent_spool_events", "Events in the spool, waiting for an ack")),
      input_paused_(metrics.counter(
          "edge_agent_input_paused_total",
          "Times the spool became full (block inputs pause) or failing (all inputs pause)")) {
  updateGauges();
}

SpoolWriter::~SpoolWriter() = default;

void SpoolWriter::addInput(const std::string& name, WhenFull when_full,
                           std::unique_ptr<Parser> parser, ParserType parser_type) {
  InputState& state = stateFor(name);
  state.when_full = when_full;
  state.parser = std::move(parser);
  state.parser_name = parserName(parser_type);
}

SpoolWriter::InputState& SpoolWriter::stateFor(std::string_view input) {
  auto it = inputs_.find(input);
  if (it != inputs_.end()) return *it->second;
  auto state = std::make_unique<InputState>();
  state->name = std::string(input);
  const char* help = "Events the agent dropped: reason drop_newest (new events discarded while "
                     "the spool was full) or drop_oldest (old batches deleted to make room)";
  state->dropped_newest = &metrics_.counter("edge_agent_events_dropped_total", help,
                                            {{"input", state->name}, {"reason", "drop_newest"}});
  state->dropped_oldest = &metrics_.counter("edge_agent_events_dropped_total", help,
                                            {{"input", state->name}, {"reason", "drop_oldest"}});
  state->parse_errors = &metrics_.counter(
      "edge_agent_parse_errors_total",
      "Records the input's parser could not read; kept raw with a parse_error field",
      {{"input", state->name}});
  state->conversion_errors = &metrics_.counter(
      "edge_agent_parser_conversion_errors_total",
      "Values the input's parser could not convert (types:, time_key); left as text",
      {{"input", state->name}});
  state->fields_dropped = &metrics_.counter(
      "edge_agent_parser_fields_dropped_total",
      "Fields the input's parser dropped beyond its per-record limit", {{"input", state->name}});
  InputState& ref = *state;
  std::string key = ref.name;
  inputs_.emplace(std::move(key), std::move(state));
  return ref;
}

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

void SpoolWriter::applyParser(InputState& state, std::vector<Event>& events) {
  if (!state.parser || events.empty()) return;
  for (Event& event : events) {
    if (state.parser->parse(event)) continue;
    state.parse_errors->inc();
    if (event.findField("parse_error") == nullptr) {
      event.setField("parse_error", std::string(state.parser_name));
    }
  }
  // The parser's own counters, exported as the growth since last time.
  ParserStats now = state.parser->stats();
  if (now.conversion_errors > state.seen.conversion_errors) {
    state.conversion_errors->inc(now.conversion_errors - state.seen.conversion_errors);
  }
  if (now.fields_dropped > state.seen.fields_dropped) {
    state.fields_dropped->inc(now.fields_dropped - state.seen.fields_dropped);
  }
  state.seen = now;
}

void SpoolWriter::applyPolicy(InputState& state, std::vector<Event>& events, uint64_t& bytes) {
  if (events.empty() || !spoolFull() || state.when_full == WhenFull::kBlock) return;
  if (state.when_full == WhenFull::kDropOldest) {
    // Just below the limit: the new batch then takes the room, and the next
    // delivery while full deletes the next oldest. (Its compressed size is
    // not known before it is encoded.)
    uint64_t need = spool_.payloadBytes() - config_.max_bytes + 1;
    auto dropped = spool_.dropOldest(state.name, need, in_flight_);
    if (!dropped) {
      if (uint64_t n = error_log_.allow(); n != 0) {
        spdlog::error("input {}: cannot drop old batches to make room: {}", state.name,
                      dropped.error().message);
      }
    } else if (dropped->events > 0) {
      state.dropped_oldest->inc(dropped->events);
      updateGauges();
      if (uint64_t n = drop_log_.allow(); n != 0) {
        spdlog::warn(
            "input {}: the spool is full (spool.max_bytes {}); deleted its {} oldest unsent "
            "batches ({} events) to make room (when_full: drop_oldest){}",
            state.name, config_.max_bytes, dropped->batches, dropped->events,
            n > 1 ? "; " + std::to_string(n - 1) + " similar messages suppressed" : std::string());
      }
      if (!spoolFull()) return;
    }
  }
  // drop_newest, or drop_oldest with nothing of its own left to delete.
  state.dropped_newest->inc(events.size());
  if (uint64_t n = drop_log_.allow(); n != 0) {
    spdlog::warn(
        "input {}: the spool is full ({} of spool.max_bytes {} bytes); dropped {} new events "
        "(when_full: {}){}; the gateway is not acking fast enough or is unreachable",
        state.name, spool_.payloadBytes(), config_.max_bytes, events.size(),
        whenFullName(state.when_full),
        n > 1 ? "; " + std::to_string(n - 1) + " similar messages suppressed" : std::string());
  }
  events.clear();
  bytes = 0;
}

void SpoolWriter::deliver(std::string_view input, std::vector<Event>&& events,
                          std::vector<InputPosition>&& positions) {
  InputState& state = stateFor(input);
  applyParser(state, events);
  uint64_t bytes = 0;
  for (const Event& event : events) bytes += estimateEventBytes(event);
  applyPolicy(state, events, bytes);
  // Commit what is buffered first if this delivery would not fit, so a batch
  // always ends on a position the input reported.
  if (!state.events.empty() && !events.empty() &&
      (state.events.size() + events.size() > config_.batch_max_events ||
       state.bytes + bytes > config_.batch_max_bytes)) {
    (void)flushInput(state);  // a failure is logged and retried; the events stay buffered
  }
  if (state.events.empty()) {
    state.events = std::move(events);
  } else {
    state.events.insert(state.events.end(), std::make_move_iterator(events.begin()),
                        std::make_move_iterator(events.end()));
  }
  state.bytes += bytes;
  for (InputPosition& pos : positions) {
    std::string key = pos.path;
    state.positions.insert_or_assign(std::move(key), std::move(pos));
  }
  if (state.events.size() >= config_.batch_max_events || state.bytes >= config_.batch_max_bytes) {
    (void)flushInput(state);
  } else if ((!state.events.empty() || !state.positions.empty()) && !timer_armed_ &&
             !write_failed_) {
    armTimer(config_.flush_interval);
  }
}

Result<void> SpoolWriter::flush() {
  for (auto& [name, state] : inputs_) EDGE_TRY(flushInput(*state));
  return okResult();
}

Result<void> SpoolWriter::flushInput(InputState& state) {
  if (state.events.empty() && state.positions.empty()) return okResult();
  std::vector<InputPosition> positions;
  positions.reserve(state.positions.size());
  for (auto& [key, pos] : state.positions) positions.push_back(pos);
  auto appended = spool_.append(state.events, positions, state.name);
  if (!appended) {
    if (uint64_t n = error_log_.allow(); n != 0) {
      spdlog::error(
          "cannot write {} events of input {} to the spool: {}; inputs are paused and the write "
          "is retried every {}s",
          state.events.size(), state.name, appended.error().message,
          kRetryInterval.count() / 1000);
    }
    write_failed_ = true;
    updatePressure();
    armTimer(kRetryInterval);
    return appended.error();
  }
  state.events.clear();
  state.bytes = 0;
  state.positions.clear();
  if (bufferedEvents() == 0 && timer_armed_) {
    bool any_positions = false;
    for (auto& [name, other] : inputs_) any_positions |= !other->positions.empty();
    if (!any_positions) {
      uv_timer_stop(&timer_);
      timer_armed_ = false;
    }
  }
  if (write_failed_) {
    write_failed_ = false;
    spdlog::info("the spool {} accepts writes again", spool_.path());
  }
  updateGauges();
  updatePressure();
  if (appended->batch_id != 0) {
    spdlog::trace("spooled batch {} of input {} (seq {}..{}, {} bytes)", appended->batch_id,
                  state.name, appended->first_seq, appended->last_seq, appended->payload_bytes);
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

size_t SpoolWriter::bufferedEvents() const {
  size_t n = 0;
  for (const auto& [name, state] : inputs_) n += state->events.size();
  return n;
}

uint64_t SpoolWriter::droppedEvents(std::string_view input) const {
  auto it = inputs_.find(input);
  if (it == inputs_.end()) return 0;
  return it->second->dropped_newest->value() + it->second->dropped_oldest->value();
}

uint64_t SpoolWriter::droppedEvents() const {
  uint64_t n = 0;
  for (const auto& [name, state] : inputs_)
    n += state->dropped_newest->value() + state->dropped_oldest->value();
  return n;
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
  // Blocked inputs resume only below half the limit (the low watermark), so
  // a spool hovering at the limit does not pause and resume them per ack.
  bool was_full = pressure_ == Pressure::kFull;
  bool full = was_full ? spool_.payloadBytes() > config_.max_bytes / 2 : spoolFull();
  Pressure next = write_failed_ ? Pressure::kFailing
                  : full        ? Pressure::kFull
                                : Pressure::kNone;
  if (next == pressure_) return;
  if (next == Pressure::kFull) {
    if (uint64_t n = pressure_log_.allow(); n != 0) {
      spdlog::warn(
          "the spool {} holds {} bytes, at spool.max_bytes ({}): inputs with when_full: block "
          "pause until acks bring it below half of that; drop_newest/drop_oldest inputs drop "
          "(raise spool.max_bytes to buffer more){}",
          spool_.path(), spool_.payloadBytes(), config_.max_bytes,
          n > 1 ? "; " + std::to_string(n - 1) + " similar messages suppressed" : std::string());
    }
  } else if (next == Pressure::kNone && was_full) {
    spdlog::debug("the spool {} is below half of spool.max_bytes; resuming inputs", spool_.path());
  }
  if (next != Pressure::kNone) input_paused_.inc();
  pressure_ = next;
  if (on_pressure_) on_pressure_(next);
}

}  // namespace edge::agent
