// Reading `pipeline:` (stages, routes, default_route) into plain structs.
// Everything that can be checked here is (conditions compile, templates
// parse, rates parse), so building per-worker routers and limiters from the
// result cannot fail on the operator's input.
#include "edge/gateway/pipeline/pipeline_config.h"

#include <algorithm>
#include <cmath>

namespace edge::gateway::pipeline {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// A template key: checked now so the error has a line.
void checkTemplate(const ConfigNode& parent, std::string_view key, const std::string& text,
                   TemplateMode mode, const std::string& missing) {
  if (text.empty()) {
    // (A non-scalar value was already reported by getString.)
    if (parent[key].isScalar()) parent.addError(key, "empty template; leave the key out instead");
    return;
  }
  auto compiled = Template::compile(text, mode, missing);
  if (!compiled) parent.addError(key, compiled.error().message);
}

std::vector<std::string> readSinks(const ConfigNode& route, const PipelineReadOptions& options) {
  std::vector<std::string> sinks;
  ConfigNode node = route["sinks"];
  if (!node.exists()) {
    route.addError("sinks", "missing required key: the sinks this route sends to, e.g. [kafka]");
    return sinks;
  }
  std::vector<ConfigNode> items;
  if (node.isScalar()) {
    items.push_back(node);
  } else if (node.isSequence()) {
    items = node.elements();
  } else {
    route.addError("sinks", "expected a list of sink names, e.g. [kafka, postgres]");
    return sinks;
  }
  if (items.empty()) route.addError("sinks", "a route needs at least one sink");
  for (const ConfigNode& item : items) {
    if (!item.isScalar()) {
      item.addError("expected a sink name");
      continue;
    }
    std::string name = item.asString();
    if (name.empty()) {
      item.addError("empty sink name");
      continue;
    }
    if (contains(sinks, name)) {
      item.addError("sink \"" + name + "\" is listed twice");
      continue;
    }
    if (!options.known_sinks.empty() && !contains(options.known_sinks, name)) {
      item.addError("unknown sink \"" + name + "\"; configured sinks are " +
                    joined(options.known_sinks));
    }
    sinks.push_back(std::move(name));
  }
  return sinks;
}

RouteConfig readRoute(const ConfigNode& node, bool is_default, const std::string& missing,
                      const PipelineReadOptions& options) {
  RouteConfig route;
  route.path = node.path();
  route.line = node.line();
  if (!node.isMap()) {
    node.addError(is_default ? "expected a map such as {sinks: [sqlite]}"
                             : "expected a route: a map with name, match, sinks, ...");
    return route;
  }
  if (is_default) {
    node.rejectUnknownKeys({"sinks", "topic", "table"});
    route.name = "default";
  } else {
    node.rejectUnknownKeys({"name", "match", "sinks", "topic", "table", "continue"});
    route.name = node.requireString("name");
    route.continue_matching = node.getBool("continue", false);
    if (node["match"].exists()) route.match = readCondition(node["match"]);
  }
  route.sinks = readSinks(node, options);
  route.topic = node.getString("topic", "");
  route.table = node.getString("table", "");
  checkTemplate(node, "topic", route.topic, TemplateMode::kTopic, missing);
  checkTemplate(node, "table", route.table, TemplateMode::kTable, missing);
  return route;
}

RateLimitConfig readRateLimit(const ConfigNode& node, size_t stage_index,
                              const std::string& missing) {
  RateLimitConfig config;
  config.path = node.path();
  config.line = node.line();
  config.missing_value = missing;
  if (!node.isMap()) {
    node.addError("expected a map such as {key: agent, rate: 1000/s, action: throttle}");
    return config;
  }
  node.rejectUnknownKeys(
      {"name", "key", "rate", "burst", "action", "sample", "max_keys", "idle_timeout", "match"});
  config.name = node.getString("name", "rate_limit_" + std::to_string(stage_index));
  if (config.name.empty()) node.addError("name", "must not be empty");

  std::string key = node.getString("key", "agent");
  if (key == "agent") {
    config.key = "{agent_id}";
  } else if (key == "tenant") {
    config.key = "{tenant}";
  } else {
    config.key = key;
    auto compiled = Template::compile(key, TemplateMode::kKey, missing);
    if (!compiled) {
      node.addError("key", "expected agent, tenant or a template such as \"{tenant}/{host}\": " +
                               compiled.error().message);
    }
  }

  if (!node["rate"].exists()) {
    node.addError("rate", "missing required key: a rate such as 1000/s, 60/m or 5/h");
  } else if (std::string text = node.getString("rate", ""); node["rate"].isScalar()) {
    auto rate = parseRate(text);
    if (!rate) {
      node.addError("rate", rate.error().message);
    } else {
      config.rate_per_second = *rate;
    }
  }
  config.burst = static_cast<uint64_t>(node.getInt("burst", 0, 1, 1'000'000'000'000));
  if (config.rate_per_second > 0 && config.burst > 1 &&
      static_cast<double>(config.burst - 1) / config.rate_per_second > 1e9) {
    node.addError("burst", "burst " + std::to_string(config.burst) +
                               " at this rate spans more than 30 years; lower burst");
  }

  if (!node["action"].exists()) {
    node.addError("action",
                  "missing required key: drop, sample (keep 1 in N) or throttle (withhold "
                  "credit, nothing lost)");
  }
  std::string action = node.getEnum("action", "drop", {"drop", "sample", "throttle"});
  config.action = action == "sample"     ? RateLimitAction::kSample
                  : action == "throttle" ? RateLimitAction::kThrottle
                                         : RateLimitAction::kDrop;
  if (node["sample"].exists() && node["action"].exists() &&
      config.action != RateLimitAction::kSample) {
    node.addError("sample", "only applies to action: sample");
  }
  config.sample_one_in = static_cast<uint32_t>(node.getInt("sample", 10, 1, 1'000'000));
  config.max_keys = static_cast<size_t>(node.getInt("max_keys", 100'000, 1, 100'000'000));
  config.idle_timeout = node.getDuration("idle_timeout", std::chrono::minutes(5));
  if (config.idle_timeout.count() <= 0) {
    node.addError("idle_timeout", "must be above zero");
    config.idle_timeout = std::chrono::minutes(5);
  }
  if (node["match"].exists()) config.match = readCondition(node["match"]);
  return config;
}

constexpr std::string_view kStageKinds[] = {"plugin", "rate_limit", "lua"};

std::optional<StageConfig> readStage(const ConfigNode& node, size_t index,
                                     const std::string& missing) {
  if (!node.isMap()) {
    node.addError("expected a stage: a map with one of plugin, rate_limit or lua");
    return std::nullopt;
  }
  std::vector<std::string> kinds;
  for (const std::string& key : node.keys()) {
    if (std::find(std::begin(kStageKinds), std::end(kStageKinds), key) != std::end(kStageKinds)) {
      kinds.push_back(key);
    }
  }
  if (kinds.size() != 1) {
    node.rejectUnknownKeys({"plugin", "options", "instance", "rate_limit", "lua"});
    node.addError(kinds.empty() ? "a stage needs one of plugin, rate_limit or lua"
                                : "a stage has exactly one of plugin, rate_limit or lua, not " +
                                      joined(kinds) + "; make them separate stages");
    return std::nullopt;
  }
  const std::string& kind = kinds.front();
  ConfigNode body = node[kind];
  StageConfig stage{PluginStage{"", "", body}, node.path(), node.line()};
  if (kind == "plugin") {
    PluginStage plugin{"", "", node["options"]};
    if (body.isMap()) {
      // plugin: {name, instance, options}
      for (std::string_view beside : {"options", "instance"}) {
        if (node[beside].exists()) {
          node.addError(beside, std::string(beside) + " goes inside plugin: {name: ..., " +
                                    std::string(beside) +
                                    ": ...}, or use the short form plugin: <name>");
        }
      }
      node.rejectUnknownKeys({"plugin", "options", "instance"});
      body.rejectUnknownKeys({"name", "instance", "options"});
      plugin.plugin = body.requireString("name");
      plugin.instance = body.getString("instance", "");
      plugin.options = body["options"];
    } else if (body.isScalar()) {
      // plugin: <name>, with options and instance beside it (docs/plugins.md)
      node.rejectUnknownKeys({"plugin", "instance", "options"});
      plugin.plugin = body.asString();
      plugin.instance = node.getString("instance", "");
    } else {
      node.addError("plugin", "expected a plugin name or a map {name: ..., options: {...}}");
      return std::nullopt;
    }
    if (plugin.plugin.empty()) node.addError("plugin", "the plugin name must not be empty");
    if (plugin.options.exists() && !plugin.options.isMap()) {
      plugin.options.addError("expected a map of plugin options");
    }
    if (plugin.instance.empty()) plugin.instance = plugin.plugin;
    stage.stage = std::move(plugin);
  } else if (kind == "rate_limit") {
    node.rejectUnknownKeys({"rate_limit"});
    stage.stage = RateLimitStage{readRateLimit(body, index, missing)};
  } else {
    node.rejectUnknownKeys({"lua"});
    if (!body.isMap()) node.addError("lua", "expected a map of Lua stage settings");
    stage.stage = LuaStage{body};
  }
  return stage;
}

}  // namespace

PipelineConfig readPipelineConfig(const ConfigNode& pipeline, const PipelineReadOptions& options) {
  PipelineConfig config;
  if (!pipeline.exists()) return config;
  if (!pipeline.isMap()) {
    pipeline.addError("expected a map with stages, routes and default_route");
    return config;
  }
  pipeline.rejectUnknownKeys({"stages", "routes", "default_route", "missing_value"});
  std::string missing = pipeline.getString("missing_value", "unknown");
  if (missing.empty()) {
    pipeline.addError("missing_value", "must not be empty (topic and table names cannot be)");
    missing = "unknown";
  }
  config.routing.missing_value = missing;

  std::vector<std::string> instances;
  std::vector<std::string> limiters;
  std::vector<ConfigNode> stages = pipeline["stages"].elements();
  for (size_t i = 0; i < stages.size(); ++i) {
    auto stage = readStage(stages[i], i, missing);
    if (!stage) continue;
    if (const auto* plugin = std::get_if<PluginStage>(&stage->stage)) {
      if (contains(instances, plugin->instance)) {
        stages[i].addError("instance name \"" + plugin->instance +
                           "\" is used by an earlier stage; give this one its own instance:");
      }
      instances.push_back(plugin->instance);
    } else if (const auto* limit = std::get_if<RateLimitStage>(&stage->stage)) {
      if (contains(limiters, limit->config.name)) {
        stages[i].addError("rate_limit name \"" + limit->config.name +
                           "\" is used by an earlier stage; names label the metrics, so each "
                           "needs its own");
      }
      limiters.push_back(limit->config.name);
    }
    config.stages.push_back(std::move(*stage));
  }

  std::vector<std::string> route_names;
  for (const ConfigNode& node : pipeline["routes"].elements()) {
    RouteConfig route = readRoute(node, false, missing, options);
    if (route.name == "default") {
      node.addError("name", "\"default\" is reserved for default_route; choose another name");
    } else if (!route.name.empty() && contains(route_names, route.name)) {
      node.addError("name", "another route is already named \"" + route.name + "\"");
    }
    route_names.push_back(route.name);
    config.routing.routes.push_back(std::move(route));
  }
  if (pipeline["default_route"].exists()) {
    config.routing.default_route = readRoute(pipeline["default_route"], true, missing, options);
  }
  return config;
}

Result<LoadedPipeline> parsePipelineConfig(std::string_view yaml, std::string filename,
                                           const PipelineReadOptions& options) {
  auto doc = ConfigDocument::parse(yaml, std::move(filename));
  if (!doc) return doc.error();
  LoadedPipeline loaded;
  loaded.document = std::move(*doc);
  ConfigNode root = loaded.document->root();
  root.rejectUnknownKeys({"pipeline"});
  loaded.config = readPipelineConfig(root["pipeline"], options);
  EDGE_TRY(loaded.document->finish());
  return loaded;
}

}  // namespace edge::gateway::pipeline
