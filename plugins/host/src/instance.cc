// Plugin instances: create from validated options, run batches through the
// plugin's hooks, reload, flush and destroy — turning every hook's status and
// error text into edge::Result or an outcome the gateway can count.
#include <spdlog/spdlog.h>

#include "internal.h"

namespace edge::plugins {
namespace {

constexpr size_t kErrorBufferSize = 1024;

// The ABI's view of validated options: arrays of edge_option_value and
// edge_str pointing into the OptionValues, alive for one hook call.
class AbiOptions {
 public:
  explicit AbiOptions(const OptionValues& options) {
    const auto& names = OptionAccess::names(options);
    const auto& values = options.values();
    lists_.resize(values.size());
    values_.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      const OptionValues::Value& v = values[i];
      for (const std::string& item : v.list)
        lists_[i].push_back(edge_str{item.data(), item.size()});
      edge_option_value& out = values_[i];
      out = edge_option_value{};
      out.name = names[i].c_str();
      out.is_set = v.is_set ? 1 : 0;
      out.has_value = v.has_value ? 1 : 0;
      out.text = edge_str{v.text.data(), v.text.size()};
      out.integer = v.integer;
      out.number = v.number;
      out.list = lists_[i].empty() ? nullptr : lists_[i].data();
      out.list_len = lists_[i].size();
    }
  }
  void setTypes(const Plugin& plugin) {
    for (size_t i = 0; i < values_.size() && i < plugin.options().size(); ++i) {
      values_[i].type = static_cast<uint32_t>(plugin.options()[i].type);
    }
  }
  const edge_option_value* data() const { return values_.empty() ? nullptr : values_.data(); }
  size_t size() const { return values_.size(); }

 private:
  std::vector<std::vector<edge_str>> lists_;
  std::vector<edge_option_value> values_;
};

std::string reasonOrDefault(const char* errbuf, const char* fallback) {
  return errbuf[0] != '\0' ? std::string(errbuf) : std::string(fallback);
}

Result<void> checkOptionsBelong(const Plugin& plugin, const OptionValues& options) {
  if (options.pluginName() != plugin.name() || options.values().size() != plugin.options().size()) {
    return makeError(ErrorCode::kInvalidArgument, "options were validated for plugin '" +
                                                      options.pluginName() + "', not for plugin '" +
                                                      plugin.name() +
                                                      "'; validate them with this plugin");
  }
  return okResult();
}

}  // namespace

PluginInstance::PluginInstance(PluginPtr plugin, std::string name, HostEnvironment env)
    : plugin_(std::move(plugin)) {
  ctx_ = std::make_unique<edge_host_ctx>(plugin_->name(), std::move(name), std::move(env));
}

PluginInstance::~PluginInstance() {
  // Before ctx_ and plugin_ go: the plugin may still log while destroying,
  // and its code must stay mapped until the hook returns.
  if (created_) plugin_->descriptor().edge_plugin_on_destroy(instance_);
}

const std::string& PluginInstance::name() const { return ctx_->instance_name; }

MetricsRegistry& PluginInstance::metrics() { return *ctx_->metrics; }

Result<void> PluginInstance::init(const OptionValues& options) {
  EDGE_TRY(checkOptionsBelong(*plugin_, options));
  AbiOptions abi(options);
  abi.setTypes(*plugin_);
  edge_plugin_config config{};
  config.struct_size = sizeof(config);
  config.host = hostApi();
  config.ctx = ctx_.get();
  config.instance_name = edge_str{ctx_->instance_name.data(), ctx_->instance_name.size()};
  config.options = abi.data();
  config.option_count = abi.size();
  char errbuf[kErrorBufferSize] = {0};
  void* instance = nullptr;
  int rc = plugin_->descriptor().edge_plugin_on_create(&config, &instance, errbuf, sizeof(errbuf));
  errbuf[sizeof(errbuf) - 1] = '\0';
  if (rc != EDGE_PLUGIN_OK) {
    return makeError(ErrorCode::kConfig,
                     "plugin " + plugin_->name() + ", instance " + name() + ": " +
                         reasonOrDefault(errbuf, "creation failed without a reason"));
  }
  instance_ = instance;
  created_ = true;
  return okResult();
}

bool PluginInstance::supportsReload() const {
  return plugin_->descriptor().edge_plugin_on_reload != nullptr;
}

Result<void> PluginInstance::reconfigure(const OptionValues& options) {
  if (!supportsReload()) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "plugin " + plugin_->name() + " cannot apply new options in place; create a new instance");
  }
  EDGE_TRY(checkOptionsBelong(*plugin_, options));
  AbiOptions abi(options);
  abi.setTypes(*plugin_);
  edge_plugin_config config{};
  config.struct_size = sizeof(config);
  config.host = hostApi();
  config.ctx = ctx_.get();
  config.instance_name = edge_str{ctx_->instance_name.data(), ctx_->instance_name.size()};
  config.options = abi.data();
  config.option_count = abi.size();
  char errbuf[kErrorBufferSize] = {0};
  int rc = plugin_->descriptor().edge_plugin_on_reload(instance_, &config, errbuf, sizeof(errbuf));
  errbuf[sizeof(errbuf) - 1] = '\0';
  if (rc != EDGE_PLUGIN_OK) {
    ctx_->errors->inc();
    return makeError(ErrorCode::kConfig, "plugin " + plugin_->name() + ", instance " + name() +
                                             ": reload refused, keeping the old options: " +
                                             reasonOrDefault(errbuf, "no reason given"));
  }
  return okResult();
}

Result<void> PluginInstance::flush() {
  auto hook = plugin_->descriptor().edge_plugin_on_flush;
  if (hook == nullptr) return okResult();
  char errbuf[kErrorBufferSize] = {0};
  int rc = hook(instance_, errbuf, sizeof(errbuf));
  errbuf[sizeof(errbuf) - 1] = '\0';
  if (rc == EDGE_PLUGIN_OK) return okResult();
  ctx_->errors->inc();
  return makeError(rc == EDGE_SINK_RETRY ? ErrorCode::kBusy : ErrorCode::kInternal,
                   "plugin " + plugin_->name() + ", instance " + name() +
                       ": flush failed: " + reasonOrDefault(errbuf, "no reason given"));
}

Result<std::unique_ptr<ProcessorInstance>> ProcessorInstance::create(PluginPtr plugin,
                                                                     std::string instance_name,
                                                                     const OptionValues& options,
                                                                     HostEnvironment env) {
  if (plugin->kind() != PluginKind::kProcessor) {
    return makeError(
        ErrorCode::kConfig,
        "plugin " + plugin->name() + " is a sink, not a processor; use it in a route's sinks");
  }
  std::unique_ptr<ProcessorInstance> instance(
      new ProcessorInstance(std::move(plugin), std::move(instance_name), std::move(env)));
  EDGE_TRY(instance->init(options));
  return instance;
}

ProcessOutcome ProcessorInstance::process(std::vector<Event>& events, const BatchContext& context) {
  edge_host_ctx* ctx = ctx_.get();
  HostBatch batch(events, context, [ctx] { return ctx->now(); });
  char errbuf[kErrorBufferSize];
  errbuf[0] = '\0';
  int rc = plugin_->descriptor().edge_plugin_on_process(instance_, batch.handle(), errbuf,
                                                        sizeof(errbuf));
  errbuf[sizeof(errbuf) - 1] = '\0';
  HostBatch::Commit commit = batch.commit();
  ProcessOutcome outcome;
  outcome.dropped = commit.dropped;
  outcome.emitted = commit.emitted;
  ctx_->dropped->inc(commit.dropped);
  ctx_->emitted->inc(commit.emitted);
  if (rc != EDGE_PLUGIN_OK) {
    outcome.failed = true;
    outcome.error = reasonOrDefault(errbuf, "the plugin reported an error without a reason");
    ctx_->errors->inc();
    if (uint64_t n = ctx_->error_limiter.allow(); n > 0) {
      spdlog::warn(
          "plugin {}/{}: batch of {} events failed, passing it on as the plugin left it: {}{}",
          plugin_->name(), name(), events.size(), outcome.error,
          n > 1 ? " (" + std::to_string(n - 1) + " similar messages suppressed)" : std::string());
    }
  }
  return outcome;
}

Result<std::unique_ptr<SinkInstance>> SinkInstance::create(PluginPtr plugin,
                                                           std::string instance_name,
                                                           const OptionValues& options,
                                                           HostEnvironment env) {
  if (plugin->kind() != PluginKind::kSink) {
    return makeError(
        ErrorCode::kConfig,
        "plugin " + plugin->name() + " is a processor, not a sink; use it as a pipeline stage");
  }
  std::unique_ptr<SinkInstance> instance(
      new SinkInstance(std::move(plugin), std::move(instance_name), std::move(env)));
  EDGE_TRY(instance->init(options));
  return instance;
}

SinkOutcome SinkInstance::write(const std::vector<Event>& events, const BatchContext& context) {
  HostBatch batch(events, context);
  char errbuf[kErrorBufferSize];
  errbuf[0] = '\0';
  int rc =
      plugin_->descriptor().edge_plugin_on_write(instance_, batch.handle(), errbuf, sizeof(errbuf));
  errbuf[sizeof(errbuf) - 1] = '\0';
  SinkOutcome outcome;
  switch (rc) {
    case EDGE_SINK_OK:
      return outcome;
    case EDGE_SINK_RETRY:
      outcome.status = SinkStatus::kRetry;
      outcome.reason = reasonOrDefault(errbuf, "the sink asked for a retry without a reason");
      break;
    case EDGE_SINK_ERROR:
      outcome.status = SinkStatus::kError;
      outcome.reason = reasonOrDefault(errbuf, "the sink reported an error without a reason");
      break;
    default:
      outcome.status = SinkStatus::kError;
      outcome.reason = "plugin " + plugin_->name() + " returned unknown sink status " +
                       std::to_string(rc) +
                       " (expected EDGE_SINK_OK, EDGE_SINK_RETRY or EDGE_SINK_ERROR)";
      break;
  }
  ctx_->errors->inc();
  return outcome;
}

}  // namespace edge::plugins
