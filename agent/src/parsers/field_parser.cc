// Shared parser machinery: merging extracted fields into the event, type
// coercion, event time from time_key, severity from level/severity fields.
#include "parsers/field_parser.h"

#include <strings.h>

#include <charconv>
#include <cmath>

namespace edge::agent {
namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<int64_t> textToInt(std::string_view s) {
  s = trimmed(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> textToDouble(std::string_view s) {
  s = trimmed(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<bool> textToBool(std::string_view s) {
  s = trimmed(s);
  for (std::string_view t : {"true", "yes", "on", "1", "t", "y"})
    if (equalsIgnoreCase(s, t)) return true;
  for (std::string_view f : {"false", "no", "off", "0", "f", "n"})
    if (equalsIgnoreCase(s, f)) return false;
  return std::nullopt;
}

std::string doubleToText(double d) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("nan");
}

}  // namespace

std::optional<FieldType> parseFieldType(std::string_view name) {
  if (name == "int" || name == "integer") return FieldType::kInt;
  if (name == "float" || name == "double") return FieldType::kFloat;
  if (name == "bool" || name == "boolean") return FieldType::kBool;
  if (name == "string") return FieldType::kString;
  return std::nullopt;
}

bool coerceField(FieldValue& value, FieldType type) {
  switch (type) {
    case FieldType::kString:
      if (auto* i = std::get_if<int64_t>(&value)) {
        value = std::to_string(*i);
      } else if (auto* d = std::get_if<double>(&value)) {
        value = doubleToText(*d);
      } else if (auto* b = std::get_if<bool>(&value)) {
        value = std::string(*b ? "true" : "false");
      }
      return true;
    case FieldType::kInt:
      if (std::holds_alternative<int64_t>(value)) return true;
      if (auto* s = std::get_if<std::string>(&value)) {
        auto v = textToInt(*s);
        if (!v) return false;
        value = *v;
        return true;
      }
      if (auto* d = std::get_if<double>(&value)) {
        // Only whole numbers in range: 2.5 as an int would silently lose data.
        if (!std::isfinite(*d) || std::trunc(*d) != *d || std::fabs(*d) >= 9.2e18) return false;
        value = static_cast<int64_t>(*d);
        return true;
      }
      value = int64_t{std::get<bool>(value) ? 1 : 0};
      return true;
    case FieldType::kFloat:
      if (std::holds_alternative<double>(value)) return true;
      if (auto* s = std::get_if<std::string>(&value)) {
        auto v = textToDouble(*s);
        if (!v) return false;
        value = *v;
        return true;
      }
      if (auto* i = std::get_if<int64_t>(&value)) {
        value = static_cast<double>(*i);
        return true;
      }
      value = std::get<bool>(value) ? 1.0 : 0.0;
      return true;
    case FieldType::kBool:
      if (std::holds_alternative<bool>(value)) return true;
      if (auto* s = std::get_if<std::string>(&value)) {
        auto v = textToBool(*s);
        if (!v) return false;
        value = *v;
        return true;
      }
      if (auto* i = std::get_if<int64_t>(&value)) {
        if (*i != 0 && *i != 1) return false;
        value = *i == 1;
        return true;
      }
      return false;
  }
  return false;
}

std::optional<Severity> severityFromField(const FieldValue& value) {
  int64_t number = -1;
  if (const auto* s = std::get_if<std::string>(&value)) {
    // The usual spellings first, without parseSeverity's case folding.
    static constexpr std::pair<std::string_view, Severity> kCommon[] = {
        {"info", Severity::kInfo},   {"warn", Severity::kWarning}, {"error", Severity::kError},
        {"debug", Severity::kDebug}, {"INFO", Severity::kInfo},    {"WARN", Severity::kWarning},
        {"ERROR", Severity::kError}, {"DEBUG", Severity::kDebug},  {"warning", Severity::kWarning},
    };
    for (const auto& [name, severity] : kCommon) {
      if (*s == name) return severity;
    }
    std::string_view text = trimmed(*s);
    if (auto sev = parseSeverity(text)) return sev;
    if (equalsIgnoreCase(text, "fatal")) return Severity::kCritical;
    if (equalsIgnoreCase(text, "trace")) return Severity::kDebug;
    if (text.size() == 1 && text[0] >= '0' && text[0] <= '7') number = text[0] - '0';
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    number = *i;
  }
  if (number >= 0 && number <= 7) return static_cast<Severity>(number);
  return std::nullopt;
}

bool FieldParser::parse(Event& event) const {
  ++stats_.records;
  error_.clear();
  // Fields are appended in place (no copy through a scratch list); a failed
  // record is rolled back to the fields it came with.
  const size_t before = event.fields.size();
  event.fields.reserve(before + 16);
  if (!extract(event, event.fields, error_)) {
    ++stats_.parse_errors;
    event.fields.erase(event.fields.begin() + static_cast<ptrdiff_t>(before), event.fields.end());
    if (error_.empty()) error_ = "unparsable record";
    if (error_.size() > kMaxErrorText) error_.resize(kMaxErrorText);
    event.setField("parse_error", std::move(error_));
    return false;
  }
  // A field from the record replaces a same-named one (one the input set,
  // or an earlier repeat of the key in the record: the last one wins, as in
  // most JSON readers).
  std::vector<Field>& fields = event.fields;
  size_t kept = before;
  for (size_t i = before; i < fields.size(); ++i) {
    Field& field = fields[i];
    bool replaced = false;
    for (size_t j = 0; j < kept; ++j) {
      const std::string& key = fields[j].key;
      if (key.size() == field.key.size() && (key.empty() || key[0] == field.key[0]) &&
          key == field.key) {
        fields[j].value = std::move(field.value);
        replaced = true;
        break;
      }
    }
    if (replaced) continue;
    if (kept - before == kMaxFieldsPerRecord) {
      ++stats_.fields_dropped;
      continue;
    }
    if (kept != i) fields[kept] = std::move(field);
    ++kept;
  }
  fields.erase(fields.begin() + static_cast<ptrdiff_t>(kept), fields.end());
  postProcess(event);
  return true;
}

void FieldParser::postProcess(Event& event) const {
  for (const auto& [key, type] : options_.types) {
    for (Field& field : event.fields) {
      if (field.key != key) continue;
      if (!coerceField(field.value, type)) ++stats_.conversion_errors;
      break;
    }
  }
  if (options_.time && !options_.time_key.empty()) {
    if (const FieldValue* value = event.findField(options_.time_key)) {
      if (auto ts = options_.time->parse(*value)) {
        event.ts_ns = *ts;
      } else {
        ++stats_.conversion_errors;
      }
    }
  }
  if (options_.map_severity) {
    const FieldValue* value = event.findField("level");
    if (value == nullptr) value = event.findField("severity");
    if (value != nullptr) {
      if (auto severity = severityFromField(*value)) event.severity = *severity;
    }
  }
}

}  // namespace edge::agent
