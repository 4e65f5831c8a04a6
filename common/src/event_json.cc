// NDJSON <-> Event (see event_json.h).
#include "edge/common/event_json.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace edge {
namespace {

// ordered_json keeps the field order of the line.
using Json = nlohmann::ordered_json;

bool digits(std::string_view text, size_t pos, size_t count, int& out) {
  if (pos + count > text.size()) return false;
  int value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    value = value * 10 + (text[i] - '0');
  }
  out = value;
  return true;
}

Result<FieldValue> fieldValue(const std::string& key, const Json& value) {
  switch (value.type()) {
    case Json::value_t::string:
      return FieldValue(value.get<std::string>());
    case Json::value_t::number_integer:
      return FieldValue(value.get<int64_t>());
    case Json::value_t::number_unsigned: {
      const uint64_t v = value.get<uint64_t>();
      if (v > static_cast<uint64_t>(INT64_MAX)) return FieldValue(static_cast<double>(v));
      return FieldValue(static_cast<int64_t>(v));
    }
    case Json::value_t::number_float:
      return FieldValue(value.get<double>());
    case Json::value_t::boolean:
      return FieldValue(value.get<bool>());
    default:
      return makeError(ErrorCode::kInvalidArgument,
                       "fields." + key + ": expected a string, number or boolean, got " +
                           std::string(value.type_name()) +
                           " (nested values: store them as a JSON string and decode in the rule)");
  }
}

Result<std::string> stringKey(const Json& object, const char* key) {
  const Json& value = object[key];
  if (!value.is_string()) {
    return makeError(ErrorCode::kInvalidArgument, std::string(key) + ": expected a string, got " +
                                                      std::string(value.type_name()));
  }
  return value.get<std::string>();
}

}  // namespace

std::string formatRfc3339Nanos(int64_t ts_ns) {
  int64_t seconds = ts_ns / 1000000000;
  int64_t nanos = ts_ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --seconds;
  }
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[48];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(text + n, sizeof(text) - n, ".%09lldZ", static_cast<long long>(nanos));
  return text;
}

Result<int64_t> parseRfc3339(std::string_view text) {
  auto bad = [&]() {
    return makeError(ErrorCode::kInvalidArgument,
                     "expected an RFC 3339 time like 2015-12-10T06:55:46Z or "
                     "2015-12-10T06:55:46.5+01:00, got \"" + std::string(text) + "\"");
  };
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
      !digits(text, 5, 2, month) || text[7] != '-' || !digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !digits(text, 11, 2, hour) ||
      text[13] != ':' || !digits(text, 14, 2, minute) || text[16] != ':' ||
      !digits(text, 17, 2, second)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = 100000000;
    const size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      nanos += (text[pos] - '0') * scale;  // digits past the 9th are dropped
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(text, pos + 1, 2, oh) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !digits(text, pos + 4, 2, om)) {
      return bad();
    }
    offset_seconds = (oh * 3600 + om * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != text.size()) return bad();
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const int64_t seconds = static_cast<int64_t>(timegm(&tm)) - offset_seconds;
  return seconds * 1000000000 + nanos;
}

Result<Event> eventFromJson(std::string_view line) {
  Json object;
  try {
    object = Json::parse(line);
  } catch (const Json::parse_error& e) {
    return makeError(ErrorCode::kInvalidArgument, std::string("not valid JSON: ") + e.what());
  }
  if (!object.is_object()) {
    return makeError(ErrorCode::kInvalidArgument,
                     "expected a JSON object (one event per line), got " +
                         std::string(object.type_name()));
  }
  Event event;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (key == "ts") {
      if (value.is_string()) {
        auto ts = parseRfc3339(value.get<std::string>());
        if (!ts) return makeError(ErrorCode::kInvalidArgument, "ts: " + ts.error().message);
        event.ts_ns = *ts;
      } else if (value.is_number_integer()) {
        event.ts_ns = value.get<int64_t>();
      } else {
        return makeError(ErrorCode::kInvalidArgument,
                         "ts: expected an RFC 3339 string or integer ns since the epoch, got " +
                             std::string(value.type_name()));
      }
    } else if (key == "seq") {
      if (!value.is_number_unsigned() && !value.is_number_integer()) {
        return makeError(ErrorCode::kInvalidArgument, "seq: expected a non-negative integer");
      }
      if (value.is_number_integer() && value.get<int64_t>() < 0) {
        return makeError(ErrorCode::kInvalidArgument, "seq: expected a non-negative integer");
      }
      event.seq = value.get<uint64_t>();
    } else if (key == "kind" || key == "source" || key == "host" || key == "raw" ||
               key == "tenant") {
      auto text = stringKey(object, key.c_str());
      if (!text) return text.error();
      std::string& target = key == "kind"     ? event.kind
                            : key == "source" ? event.source
                            : key == "host"   ? event.host
                            : key == "raw"    ? event.raw
                                              : event.tenant;
      target = std::move(*text);
    } else if (key == "severity") {
      if (value.is_string()) {
        auto severity = parseSeverity(value.get<std::string>());
        if (!severity) {
          return makeError(ErrorCode::kInvalidArgument,
                           "severity: unknown name \"" + value.get<std::string>() +
                               "\" (emergency, alert, critical, error, warning, notice, info, "
                               "debug)");
        }
        event.severity = *severity;
      } else if (value.is_number_integer() && value.get<int64_t>() >= 0 &&
                 value.get<int64_t>() <= 7) {
        event.severity = static_cast<Severity>(value.get<int64_t>());
      } else {
        return makeError(ErrorCode::kInvalidArgument,
                         "severity: expected a name (warning, info, ...) or 0..7");
      }
    } else if (key == "fields") {
      if (!value.is_object()) {
        return makeError(ErrorCode::kInvalidArgument,
                         "fields: expected an object of key: value, got " +
                             std::string(value.type_name()));
      }
      event.fields.reserve(value.size());
      for (auto field = value.begin(); field != value.end(); ++field) {
        auto typed = fieldValue(field.key(), field.value());
        if (!typed) return typed.error();
        event.fields.push_back(Field{field.key(), std::move(*typed)});
      }
    } else {
      return makeError(ErrorCode::kInvalidArgument,
                       "unknown key \"" + key +
                           "\" (an event has ts, seq, kind, source, host, severity, tenant, "
                           "fields, raw)");
    }
  }
  return event;
}

std::string eventToJson(const Event& event) {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  object["ts"] = formatRfc3339Nanos(event.ts_ns);
  object["seq"] = event.seq;
  object["kind"] = event.kind;
  object["source"] = event.source;
  object["host"] = event.host;
  object["severity"] = severityName(event.severity);
  if (!event.tenant.empty()) object["tenant"] = event.tenant;
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();
  for (const Field& field : event.fields) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) {
            if (std::isfinite(v)) {
              fields[field.key] = v;
            } else {
              fields[field.key] = nullptr;  // JSON has no NaN/Inf
            }
          } else {
            fields[field.key] = v;
          }
        },
        field.value);
  }
  object["fields"] = std::move(fields);
  object["raw"] = event.raw;
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace edge
