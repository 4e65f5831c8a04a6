// The edge_host_* callback table over edge::Event, and the batch wrapper
// behind edge_batch: stable event handles, drops marked during the call and
// applied afterwards, emitted events kept aside so that no view a plugin
// holds into another event moves while the hook runs.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <new>

#include "internal.h"

struct edge_event {
  edge::Event* event = nullptr;
  edge_batch* batch = nullptr;
  bool dropped = false;
  bool emitted = false;
};

struct edge_batch {
  std::vector<edge::Event>* events = nullptr;  // null for a read-only batch
  const std::vector<edge::Event>* source = nullptr;
  edge::plugins::BatchContext context;
  std::function<int64_t()> clock;
  std::vector<edge_event> handles;  // one per original event, sized once
  std::deque<edge::Event> emitted;  // deque: addresses stay put while it grows
  std::deque<edge_event> emitted_handles;
  bool committed = false;

  bool readOnly() const { return events == nullptr || committed; }
  size_t size() const { return handles.size() + emitted_handles.size(); }
};

namespace {

using edge::Event;
using edge::FieldValue;

edge_str view(const std::string& s) { return edge_str{s.data(), s.size()}; }

std::string_view toView(edge_str s) {
  return s.len == 0 || s.data == nullptr ? std::string_view() : std::string_view(s.data, s.len);
}

bool validStr(edge_str s) { return s.len == 0 || s.data != nullptr; }

bool writable(const edge_event* e) { return e != nullptr && !e->batch->readOnly(); }

void fill(const FieldValue& v, edge_value* out) {
  *out = edge_value{};
  if (const auto* s = std::get_if<std::string>(&v)) {
    out->type = EDGE_VALUE_STRING;
    out->string = view(*s);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    out->type = EDGE_VALUE_INT;
    out->integer = *i;
  } else if (const auto* d = std::get_if<double>(&v)) {
    out->type = EDGE_VALUE_DOUBLE;
    out->number = *d;
  } else {
    out->type = EDGE_VALUE_BOOL;
    out->boolean = std::get<bool>(v) ? 1 : 0;
  }
}

std::string* attribute(Event& e, int attr) {
  switch (attr) {
    case EDGE_ATTR_KIND:
      return &e.kind;
    case EDGE_ATTR_SOURCE:
      return &e.source;
    case EDGE_ATTR_HOST:
      return &e.host;
    case EDGE_ATTR_TENANT:
      return &e.tenant;
    case EDGE_ATTR_RAW:
      return &e.raw;
    default:
      return nullptr;
  }
}

// --- batch ------------------------------------------------------------------

size_t batchSize(const edge_batch* batch) noexcept { return batch ? batch->size() : 0; }

edge_event* batchEvent(const edge_batch* batch, size_t index) noexcept {
  if (batch == nullptr) return nullptr;
  auto* b =
      const_cast<edge_batch*>(batch);  // handles are host memory; the batch decides writability
  if (index < b->handles.size()) return &b->handles[index];
  index -= b->handles.size();
  if (index < b->emitted_handles.size()) return &b->emitted_handles[index];
  return nullptr;
}

void batchInfo(const edge_batch* batch, edge_batch_info* info) noexcept {
  if (batch == nullptr || info == nullptr || info->struct_size < sizeof(uint32_t)) return;
  edge_batch_info full{};
  full.struct_size = info->struct_size;
  full.agent_id = edge_str{batch->context.agent_id.data(), batch->context.agent_id.size()};
  full.batch_id = batch->context.batch_id;
  full.received_ns = batch->context.received_ns;
  full.tenant = edge_str{batch->context.tenant.data(), batch->context.tenant.size()};
  // A plugin built against an older header passes a smaller struct.
  size_t n = std::min<size_t>(info->struct_size, sizeof(full));
  std::memcpy(info, &full, n);
}

edge_event* batchEmit(edge_batch* batch, const edge_event* copy_from) noexcept {
  if (batch == nullptr || batch->readOnly()) return nullptr;
  try {
    if (copy_from != nullptr) {
      batch->emitted.push_back(*copy_from->event);
    } else {
      Event blank;
      blank.ts_ns = batch->clock ? batch->clock() : edge::nowNs();
      blank.tenant = std::string(batch->context.tenant);
      batch->emitted.push_back(std::move(blank));
    }
    batch->emitted_handles.push_back(edge_event{&batch->emitted.back(), batch, false, true});
    return &batch->emitted_handles.back();
  } catch (...) {
    return nullptr;
  }
}

// --- event attributes -------------------------------------------------------

edge_str eventGetStr(const edge_event* e, int attr) noexcept {
  if (e == nullptr) return edge_str{nullptr, 0};
  const std::string* s = attribute(*e->event, attr);
  return s ? view(*s) : edge_str{nullptr, 0};
}

int eventSetStr(edge_event* e, int attr, edge_str value) noexcept {
  if (e == nullptr || !validStr(value)) return EDGE_HOST_INVALID;
  if (attr == EDGE_ATTR_TENANT || !writable(e)) return EDGE_HOST_READ_ONLY;
  std::string* s = attribute(*e->event, attr);
  if (s == nullptr) return EDGE_HOST_INVALID;
  try {
    // Copy first: the value may be a view into this very string.
    std::string copy(toView(value));
    *s = std::move(copy);
  } catch (...) {
    return EDGE_HOST_NO_MEMORY;
  }
  return EDGE_HOST_OK;
}

int64_t eventGetTs(const edge_event* e) noexcept { return e ? e->event->ts_ns : 0; }

int eventSetTs(edge_event* e, int64_t ts) noexcept {
  if (e == nullptr) return EDGE_HOST_INVALID;
  if (!writable(e)) return EDGE_HOST_READ_ONLY;
  e->event->ts_ns = ts;
  return EDGE_HOST_OK;
}

int eventGetSeverity(const edge_event* e) noexcept {
  return e ? static_cast<int>(e->event->severity) : static_cast<int>(edge::Severity::kInfo);
}

int eventSetSeverity(edge_event* e, int severity) noexcept {
  if (e == nullptr || severity < 0 || severity > 7) return EDGE_HOST_INVALID;
  if (!writable(e)) return EDGE_HOST_READ_ONLY;
  e->event->severity = static_cast<edge::Severity>(severity);
  return EDGE_HOST_OK;
}

uint64_t eventGetSeq(const edge_event* e) noexcept { return e ? e->event->seq : 0; }

// --- fields -----------------------------------------------------------------

int eventGetField(const edge_event* e, edge_str key, edge_value* out) noexcept {
  if (e == nullptr || out == nullptr || !validStr(key)) return EDGE_HOST_INVALID;
  const FieldValue* v = e->event->findField(toView(key));
  if (v == nullptr) return EDGE_HOST_NOT_FOUND;
  fill(*v, out);
  return EDGE_HOST_OK;
}

int eventSetField(edge_event* e, edge_str key, const edge_value* value) noexcept {
  if (e == nullptr || value == nullptr || !validStr(key) || key.len == 0) return EDGE_HOST_INVALID;
  if (!writable(e)) return EDGE_HOST_READ_ONLY;
  try {
    FieldValue v;
    switch (value->type) {
      case EDGE_VALUE_STRING:
        if (!validStr(value->string)) return EDGE_HOST_INVALID;
        v = std::string(toView(value->string));  // copied before the event changes
        break;
      case EDGE_VALUE_INT:
        v = value->integer;
        break;
      case EDGE_VALUE_DOUBLE:
        v = value->number;
        break;
      case EDGE_VALUE_BOOL:
        v = value->boolean != 0;
        break;
      default:
        return EDGE_HOST_INVALID;
    }
    std::string k(toView(key));
    e->event->setField(k, std::move(v));
  } catch (...) {
    return EDGE_HOST_NO_MEMORY;
  }
  return EDGE_HOST_OK;
}

int eventRemoveField(edge_event* e, edge_str key) noexcept {
  if (e == nullptr || !validStr(key)) return EDGE_HOST_INVALID;
  if (!writable(e)) return EDGE_HOST_READ_ONLY;
  try {
    std::string k(toView(key));  // the key may be a view into the field being erased
    return e->event->removeField(k) ? EDGE_HOST_OK : EDGE_HOST_NOT_FOUND;
  } catch (...) {
    return EDGE_HOST_NO_MEMORY;
  }
}

size_t eventFieldCount(const edge_event* e) noexcept { return e ? e->event->fields.size() : 0; }

int eventFieldAt(const edge_event* e, size_t index, edge_str* key, edge_value* value) noexcept {
  if (e == nullptr) return EDGE_HOST_INVALID;
  if (index >= e->event->fields.size()) return EDGE_HOST_NOT_FOUND;
  const edge::Field& f = e->event->fields[index];
  if (key != nullptr) *key = view(f.key);
  if (value != nullptr) fill(f.value, value);
  return EDGE_HOST_OK;
}

int eventDrop(edge_event* e) noexcept {
  if (e == nullptr) return EDGE_HOST_INVALID;
  if (!writable(e)) return EDGE_HOST_READ_ONLY;
  e->dropped = true;
  return EDGE_HOST_OK;
}

int eventIsDropped(const edge_event* e) noexcept { return e && e->dropped ? 1 : 0; }

// --- services ---------------------------------------------------------------

void hostLog(edge_host_ctx* ctx, int level, edge_str message) noexcept {
  if (ctx == nullptr || !validStr(message)) return;
  using edge::plugins::LogLevel;
  LogLevel l = level <= EDGE_LOG_DEBUG  ? LogLevel::kDebug
               : level == EDGE_LOG_INFO ? LogLevel::kInfo
               : level == EDGE_LOG_WARN ? LogLevel::kWarn
                                        : LogLevel::kError;
  try {
    ctx->log(l, toView(message));
  } catch (...) {
    // Logging must never take the plugin down.
  }
}

bool validCounterName(std::string_view name) {
  if (name.empty() || name.size() > 100) return false;
  if (!((name.front() >= 'a' && name.front() <= 'z') || name.front() == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

edge_counter* counterCreate(edge_host_ctx* ctx, edge_str name, edge_str help) noexcept {
  if (ctx == nullptr || !validStr(name) || !validStr(help) || !validCounterName(toView(name))) {
    return nullptr;
  }
  try {
    std::string full = "edge_plugin_" + ctx->plugin_name + "_" + std::string(toView(name));
    std::string help_text(toView(help));
    if (help_text.empty()) help_text = "Counter of plugin " + ctx->plugin_name;
    edge::Counter& counter =
        ctx->metrics->counter(full, help_text, {{"instance", ctx->instance_name}});
    std::lock_guard<std::mutex> lock(ctx->counters_mutex);
    ctx->counters.push_back(edge_counter{&counter});
    return &ctx->counters.back();
  } catch (...) {
    return nullptr;
  }
}

void counterAdd(edge_counter* counter, uint64_t n) noexcept {
  if (counter != nullptr && counter->counter != nullptr) counter->counter->inc(n);
}

int64_t nowNs(edge_host_ctx* ctx) noexcept {
  if (ctx == nullptr) return edge::nowNs();
  try {
    return ctx->now();
  } catch (...) {
    return edge::nowNs();
  }
}

const edge_host_api kHostApi = {
    sizeof(edge_host_api),
    EDGE_PLUGIN_ABI_MINOR,
    &batchSize,
    &batchEvent,
    &batchInfo,
    &batchEmit,
    &eventGetStr,
    &eventSetStr,
    &eventGetTs,
    &eventSetTs,
    &eventGetSeverity,
    &eventSetSeverity,
    &eventGetSeq,
    &eventGetField,
    &eventSetField,
    &eventRemoveField,
    &eventFieldCount,
    &eventFieldAt,
    &eventDrop,
    &eventIsDropped,
    &hostLog,
    &counterCreate,
    &counterAdd,
    &nowNs,
};

}  // namespace

edge_host_ctx::edge_host_ctx(std::string plugin, std::string instance,
                             edge::plugins::HostEnvironment environment)
    : plugin_name(std::move(plugin)),
      instance_name(std::move(instance)),
      env(std::move(environment)) {
  if (env.metrics == nullptr) own_metrics = std::make_unique<edge::MetricsRegistry>();
  metrics = env.metrics ? env.metrics : own_metrics.get();
  edge::MetricLabels labels{{"plugin", plugin_name}, {"instance", instance_name}};
  dropped = &metrics->counter("edge_plugins_events_dropped_total",
                              "Events dropped by plugin instances", labels);
  emitted = &metrics->counter("edge_plugins_events_emitted_total",
                              "Events emitted by plugin instances", labels);
  errors =
      &metrics->counter("edge_plugins_errors_total", "Hook calls a plugin instance failed", labels);
}

int64_t edge_host_ctx::now() const { return env.clock ? env.clock() : edge::nowNs(); }

void edge_host_ctx::log(edge::plugins::LogLevel level, std::string_view message) {
  if (env.log) {
    env.log(level, plugin_name, instance_name, message);
    return;
  }
  uint64_t allowed = log_limiter.allow();
  if (allowed == 0) return;
  std::string suffix =
      allowed > 1 ? " (" + std::to_string(allowed - 1) + " plugin messages suppressed)" : "";
  using edge::plugins::LogLevel;
  spdlog::level::level_enum l = level == LogLevel::kDebug  ? spdlog::level::debug
                                : level == LogLevel::kInfo ? spdlog::level::info
                                : level == LogLevel::kWarn ? spdlog::level::warn
                                                           : spdlog::level::err;
  spdlog::log(l, "plugin {}/{}: {}{}", plugin_name, instance_name, message, suffix);
}

namespace edge::plugins {

const edge_host_api* hostApi() { return &kHostApi; }

HostBatch::HostBatch(std::vector<Event>& events, BatchContext context,
                     std::function<int64_t()> clock)
    : state_(std::make_unique<edge_batch>()) {
  state_->events = &events;
  state_->source = &events;
  state_->context = context;
  state_->clock = std::move(clock);
  state_->handles.resize(events.size());
  for (size_t i = 0; i < events.size(); ++i)
    state_->handles[i] = edge_event{&events[i], state_.get(), false, false};
}

HostBatch::HostBatch(const std::vector<Event>& events, BatchContext context)
    : state_(std::make_unique<edge_batch>()) {
  state_->source = &events;
  state_->context = context;
  state_->handles.resize(events.size());
  // Writes are refused by readOnly(), so the const_cast never leads to a write.
  for (size_t i = 0; i < events.size(); ++i) {
    state_->handles[i] = edge_event{const_cast<Event*>(&events[i]), state_.get(), false, false};
  }
}

HostBatch::~HostBatch() = default;

edge_batch* HostBatch::handle() { return state_.get(); }

HostBatch::Commit HostBatch::commit() {
  Commit result;
  edge_batch& b = *state_;
  if (b.committed || b.events == nullptr) return result;
  b.committed = true;
  std::vector<Event>& events = *b.events;
  size_t out = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (b.handles[i].dropped) {
      ++result.dropped;
      continue;
    }
    if (out != i) events[out] = std::move(events[i]);
    ++out;
  }
  events.resize(out);
  for (size_t i = 0; i < b.emitted.size(); ++i) {
    if (b.emitted_handles[i].dropped) continue;
    events.push_back(std::move(b.emitted[i]));
    ++result.emitted;
  }
  return result;
}

}  // namespace edge::plugins
