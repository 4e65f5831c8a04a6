// The agent's durable spool: a SQLite database (WAL mode) holding batches
// that are ready to send, the input positions they reach, and the agent's
// identity and sequence counters. A batch is deleted only when the gateway
// acks it. See docs/spool.md for the schema and the guarantees.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "edge/agent/input.h"
#include "edge/common/event.h"
#include "edge/common/result.h"
#include "edge/protocol/batch.h"

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
  int compression_level = 1;
  // A file that is not a usable spool (not SQLite, fails PRAGMA quick_check,
  // foreign tables, a schema version this agent cannot read) is renamed to
  // <path>.corrupt-<UTC timestamp> together with its -wal and -shm files,
  // and a fresh spool is created. With false, open() returns the error.
  bool move_aside_unusable = true;
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

// What dropOldest() deleted.
struct DropResult {
  uint64_t batches = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;
};

struct AppendResult {
  uint64_t batch_id = 0;  // 0 when only positions were written
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t payload_bytes = 0;
};

class Spool {
 public:
  // 2 added batches.input; a version 1 spool is upgraded in place.
  static constexpr int kSchemaVersion = 2;

  // Opens or creates the spool (and its directory). An unusable file is
  // moved aside (see SpoolOptions::move_aside_unusable); the remaining
  // errors are those of the file system (permissions, disk full) and name
  // the file and the fix.
  static Result<std::unique_ptr<Spool>> open(const SpoolOptions& options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  const std::string& path() const { return path_; }
  const std::string& agentId() const { return agent_id_; }
  // Where an unusable spool file was moved at open; empty if none was.
  const std::string& movedAside() const { return moved_aside_; }

  // Assigns consecutive seq numbers to `events` (written back into them) and
  // the next batch id, encodes the batch, and in ONE transaction inserts it,
  // stores `positions` and advances the counters. On failure nothing is
  // stored and the counters are unchanged. With no events only the positions
  // are written; a position with `forget` set deletes the saved one.
  // `input` tags the batch (the input whose events it holds) for dropOldest.
  Result<AppendResult> append(std::span<Event> events, std::span<const InputPosition> positions,
                              std::string_view input = {});

  // Deletes the oldest batches of `input` for which skip(batch_id) is false
  // (the shipper's in-flight batches) until at least `bytes` payload bytes
  // are freed or none is left. One transaction per call.
  Result<DropResult> dropOldest(std::string_view input, uint64_t bytes,
                                const std::function<bool(uint64_t)>& skip);

  // Batches with batch_id > after_batch_id, in batch_id order, at most `limit`.
  Result<std::vector<SpooledBatch>> pending(uint64_t after_batch_id, size_t limit);
  Result<std::optional<SpooledBatch>> get(uint64_t batch_id);
  // Deletes an acked batch; false if it was not there (already removed).
  Result<bool> remove(uint64_t batch_id);
  // Deletes several acked batches in one transaction (one commit instead of
  // one per batch: under load acks arrive in bursts). Returns how many were
  // there; on error none is deleted.
  Result<size_t> removeAll(std::span<const uint64_t> batch_ids);

  // WAL checkpoints completed by the spool's checkpoint thread (see
  // agent/src/wal_checkpointer.h).
  uint64_t walCheckpoints() const;

  // The committed positions of one input.
  Result<std::vector<InputPosition>> loadPositions(const std::string& input);

  // How long a write waits for another process's lock (edgectl reading
  // the spool) before failing; 5s by default.
  void setBusyTimeout(std::chrono::milliseconds timeout);

  // Exact totals over the stored batches, kept in memory.
  uint64_t batchCount() const { return batch_count_; }
  uint64_t eventCount() const { return event_count_; }
  uint64_t payloadBytes() const { return payload_bytes_; }

  uint64_t nextSeq() const { return next_seq_; }
  uint64_t nextBatchId() const { return next_batch_id_; }

 private:
  struct Db;
  struct RemovedBatch {
    uint64_t events = 0;
    uint64_t bytes = 0;
  };
  explicit Spool(std::string path);
  Result<void> init(const SpoolOptions& options);
  // DELETE ... RETURNING of one batch, inside the caller's transaction or
  // its own; nullopt when the batch was not there.
  Result<std::optional<RemovedBatch>> deleteBatchRow(uint64_t batch_id);
  void forgetRemoved(const RemovedBatch& removed);
  // Renames the file and its -wal/-shm; returns the new name of the file.
  static Result<std::string> moveAside(const std::string& path);

  std::string path_;
  std::string moved_aside_;
  std::unique_ptr<Db> db_;
  std::string agent_id_;
  int compression_level_ = 1;
  protocol::BatchEncoder encoder_;  // reused for every batch (no per-batch buffers)
  uint64_t next_seq_ = 1;
  uint64_t next_batch_id_ = 1;
  uint64_t batch_count_ = 0;
  uint64_t event_count_ = 0;
  uint64_t payload_bytes_ = 0;
};

}  // namespace edge::agent
