// The SQLite spool: schema creation and checks, the append transaction that
// makes events and input positions durable together, and the reads and
// deletes the shipper needs. Statements are prepared once.
#include "edge/agent/spool.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string_view>
#include <type_traits>

#include "edge/protocol/batch.h"
#include "wal_checkpointer.h"

namespace edge::agent {
namespace {

constexpr std::string_view kSqliteMagic{"SQLite format 3\0", 16};

// Version 1 lacked batches.input (every batch counts as input '').
constexpr const char* kUpgradeFrom1Sql = R"sql(
ALTER TABLE batches ADD COLUMN input TEXT NOT NULL DEFAULT '';
CREATE INDEX batches_by_input ON batches(input, batch_id);
UPDATE meta SET value = 2 WHERE key = 'schema_version';
)sql";

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE meta(
  key TEXT PRIMARY KEY,
  value
);
CREATE TABLE batches(
  batch_id INTEGER PRIMARY KEY,
  created_ns INTEGER NOT NULL,
  event_count INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  payload_bytes INTEGER NOT NULL,
  payload BLOB NOT NULL,
  flags INTEGER NOT NULL DEFAULT 0,
  input TEXT NOT NULL DEFAULT ''
);
CREATE INDEX batches_by_input ON batches(input, batch_id);
CREATE TABLE positions(
  input TEXT NOT NULL,
  path TEXT NOT NULL,
  device INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  PRIMARY KEY(input, path)
);
)sql";

std::string generateAgentId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    char part[9];
    std::snprintf(part, sizeof(part), "%08x", static_cast<unsigned>(random()));
    id += part;
  }
  return id;
}

// Stored integers are signed 64-bit; ids, seqs, inodes and offsets are
// unsigned and kept bit for bit.
int64_t toSql(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t fromSql(int64_t v) { return static_cast<uint64_t>(v); }

}  // namespace

struct Spool::Db {
  // Destroyed after ~Db() closed `db`, so its connection is the last one and
  // its close checkpoints the WAL into the database.
  std::unique_ptr<WalCheckpointer> checkpointer;
  sqlite3* db = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* insert_batch = nullptr;
  sqlite3_stmt* update_counters = nullptr;
  sqlite3_stmt* upsert_position = nullptr;
  sqlite3_stmt* select_pending = nullptr;
  sqlite3_stmt* select_one = nullptr;
  sqlite3_stmt* delete_batch = nullptr;
  sqlite3_stmt* select_positions = nullptr;
  sqlite3_stmt* delete_position = nullptr;
  sqlite3_stmt* select_oldest = nullptr;

  ~Db() {
    for (sqlite3_stmt* stmt :
         {begin, commit, rollback, insert_batch, update_counters, upsert_position, select_pending,
          select_one, delete_batch, select_positions, delete_position, select_oldest}) {
      sqlite3_finalize(stmt);  // no-op on nullptr
    }
    sqlite3_close_v2(db);
  }
};

namespace {

// Resets a statement when it goes out of scope so it never holds a read
// transaction open between calls.
class StmtScope {
 public:
  explicit StmtScope(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~StmtScope() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

Error sqlError(const std::string& path, std::string_view doing, sqlite3* db) {
  int code = db != nullptr ? sqlite3_errcode(db) : SQLITE_ERROR;
  std::string reason = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  int primary = code & 0xff;
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    return makeError(
        ErrorCode::kCorrupt,
        "spool " + path + ": " + std::string(doing) + ": " + reason +
            "; the file is damaged or not an edge-agent spool: move it aside (its unsent "
            "batches are lost to this agent) or set spool.path to another file");
  }
  if (primary == SQLITE_FULL) {
    return makeError(ErrorCode::kIo, "spool " + path + ": " + std::string(doing) +
                                         ": disk full; free space on the spool's file system");
  }
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_PERM) {
    return makeError(ErrorCode::kIo,
                     "spool " + path + ": " + std::string(doing) + ": " + reason +
                         "; check that the agent may write the file and its directory");
  }
  return makeError(ErrorCode::kIo, "spool " + path + ": " + std::string(doing) + ": " + reason);
}

}  // namespace

Spool::Spool(std::string path) : path_(std::move(path)), db_(std::make_unique<Db>()) {}

Spool::~Spool() = default;

Result<std::unique_ptr<Spool>> Spool::open(const SpoolOptions& options) {
  if (options.path.empty()) {
    return makeError(ErrorCode::kInvalidArgument,
                     "spool path is empty; set spool.path or agent.data_dir");
  }
  std::unique_ptr<Spool> spool(new Spool(options.path));
  auto opened = spool->init(options);
  if (opened) return spool;
  ErrorCode code = opened.error().code;
  if (!options.move_aside_unusable ||
      (code != ErrorCode::kCorrupt && code != ErrorCode::kUnsupportedVersion)) {
    return opened.error();
  }
  spool.reset();  // closes the database before its files are renamed
  auto moved = moveAside(options.path);
  if (!moved) {
    return makeError(moved.error().code, opened.error().message + "; moving it aside failed: " +
                                             moved.error().message);
  }
  spdlog::error(
      "{} -- moved it aside to {} (with its -wal/-shm files) and started a fresh spool; batches "
      "it held were not sent and input positions start over (files are read again per "
      "start_at); inspect or delete the old file",
      opened.error().message, *moved);
  spool.reset(new Spool(options.path));
  spool->moved_aside_ = *moved;
  EDGE_TRY(spool->init(options));
  return spool;
}

Result<std::string> Spool::moveAside(const std::string& path) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
  std::string target = path + ".corrupt-" + stamp;
  for (int n = 1; std::filesystem::exists(target) && n < 1000; ++n) {
    target = path + ".corrupt-" + stamp + "-" + std::to_string(n);
  }
  // The -wal first: left behind, SQLite would replay it into the new spool.
  for (const char* suffix : {"-wal", "-shm", ""}) {
    std::string from = path + suffix;
    if (::access(from.c_str(), F_OK) != 0) continue;
    if (::rename(from.c_str(), (target + suffix).c_str()) != 0) {
      return makeError(ErrorCode::kIo, "rename " + from + " to " + target + suffix + ": " +
                                           std::strerror(errno) +
                                           "; check the permissions of the spool's directory");
    }
  }
  return target;
}

Result<void> Spool::init(const SpoolOptions& options) {
  namespace fs = std::filesystem;
  compression_level_ = options.compression_level;

  std::error_code ec;
  fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) {
      return makeError(ErrorCode::kIo, "cannot create the spool directory " + parent.string() +
                                           ": " + ec.message() +
                                           "; create it, run as a user that may write it, or set "
                                           "agent.data_dir / --data-dir");
    }
  }

  // SQLite only notices a foreign file on the first query, with a terse
  // message; checking the header first lets us say what the file is.
  if (fs::is_regular_file(path_, ec) && fs::file_size(path_, ec) > 0) {
    std::ifstream in(path_, std::ios::binary);
    std::array<char, 16> header{};
    in.read(header.data(), header.size());
    if (in.gcount() < static_cast<std::streamsize>(header.size()) ||
        std::string_view(header.data(), header.size()) != kSqliteMagic) {
      return makeError(ErrorCode::kCorrupt,
                       "spool " + path_ + " is not an SQLite database, so not an edge-agent spool");
    }
  }

  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path_.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_->db = raw;
  if (rc != SQLITE_OK) return sqlError(path_, "open", raw);
  sqlite3* db = db_->db;
  sqlite3_extended_result_codes(db, 0);
  // Another process (edgectl spool stats) may read it briefly.
  sqlite3_busy_timeout(db, 5000);

  auto exec = [&](const char* sql, std::string_view doing) -> Result<void> {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return sqlError(path_, doing, db);
    return okResult();
  };

  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &stmt, nullptr) != SQLITE_OK) {
      return sqlError(path_, "enable WAL", db);
    }
    rc = sqlite3_step(stmt);
    std::string mode = rc == SQLITE_ROW
                           ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))
                           : std::string();
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) return sqlError(path_, "enable WAL", db);
    if (mode != "wal") {
      return makeError(ErrorCode::kIo, "spool " + path_ + ": cannot use WAL journaling (got \"" +
                                           mode + "\"); put the spool on a local file system");
    }
  }
  EDGE_TRY(exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                "set synchronous"));
  // After a checkpoint reset the WAL, keep at most this much of its file.
  EDGE_TRY(exec("PRAGMA journal_size_limit=67108864", "limit the WAL file size"));
  {
    auto checkpointer = WalCheckpointer::start(path_, options.synchronous_full,
                                               WalCheckpointer::kDefaultThresholdPages);
    if (!checkpointer) return checkpointer.error();
    db_->checkpointer = std::move(*checkpointer);
    db_->checkpointer->attach(db);
  }

  // A damaged file (a torn copy, a disk error) must not be written to; a
  // quick check reads every page once, which at startup is affordable.
  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &stmt, nullptr) != SQLITE_OK) {
      return sqlError(path_, "check its integrity", db);
    }
    rc = sqlite3_step(stmt);
    std::string verdict = rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr
                              ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))
                              : std::string();
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) return sqlError(path_, "check its integrity", db);
    if (verdict != "ok") {
      return makeError(ErrorCode::kCorrupt,
                       "spool " + path_ + " failed its integrity check (" + verdict + ")");
    }
  }

  // Which of our tables exist decides between a new spool, ours, or foreign.
  int ours = 0;
  int others = 0;
  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table'", -1, &stmt,
                           nullptr) != SQLITE_OK) {
      return sqlError(path_, "read the schema", db);
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::string_view name = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      if (name == "meta" || name == "batches" || name == "positions") {
        ++ours;
      } else if (!name.starts_with("sqlite_")) {
        ++others;
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return sqlError(path_, "read the schema", db);
  }

  std::string stored_id;
  if (ours == 0 && others == 0) {
    agent_id_ = options.agent_id.empty() ? generateAgentId() : options.agent_id;
    EDGE_TRY(exec("BEGIN IMMEDIATE", "create the schema"));
    auto created = [&]() -> Result<void> {
      EDGE_TRY(exec(kSchemaSql, "create the schema"));
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES(?1, ?2)", -1, &stmt,
                             nullptr) != SQLITE_OK) {
        return sqlError(path_, "create the schema", db);
      }
      auto put = [&](const char* key, auto value) -> bool {
        sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
        if constexpr (std::is_same_v<decltype(value), int64_t>) {
          sqlite3_bind_int64(stmt, 2, value);
        } else {
          sqlite3_bind_text(stmt, 2, value.c_str(), static_cast<int>(value.size()),
                            SQLITE_TRANSIENT);
        }
        bool ok = sqlite3_step(stmt) == SQLITE_DONE;
        sqlite3_reset(stmt);
        return ok;
      };
      bool ok = put("schema_version", int64_t{kSchemaVersion}) && put("agent_id", agent_id_) &&
                put("next_seq", int64_t{1}) && put("next_batch_id", int64_t{1});
      sqlite3_finalize(stmt);
      if (!ok) return sqlError(path_, "create the schema", db);
      return exec("COMMIT", "create the schema");
    }();
    if (!created) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return created.error();
    }
    spdlog::info("created spool {} (schema {}, agent id {})", path_, kSchemaVersion, agent_id_);
  } else {
    if (ours != 3) {
      return makeError(
          ErrorCode::kCorrupt,
          "spool " + path_ +
              " is an SQLite database but not an edge-agent spool (it lacks the meta, batches "
              "and positions tables)");
    }
    int64_t schema_version = -1;
    int64_t stored_seq = 0;
    int64_t stored_batch = 0;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &stmt, nullptr) != SQLITE_OK) {
      return sqlError(path_, "read meta", db);
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::string_view key = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      if (key == "schema_version") schema_version = sqlite3_column_int64(stmt, 1);
      if (key == "next_seq") stored_seq = sqlite3_column_int64(stmt, 1);
      if (key == "next_batch_id") stored_batch = sqlite3_column_int64(stmt, 1);
      if (key == "agent_id" && sqlite3_column_text(stmt, 1) != nullptr) {
        stored_id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return sqlError(path_, "read meta", db);
    if (schema_version == 1) {
      EDGE_TRY(exec("BEGIN IMMEDIATE", "upgrade the schema from version 1"));
      if (auto upgraded = exec(kUpgradeFrom1Sql, "upgrade the schema from version 1");
          !upgraded) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return upgraded.error();
      }
      EDGE_TRY(exec("COMMIT", "upgrade the schema from version 1"));
      spdlog::info("spool {}: upgraded the schema from version 1 to {}", path_, kSchemaVersion);
      schema_version = kSchemaVersion;
    }
    if (schema_version != kSchemaVersion) {
      return makeError(
          ErrorCode::kUnsupportedVersion,
          "spool " + path_ + " has schema version " + std::to_string(schema_version) +
              " but this agent reads version " + std::to_string(kSchemaVersion) +
              " (a newer agent wrote it; downgrades cannot read it)");
    }
    if (stored_id.empty() || stored_seq < 1 || stored_batch < 1) {
      return makeError(ErrorCode::kCorrupt,
                       "spool " + path_ +
                           ": the meta table lacks agent_id, next_seq or next_batch_id");
    }
    next_seq_ = fromSql(stored_seq);
    next_batch_id_ = fromSql(stored_batch);
    agent_id_ = stored_id;
  }

  // Statements used on the hot paths, prepared once.
  auto prepare = [&](const char* sql, sqlite3_stmt** out) -> Result<void> {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, nullptr) != SQLITE_OK) {
      return sqlError(path_, std::string("prepare \"") + sql + "\"", db);
    }
    return okResult();
  };
  EDGE_TRY(prepare("BEGIN IMMEDIATE", &db_->begin));
  EDGE_TRY(prepare("COMMIT", &db_->commit));
  EDGE_TRY(prepare("ROLLBACK", &db_->rollback));
  EDGE_TRY(prepare(
      "INSERT INTO batches(batch_id, created_ns, event_count, first_seq, last_seq, payload_bytes, "
      "payload, flags, input) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      &db_->insert_batch));
  EDGE_TRY(
      prepare("UPDATE meta SET value = CASE key WHEN 'next_seq' THEN ?1 ELSE ?2 END "
              "WHERE key IN ('next_seq', 'next_batch_id')",
              &db_->update_counters));
  EDGE_TRY(prepare(
      "INSERT INTO positions(input, path, device, inode, offset) VALUES(?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT(input, path) DO UPDATE SET device=excluded.device, inode=excluded.inode, "
      "offset=excluded.offset",
      &db_->upsert_position));
  EDGE_TRY(prepare(
      "SELECT batch_id, created_ns, event_count, first_seq, last_seq, flags, payload FROM batches "
      "WHERE batch_id > ?1 ORDER BY batch_id LIMIT ?2",
      &db_->select_pending));
  EDGE_TRY(prepare(
      "SELECT batch_id, created_ns, event_count, first_seq, last_seq, flags, payload FROM batches "
      "WHERE batch_id = ?1",
      &db_->select_one));
  EDGE_TRY(prepare("DELETE FROM batches WHERE batch_id = ?1 RETURNING event_count, payload_bytes",
                   &db_->delete_batch));
  EDGE_TRY(
      prepare("SELECT path, device, inode, offset FROM positions WHERE input = ?1 ORDER BY path",
              &db_->select_positions));
  EDGE_TRY(prepare("DELETE FROM positions WHERE input = ?1 AND path = ?2", &db_->delete_position));
  EDGE_TRY(prepare(
      "SELECT batch_id, event_count, payload_bytes FROM batches WHERE input = ?1 "
      "ORDER BY batch_id LIMIT 256",
      &db_->select_oldest));

  // Totals are cached; the counters never go below what the rows imply.
  {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(
            db,
            "SELECT count(*), coalesce(sum(event_count), 0), coalesce(sum(payload_bytes), 0), "
            "coalesce(max(batch_id), 0), coalesce(max(last_seq), 0) FROM batches",
            -1, &stmt, nullptr) != SQLITE_OK) {
      return sqlError(path_, "count batches", db);
    }
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      batch_count_ = fromSql(sqlite3_column_int64(stmt, 0));
      event_count_ = fromSql(sqlite3_column_int64(stmt, 1));
      payload_bytes_ = fromSql(sqlite3_column_int64(stmt, 2));
      uint64_t max_batch = fromSql(sqlite3_column_int64(stmt, 3));
      uint64_t max_seq = fromSql(sqlite3_column_int64(stmt, 4));
      if (next_batch_id_ <= max_batch) next_batch_id_ = max_batch + 1;
      if (next_seq_ <= max_seq) next_seq_ = max_seq + 1;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) return sqlError(path_, "count batches", db);
  }

  // A configured id that differs from the stored one: the spooled batches
  // carry the old id inside their payloads, and a gateway rejects a batch
  // whose id differs from the connection's.
  if (!options.agent_id.empty() && options.agent_id != agent_id_) {
    if (batch_count_ > 0) {
      return makeError(ErrorCode::kConfig,
                       "spool " + path_ + " holds " + std::to_string(batch_count_) +
                           " unsent batches of agent id \"" + agent_id_ + "\" but agent.id is \"" +
                           options.agent_id +
                           "\": run with the old id until the spool drains, or move it aside");
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "UPDATE meta SET value = ?1 WHERE key = 'agent_id'", -1, &stmt,
                           nullptr) != SQLITE_OK) {
      return sqlError(path_, "store agent id", db);
    }
    sqlite3_bind_text(stmt, 1, options.agent_id.c_str(), static_cast<int>(options.agent_id.size()),
                      SQLITE_TRANSIENT);
    rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return sqlError(path_, "store agent id", db);
    spdlog::info("spool {}: agent id changed from {} to the configured {}", path_, agent_id_,
                 options.agent_id);
    agent_id_ = options.agent_id;
  }
  return okResult();
}

Result<AppendResult> Spool::append(std::span<Event> events,
                                   std::span<const InputPosition> positions,
                                   std::string_view input) {
  AppendResult result;
  if (events.empty() && positions.empty()) return result;

  std::string_view payload;  // in encoder_, valid until the next append
  uint16_t flags = 0;
  uint64_t batch_id = next_batch_id_;
  uint64_t first_seq = next_seq_;
  if (!events.empty()) {
    for (size_t i = 0; i < events.size(); ++i) events[i].seq = first_seq + i;
    // Encoding happens outside the transaction to keep the write lock short.
    auto encoded = encoder_.encode(batch_id, agent_id_, events, compression_level_);
    if (!encoded) {
      return makeError(encoded.error().code, "spool " + path_ + ": encode batch " +
                                                 std::to_string(batch_id) + ": " +
                                                 encoded.error().message);
    }
    payload = encoded->bytes;
    flags = encoded->flags;
  }
  uint64_t last_seq = first_seq + events.size() - 1;
  int64_t created_ns = nowNs();

  sqlite3* db = db_->db;
  auto step = [&](sqlite3_stmt* stmt) -> bool {
    StmtScope scope(stmt);
    return sqlite3_step(stmt) == SQLITE_DONE;
  };
  if (!step(db_->begin)) return sqlError(path_, "begin append", db);

  auto body = [&]() -> bool {
    if (!events.empty()) {
      {
        sqlite3_stmt* s = db_->insert_batch;
        StmtScope scope(s);
        sqlite3_bind_int64(s, 1, toSql(batch_id));
        sqlite3_bind_int64(s, 2, created_ns);
        sqlite3_bind_int64(s, 3, static_cast<int64_t>(events.size()));
        sqlite3_bind_int64(s, 4, toSql(first_seq));
        sqlite3_bind_int64(s, 5, toSql(last_seq));
        sqlite3_bind_int64(s, 6, static_cast<int64_t>(payload.size()));
        sqlite3_bind_blob64(s, 7, payload.data(), payload.size(), SQLITE_STATIC);
        sqlite3_bind_int(s, 8, flags);
        // A default string_view has no data, which SQLite would bind as NULL.
        sqlite3_bind_text(s, 9, input.empty() ? "" : input.data(), static_cast<int>(input.size()),
                          SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) return false;
      }
      {
        sqlite3_stmt* s = db_->update_counters;
        StmtScope scope(s);
        sqlite3_bind_int64(s, 1, toSql(last_seq + 1));
        sqlite3_bind_int64(s, 2, toSql(batch_id + 1));
        if (sqlite3_step(s) != SQLITE_DONE || sqlite3_changes(db) != 2) return false;
      }
    }
    for (const InputPosition& pos : positions) {
      if (pos.forget) {
        sqlite3_stmt* s = db_->delete_position;
        StmtScope scope(s);
        sqlite3_bind_text(s, 1, pos.input.data(), static_cast<int>(pos.input.size()),
                          SQLITE_STATIC);
        sqlite3_bind_text(s, 2, pos.path.data(), static_cast<int>(pos.path.size()), SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) return false;
        continue;
      }
      sqlite3_stmt* s = db_->upsert_position;
      StmtScope scope(s);
      sqlite3_bind_text(s, 1, pos.input.data(), static_cast<int>(pos.input.size()), SQLITE_STATIC);
      sqlite3_bind_text(s, 2, pos.path.data(), static_cast<int>(pos.path.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, toSql(pos.device));
      sqlite3_bind_int64(s, 4, toSql(pos.inode));
      sqlite3_bind_int64(s, 5, toSql(pos.offset));
      if (sqlite3_step(s) != SQLITE_DONE) return false;
    }
    return true;
  };

  if (!body() || !step(db_->commit)) {
    Error error = sqlError(path_, events.empty() ? "store input positions" : "append a batch", db);
    if (!sqlite3_get_autocommit(db)) step(db_->rollback);
    return error;
  }

  if (!events.empty()) {
    next_seq_ = last_seq + 1;
    next_batch_id_ = batch_id + 1;
    batch_count_ += 1;
    event_count_ += events.size();
    payload_bytes_ += payload.size();
    result.batch_id = batch_id;
    result.first_seq = first_seq;
    result.last_seq = last_seq;
    result.payload_bytes = payload.size();
  }
  return result;
}

namespace {

SpooledBatch readBatchRow(sqlite3_stmt* s) {
  SpooledBatch batch;
  batch.batch_id = fromSql(sqlite3_column_int64(s, 0));
  batch.created_ns = sqlite3_column_int64(s, 1);
  batch.event_count = static_cast<uint32_t>(sqlite3_column_int64(s, 2));
  batch.first_seq = fromSql(sqlite3_column_int64(s, 3));
  batch.last_seq = fromSql(sqlite3_column_int64(s, 4));
  batch.flags = static_cast<uint16_t>(sqlite3_column_int(s, 5));
  const void* blob = sqlite3_column_blob(s, 6);
  int size = sqlite3_column_bytes(s, 6);
  if (blob != nullptr && size > 0)
    batch.payload.assign(static_cast<const char*>(blob), static_cast<size_t>(size));
  return batch;
}

}  // namespace

Result<std::vector<SpooledBatch>> Spool::pending(uint64_t after_batch_id, size_t limit) {
  std::vector<SpooledBatch> batches;
  if (limit == 0) return batches;
  sqlite3_stmt* s = db_->select_pending;
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, toSql(after_batch_id));
  sqlite3_bind_int64(s, 2, static_cast<int64_t>(std::min<uint64_t>(limit, INT64_MAX)));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) batches.push_back(readBatchRow(s));
  if (rc != SQLITE_DONE) return sqlError(path_, "read pending batches", db_->db);
  return batches;
}

Result<std::optional<SpooledBatch>> Spool::get(uint64_t batch_id) {
  sqlite3_stmt* s = db_->select_one;
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, toSql(batch_id));
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<SpooledBatch>();
  if (rc != SQLITE_ROW) return sqlError(path_, "read batch " + std::to_string(batch_id), db_->db);
  return std::optional<SpooledBatch>(readBatchRow(s));
}

Result<std::optional<Spool::RemovedBatch>> Spool::deleteBatchRow(uint64_t batch_id) {
  sqlite3_stmt* s = db_->delete_batch;
  StmtScope scope(s);
  sqlite3_bind_int64(s, 1, toSql(batch_id));
  int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<RemovedBatch>();
  if (rc != SQLITE_ROW) return sqlError(path_, "delete batch " + std::to_string(batch_id), db_->db);
  RemovedBatch removed{fromSql(sqlite3_column_int64(s, 0)), fromSql(sqlite3_column_int64(s, 1))};
  // RETURNING rows are produced before the delete completes; finish it.
  rc = sqlite3_step(s);
  if (rc != SQLITE_DONE)
    return sqlError(path_, "delete batch " + std::to_string(batch_id), db_->db);
  return std::optional<RemovedBatch>(removed);
}

void Spool::forgetRemoved(const RemovedBatch& removed) {
  batch_count_ -= std::min<uint64_t>(batch_count_, 1);
  event_count_ -= std::min(event_count_, removed.events);
  payload_bytes_ -= std::min(payload_bytes_, removed.bytes);
}

Result<bool> Spool::remove(uint64_t batch_id) {
  auto removed = deleteBatchRow(batch_id);
  if (!removed) return removed.error();
  if (!removed->has_value()) return false;
  forgetRemoved(**removed);
  return true;
}

Result<size_t> Spool::removeAll(std::span<const uint64_t> batch_ids) {
  if (batch_ids.size() <= 1) {
    if (batch_ids.empty()) return size_t{0};
    auto removed = remove(batch_ids.front());
    if (!removed) return removed.error();
    return size_t{*removed ? 1u : 0u};
  }
  sqlite3* db = db_->db;
  auto step = [&](sqlite3_stmt* stmt) -> bool {
    StmtScope scope(stmt);
    return sqlite3_step(stmt) == SQLITE_DONE;
  };
  if (!step(db_->begin)) return sqlError(path_, "begin deleting acked batches", db);
  std::vector<RemovedBatch> removed;
  removed.reserve(batch_ids.size());
  for (uint64_t id : batch_ids) {
    auto row = deleteBatchRow(id);
    if (!row) {
      if (!sqlite3_get_autocommit(db)) step(db_->rollback);
      return row.error();
    }
    if (row->has_value()) removed.push_back(**row);
  }
  if (!step(db_->commit)) {
    Error error = sqlError(path_, "commit deleting acked batches", db);
    if (!sqlite3_get_autocommit(db)) step(db_->rollback);
    return error;
  }
  for (const RemovedBatch& batch : removed) forgetRemoved(batch);
  return removed.size();
}

uint64_t Spool::walCheckpoints() const {
  return db_->checkpointer ? db_->checkpointer->checkpoints() : 0;
}

void Spool::setBusyTimeout(std::chrono::milliseconds timeout) {
  sqlite3_busy_timeout(db_->db, static_cast<int>(timeout.count()));
}

Result<DropResult> Spool::dropOldest(std::string_view input, uint64_t bytes,
                                     const std::function<bool(uint64_t)>& skip) {
  DropResult dropped;
  std::vector<std::pair<uint64_t, std::pair<uint64_t, uint64_t>>> victims;
  {
    sqlite3_stmt* s = db_->select_oldest;
    StmtScope scope(s);
    sqlite3_bind_text(s, 1, input.empty() ? "" : input.data(), static_cast<int>(input.size()),
                      SQLITE_STATIC);
    uint64_t planned = 0;
    int rc = SQLITE_DONE;
    while (planned < bytes && (rc = sqlite3_step(s)) == SQLITE_ROW) {
      uint64_t id = fromSql(sqlite3_column_int64(s, 0));
      if (skip && skip(id)) continue;
      uint64_t events = fromSql(sqlite3_column_int64(s, 1));
      uint64_t size = fromSql(sqlite3_column_int64(s, 2));
      victims.push_back({id, {events, size}});
      planned += size;
    }
    if (planned < bytes && rc != SQLITE_DONE && rc != SQLITE_ROW) {
      return sqlError(path_, "find the oldest batches of input " + std::string(input), db_->db);
    }
  }
  if (victims.empty()) return dropped;
  sqlite3* db = db_->db;
  auto step = [&](sqlite3_stmt* stmt) -> bool {
    StmtScope scope(stmt);
    return sqlite3_step(stmt) == SQLITE_DONE;
  };
  if (!step(db_->begin)) return sqlError(path_, "begin dropping batches", db);
  for (const auto& [id, info] : victims) {
    sqlite3_stmt* s = db_->delete_batch;
    StmtScope scope(s);
    sqlite3_bind_int64(s, 1, toSql(id));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
      Error error = sqlError(path_, "drop batch " + std::to_string(id), db);
      step(db_->rollback);
      return error;
    }
    if (sqlite3_changes(db) == 0) continue;
    dropped.batches += 1;
    dropped.events += info.first;
    dropped.bytes += info.second;
  }
  if (!step(db_->commit)) {
    Error error = sqlError(path_, "commit dropping batches", db);
    if (!sqlite3_get_autocommit(db)) step(db_->rollback);
    return error;
  }
  batch_count_ -= std::min(batch_count_, dropped.batches);
  event_count_ -= std::min(event_count_, dropped.events);
  payload_bytes_ -= std::min(payload_bytes_, dropped.bytes);
  return dropped;
}

Result<std::vector<InputPosition>> Spool::loadPositions(const std::string& input) {
  std::vector<InputPosition> positions;
  sqlite3_stmt* s = db_->select_positions;
  StmtScope scope(s);
  sqlite3_bind_text(s, 1, input.data(), static_cast<int>(input.size()), SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    InputPosition pos;
    pos.input = input;
    const unsigned char* path = sqlite3_column_text(s, 0);
    pos.path = path != nullptr ? reinterpret_cast<const char*>(path) : "";
    pos.device = fromSql(sqlite3_column_int64(s, 1));
    pos.inode = fromSql(sqlite3_column_int64(s, 2));
    pos.offset = fromSql(sqlite3_column_int64(s, 3));
    positions.push_back(std::move(pos));
  }
  if (rc != SQLITE_DONE) return sqlError(path_, "read positions of input " + input, db_->db);
  return positions;
}

}  // namespace edge::agent
