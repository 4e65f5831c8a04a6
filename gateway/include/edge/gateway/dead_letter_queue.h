// The dead-letter queue: events a sink refuses permanently (a row that
// breaks a constraint, a Kafka message too large, a topic the gateway may
// not write) with the sink's reason, kept in a SQLite file
// (<data_dir>/dlq.db by default) instead of going back to the agent for a
// retry that can never succeed.
//
// A sink writes its refused events here BEFORE it reports the batch kOk
// (SinkResult::dead_lettered counts them), so the agent's ACK stands for
// "stored in the sink or in the DLQ" (DESIGN.md, delivery guarantee 3).
// When the DLQ cannot take them (full, disk error) put() fails and the
// sink reports kRetry: the events stay in the agent's spool.
//
// `edgectl dlq list` shows what is inside, `edgectl dlq replay` sends it to
// a sink again (after the table or topic was fixed) and removes what that
// sink took.
//
// Thread-safe: sinks call put() from their own threads; edgectl may read
// and remove from another process at the same time (SQLite WAL).
//
// Metrics (when a registry is given):
//   edge_gateway_dlq_events_total{sink}   events dead-lettered
//   edge_gateway_dlq_events               gauge, events inside
//   edge_gateway_dlq_refused_total        put() calls refused (full, I/O)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/sink.h"

struct sqlite3;

namespace edge::gateway {

struct DeadLetterOptions {
  std::string path;                     // the SQLite file
  uint64_t max_bytes = 1ull << 30;      // refuse put() beyond this file size
  bool synchronous_full = false;        // fsync per put (power-loss safe)
};

// One dead-lettered event and where it was going.
struct DeadLetter {
  int64_t id = 0;          // DLQ row id, for remove()
  int64_t at_ns = 0;       // when it was dead-lettered
  std::string sink;        // the sink that refused it
  std::string reason;      // the sink's words
  std::string agent_id;
  uint64_t batch_id = 0;
  std::string topic;       // the route's topic / table, as rendered
  std::string table;
  Event event;             // tenant included
};

struct DeadLetterQuery {
  std::string sink;        // "" = any
  int64_t after_id = 0;    // rows with id > after_id, in id order
  size_t limit = 1000;
};

class DeadLetterQueue {
 public:
  // Opens or creates the file (WAL). Errors name the path and the fix.
  static Result<std::shared_ptr<DeadLetterQueue>> open(DeadLetterOptions options,
                                                       MetricsRegistry* metrics = nullptr);
  ~DeadLetterQueue();
  DeadLetterQueue(const DeadLetterQueue&) = delete;
  DeadLetterQueue& operator=(const DeadLetterQueue&) = delete;

  // Stores batch.events[i] for every i in `indexes` (all events when
  // `indexes` is empty) in one transaction; durable when it returns OK.
  Result<void> put(std::string_view sink, const SinkBatch& batch,
                   std::span<const uint32_t> indexes, std::string_view reason);

  Result<std::vector<DeadLetter>> list(const DeadLetterQuery& query);
  // Removes rows by id (after a successful replay); returns how many existed.
  Result<size_t> remove(std::span<const int64_t> ids);
  // Events inside.
  Result<uint64_t> count();

  const std::string& path() const { return options_.path; }

 private:
  DeadLetterQueue(DeadLetterOptions options, MetricsRegistry* metrics);
  Result<void> openFile();
  void updateGauge();

  const DeadLetterOptions options_;
  MetricsRegistry* metrics_;
  std::mutex mutex_;
  sqlite3* db_ = nullptr;
};
using DeadLetterQueuePtr = std::shared_ptr<DeadLetterQueue>;

}  // namespace edge::gateway
