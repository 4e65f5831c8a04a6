// Worker: everything one libuv loop serves — a listener, its connections,
// the hand-back of sink completions (LoopMailbox), the credit policy, and
// the shutdown drain. The first cut runs one worker; issue "multi-core" runs
// one per core with SO_REUSEPORT, so nothing here is shared between workers
// except the sink and the (atomic) metrics.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "edge/common/log.h"
#include "edge/common/result.h"
#include "edge/gateway/config.h"
#include "edge/gateway/loop_mailbox.h"
#include "edge/gateway/metrics.h"
#include "edge/gateway/sink.h"
#include "edge/protocol/enrollment_token.h"
#include "edge/protocol/pki.h"
#include "listener.h"
#include "tls_include.h"

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
  Worker(uv_loop_t* loop, const GatewayConfig& config, std::shared_ptr<Sink> sink,
         GatewayMetrics& metrics);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Loop thread, before the loop runs or on it. On failure everything opened
  // so far is closed (run the loop to finish the closes).
  Result<void> start(bool reuse_port);
  uint16_t port() const { return listener_.port(); }

  // Shutdown step 1: stop accepting, GOAWAY to every agent, stop reading
  // their frames. `drained` runs on the loop once no batch of this worker is
  // inside a sink (possibly before beginDrain returns).
  void beginDrain(std::function<void()> drained);
  // Shutdown step 2: close every connection (flushing acks), the mailbox and
  // the listener. The loop finishes the closes.
  void close();

  size_t connectionCount() const { return open_.size(); }
  size_t inFlightBatches() const { return in_flight_; }
  size_t agentsWithHeartbeat() const;
  bool sinkPressure() const { return sink_pressure_; }

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
  // Hands a verified batch to the sink; the ack comes back via the mailbox.
  void submitBatch(Connection& connection, SinkBatchPtr batch, size_t payload_bytes,
                   size_t memory_bytes);
  void logProtocolError(const Connection& connection, ProtocolErrorReason reason,
                        const std::string& message);
  // The connection stopped being open (no more acks are routed to it).
  void connectionClosing(Connection& connection);
  // Both of its handles are closed: free it.
  void connectionFreed(Connection* connection);
  void markDirty(Connection& connection);

  // Watermark events, posted through the mailbox.
  void enterPressure();
  void leavePressure();

 private:
  static constexpr size_t kReadBufferSize = 64 * 1024;
  // Refused/closing connections beyond this are closed without an ERROR, so
  // a connection flood cannot pile up lingering sockets.
  static constexpr size_t kMaxLingering = 1024;

  void onAccept(uv_stream_t* server);
  Result<void> setUpTls();
  void checkCrlFile();
  void disconnectRevoked();
  void onBatchDone(uint64_t connection_id, uint64_t batch_id, size_t payload_bytes,
                   size_t memory_bytes, size_t events, SinkResult result);
  void afterDrain();
  void maybeDrained();

  uv_loop_t* loop_;
  const GatewayConfig& config_;
  std::shared_ptr<Sink> sink_;
  GatewayMetrics& metrics_;
  Listener listener_;
  std::shared_ptr<LoopMailbox> mailbox_;
  std::unique_ptr<char[]> read_buffer_;

  uint64_t next_id_ = 1;
  // Every live Connection object (open, lingering, refused) until its handles close.
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> all_;
  // Open connections: where acks and credit are routed.
  std::unordered_map<uint64_t, Connection*> open_;
  std::vector<uint64_t> dirty_;

  size_t in_flight_ = 0;
  bool sink_pressure_ = false;
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
