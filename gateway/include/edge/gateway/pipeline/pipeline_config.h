// The `pipeline:` section of the gateway configuration, read into plain
// structs with every mistake reported at once (file:line, dotted key, "did
// you mean" for unknown keys) through the node's ConfigDocument:
//
//   pipeline:
//     missing_value: unknown          # what templates render for a missing field
//     stages:                         # in order, for every batch
//       - plugin: {name: filter_fields, options: {remove: [password]}}
//       - plugin: filter_dedup        # short form, as in docs/plugins.md
//         instance: dedup_auth        # optional; default: the plugin name
//         options: {key: "{host}:{raw}", window: 30s}
//       - rate_limit: {name: per_agent, key: agent, rate: 1000/s, burst: 2000, action: throttle}
//       - lua: {script: detect.lua}   # captured as is for the Lua stage
//     routes:
//       - name: auth
//         match: {field: kind, equals: auth}
//         sinks: [kafka, postgres]
//         topic: "edge.{tenant}.{kind}"
//         table: "auth_{tenant}"
//         continue: true
//     default_route: {sinks: [sqlite]}
//
// docs/pipeline.md is the reference for every key.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/result.h"
#include "edge/gateway/pipeline/rate_limiter.h"
#include "edge/gateway/pipeline/router.h"

namespace edge::gateway::pipeline {

// A processor plugin stage. `options` is the YAML map as written, for
// edge::plugins::validateOptions; like every ConfigNode it refers to its
// ConfigDocument, which must outlive it (validate in the same pass, before
// ConfigDocument::finish(), so plugin option errors are reported with the rest).
struct PluginStage {
  std::string plugin;    // plugin name, e.g. filter_dedup
  std::string instance;  // unique among the stages; default: the plugin name
  ConfigNode options;    // may not exist (no options)
};

struct RateLimitStage {
  RateLimitConfig config;
};

// A Lua stage, captured for the Lua work to interpret (same lifetime rule
// as PluginStage::options).
struct LuaStage {
  ConfigNode config;
};

enum class StageKind : uint8_t { kPlugin, kRateLimit, kLua };

struct StageConfig {
  std::variant<PluginStage, RateLimitStage, LuaStage> stage;
  std::string path;  // e.g. pipeline.stages[2]
  int line = 0;
  StageKind kind() const { return static_cast<StageKind>(stage.index()); }
};

struct PipelineConfig {
  std::vector<StageConfig> stages;
  RoutingConfig routing;
};

struct PipelineReadOptions {
  // Sink names that exist; a route naming another one is an error (with
  // the list). Empty: not checked (the caller checks sinkNames() itself).
  std::vector<std::string> known_sinks;
};

// Reads the `pipeline:` node (missing: an empty pipeline). Errors go to the
// node's document; check ConfigDocument::finish().
PipelineConfig readPipelineConfig(const ConfigNode& pipeline,
                                  const PipelineReadOptions& options = {});

// For a file that holds only a `pipeline:` section (tests, tools). The
// document is returned with the config because the stages' ConfigNodes
// point into it.
struct LoadedPipeline {
  std::unique_ptr<ConfigDocument> document;
  PipelineConfig config;
};
Result<LoadedPipeline> parsePipelineConfig(std::string_view yaml, std::string filename,
                                           const PipelineReadOptions& options = {});

}  // namespace edge::gateway::pipeline
