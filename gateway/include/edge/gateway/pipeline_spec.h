// A pipeline definition that passed every check the gateway can make before
// running it: the `pipeline:` section read (pipeline_config.h), the plugins
// its stages name loaded from gateway.plugin_dir, each plugin stage's
// options validated against the plugin's option table and tried on a
// throw-away instance. Immutable and shared: every worker builds its own
// PipelineRunner (its own plugin instances, limiters and router) from one
// spec, and a SIGHUP reload swaps in a new spec only once it fully loaded.
//
//   gateway:
//     plugin_dir: /usr/lib/edge/plugins   # where plugin stages come from
//   pipeline:
//     stages: [...]                       # docs/pipeline.md
//     routes: [...]
//     default_route: {sinks: [sqlite]}
//
// Without routes and default_route every event goes to the one enabled
// sink, as without a pipeline section.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/result.h"
#include "edge/gateway/pipeline/pipeline_config.h"
#include "edge/lua/stage_config.h"
#include "edge/plugins/host.h"

namespace edge::gateway {

// A plugin stage ready to instantiate.
struct PluginStageSpec {
  plugins::PluginPtr plugin;
  plugins::OptionValues options;  // validated against plugin's option table
};

struct PipelineSpec {
  pipeline::PipelineConfig config;
  // Parallel to config.stages: set for plugin stages.
  std::vector<std::optional<PluginStageSpec>> plugins;
  // Parallel to config.stages: set for Lua stages whose rules compiled.
  std::vector<std::optional<lua::LuaStageConfig>> lua;
  std::string plugin_dir;  // gateway.plugin_dir as read ("" = none)
  std::string source;      // the file it was read from, for logs
  // The ConfigNodes inside `config` point into this document; kept so they
  // stay valid for the spec's lifetime. Null when the caller owns the
  // document (readGatewayConfig on a document of its own).
  std::shared_ptr<ConfigDocument> document;

  // Routes or a default route were configured (else: everything to the one sink).
  bool hasRouting() const { return !config.routing.empty(); }
  // One line for logs: "3 stages (filter_fields, rate_limit debug_cap, ...), 2 routes + default".
  std::string summary() const;
};
using PipelineSpecPtr = std::shared_ptr<const PipelineSpec>;

struct PipelineSpecOptions {
  // Sinks routes may name: the enabled ones. With more than one, the
  // pipeline must route (routes or default_route).
  std::vector<std::string> enabled_sinks;
  std::string plugin_dir;  // gateway.plugin_dir
};

// Reads `pipeline:` of the document's root. Every mistake is recorded in the
// document with file:line and key (check doc.finish()), together with the
// rest of the configuration's errors:
//   - everything readPipelineConfig checks (conditions, templates, rates, sinks);
//   - a plugin stage without gateway.plugin_dir, naming a plugin the
//     directory does not provide or a sink plugin, or whose options the
//     plugin's table or its create hook refuse;
//   - any file of the plugin directory the loader refuses (a reload must not
//     run with a partial set), reported at gateway.plugin_dir;
//   - Lua stages whose settings are wrong or whose rules directory does
//     not compile (each failing rule reported as file:line; docs/lua.md);
//   - several enabled sinks and nothing that routes between them.
// The plugin directory is only loaded when a stage needs a plugin.
// `owner` (optional) is stored in the spec to keep `doc` alive.
std::shared_ptr<PipelineSpec> readPipelineSpec(ConfigDocument& doc,
                                               const PipelineSpecOptions& options,
                                               std::shared_ptr<ConfigDocument> owner = nullptr);

}  // namespace edge::gateway
