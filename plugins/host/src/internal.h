// Private to edge_plugin_host: the host's definitions of the ABI's opaque
// handles (edge_host_ctx, edge_counter) and access to the private parts of
// the public classes, shared by the loader, options, host API and instance code.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "edge/plugins/host.h"

struct edge_counter {
  edge::Counter* counter = nullptr;
};

// The host's side of one plugin instance: who it is (for logs and metric
// names), where its counters go, and which clock it reads.
struct edge_host_ctx {
  edge_host_ctx(std::string plugin, std::string instance,
                edge::plugins::HostEnvironment environment);

  int64_t now() const;
  void log(edge::plugins::LogLevel level, std::string_view message);

  std::string plugin_name;
  std::string instance_name;
  edge::plugins::HostEnvironment env;
  std::unique_ptr<edge::MetricsRegistry> own_metrics;  // when env.metrics is null
  edge::MetricsRegistry* metrics = nullptr;

  std::mutex counters_mutex;
  std::deque<edge_counter> counters;  // deque: handles given to the plugin never move

  // The host's own per-instance counters.
  edge::Counter* dropped = nullptr;
  edge::Counter* emitted = nullptr;
  edge::Counter* errors = nullptr;

  // A plugin that logs per event must not flood the gateway's log.
  edge::LogRateLimiter log_limiter{50, std::chrono::seconds(1)};
  edge::LogRateLimiter error_limiter{5, std::chrono::seconds(10)};
};

namespace edge::plugins {

struct PluginAccess {
  static std::shared_ptr<Plugin> make() { return std::shared_ptr<Plugin>(new Plugin()); }
  static void*& handle(Plugin& p) { return p.handle_; }
  static const edge_plugin_descriptor*& descriptor(Plugin& p) { return p.descriptor_; }
  static std::string& path(Plugin& p) { return p.path_; }
  static std::string& name(Plugin& p) { return p.name_; }
  static std::string& version(Plugin& p) { return p.version_; }
  static std::string& description(Plugin& p) { return p.description_; }
  static PluginKind& kind(Plugin& p) { return p.kind_; }
  static std::vector<OptionSpec>& options(Plugin& p) { return p.options_; }
};

struct OptionAccess {
  static std::string& pluginName(OptionValues& v) { return v.plugin_name_; }
  static std::vector<std::string>& names(OptionValues& v) { return v.names_; }
  static std::vector<OptionValues::Value>& values(OptionValues& v) { return v.values_; }
  static const std::vector<std::string>& names(const OptionValues& v) { return v.names_; }
};

// Parses one option value from text (the operator's or the table's default).
// The error is "expected <what>, got <value>" without plugin/option prefix.
Result<OptionValues::Value> parseOptionText(OptionType type, std::string_view text);

// [a-z][a-z0-9_]* (plugin and option names).
bool isIdentifier(std::string_view name);

}  // namespace edge::plugins
