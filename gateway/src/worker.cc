// Worker: accepts connections, routes batches to the sink and acks back,
// applies the credit policy, and drains on shutdown (see worker.h).
#include "worker.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <uv.h>

#include <cstring>
#include <ctime>
#include <utility>

#include "connection.h"

namespace edge::gateway {
namespace {

// Forwards a sink's watermark crossings into the worker's loop. Holds the
// mailbox, not the worker: once the worker closed its mailbox, posts fail
// and the worker is never touched.
class MailboxWatermarkListener final : public WatermarkListener {
 public:
  MailboxWatermarkListener(std::shared_ptr<LoopMailbox> mailbox, Worker* worker)
      : mailbox_(std::move(mailbox)), worker_(worker) {}
  void onAboveHighWatermark() override {
    Worker* worker = worker_;
    mailbox_->post([worker] { worker->enterPressure(); });
  }
  void onBelowLowWatermark() override {
    Worker* worker = worker_;
    mailbox_->post([worker] { worker->leavePressure(); });
  }

 private:
  std::shared_ptr<LoopMailbox> mailbox_;
  Worker* worker_;
};

}  // namespace

Worker::Worker(uv_loop_t* loop, const GatewayConfig& config, std::shared_ptr<Sink> sink,
               GatewayMetrics& metrics)
    : loop_(loop),
      config_(config),
      sink_(std::move(sink)),
      metrics_(metrics),
      listener_(loop),
      read_buffer_(new char[kReadBufferSize]) {}

Worker::~Worker() {
  // Connections must have finished closing (the loop ran after close());
  // freeing one with live handles would leave libuv pointing at freed memory.
  if (!all_.empty()) {
    spdlog::error("worker destroyed with {} connections still open; leaking them", all_.size());
    for (auto& [id, connection] : all_) (void)connection.release();
  }
}

Result<void> Worker::start(bool reuse_port) {
  auto mailbox = LoopMailbox::create(loop_, [this] { afterDrain(); });
  if (!mailbox) return mailbox.error();
  mailbox_ = std::move(*mailbox);
  sink_->addWatermarkListener(std::make_shared<MailboxWatermarkListener>(mailbox_, this));
  sink_pressure_ = sink_->aboveHighWatermark();

  if (auto tls = setUpTls(); !tls) {
    mailbox_->close();
    closed_ = true;
    return tls;
  }
  if (auto listening = listener_.listen(config_.listen, "gateway.listen", reuse_port,
                                        [this](uv_stream_t* server) { onAccept(server); });
      !listening) {
    mailbox_->close();
    closed_ = true;
    return listening;
  }
  spdlog::info(
      "listening for agents on {}:{} ({})", config_.listen.host, listener_.port(),
      tls_ ? "TLS, client certificates required" + std::string(enroller_ ? " or enrollment" : "")
           : "PLAINTEXT, gateway.tls.allow_plaintext on loopback");
  if (revocation_) {
    crl_timer_ = new uv_timer_t;
    uv_timer_init(loop_, crl_timer_);
    crl_timer_->data = this;
    const auto interval = static_cast<uint64_t>(config_.tls.crl_check_interval.count());
    uv_timer_start(
        crl_timer_, [](uv_timer_t* timer) { static_cast<Worker*>(timer->data)->checkCrlFile(); },
        interval, interval);
  }
  return okResult();
}

Result<void> Worker::setUpTls() {
  const TlsConfig& tls = config_.tls;
  if (!tls.enabled) return okResult();
  auto read = [](const std::string& path, const char* key) -> Result<std::string> {
    auto text = protocol::readTextFile(path);
    if (!text) {
      return makeError(ErrorCode::kConfig, std::string("cannot read ") + key + " \"" + path +
                                               "\": " + text.error().message);
    }
    return text;
  };
  auto cert = read(tls.cert, "gateway.tls.cert");
  if (!cert) return cert.error();
  auto key = read(tls.key, "gateway.tls.key");
  if (!key) return key.error();
  auto ca = read(tls.ca, "gateway.tls.ca");
  if (!ca) return ca.error();

  protocol::TlsContextOptions options;
  options.role = protocol::TlsRole::kServer;
  options.ca_cert_pem = *ca;
  options.cert_pem = *cert;
  options.key_pem = *key;
  // With enrollment a client may come without a certificate, but then it
  // can only enroll (Connection::handleHello); a presented one must verify.
  options.client_auth = config_.enrollment.enabled ? protocol::ClientAuth::kOptional
                                                   : protocol::ClientAuth::kRequired;
  if (!tls.crl.empty()) {
    revocation_ = std::make_shared<protocol::RevocationStore>(*ca);
    if (auto loaded = revocation_->reloadFile(tls.crl); !loaded) {
      return makeError(ErrorCode::kConfig, "gateway.tls.crl \"" + tls.crl +
                                               "\": " + loaded.error().message +
                                               "; write it with edgectl cert revoke");
    }
    metrics_.crl_reloads.inc();
    struct stat st {};
    if (::stat(tls.crl.c_str(), &st) == 0) {
      crl_mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      crl_size_ = static_cast<int64_t>(st.st_size);
    }
    std::shared_ptr<protocol::RevocationStore> store = revocation_;
    options.revocation = [store](std::string_view serial) { return store->isRevoked(serial); };
  }
  auto context = protocol::TlsContext::create(options);
  if (!context) {
    return makeError(ErrorCode::kConfig, "gateway.tls (cert " + tls.cert + ", key " + tls.key +
                                             ", ca " + tls.ca + "): " + context.error().message);
  }
  tls_ = std::move(*context);

  const EnrollmentConfig& en = config_.enrollment;
  if (en.enabled) {
    auto ca_key = read(en.ca_key, "gateway.enrollment.ca_key");
    if (!ca_key) return ca_key.error();
    auto token_key = protocol::TokenKey::loadFile(en.token_secret);
    if (!token_key) {
      return makeError(ErrorCode::kConfig, "gateway.enrollment.token_secret \"" + en.token_secret +
                                               "\": " + token_key.error().message);
    }
    auto store = protocol::SqliteTokenUseStore::open(en.token_store);
    if (!store) {
      return makeError(ErrorCode::kConfig, "gateway.enrollment.token_store \"" + en.token_store +
                                               "\": " + store.error().message);
    }
    enroller_ = std::make_unique<Enroller>(Enroller{std::move(*token_key), std::move(*store),
                                                    protocol::CertificateAuthority{*ca, *ca_key},
                                                    en.tenant, en.cert_days});
    spdlog::info("enrollment on: tokens checked with key {}, uses counted in {}{}",
                 enroller_->key.fingerprint(), en.token_store,
                 en.tenant.empty() ? "" : ", tenant " + en.tenant + " only");
  }
  return okResult();
}

void Worker::checkCrlFile() {
  struct stat st {};
  if (::stat(config_.tls.crl.c_str(), &st) != 0) return;  // a missing file keeps the old list
  const int64_t mtime =
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (mtime == crl_mtime_ns_ && static_cast<int64_t>(st.st_size) == crl_size_) return;
  crl_mtime_ns_ = mtime;
  crl_size_ = static_cast<int64_t>(st.st_size);
  reloadCrl();
}

void Worker::reloadCrl() {
  if (!revocation_ || closed_) return;
  if (auto loaded = revocation_->reloadFile(config_.tls.crl); !loaded) {
    metrics_.crl_reload_failures.inc();
    spdlog::error(
        "cannot reload the CRL gateway.tls.crl \"{}\": {}; the previous list stays in "
        "force",
        config_.tls.crl, loaded.error().message);
    return;
  }
  metrics_.crl_reloads.inc();
  auto list = revocation_->current();
  spdlog::info("CRL {} reloaded: {} revoked serials (CRL number {})", config_.tls.crl,
               list ? list->size() : 0, list ? list->crlNumber() : 0);
  disconnectRevoked();
}

void Worker::disconnectRevoked() {
  std::vector<Connection*> revoked;
  for (auto& [id, connection] : open_) {
    if (!connection->certSerial().empty() && revocation_->isRevoked(connection->certSerial())) {
      revoked.push_back(connection);
    }
  }
  for (Connection* connection : revoked) {
    metrics_.revoked_disconnects.inc();
    spdlog::warn("disconnecting agent {} ({}): its certificate {} is revoked by the reloaded CRL",
                 connection->agentId(), connection->peer(), connection->certSerial());
    connection->revoked();
  }
}

void Worker::logTlsFailure(const Connection& connection, const std::string& reason,
                           const std::string& message) {
  if (const uint64_t n = tls_log_limiter_.allow(); n > 0) {
    spdlog::warn(
        "TLS handshake with {} refused: {} [reason={}]{}", connection.peer(), message, reason,
        n > 1 ? " (" + std::to_string(n - 1) + " similar messages suppressed)" : std::string());
  }
}

std::string Worker::newSessionId() {
  unsigned char bytes[16] = {};
  // Synchronous form (no loop, no callback): getrandom(2) underneath.
  if (uv_random(nullptr, nullptr, bytes, sizeof(bytes), 0, nullptr) != 0) {
    // Session ids label logs; uniqueness matters, secrecy does not.
    const uint64_t fallback = uv_hrtime() ^ (next_id_ << 32);
    memcpy(bytes, &fallback, sizeof(fallback));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(sizeof(bytes) * 2);
  for (unsigned char byte : bytes) {
    id.push_back(kHex[byte >> 4]);
    id.push_back(kHex[byte & 0xf]);
  }
  return id;
}

void Worker::onAccept(uv_stream_t* server) {
  const uint64_t id = next_id_++;
  auto owned = std::make_unique<Connection>(*this, id);
  Connection* connection = owned.get();
  if (int rc = connection->init(); rc != 0) {
    spdlog::warn("cannot set up an accepted connection: {}", uv_strerror(rc));
    // init() closed what it had opened; keep the object until the close callback.
    if (connection->state() == Connection::State::kClosed) all_.emplace(id, std::move(owned));
    return;
  }
  all_.emplace(id, std::move(owned));
  if (int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(connection->tcp())); rc != 0) {
    spdlog::warn("accept failed: {}", uv_strerror(rc));
    connection->closeNow();
    return;
  }
  if (draining_ || closed_) {
    connection->closeNow();
    return;
  }
  if (open_.size() >= config_.max_connections) {
    metrics_.connections_refused.inc();
    const std::string reason = "gateway at its connection limit (gateway.max_connections = " +
                               std::to_string(config_.max_connections) +
                               "); retry later or use another gateway";
    if (const uint64_t n = protocol_log_limiter_.allow(); n > 0) {
      spdlog::warn("refusing connection from {}: {}{}", peerAddress(connection->tcp()), reason,
                   n > 1 ? " (" + std::to_string(n - 1) + " similar messages suppressed)" : "");
    }
    if (all_.size() - open_.size() > kMaxLingering) {
      connection->closeNow();
    } else {
      connection->refuse(reason);
    }
    return;
  }
  open_.emplace(id, connection);
  metrics_.connections.add(1);
  metrics_.connections_total.inc();
  connection->start();
}

void Worker::connectionClosing(Connection& connection) {
  if (open_.erase(connection.id()) > 0) {
    metrics_.connections.add(-1);
    if (!connection.agentId().empty()) {
      spdlog::info("agent {} disconnected ({})", connection.agentId(), connection.peer());
    }
  }
}

void Worker::connectionFreed(Connection* connection) { all_.erase(connection->id()); }

void Worker::logProtocolError(const Connection& connection, ProtocolErrorReason reason,
                              const std::string& message) {
  if (const uint64_t n = protocol_log_limiter_.allow(); n > 0) {
    spdlog::warn(
        "protocol error from {}{}{}: {} [reason={}]; closing the connection{}", connection.peer(),
        connection.agentId().empty() ? "" : " agent ", connection.agentId(), message,
        protocolErrorReasonName(reason),
        n > 1 ? " (" + std::to_string(n - 1) + " similar messages suppressed)" : std::string());
  }
}

void Worker::submitBatch(Connection& connection, SinkBatchPtr batch, size_t payload_bytes,
                         size_t memory_bytes) {
  const size_t events = batch->events.size();
  const uint64_t batch_id = batch->batch_id;
  const uint64_t connection_id = connection.id();
  metrics_.batches_received.inc();
  metrics_.events_received.inc(events);
  ++in_flight_;

  std::shared_ptr<LoopMailbox> mailbox = mailbox_;
  sink_->submit(std::move(batch), [mailbox, this, connection_id, batch_id, payload_bytes,
                                   memory_bytes, events](SinkResult result) {
    // Sink thread: only hand the result over. If the mailbox is closed the
    // gateway is gone; the commit happened (or not) and the agent resends.
    mailbox->post([this, connection_id, batch_id, payload_bytes, memory_bytes, events,
                   result = std::move(result)]() mutable {
      onBatchDone(connection_id, batch_id, payload_bytes, memory_bytes, events, std::move(result));
    });
  });
  // The crossing callback arrives through the mailbox; polling here stops
  // granting credit from this very moment.
  if (!sink_pressure_ && sink_->aboveHighWatermark()) enterPressure();
}

void Worker::onBatchDone(uint64_t connection_id, uint64_t batch_id, size_t payload_bytes,
                         size_t memory_bytes, size_t events, SinkResult result) {
  --in_flight_;
  const bool ok = result.status == SinkStatus::kOk;
  if (ok) {
    metrics_.batches_committed.inc();
    metrics_.events_committed.inc(events);
  } else {
    metrics_.batches_retried.inc();
    if (const uint64_t n = sink_log_limiter_.allow(); n > 0) {
      spdlog::warn(
          "sink {} did not commit batch {} ({}): {}; the agent is told to retry ({} similar "
          "suppressed)",
          sink_->name(), batch_id, sinkStatusName(result.status), result.reason, n - 1);
    }
  }

  auto it = open_.find(connection_id);
  if (it == open_.end()) {
    // Closed meanwhile: the commit stands, the agent resends and the sink
    // de-duplicates.
    metrics_.acks_dropped.inc();
    maybeDrained();
    return;
  }
  Connection& connection = *it->second;
  connection.batchFinished(memory_bytes);
  // RETRY for kError too: only the engine decides what is permanent, and a
  // dead-letter path does not exist yet.
  connection.queueAck(batch_id, ok ? wire::ACK_STATUS_OK : wire::ACK_STATUS_RETRY,
                      ok ? std::string() : result.reason);
  if (!draining_) {
    if (sink_pressure_) {
      connection.withholdCredit(1, payload_bytes);
      metrics_.credit_withheld.inc();
    } else {
      connection.queueCredit(1, payload_bytes);
    }
  }
  markDirty(connection);
}

void Worker::markDirty(Connection& connection) { dirty_.push_back(connection.id()); }

void Worker::afterDrain() {
  std::vector<uint64_t> dirty;
  dirty.swap(dirty_);
  for (uint64_t id : dirty) {
    auto it = open_.find(id);
    if (it != open_.end()) it->second->flush();  // a no-op when already flushed
  }
  maybeDrained();
}

void Worker::enterPressure() {
  if (sink_pressure_ || closed_) return;
  sink_pressure_ = true;
  metrics_.backpressure.inc();
  spdlog::info("sink {} reached its high watermark ({} batches queued); withholding credit",
               sink_->name(), sink_->queuedBatches());
}

void Worker::leavePressure() {
  if (!sink_pressure_ || closed_) return;
  // Already above again: that crossing's event is queued behind this one,
  // and a later "below" will release the credit.
  if (sink_->aboveHighWatermark()) return;
  sink_pressure_ = false;
  size_t released = 0;
  for (auto& [id, connection] : open_) {
    if (connection->releaseWithheldCredit()) {
      markDirty(*connection);
      ++released;
    }
  }
  spdlog::info("sink {} fell to its low watermark; credit released to {} connections",
               sink_->name(), released);
}

size_t Worker::agentsWithHeartbeat() const {
  size_t n = 0;
  for (const auto& [id, connection] : open_) {
    if (connection->lastHeartbeat() != nullptr) ++n;
  }
  return n;
}

void Worker::beginDrain(std::function<void()> drained) {
  if (draining_) return;
  draining_ = true;
  drained_ = std::move(drained);
  listener_.close();
  std::vector<Connection*> connections;
  connections.reserve(open_.size());
  for (auto& [id, connection] : open_) connections.push_back(connection);
  for (Connection* connection : connections) connection->drain("gateway shutting down");
  spdlog::info("draining: {} connections told to go away, {} batches in flight", connections.size(),
               in_flight_);
  maybeDrained();
}

void Worker::maybeDrained() {
  if (draining_ && in_flight_ == 0 && drained_) {
    auto drained = std::move(drained_);
    drained_ = nullptr;
    drained();
  }
}

void Worker::close() {
  if (closed_) return;
  closed_ = true;
  listener_.close();
  if (crl_timer_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(crl_timer_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    crl_timer_ = nullptr;
  }
  std::vector<Connection*> connections;
  connections.reserve(open_.size());
  for (auto& [id, connection] : open_) connections.push_back(connection);
  for (Connection* connection : connections) connection->closeGracefully();
  if (in_flight_ > 0) {
    spdlog::warn(
        "closing with {} batches still inside the sink; their acks are dropped and the agents "
        "resend",
        in_flight_);
  }
  if (mailbox_) mailbox_->close();
}

}  // namespace edge::gateway
