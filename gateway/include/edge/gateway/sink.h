// The contract between the gateway and a sink (SQLite now; Kafka, PostgreSQL
// and files later). A sink commits batches durably on its OWN thread and
// reports each batch exactly once as OK / RETRY / ERROR; the gateway, not the
// sink, decides what a failure means for the agent (Fluent Bit's output
// contract). Each sink has a bounded queue with edge-triggered watermarks so
// the gateway can withhold credit and stop reading while the sink is behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::gateway {

// One batch as the gateway hands it to a sink: already verified, tenant
// stamped on every event, run through the pipeline's stages. When routes
// split a batch, each sink gets its own SinkBatch per (topic, table) with
// the events routed there, under the agent's batch_id. Immutable once
// submitted, so it may be shared.
struct SinkBatch {
  std::string agent_id;
  uint64_t batch_id = 0;
  int64_t received_at_ns = 0;  // when the gateway decoded it
  std::vector<Event> events;
  // Rendered from the route's topic / table templates (docs/pipeline.md);
  // "" when the route has none. Sinks that write one store (sqlite,
  // discard) ignore them.
  std::string topic;
  std::string table;
};
using SinkBatchPtr = std::shared_ptr<const SinkBatch>;

enum class SinkStatus {
  kOk,     // durably committed (duplicates of earlier commits included)
  kRetry,  // not committed, a later attempt may succeed (busy, disk full, I/O)
  kError,  // not committed and retrying as-is will not help (corrupt store, bad data)
};
const char* sinkStatusName(SinkStatus status);

struct SinkResult {
  SinkStatus status = SinkStatus::kOk;
  std::string reason;       // for kRetry / kError: what failed, for logs and the ACK
  uint64_t inserted = 0;    // events newly stored
  uint64_t duplicates = 0;  // events already present (redelivery), not stored again
  // Events the sink refused permanently and wrote to the dead-letter queue
  // (dead_letter_queue.h) before reporting kOk: the batch is acked because
  // the DLQ holds them.
  uint64_t dead_lettered = 0;
};

// Runs exactly once per submitted batch, on the sink's thread (or on the
// submitting thread when the sink is stopped). It must be cheap and
// thread-safe: the gateway's completion only posts to its worker's loop.
using SinkCompletion = std::function<void(SinkResult result)>;

// Edge-triggered queue pressure. Callbacks come from whichever thread caused
// the crossing (the submitter for "above", the sink thread for "below"),
// never with the sink's lock held, and must be thread-safe.
class WatermarkListener {
 public:
  virtual ~WatermarkListener() = default;
  virtual void onAboveHighWatermark() = 0;
  virtual void onBelowLowWatermark() = 0;
};

struct SinkHealth {
  bool healthy = true;
  std::string last_error;  // why the last commit failed, while unhealthy
};

class Sink {
 public:
  virtual ~Sink() = default;

  virtual std::string_view name() const = 0;

  // Opens the store and starts the sink's thread. Errors name the store and
  // the setting to fix.
  virtual Result<void> start() = 0;

  // Queues a batch; never blocks on I/O. Above the high watermark the batch
  // is still accepted (it was sent on credit already granted); the gateway
  // reacts to the watermark by withholding credit.
  virtual void submit(SinkBatchPtr batch, SinkCompletion done) = 0;

  // Commits everything queued, then stops the thread. Later submits complete
  // at once with kRetry. Idempotent; call it from one thread (the owner's).
  virtual void stop() = 0;

  // Batches submitted and not yet completed.
  virtual size_t queuedBatches() const = 0;
  // True from the submit that reached the high watermark until the queue
  // drains to the low watermark (low = high / 2).
  virtual bool aboveHighWatermark() const = 0;
  // The listener is kept alive by the sink until stop().
  virtual void addWatermarkListener(std::shared_ptr<WatermarkListener> listener) = 0;

  virtual SinkHealth health() const = 0;
};

// The sinks a gateway runs, by the name routes use (`sqlite`, `discard`).
using SinkMap = std::map<std::string, std::shared_ptr<Sink>, std::less<>>;

// Queue depth with edge-triggered high/low watermarks (low = high / 2): a
// crossing is reported once, so a queue hovering around a mark does not
// flap. "Above" starts when the depth reaches `high` and ends when it falls
// to `low` or below. Not thread-safe: callers hold their own lock.
class WatermarkCounter {
 public:
  enum class Crossing { kNone, kAboveHigh, kBelowLow };

  explicit WatermarkCounter(size_t high);  // high >= 1

  Crossing add(size_t n);
  Crossing sub(size_t n);  // clamps at zero

  size_t value() const { return value_; }
  size_t high() const { return high_; }
  size_t low() const { return low_; }
  bool above() const { return above_; }

 private:
  size_t high_;
  size_t low_;
  size_t value_ = 0;
  bool above_ = false;
};

}  // namespace edge::gateway
