// out_sqlite: stores events in a local SQLite database — the sink for a
// single-node setup and for development. WAL journal, one transaction per
// group of queued batches (each batch is acked only after that COMMIT), and
// idempotent on (agent_id, seq): a redelivered batch inserts nothing and is
// counted in edge_gateway_sink_duplicates_total.
//
//   sqlite3 events.db "select datetime(ts/1e9,'unixepoch'), host, raw from events limit 5"
//
// The table (schema_version 1 in table meta) is documented in docs/gateway.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "edge/gateway/queued_sink.h"

struct sqlite3;
struct sqlite3_stmt;

namespace edge::sinks {

enum class SqliteSynchronous { kNormal, kFull };

struct SqliteSinkOptions {
  std::string path;  // database file; missing parent directories are created
  SqliteSynchronous synchronous = SqliteSynchronous::kNormal;
  size_t queue_max_batches = 64;  // high watermark; low = high / 2
  size_t max_group_batches = 64;  // batches per transaction
  // How long a commit waits for another writer (e.g. a person running
  // sqlite3 on the file) before the batches are reported kRetry.
  std::chrono::milliseconds busy_timeout{5000};
};

class SqliteSink final : public gateway::QueuedSink {
 public:
  static constexpr int kSchemaVersion = 1;

  SqliteSink(SqliteSinkOptions options, MetricsRegistry& metrics);
  ~SqliteSink() override;

  const std::string& path() const { return options_.path; }

 protected:
  Result<void> openStore() override;
  std::vector<gateway::SinkResult> commitGroup(
      std::span<const gateway::SinkBatchPtr> batches) override;
  void closeStore() override;

 private:
  // One transaction for `batches`; fills `results` only on success.
  Result<void> commitTransaction(std::span<const gateway::SinkBatchPtr> batches,
                                 std::vector<gateway::SinkResult>& results);
  Result<void> exec(const char* sql, const char* what);
  Error sqliteError(int rc, const std::string& what) const;

  const SqliteSinkOptions options_;
  Counter& duplicates_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  LogRateLimiter log_limiter_{5, std::chrono::seconds(10)};
};

}  // namespace edge::sinks
