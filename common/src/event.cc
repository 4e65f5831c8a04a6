// Event model helpers: severity names, field access, JSON rendering of fields.
#include "edge/common/event.h"

#include <time.h>

#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace edge {

const char* severityName(Severity severity) {
  switch (severity) {
    case Severity::kEmergency:
      return "emergency";
    case Severity::kAlert:
      return "alert";
    case Severity::kCritical:
      return "critical";
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kNotice:
      return "notice";
    case Severity::kInfo:
      return "info";
    case Severity::kDebug:
      return "debug";
  }
  return "unknown";
}

std::optional<Severity> parseSeverity(std::string_view name) {
  struct Alias {
    std::string_view name;
    Severity severity;
  };
  // Both the syslog keywords and the spelled-out names people write in configs.
  static constexpr Alias kAliases[] = {
      {"emerg", Severity::kEmergency},    {"emergency", Severity::kEmergency},
      {"panic", Severity::kEmergency},    {"alert", Severity::kAlert},
      {"crit", Severity::kCritical},      {"critical", Severity::kCritical},
      {"err", Severity::kError},          {"error", Severity::kError},
      {"warn", Severity::kWarning},       {"warning", Severity::kWarning},
      {"notice", Severity::kNotice},      {"info", Severity::kInfo},
      {"informational", Severity::kInfo}, {"debug", Severity::kDebug},
  };
  for (const Alias& alias : kAliases) {
    if (alias.name.size() != name.size()) continue;
    bool equal = true;
    for (size_t i = 0; i < name.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(name[i])) != alias.name[i]) {
        equal = false;
        break;
      }
    }
    if (equal) return alias.severity;
  }
  return std::nullopt;
}

const FieldValue* Event::findField(std::string_view key) const {
  for (const Field& field : fields) {
    if (field.key == key) return &field.value;
  }
  return nullptr;
}

void Event::setField(std::string_view key, FieldValue value) {
  for (Field& field : fields) {
    if (field.key == key) {
      field.value = std::move(value);
      return;
    }
  }
  fields.push_back(Field{std::string(key), std::move(value)});
}

bool Event::removeField(std::string_view key) {
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (it->key == key) {
      fields.erase(it);
      return true;
    }
  }
  return false;
}

std::string fieldsToJson(const std::vector<Field>& fields) {
  // ordered_json keeps the event's field order, which people expect to see.
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (const Field& field : fields) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) {
            // JSON has no NaN/Inf; null is the honest rendering.
            if (std::isfinite(v)) {
              object[field.key] = v;
            } else {
              object[field.key] = nullptr;
            }
          } else {
            object[field.key] = v;
          }
        },
        field.value);
  }
  // Replace invalid UTF-8 rather than throwing: raw log bytes can be anything.
  return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

int64_t nowNs() {
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace edge
