// The agent's durable spool: a SQLite database (WAL mode) holding batches
// that are ready to send, the input positions they reach, and the agent's
// identity and sequence counters. A batch is deleted only when the gateway
// acks it. See docs/spool.md for the schema and the guarantees.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "edge/agent/input.h"
#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::agent {

struct SpoolOptions {
  std::string path;
  // PRAGMA synchronous=FULL survives power loss; NORMAL (the default)
  // survives a process crash but may lose the last commits on power loss.
  bool synchronous_full = false;
  // Configured agent id; empty uses the id stored in the spool, generating
  // one (random 128-bit hex) on first use.
  std::string agent_id;
  // zstd level for batch payloads; 0 stores them uncompressed.
  int compression_level = 3;
};

// One spooled batch, as sent in a kBatch frame.
struct SpooledBatch {
  uint64_t batch_id = 0;
  int64_t created_ns = 0;
  uint32_t event_count = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint16_t flags = 0;   // frame flags for the payload (protocol::kFlagZstd)
  std::string payload;  // encodeBatchPayload() output
};

struct AppendResult {
  uint64_t batch_id = 0;  // 0 when only positions were written
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t payload_bytes = 0;
};

class Spool {
 public:
  static constexpr int kSchemaVersion = 1;

  // Opens or creates the spool (and its directory). A file that is not an
  // edge-agent spool, or has a newer schema, is refused with an error that
  // names the file.
  static Result<std::unique_ptr<Spool>> open(const SpoolOptions& options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  const std::string& path() const { return path_; }
  const std::string& agentId() const { return agent_id_; }

  // Assigns consecutive seq numbers to `events` (written back into them) and
  // the next batch id, encodes the batch, and in ONE transaction inserts it,
  // stores `positions` and advances the counters. On failure nothing is
  // stored and the counters are unchanged. With no events only the positions
  // are written.
  Result<AppendResult> append(std::span<Event> events, std::span<const InputPosition> positions);

  // Batches with batch_id > after_batch_id, in batch_id order, at most `limit`.
  Result<std::vector<SpooledBatch>> pending(uint64_t after_batch_id, size_t limit);
  Result<std::optional<SpooledBatch>> get(uint64_t batch_id);
  // Deletes an acked batch; false if it was not there (already removed).
  Result<bool> remove(uint64_t batch_id);

  // The committed positions of one input.
  Result<std::vector<InputPosition>> loadPositions(const std::string& input);

  // Exact totals over the stored batches, kept in memory.
  uint64_t batchCount() const { return batch_count_; }
  uint64_t eventCount() const { return event_count_; }
  uint64_t payloadBytes() const { return payload_bytes_; }

  uint64_t nextSeq() const { return next_seq_; }
  uint64_t nextBatchId() const { return next_batch_id_; }

 private:
  struct Db;
  explicit Spool(std::string path);
  Result<void> init(const SpoolOptions& options);

  std::string path_;
  std::unique_ptr<Db> db_;
  std::string agent_id_;
  int compression_level_ = 3;
  uint64_t next_seq_ = 1;
  uint64_t next_batch_id_ = 1;
  uint64_t batch_count_ = 0;
  uint64_t event_count_ = 0;
  uint64_t payload_bytes_ = 0;
};

}  // namespace edge::agent
