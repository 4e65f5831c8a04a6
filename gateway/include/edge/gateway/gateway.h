// Gateway: the whole edge-gateway service — gateway.workers Workers (agent
// listener, connections, pipeline), the first on the caller's loop and the
// others each on a thread and loop of their own, all on the same port
// (SO_REUSEPORT); the sinks they share; and the admin HTTP server on the
// caller's loop. main() adds the command line, signals and the ready file;
// tests drive the same object on their own loop. Admin endpoints: /metrics,
// /healthz (liveness and detail), /readyz (whether to send agents here).
//
// Every public method runs on the caller's loop thread; work for the other
// workers is posted to their loops (reload, CRL, drain) and, where an answer
// is needed (reload, health), waited for.
//
//   uv_loop_t loop; uv_loop_init(&loop);
//   MetricsRegistry metrics;
//   SinkMap sinks{{"sqlite", std::make_shared<sinks::SqliteSink>(config.sqlite, metrics)}};
//   Gateway gateway(&loop, config, sinks, metrics);
//   if (auto st = gateway.start(); !st) { ...; uv_run(&loop, UV_RUN_DEFAULT); }  // run to finish
//   closes
//   ... gateway.shutdown(); uv_run returns once everything is closed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edge/common/admin_http.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/config.h"
#include "edge/gateway/loop_mailbox.h"
#include "edge/gateway/metrics.h"
#include "edge/gateway/sink.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;
struct uv_timer_s;
typedef struct uv_timer_s uv_timer_t;

namespace edge::gateway {

class Worker;
struct WorkerThread;

// One worker's share of what /healthz and /readyz report.
struct WorkerStats {
  size_t connections = 0;
  size_t agents_with_heartbeat = 0;
  size_t in_flight_batches = 0;
  size_t in_flight_bytes = 0;
  size_t throttled_connections = 0;
  bool over_budget = false;
};

class Gateway {
 public:
  // `config` must have gone through resolveDefaults(). The sinks are
  // started by start() and stopped by shutdown(); config.pipeline routes to
  // them by their map names (without routes: to the only one).
  Gateway(uv_loop_t* loop, GatewayConfig config, SinkMap sinks, MetricsRegistry& metrics);
  // One sink, named by its name() (e.g. "sqlite").
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
  // Re-reads the configuration file (SIGHUP; every check of start-up) and
  // makes new batches use its `pipeline:` and gateway.plugin_dir; batches already inside sinks
  // finish as they were routed, and agent connections stay up. If anything
  // fails to load or validate, the running pipeline stays and the error
  // (every message, file:line first) is logged and returned. Loop thread.
  Result<void> reloadPipeline(const std::string& config_path);
  // The pipeline new batches go through.
  PipelineSpecPtr pipeline() const;
  uint16_t adminPort() const;  // 0 when admin.listen is off
  size_t workerCount() const;
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
  // The /readyz document: whether a load balancer should send agents here.
  // Ready (HTTP 200) when started, not draining, every sink healthy and the
  // in-flight memory not above gateway.max_in_flight_bytes; otherwise 503
  // with the reasons: {"ready":false,"reasons":["sink sqlite: disk I/O error"],...}.
  std::pair<std::string, bool> readyJson() const;

 private:
  void finishShutdown();
  void stopSinks();
  Result<void> startExtraWorkers();
  void stopExtraWorkers();
  void workerDrained();
  // Each worker's Stats: the first read here, the others asked on their
  // loops (a worker that does not answer within a second is reported).
  std::vector<std::optional<WorkerStats>> collectStats() const;

  uv_loop_t* loop_;
  GatewayConfig config_;
  // What every worker runs with: config_ with the in-flight budget split
  // between workers and, once the first one listens, its port.
  GatewayConfig worker_config_;
  SinkMap sinks_;
  MetricsRegistry& registry_;
  GatewayMetrics metrics_;
  std::unique_ptr<Worker> worker_;                     // on loop_
  std::vector<std::unique_ptr<WorkerThread>> extra_workers_;
  std::shared_ptr<LoopMailbox> mailbox_;                // drained-callbacks from extra workers
  size_t workers_draining_ = 0;
  // Open agent connections of all workers (gateway.max_connections).
  std::shared_ptr<std::atomic<size_t>> open_connections_ =
      std::make_shared<std::atomic<size_t>>(0);  std::unique_ptr<AdminHttpServer> admin_;
  uv_timer_t* drain_timer_ = nullptr;  // owned by libuv until its close callback
  bool started_ = false;               // false again after a failed start()
  bool admin_closed_ = false;
  bool shutting_down_ = false;
  bool finished_ = false;
  std::function<void()> done_;
};

}  // namespace edge::gateway
