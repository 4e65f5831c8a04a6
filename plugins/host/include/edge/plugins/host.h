// The gateway's side of the plugin ABI (edge/plugin_abi.h): loads plugin
// shared objects and refuses unsafe or incompatible ones with the exact
// reason, validates instance options against a plugin's option table,
// creates instances, runs batches of edge::Event through them, and renders
// the configuration reference from the loaded descriptors.
//
//   auto load = edge::plugins::loadPluginDirectory("/usr/lib/edge/plugins");
//   if (!load.ok()) { report(load.errorText()); }            // one line per refused file
//   auto plugin = load.catalog.find("filter_dedup");
//   auto options = edge::plugins::validateOptions(*plugin, stage["options"]);
//   auto instance = edge::plugins::ProcessorInstance::create(plugin, "dedup", *options, env);
//   edge::plugins::ProcessOutcome out = (*instance)->process(batch.events, {agent_id, batch_id});
//
// Threading: loading and validation are free functions without shared state.
// An instance must only be used from one thread at a time (a worker owns its
// instances); create one instance per worker. A Plugin (the loaded .so) is
// shared and stays mapped while any instance or catalog holds it, so
// in-flight batches finish on old instances after a reload.
#pragma once

#include <edge/plugin_abi.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/event.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"

namespace edge::plugins {

enum class PluginKind { kProcessor, kSink };
const char* pluginKindName(PluginKind kind);  // "processor", "sink"

enum class OptionType {
  kString = EDGE_OPT_STRING,
  kInt = EDGE_OPT_INT,
  kBool = EDGE_OPT_BOOL,
  kDouble = EDGE_OPT_DOUBLE,
  kBytes = EDGE_OPT_BYTES,
  kDuration = EDGE_OPT_DURATION,
  kStringList = EDGE_OPT_STRING_LIST,
};
const char* optionTypeName(OptionType type);  // "string", "int", ... as in the docs
// What a value of this type looks like, for error messages ("an integer").
const char* optionTypeExpectation(OptionType type);

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::kString;
  bool required = false;
  std::optional<std::string> default_value;
  std::string help;
};

// One loaded plugin shared object. Immutable; closes the .so when the last
// reference (catalog, instance) goes away.
class Plugin {
 public:
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& description() const { return description_; }
  const std::string& path() const { return path_; }
  PluginKind kind() const { return kind_; }
  uint32_t abiMinor() const { return descriptor_->abi_minor; }
  const std::vector<OptionSpec>& options() const { return options_; }
  const OptionSpec* findOption(std::string_view name) const;
  const edge_plugin_descriptor& descriptor() const { return *descriptor_; }

 private:
  friend struct PluginAccess;
  Plugin() = default;
  void* handle_ = nullptr;  // dlopen handle
  const edge_plugin_descriptor* descriptor_ = nullptr;
  std::string path_;
  std::string name_;
  std::string version_;
  std::string description_;
  PluginKind kind_ = PluginKind::kProcessor;
  std::vector<OptionSpec> options_;
};
using PluginPtr = std::shared_ptr<const Plugin>;

// Loads one plugin file, refusing (ErrorCode::kConfig unless noted) with a
// message that starts with the path and says how to fix it when:
//   - the file or its directory is writable by group/other, or not owned by
//     root or the current user (says the mode and the chmod/chown fix);
//   - dlopen(RTLD_NOW | RTLD_LOCAL) fails, e.g. an unresolved symbol;
//   - edge_plugin_entry is not exported, or returns NULL;
//   - ABI major differs or minor is newer than the host's (kUnsupportedVersion);
//   - struct_size is smaller than this ABI's descriptor;
//   - the build signature (pointer/size_t/long/time_t sizes, byte order) differs;
//   - name, version, kind, hooks or option table are invalid.
// Files are checked before dlopen, so a refused file never runs code.
Result<PluginPtr> loadPlugin(const std::string& path);

// Plugins by unique name.
class PluginCatalog {
 public:
  // Refuses a second plugin with the same name, naming both files.
  Result<void> add(PluginPtr plugin);
  PluginPtr find(std::string_view name) const;                        // nullptr if absent
  const std::vector<PluginPtr>& plugins() const { return plugins_; }  // sorted by name
  bool empty() const { return plugins_.empty(); }

 private:
  std::vector<PluginPtr> plugins_;
};

struct DirectoryLoad {
  PluginCatalog catalog;      // every plugin that loaded
  std::vector<Error> errors;  // one per refused file (or the unreadable directory)
  bool ok() const { return errors.empty(); }
  std::string errorText() const;  // errors, one per line
  Result<void> status() const;    // ok(), or kConfig with errorText()
};

// Loads every "*.so" in `dir` (not recursive) in file-name order. A caller
// that must not run with a partial set (hot reload) checks ok() and keeps its
// old catalog otherwise.
DirectoryLoad loadPluginDirectory(const std::string& dir);

// ---------------------------------------------------------------------------
// Options

// An instance's options, validated against the plugin's table: one entry
// per declared option, in table order.
class OptionValues {
 public:
  struct Value {
    bool is_set = false;     // configured by the operator
    bool has_value = false;  // configured or defaulted
    std::string text;        // as written (string options: the value)
    int64_t integer = 0;     // int; bool 0/1; bytes; duration in ms
    double number = 0;       // double (and int)
    std::vector<std::string> list;
  };

  const std::string& pluginName() const { return plugin_name_; }
  const std::vector<Value>& values() const { return values_; }
  // By option name; nullptr if the plugin has no such option.
  const Value* find(std::string_view name) const;

 private:
  friend struct OptionAccess;
  std::string plugin_name_;
  std::vector<std::string> names_;
  std::vector<Value> values_;
};

// From the `options:` map of a pipeline stage. Every mistake (unknown key
// with a suggestion, wrong type, missing required option) is recorded in the
// node's ConfigDocument, so doc->finish() reports it with file and line, and
// also returned here (kConfig, one per line). Each message names the plugin,
// the option and the expected type:
//   pipeline[0].options.max_keys: plugin filter_dedup, option max_keys: expected an integer, got
//   "lots"
// A missing or null node means "no options".
Result<OptionValues> validateOptions(const Plugin& plugin, const ConfigNode& node);

// From plain strings (command lines, tests). A string_list is comma-separated.
Result<OptionValues> validateOptions(const Plugin& plugin,
                                     const std::map<std::string, std::string>& values);

// ---------------------------------------------------------------------------
// Host services and batches

enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct HostEnvironment {
  // Plugin counters register here as edge_plugin_<plugin>_<name>{instance=...},
  // and the host's own per-instance counters as edge_plugins_*. nullptr: each
  // instance keeps a private registry (see PluginInstance::metrics()).
  MetricsRegistry* metrics = nullptr;
  // ns since the Unix epoch; empty means edge::nowNs. Tests inject a clock.
  std::function<int64_t()> clock;
  // Receives plugin log lines; empty means spdlog, prefixed "plugin <name>/<instance>: ".
  std::function<void(LogLevel level, std::string_view plugin, std::string_view instance,
                     std::string_view message)>
      log;
};

// Identity of the batch being processed, visible to plugins through
// edge_host_batch_info. Views must outlive the call.
struct BatchContext {
  std::string_view agent_id;
  uint64_t batch_id = 0;
  int64_t received_ns = 0;
  std::string_view tenant;  // stamped on events a plugin emits from scratch
};

// The table of edge_host_* callbacks this host implements (ABI 1.0).
const edge_host_api* hostApi();

// A batch of events as plugins see it (edge_batch*). A mutable batch
// (processors) supports set/drop/emit; commit() then removes the dropped
// events (keeping order) and appends the emitted ones. A read-only batch
// (sinks) refuses every change with EDGE_HOST_READ_ONLY.
class HostBatch {
 public:
  HostBatch(std::vector<Event>& events, BatchContext context, std::function<int64_t()> clock);
  HostBatch(const std::vector<Event>& events, BatchContext context);
  ~HostBatch();
  HostBatch(const HostBatch&) = delete;
  HostBatch& operator=(const HostBatch&) = delete;

  edge_batch* handle();

  struct Commit {
    size_t dropped = 0;  // events removed (emitted-then-dropped ones are not counted)
    size_t emitted = 0;  // events appended
  };
  // Applies drops and emits to the vector; call once, after the hook returned.
  Commit commit();

 private:
  std::unique_ptr<edge_batch> state_;
};

// ---------------------------------------------------------------------------
// Instances

struct ProcessOutcome {
  size_t dropped = 0;
  size_t emitted = 0;
  bool failed = false;  // the plugin returned an error; the batch is as it left it
  std::string error;    // the plugin's message when failed
};

enum class SinkStatus { kOk = EDGE_SINK_OK, kRetry = EDGE_SINK_RETRY, kError = EDGE_SINK_ERROR };

struct SinkOutcome {
  SinkStatus status = SinkStatus::kOk;
  std::string reason;  // for kRetry / kError
};

// What instances of both kinds share: the plugin reference, the host
// context, hot reload and flush.
class PluginInstance {
 public:
  virtual ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const std::string& name() const;
  const Plugin& plugin() const { return *plugin_; }
  const PluginPtr& pluginPtr() const { return plugin_; }

  // Applies new options in place when the plugin implements
  // edge_plugin_on_reload; on error the instance keeps its old options.
  // Without the hook: kInvalidArgument, and the caller creates a new instance.
  bool supportsReload() const;
  Result<void> reconfigure(const OptionValues& options);

  // Calls edge_plugin_on_flush if the plugin has one.
  Result<void> flush();

  // The registry the instance's counters live in (HostEnvironment::metrics
  // or the instance's private one).
  MetricsRegistry& metrics();

 protected:
  PluginInstance(PluginPtr plugin, std::string name, HostEnvironment env);
  Result<void> init(const OptionValues& options);

  PluginPtr plugin_;
  std::unique_ptr<edge_host_ctx> ctx_;
  void* instance_ = nullptr;
  bool created_ = false;
};

class ProcessorInstance final : public PluginInstance {
 public:
  // Fails with the plugin's reason if edge_plugin_on_create refuses, or if
  // the plugin is not a processor or the options were validated for another plugin.
  static Result<std::unique_ptr<ProcessorInstance>> create(PluginPtr plugin,
                                                           std::string instance_name,
                                                           const OptionValues& options,
                                                           HostEnvironment env = {});

  // Runs the plugin over `events` in place. Drops, emits and failures are
  // counted in edge_plugins_events_dropped_total / _emitted_total /
  // edge_plugins_errors_total {plugin, instance}.
  ProcessOutcome process(std::vector<Event>& events, const BatchContext& context = {});

 private:
  using PluginInstance::PluginInstance;
};

class SinkInstance final : public PluginInstance {
 public:
  static Result<std::unique_ptr<SinkInstance>> create(PluginPtr plugin, std::string instance_name,
                                                      const OptionValues& options,
                                                      HostEnvironment env = {});

  // Hands the batch (read-only) to the plugin; the caller owns retries.
  SinkOutcome write(const std::vector<Event>& events, const BatchContext& context = {});

 private:
  using PluginInstance::PluginInstance;
};

// ---------------------------------------------------------------------------
// Documentation

// The configuration reference of the given plugins as Markdown: one section
// per plugin (name, kind, version, description) with a table of its options
// (name, type, default, required, help).
std::string renderMarkdownReference(const std::vector<PluginPtr>& plugins);

}  // namespace edge::plugins
