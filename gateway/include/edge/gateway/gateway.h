// Gateway: the whole edge-gateway service on one libuv loop — the agent
// listener and its connections (a Worker), the sink, and the admin HTTP
// server (/metrics, /healthz). main() adds the command line, signals and
// the ready file; tests drive the same object on their own loop.
//
//   uv_loop_t loop; uv_loop_init(&loop);
//   MetricsRegistry metrics;
//   auto sink = std::make_shared<sinks::SqliteSink>(config.sqlite, metrics);
//   Gateway gateway(&loop, config, sink, metrics);
//   if (auto st = gateway.start(); !st) { ...; uv_run(&loop, UV_RUN_DEFAULT); }  // run to finish
//   closes
//   ... gateway.shutdown(); uv_run returns once everything is closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "edge/common/admin_http.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/config.h"
#include "edge/gateway/metrics.h"
#include "edge/gateway/sink.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;
struct uv_timer_s;
typedef struct uv_timer_s uv_timer_t;

namespace edge::gateway {

class Worker;

class Gateway {
 public:
  // `config` must have gone through resolveDefaults(). The sink is started
  // by start() and stopped by shutdown().
  Gateway(uv_loop_t* loop, GatewayConfig config, std::shared_ptr<Sink> sink,
          MetricsRegistry& metrics);
  // Only after shutdown() finished and the loop ran dry (or start() failed
  // and the loop ran once to finish its closes).
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Loop thread: starts the sink, listens for agents and admin requests. On
  // failure what was opened is closed again; run the loop to finish that.
  Result<void> start();

  uint16_t listenPort() const;
  // Reloads gateway.tls.crl now (SIGHUP) and disconnects agents it revokes;
  // the file is also polled every gateway.tls.crl_check_interval. Loop thread.
  void reloadCrl();
  uint16_t adminPort() const;  // 0 when admin.listen is off
  const GatewayConfig& config() const { return config_; }

  // Loop thread. Stops accepting, sends GOAWAY, waits up to drain_timeout
  // for batches inside the sink and their acks, then closes every handle and
  // stops the sink; `done` runs then. uv_run returns once the closes finish.
  // Idempotent.
  void shutdown(std::function<void()> done = {});
  bool shuttingDown() const { return shutting_down_; }

  // The /healthz document: {"status":"ok"|"failing", "connections":N, ...}.
  // Second: true when healthy (HTTP 200), false for 503.
  std::pair<std::string, bool> healthJson() const;

 private:
  void finishShutdown();

  uv_loop_t* loop_;
  GatewayConfig config_;
  std::shared_ptr<Sink> sink_;
  MetricsRegistry& registry_;
  GatewayMetrics metrics_;
  std::unique_ptr<Worker> worker_;
  std::unique_ptr<AdminHttpServer> admin_;
  uv_timer_t* drain_timer_ = nullptr;  // owned by libuv until its close callback
  bool started_ = false;               // false again after a failed start()
  bool admin_closed_ = false;
  bool shutting_down_ = false;
  bool finished_ = false;
  std::function<void()> done_;
};

}  // namespace edge::gateway
