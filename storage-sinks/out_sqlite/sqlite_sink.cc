// out_sqlite: SQLite store for events (see include/edge/sinks/sqlite_sink.h).
#include "edge/sinks/sqlite_sink.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

namespace edge::sinks {
namespace {

using gateway::SinkBatchPtr;
using gateway::SinkResult;
using gateway::SinkStatus;

// The events table exactly as docs/gateway.md shows it; change it only
// together with kSchemaVersion and a migration.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, agent_id TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL /* ns since epoch */, kind TEXT, source TEXT, host TEXT, severity INTEGER, fields TEXT /* JSON object */, raw TEXT, received_at INTEGER NOT NULL, UNIQUE(agent_id, seq));
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');
)sql";

constexpr const char* kInsertSql =
    "INSERT INTO events(tenant, agent_id, seq, ts, kind, source, host, severity, fields, raw, "
    "received_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
    "ON CONFLICT(agent_id, seq) DO NOTHING";

// Failures that go away by themselves (another writer, full disk, flaky
// storage) are worth a retry; anything else means the store itself is wrong.
bool isTransient(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
      return true;
    default:
      return false;
  }
}

// kBusy marks what isTransient() accepted (see sqliteError).
SinkStatus statusFor(const Error& error) {
  return error.code == ErrorCode::kBusy || error.code == ErrorCode::kClosed ? SinkStatus::kRetry
                                                                            : SinkStatus::kError;
}

int bindText(sqlite3_stmt* stmt, int index, const std::string& text) {
  return sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

}  // namespace

SqliteSink::SqliteSink(SqliteSinkOptions options, MetricsRegistry& metrics)
    : QueuedSink("sqlite",
                 gateway::QueuedSinkOptions{options.queue_max_batches, options.max_group_batches},
                 metrics),
      options_(std::move(options)),
      duplicates_(metrics.counter("edge_gateway_sink_duplicates_total",
                                  "Events a sink already held (redelivered), not stored again")) {}

SqliteSink::~SqliteSink() {
  stop();
  closeStore();  // in case start() opened the store but the thread never ran
}

Error SqliteSink::sqliteError(int rc, const std::string& what) const {
  std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  // errmsg usually is errstr; add the generic text only when it says more.
  if (detail != sqlite3_errstr(rc)) detail += std::string(" (") + sqlite3_errstr(rc) + ")";
  return makeError(isTransient(rc) ? ErrorCode::kBusy : ErrorCode::kIo,
                   "sqlite sink " + options_.path + ": " + what + ": " + detail);
}

Result<void> SqliteSink::exec(const char* sql, const char* what) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string detail = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return makeError(ErrorCode::kIo,
                     "sqlite sink " + options_.path + ": " + what + " failed: " + detail);
  }
  return okResult();
}

Result<void> SqliteSink::openStore() {
  if (options_.path.empty()) {
    return makeError(ErrorCode::kConfig,
                     "sqlite sink: no database path; set sinks.sqlite.path or gateway.data_dir");
  }
  const std::filesystem::path parent = std::filesystem::path(options_.path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return makeError(ErrorCode::kIo,
                       "sqlite sink: cannot create directory " + parent.string() + " for " +
                           options_.path + ": " + ec.message() +
                           "; create it or set gateway.data_dir / sinks.sqlite.path");
    }
  }

  int rc = sqlite3_open_v2(options_.path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           nullptr);
  if (rc != SQLITE_OK) {
    Error error =
        sqliteError(rc, "cannot open the database (check sinks.sqlite.path and its permissions)");
    closeStore();
    return error;
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));

  auto fail = [this](Error error) -> Result<void> {
    closeStore();
    return error;
  };

  // WAL lets people read the file (sqlite3, dashboards) while we write.
  sqlite3_stmt* stmt = nullptr;
  rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return fail(sqliteError(rc, "cannot set journal_mode=WAL"));
  rc = sqlite3_step(stmt);
  std::string mode = rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr
                         ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))
                         : "";
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) {
    return fail(sqliteError(rc, "cannot set journal_mode=WAL (is the file a SQLite database?)"));
  }
  if (mode != "wal") {
    spdlog::warn(
        "sqlite sink {}: journal_mode is {}, not wal (filesystem without shared memory?); "
        "readers will block writers",
        options_.path, mode);
  }

  if (auto st = exec(options_.synchronous == SqliteSynchronous::kFull ? "PRAGMA synchronous=FULL"
                                                                      : "PRAGMA synchronous=NORMAL",
                     "setting synchronous");
      !st) {
    return fail(st.error());
  }
  if (auto st = exec(kSchemaSql, "creating the events table (is the file a SQLite database?)");
      !st) {
    return fail(st.error());
  }

  rc = sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &stmt,
                          nullptr);
  if (rc != SQLITE_OK) return fail(sqliteError(rc, "reading schema_version"));
  int version = 0;
  if (sqlite3_step(stmt) == SQLITE_ROW) version = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  if (version > kSchemaVersion) {
    return fail(makeError(
        ErrorCode::kConfig,
        "sqlite sink " + options_.path + ": written by a newer gateway (schema_version " +
            std::to_string(version) + ", this gateway knows " + std::to_string(kSchemaVersion) +
            "); upgrade the gateway or point sinks.sqlite.path at a new file"));
  }

  rc = sqlite3_prepare_v3(db_, kInsertSql, -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr);
  if (rc != SQLITE_OK) return fail(sqliteError(rc, "preparing the insert statement"));

  spdlog::info("sqlite sink: writing to {} (synchronous={}, queue_max_batches={})", options_.path,
               options_.synchronous == SqliteSynchronous::kFull ? "full" : "normal",
               options_.queue_max_batches);
  return okResult();
}

void SqliteSink::closeStore() {
  if (insert_ != nullptr) {
    sqlite3_finalize(insert_);
    insert_ = nullptr;
  }
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

Result<void> SqliteSink::commitTransaction(std::span<const SinkBatchPtr> batches,
                                           std::vector<SinkResult>& results) {
  if (db_ == nullptr || insert_ == nullptr) {
    return makeError(ErrorCode::kClosed, "sqlite sink " + options_.path + ": database is not open");
  }
  int rc = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqliteError(rc, "BEGIN failed");

  std::vector<SinkResult> staged(batches.size());
  uint64_t duplicates = 0;
  for (size_t b = 0; b < batches.size(); ++b) {
    const gateway::SinkBatch& batch = *batches[b];
    for (const Event& event : batch.events) {
      const std::string fields = fieldsToJson(event.fields);
      bindText(insert_, 1, event.tenant);
      bindText(insert_, 2, batch.agent_id);
      // SQLite integers are signed 64-bit; seq values past 2^63 wrap, which
      // keeps them unique.
      sqlite3_bind_int64(insert_, 3, static_cast<sqlite3_int64>(event.seq));
      sqlite3_bind_int64(insert_, 4, event.ts_ns);
      bindText(insert_, 5, event.kind);
      bindText(insert_, 6, event.source);
      bindText(insert_, 7, event.host);
      sqlite3_bind_int(insert_, 8, static_cast<int>(event.severity));
      bindText(insert_, 9, fields);
      bindText(insert_, 10, event.raw);
      sqlite3_bind_int64(insert_, 11, batch.received_at_ns);
      rc = sqlite3_step(insert_);
      sqlite3_reset(insert_);
      sqlite3_clear_bindings(insert_);
      if (rc != SQLITE_DONE) {
        Error error = sqliteError(rc, "insert failed");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return error;
      }
      if (sqlite3_changes(db_) > 0) {
        ++staged[b].inserted;
      } else {
        ++staged[b].duplicates;
        ++duplicates;
      }
    }
  }

  rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    Error error = sqliteError(rc, "COMMIT failed");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return error;
  }
  duplicates_.inc(duplicates);
  results = std::move(staged);
  return okResult();
}

std::vector<SinkResult> SqliteSink::commitGroup(std::span<const SinkBatchPtr> batches) {
  std::vector<SinkResult> results;
  auto status = commitTransaction(batches, results);
  if (status) return results;

  if (batches.size() > 1) {
    // One bad batch must not fail its neighbours: retry each on its own.
    if (const uint64_t n = log_limiter_.allow(); n > 0) {
      spdlog::warn("{}; retrying the {} batches one by one ({} similar messages suppressed)",
                   status.error().message, batches.size(), n - 1);
    }
    results.assign(batches.size(), SinkResult{});
    for (size_t i = 0; i < batches.size(); ++i) {
      std::vector<SinkResult> single;
      auto one = commitTransaction(batches.subspan(i, 1), single);
      if (one) {
        results[i] = single.front();
      } else {
        results[i].status = statusFor(one.error());
        results[i].reason = one.error().message;
      }
    }
    return results;
  }

  SinkResult failed;
  failed.status = statusFor(status.error());
  failed.reason = status.error().message;
  if (const uint64_t n = log_limiter_.allow(); n > 0) {
    spdlog::warn("{} (batch {} of agent {} reported {}; {} similar messages suppressed)",
                 failed.reason, batches.front()->batch_id, batches.front()->agent_id,
                 gateway::sinkStatusName(failed.status), n - 1);
  }
  return {failed};
}

}  // namespace edge::sinks
