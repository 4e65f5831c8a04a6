// Reading and validating a pipeline definition (see pipeline_spec.h): the
// `pipeline:` section, the plugins its stages need, their options.
#include "edge/gateway/pipeline_spec.h"

#include <algorithm>
#include <utility>

#include "edge/gateway/pipeline/router.h"
#include "edge/lua/engine.h"

namespace edge::gateway {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

void validatePluginStages(ConfigDocument& doc, PipelineSpec& spec) {
  std::vector<size_t> plugin_stages;
  for (size_t i = 0; i < spec.config.stages.size(); ++i) {
    if (spec.config.stages[i].kind() == pipeline::StageKind::kPlugin) plugin_stages.push_back(i);
  }
  if (plugin_stages.empty()) return;

  if (spec.plugin_dir.empty()) {
    for (size_t i : plugin_stages) {
      const pipeline::StageConfig& stage = spec.config.stages[i];
      const auto& plugin = std::get<pipeline::PluginStage>(stage.stage);
      doc.recordError(stage.line, stage.path + ".plugin",
                      "plugin stages need gateway.plugin_dir, the directory holding " +
                          plugin.plugin + ".so (e.g. /usr/lib/edge/plugins)");
    }
    return;
  }

  // The whole directory or nothing: a reload must not run with a partial
  // set, and an operator wants to hear about a refused file now.
  plugins::DirectoryLoad load = plugins::loadPluginDirectory(spec.plugin_dir);
  for (const Error& error : load.errors) {
    doc.root()["gateway"].addError("plugin_dir", error.message);
  }
  std::vector<std::string> available;
  for (const plugins::PluginPtr& plugin : load.catalog.plugins()) {
    if (plugin->kind() == plugins::PluginKind::kProcessor) available.push_back(plugin->name());
  }

  for (size_t i : plugin_stages) {
    const pipeline::StageConfig& stage = spec.config.stages[i];
    const auto& wanted = std::get<pipeline::PluginStage>(stage.stage);
    if (wanted.plugin.empty()) continue;  // already reported
    plugins::PluginPtr plugin = load.catalog.find(wanted.plugin);
    if (!plugin) {
      doc.recordError(stage.line, stage.path + ".plugin",
                      "no plugin \"" + wanted.plugin + "\" in gateway.plugin_dir " +
                          spec.plugin_dir + " (processor plugins there: " +
                          (available.empty() ? std::string("none") : joined(available)) +
                          "); install " + wanted.plugin + ".so there or fix the name");
      continue;
    }
    if (plugin->kind() != plugins::PluginKind::kProcessor) {
      doc.recordError(stage.line, stage.path + ".plugin",
                      "plugin \"" + wanted.plugin + "\" (" + plugin->path() +
                          ") is a sink plugin; pipeline stages run processor plugins");
      continue;
    }
    // Type errors land in the document with the option's own line.
    auto options = plugins::validateOptions(*plugin, wanted.options);
    if (!options) continue;
    // A plugin's create hook checks what the table cannot (a key file that
    // must exist, a template that must parse): try it now so the operator
    // hears about it at load, not when a worker starts or a reload swaps.
    auto trial = plugins::ProcessorInstance::create(plugin, wanted.instance, *options);
    if (!trial) {
      doc.recordError(stage.line, stage.path + ".plugin",
                      "plugin " + wanted.plugin + " (instance " + wanted.instance +
                          ") refused its options: " + trial.error().message);
      continue;
    }
    spec.plugins[i] = PluginStageSpec{plugin, std::move(*options)};
  }
}

void validateLuaStages(ConfigDocument& doc, PipelineSpec& spec) {
  // Relative rule directories are relative to the configuration file.
  std::string base_dir;
  if (const size_t slash = doc.filename().rfind('/'); slash != std::string::npos) {
    base_dir = doc.filename().substr(0, slash);
  }
  for (size_t i = 0; i < spec.config.stages.size(); ++i) {
    const pipeline::StageConfig& stage = spec.config.stages[i];
    const auto* lua_stage = std::get_if<pipeline::LuaStage>(&stage.stage);
    if (lua_stage == nullptr) continue;
    auto config = lua::readLuaStageConfig(lua_stage->config, base_dir);
    if (!config) continue;
    // Compile every rule now, as a worker will: a rule that does not
    // compile refuses the configuration (and a SIGHUP reload keeps the
    // running pipeline), naming file:line.
    lua::EngineOptions options;
    options.log_errors = false;
    auto trial = lua::RuleEngine::create(*config, options);
    if (!trial) {
      size_t start = 0;
      const std::string& message = trial.error().message;
      while (start < message.size()) {
        size_t end = message.find('\n', start);
        if (end == std::string::npos) end = message.size();
        doc.recordError(lua_stage->config["rules"].line(), stage.path + ".lua.rules",
                        message.substr(start, end - start));
        start = end + 1;
      }
      continue;
    }
    spec.lua[i] = std::move(*config);
  }
}

}  // namespace

std::string PipelineSpec::summary() const {
  std::string out =
      std::to_string(config.stages.size()) + " stage" + (config.stages.size() == 1 ? "" : "s");
  std::vector<std::string> stages;
  for (size_t i = 0; i < config.stages.size(); ++i) {
    const pipeline::StageConfig& stage = config.stages[i];
    if (const auto* plugin = std::get_if<pipeline::PluginStage>(&stage.stage)) {
      stages.push_back(plugin->instance == plugin->plugin
                           ? plugin->plugin
                           : plugin->plugin + " " + plugin->instance);
    } else if (const auto* limit = std::get_if<pipeline::RateLimitStage>(&stage.stage)) {
      stages.push_back(std::string("rate_limit ") + limit->config.name + " (" +
                       pipeline::rateLimitActionName(limit->config.action) + ")");
    } else {
      // Not the ConfigNode: the document may be gone by now.
      stages.push_back(i < lua.size() && lua[i] ? "lua " + lua[i]->name + " (" + lua[i]->rules_dir + ")"
                                                : std::string("lua"));
    }
  }
  if (!stages.empty()) out += " (" + joined(stages) + ")";
  const size_t routes = config.routing.routes.size();
  if (!hasRouting()) {
    out += ", no routes (every event to the one sink)";
  } else {
    out += ", " + std::to_string(routes) + " route" + (routes == 1 ? "" : "s");
    out += config.routing.default_route
               ? " + default_route to " + joined(config.routing.default_route->sinks)
               : ", no default_route (unmatched events are dropped)";
  }
  return out;
}

std::shared_ptr<PipelineSpec> readPipelineSpec(ConfigDocument& doc,
                                               const PipelineSpecOptions& options,
                                               std::shared_ptr<ConfigDocument> owner) {
  auto spec = std::make_shared<PipelineSpec>();
  spec->document = std::move(owner);
  spec->plugin_dir = options.plugin_dir;
  spec->source = doc.filename();
  ConfigNode node = doc.root()["pipeline"];
  spec->config = pipeline::readPipelineConfig(node, {options.enabled_sinks});
  spec->plugins.resize(spec->config.stages.size());
  spec->lua.resize(spec->config.stages.size());
  validateLuaStages(doc, *spec);
  if (!spec->hasRouting() && options.enabled_sinks.size() > 1) {
    const std::string message =
        "sinks " + joined(options.enabled_sinks) +
        " are all enabled but nothing says which events go where; add pipeline.routes and/or "
        "pipeline.default_route (docs/pipeline.md), or disable all but one sink";
    if (node.exists()) {
      node.addError(message);
    } else {
      doc.root()["sinks"].addError(message);
    }
  }
  validatePluginStages(doc, *spec);

  // Conditions and templates were compiled by the reader; building a router
  // here as well keeps "a spec that loaded builds on every worker" true
  // even if the two ever disagree.
  if (spec->hasRouting()) {
    if (auto router = pipeline::Router::create(spec->config.routing); !router) {
      node.addError(router.error().message);
    }
  }
  return spec;
}

}  // namespace edge::gateway
