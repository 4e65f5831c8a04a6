// Read-only access to the SQLite files edge writes (the gateway's sink
// database, the agent's spool) for inspection commands. Opening read-only
// never blocks or disturbs the running writer (both files are in WAL mode).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edge/common/result.h"

namespace edge::ctl {

class SqliteReader {
 public:
  static Result<SqliteReader> open(const std::string& path);
  SqliteReader(SqliteReader&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  SqliteReader& operator=(SqliteReader&&) = delete;
  ~SqliteReader() { sqlite3_close(db_); }

  // Runs `sql`, calling `row` with the text of each column (NULL -> "").
  Result<void> query(const std::string& sql, const std::function<void(const std::vector<std::string>&)>& row);
  // First column of the first row as an integer (0 when there is no row).
  Result<int64_t> scalar(const std::string& sql);

 private:
  explicit SqliteReader(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

inline Result<SqliteReader> SqliteReader::open(const std::string& path) {
  sqlite3* db = nullptr;
  std::string uri = "file:" + path + "?mode=ro";
  int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return makeError(ErrorCode::kNotFound, path + ": cannot open: " + reason);
  }
  sqlite3_busy_timeout(db, 5000);
  return SqliteReader(db);
}

inline Result<void> SqliteReader::query(const std::string& sql,
                                        const std::function<void(const std::vector<std::string>&)>& row) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return makeError(ErrorCode::kIo, std::string("query failed: ") + sqlite3_errmsg(db_));
  }
  int rc;
  std::vector<std::string> columns;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    columns.clear();
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      const unsigned char* text = sqlite3_column_text(stmt, i);
      columns.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
    }
    row(columns);
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return makeError(ErrorCode::kIo, std::string("query failed: ") + sqlite3_errmsg(db_));
  return okResult();
}

inline Result<int64_t> SqliteReader::scalar(const std::string& sql) {
  int64_t value = 0;
  auto result = query(sql, [&](const std::vector<std::string>& row) {
    if (!row.empty()) value = std::strtoll(row[0].c_str(), nullptr, 10);
  });
  if (!result) return result.error();
  return value;
}

}  // namespace edge::ctl
