// The part every parser shares: a record's fields are appended to the event
// (and removed again if the record turns out malformed, so a failed parse
// leaves the event as it was), same-named fields are merged, then `types:`
// coercion, time_key and the level/severity mapping run on the result.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "edge/agent/parser.h"
#include "parsers/time_parse.h"

namespace edge::agent {

enum class FieldType { kString, kInt, kFloat, kBool };

// "int" / "integer", "float" / "double", "bool" / "boolean", "string".
std::optional<FieldType> parseFieldType(std::string_view name);
// Converts `value` in place; false (and unchanged) when it cannot.
bool coerceField(FieldValue& value, FieldType type);
// level/severity field values: names (parseSeverity, plus fatal, trace),
// or syslog numbers 0..7.
std::optional<Severity> severityFromField(const FieldValue& value);

// Append a field constructed in place (no temporaries to move around: the
// parsers' hot path).
inline void appendText(std::vector<Field>& out, std::string_view key, std::string_view text) {
  Field& field = out.emplace_back();
  field.key.assign(key.data(), key.size());
  std::get<std::string>(field.value).assign(text.data(), text.size());
}
template <typename T>
inline void appendScalar(std::vector<Field>& out, std::string_view key, T value) {
  static_assert(std::is_same_v<T, int64_t> || std::is_same_v<T, double> || std::is_same_v<T, bool>);
  Field& field = out.emplace_back();
  field.key.assign(key.data(), key.size());
  field.value = value;
}

struct ParserOptions {
  std::string time_key;
  std::optional<TimeParser> time;
  std::vector<std::pair<std::string, FieldType>> types;
  // level/severity fields set Event::severity (off for syslog, which has PRI).
  bool map_severity = true;
};

class FieldParser : public Parser {
 public:
  // Beyond this many fields from one record the rest are dropped (counted):
  // merging is linear per field, so this bounds the work a hostile line causes.
  static constexpr size_t kMaxFieldsPerRecord = 256;
  // parse_error texts are cut to this length.
  static constexpr size_t kMaxErrorText = 200;

  explicit FieldParser(ParserOptions options) : options_(std::move(options)) {}

  bool parse(Event& event) const final;
  ParserStats stats() const final { return stats_; }

 protected:
  // Appends the record's fields to `out`, which is event.fields (so read
  // only event.raw while appending). On failure returns false and sets
  // `error` ("json: ..."); the caller removes what was appended. Extractors
  // may also set event.ts_ns/host/severity, on success only.
  virtual bool extract(Event& event, std::vector<Field>& out, std::string& error) const = 0;
  // For extractors with a limit of their own (syslog structured data).
  void countDroppedFields(uint64_t count) const { stats_.fields_dropped += count; }

 private:
  void postProcess(Event& event) const;

  ParserOptions options_;
  mutable std::string error_;
  mutable ParserStats stats_;
};

}  // namespace edge::agent
