// Connection: one agent connection's protocol state machine (see connection.h).
#include "connection.h"

#include <spdlog/spdlog.h>

#include <ctime>
#include <utility>

#include "edge/protocol/batch.h"
#include "edge/protocol/enrollment_token.h"
#include "listener.h"
#include "worker.h"

namespace edge::gateway {
namespace {

// Long enough for a peer to read our last frame and close; short enough
// that a peer ignoring us cannot hold the socket.
constexpr std::chrono::milliseconds kLinger{2000};
// Agent ids end up in logs, metrics and every stored row.
constexpr size_t kMaxAgentIdBytes = 256;

struct WriteReq {
  uv_write_t req{};
  std::string bytes;
};

uv_stream_t* asStream(uv_tcp_t* tcp) { return reinterpret_cast<uv_stream_t*>(tcp); }
uv_handle_t* asHandle(uv_tcp_t* tcp) { return reinterpret_cast<uv_handle_t*>(tcp); }
uv_handle_t* asHandle(uv_timer_t* timer) { return reinterpret_cast<uv_handle_t*>(timer); }

// What a decoded batch costs in memory while a sink holds it: the budget
// behind max_buffered_bytes_per_connection. An estimate, not malloc's truth.
size_t estimateMemory(const SinkBatch& batch) {
  size_t bytes = sizeof(SinkBatch) + batch.agent_id.size();
  for (const Event& event : batch.events) {
    bytes += sizeof(Event) + event.kind.size() + event.source.size() + event.host.size() +
             event.tenant.size() + event.raw.size();
    for (const Field& field : event.fields) {
      bytes += sizeof(Field) + field.key.size();
      if (const auto* text = std::get_if<std::string>(&field.value)) bytes += text->size();
    }
  }
  return bytes;
}

}  // namespace

Connection::Connection(Worker& worker, uint64_t id)
    : worker_(worker), id_(id), decoder_(worker.config().max_frame_bytes) {}

Connection::~Connection() = default;

int Connection::init() {
  if (int rc = uv_tcp_init(worker_.loop(), &tcp_); rc != 0) return rc;
  if (int rc = uv_timer_init(worker_.loop(), &timer_); rc != 0) {
    // The tcp handle is initialised; close it like any other.
    tcp_.data = this;
    open_handles_ = 1;
    state_ = State::kClosed;
    uv_close(asHandle(&tcp_), &Connection::onHandleClosed);
    return rc;
  }
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  return 0;
}

void Connection::start() {
  peer_ = peerAddress(&tcp_);
  uv_tcp_nodelay(&tcp_, 1);
  if (const auto& context = worker_.tlsContext()) {
    protocol::TlsSessionOptions options;
    // Bounded like the frame decoder: a peer cannot make us hold more.
    options.max_buffered_ciphertext = worker_.config().max_buffered_bytes_per_connection;
    options.max_pending_plaintext = worker_.config().max_buffered_bytes_per_connection;
    auto session = protocol::TlsSession::create(context, options);
    if (!session) {
      spdlog::error("connection {}: cannot create a TLS session: {}", peer_,
                    session.error().message);
      closeNow();
      return;
    }
    tls_ = std::move(*session);
  }
  updateReading();
  if (state_ == State::kAwaitHello) {
    armTimer(tls_ ? worker_.config().tls.handshake_timeout : worker_.config().hello_timeout);
  }
}

void Connection::refuse(const std::string& reason) {
  peer_ = peerAddress(&tcp_);
  if (worker_.tlsContext()) {
    // The peer expects TLS; a plaintext ERROR would only confuse it.
    closeNow();
    return;
  }
  wire::Error error;
  error.set_code(wire::ERROR_CODE_OVERLOADED);
  error.set_reason(reason);
  send(protocol::encodeControlFrame(protocol::FrameType::kError, error));
  closeGracefully();
}

// ---------------------------------------------------------------- reading --

void Connection::onAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  // One buffer per worker: libuv reads into it and calls onRead before the
  // next allocation, and the decoder copies what it keeps.
  auto* self = static_cast<Connection*>(handle->data);
  buf->base = self->worker_.readBuffer();
  buf->len = self->worker_.readBufferSize();
}

void Connection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  if (nread < 0) {
    if (nread != UV_EOF && self->state_ != State::kClosing) {
      spdlog::debug("connection {} ({}): read failed: {}", self->peer_, self->agent_id_,
                    uv_strerror(static_cast<int>(nread)));
    } else if (self->open()) {
      spdlog::debug("connection {} ({}): closed by the peer", self->peer_, self->agent_id_);
    }
    self->closeNow();
    return;
  }
  if (nread == 0 || !self->open()) return;  // kClosing: discard until EOF
  if (self->tls_) {
    self->onCiphertext(buf->base, static_cast<size_t>(nread));
    return;
  }
  if (auto fed = self->decoder_.feed(buf->base, static_cast<size_t>(nread)); !fed) {
    self->failFrame(fed.error());
    return;
  }
  self->processFrames();
}

// ------------------------------------------------------------------ TLS --

void Connection::onCiphertext(const char* data, size_t size) {
  if (auto fed = tls_->feedCiphertext(std::string_view(data, size)); !fed) {
    if (!tls_ready_) {
      tlsFailed(static_cast<size_t>(tls_->failure()), fed.error().message);
    } else {
      spdlog::debug("connection {} ({}): TLS error: {}", peer_, agent_id_, fed.error().message);
      flushTls();
      closeNow();
    }
    return;
  }
  if (!tls_ready_) {
    if (!tls_->handshakeDone()) {
      flushTls();
      return;
    }
    if (!onHandshakeDone()) return;
  }
  plaintext_.clear();
  for (;;) {
    auto n = tls_->readPlaintext(plaintext_, 64 * 1024);
    if (!n) {
      spdlog::debug("connection {} ({}): TLS error: {}", peer_, agent_id_, n.error().message);
      flushTls();
      closeNow();
      return;
    }
    if (*n == 0) break;
  }
  flushTls();
  if (!plaintext_.empty()) {
    if (auto fed = decoder_.feed(plaintext_.data(), plaintext_.size()); !fed) {
      failFrame(fed.error());
      return;
    }
    processFrames();
  }
  if (tls_ && tls_->peerClosed() && open()) closeGracefully();
}

bool Connection::onHandshakeDone() {
  tls_ready_ = true;
  worker_.metrics().tls_handshakes.inc();
  const auto& peer_cert = tls_->peerIdentity();
  if (peer_cert) {
    auto identity = protocol::agentIdentityOf(*peer_cert);
    if (!identity) {
      fail(wire::ERROR_CODE_UNAUTHENTICATED, ProtocolErrorReason::kUnauthenticated,
           "client certificate " + peer_cert->subject +
               " is not an agent certificate: " + identity.error().message);
      return false;
    }
    identity_ = std::move(*identity);
    cert_serial_ = peer_cert->serial_hex;
  }
  spdlog::debug("connection {}: TLS {} {} {}", peer_, tls_->protocolVersion(), tls_->cipherSuite(),
                identity_ ? "agent " + identity_->agent_id + " tenant " + identity_->tenant
                          : std::string("without a client certificate (enrollment only)"));
  armTimer(worker_.config().hello_timeout);
  return true;
}

void Connection::tlsFailed(size_t reason_index, const std::string& message) {
  const char* name =
      reason_index == kTlsHandshakeTimeoutIndex
          ? "handshake_timeout"
          : protocol::tlsFailureName(static_cast<protocol::TlsFailure>(reason_index));
  if (reason_index < kTlsFailureReasonCount) {
    worker_.metrics().tls_handshake_failures[reason_index]->inc();
  }
  worker_.logTlsFailure(*this, name, message);
  flushTls();  // the alert tells the peer why
  if (state_ == State::kClosed) return;
  state_ = State::kClosing;
  worker_.connectionClosing(*this);
  if (uv_shutdown(&shutdown_req_, asStream(&tcp_), &Connection::onShutdown) != 0) {
    closeNow();
    return;
  }
  updateReading();
  armTimer(kLinger);
}

void Connection::revoked() {
  sendErrorAndClose(wire::ERROR_CODE_UNAUTHENTICATED,
                    "client certificate " + cert_serial_ +
                        " was revoked; this agent must enroll again or get a new certificate");
}

void Connection::sendErrorAndClose(wire::ErrorCode code, const std::string& message) {
  if (!open()) return;
  wire::Error error;
  error.set_code(code);
  error.set_reason(message);
  send(protocol::encodeControlFrame(protocol::FrameType::kError, error));
  closeGracefully();
}

void Connection::flushTls() {
  if (tls_) writeRaw(tls_->takeCiphertext());
}

void Connection::failFrame(const Error& error) {
  switch (error.code) {
    case ErrorCode::kUnsupportedVersion:
      fail(wire::ERROR_CODE_UNSUPPORTED_VERSION, ProtocolErrorReason::kUnsupportedVersion,
           error.message);
      break;
    case ErrorCode::kTooLarge:
      fail(wire::ERROR_CODE_TOO_LARGE, ProtocolErrorReason::kTooLarge, error.message);
      break;
    default:
      fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kFrame, error.message);
      break;
  }
}

void Connection::processFrames() {
  if (processing_) return;  // the outer loop picks up whatever unblocked us
  processing_ = true;
  while (open() && read_blocks_ == 0) {
    auto next = decoder_.next();
    if (!next) {
      failFrame(next.error());
      break;
    }
    if (!next->has_value()) break;
    protocol::Frame frame = std::move(**next);
    handleFrame(frame);
  }
  processing_ = false;
  checkBuffered();
}

void Connection::handleFrame(protocol::Frame& frame) {
  switch (frame.type) {
    case protocol::FrameType::kHello:
      handleHello(frame);
      break;
    case protocol::FrameType::kBatch:
      handleBatch(frame);
      break;
    case protocol::FrameType::kHeartbeat:
      handleHeartbeat(frame);
      break;
    case protocol::FrameType::kError: {
      wire::Error error;
      if (protocol::parseControl(frame, error)) {
        spdlog::info("connection {} ({}): agent reported error {}: {}; closing", peer_, agent_id_,
                     static_cast<int>(error.code()), error.reason());
      }
      closeGracefully();
      break;
    }
    default:
      fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kUnexpectedFrame,
           std::string("unexpected ") + protocol::frameTypeName(frame.type) +
               " frame (agents send HELLO, BATCH, "
               "HEARTBEAT, ERROR)");
      break;
  }
  // Any frame proves the agent is alive.
  if (state_ == State::kEstablished && reading_) armTimer(worker_.config().idle_timeout);
}

void Connection::handleHello(const protocol::Frame& frame) {
  if (state_ != State::kAwaitHello) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kDuplicateHello,
         "second HELLO on one connection");
    return;
  }
  wire::Hello hello;
  if (auto parsed = protocol::parseControl(frame, hello); !parsed) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kBadMessage, parsed.error().message);
    return;
  }
  // 0 means "unset" in proto3: agents that predate the field speak version 1.
  if (hello.protocol_version() != 0 && hello.protocol_version() != protocol::kProtocolVersion) {
    fail(wire::ERROR_CODE_UNSUPPORTED_VERSION, ProtocolErrorReason::kUnsupportedVersion,
         "HELLO asks for protocol version " + std::to_string(hello.protocol_version()) +
             "; this gateway speaks version " + std::to_string(protocol::kProtocolVersion));
    return;
  }
  if (hello.agent_id().empty() || hello.agent_id().size() > kMaxAgentIdBytes) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kBadHello,
         "HELLO needs an agent_id of 1.." + std::to_string(kMaxAgentIdBytes) + " bytes, got " +
             std::to_string(hello.agent_id().size()));
    return;
  }

  if (!hello.enrollment_token().empty() || !hello.csr_pem().empty()) {
    // A CSR without a token from an agent that authenticated with its
    // certificate is a renewal of that identity; anything else enrolls.
    if (hello.enrollment_token().empty() && identity_) {
      renew(hello);
    } else {
      enroll(hello);
    }
    return;
  }
  const GatewayConfig& config = worker_.config();
  if (tls_) {
    if (!identity_) {
      fail(wire::ERROR_CODE_UNAUTHENTICATED, ProtocolErrorReason::kUnauthenticated,
           "no client certificate: connect with the agent's certificate and key, or enroll "
           "first (HELLO with enrollment_token and csr_pem)");
      return;
    }
    if (hello.agent_id() != identity_->agent_id) {
      fail(wire::ERROR_CODE_UNAUTHENTICATED, ProtocolErrorReason::kUnauthenticated,
           "HELLO agent_id \"" + hello.agent_id().substr(0, 64) +
               "\" does not match the client certificate's agent id \"" + identity_->agent_id +
               "\"; set the agent id to the one it enrolled with");
      return;
    }
    tenant_ = identity_->tenant;
  } else {
    tenant_ = config.tenant;
  }
  agent_id_ = hello.agent_id();
  session_id_ = worker_.newSessionId();
  state_ = State::kEstablished;
  credit_batches_ = config.credit_batches;
  credit_bytes_ = static_cast<int64_t>(config.credit_bytes);

  wire::Welcome welcome;
  welcome.set_session_id(session_id_);
  welcome.set_gateway_id(config.id);
  welcome.set_credit_batches(config.credit_batches);
  welcome.set_credit_bytes(config.credit_bytes);
  welcome.set_max_frame_bytes(config.max_frame_bytes);
  welcome.set_heartbeat_interval_ms(static_cast<uint32_t>(config.heartbeat_interval.count()));
  send(protocol::encodeControlFrame(protocol::FrameType::kWelcome, welcome));
  spdlog::info("agent {} (tenant {}, version {}, host {}) connected from {}, session {}{}",
               agent_id_, tenant_, hello.agent_version(), hello.hostname(), peer_, session_id_,
               tls_ ? " over TLS" : "");
}

void Connection::enroll(const wire::Hello& hello) {
  Enroller* enroller = worker_.enroller();
  if (!tls_ || enroller == nullptr) {
    fail(wire::ERROR_CODE_UNAUTHENTICATED, ProtocolErrorReason::kUnauthenticated,
         std::string("this gateway does not enroll agents (") +
             (tls_ ? "gateway.enrollment.enabled is false"
                   : "enrollment needs TLS: gateway.tls.enabled") +
             "); enroll against a gateway that does, or install a certificate");
    return;
  }
  protocol::EnrollmentRequest request;
  request.token = hello.enrollment_token();
  request.csr_pem = hello.csr_pem();
  request.agent_id = hello.agent_id();
  request.required_tenant = enroller->required_tenant;
  // Synchronous on the loop: one SQLite update and one ECDSA signature,
  // rare next to batches (an enrolled agent never enrolls again).
  auto issued =
      protocol::enrollAgent(enroller->key, *enroller->uses, enroller->ca, request,
                            enroller->cert_days, static_cast<int64_t>(std::time(nullptr)));
  if (!issued) {
    worker_.metrics().enrollments_refused.inc();
    spdlog::warn("enrollment of agent \"{}\" from {} refused: {}", hello.agent_id().substr(0, 64),
                 peer_, issued.error().message);
    sendErrorAndClose(wire::ERROR_CODE_UNAUTHENTICATED, issued.error().message);
    return;
  }
  worker_.metrics().enrollments_ok.inc();
  spdlog::info("enrolled agent {} (tenant {}) from {}: certificate {} valid until {}",
               issued->info.common_name, issued->info.organization, peer_, issued->info.serial_hex,
               issued->info.not_after);
  wire::Welcome welcome;
  welcome.set_session_id(worker_.newSessionId());
  welcome.set_gateway_id(worker_.config().id);
  welcome.set_client_cert_pem(issued->cert_pem);
  welcome.set_ca_cert_pem(enroller->ca.cert_pem);
  send(protocol::encodeControlFrame(protocol::FrameType::kWelcome, welcome));
  closeGracefully();
}

void Connection::renew(const wire::Hello& hello) {
  Enroller* enroller = worker_.enroller();
  auto refuse = [&](const std::string& reason) {
    worker_.metrics().enrollments_refused.inc();
    spdlog::warn("certificate renewal of agent {} from {} refused: {}", identity_->agent_id, peer_,
                 reason);
    sendErrorAndClose(wire::ERROR_CODE_UNAUTHENTICATED, reason);
  };
  if (enroller == nullptr) {
    return refuse(
        "certificate renewal refused: this gateway does not sign certificates "
        "(gateway.enrollment.enabled is false); renew at a gateway that enrolls agents");
  }
  if (hello.agent_id() != identity_->agent_id) {
    return refuse(
        "certificate renewal refused: HELLO agent_id \"" + hello.agent_id().substr(0, 64) +
        "\" does not match the client certificate's agent id \"" + identity_->agent_id + "\"");
  }
  if (!enroller->required_tenant.empty() && identity_->tenant != enroller->required_tenant) {
    return refuse("certificate renewal refused: this gateway signs certificates for tenant " +
                  enroller->required_tenant + " only, not " + identity_->tenant);
  }
  // Same identity as the verified certificate; signAgentCsr checks the
  // CSR's signature (proof of possession of the key it carries).
  protocol::ClientCertOptions options;
  options.agent_id = identity_->agent_id;
  options.tenant = identity_->tenant;
  options.validity =
      protocol::Validity::days(enroller->cert_days, static_cast<int64_t>(std::time(nullptr)));
  auto issued = protocol::signAgentCsr(enroller->ca, hello.csr_pem(), options);
  if (!issued) return refuse("certificate renewal refused: " + issued.error().message);
  worker_.metrics().enrollments_ok.inc();
  spdlog::info(
      "renewed the certificate of agent {} (tenant {}) from {}: {} replaces {}, valid until {}",
      identity_->agent_id, identity_->tenant, peer_, issued->info.serial_hex, cert_serial_,
      issued->info.not_after);
  wire::Welcome welcome;
  welcome.set_session_id(worker_.newSessionId());
  welcome.set_gateway_id(worker_.config().id);
  welcome.set_client_cert_pem(issued->cert_pem);
  welcome.set_ca_cert_pem(enroller->ca.cert_pem);
  send(protocol::encodeControlFrame(protocol::FrameType::kWelcome, welcome));
  closeGracefully();
}

void Connection::handleBatch(protocol::Frame& frame) {
  if (state_ != State::kEstablished) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kBatchBeforeHello, "BATCH before HELLO");
    return;
  }
  const size_t payload_bytes = frame.payload.size();
  // Batch credit is exact and enforced. Byte credit is advisory: an agent
  // may send a batch larger than its byte credit when nothing else is in
  // flight (or it could never go), and max_buffered_bytes_per_connection
  // bounds the memory instead.
  if (credit_batches_ <= 0) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kCreditExceeded,
         "BATCH sent without batch credit (" + std::to_string(credit_batches_) +
             " left); wait for CREDIT");
    return;
  }
  credit_batches_ -= 1;
  credit_bytes_ -= static_cast<int64_t>(payload_bytes);

  const GatewayConfig& config = worker_.config();
  auto decoded =
      protocol::decodeBatchPayload(frame.payload, frame.flags, config.max_decompressed_bytes);
  if (!decoded) {
    if (decoded.error().code == ErrorCode::kTooLarge) {
      fail(wire::ERROR_CODE_TOO_LARGE, ProtocolErrorReason::kTooLarge,
           "batch too large (gateway.max_decompressed_bytes is " +
               std::to_string(config.max_decompressed_bytes) + "): " + decoded.error().message);
    } else {
      fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kBadBatch, decoded.error().message);
    }
    return;
  }
  if (decoded->agent_id != agent_id_) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kAgentMismatch,
         "batch " + std::to_string(decoded->batch_id) + " carries agent_id \"" +
             decoded->agent_id.substr(0, 64) + "\" but HELLO said \"" + agent_id_ + "\"");
    return;
  }
  auto batch = std::make_shared<SinkBatch>();
  batch->agent_id = agent_id_;
  batch->batch_id = decoded->batch_id;
  batch->received_at_ns = nowNs();
  batch->events = std::move(decoded->events);
  // The tenant comes from the gateway, never from the agent.
  for (Event& event : batch->events) event.tenant = tenant_;

  const size_t memory = estimateMemory(*batch);
  in_flight_bytes_ += memory;
  worker_.submitBatch(*this, std::move(batch), payload_bytes, memory);
  checkBuffered();
}

void Connection::handleHeartbeat(const protocol::Frame& frame) {
  if (state_ != State::kEstablished) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kUnexpectedFrame,
         "HEARTBEAT before HELLO");
    return;
  }
  auto heartbeat = std::make_unique<wire::Heartbeat>();
  if (auto parsed = protocol::parseControl(frame, *heartbeat); !parsed) {
    fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kBadMessage, parsed.error().message);
    return;
  }
  spdlog::debug(
      "heartbeat from agent {}: version {}, uptime {}s, spool {} batches / {} bytes, {} events "
      "dropped",
      agent_id_, heartbeat->agent_version(), heartbeat->uptime_s(), heartbeat->spool_batches(),
      heartbeat->spool_bytes(), heartbeat->events_dropped());
  last_heartbeat_ = std::move(heartbeat);
}

void Connection::fail(wire::ErrorCode code, ProtocolErrorReason reason,
                      const std::string& message) {
  if (!open()) return;
  worker_.metrics().protocolErrors(reason).inc();
  worker_.logProtocolError(*this, reason, message);
  wire::Error error;
  error.set_code(code);
  error.set_reason(message);
  send(protocol::encodeControlFrame(protocol::FrameType::kError, error));
  closeGracefully();
}

// ------------------------------------------------------ acks and credit --

void Connection::batchFinished(size_t memory_bytes) {
  in_flight_bytes_ -= std::min(memory_bytes, in_flight_bytes_);
  checkBuffered();
}

void Connection::queueAck(uint64_t batch_id, wire::AckStatus status, std::string reason) {
  wire::AckEntry* entry = pending_ack_.add_entries();
  entry->set_batch_id(batch_id);
  entry->set_status(status);
  if (!reason.empty()) entry->set_reason(std::move(reason));
}

void Connection::queueCredit(uint32_t batches, uint64_t bytes) {
  pending_credit_batches_ += batches;
  pending_credit_bytes_ += bytes;
}

void Connection::withholdCredit(uint32_t batches, uint64_t bytes) {
  withheld_batches_ += batches;
  withheld_bytes_ += bytes;
}

bool Connection::releaseWithheldCredit() {
  if (withheld_batches_ == 0 && withheld_bytes_ == 0) return false;
  queueCredit(withheld_batches_, withheld_bytes_);
  withheld_batches_ = 0;
  withheld_bytes_ = 0;
  return true;
}

void Connection::flush() {
  if (!open()) return;
  std::string out;
  if (pending_ack_.entries_size() > 0) {
    protocol::appendControlFrame(out, protocol::FrameType::kAck, pending_ack_);
    pending_ack_.Clear();
  }
  if (pending_credit_batches_ > 0 || pending_credit_bytes_ > 0) {
    wire::Credit credit;
    credit.set_batches(pending_credit_batches_);
    credit.set_bytes(pending_credit_bytes_);
    protocol::appendControlFrame(out, protocol::FrameType::kCredit, credit);
    credit_batches_ += pending_credit_batches_;
    credit_bytes_ += static_cast<int64_t>(pending_credit_bytes_);
    pending_credit_batches_ = 0;
    pending_credit_bytes_ = 0;
  }
  if (!out.empty()) send(std::move(out));
}

// ------------------------------------------------------------- closing --

void Connection::drain(const std::string& reason) {
  if (state_ == State::kAwaitHello) {
    closeGracefully();
    return;
  }
  if (state_ != State::kEstablished) return;
  wire::Goaway goaway;
  goaway.set_reason(reason);
  send(protocol::encodeControlFrame(protocol::FrameType::kGoaway, goaway));
  block(kBlockDraining);
}

void Connection::closeGracefully() {
  if (!open()) return;
  flush();
  if (state_ == State::kClosed) return;  // the flush failed and closed us
  state_ = State::kClosing;
  worker_.connectionClosing(*this);
  if (tls_ && !tls_->failed()) {
    (void)tls_->close();  // close_notify: the peer knows the stream ended cleanly
    flushTls();
    if (state_ == State::kClosed) return;
  }
  if (uv_shutdown(&shutdown_req_, asStream(&tcp_), &Connection::onShutdown) != 0) {
    closeNow();
    return;
  }
  updateReading();  // read and discard until the peer's EOF
  armTimer(kLinger);
}

void Connection::onShutdown(uv_shutdown_t* req, int status) {
  auto* self = static_cast<Connection*>(req->handle->data);
  // Success: our frames are out; wait for the peer's EOF (or the linger timer).
  if (status < 0 && self->state_ != State::kClosed) self->closeNow();
}

void Connection::closeNow() {
  if (state_ == State::kClosed) return;
  const bool was_open = open();
  state_ = State::kClosed;
  if (was_open) worker_.connectionClosing(*this);
  uv_timer_stop(&timer_);
  uv_close(asHandle(&tcp_), &Connection::onHandleClosed);
  uv_close(asHandle(&timer_), &Connection::onHandleClosed);
}

void Connection::onHandleClosed(uv_handle_t* handle) {
  auto* self = static_cast<Connection*>(handle->data);
  if (--self->open_handles_ == 0) self->worker_.connectionFreed(self);
}

// --------------------------------------------------------------- timers --

void Connection::armTimer(std::chrono::milliseconds timeout) {
  if (state_ == State::kClosed) return;
  uv_timer_start(&timer_, &Connection::onTimer, static_cast<uint64_t>(timeout.count()), 0);
}

void Connection::onTimer(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  const GatewayConfig& config = self->worker_.config();
  switch (self->state_) {
    case State::kAwaitHello:
      if (self->tls_ && !self->tls_ready_) {
        self->tlsFailed(kTlsHandshakeTimeoutIndex,
                        "no TLS handshake within " +
                            std::to_string(config.tls.handshake_timeout.count()) +
                            "ms (gateway.tls.handshake_timeout)");
        break;
      }
      self->fail(wire::ERROR_CODE_PROTOCOL, ProtocolErrorReason::kHelloTimeout,
                 "no HELLO within " + std::to_string(config.hello_timeout.count()) +
                     "ms (gateway.hello_timeout)");
      break;
    case State::kEstablished: {
      self->worker_.metrics().idle_closed.inc();
      const std::string reason = "no frame for " + std::to_string(config.idle_timeout.count()) +
                                 "ms (gateway.idle_timeout)";
      spdlog::info("closing idle connection {} (agent {}): {}", self->peer_, self->agent_id_,
                   reason);
      wire::Goaway goaway;
      goaway.set_reason(reason);
      self->send(protocol::encodeControlFrame(protocol::FrameType::kGoaway, goaway));
      self->closeGracefully();
      break;
    }
    case State::kClosing:
      self->closeNow();
      break;
    case State::kClosed:
      break;
  }
}

// --------------------------------------------------- writes and pausing --

void Connection::send(std::string bytes) {
  if (state_ == State::kClosed || bytes.empty()) return;
  if (tls_) {
    if (tls_->failed()) return;
    if (auto written = tls_->writePlaintext(bytes); !written) {
      spdlog::debug("connection {} ({}): TLS write failed: {}", peer_, agent_id_,
                    written.error().message);
      closeNow();
      return;
    }
    flushTls();
    return;
  }
  writeRaw(std::move(bytes));
}

void Connection::writeRaw(std::string bytes) {
  if (state_ == State::kClosed || bytes.empty()) return;
  auto* req = new WriteReq;
  req->bytes = std::move(bytes);
  uv_buf_t buf = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  const int rc = uv_write(&req->req, asStream(&tcp_), &buf, 1, [](uv_write_t* write, int status) {
    auto* self = static_cast<Connection*>(write->handle->data);
    delete reinterpret_cast<WriteReq*>(write);
    if (status < 0) {
      if (status != UV_ECANCELED && self->state_ != State::kClosed) {
        spdlog::debug("connection {} ({}): write failed: {}", self->peer_, self->agent_id_,
                      uv_strerror(status));
        self->closeNow();
      }
      return;
    }
    self->checkBuffered();
  });
  if (rc != 0) {
    delete req;
    spdlog::debug("connection {} ({}): write failed: {}", peer_, agent_id_, uv_strerror(rc));
    closeNow();
  }
}

size_t Connection::bufferedBytes() const {
  return decoder_.bufferedBytes() + in_flight_bytes_ +
         uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

void Connection::checkBuffered() {
  if (!open()) return;
  const uint64_t cap = worker_.config().max_buffered_bytes_per_connection;
  const size_t buffered = bufferedBytes();
  if ((read_blocks_ & kBlockBuffered) == 0 && buffered > cap) {
    worker_.metrics().read_paused.inc();
    spdlog::debug("connection {} ({}): {} bytes buffered (cap {}), pausing reads", peer_, agent_id_,
                  buffered, cap);
    block(kBlockBuffered);
  } else if ((read_blocks_ & kBlockBuffered) != 0 && buffered <= cap / 2) {
    unblock(kBlockBuffered);
  }
}

void Connection::block(ReadBlock reason) {
  read_blocks_ |= reason;
  updateReading();
}

void Connection::unblock(ReadBlock reason) {
  if ((read_blocks_ & reason) == 0) return;
  read_blocks_ &= ~static_cast<uint32_t>(reason);
  updateReading();
  if (read_blocks_ == 0) processFrames();  // frames that arrived before the pause
}

void Connection::updateReading() {
  if (state_ == State::kClosed) return;
  const bool want = state_ == State::kClosing || read_blocks_ == 0;
  if (want && !reading_) {
    if (uv_read_start(asStream(&tcp_), &Connection::onAlloc, &Connection::onRead) != 0) {
      closeNow();
      return;
    }
    reading_ = true;
    if (state_ == State::kEstablished) armTimer(worker_.config().idle_timeout);
  } else if (!want && reading_) {
    uv_read_stop(asStream(&tcp_));
    reading_ = false;
    // A paused connection is not idle: we are the ones not reading.
    if (state_ == State::kEstablished) uv_timer_stop(&timer_);
  }
}

}  // namespace edge::gateway
