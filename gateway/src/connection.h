// Connection: one agent's TCP connection on a worker's loop — framing, the
// HELLO/WELCOME handshake, batch verification, heartbeats, timers, the
// credit the agent holds, and its own read back-pressure. Everything that
// involves sinks or other connections goes through its Worker.
//
// Lifecycle: kAwaitHello -> kEstablished -> kClosing (final frame written,
// reading and discarding until the peer's EOF or a linger timeout, so a
// close does not reset the connection before the peer read our ERROR) ->
// kClosed (handles closing). The object is freed by the worker after both
// libuv handles reported their close.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "edge/gateway/metrics.h"
#include "edge/gateway/sink.h"
#include "edge/protocol/control.h"
#include "edge/protocol/frame.h"
#include "edge/protocol/pki.h"
#include "edge/protocol/tls.h"

namespace edge::gateway {

class Worker;

class Connection {
 public:
  enum class State { kAwaitHello, kEstablished, kClosing, kClosed };

  // Why reading is paused; reasons stack, reading resumes when none is left.
  enum ReadBlock : uint32_t {
    kBlockBuffered = 1u << 0,  // buffered bytes above max_buffered_bytes_per_connection
    kBlockDraining = 1u << 1,  // gateway shutting down
  };

  Connection(Worker& worker, uint64_t id);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Initialises the handles (0 or a libuv error); then uv_accept() into tcp().
  int init();
  // After uv_accept(): starts reading and the HELLO timer.
  void start();
  // For a connection over max_connections: ERROR (overloaded), then close.
  void refuse(const std::string& reason);

  uv_tcp_t* tcp() { return &tcp_; }
  uint64_t id() const { return id_; }
  State state() const { return state_; }
  bool open() const { return state_ == State::kAwaitHello || state_ == State::kEstablished; }
  const std::string& peer() const { return peer_; }
  const std::string& agentId() const { return agent_id_; }
  // Serial of the verified client certificate ("" for plaintext or enrolling).
  const std::string& certSerial() const { return cert_serial_; }
  // A reloaded CRL revoked our certificate: ERROR (unauthenticated), close.
  void revoked();
  const wire::Heartbeat* lastHeartbeat() const { return last_heartbeat_.get(); }

  // --- called by the worker on completions (coalesced until flush()) ---
  // A batch left the sink: free its in-flight accounting (may resume reading).
  void batchFinished(size_t memory_bytes);
  void queueAck(uint64_t batch_id, wire::AckStatus status, std::string reason);
  void queueCredit(uint32_t batches, uint64_t bytes);
  // Credit earned while the sink was above its high watermark; released by
  // releaseWithheldCredit() when it falls below the low watermark.
  void withholdCredit(uint32_t batches, uint64_t bytes);
  bool releaseWithheldCredit();  // true if there was any
  // Writes pending ACK and CREDIT frames (one write).
  void flush();

  // Shutdown: tell the agent to go elsewhere and stop reading its frames.
  void drain(const std::string& reason);
  // Flushes what is queued, closes the write side, lingers for the peer's EOF.
  void closeGracefully();
  // Closes the handles now (write errors, linger timeout, EOF while closing).
  void closeNow();

 private:
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onTimer(uv_timer_t* timer);
  static void onShutdown(uv_shutdown_t* req, int status);
  static void onHandleClosed(uv_handle_t* handle);

  void onCiphertext(const char* data, size_t size);
  bool onHandshakeDone();
  void tlsFailed(size_t reason_index, const std::string& message);
  void enroll(const wire::Hello& hello);
  // HELLO with a CSR over mutual TLS: a fresh certificate for the same identity.
  void renew(const wire::Hello& hello);
  void sendErrorAndClose(wire::ErrorCode code, const std::string& message);
  void writeRaw(std::string bytes);
  void flushTls();
  void processFrames();
  void failFrame(const Error& error);
  void handleFrame(protocol::Frame& frame);
  void handleHello(const protocol::Frame& frame);
  void handleBatch(protocol::Frame& frame);
  void handleHeartbeat(const protocol::Frame& frame);
  // Protocol violation: count, log at warn, send ERROR, close this connection.
  void fail(wire::ErrorCode code, ProtocolErrorReason reason, const std::string& message);

  void send(std::string bytes);
  void armTimer(std::chrono::milliseconds timeout);
  void block(ReadBlock reason);
  void unblock(ReadBlock reason);
  void updateReading();
  size_t bufferedBytes() const;
  void checkBuffered();

  Worker& worker_;
  const uint64_t id_;
  State state_ = State::kAwaitHello;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};  // HELLO deadline, then idle timeout, then linger
  uv_shutdown_t shutdown_req_{};
  int open_handles_ = 0;
  bool reading_ = false;
  bool processing_ = false;
  uint32_t read_blocks_ = 0;
  std::string peer_;
  protocol::FrameDecoder decoder_;

  // TLS (null for plaintext). tls_ready_: handshake done, identity read.
  std::unique_ptr<protocol::TlsSession> tls_;
  bool tls_ready_ = false;
  std::optional<protocol::AgentIdentity> identity_;
  std::string cert_serial_;
  std::string plaintext_;  // reused buffer for decrypted bytes

  std::string agent_id_;
  std::string tenant_;  // from the certificate; gateway.tenant for plaintext
  std::string session_id_;
  std::unique_ptr<wire::Heartbeat> last_heartbeat_;

  // Credit the agent still holds (bytes may go negative, see handleBatch).
  int64_t credit_batches_ = 0;
  int64_t credit_bytes_ = 0;
  uint32_t withheld_batches_ = 0;
  uint64_t withheld_bytes_ = 0;

  size_t in_flight_bytes_ = 0;  // estimated memory of batches inside sinks

  wire::Ack pending_ack_;
  uint32_t pending_credit_batches_ = 0;
  uint64_t pending_credit_bytes_ = 0;
};

}  // namespace edge::gateway
