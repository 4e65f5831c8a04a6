// The event model shared by agent and gateway. An event is what an input
// produced from one record (a log line, a syslog message, a metric sample).
// Its identity is (agent_id, seq); the tenant is set by the gateway from the
// agent's authenticated identity and never trusted from the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace edge {

// Syslog severities (RFC 5424 numbering): lower is more severe.
enum class Severity : uint8_t {
  kEmergency = 0,
  kAlert = 1,
  kCritical = 2,
  kError = 3,
  kWarning = 4,
  kNotice = 5,
  kInfo = 6,
  kDebug = 7,
};

const char* severityName(Severity severity);
// Accepts names ("warning", "warn", "err", "info", ...) case-insensitively.
std::optional<Severity> parseSeverity(std::string_view name);

using FieldValue = std::variant<std::string, int64_t, double, bool>;

struct Field {
  std::string key;
  FieldValue value;
};

struct Event {
  int64_t ts_ns = 0;     // event time, ns since the Unix epoch (UTC)
  uint64_t seq = 0;      // per-agent, strictly increasing, persisted by the agent
  std::string kind;      // e.g. "log", "syslog", "metric", "exec"
  std::string source;    // where it came from, e.g. the file path
  std::string host;
  Severity severity = Severity::kInfo;
  std::string tenant;    // set by the gateway only
  std::vector<Field> fields;
  std::string raw;       // the original record, unmodified

  // Field helpers: linear scan, events carry few fields.
  const FieldValue* findField(std::string_view key) const;
  void setField(std::string_view key, FieldValue value);
  bool removeField(std::string_view key);
};

// Renders the fields as a JSON object text ({"k":"v","n":1,...}).
std::string fieldsToJson(const std::vector<Field>& fields);

// Current wall-clock time in ns since the epoch.
int64_t nowNs();

}  // namespace edge
