// edge-gateway: command line, configuration, logging, signals and the ready
// file around edge::gateway::Gateway.
#include <signal.h>
#include <sys/resource.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "edge/gateway/config.h"
#include "edge/gateway/gateway.h"
#include "edge/gateway/dead_letter_queue.h"
#include "edge/gateway/sink_catalog.h"

namespace {

using edge::gateway::Gateway;
using edge::gateway::GatewayConfig;

// Written atomically (temp file + rename) so a watcher never reads half of it.
edge::Result<void> writeReadyFile(const std::string& path, const Gateway& gateway) {
  const nlohmann::json doc = {{"listen_port", gateway.listenPort()},
                              {"admin_port", gateway.adminPort()},
                              {"pid", static_cast<int64_t>(getpid())}};
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << doc.dump() << "\n";
    out.close();
    if (!out) {
      return edge::makeError(edge::ErrorCode::kIo,
                             "cannot write the ready file " + tmp +
                                 "; check --ready-file and the directory's permissions");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return edge::makeError(edge::ErrorCode::kIo,
                           "cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
  return edge::okResult();
}

struct SignalContext {
  Gateway* gateway = nullptr;
  std::string config_path;  // "" = the built-in configuration (nothing to re-read)
  uv_signal_t sigint{};
  uv_signal_t sigterm{};
  uv_signal_t sighup{};
  // gateway.plugin_dir watched: a .so added, replaced or removed reloads the
  // pipeline like SIGHUP, once the directory was quiet for kPluginSettle.
  uv_fs_event_t plugin_watch{};
  uv_timer_t plugin_settle{};
  bool watching_plugins = false;
};

// Copying a plugin in produces several events, and a half-written file is
// refused by the loader: reload once the directory has been quiet this long.
constexpr uint64_t kPluginSettleMs = 500;

void closeHandles(SignalContext* context) {
  uv_close(reinterpret_cast<uv_handle_t*>(&context->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&context->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&context->sighup), nullptr);
  if (context->watching_plugins) {
    uv_close(reinterpret_cast<uv_handle_t*>(&context->plugin_watch), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&context->plugin_settle), nullptr);
  }
}

// Watches gateway.plugin_dir when the pipeline comes from a file (a reload
// re-reads it) and the directory is set. A failed watch only loses the
// automatic reload: SIGHUP still works.
void watchPluginDir(uv_loop_t* loop, SignalContext& context, const std::string& plugin_dir) {
  if (plugin_dir.empty() || context.config_path.empty()) return;
  uv_fs_event_init(loop, &context.plugin_watch);
  context.plugin_watch.data = &context;
  const int rc = uv_fs_event_start(
      &context.plugin_watch,
      [](uv_fs_event_t* handle, const char* filename, int, int status) {
        auto* self = static_cast<SignalContext*>(handle->data);
        if (status != 0 || self->gateway->shuttingDown()) return;
        const std::string_view name = filename != nullptr ? filename : "";
        if (!name.empty() && !name.ends_with(".so")) return;
        uv_timer_start(
            &self->plugin_settle,
            [](uv_timer_t* timer) {
              auto* ctx = static_cast<SignalContext*>(timer->data);
              if (ctx->gateway->shuttingDown()) return;
              spdlog::info("plugins changed in gateway.plugin_dir; reloading the pipeline of {}",
                           ctx->config_path);
              // Failures are logged with every reason; the running pipeline stays.
              (void)ctx->gateway->reloadPipeline(ctx->config_path);
            },
            kPluginSettleMs, 0);
      },
      plugin_dir.c_str(), 0);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&context.plugin_watch), nullptr);
    spdlog::warn("cannot watch gateway.plugin_dir {} ({}): reload plugins with SIGHUP", plugin_dir,
                 uv_strerror(rc));
    return;
  }
  uv_timer_init(loop, &context.plugin_settle);
  context.plugin_settle.data = &context;
  context.watching_plugins = true;
  spdlog::info("watching gateway.plugin_dir {}: changed plugins reload the pipeline", plugin_dir);
}

void onSignal(uv_signal_t* handle, int signum) {
  auto* context = static_cast<SignalContext*>(handle->data);
  if (context->gateway->shuttingDown()) {
    spdlog::warn("received {} again; shutdown is in progress (at most gateway.drain_timeout)",
                 strsignal(signum));
    return;
  }
  spdlog::info("received {}; shutting down", strsignal(signum));
  context->gateway->shutdown([context] { closeHandles(context); });
}

}  // namespace

// Each agent connection is a file descriptor; the usual soft limit (1024)
// would refuse agents long before gateway.max_connections. Raise it to the
// hard limit, and say so when even that is too low.
static void raiseFileLimit(uint32_t max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + 256;  // + sinks, logs, admin
  if (limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < wanted) {
    spdlog::warn(
        "open-file limit is {} but gateway.max_connections is {}: connections beyond the limit "
        "will fail to be accepted; raise it (LimitNOFILE= in the systemd unit, ulimit -n)",
        limit.rlim_cur, max_connections);
  }
}

int main(int argc, char** argv) {
  CLI::App app{
      "edge-gateway: accepts edge agents, commits their events to sinks, acks after commit"};
  std::string config_path;
  std::string data_dir;
  std::string log_level;
  std::string log_format;
  std::string ready_file;
  bool check_config = false;
  bool print_default = false;
  app.add_option(
      "--config", config_path,
      "YAML configuration file (without it: the built-in default, see --print-default-config)");
  app.add_flag("--check-config", check_config,
               "validate the configuration, print \"config OK\" or every error, exit");
  app.add_flag("--print-default-config", print_default,
               "print the built-in configuration and exit");
  app.add_option("--data-dir", data_dir, "overrides gateway.data_dir");
  app.add_option("--log-level", log_level, "overrides log.level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", log_format, "overrides log.format")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option(
      "--ready-file", ready_file,
      "once listening, write {\"listen_port\":N,\"admin_port\":M,\"pid\":P} to this file");
  app.set_version_flag("--version", std::string("edge-gateway ") + edge::gateway::gatewayVersion());
  CLI11_PARSE(app, argc, argv);

  if (print_default) {
    std::cout << edge::gateway::defaultConfigYaml();
    return 0;
  }

  auto loaded = config_path.empty() ? edge::gateway::parseGatewayConfig(
                                          edge::gateway::defaultConfigYaml(), "<built-in>")
                                    : edge::gateway::loadGatewayConfigFile(config_path);
  if (!loaded) {
    std::cerr << loaded.error().message << "\n";
    return 1;
  }
  GatewayConfig config = std::move(*loaded);
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!log_level.empty()) config.log.level = log_level;
  if (!log_format.empty())
    config.log.format = log_format == "json" ? edge::LogFormat::kJson : edge::LogFormat::kText;
  edge::gateway::resolveDefaults(config);
  if (check_config) {
    std::cout << "config OK\n";
    return 0;
  }

  if (auto logging = edge::setupLogging(config.log); !logging) {
    std::cerr << logging.error().message << "\n";
    return 1;
  }
  // A peer that vanished must surface as a write error, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  raiseFileLimit(config.max_connections);

  uv_loop_t loop;
  uv_loop_init(&loop);
  edge::MetricsRegistry metrics;
  // Every enabled sink, under the name routes use (docs/pipeline.md), and
  // the dead-letter queue they put refused events into.
  auto dlq = edge::gateway::DeadLetterQueue::open(config.dlq, &metrics);
  if (!dlq) {
    spdlog::error("cannot start: {}", dlq.error().message);
    return 1;
  }
  auto sinks = edge::gateway::createSinks(config, metrics, *dlq);
  if (!sinks) {
    spdlog::error("cannot start: {}", sinks.error().message);
    return 1;
  }
  const std::string sink_description = edge::gateway::describeSinks(config);
  Gateway gateway(&loop, config, std::move(*sinks), metrics);

  int exit_code = 0;
  if (auto started = gateway.start(); !started) {
    spdlog::error("cannot start: {}", started.error().message);
    exit_code = 1;
  } else if (!ready_file.empty()) {
    if (auto written = writeReadyFile(ready_file, gateway); !written) {
      spdlog::error("{}", written.error().message);
      exit_code = 1;
    }
  }

  SignalContext signals;
  signals.gateway = &gateway;
  signals.config_path = config_path;
  if (exit_code == 0) {
    spdlog::info("edge-gateway {} ({}) ready: agents on {}:{} ({} workers), tenant {}, sinks {}",
                 edge::gateway::gatewayVersion(), config.id, config.listen.host,
                 gateway.listenPort(), gateway.workerCount(), config.tenant, sink_description);
    uv_signal_init(&loop, &signals.sigint);
    uv_signal_init(&loop, &signals.sigterm);
    signals.sigint.data = &signals;
    signals.sigterm.data = &signals;
    uv_signal_start(&signals.sigint, &onSignal, SIGINT);
    uv_signal_start(&signals.sigterm, &onSignal, SIGTERM);
    uv_signal_init(&loop, &signals.sighup);
    signals.sighup.data = &signals;
    uv_signal_start(
        &signals.sighup,
        [](uv_signal_t* handle, int) {
          auto* context = static_cast<SignalContext*>(handle->data);
          if (context->config_path.empty()) {
            spdlog::info(
                "received SIGHUP; reloading the CRL (gateway.tls.crl); the pipeline comes from "
                "the built-in configuration, so there is none to re-read (start with --config)");
            context->gateway->reloadCrl();
            return;
          }
          spdlog::info(
              "received SIGHUP; reloading the CRL (gateway.tls.crl) and the pipeline of {}",
              context->config_path);
          context->gateway->reloadCrl();
          // Failures are logged with every reason; the running pipeline stays.
          (void)context->gateway->reloadPipeline(context->config_path);
        },
        SIGHUP);
    watchPluginDir(&loop, signals, config.plugin_dir);
  } else {
    gateway.shutdown();
  }

  uv_run(&loop, UV_RUN_DEFAULT);
  if (int rc = uv_loop_close(&loop); rc != 0) {
    spdlog::warn("event loop closed with handles still open: {}", uv_strerror(rc));
  }
  return exit_code;
}
