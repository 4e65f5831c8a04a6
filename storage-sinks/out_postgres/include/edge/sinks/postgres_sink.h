// out_postgres: stores events in PostgreSQL (docs/sinks.md, "postgres").
//
// Per group of queued batches (QueuedSink), split over a pool of
// connections: COPY the rows into a session-private staging table
// (pqxx::stream_to), then INSERT ... SELECT ... ON CONFLICT DO NOTHING into
// the event tables, upsert the agents seen, COMMIT — each batch is acked only
// after that COMMIT. Redelivered events hit the unique key (agent_id, seq, ts)
// and are counted as duplicates, never stored twice.
//
// A row PostgreSQL refuses (a NUL byte in text, \u0000 in jsonb, invalid
// UTF-8, a CHECK) fails the whole statement; the sink then bisects the group
// under savepoints so only the refused rows go to the dead-letter queue with
// the server's message, and the rest commit. Connection failures, a server
// restart, lock timeouts: kRetry (the agent keeps the data), the connection
// is dropped and made again on the next attempt.
//
// Tables are partitioned by day on ts; partitions are created before a group
// whose days lack one, and a maintenance thread (every
// maintenance_interval) creates today's and tomorrow's and drops partitions
// older than retention_days.
//
// Metrics:
//   edge_gateway_postgres_rows_inserted_total       rows newly stored
//   edge_gateway_postgres_duplicates_total          rows already present (redelivery)
//   edge_gateway_postgres_dead_lettered_total       rows refused and sent to the DLQ
//   edge_gateway_postgres_commit_seconds            histogram, per transaction
//   edge_gateway_postgres_pool_connections          gauge, open pool connections
//   edge_gateway_postgres_reconnects_total          connections made again after a failure
//   edge_gateway_postgres_bisections_total          groups bisected to isolate bad rows
//   edge_gateway_postgres_partitions_created_total  / _dropped_total
//   edge_gateway_postgres_retry_total               transactions reported kRetry
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/metrics.h"
#include "edge/gateway/dead_letter_queue.h"
#include "edge/gateway/queued_sink.h"
#include "edge/gateway/sink_factory.h"

namespace edge::sinks {

struct PostgresSinkOptions {
  // libpq connection string ("host=... dbname=..." or "postgresql://...");
  // "" uses the PG* environment variables and libpq's defaults.
  std::string dsn;
  size_t pool_size = 2;          // connections; a group is split over them
  bool migrate = true;           // apply pending migrations at start
  std::string table = "events";  // when the route renders no table
  uint32_t retention_days = 0;   // 0 = keep every partition
  std::chrono::milliseconds maintenance_interval{std::chrono::hours(1)};
  bool row_level_security = false;  // tenant policies on every event table and agents
  size_t queue_max_batches = 64;
  size_t max_group_batches = 64;
};

// Reads sinks.postgres (see docs/sinks.md); returns false when the section
// says enabled: false. Mistakes are recorded on the section's document.
bool readPostgresSinkOptions(const ConfigNode& section, PostgresSinkOptions& out);

// The catalog entry (gateway/src/sink_catalog.cc).
gateway::SinkFactory readPostgresSink(ConfigNode& section);

// True for a name the sink may use as an event table: a-z, 0-9, _, not
// starting with a digit, at most 53 bytes (room for the "_pYYYYMMDD"
// partition suffix within PostgreSQL's 63), and not one of the sink's own
// tables.
bool isValidPostgresEventTable(std::string_view name);

class PostgresSink final : public gateway::QueuedSink {
 public:
  PostgresSink(PostgresSinkOptions options, MetricsRegistry& metrics,
               gateway::DeadLetterQueuePtr dlq);
  ~PostgresSink() override;

  const PostgresSinkOptions& options() const { return options_; }

  struct Impl;

 protected:
  Result<void> openStore() override;
  std::vector<gateway::SinkResult> commitGroup(
      std::span<const gateway::SinkBatchPtr> batches) override;
  void closeStore() override;

 private:
  const PostgresSinkOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::sinks
