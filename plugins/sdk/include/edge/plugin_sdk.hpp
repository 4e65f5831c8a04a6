// C++ SDK for edge plugins: write a class, declare options as data, and one
// macro exports the C entry symbol with an exception firewall around every
// hook. Header-only; depends on nothing but edge/plugin_abi.h and the
// standard library, so a plugin built outside the edge tree needs just the
// two headers.
//
//   #include <edge/plugin_sdk.hpp>
//   namespace sdk = edge::plugin_sdk;
//
//   constexpr edge_plugin_option kOptions[] = {
//       sdk::requiredOption("field", EDGE_OPT_STRING, "Field to test"),
//       sdk::option("value", EDGE_OPT_STRING, "debug", "Drop events whose field equals this"),
//   };
//
//   class DropIf final : public sdk::Processor {
//    public:
//     explicit DropIf(const sdk::Context& ctx)
//         : field_(ctx.options.string("field")), value_(ctx.options.string("value")) {}
//     void process(sdk::Batch& batch) override {
//       for (size_t i = 0; i < batch.size(); ++i) {
//         sdk::Event event = batch[i];
//         if (event.stringField(field_) == value_) event.drop();
//       }
//     }
//    private:
//     std::string field_, value_;
//   };
//
//   EDGE_PROCESSOR_PLUGIN(DropIf, "filter_drop_if", "1.0.0", "Drops matching events.", kOptions)
//
// Exceptions thrown from a constructor or a hook (sdk::Error for mistakes a
// person must fix, anything else for bugs) become the hook's error text; they
// never cross into the host. Build with -fvisibility=hidden so that only
// edge_plugin_entry is exported.
#pragma once

#include <edge/plugin_abi.h>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace edge::plugin_sdk {

// A mistake the operator can fix (bad option value, unreadable file). The
// message becomes the hook's error text verbatim, so name the thing and the fix.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline edge_str toStr(std::string_view text) { return edge_str{text.data(), text.size()}; }
inline std::string_view toView(edge_str text) {
  return text.len == 0 ? std::string_view() : std::string_view(text.data, text.len);
}

// ---------------------------------------------------------------------------
// Option table entries (constexpr, so the table is static data in the .so).

constexpr edge_plugin_option option(const char* name, uint32_t type, const char* default_value,
                                    const char* help) {
  return edge_plugin_option{name, type, 0, default_value, help, {nullptr, nullptr}};
}
constexpr edge_plugin_option requiredOption(const char* name, uint32_t type, const char* help) {
  return edge_plugin_option{name, type, EDGE_OPT_REQUIRED, nullptr, help, {nullptr, nullptr}};
}

// Validated option values, readable while the instance is being created or
// reloaded. Every getter copies: the host's storage is gone after that call.
class Options {
 public:
  explicit Options(const edge_plugin_config* config) : config_(config) {}

  // Configured by the operator (not just defaulted).
  bool isSet(std::string_view name) const { return find(name).is_set != 0; }
  // Configured or defaulted.
  bool has(std::string_view name) const { return find(name).has_value != 0; }

  std::string string(std::string_view name) const { return std::string(toView(find(name).text)); }
  int64_t integer(std::string_view name) const { return find(name).integer; }
  bool boolean(std::string_view name) const { return find(name).integer != 0; }
  double number(std::string_view name) const { return find(name).number; }
  uint64_t bytes(std::string_view name) const { return static_cast<uint64_t>(find(name).integer); }
  std::chrono::milliseconds duration(std::string_view name) const {
    return std::chrono::milliseconds(find(name).integer);
  }
  std::vector<std::string> list(std::string_view name) const {
    const edge_option_value& value = find(name);
    std::vector<std::string> out;
    out.reserve(value.list_len);
    for (size_t i = 0; i < value.list_len; ++i) out.emplace_back(toView(value.list[i]));
    return out;
  }

 private:
  const edge_option_value& find(std::string_view name) const {
    for (size_t i = 0; i < config_->option_count; ++i) {
      const edge_option_value& value = config_->options[i];
      if (value.name != nullptr && name == value.name) return value;
    }
    // Asking for an option the table does not declare is a bug in the plugin.
    throw std::logic_error("plugin asked for undeclared option '" + std::string(name) +
                           "'; add it to the option table");
  }

  const edge_plugin_config* config_;
};

// ---------------------------------------------------------------------------
// Host services for one instance; copyable, valid for the instance's life.

class Counter {
 public:
  Counter() = default;
  Counter(const edge_host_api* api, edge_counter* counter) : api_(api), counter_(counter) {}
  void add(uint64_t n = 1) const {
    if (counter_ != nullptr) api_->edge_host_counter_add(counter_, n);
  }

 private:
  const edge_host_api* api_ = nullptr;
  edge_counter* counter_ = nullptr;
};

class Host {
 public:
  Host(const edge_host_api* api, edge_host_ctx* ctx) : api_(api), ctx_(ctx) {}

  void log(int level, std::string_view message) const {
    api_->edge_host_log(ctx_, level, toStr(message));
  }
  void debug(std::string_view message) const { log(EDGE_LOG_DEBUG, message); }
  void info(std::string_view message) const { log(EDGE_LOG_INFO, message); }
  void warn(std::string_view message) const { log(EDGE_LOG_WARN, message); }
  void error(std::string_view message) const { log(EDGE_LOG_ERROR, message); }

  // name: [a-z_][a-z0-9_]*, e.g. "evictions_total". Throws on an invalid name.
  Counter counter(std::string_view name, std::string_view help) const {
    edge_counter* counter = api_->edge_host_counter_create(ctx_, toStr(name), toStr(help));
    if (counter == nullptr) {
      throw std::logic_error("invalid metric name '" + std::string(name) +
                             "': use lower case letters, digits and _");
    }
    return Counter(api_, counter);
  }

  int64_t nowNs() const { return api_->edge_host_now_ns(ctx_); }
  const edge_host_api* api() const { return api_; }

 private:
  const edge_host_api* api_;
  edge_host_ctx* ctx_;
};

// What a plugin's constructor receives. `options` is valid during the
// constructor only; `host` for the instance's whole life.
struct Context {
  Host host;
  Options options;
  std::string instance_name;
};

// ---------------------------------------------------------------------------
// Events. Views (std::string_view, Value holding one) point into host memory
// and are valid until that event is modified or the hook returns.

using Value = std::variant<std::string_view, int64_t, double, bool>;
using OwnedValue = std::variant<std::string, int64_t, double, bool>;

inline void appendValue(std::string& out, const Value& value) {
  if (const auto* s = std::get_if<std::string_view>(&value)) {
    out.append(*s);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    char buf[32];
    auto result = std::to_chars(buf, buf + sizeof(buf), *i);
    out.append(buf, result.ptr);
  } else if (const auto* d = std::get_if<double>(&value)) {
    char buf[64];
    auto result = std::to_chars(buf, buf + sizeof(buf), *d);
    out.append(buf, result.ptr);
  } else {
    out.append(std::get<bool>(value) ? "true" : "false");
  }
}

inline std::string valueToString(const Value& value) {
  std::string out;
  appendValue(out, value);
  return out;
}

inline OwnedValue toOwned(const Value& value) {
  if (const auto* s = std::get_if<std::string_view>(&value)) return std::string(*s);
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::get<bool>(value);
}

inline Value fromAbi(const edge_value& value) {
  switch (value.type) {
    case EDGE_VALUE_INT:
      return value.integer;
    case EDGE_VALUE_DOUBLE:
      return value.number;
    case EDGE_VALUE_BOOL:
      return value.boolean != 0;
    default:
      return toView(value.string);
  }
}

inline edge_value toAbi(const Value& value) {
  edge_value out{};
  if (const auto* s = std::get_if<std::string_view>(&value)) {
    out.type = EDGE_VALUE_STRING;
    out.string = toStr(*s);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    out.type = EDGE_VALUE_INT;
    out.integer = *i;
  } else if (const auto* d = std::get_if<double>(&value)) {
    out.type = EDGE_VALUE_DOUBLE;
    out.number = *d;
  } else {
    out.type = EDGE_VALUE_BOOL;
    out.boolean = std::get<bool>(value) ? 1 : 0;
  }
  return out;
}

inline Value borrow(const OwnedValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return std::string_view(*s);
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::get<bool>(value);
}

namespace detail {
inline void check(int status, const char* what) {
  if (status == EDGE_HOST_OK) return;
  if (status == EDGE_HOST_NO_MEMORY) throw std::bad_alloc();
  if (status == EDGE_HOST_READ_ONLY) {
    throw std::logic_error(std::string(what) +
                           ": read-only (tenant and seq never change; a "
                           "sink's batch cannot be modified)");
  }
  throw std::invalid_argument(std::string(what) + ": rejected by the host (status " +
                              std::to_string(status) + ")");
}
}  // namespace detail

class Event {
 public:
  Event(const edge_host_api* api, edge_event* event) : api_(api), event_(event) {}

  std::string_view kind() const { return str(EDGE_ATTR_KIND); }
  std::string_view source() const { return str(EDGE_ATTR_SOURCE); }
  std::string_view host() const { return str(EDGE_ATTR_HOST); }
  std::string_view tenant() const { return str(EDGE_ATTR_TENANT); }
  std::string_view raw() const { return str(EDGE_ATTR_RAW); }
  int64_t ts() const { return api_->edge_host_event_get_ts(event_); }
  int severity() const { return api_->edge_host_event_get_severity(event_); }
  uint64_t seq() const { return api_->edge_host_event_get_seq(event_); }

  void setKind(std::string_view v) { setStr(EDGE_ATTR_KIND, v); }
  void setSource(std::string_view v) { setStr(EDGE_ATTR_SOURCE, v); }
  void setHost(std::string_view v) { setStr(EDGE_ATTR_HOST, v); }
  void setRaw(std::string_view v) { setStr(EDGE_ATTR_RAW, v); }
  void setTs(int64_t ts_ns) {
    detail::check(api_->edge_host_event_set_ts(event_, ts_ns), "set ts");
  }
  void setSeverity(int severity) {
    detail::check(api_->edge_host_event_set_severity(event_, severity), "set severity");
  }

  std::optional<Value> field(std::string_view key) const {
    edge_value value{};
    if (api_->edge_host_event_get_field(event_, toStr(key), &value) != EDGE_HOST_OK) {
      return std::nullopt;
    }
    return fromAbi(value);
  }
  // The field if it holds a string; nullopt if absent or of another type.
  std::optional<std::string_view> stringField(std::string_view key) const {
    auto value = field(key);
    if (!value) return std::nullopt;
    if (const auto* s = std::get_if<std::string_view>(&*value)) return *s;
    return std::nullopt;
  }
  void setField(std::string_view key, const Value& value) {
    edge_value abi = toAbi(value);
    detail::check(api_->edge_host_event_set_field(event_, toStr(key), &abi), "set field");
  }
  // Spelled out so a string literal never silently becomes a bool.
  void setString(std::string_view key, std::string_view value) { setField(key, Value(value)); }
  void setInt(std::string_view key, int64_t value) { setField(key, Value(value)); }
  void setDouble(std::string_view key, double value) { setField(key, Value(value)); }
  void setBool(std::string_view key, bool value) { setField(key, Value(value)); }
  bool removeField(std::string_view key) {
    int status = api_->edge_host_event_remove_field(event_, toStr(key));
    if (status == EDGE_HOST_NOT_FOUND) return false;
    detail::check(status, "remove field");
    return true;
  }
  size_t fieldCount() const { return api_->edge_host_event_field_count(event_); }
  std::pair<std::string_view, Value> fieldAt(size_t index) const {
    edge_str key{};
    edge_value value{};
    detail::check(api_->edge_host_event_field_at(event_, index, &key, &value), "field at");
    return {toView(key), fromAbi(value)};
  }

  void drop() { detail::check(api_->edge_host_event_drop(event_), "drop"); }
  bool dropped() const { return api_->edge_host_event_is_dropped(event_) != 0; }

  edge_event* handle() const { return event_; }

 private:
  std::string_view str(int attr) const {
    return toView(api_->edge_host_event_get_str(event_, attr));
  }
  void setStr(int attr, std::string_view value) {
    detail::check(api_->edge_host_event_set_str(event_, attr, toStr(value)), "set attribute");
  }

  const edge_host_api* api_;
  edge_event* event_;
};

struct BatchInfo {
  std::string_view agent_id;
  uint64_t batch_id = 0;
  int64_t received_ns = 0;
  std::string_view tenant;
};

class Batch {
 public:
  Batch(const edge_host_api* api, const edge_batch* batch) : api_(api), batch_(batch) {}

  // Includes events emitted during this call.
  size_t size() const { return api_->edge_host_batch_size(batch_); }
  Event operator[](size_t index) const {
    edge_event* event = api_->edge_host_batch_event(batch_, index);
    if (event == nullptr) throw std::out_of_range("batch index out of range");
    return Event(api_, event);
  }
  // A new event at the end of the batch: a copy of `copy_from`, or blank.
  Event emit(const Event* copy_from = nullptr) {
    // The host only hands out mutable batches to processors.
    edge_batch* mutable_batch = const_cast<edge_batch*>(batch_);
    edge_event* event =
        api_->edge_host_batch_emit(mutable_batch, copy_from ? copy_from->handle() : nullptr);
    if (event == nullptr) throw std::logic_error("emit refused: read-only batch or out of memory");
    return Event(api_, event);
  }
  BatchInfo info() const {
    edge_batch_info info{};
    info.struct_size = sizeof(info);
    api_->edge_host_batch_info(batch_, &info);
    return BatchInfo{toView(info.agent_id), info.batch_id, info.received_ns, toView(info.tenant)};
  }

 private:
  const edge_host_api* api_;
  const edge_batch* batch_;
};

// ---------------------------------------------------------------------------
// Templates: "{host}:{msg}" renders event values into text, for keys and
// field values. {name} is an event attribute when name is one of kind,
// source, host, severity, tenant, seq, ts, raw; otherwise the field of that
// name ({field:host} forces the field). A missing field renders as nothing.
// {{ and }} are literal braces.

class Template {
 public:
  Template() = default;

  static Template parse(std::string_view text) {
    Template t;
    std::string literal;
    for (size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
        literal += '{';
        ++i;
      } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
        literal += '}';
        ++i;
      } else if (c == '{') {
        size_t close = text.find('}', i + 1);
        if (close == std::string_view::npos) {
          throw Error("template \"" + std::string(text) + "\": '{' at offset " + std::to_string(i) +
                      " is never closed; write {{ for a literal brace");
        }
        std::string_view name = text.substr(i + 1, close - i - 1);
        if (name.empty() || name.find('{') != std::string_view::npos) {
          throw Error("template \"" + std::string(text) +
                      "\": empty or nested placeholder at offset " + std::to_string(i));
        }
        if (!literal.empty()) {
          t.parts_.push_back(Part{Source::kLiteral, std::move(literal)});
          literal.clear();
        }
        t.parts_.push_back(reference(name));
        i = close;
      } else if (c == '}') {
        throw Error("template \"" + std::string(text) + "\": unmatched '}' at offset " +
                    std::to_string(i) + "; write }} for a literal brace");
      } else {
        literal += c;
      }
    }
    if (!literal.empty()) t.parts_.push_back(Part{Source::kLiteral, std::move(literal)});
    return t;
  }

  // Appends the rendering to `out` (reuse one buffer on hot paths). Returns
  // false if a referenced field was missing (it rendered as nothing).
  bool renderTo(const Event& event, std::string& out) const {
    bool complete = true;
    for (const Part& part : parts_) {
      if (part.source == Source::kLiteral) {
        out += part.text;
      } else if (auto value = lookup(event, part)) {
        appendValue(out, *value);
      } else {
        complete = false;
      }
    }
    return complete;
  }
  std::string render(const Event& event) const {
    std::string out;
    renderTo(event, out);
    return out;
  }

  // A template that is exactly one placeholder yields the value with its
  // type (an int stays an int); otherwise the rendered string. nullopt when
  // it is a lone placeholder whose field is missing.
  std::optional<OwnedValue> evaluate(const Event& event) const {
    if (parts_.size() == 1 && parts_[0].source != Source::kLiteral) {
      auto value = lookup(event, parts_[0]);
      if (!value) return std::nullopt;
      return toOwned(*value);
    }
    return OwnedValue(render(event));
  }

  bool empty() const { return parts_.empty(); }

 private:
  enum class Source {
    kLiteral,
    kField,
    kKind,
    kSource,
    kHost,
    kSeverity,
    kTenant,
    kSeq,
    kTs,
    kRaw
  };
  struct Part {
    Source source;
    std::string text;  // literal text or field name
  };

  static Part reference(std::string_view name) {
    constexpr std::string_view kFieldPrefix = "field:";
    if (name.substr(0, kFieldPrefix.size()) == kFieldPrefix) {
      return Part{Source::kField, std::string(name.substr(kFieldPrefix.size()))};
    }
    struct Attr {
      std::string_view name;
      Source source;
    };
    static constexpr Attr kAttrs[] = {
        {"kind", Source::kKind},     {"source", Source::kSource},
        {"host", Source::kHost},     {"severity", Source::kSeverity},
        {"tenant", Source::kTenant}, {"seq", Source::kSeq},
        {"ts", Source::kTs},         {"raw", Source::kRaw},
    };
    for (const Attr& attr : kAttrs) {
      if (attr.name == name) return Part{attr.source, std::string(name)};
    }
    return Part{Source::kField, std::string(name)};
  }

  static std::string_view severityName(int severity) {
    static constexpr std::string_view kNames[] = {"emergency", "alert",  "critical", "error",
                                                  "warning",   "notice", "info",     "debug"};
    return severity >= 0 && severity < 8 ? kNames[severity] : std::string_view("unknown");
  }

  static std::optional<Value> lookup(const Event& event, const Part& part) {
    switch (part.source) {
      case Source::kField:
        return event.field(part.text);
      case Source::kKind:
        return Value(event.kind());
      case Source::kSource:
        return Value(event.source());
      case Source::kHost:
        return Value(event.host());
      case Source::kSeverity:
        return Value(severityName(event.severity()));
      case Source::kTenant:
        return Value(event.tenant());
      case Source::kSeq:
        return Value(static_cast<int64_t>(event.seq()));
      case Source::kTs:
        return Value(event.ts());
      case Source::kRaw:
        return Value(event.raw());
      case Source::kLiteral:
        break;
    }
    return std::nullopt;
  }

  std::vector<Part> parts_;
};

// ---------------------------------------------------------------------------
// Plugin base classes. A processor's constructor takes `const Context&` and
// throws (sdk::Error) to refuse its options. Optional members, detected at
// compile time: `void reload(const Options&)` (apply new options in place;
// throw to keep the old ones) and `void flush()`.

class Processor {
 public:
  virtual ~Processor() = default;
  // Transform the batch in place: set fields, drop(), emit().
  virtual void process(Batch& batch) = 0;
};

struct SinkResult {
  int status = EDGE_SINK_OK;
  std::string reason;
  static SinkResult ok() { return {}; }
  static SinkResult retry(std::string reason) { return {EDGE_SINK_RETRY, std::move(reason)}; }
  static SinkResult error(std::string reason) { return {EDGE_SINK_ERROR, std::move(reason)}; }
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Commit the whole batch durably, or nothing. The engine owns retries.
  virtual SinkResult write(const Batch& batch) = 0;
};

namespace detail {

// Copies prefix + message into errbuf, truncating; never allocates (it runs
// in catch blocks, possibly after std::bad_alloc).
inline void writeError(char* errbuf, size_t size, std::string_view message,
                       std::string_view prefix = {}) {
  if (errbuf == nullptr || size == 0) return;
  size_t used = 0;
  for (std::string_view part : {prefix, message}) {
    size_t n = part.size() < size - 1 - used ? part.size() : size - 1 - used;
    if (n > 0) std::memcpy(errbuf + used, part.data(), n);
    used += n;
  }
  errbuf[used] = '\0';
}

// Runs `body`; any exception becomes `failure` plus its text in errbuf.
template <typename Body>
int firewall(char* errbuf, size_t size, int failure, Body&& body) noexcept {
  try {
    return body();
  } catch (const Error& e) {
    writeError(errbuf, size, e.what());
  } catch (const std::bad_alloc&) {
    writeError(errbuf, size, "out of memory");
  } catch (const std::exception& e) {
    writeError(errbuf, size, e.what(), "internal error in plugin: ");
  } catch (...) {
    writeError(errbuf, size, "internal error in plugin: unknown exception");
  }
  return failure;
}

// Per instance: the host's table plus the plugin's object.
template <typename T>
struct Holder {
  const edge_host_api* api;
  T* impl;
};

template <typename T>
concept HasReload = requires(T& t, const Options& o) {
  t.reload(o);
};
template <typename T>
concept HasFlush = requires(T& t) {
  t.flush();
};

template <typename T>
struct Hooks {
  static int create(const edge_plugin_config* config, void** instance, char* errbuf,
                    size_t errbuf_size) noexcept {
    return firewall(errbuf, errbuf_size, EDGE_PLUGIN_ERROR, [&] {
      Context context{Host(config->host, config->ctx), Options(config),
                      std::string(toView(config->instance_name))};
      auto* holder = new Holder<T>{config->host, nullptr};
      try {
        holder->impl = new T(context);
      } catch (...) {
        delete holder;
        throw;
      }
      *instance = holder;
      return EDGE_PLUGIN_OK;
    });
  }

  static void destroy(void* instance) noexcept {
    auto* holder = static_cast<Holder<T>*>(instance);
    if (holder == nullptr) return;
    delete holder->impl;  // destructors are noexcept
    delete holder;
  }

  static int process(void* instance, edge_batch* batch, char* errbuf, size_t errbuf_size) noexcept {
    auto* holder = static_cast<Holder<T>*>(instance);
    return firewall(errbuf, errbuf_size, EDGE_PLUGIN_ERROR, [&] {
      Batch view(holder->api, batch);
      holder->impl->process(view);
      return EDGE_PLUGIN_OK;
    });
  }

  static int write(void* instance, const edge_batch* batch, char* errbuf,
                   size_t errbuf_size) noexcept {
    auto* holder = static_cast<Holder<T>*>(instance);
    // An exception is a bug, not a transient failure: retrying would loop, so
    // the batch goes to the dead-letter queue with the reason.
    return firewall(errbuf, errbuf_size, EDGE_SINK_ERROR, [&] {
      Batch view(holder->api, batch);
      SinkResult result = holder->impl->write(view);
      if (result.status != EDGE_SINK_OK) writeError(errbuf, errbuf_size, result.reason);
      return result.status;
    });
  }

  static int reload(void* instance, const edge_plugin_config* config, char* errbuf,
                    size_t errbuf_size) noexcept {
    auto* holder = static_cast<Holder<T>*>(instance);
    return firewall(errbuf, errbuf_size, EDGE_PLUGIN_ERROR, [&] {
      if constexpr (HasReload<T>) holder->impl->reload(Options(config));
      return EDGE_PLUGIN_OK;
    });
  }

  static int flush(void* instance, char* errbuf, size_t errbuf_size) noexcept {
    auto* holder = static_cast<Holder<T>*>(instance);
    return firewall(errbuf, errbuf_size, EDGE_PLUGIN_ERROR, [&] {
      if constexpr (HasFlush<T>) holder->impl->flush();
      return EDGE_PLUGIN_OK;
    });
  }
};

template <typename T, uint32_t kind>
constexpr edge_plugin_descriptor makeDescriptor(const char* name, const char* version,
                                                const char* description,
                                                std::span<const edge_plugin_option> options) {
  edge_plugin_descriptor d{};
  d.abi_major = EDGE_PLUGIN_ABI_MAJOR;
  d.abi_minor = EDGE_PLUGIN_ABI_MINOR;
  d.struct_size = sizeof(edge_plugin_descriptor);
  constexpr uint8_t kSignature[EDGE_PLUGIN_SIGNATURE_SIZE] = EDGE_PLUGIN_BUILD_SIGNATURE_INIT;
  for (size_t i = 0; i < EDGE_PLUGIN_SIGNATURE_SIZE; ++i) d.build_signature[i] = kSignature[i];
  d.name = name;
  d.version = version;
  d.kind = kind;
  d.description = description;
  d.options = options.empty() ? nullptr : options.data();
  d.option_count = options.size();
  d.edge_plugin_on_create = &Hooks<T>::create;
  d.edge_plugin_on_destroy = &Hooks<T>::destroy;
  if constexpr (kind == EDGE_PLUGIN_PROCESSOR) {
    static_assert(std::is_base_of_v<Processor, T>, "EDGE_PROCESSOR_PLUGIN needs a sdk::Processor");
    d.edge_plugin_on_process = &Hooks<T>::process;
  } else {
    static_assert(std::is_base_of_v<Sink, T>, "EDGE_SINK_PLUGIN needs a sdk::Sink");
    d.edge_plugin_on_write = &Hooks<T>::write;
  }
  if constexpr (HasReload<T>) d.edge_plugin_on_reload = &Hooks<T>::reload;
  if constexpr (HasFlush<T>) d.edge_plugin_on_flush = &Hooks<T>::flush;
  return d;
}

}  // namespace detail
}  // namespace edge::plugin_sdk

// Defines the plugin's one exported symbol. `options` is a static array of
// edge_plugin_option (or an empty std::span for none).
#define EDGE_PROCESSOR_PLUGIN(Class, name, version, description, options)               \
  extern "C" EDGE_PLUGIN_EXPORT const edge_plugin_descriptor* edge_plugin_entry(void) { \
    static const edge_plugin_descriptor kEdgePluginDescriptor =                         \
        ::edge::plugin_sdk::detail::makeDescriptor<Class, EDGE_PLUGIN_PROCESSOR>(       \
            name, version, description, options);                                       \
    return &kEdgePluginDescriptor;                                                      \
  }

#define EDGE_SINK_PLUGIN(Class, name, version, description, options)                               \
  extern "C" EDGE_PLUGIN_EXPORT const edge_plugin_descriptor* edge_plugin_entry(void) {            \
    static const edge_plugin_descriptor kEdgePluginDescriptor =                                    \
        ::edge::plugin_sdk::detail::makeDescriptor<Class, EDGE_PLUGIN_SINK>(name, version,         \
                                                                            description, options); \
    return &kEdgePluginDescriptor;                                                                 \
  }
