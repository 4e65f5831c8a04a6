// out_postgres: PostgreSQL store for events (see include/edge/sinks/postgres_sink.h).
#include "edge/sinks/postgres_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <condition_variable>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <set>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "edge/common/log.h"
#include "edge/sinks/postgres_schema.h"

namespace edge::sinks {
namespace {

using gateway::SinkBatch;
using gateway::SinkBatchPtr;
using gateway::SinkResult;
using gateway::SinkStatus;

constexpr int64_t kMicrosPerDay = 86'400'000'000;

// Session-private, so pool connections (and gateways) never see each
// other's rows; ON COMMIT DELETE ROWS empties it at every commit for free.
// ts and received_at travel as microseconds since the epoch: no date
// formatting on our side, and the conversion below is exact.
constexpr const char* kStagingSql =
    "CREATE TEMP TABLE edge_staging (t smallint NOT NULL, b integer NOT NULL, tenant text, "
    "agent_id text, seq bigint, ts_us bigint, kind text, source text, host text, severity "
    "smallint, fields jsonb, raw text, received_us bigint) ON COMMIT DELETE ROWS";

const std::vector<std::string> kStagingColumns = {
    "t", "b", "tenant", "agent_id", "seq", "ts_us", "kind", "source", "host", "severity",
    "fields", "raw", "received_us"};

constexpr const char* kUpsertAgentSql =
    "INSERT INTO agents(id, tenant, host, first_seen, last_seen) VALUES ($1, $2, $3, "
    "'epoch'::timestamptz + $4::bigint * interval '1 microsecond', "
    "'epoch'::timestamptz + $5::bigint * interval '1 microsecond') "
    "ON CONFLICT (id) DO UPDATE SET tenant = EXCLUDED.tenant, "
    "host = coalesce(nullif(EXCLUDED.host, ''), agents.host), "
    "first_seen = least(agents.first_seen, EXCLUDED.first_seen), "
    "last_seen = greatest(agents.last_seen, EXCLUDED.last_seen)";

// Inserts the staged rows of one table. Nothing comes back to the client:
// when the server's row count says every staged row was new (the common
// case) each batch inserted all of its rows.
std::string insertSql(const std::string& table) {
  return "INSERT INTO \"" + table +
         "\" (tenant, agent_id, seq, ts, kind, source, host, severity, fields, raw, received_at) "
         "SELECT tenant, agent_id, seq, 'epoch'::timestamptz + ts_us * interval '1 microsecond', "
         "kind, source, host, severity, fields, raw, "
         "'epoch'::timestamptz + received_us * interval '1 microsecond' "
         "FROM edge_staging WHERE t = $1 ON CONFLICT DO NOTHING";
}

// After a short count (redelivered rows): which batches' rows this
// transaction inserted. Rows written by this transaction carry its xid in
// xmin; staging is unique per (agent_id, seq) because the group was
// de-duplicated before staging.
std::string attributeSql(const std::string& table) {
  return "SELECT s.b, count(*) FROM edge_staging s JOIN \"" + table +
         "\" e ON e.agent_id = s.agent_id AND e.seq = s.seq "
         "AND e.ts = 'epoch'::timestamptz + s.ts_us * interval '1 microsecond' "
         "WHERE s.t = $1 AND e.xmin = pg_current_xact_id()::xid GROUP BY s.b";
}

// Under a savepoint rows carry the subtransaction's xid, so the bisection
// counts with RETURNING instead.
std::string insertReturningSql(const std::string& table) {
  return "WITH ins AS (" + insertSql(table) +
         " RETURNING agent_id, seq) SELECT s.b, count(*) FROM ins JOIN edge_staging s "
         "ON s.t = $1 AND s.agent_id = ins.agent_id AND s.seq = ins.seq GROUP BY s.b";
}

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

// libpq's messages end in newlines and carry CONTEXT lines; one line each
// reads better in logs and in the DLQ.
std::string oneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      if (!out.empty() && out.back() != ' ') out += "; ";
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

// What a failure means for the batches.
enum class FailureKind {
  kData,       // a row the server refuses: bisect, dead-letter the row
  kTransient,  // server down, restarted, locks, resources: kRetry
};

struct Failure {
  FailureKind kind = FailureKind::kTransient;
  std::string message;
  bool drop_connection = false;  // the session (and its staging table) is gone
  bool reset_caches = false;     // a table or partition we thought existed does not
};

bool isDataState(const std::string& state) {
  // 22: data exception (NUL byte, invalid UTF-8, \u0000 in jsonb, out of
  // range), 23: integrity (CHECK, NOT NULL), 54: program limit (a value too
  // large for an index row).
  return state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0 || state.rfind("54", 0) == 0;
}

Failure classify(const std::exception& e) {
  Failure f;
  f.message = oneLine(e.what());
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    f.drop_connection = true;
  } else if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    // COMMIT sent, answer lost: resending is safe because rows are unique.
    f.drop_connection = true;
  } else if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    if (f.message.find("no partition of relation") != std::string::npos) {
      // Retention (ours or another gateway's) dropped a partition we cached.
      f.reset_caches = true;
    } else if (state == "42P01") {
      f.reset_caches = true;
      f.drop_connection = f.message.find("edge_staging") != std::string::npos;
    } else if (isDataState(state)) {
      f.kind = FailureKind::kData;
    } else if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
      f.drop_connection = true;
    }
  }
  return f;
}

struct Connection {
  std::unique_ptr<pqxx::connection> conn;
  bool ever_connected = false;
  bool open() const { return conn && conn->is_open(); }
};

// One row to stage: batches[batch].events[event] into tables[table].
struct Row {
  uint32_t batch;
  uint32_t event;
  uint16_t table;
};

struct BadRow {
  Row row;
  std::string reason;
};

}  // namespace

bool isValidPostgresEventTable(std::string_view name) {
  if (name.empty() || name.size() > 53) return false;
  if (name.front() >= '0' && name.front() <= '9') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return name != "agents" && name != "edge_schema_migrations" && name != "edge_event_tables" &&
         name != "edge_staging";
}

struct PostgresSink::Impl {
  Impl(const PostgresSinkOptions& opts, MetricsRegistry& metrics, gateway::DeadLetterQueuePtr queue)
      : options(opts),
        where(describePostgresDsn(opts.dsn)),
        dlq(std::move(queue)),
        rows_inserted(metrics.counter("edge_gateway_postgres_rows_inserted_total",
                                      "Rows the PostgreSQL sink stored")),
        duplicates(metrics.counter("edge_gateway_postgres_duplicates_total",
                                   "Rows the PostgreSQL sink already held (redelivery), not stored again")),
        dead_lettered(metrics.counter("edge_gateway_postgres_dead_lettered_total",
                                      "Rows PostgreSQL refused, written to the dead-letter queue")),
        reconnects(metrics.counter("edge_gateway_postgres_reconnects_total",
                                   "PostgreSQL connections made again after a failure")),
        bisections(metrics.counter("edge_gateway_postgres_bisections_total",
                                   "Transactions bisected to isolate rows PostgreSQL refused")),
        retries(metrics.counter("edge_gateway_postgres_retry_total",
                                "PostgreSQL sink transactions that failed and were reported kRetry")),
        partitions_created(metrics.counter("edge_gateway_postgres_partitions_created_total",
                                           "Daily partitions the PostgreSQL sink created")),
        partitions_dropped(metrics.counter("edge_gateway_postgres_partitions_dropped_total",
                                           "Daily partitions dropped by retention")),
        pool_connections(metrics.gauge("edge_gateway_postgres_pool_connections",
                                       "Open connections in the PostgreSQL sink's pool")),
        commit_seconds(metrics.histogram(
            "edge_gateway_postgres_commit_seconds", "Time of one PostgreSQL sink transaction",
            {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
        pool(std::max<size_t>(opts.pool_size, 1)) {}

  const PostgresSinkOptions& options;
  const std::string where;  // the DSN without secrets, for messages
  gateway::DeadLetterQueuePtr dlq;
  Counter& rows_inserted;
  Counter& duplicates;
  Counter& dead_lettered;
  Counter& reconnects;
  Counter& bisections;
  Counter& retries;
  Counter& partitions_created;
  Counter& partitions_dropped;
  Gauge& pool_connections;
  Histogram& commit_seconds;
  std::vector<Connection> pool;
  LogRateLimiter log_limiter{5, std::chrono::seconds(10)};

  // Tables and (table, day) partitions known to exist. Shared with the
  // maintenance thread, which forgets partitions it drops.
  std::mutex cache_mutex;
  std::set<std::string> tables_ready;
  std::set<std::pair<std::string, int64_t>> partitions_ready;

  std::thread maintenance;
  std::mutex maintenance_mutex;
  std::condition_variable maintenance_wake;
  bool maintenance_stop = false;

  // --- connections ---------------------------------------------------------

  std::unique_ptr<pqxx::connection> connectRaw() const {
    auto conn = std::make_unique<pqxx::connection>(options.dsn);
    // libpqxx 6 silently reconnects a broken connection by default, which
    // would lose the session's staging table; we reconnect ourselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    return conn;
  }

  Result<void> ensureConnected(size_t index) {
    Connection& c = pool[index];
    if (c.open()) return okResult();
    dropConnection(index);
    try {
      auto conn = connectRaw();
      {
        pqxx::nontransaction tx(*conn);
        // A group's rows must fit the session's temp buffers (default 8MB)
        // or staging spills to disk; only settable before the first use.
        tx.exec("SET temp_buffers = '32MB'");
        tx.exec(kStagingSql);
      }
      conn->prepare("edge_upsert_agent", kUpsertAgentSql);
      c.conn = std::move(conn);
    } catch (const std::exception& e) {
      return makeError(ErrorCode::kClosed, "postgres sink (" + where + "): cannot connect: " +
                                               oneLine(e.what()) +
                                               " (check sinks.postgres.dsn and the PG* variables)");
    }
    if (c.ever_connected) reconnects.inc();
    c.ever_connected = true;
    pool_connections.add(1);
    return okResult();
  }

  // Each pool entry is touched only by the thread committing on it, so the
  // gauge moves by +-1 instead of being recounted.
  void dropConnection(size_t index) {
    if (pool[index].conn) {
      pool[index].conn.reset();
      pool_connections.add(-1);
    }
  }

  void handleFailure(size_t index, const Failure& failure) {
    if (failure.drop_connection || !pool[index].open()) dropConnection(index);
    if (failure.reset_caches) {
      std::lock_guard<std::mutex> lock(cache_mutex);
      tables_ready.clear();
      partitions_ready.clear();
    }
  }

  void warn(const std::string& message) {
    if (const uint64_t n = log_limiter.allow(); n > 0) {
      spdlog::warn("{} ({} similar messages suppressed)", message, n - 1);
    }
  }

  // --- schema objects a group needs ---------------------------------------

  // Creates missing tables and partitions on pool[0], each in a short
  // transaction of its own before the data transactions. A table the server
  // will not create (a non-edge table of that name exists) is refused: its
  // batches are dead-lettered with the reason.
  Result<void> ensureSchemaObjects(const std::vector<std::string>& tables,
                                   const std::set<std::pair<uint16_t, int64_t>>& days,
                                   std::map<uint16_t, std::string>& refused_tables) {
    std::vector<std::string> missing_tables;
    std::vector<std::pair<uint16_t, int64_t>> missing_days;
    {
      std::lock_guard<std::mutex> lock(cache_mutex);
      for (const std::string& table : tables) {
        if (tables_ready.count(table) == 0) missing_tables.push_back(table);
      }
      for (const auto& [t, day] : days) {
        if (partitions_ready.count({tables[t], day}) == 0) missing_days.emplace_back(t, day);
      }
    }
    if (missing_tables.empty() && missing_days.empty()) return okResult();
    EDGE_TRY(ensureConnected(0));
    pqxx::connection& conn = *pool[0].conn;
    for (const std::string& table : missing_tables) {
      try {
        pqxx::work tx(conn);
        tx.exec_params("SELECT edge_ensure_event_table($1)", table);
        if (options.row_level_security) {
          tx.exec_params("SELECT edge_enable_row_level_security($1)", table);
        }
        tx.commit();
        std::lock_guard<std::mutex> lock(cache_mutex);
        tables_ready.insert(table);
      } catch (const std::exception& e) {
        const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
        if (sql != nullptr && (sql->sqlstate() == "42P07" || sql->sqlstate() == "22023")) {
          const auto it = std::find(tables.begin(), tables.end(), table);
          refused_tables[static_cast<uint16_t>(it - tables.begin())] =
              "postgres sink: cannot use table " + table + ": " + oneLine(e.what());
          continue;
        }
        Failure failure = classify(e);
        handleFailure(0, failure);
        return makeError(ErrorCode::kBusy, "postgres sink (" + where + "): creating table " +
                                               table + ": " + failure.message);
      }
    }
    if (missing_days.empty()) return okResult();
    try {
      pqxx::work tx(conn);
      uint64_t created = 0;
      for (const auto& [t, day] : missing_days) {
        if (refused_tables.count(t) != 0) continue;
        const pqxx::result r = tx.exec_params(
            "SELECT edge_ensure_partition($1, '1970-01-01'::date + $2::integer)", tables[t],
            static_cast<int>(day));
        if (r[0][0].as<bool>()) ++created;
      }
      tx.commit();
      partitions_created.inc(created);
      std::lock_guard<std::mutex> lock(cache_mutex);
      for (const auto& [t, day] : missing_days) {
        if (refused_tables.count(t) == 0) partitions_ready.insert({tables[t], day});
      }
    } catch (const std::exception& e) {
      Failure failure = classify(e);
      handleFailure(0, failure);
      return makeError(ErrorCode::kBusy,
                       "postgres sink (" + where + "): creating daily partitions: " + failure.message);
    }
    return okResult();
  }

  // --- one transaction's work ----------------------------------------------

  static void copyRows(pqxx::transaction_base& tx, std::span<const SinkBatchPtr> batches,
                       std::span<const Row> rows) {
    pqxx::stream_to stream(tx, "edge_staging", kStagingColumns);
    for (const Row& row : rows) {
      const SinkBatch& batch = *batches[row.batch];
      const Event& e = batch.events[row.event];
      // seq is unsigned on the wire and bigint here: values past 2^63 wrap,
      // which keeps them unique.
      stream << std::forward_as_tuple(static_cast<int>(row.table), static_cast<int>(row.batch),
                                      e.tenant, batch.agent_id, static_cast<int64_t>(e.seq),
                                      floorDiv(e.ts_ns, 1000), e.kind, e.source, e.host,
                                      static_cast<int>(e.severity), fieldsToJson(e.fields), e.raw,
                                      floorDiv(batch.received_at_ns, 1000));
    }
    stream.complete();
  }

  // Adds the rows inserted per batch (index into the chunk) to `counts`.
  static void insertRows(pqxx::transaction_base& tx, const std::vector<std::string>& tables,
                         std::span<const Row> rows, std::vector<uint64_t>& counts,
                         bool under_savepoint) {
    std::map<uint16_t, std::map<uint32_t, uint64_t>> staged;  // table -> batch -> rows
    for (const Row& row : rows) ++staged[row.table][row.batch];
    for (const auto& [t, per_batch] : staged) {
      if (under_savepoint) {
        const pqxx::result r = tx.exec_params(insertReturningSql(tables[t]), static_cast<int>(t));
        for (const auto& line : r) counts[line[0].as<size_t>()] += line[1].as<uint64_t>();
        continue;
      }
      uint64_t expected = 0;
      for (const auto& [b, n] : per_batch) expected += n;
      const pqxx::result r = tx.exec_params(insertSql(tables[t]), static_cast<int>(t));
      if (static_cast<uint64_t>(r.affected_rows()) == expected) {
        for (const auto& [b, n] : per_batch) counts[b] += n;
        continue;
      }
      const pqxx::result a = tx.exec_params(attributeSql(tables[t]), static_cast<int>(t));
      for (const auto& line : a) counts[line[0].as<size_t>()] += line[1].as<uint64_t>();
    }
  }

  struct AgentSeen {
    std::string tenant;
    std::string host;
    int64_t first_us = 0;
    int64_t last_us = 0;
  };

  static std::map<std::string, AgentSeen> agentsSeen(std::span<const SinkBatchPtr> batches,
                                                     std::span<const Row> rows,
                                                     const std::set<size_t>& skip_rows) {
    std::map<std::string, AgentSeen> agents;  // sorted: a fixed lock order across connections
    for (size_t i = 0; i < rows.size(); ++i) {
      if (skip_rows.count(i) != 0) continue;
      const SinkBatch& batch = *batches[rows[i].batch];
      const Event& e = batch.events[rows[i].event];
      const int64_t at = floorDiv(batch.received_at_ns, 1000);
      auto [it, fresh] = agents.try_emplace(batch.agent_id);
      AgentSeen& seen = it->second;
      if (fresh) {
        seen.first_us = at;
        seen.last_us = at;
      }
      seen.tenant = e.tenant;
      if (!e.host.empty()) seen.host = e.host;
      seen.first_us = std::min(seen.first_us, at);
      seen.last_us = std::max(seen.last_us, at);
    }
    return agents;
  }

  static void upsertAgents(pqxx::transaction_base& tx, const std::map<std::string, AgentSeen>& agents) {
    for (const auto& [id, seen] : agents) {
      tx.exec_prepared("edge_upsert_agent", id, seen.tenant, seen.host, seen.first_us, seen.last_us);
    }
  }

  // Stages and inserts rows[lo, hi) under a savepoint; on a data error
  // splits the range until the refused rows are single.
  void bisect(pqxx::dbtransaction& tx, std::span<const SinkBatchPtr> batches,
              const std::vector<std::string>& tables, std::span<const Row> rows, size_t lo, size_t hi,
              std::vector<uint64_t>& counts, std::vector<std::pair<size_t, std::string>>& bad) {
    if (lo >= hi) return;
    std::vector<uint64_t> local(counts.size(), 0);
    try {
      pqxx::subtransaction sub(tx, "edge_bisect");
      copyRows(sub, batches, rows.subspan(lo, hi - lo));
      insertRows(sub, tables, rows.subspan(lo, hi - lo), local, true);
      sub.exec0("DELETE FROM edge_staging");
      sub.commit();
    } catch (const pqxx::sql_error& e) {
      Failure failure = classify(e);
      if (failure.kind != FailureKind::kData) throw;
      if (hi - lo == 1) {
        bad.emplace_back(lo, failure.message);
        return;
      }
      const size_t mid = lo + (hi - lo) / 2;
      bisect(tx, batches, tables, rows, lo, mid, counts, bad);
      bisect(tx, batches, tables, rows, mid, hi, counts, bad);
      return;
    }
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += local[i];
  }

  // Commits the chunk's rows on pool[index]. On success fills `counts`
  // (inserted per batch) and `bad` (row index, server's reason).
  Result<void> commitRows(size_t index, std::span<const SinkBatchPtr> batches,
                          const std::vector<std::string>& tables, std::span<const Row> rows,
                          std::vector<uint64_t>& counts,
                          std::vector<std::pair<size_t, std::string>>& bad) {
    EDGE_TRY(ensureConnected(index));
    pqxx::connection& conn = *pool[index].conn;
    const auto started = std::chrono::steady_clock::now();
    auto observe = [&] {
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
      commit_seconds.observe(took.count());
    };
    std::string data_error;
    try {
      pqxx::work tx(conn);
      copyRows(tx, batches, rows);
      insertRows(tx, tables, rows, counts, false);
      upsertAgents(tx, agentsSeen(batches, rows, {}));
      tx.commit();
      observe();
      return okResult();
    } catch (const std::exception& e) {
      Failure failure = classify(e);
      handleFailure(index, failure);
      std::fill(counts.begin(), counts.end(), 0);
      if (failure.kind != FailureKind::kData) {
        return makeError(ErrorCode::kBusy, "postgres sink (" + where + "): " + failure.message);
      }
      data_error = failure.message;
    }

    // Some row was refused: find which, commit the rest.
    bisections.inc();
    warn("postgres sink: " + data_error + "; bisecting " + std::to_string(rows.size()) +
         " rows to find the refused ones");
    try {
      EDGE_TRY(ensureConnected(index));
      pqxx::work tx(*pool[index].conn);
      bisect(tx, batches, tables, rows, 0, rows.size(), counts, bad);
      std::set<size_t> skip;
      for (const auto& [row, reason] : bad) skip.insert(row);
      try {
        pqxx::subtransaction sub(tx, "edge_agents");
        upsertAgents(sub, agentsSeen(batches, rows, skip));
        sub.commit();
      } catch (const pqxx::sql_error& e) {
        // The agents table is informational; never refuse events for it.
        if (classify(e).kind != FailureKind::kData) throw;
        warn(std::string("postgres sink: agents not updated: ") + oneLine(e.what()));
      }
      tx.commit();
      observe();
      return okResult();
    } catch (const std::exception& e) {
      Failure failure = classify(e);
      handleFailure(index, failure);
      std::fill(counts.begin(), counts.end(), 0);
      bad.clear();
      return makeError(ErrorCode::kBusy, "postgres sink (" + where + "): " + failure.message);
    }
  }

  // One chunk of the group on pool[index]: results for its batches.
  std::vector<SinkResult> commitChunk(size_t index, std::span<const SinkBatchPtr> batches,
                                      const std::vector<std::string>& tables,
                                      std::span<const int> batch_table,
                                      const std::map<uint16_t, std::string>& refused_tables,
                                      const std::string& sink_name) {
    std::vector<SinkResult> results(batches.size());
    std::vector<Row> rows;
    std::vector<uint64_t> in_group_duplicates(batches.size(), 0);
    // Redelivered batches can meet their first copy in one group; keep one
    // row per (agent_id, seq) so staging is unique and counting is exact.
    std::unordered_map<std::string_view, std::unordered_set<uint64_t>> seen;
    for (size_t b = 0; b < batches.size(); ++b) {
      const int t = batch_table[b];
      if (t < 0 || refused_tables.count(static_cast<uint16_t>(t)) != 0) continue;
      const SinkBatch& batch = *batches[b];
      auto& seqs = seen[batch.agent_id];
      for (size_t i = 0; i < batch.events.size(); ++i) {
        if (!seqs.insert(batch.events[i].seq).second) {
          ++in_group_duplicates[b];
          continue;
        }
        rows.push_back(Row{static_cast<uint32_t>(b), static_cast<uint32_t>(i), static_cast<uint16_t>(t)});
      }
    }

    std::vector<uint64_t> counts(batches.size(), 0);
    std::vector<std::pair<size_t, std::string>> bad;
    if (!rows.empty()) {
      auto committed = commitRows(index, batches, tables, rows, counts, bad);
      if (!committed) {
        retries.inc();
        warn(committed.error().message);
        for (size_t b = 0; b < batches.size(); ++b) {
          if (batch_table[b] >= 0 && refused_tables.count(static_cast<uint16_t>(batch_table[b])) == 0) {
            results[b].status = SinkStatus::kRetry;
            results[b].reason = committed.error().message;
          }
        }
      }
    }

    // Dead letters, after the COMMIT: if the DLQ write fails the batch is
    // retried and its committed rows come back as duplicates.
    std::map<std::pair<size_t, std::string>, std::vector<uint32_t>> letters;
    for (const auto& [row, reason] : bad) {
      letters[{rows[row].batch, reason}].push_back(rows[row].event);
    }
    for (size_t b = 0; b < batches.size(); ++b) {
      const int t = batch_table[b];
      if (t >= 0 && refused_tables.count(static_cast<uint16_t>(t)) != 0) {
        letters[{b, refused_tables.at(static_cast<uint16_t>(t))}] = {};  // all events
      }
    }
    std::vector<uint64_t> dead(batches.size(), 0);
    for (auto& [key, indexes] : letters) {
      const auto& [b, reason] = key;
      SinkResult& result = results[b];
      if (result.status != SinkStatus::kOk) continue;
      const uint64_t n = indexes.empty() ? batches[b]->events.size() : indexes.size();
      if (!dlq) {
        result.status = SinkStatus::kError;
        result.reason = reason;
        continue;
      }
      auto put = dlq->put(sink_name, *batches[b], indexes, reason);
      if (!put) {
        result.status = SinkStatus::kRetry;
        result.reason = "postgres sink: refused rows could not be dead-lettered: " + put.error().message +
                        " (refused because: " + reason + ")";
        continue;
      }
      dead[b] += n;
    }

    for (size_t b = 0; b < batches.size(); ++b) {
      SinkResult& result = results[b];
      if (result.status != SinkStatus::kOk) continue;
      result.inserted = counts[b];
      result.dead_lettered = dead[b];
      const uint64_t total = batches[b]->events.size();
      result.duplicates = total - std::min<uint64_t>(total, counts[b] + dead[b]);
      rows_inserted.inc(result.inserted);
      duplicates.inc(result.duplicates);
      dead_lettered.inc(result.dead_lettered);
    }
    return results;
  }

  // --- maintenance ---------------------------------------------------------

  void runMaintenance(std::unique_ptr<pqxx::connection>& conn) {
    try {
      if (!conn || !conn->is_open()) conn = connectRaw();
      {
        // Today's and tomorrow's partitions exist before the first event of
        // the day, so the midnight rollover takes no lock on the insert path.
        pqxx::work tx(*conn);
        const pqxx::result r = tx.exec(
            "SELECT count(*) FILTER (WHERE edge_ensure_partition(name, "
            "(now() AT TIME ZONE 'UTC')::date + d)) FROM edge_event_tables, (VALUES (0), (1)) v(d)");
        tx.commit();
        partitions_created.inc(r[0][0].as<uint64_t>());
      }
      if (options.retention_days > 0) {
        pqxx::work tx(*conn);
        const pqxx::result r = tx.exec_params(
            "SELECT edge_drop_partitions_before((now() AT TIME ZONE 'UTC')::date - $1::integer)",
            static_cast<int>(options.retention_days));
        tx.commit();
        if (!r.empty()) {
          std::string names;
          for (const auto& row : r) names += (names.empty() ? "" : ", ") + row[0].as<std::string>();
          spdlog::info("postgres sink: retention ({} days) dropped {}", options.retention_days, names);
          partitions_dropped.inc(r.size());
          std::lock_guard<std::mutex> lock(cache_mutex);
          partitions_ready.clear();
        }
      }
    } catch (const std::exception& e) {
      warn("postgres sink (" + where + "): maintenance (partitions, retention) failed: " +
           oneLine(e.what()) + "; trying again in " +
           std::to_string(options.maintenance_interval.count()) + " ms");
      if (conn && !conn->is_open()) conn.reset();
    }
  }

  void maintenanceLoop() {
    std::unique_ptr<pqxx::connection> conn;
    for (;;) {
      runMaintenance(conn);
      std::unique_lock<std::mutex> lock(maintenance_mutex);
      if (maintenance_wake.wait_for(lock, options.maintenance_interval,
                                    [this] { return maintenance_stop; })) {
        break;
      }
    }
  }

  void stopMaintenance() {
    {
      std::lock_guard<std::mutex> lock(maintenance_mutex);
      maintenance_stop = true;
    }
    maintenance_wake.notify_all();
    if (maintenance.joinable()) maintenance.join();
  }
};

PostgresSink::PostgresSink(PostgresSinkOptions options, MetricsRegistry& metrics,
                           gateway::DeadLetterQueuePtr dlq)
    : QueuedSink("postgres",
                 gateway::QueuedSinkOptions{options.queue_max_batches, options.max_group_batches},
                 metrics),
      options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_, metrics, std::move(dlq))) {}

PostgresSink::~PostgresSink() {
  stop();
  closeStore();  // in case start() opened the store but the thread never ran
}

Result<void> PostgresSink::openStore() {
  Impl& impl = *impl_;
  if (auto connected = impl.ensureConnected(0); !connected) return connected.error();
  pqxx::connection& conn = *impl.pool[0].conn;
  if (options_.migrate) {
    auto applied = applyPostgresMigrations(conn);
    if (!applied) {
      impl.dropConnection(0);
      return makeError(applied.error().code,
                       "postgres sink (" + impl.where + "): " + applied.error().message);
    }
    for (int version : *applied) {
      spdlog::info("postgres sink: applied migration {}", version);
    }
  } else if (auto checked = checkPostgresSchema(conn); !checked) {
    impl.dropConnection(0);
    return makeError(checked.error().code,
                     "postgres sink (" + impl.where + "): " + checked.error().message);
  }
  if (options_.row_level_security) {
    try {
      pqxx::work tx(conn);
      tx.exec(
          "SELECT edge_enable_row_level_security(name) FROM edge_event_tables UNION ALL "
          "SELECT edge_enable_row_level_security('agents')");
      tx.commit();
    } catch (const std::exception& e) {
      impl.dropConnection(0);
      return makeError(ErrorCode::kIo, "postgres sink (" + impl.where +
                                           "): enabling row-level security: " + oneLine(e.what()));
    }
  }
  {
    std::lock_guard<std::mutex> lock(impl.maintenance_mutex);
    impl.maintenance_stop = false;
  }
  impl.maintenance = std::thread([&impl] { impl.maintenanceLoop(); });
  spdlog::info(
      "postgres sink: writing to {} (pool_size={}, default table {}, retention_days={}, "
      "row_level_security={})",
      impl.where, impl.pool.size(), options_.table, options_.retention_days,
      options_.row_level_security);
  return okResult();
}

void PostgresSink::closeStore() {
  if (!impl_) return;
  impl_->stopMaintenance();
  for (size_t i = 0; i < impl_->pool.size(); ++i) impl_->dropConnection(i);
}

std::vector<SinkResult> PostgresSink::commitGroup(std::span<const SinkBatchPtr> batches) {
  Impl& impl = *impl_;
  const std::string sink_name(name());

  // Which table each batch goes to, and the days its events need.
  std::vector<std::string> tables;
  std::vector<int> batch_table(batches.size(), -1);
  std::map<uint16_t, std::string> refused_tables;
  std::vector<std::pair<size_t, std::string>> invalid;  // batch, reason
  std::set<std::pair<uint16_t, int64_t>> days;
  for (size_t b = 0; b < batches.size(); ++b) {
    const SinkBatch& batch = *batches[b];
    const std::string& table = batch.table.empty() ? options_.table : batch.table;
    if (!isValidPostgresEventTable(table)) {
      invalid.emplace_back(b, "postgres sink: \"" + table +
                                  "\" cannot be an event table (a-z, 0-9 and _, at most 53 bytes, "
                                  "not agents or edge_*); fix the route's table template");
      continue;
    }
    auto it = std::find(tables.begin(), tables.end(), table);
    if (it == tables.end()) it = tables.insert(tables.end(), table);
    const auto t = static_cast<uint16_t>(it - tables.begin());
    batch_table[b] = t;
    int64_t last_day = INT64_MIN;
    for (const Event& e : batch.events) {
      const int64_t day = floorDiv(floorDiv(e.ts_ns, 1000), kMicrosPerDay);
      if (day != last_day) days.insert({t, day});
      last_day = day;
    }
  }

  std::vector<SinkResult> results(batches.size());
  auto ensured = impl.ensureSchemaObjects(tables, days, refused_tables);
  if (!ensured) {
    impl.retries.inc();
    impl.warn(ensured.error().message);
    for (SinkResult& result : results) {
      result.status = SinkStatus::kRetry;
      result.reason = ensured.error().message;
    }
    return results;
  }
  // Batches naming an impossible table: a table index of their own, refused.
  for (const auto& [b, reason] : invalid) {
    const auto t = static_cast<uint16_t>(tables.size());
    tables.push_back("");
    refused_tables[t] = reason;
    batch_table[b] = t;
  }

  // Split the group over the pool, in contiguous chunks of similar row
  // counts; each chunk is its own transaction on its own connection.
  size_t total_rows = 0;
  for (const SinkBatchPtr& batch : batches) total_rows += batch->events.size();
  const size_t chunks = std::min(impl.pool.size(), batches.size());
  std::vector<size_t> bounds = {0};
  size_t acc = 0;
  for (size_t b = 0; b < batches.size() && bounds.size() < chunks; ++b) {
    acc += batches[b]->events.size();
    if (acc * chunks >= total_rows * bounds.size() && b + 1 < batches.size()) bounds.push_back(b + 1);
  }
  bounds.push_back(batches.size());

  std::vector<std::vector<SinkResult>> parts(bounds.size() - 1);
  auto run = [&](size_t c) {
    const size_t lo = bounds[c];
    const size_t hi = bounds[c + 1];
    parts[c] = impl.commitChunk(c, batches.subspan(lo, hi - lo), tables,
                                std::span<const int>(batch_table).subspan(lo, hi - lo),
                                refused_tables, sink_name);
  };
  std::vector<std::thread> helpers;
  for (size_t c = 1; c < parts.size(); ++c) helpers.emplace_back(run, c);
  run(0);
  for (std::thread& helper : helpers) helper.join();

  for (size_t c = 0; c < parts.size(); ++c) {
    std::move(parts[c].begin(), parts[c].end(), results.begin() + static_cast<ptrdiff_t>(bounds[c]));
  }
  return results;
}

}  // namespace edge::sinks
