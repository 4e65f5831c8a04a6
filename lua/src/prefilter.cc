// Prefilter evaluation (see prefilter.h). Runs for every event and rule, so
// it works on string_views and a stack buffer and never allocates.
#include "edge/lua/prefilter.h"

#include <charconv>
#include <string_view>

namespace edge::lua {
namespace {

// The value as text; false when missing.
bool valueText(const PrefilterMatch& match, const Event& event, char (&buffer)[32],
               std::string_view& out) {
  switch (match.target) {
    case PrefilterMatch::Target::kKind:
      out = event.kind;
      return !out.empty();
    case PrefilterMatch::Target::kSource:
      out = event.source;
      return !out.empty();
    case PrefilterMatch::Target::kHost:
      out = event.host;
      return !out.empty();
    case PrefilterMatch::Target::kRaw:
      out = event.raw;
      return !out.empty();
    case PrefilterMatch::Target::kField:
      break;
  }
  const FieldValue* value = event.findField(match.field);
  if (value == nullptr) return false;
  if (const auto* text = std::get_if<std::string>(value)) {
    out = *text;
  } else if (const auto* integer = std::get_if<int64_t>(value)) {
    auto end = std::to_chars(buffer, buffer + sizeof(buffer), *integer).ptr;
    out = std::string_view(buffer, static_cast<size_t>(end - buffer));
  } else if (const auto* number = std::get_if<double>(value)) {
    auto end = std::to_chars(buffer, buffer + sizeof(buffer), *number).ptr;
    out = std::string_view(buffer, static_cast<size_t>(end - buffer));
  } else {
    out = std::get<bool>(*value) ? "true" : "false";
  }
  return true;
}

const char* targetName(PrefilterMatch::Target target) {
  switch (target) {
    case PrefilterMatch::Target::kKind:
      return "kind";
    case PrefilterMatch::Target::kSource:
      return "source";
    case PrefilterMatch::Target::kHost:
      return "host";
    case PrefilterMatch::Target::kRaw:
      return "raw";
    case PrefilterMatch::Target::kField:
      return "fields.";
  }
  return "?";
}

}  // namespace

bool Prefilter::matches(const Event& event) const {
  for (const PrefilterMatch& match : matches_) {
    char buffer[32];
    std::string_view text;
    const bool present = valueText(match, event, buffer, text);
    if (match.exists && *match.exists != present) return false;
    if (!match.equals.empty()) {
      if (!present) return false;
      bool any = false;
      for (const std::string& value : match.equals) {
        if (text == value) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    if (!match.contains.empty()) {
      if (!present) return false;
      bool any = false;
      for (const std::string& value : match.contains) {
        if (text.find(value) != std::string_view::npos) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
  }
  return true;
}

std::string Prefilter::describe() const {
  if (matches_.empty()) return "none (every event)";
  std::string out;
  auto list = [](const std::vector<std::string>& values) {
    std::string text;
    for (const std::string& value : values) {
      if (!text.empty()) text += " | ";
      text += "\"" + value + "\"";
    }
    return text;
  };
  for (const PrefilterMatch& match : matches_) {
    if (!out.empty()) out += "; ";
    const std::string name = std::string(targetName(match.target)) + match.field;
    std::string part;
    if (match.exists) part += name + (*match.exists ? " exists" : " is absent");
    if (!match.equals.empty()) part += (part.empty() ? "" : ", ") + name + " equals " + list(match.equals);
    if (!match.contains.empty()) {
      part += (part.empty() ? "" : ", ") + name + " contains " + list(match.contains);
    }
    out += part;
  }
  return out;
}

}  // namespace edge::lua
