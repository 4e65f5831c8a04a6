// Worker: accepts connections, runs batches through the pipeline, hands
// them to their sinks and acks back once all committed, applies the credit
// policy, and drains on shutdown (see worker.h).
#include "worker.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <uv.h>

#include <algorithm>
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
  MailboxWatermarkListener(std::shared_ptr<LoopMailbox> mailbox, Worker* worker, std::string sink)
      : mailbox_(std::move(mailbox)), worker_(worker), sink_(std::move(sink)) {}
  void onAboveHighWatermark() override {
    mailbox_->post([worker = worker_, sink = sink_] { worker->enterPressure(sink); });
  }
  void onBelowLowWatermark() override {
    mailbox_->post([worker = worker_, sink = sink_] { worker->leavePressure(sink); });
  }

 private:
  std::shared_ptr<LoopMailbox> mailbox_;
  Worker* worker_;
  const std::string sink_;
};

constexpr SinkStatus kSinkStatuses[] = {SinkStatus::kOk, SinkStatus::kRetry, SinkStatus::kError};

}  // namespace

Worker::Worker(uv_loop_t* loop, const GatewayConfig& config, SinkMap sinks, GatewayMetrics& metrics,
               MetricsRegistry& registry)
    : loop_(loop),
      config_(config),
      metrics_(metrics),
      registry_(registry),
      listener_(loop),
      read_buffer_(new char[kReadBufferSize]) {
  for (auto& [name, sink] : sinks) {
    SinkStats stats;
    stats.name = name;
    stats.sink = std::move(sink);
    for (SinkStatus status : kSinkStatuses) {
      const size_t i = static_cast<size_t>(status);
      const MetricLabels labels{{"sink", name}, {"status", sinkStatusName(status)}};
      stats.batches[i] =
          &registry.counter("edge_gateway_sink_batches_total",
                            "Batches (per destination) each sink completed, by status", labels);
      stats.events[i] =
          &registry.counter("edge_gateway_sink_events_total",
                            "Events in the batches each sink completed, by status", labels);
    }
    sinks_.emplace(name, std::move(stats));
  }
}

Worker::~Worker() {
  // Connections must have finished closing (the loop ran after close());
  // freeing one with live handles would leave libuv pointing at freed memory.
  if (!all_.empty()) {
    spdlog::error("worker destroyed with {} connections still open; leaking them", all_.size());
    for (auto& [id, connection] : all_) (void)connection.release();
  }
}

Result<void> Worker::start(PortSharing sharing) {
  auto mailbox = LoopMailbox::create(loop_, [this] { afterDrain(); });
  if (!mailbox) return mailbox.error();
  mailbox_ = std::move(*mailbox);
  if (auto built = replacePipeline(config_.pipeline); !built) {
    mailbox_->close();
    closed_ = true;
    return built;
  }
  for (auto& [name, stats] : sinks_) {
    stats.sink->addWatermarkListener(
        std::make_shared<MailboxWatermarkListener>(mailbox_, this, name));
  }
  sink_pressure_ = anySinkAboveHighWatermark();

  if (auto tls = setUpTls(); !tls) {
    mailbox_->close();
    closed_ = true;
    return tls;
  }
  if (auto listening = listener_.listen(config_.listen, "gateway.listen", sharing,
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
  throttle_timer_ = new uv_timer_t;
  uv_timer_init(loop_, throttle_timer_);
  throttle_timer_->data = this;
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
  // gateway.max_connections counts every worker's connections: claim a slot
  // first, so two workers accepting at once cannot both take the last one.
  if (open_total_->fetch_add(1) >= config_.max_connections) {
    open_total_->fetch_sub(1);
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
  throttled_until_.erase(connection.id());
  if (open_.erase(connection.id()) > 0) {
    open_total_->fetch_sub(1);
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

Result<void> Worker::replacePipeline(PipelineSpecPtr spec) {
  std::vector<std::string> names;
  for (const auto& [name, stats] : sinks_) names.push_back(name);
  RunnerOptions options;
  options.metrics = &registry_;
  options.previous = pipeline_.get();  // Lua stages keep the state of unchanged rules
  auto runner = PipelineRunner::create(std::move(spec), names, std::move(options));
  if (!runner) return runner.error();
  std::vector<SinkStats*> resolved;
  for (const std::string& name : (*runner)->sinkNames()) {
    // create() refused routes to sinks that do not run.
    resolved.push_back(&sinks_.find(name)->second);
  }
  // Batches are routed synchronously in submitBatch, so none is half-way
  // through the old runner; it goes when the last reference does.
  pipeline_ = std::shared_ptr<PipelineRunner>(std::move(*runner));
  pipeline_sinks_ = std::move(resolved);
  return okResult();
}

void Worker::submitBatch(Connection& connection, std::shared_ptr<SinkBatch> batch,
                         size_t payload_bytes, size_t memory_bytes) {
  const uint64_t batch_id = batch->batch_id;
  metrics_.batches_received.inc();
  metrics_.events_received.inc(batch->events.size());
  ++in_flight_;
  in_flight_bytes_ += memory_bytes;
  metrics_.in_flight_bytes.add(static_cast<int64_t>(memory_bytes));
  if (!budget_pressure_ && in_flight_bytes_ > config_.max_in_flight_bytes) {
    budget_pressure_ = true;
    metrics_.budget_exceeded.inc();
    spdlog::info(
        "{} bytes of batches inside sinks, above gateway.max_in_flight_bytes ({}); withholding "
        "credit until half of it",
        in_flight_bytes_, config_.max_in_flight_bytes);
  }

  // Held for the call: the runner (its plugin instances) must outlive its use.
  std::shared_ptr<PipelineRunner> runner = pipeline_;
  runner->run(std::move(*batch), routed_);
  batch.reset();
  if (routed_.throttle_wait_ns > 0) {
    int64_t& until = throttled_until_[connection.id()];
    until = std::max(until, monotonicNow() + routed_.throttle_wait_ns);
  }

  auto pending = std::make_shared<PendingBatch>();
  pending->connection_id = connection.id();
  pending->batch_id = batch_id;
  pending->payload_bytes = payload_bytes;
  pending->memory_bytes = memory_bytes;
  pending->routed_events = routed_.routed;
  pending->pending = routed_.batches.size();
  std::shared_ptr<LoopMailbox> mailbox = mailbox_;
  if (routed_.batches.empty()) {
    // Every event was dropped by a stage or matched no route: nothing to
    // commit, and the agent may delete the batch. Acked through the
    // mailbox like any other, so the ack is flushed with the others.
    if (!mailbox->post([this, pending] { finishBatch(*pending); })) --in_flight_;
    return;
  }
  for (RoutedSinkBatch& out : routed_.batches) {
    SinkStats* stats = pipeline_sinks_[out.sink];
    const size_t events = out.batch->events.size();
    stats->sink->submit(
        std::move(out.batch), [mailbox, this, pending, stats, events](SinkResult result) {
          // Sink thread: only hand the result over. If the mailbox is closed the
          // gateway is gone; the commit happened (or not) and the agent resends.
          mailbox->post([this, pending, stats, events, result = std::move(result)]() mutable {
            onSinkDone(pending, *stats, events, std::move(result));
          });
        });
  }
  routed_.batches.clear();
  // The crossing callback arrives through the mailbox; polling here stops
  // granting credit from this very moment.
  if (!sink_pressure_) {
    for (const auto& [name, stats] : sinks_) {
      if (stats.sink->aboveHighWatermark()) {
        enterPressure(name);
        break;
      }
    }
  }
}

void Worker::onSinkDone(const std::shared_ptr<PendingBatch>& batch, SinkStats& sink, size_t events,
                        SinkResult result) {
  const auto status = static_cast<size_t>(result.status);
  sink.batches[status]->inc();
  sink.events[status]->inc(events);
  if (result.status != SinkStatus::kOk) {
    if (const uint64_t n = sink_log_limiter_.allow(); n > 0) {
      spdlog::warn(
          "sink {} did not commit {} events of batch {} ({}): {}; the agent is told to retry ({} "
          "similar suppressed)",
          sink.name, events, batch->batch_id, sinkStatusName(result.status), result.reason, n - 1);
    }
    if (!batch->failed) {
      batch->failed = true;
      batch->reason = "sink " + sink.name + ": " + result.reason;
    }
  }
  if (--batch->pending == 0) finishBatch(*batch);
}

void Worker::finishBatch(const PendingBatch& batch) {
  --in_flight_;
  in_flight_bytes_ -= std::min(batch.memory_bytes, in_flight_bytes_);
  metrics_.in_flight_bytes.add(-static_cast<int64_t>(batch.memory_bytes));
  if (budget_pressure_ && in_flight_bytes_ <= config_.max_in_flight_bytes / 2) {
    budget_pressure_ = false;
    releaseCredit("in-flight memory fell to half of gateway.max_in_flight_bytes");
  }
  const bool ok = !batch.failed;
  if (ok) {
    metrics_.batches_committed.inc();
    metrics_.events_committed.inc(batch.routed_events);
  } else {
    metrics_.batches_retried.inc();
  }

  auto it = open_.find(batch.connection_id);
  if (it == open_.end()) {
    // Closed meanwhile: the commit stands, the agent resends and the sink
    // de-duplicates.
    metrics_.acks_dropped.inc();
    maybeDrained();
    return;
  }
  Connection& connection = *it->second;
  connection.batchFinished(batch.memory_bytes);
  // RETRY for kError too: a sink reports a permanent refusal as kOk after
  // putting the events into the dead-letter queue; kError means it could
  // not, and the agent keeping the batch is the only safe place left.
  connection.queueAck(batch.batch_id, ok ? wire::ACK_STATUS_OK : wire::ACK_STATUS_RETRY,
                      ok ? std::string() : batch.reason);
  if (!draining_) {
    const int64_t now = monotonicNow();
    if (sink_pressure_ || budget_pressure_) {
      connection.withholdCredit(1, batch.payload_bytes);
      metrics_.credit_withheld.inc();
    } else if (throttled(batch.connection_id, now)) {
      // The agent's key is in debt: its next batches wait in its spool
      // until the limiter would let them through.
      connection.withholdCredit(1, batch.payload_bytes);
      metrics_.credit_throttled.inc();
      armThrottleTimer(throttled_until_[batch.connection_id]);
    } else {
      connection.queueCredit(1, batch.payload_bytes);
    }
  }
  markDirty(connection);
}

int64_t Worker::monotonicNow() const { return pipeline::steadyNowNs(); }

bool Worker::throttled(uint64_t connection_id, int64_t now) {
  auto it = throttled_until_.find(connection_id);
  if (it == throttled_until_.end()) return false;
  if (it->second > now) return true;
  throttled_until_.erase(it);
  return false;
}

void Worker::armThrottleTimer(int64_t due_ns) {
  if (closed_ || throttle_timer_ == nullptr) return;
  if (throttle_timer_due_ != 0 && throttle_timer_due_ <= due_ns) return;  // fires earlier anyway
  throttle_timer_due_ = due_ns;
  const int64_t wait_ns = std::max<int64_t>(0, due_ns - monotonicNow());
  // Rounded up: firing a little late is fine, early would re-arm for nothing.
  const auto wait_ms = static_cast<uint64_t>((wait_ns + 999'999) / 1'000'000);
  uv_timer_start(
      throttle_timer_,
      [](uv_timer_t* timer) { static_cast<Worker*>(timer->data)->onThrottleTimer(); }, wait_ms, 0);
}

void Worker::onThrottleTimer() {
  throttle_timer_due_ = 0;
  const int64_t now = monotonicNow();
  int64_t next_due = 0;
  for (auto it = throttled_until_.begin(); it != throttled_until_.end();) {
    if (it->second > now) {
      next_due = next_due == 0 ? it->second : std::min(next_due, it->second);
      ++it;
      continue;
    }
    const uint64_t id = it->first;
    it = throttled_until_.erase(it);
    // Under pressure the credit stays withheld; releaseCredit gives it back.
    if (sink_pressure_ || budget_pressure_) continue;
    auto open = open_.find(id);
    if (open != open_.end() && open->second->releaseWithheldCredit()) markDirty(*open->second);
  }
  if (next_due != 0) armThrottleTimer(next_due);
  afterDrain();  // flushes the released credit
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

bool Worker::anySinkAboveHighWatermark() const {
  return std::any_of(sinks_.begin(), sinks_.end(),
                     [](const auto& entry) { return entry.second.sink->aboveHighWatermark(); });
}

void Worker::enterPressure(const std::string& sink) {
  if (sink_pressure_ || closed_) return;
  sink_pressure_ = true;
  metrics_.backpressure.inc();
  auto it = sinks_.find(sink);
  spdlog::info("sink {} reached its high watermark ({} batches queued); withholding credit", sink,
               it != sinks_.end() ? it->second.sink->queuedBatches() : 0);
}

void Worker::leavePressure(const std::string& sink) {
  if (!sink_pressure_ || closed_) return;
  // Already above again (or another sink is): that crossing's event is
  // queued behind this one, and a later "below" will release the credit.
  if (anySinkAboveHighWatermark()) return;
  sink_pressure_ = false;
  releaseCredit(("sink " + sink + " fell to its low watermark").c_str());
}

void Worker::releaseCredit(const char* why) {
  if (sink_pressure_ || budget_pressure_ || closed_) return;
  size_t released = 0;
  const int64_t now = monotonicNow();
  for (auto& [id, connection] : open_) {
    // A throttled connection keeps its credit until its key conforms again.
    if (throttled(id, now)) {
      armThrottleTimer(throttled_until_[id]);
      continue;
    }
    if (connection->releaseWithheldCredit()) {
      markDirty(*connection);
      ++released;
    }
  }
  spdlog::info("{}; credit released to {} connections", why, released);
}

bool Worker::post(std::function<void()> task) {
  return mailbox_ != nullptr && mailbox_->post(std::move(task));
}

WorkerStats Worker::stats() const {
  return WorkerStats{connectionCount(),      agentsWithHeartbeat(),   inFlightBatches(),
               inFlightBytes(),        throttledConnections(), overBudget()};
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
  if (throttle_timer_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(throttle_timer_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
    throttle_timer_ = nullptr;
  }
  std::vector<Connection*> connections;
  connections.reserve(open_.size());
  for (auto& [id, connection] : open_) connections.push_back(connection);
  for (Connection* connection : connections) connection->closeGracefully();
  if (in_flight_ > 0) {
    spdlog::warn(
        "closing with {} batches still inside sinks; their acks are dropped and the agents "
        "resend",
        in_flight_);
  }
  if (mailbox_) mailbox_->close();
}

}  // namespace edge::gateway
