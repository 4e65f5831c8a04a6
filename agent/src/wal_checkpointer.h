// Runs the spool's WAL checkpoints on a thread of their own.
//
// SQLite's automatic checkpoint runs inside whichever COMMIT pushes the WAL
// past its threshold, on the agent's event loop, and it fsyncs the WAL and
// the database file. Under load that stalled the loop for the length of an
// fsync every few megabytes. Here the spool's connection only reports how
// big the WAL got (sqlite3_wal_hook); a second connection on this thread
// copies the WAL back into the database with PASSIVE checkpoints, which never
// block the writer. Durability is unchanged: a commit is in the WAL either
// way, and synchronous=FULL still syncs every commit on the writer.
//
// A PASSIVE checkpoint copies only frames written before it started; under
// steady writing it never catches up completely, and only a complete one
// lets the writer start the WAL over. So past kRestartFactor x the threshold
// the thread runs a RESTART checkpoint, which makes the writer wait (its
// busy timeout) for the rest to be copied — the stall SQLite's own
// checkpoint has at every threshold, here only every kRestartFactor of them.
// That bounds the WAL file at about kRestartFactor x threshold pages.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "edge/common/result.h"

namespace edge::agent {

class WalCheckpointer {
 public:
  static constexpr int kDefaultThresholdPages = 1000;  // SQLite's own default
  static constexpr int kRestartFactor = 4;

  // Opens a second connection to `path` (which must already be in WAL mode)
  // and starts the thread; `synchronous_full` matches the spool's setting.
  static Result<std::unique_ptr<WalCheckpointer>> start(const std::string& path,
                                                        bool synchronous_full,
                                                        int threshold_pages);
  ~WalCheckpointer();  // stops and joins the thread, closes its connection
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Installs the hook on the writer's connection: after each commit SQLite
  // tells how many pages the WAL holds; past the threshold the thread wakes.
  // Call on the writer's thread; the checkpointer must outlive `writer`'s use.
  void attach(sqlite3* writer);

  uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }

 private:
  WalCheckpointer(sqlite3* db, int threshold_pages);
  static int onWalCommit(void* self, sqlite3* db, const char* schema, int pages);
  void run();

  sqlite3* db_;
  const int threshold_pages_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool restart_ = false;  // the next checkpoint must be a RESTART
  bool stopping_ = false;
  std::atomic<uint64_t> checkpoints_{0};
  std::thread thread_;
};

}  // namespace edge::agent
