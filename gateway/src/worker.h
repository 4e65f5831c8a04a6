// Worker: everything one libuv loop serves — a listener, its connections,
// its pipeline (stages and routing, PipelineRunner), the hand-back of sink
// completions (LoopMailbox), the credit policy (sink pressure, throttle),
// and the shutdown drain. The gateway runs gateway.workers of them, each on
// its own loop and thread, all listening on the same port (SO_REUSEPORT);
// nothing here is shared between workers except the sinks and the (atomic)
// metrics, so a worker is only ever touched from its own loop thread (other
// threads go through post()).
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "edge/common/log.h"
#include "edge/common/result.h"
#include "edge/gateway/config.h"
#include "edge/gateway/gateway.h"
#include "edge/gateway/loop_mailbox.h"
#include "edge/gateway/metrics.h"
#include "edge/gateway/pipeline_runner.h"
#include "edge/gateway/pipeline_spec.h"
#include "edge/gateway/sink.h"
#include "edge/protocol/enrollment_token.h"
#include "edge/protocol/pki.h"
#include "edge/protocol/tls.h"
#include "listener.h"

namespace edge::gateway {

class Connection;

// What the worker needs to sign agent certificates for enrollment tokens.
struct Enroller {
  protocol::TokenKey key;
  std::unique_ptr<protocol::TokenUseStore> uses;
  protocol::CertificateAuthority ca;
  std::string required_tenant;
  int64_t cert_days = 90;
};

class Worker {
 public:
  // `sinks`: every sink the gateway runs, by the names routes use.
  // `registry`: where pipeline and per-sink counters are registered.
  Worker(uv_loop_t* loop, const GatewayConfig& config, SinkMap sinks, GatewayMetrics& metrics,
         MetricsRegistry& registry);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Loop thread, before the loop runs or on it. Builds the pipeline from
  // config.pipeline. On failure everything opened so far is closed (run the
  // loop to finish the closes).
  Result<void> start(PortSharing sharing);

  // Loop thread: builds a runner for `spec` and makes it the one new
  // batches go through. On failure (a plugin refusing to start, a route to
  // a sink that does not run) the running pipeline stays. Batches already
  // routed are unaffected either way.
  Result<void> replacePipeline(PipelineSpecPtr spec);
  const PipelineRunner& pipeline() const { return *pipeline_; }
  uint16_t port() const { return listener_.port(); }

  // Shutdown step 1: stop accepting, GOAWAY to every agent, stop reading
  // their frames. `drained` runs on the loop once no batch of this worker is
  // inside a sink (possibly before beginDrain returns).
  void beginDrain(std::function<void()> drained);
  // Shutdown step 2: close every connection (flushing acks), the mailbox and
  // the listener. The loop finishes the closes.
  void close();

  // Before start(): the count of open connections shared by every worker of
  // the gateway, against which gateway.max_connections is enforced. Without
  // it the worker counts alone.
  void shareConnectionCount(std::shared_ptr<std::atomic<size_t>> open_total) {
    open_total_ = std::move(open_total);
  }

  // Any thread: runs `task` on this worker's loop thread. False (task
  // dropped) before start() or once closed.
  bool post(std::function<void()> task);

  WorkerStats stats() const;  // loop thread

  size_t connectionCount() const { return open_.size(); }
  size_t inFlightBatches() const { return in_flight_; }
  size_t agentsWithHeartbeat() const;
  bool sinkPressure() const { return sink_pressure_; }
  // Estimated memory of this worker's batches inside sinks, and whether it
  // is above gateway.max_in_flight_bytes (credit withheld until half).
  size_t inFlightBytes() const { return in_flight_bytes_; }
  bool overBudget() const { return budget_pressure_; }
  // Connections whose credit is held back by a throttle rate limit now.
  size_t throttledConnections() const { return throttled_until_.size(); }

  // Reloads gateway.tls.crl now (SIGHUP) and disconnects agents whose
  // certificate it revokes. No-op without a CRL file.
  void reloadCrl();

  // --- for Connection ---
  // Null when the listener is plaintext.
  const std::shared_ptr<protocol::TlsContext>& tlsContext() const { return tls_; }
  // Null unless gateway.enrollment.enabled.
  Enroller* enroller() { return enroller_.get(); }
  void logTlsFailure(const Connection& connection, const std::string& reason,
                     const std::string& message);
  uv_loop_t* loop() const { return loop_; }
  const GatewayConfig& config() const { return config_; }
  GatewayMetrics& metrics() { return metrics_; }
  char* readBuffer() { return read_buffer_.get(); }
  size_t readBufferSize() const { return kReadBufferSize; }
  std::string newSessionId();
  // Runs a verified batch through the pipeline and hands the results to
  // their sinks; the ack goes out (via the mailbox) once every sink it was
  // routed to completed it: OK if all committed, else RETRY.
  void submitBatch(Connection& connection, std::shared_ptr<SinkBatch> batch, size_t payload_bytes,
                   size_t memory_bytes);
  void logProtocolError(const Connection& connection, ProtocolErrorReason reason,
                        const std::string& message);
  // The connection stopped being open (no more acks are routed to it).
  void connectionClosing(Connection& connection);
  // Both of its handles are closed: free it.
  void connectionFreed(Connection* connection);
  void markDirty(Connection& connection);

  // Watermark events of the named sink, posted through the mailbox.
  void enterPressure(const std::string& sink);
  void leavePressure(const std::string& sink);

 private:
  static constexpr size_t kReadBufferSize = 64 * 1024;
  // Refused/closing connections beyond this are closed without an ERROR, so
  // a connection flood cannot pile up lingering sockets.
  static constexpr size_t kMaxLingering = 1024;

  void onAccept(uv_stream_t* server);
  Result<void> setUpTls();
  void checkCrlFile();
  void disconnectRevoked();
  // Per-sink counters: edge_gateway_sink_{batches,events}_total{sink,status}.
  struct SinkStats {
    std::string name;
    std::shared_ptr<Sink> sink;
    std::array<Counter*, 3> batches{};  // by SinkStatus
    std::array<Counter*, 3> events{};
  };
  // One agent batch until every sink it was routed to answered.
  struct PendingBatch {
    uint64_t connection_id = 0;
    uint64_t batch_id = 0;
    size_t payload_bytes = 0;
    size_t memory_bytes = 0;
    uint64_t routed_events = 0;
    size_t pending = 0;  // sink batches not yet completed
    bool failed = false;
    std::string reason;  // of the first sink that did not commit
  };
  bool anySinkAboveHighWatermark() const;
  // Gives withheld credit back to every connection not throttled, unless a
  // pressure (sink watermark, memory budget) still holds.
  void releaseCredit(const char* why);
  void onSinkDone(const std::shared_ptr<PendingBatch>& batch, SinkStats& sink, size_t events,
                  SinkResult result);
  void finishBatch(const PendingBatch& batch);
  // Throttle: credit of a connection whose key is in debt waits until then.
  int64_t monotonicNow() const;
  bool throttled(uint64_t connection_id, int64_t now);
  void armThrottleTimer(int64_t due_ns);
  void onThrottleTimer();
  void afterDrain();
  void maybeDrained();

  uv_loop_t* loop_;
  const GatewayConfig& config_;
  GatewayMetrics& metrics_;
  MetricsRegistry& registry_;
  std::map<std::string, SinkStats, std::less<>> sinks_;
  // The pipeline new batches go through, and its sink indices resolved.
  std::shared_ptr<PipelineRunner> pipeline_;
  std::vector<SinkStats*> pipeline_sinks_;
  PipelineResult routed_;  // reused batch after batch
  Listener listener_;
  std::shared_ptr<LoopMailbox> mailbox_;
  std::unique_ptr<char[]> read_buffer_;

  uint64_t next_id_ = 1;
  // Every live Connection object (open, lingering, refused) until its handles close.
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> all_;
  // Open connections: where acks and credit are routed.
  std::unordered_map<uint64_t, Connection*> open_;
  std::shared_ptr<std::atomic<size_t>> open_total_ = std::make_shared<std::atomic<size_t>>(0);
  std::vector<uint64_t> dirty_;

  size_t in_flight_ = 0;
  bool sink_pressure_ = false;
  size_t in_flight_bytes_ = 0;
  bool budget_pressure_ = false;
  // Connection id -> monotonic ns until which its credit is withheld.
  std::unordered_map<uint64_t, int64_t> throttled_until_;
  uv_timer_t* throttle_timer_ = nullptr;  // owned by libuv from init until its close callback
  int64_t throttle_timer_due_ = 0;        // 0 = not armed
  bool draining_ = false;
  bool closed_ = false;
  std::function<void()> drained_;

  std::shared_ptr<protocol::TlsContext> tls_;
  std::shared_ptr<protocol::RevocationStore> revocation_;
  std::unique_ptr<Enroller> enroller_;
  uv_timer_t* crl_timer_ = nullptr;  // owned by libuv from init until its close callback
  int64_t crl_mtime_ns_ = 0;
  int64_t crl_size_ = -1;
  LogRateLimiter protocol_log_limiter_{20, std::chrono::seconds(10)};
  LogRateLimiter sink_log_limiter_{5, std::chrono::seconds(10)};
  LogRateLimiter tls_log_limiter_{20, std::chrono::seconds(10)};
};

}  // namespace edge::gateway
