// Validating an instance's options against its plugin's option table, from
// YAML (ConfigNode) or plain strings, with messages that name the plugin,
// the option and the expected type.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "internal.h"

namespace edge::plugins {
namespace {

std::string quote(std::string_view text) {
  constexpr size_t kMaxShown = 80;
  std::string shown(text.substr(0, kMaxShown));
  std::string out =
      nlohmann::json(shown).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxShown) out.insert(out.size() - 1, "...");
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Error expected(OptionType type, std::string_view text) {
  return makeError(ErrorCode::kConfig,
                   std::string("expected ") + optionTypeExpectation(type) + ", got " + quote(text));
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string unknownOptionMessage(const Plugin& plugin, std::string_view key) {
  std::string message = "plugin " + plugin.name() + " has no option '" + std::string(key) + "'";
  const OptionSpec* best = nullptr;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const OptionSpec& spec : plugin.options()) {
    size_t d = editDistance(key, spec.name);
    if (d < best_distance) {
      best_distance = d;
      best = &spec;
    }
  }
  if (best != nullptr && best_distance <= std::max<size_t>(2, best->name.size() / 3)) {
    return message + "; did you mean '" + best->name + "'?";
  }
  if (plugin.options().empty()) return message + "; it takes no options";
  message += "; its options are ";
  for (size_t i = 0; i < plugin.options().size(); ++i) {
    if (i > 0) message += ", ";
    message += plugin.options()[i].name;
  }
  return message;
}

std::string prefix(const Plugin& plugin, const OptionSpec& spec) {
  return "plugin " + plugin.name() + ", option " + spec.name + ": ";
}

OptionValues::Value defaultValue(const OptionSpec& spec) {
  if (!spec.default_value) return {};
  // The loader already parsed every default, so this cannot fail.
  auto parsed = parseOptionText(spec.type, *spec.default_value);
  OptionValues::Value value = parsed ? *parsed : OptionValues::Value{};
  value.is_set = false;
  return value;
}

OptionValues makeValues(const Plugin& plugin) {
  OptionValues values;
  OptionAccess::pluginName(values) = plugin.name();
  for (const OptionSpec& spec : plugin.options()) {
    OptionAccess::names(values).push_back(spec.name);
    OptionAccess::values(values).push_back(defaultValue(spec));
  }
  return values;
}

std::string missingRequired(const Plugin& plugin, const OptionSpec& spec) {
  return prefix(plugin, spec) + "missing required option (expected " +
         optionTypeExpectation(spec.type) + ": " + spec.help + ")";
}

Result<OptionValues> finish(OptionValues values, const std::vector<std::string>& errors) {
  if (errors.empty()) return values;
  std::string all;
  for (const std::string& e : errors) {
    if (!all.empty()) all += '\n';
    all += e;
  }
  return makeError(ErrorCode::kConfig, all);
}

}  // namespace

const char* optionTypeName(OptionType type) {
  switch (type) {
    case OptionType::kString:
      return "string";
    case OptionType::kInt:
      return "int";
    case OptionType::kBool:
      return "bool";
    case OptionType::kDouble:
      return "double";
    case OptionType::kBytes:
      return "bytes";
    case OptionType::kDuration:
      return "duration";
    case OptionType::kStringList:
      return "string list";
  }
  return "unknown";
}

const char* optionTypeExpectation(OptionType type) {
  switch (type) {
    case OptionType::kString:
      return "a string";
    case OptionType::kInt:
      return "an integer";
    case OptionType::kBool:
      return "true or false";
    case OptionType::kDouble:
      return "a number";
    case OptionType::kBytes:
      return "a byte size such as 1048576, 64KiB or 10MiB";
    case OptionType::kDuration:
      return "a duration such as 250ms, 5s, 2m or 1h";
    case OptionType::kStringList:
      return "a list of strings";
  }
  return "a value";
}

const OptionValues::Value* OptionValues::find(std::string_view name) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return &values_[i];
  }
  return nullptr;
}

Result<OptionValues::Value> parseOptionText(OptionType type, std::string_view text) {
  OptionValues::Value value;
  value.is_set = true;
  value.has_value = true;
  value.text = std::string(text);
  std::string_view t = trim(text);
  switch (type) {
    case OptionType::kString:
      break;
    case OptionType::kInt: {
      if (!t.empty() && t.front() == '+') t.remove_prefix(1);
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value.integer);
      if (t.empty() || ec != std::errc() || end != t.data() + t.size()) return expected(type, text);
      value.number = static_cast<double>(value.integer);
      break;
    }
    case OptionType::kBool: {
      auto any = [&](std::initializer_list<std::string_view> words) {
        return std::any_of(words.begin(), words.end(),
                           [&](std::string_view w) { return equalsIgnoreCase(t, w); });
      };
      if (any({"true", "yes", "on"})) {
        value.integer = 1;
      } else if (any({"false", "no", "off"})) {
        value.integer = 0;
      } else {
        return expected(type, text);
      }
      break;
    }
    case OptionType::kDouble: {
      if (!t.empty() && t.front() == '+') t.remove_prefix(1);
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value.number);
      if (t.empty() || ec != std::errc() || end != t.data() + t.size() ||
          !std::isfinite(value.number)) {
        return expected(type, text);
      }
      break;
    }
    case OptionType::kBytes: {
      auto bytes = parseByteSize(text);
      if (!bytes) return makeError(ErrorCode::kConfig, bytes.error().message);
      if (*bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return expected(type, text);
      value.integer = static_cast<int64_t>(*bytes);
      break;
    }
    case OptionType::kDuration: {
      auto ms = parseDuration(text);
      if (!ms) return makeError(ErrorCode::kConfig, ms.error().message);
      value.integer = ms->count();
      break;
    }
    case OptionType::kStringList: {
      // Text form (defaults, string maps): comma-separated, blanks ignored.
      size_t start = 0;
      while (start <= text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string_view::npos) comma = text.size();
        std::string_view item = trim(text.substr(start, comma - start));
        if (!item.empty()) value.list.emplace_back(item);
        start = comma + 1;
      }
      break;
    }
  }
  return value;
}

Result<OptionValues> validateOptions(const Plugin& plugin, const ConfigNode& node) {
  OptionValues values = makeValues(plugin);
  std::vector<std::string> errors;
  auto fail = [&](const ConfigNode& at, const std::string& message) {
    at.addError(message);
    errors.push_back((at.path().empty() ? "" : at.path() + ": ") + message);
  };

  bool present = node.exists() && (node.isMap() || node.isScalar() || node.isSequence());
  if (present && !node.isMap()) {
    fail(node, "plugin " + plugin.name() + ": expected a map of options");
    return finish(std::move(values), errors);
  }
  if (present) {
    for (const std::string& key : node.keys()) {
      if (plugin.findOption(key) == nullptr) fail(node[key], unknownOptionMessage(plugin, key));
    }
  }
  auto& out = OptionAccess::values(values);
  for (size_t i = 0; i < plugin.options().size(); ++i) {
    const OptionSpec& spec = plugin.options()[i];
    ConfigNode child = node[spec.name];
    // A key with an empty value ("key:") counts as absent, as in ConfigNode's getters.
    bool has = child.exists() && (child.isScalar() || child.isSequence() || child.isMap());
    if (!has) {
      if (spec.required) fail(child, missingRequired(plugin, spec));
      continue;
    }
    if (spec.type == OptionType::kStringList) {
      OptionValues::Value value;
      value.is_set = value.has_value = true;
      bool ok = true;
      if (child.isScalar()) {
        value.list.push_back(child.asString());
      } else if (child.isSequence()) {
        for (const ConfigNode& element : child.elements()) {
          if (!element.isScalar()) {
            fail(element, prefix(plugin, spec) +
                              "expected a list of strings, got an element that is " +
                              (element.isMap()        ? "a map"
                               : element.isSequence() ? "a list"
                                                      : "empty"));
            ok = false;
            continue;
          }
          value.list.push_back(element.asString());
        }
      } else {
        fail(child, prefix(plugin, spec) + "expected a list of strings, got a map");
        ok = false;
      }
      for (size_t j = 0; j < value.list.size(); ++j) value.text += (j ? "," : "") + value.list[j];
      if (ok) out[i] = std::move(value);
      continue;
    }
    if (!child.isScalar()) {
      fail(child, prefix(plugin, spec) + "expected " + optionTypeExpectation(spec.type) + ", got " +
                      (child.isMap() ? "a map" : "a list"));
      continue;
    }
    auto parsed = parseOptionText(spec.type, child.asString());
    if (!parsed) {
      fail(child, prefix(plugin, spec) + parsed.error().message);
      continue;
    }
    out[i] = std::move(*parsed);
  }
  return finish(std::move(values), errors);
}

Result<OptionValues> validateOptions(const Plugin& plugin,
                                     const std::map<std::string, std::string>& given) {
  OptionValues values = makeValues(plugin);
  std::vector<std::string> errors;
  for (const auto& [key, text] : given) {
    if (plugin.findOption(key) == nullptr) errors.push_back(unknownOptionMessage(plugin, key));
  }
  auto& out = OptionAccess::values(values);
  for (size_t i = 0; i < plugin.options().size(); ++i) {
    const OptionSpec& spec = plugin.options()[i];
    auto it = given.find(spec.name);
    if (it == given.end()) {
      if (spec.required) errors.push_back(missingRequired(plugin, spec));
      continue;
    }
    auto parsed = parseOptionText(spec.type, it->second);
    if (!parsed) {
      errors.push_back(prefix(plugin, spec) + parsed.error().message);
      continue;
    }
    out[i] = std::move(*parsed);
  }
  return finish(std::move(values), errors);
}

}  // namespace edge::plugins
