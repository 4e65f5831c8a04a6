// Thin SQLite wrappers for the CA registry and the enrollment token use
// store (see pki_internal.h).
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "pki_internal.h"

namespace edge::protocol::detail {

Result<std::unique_ptr<Sqlite>> Sqlite::open(const std::string& path, bool create,
                                             std::string_view what) {
  if (create) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::close(fd);
    } else if (errno != EEXIST) {
      return makeError(ErrorCode::kIo,
                       path + ": cannot create " + std::string(what) + ": " + std::strerror(errno));
    }
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string reason = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return makeError(rc == SQLITE_CANTOPEN ? ErrorCode::kNotFound : ErrorCode::kIo,
                     path + ": cannot open " + std::string(what) + ": " + reason);
  }
  // Several gateway processes may share a store; wait for a writer rather than fail.
  sqlite3_busy_timeout(db, 10000);
  return std::unique_ptr<Sqlite>(new Sqlite(db, path));
}

Sqlite::~Sqlite() { sqlite3_close(db_); }

Result<void> Sqlite::exec(const char* sql, std::string_view doing) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return makeError(ErrorCode::kIo, path_ + ": " + std::string(doing) + ": " + text);
  }
  return okResult();
}

Error Sqlite::error(std::string_view doing) const {
  return makeError(ErrorCode::kIo, path_ + ": " + std::string(doing) + ": " + sqlite3_errmsg(db_));
}

Statement::Statement(Sqlite& db, const char* sql) {
  if (sqlite3_prepare_v2(db.get(), sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void Statement::bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void Statement::bindNull(int index) { sqlite3_bind_null(stmt_, index); }

int Statement::step() { return sqlite3_step(stmt_); }

int64_t Statement::columnInt(int index) const { return sqlite3_column_int64(stmt_, index); }

bool Statement::columnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

std::string Statement::columnText(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  return text != nullptr ? reinterpret_cast<const char*>(text) : "";
}

}  // namespace edge::protocol::detail
