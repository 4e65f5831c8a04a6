// Worker: accepts connections, routes batches to the sink and acks back,
// applies the credit policy, and drains on shutdown (see worker.h).
#include "worker.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <cstring>
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

  if (auto listening = listener_.listen(config_.listen, "gateway.listen", reuse_port,
                                        [this](uv_stream_t* server) { onAccept(server); });
      !listening) {
    mailbox_->close();
    closed_ = true;
    return listening;
  }
  spdlog::info("listening for agents on {}:{}", config_.listen.host, listener_.port());
  return okResult();
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
