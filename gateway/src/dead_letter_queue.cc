// The dead-letter queue (see dead_letter_queue.h).
#include "edge/gateway/dead_letter_queue.h"

#include <sqlite3.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>
#include <utility>

namespace edge::gateway {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters(
  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, sink TEXT NOT NULL, reason TEXT NOT NULL,
  agent_id TEXT NOT NULL, batch_id INTEGER NOT NULL, topic TEXT NOT NULL, tbl TEXT NOT NULL,
  tenant TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, kind TEXT NOT NULL,
  source TEXT NOT NULL, host TEXT NOT NULL, severity INTEGER NOT NULL,
  fields TEXT NOT NULL /* JSON object */, raw TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_sink ON dead_letters(sink, id);
INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');
)sql";

constexpr const char* kInsertSql =
    "INSERT INTO dead_letters(at, sink, reason, agent_id, batch_id, topic, tbl, tenant, seq, ts, "
    "kind, source, host, severity, fields, raw) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

constexpr const char* kSelectSql =
    "SELECT id, at, sink, reason, agent_id, batch_id, topic, tbl, tenant, seq, ts, kind, source, "
    "host, severity, fields, raw FROM dead_letters WHERE id > ?1 AND (?2 = '' OR sink = ?2) "
    "ORDER BY id LIMIT ?3";

// Frees a statement on every path out of a function.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() { sqlite3_finalize(stmt); }
};

std::string columnText(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text == nullptr ? std::string()
                         : std::string(reinterpret_cast<const char*>(text),
                                       static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

void bindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

// The inverse of fieldsToJson: JSON numbers without a fraction come back as
// integers, as they went in.
std::vector<Field> fieldsFromJson(const std::string& text) {
  std::vector<Field> fields;
  // ordered_json: the fields come back in the order the event had them.
  nlohmann::ordered_json object =
      nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return fields;
  for (auto& [key, value] : object.items()) {
    if (value.is_string()) {
      fields.push_back({key, value.get<std::string>()});
    } else if (value.is_boolean()) {
      fields.push_back({key, value.get<bool>()});
    } else if (value.is_number_integer()) {
      fields.push_back({key, value.get<int64_t>()});
    } else if (value.is_number()) {
      fields.push_back({key, value.get<double>()});
    } else {
      fields.push_back({key, value.dump()});
    }
  }
  return fields;
}

}  // namespace

DeadLetterQueue::DeadLetterQueue(DeadLetterOptions options, MetricsRegistry* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

DeadLetterQueue::~DeadLetterQueue() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Result<std::shared_ptr<DeadLetterQueue>> DeadLetterQueue::open(DeadLetterOptions options,
                                                               MetricsRegistry* metrics) {
  std::shared_ptr<DeadLetterQueue> dlq(new DeadLetterQueue(std::move(options), metrics));
  EDGE_TRY(dlq->openFile());
  dlq->updateGauge();
  return dlq;
}

Result<void> DeadLetterQueue::openFile() {
  const std::string& path = options_.path;
  if (path.empty()) {
    return makeError(ErrorCode::kConfig, "dead-letter queue: no path; set dlq.path or gateway.data_dir");
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return makeError(ErrorCode::kIo, "dead-letter queue: cannot create directory " +
                                           parent.string() + ": " + ec.message() +
                                           "; create it or set dlq.path / gateway.data_dir");
    }
  }
  auto fail = [this, &path](std::string what) -> Result<void> {
    std::string message = "dead-letter queue " + path + ": " + what + ": " +
                          (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory") +
                          " (is dlq.path a SQLite file this user may write?)";
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return makeError(ErrorCode::kIo, std::move(message));
  };
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    return fail("cannot open");
  }
  // edgectl reads and removes while the gateway writes.
  sqlite3_busy_timeout(db_, 5000);
  const std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                              (options_.synchronous_full ? "FULL" : "NORMAL") + ";";
  if (sqlite3_exec(db_, pragmas.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("cannot set WAL mode");
  }
  if (sqlite3_exec(db_, kSchemaSql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("cannot create its table");
  }
  Statement version;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
                         &version.stmt, nullptr) != SQLITE_OK) {
    return fail("cannot read schema_version");
  }
  const int found = sqlite3_step(version.stmt) == SQLITE_ROW ? sqlite3_column_int(version.stmt, 0) : 0;
  if (found > kSchemaVersion) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return makeError(ErrorCode::kConfig,
                     "dead-letter queue " + path + ": written by a newer gateway (schema_version " +
                         std::to_string(found) + "); upgrade, or point dlq.path at a new file");
  }
  return okResult();
}

Result<void> DeadLetterQueue::put(std::string_view sink, const SinkBatch& batch,
                                  std::span<const uint32_t> indexes, std::string_view reason) {
  std::lock_guard lock(mutex_);
  auto refuse = [this](std::string why) -> Result<void> {
    if (metrics_ != nullptr) {
      metrics_->counter("edge_gateway_dlq_refused_total",
                        "dead-letter writes refused (full or I/O error); the sink retried instead")
          .inc();
    }
    return makeError(ErrorCode::kIo, "dead-letter queue " + options_.path + ": " + why);
  };
  // Live pages only: rows removed by a replay make room again.
  Statement size;
  if (sqlite3_prepare_v2(db_,
                         "SELECT (SELECT page_count FROM pragma_page_count()) - "
                         "(SELECT freelist_count FROM pragma_freelist_count()), "
                         "(SELECT page_size FROM pragma_page_size())",
                         -1, &size.stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(size.stmt) == SQLITE_ROW) {
    const uint64_t bytes = static_cast<uint64_t>(sqlite3_column_int64(size.stmt, 0)) *
                           static_cast<uint64_t>(sqlite3_column_int64(size.stmt, 1));
    if (bytes >= options_.max_bytes) {
      return refuse("full (" + std::to_string(bytes) + " bytes, dlq.max_bytes " +
                    std::to_string(options_.max_bytes) +
                    "); replay or remove entries with edgectl dlq, or raise dlq.max_bytes");
    }
  }

  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return refuse(std::string("BEGIN failed: ") + sqlite3_errmsg(db_));
  }
  Statement insert;
  if (sqlite3_prepare_v2(db_, kInsertSql, -1, &insert.stmt, nullptr) != SQLITE_OK) {
    std::string why = std::string("cannot prepare the insert: ") + sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return refuse(std::move(why));
  }
  const int64_t at = nowNs();
  uint64_t stored = 0;
  auto insertOne = [&](const Event& event) -> bool {
    sqlite3_reset(insert.stmt);
    const std::string fields = fieldsToJson(event.fields);
    sqlite3_bind_int64(insert.stmt, 1, at);
    bindText(insert.stmt, 2, sink);
    bindText(insert.stmt, 3, reason);
    bindText(insert.stmt, 4, batch.agent_id);
    sqlite3_bind_int64(insert.stmt, 5, static_cast<int64_t>(batch.batch_id));
    bindText(insert.stmt, 6, batch.topic);
    bindText(insert.stmt, 7, batch.table);
    bindText(insert.stmt, 8, event.tenant);
    sqlite3_bind_int64(insert.stmt, 9, static_cast<int64_t>(event.seq));
    sqlite3_bind_int64(insert.stmt, 10, event.ts_ns);
    bindText(insert.stmt, 11, event.kind);
    bindText(insert.stmt, 12, event.source);
    bindText(insert.stmt, 13, event.host);
    sqlite3_bind_int(insert.stmt, 14, static_cast<int>(event.severity));
    bindText(insert.stmt, 15, fields);
    bindText(insert.stmt, 16, event.raw);
    ++stored;
    return sqlite3_step(insert.stmt) == SQLITE_DONE;
  };
  bool ok = true;
  if (indexes.empty()) {
    for (const Event& event : batch.events) ok = ok && insertOne(event);
  } else {
    for (uint32_t index : indexes) {
      if (index >= batch.events.size()) continue;
      ok = ok && insertOne(batch.events[index]);
    }
  }
  if (!ok || sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::string why = std::string("write failed: ") + sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return refuse(std::move(why));
  }
  if (metrics_ != nullptr) {
    metrics_->counter("edge_gateway_dlq_events_total", "events sinks refused permanently, kept in "
                      "the dead-letter queue", {{"sink", std::string(sink)}})
        .inc(stored);
    metrics_->gauge("edge_gateway_dlq_events", "events in the dead-letter queue")
        .add(static_cast<int64_t>(stored));
  }
  return okResult();
}

Result<std::vector<DeadLetter>> DeadLetterQueue::list(const DeadLetterQuery& query) {
  std::lock_guard lock(mutex_);
  Statement select;
  if (sqlite3_prepare_v2(db_, kSelectSql, -1, &select.stmt, nullptr) != SQLITE_OK) {
    return makeError(ErrorCode::kIo, "dead-letter queue " + options_.path +
                                         ": cannot read: " + sqlite3_errmsg(db_));
  }
  sqlite3_bind_int64(select.stmt, 1, query.after_id);
  bindText(select.stmt, 2, query.sink);
  sqlite3_bind_int64(select.stmt, 3, static_cast<int64_t>(query.limit));
  std::vector<DeadLetter> out;
  int rc;
  while ((rc = sqlite3_step(select.stmt)) == SQLITE_ROW) {
    DeadLetter letter;
    sqlite3_stmt* row = select.stmt;
    letter.id = sqlite3_column_int64(row, 0);
    letter.at_ns = sqlite3_column_int64(row, 1);
    letter.sink = columnText(row, 2);
    letter.reason = columnText(row, 3);
    letter.agent_id = columnText(row, 4);
    letter.batch_id = static_cast<uint64_t>(sqlite3_column_int64(row, 5));
    letter.topic = columnText(row, 6);
    letter.table = columnText(row, 7);
    letter.event.tenant = columnText(row, 8);
    letter.event.seq = static_cast<uint64_t>(sqlite3_column_int64(row, 9));
    letter.event.ts_ns = sqlite3_column_int64(row, 10);
    letter.event.kind = columnText(row, 11);
    letter.event.source = columnText(row, 12);
    letter.event.host = columnText(row, 13);
    letter.event.severity = static_cast<Severity>(sqlite3_column_int(row, 14) & 7);
    letter.event.fields = fieldsFromJson(columnText(row, 15));
    letter.event.raw = columnText(row, 16);
    out.push_back(std::move(letter));
  }
  if (rc != SQLITE_DONE) {
    return makeError(ErrorCode::kIo, "dead-letter queue " + options_.path +
                                         ": cannot read: " + sqlite3_errmsg(db_));
  }
  return out;
}

Result<size_t> DeadLetterQueue::remove(std::span<const int64_t> ids) {
  std::lock_guard lock(mutex_);
  auto fail = [this](const char* what) -> Result<size_t> {
    std::string message =
        "dead-letter queue " + options_.path + ": " + what + ": " + sqlite3_errmsg(db_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return makeError(ErrorCode::kIo, std::move(message));
  };
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("BEGIN failed");
  }
  Statement erase;
  if (sqlite3_prepare_v2(db_, "DELETE FROM dead_letters WHERE id = ?1", -1, &erase.stmt,
                         nullptr) != SQLITE_OK) {
    return fail("cannot prepare the delete");
  }
  size_t removed = 0;
  for (int64_t id : ids) {
    sqlite3_reset(erase.stmt);
    sqlite3_bind_int64(erase.stmt, 1, id);
    if (sqlite3_step(erase.stmt) != SQLITE_DONE) return fail("delete failed");
    removed += static_cast<size_t>(sqlite3_changes(db_));
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("COMMIT failed");
  }
  if (metrics_ != nullptr) {
    metrics_->gauge("edge_gateway_dlq_events", "events in the dead-letter queue")
        .add(-static_cast<int64_t>(removed));
  }
  return removed;
}

Result<uint64_t> DeadLetterQueue::count() {
  std::lock_guard lock(mutex_);
  Statement select;
  if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM dead_letters", -1, &select.stmt, nullptr) !=
          SQLITE_OK ||
      sqlite3_step(select.stmt) != SQLITE_ROW) {
    return makeError(ErrorCode::kIo, "dead-letter queue " + options_.path +
                                         ": cannot count: " + sqlite3_errmsg(db_));
  }
  return static_cast<uint64_t>(sqlite3_column_int64(select.stmt, 0));
}

void DeadLetterQueue::updateGauge() {
  if (metrics_ == nullptr) return;
  auto count = this->count();
  if (count) {
    metrics_->gauge("edge_gateway_dlq_events", "events in the dead-letter queue")
        .set(static_cast<int64_t>(*count));
  }
}

}  // namespace edge::gateway
