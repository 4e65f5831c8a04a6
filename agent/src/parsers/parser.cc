// parser: configuration (parseParserConfig) and the factory (makeParser)
// for the per-input parsers; the syslog parser is wrapped here so it gets
// the same time_key/types handling as the others.
#include "edge/agent/parser.h"

#include "parsers/json_parser.h"
#include "parsers/logfmt_parser.h"
#include "parsers/regex_parser.h"
#include "parsers/syslog_parser.h"

namespace edge::agent {
namespace {

class SyslogFieldParser final : public FieldParser {
 public:
  explicit SyslogFieldParser(ParserOptions options) : FieldParser(std::move(options)) {}

 protected:
  bool extract(Event& event, std::vector<Field>& /*out*/, std::string& error) const override {
    // The syslog parser writes fields, ts, host and severity (from PRI)
    // itself and leaves the event unchanged when it is not syslog.
    // Event::host is only replaced when the message names a host.
    std::string_view raw = event.raw;
    uint64_t dropped = 0;
    if (parseSyslogRecord(raw, event, SyslogParseOptions{}, &dropped) == SyslogFormat::kNone) {
      error = "syslog: not a syslog message (neither <PRI> nor a timestamp at its start)";
      return false;
    }
    countDroppedFields(dropped);
    return true;
  }
};

Result<ParserOptions> makeOptions(const ParserConfig& config) {
  ParserOptions options;
  options.time_key = config.time_key;
  if (!config.time_key.empty()) {
    auto time = TimeParser::create(config.time_format);
    if (!time) return time.error();
    options.time = std::move(time.value());
  }
  for (const auto& [field, type_name] : config.types) {
    auto type = parseFieldType(type_name);
    if (!type) {
      return makeError(ErrorCode::kConfig, "parser.types." + field +
                                               ": expected int, float, "
                                               "bool or string, got \"" +
                                               type_name + "\"");
    }
    options.types.emplace_back(field, *type);
  }
  options.map_severity = config.type != ParserType::kSyslog;
  return options;
}

}  // namespace

ParserConfig parseParserConfig(const ConfigNode& input_node) {
  ParserConfig config;
  ConfigNode node = input_node["parser"];
  if (!node.exists()) return config;
  std::string type;
  if (node.isScalar()) {
    type = node.asString();  // shorthand: parser: json
  } else if (node.isMap()) {
    node.rejectUnknownKeys({"type", "pattern", "time_key", "time_format", "types"});
    type = node.requireString("type");
    config.pattern = node.getString("pattern", "");
    config.time_key = node.getString("time_key", "");
    config.time_format = node.getString("time_format", config.time_format);
    ConfigNode types = node["types"];
    if (types.exists() && !types.isMap()) {
      types.addError("expected a map of field: int|float|bool|string, e.g. {status: int}");
    } else if (types.exists()) {
      for (const std::string& field : types.keys()) {
        std::string type_name = types[field].asString();
        if (!parseFieldType(type_name)) {
          types.addError(field, "expected int, float, bool or string, got \"" + type_name + "\"");
          continue;
        }
        config.types[field] = type_name;
      }
    }
  } else {
    // "parser:" with nothing after it: no parser.
    return config;
  }

  if (type == "none" || type.empty()) {
    config.type = ParserType::kNone;
  } else if (type == "json") {
    config.type = ParserType::kJson;
  } else if (type == "logfmt") {
    config.type = ParserType::kLogfmt;
  } else if (type == "regex") {
    config.type = ParserType::kRegex;
  } else if (type == "syslog") {
    config.type = ParserType::kSyslog;
  } else {
    ConfigNode where = node.isMap() ? node["type"] : node;
    where.addError("expected one of json, logfmt, regex, syslog, none, got \"" + type + "\"");
    return config;
  }

  if (!node.isMap()) {
    if (config.type == ParserType::kRegex) {
      node.addError(
          "a regex parser needs a pattern: write parser: {type: regex, pattern: "
          "'...'}");
    }
    return config;
  }
  if (config.type == ParserType::kRegex && config.pattern.empty()) {
    node.addError("pattern",
                  "missing required key: a regex parser needs a pattern with named groups, "
                  "e.g. '^(?<ip>\\S+) (?<status>\\d+)'");
  } else if (config.type != ParserType::kRegex && !config.pattern.empty()) {
    node.addError("pattern", "only a regex parser takes a pattern; remove it or set type: regex");
  }
  if (!config.time_key.empty()) {
    if (auto time = TimeParser::create(config.time_format); !time) {
      node.addError("time_format", time.error().message);
    }
  } else if (node["time_format"].exists()) {
    node.addError("time_format",
                  "time_format has no effect without time_key; name the field "
                  "holding the event time in time_key");
  }
  // Compile now so --check-config reports a bad pattern.
  if (config.type == ParserType::kRegex && !config.pattern.empty()) {
    auto parser = makeParser(config);
    if (!parser) node.addError("pattern", parser.error().message);
  }
  return config;
}

Result<std::unique_ptr<Parser>> makeParser(const ParserConfig& config) {
  if (config.type == ParserType::kNone) return std::unique_ptr<Parser>();
  auto options = makeOptions(config);
  if (!options) return options.error();
  switch (config.type) {
    case ParserType::kJson:
      return std::unique_ptr<Parser>(std::make_unique<JsonParser>(std::move(options.value())));
    case ParserType::kLogfmt:
      return std::unique_ptr<Parser>(std::make_unique<LogfmtParser>(std::move(options.value())));
    case ParserType::kRegex: {
      auto parser = RegexParser::create(config.pattern, std::move(options.value()));
      if (!parser) return parser.error();
      return std::unique_ptr<Parser>(std::move(parser.value()));
    }
    case ParserType::kSyslog:
      return std::unique_ptr<Parser>(
          std::make_unique<SyslogFieldParser>(std::move(options.value())));
    case ParserType::kNone:
      break;
  }
  return std::unique_ptr<Parser>();
}

}  // namespace edge::agent
