#include "wal_checkpointer.h"

#include <spdlog/spdlog.h>

#include "edge/common/log.h"

namespace edge::agent {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::start(const std::string& path,
                                                                bool synchronous_full,
                                                                int threshold_pages) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc == SQLITE_OK) {
    // A RESTART checkpoint waits this long for the writer's transaction.
    sqlite3_busy_timeout(db, 5000);
    // The checkpoint's syncs follow this connection's setting.
    rc = sqlite3_exec(db,
                      synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                      nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK) {
    std::string reason = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return makeError(ErrorCode::kIo,
                     "spool " + path + ": cannot open a checkpoint connection: " + reason);
  }
  std::unique_ptr<WalCheckpointer> checkpointer(new WalCheckpointer(db, threshold_pages));
  checkpointer->thread_ = std::thread([raw = checkpointer.get()] { raw->run(); });
  return checkpointer;
}

WalCheckpointer::WalCheckpointer(sqlite3* db, int threshold_pages)
    : db_(db), threshold_pages_(threshold_pages) {}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  sqlite3_close_v2(db_);
}

void WalCheckpointer::attach(sqlite3* writer) {
  // Replaces SQLite's automatic checkpoint (which is itself a WAL hook).
  sqlite3_wal_autocheckpoint(writer, 0);
  sqlite3_wal_hook(writer, &WalCheckpointer::onWalCommit, this);
}

int WalCheckpointer::onWalCommit(void* self, sqlite3* /*db*/, const char* /*schema*/, int pages) {
  auto* checkpointer = static_cast<WalCheckpointer*>(self);
  if (pages < checkpointer->threshold_pages_) return SQLITE_OK;
  {
    std::lock_guard<std::mutex> lock(checkpointer->mutex_);
    if (pages >= checkpointer->threshold_pages_ * kRestartFactor) checkpointer->restart_ = true;
    if (checkpointer->requested_) return SQLITE_OK;
    checkpointer->requested_ = true;
  }
  checkpointer->wake_.notify_one();
  return SQLITE_OK;
}

void WalCheckpointer::run() {
  LogRateLimiter failures{1, std::chrono::seconds(60)};
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    const int mode = restart_ ? SQLITE_CHECKPOINT_RESTART : SQLITE_CHECKPOINT_PASSIVE;
    restart_ = false;
    lock.unlock();
    // PASSIVE: copy what no reader still needs and never wait for anyone;
    // the writer restarts the WAL from the top once all of it is copied.
    int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, mode, nullptr, nullptr);
    if (rc == SQLITE_OK) {
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
    } else if (rc != SQLITE_BUSY && failures.allow() != 0) {
      spdlog::warn("spool checkpoint failed: {}; the WAL file grows until one succeeds",
                   sqlite3_errmsg(db_));
    }
    lock.lock();
  }
}

}  // namespace edge::agent
