// The file input ("type: file"): tails files matched by glob patterns,
// one event per line. It polls on a libuv timer rather than using inotify so
// it behaves the same on every file system (NFS, overlayfs) and stays small.
//
// Per file it tracks (device, inode, offset). It detects truncation
// (size < offset: start over at 0) and rotation by rename (the inode at the
// path changed: finish the old file, then read the new one from 0). The
// offset it reports is always at the end of a complete line, so a restart
// never splits a line.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "edge/agent/agent_config.h"
#include "edge/agent/input.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"

namespace edge::agent {

class FileInput final : public Input {
 public:
  // Bytes read from one file per poll before yielding to the loop; the next
  // poll then comes immediately, so a large backlog does not starve the
  // shipper.
  static constexpr uint64_t kReadBudgetPerPoll = 1 << 20;
  static constexpr size_t kReadChunk = 64 * 1024;
  // Open files per input; more matches are counted as errors and skipped.
  static constexpr size_t kMaxFiles = 1024;

  FileInput(uv_loop_t* loop, FileInputConfig config, std::string hostname, DeliveryLimits limits,
            InputSink& sink, MetricsRegistry& metrics);
  ~FileInput() override;

  const std::string& name() const override { return config_.name; }
  std::string_view type() const override { return "file"; }
  Result<void> start(std::vector<InputPosition> saved) override;
  void pause() override;
  void resume() override;
  void close() override;
  InputStats stats() const override;

  // How often glob patterns are expanded again to find new files. Tests
  // shorten it.
  void setRescanInterval(std::chrono::milliseconds interval) { rescan_interval_ = interval; }

  // Runs one poll now (tests drive the input by hand with this).
  void pollNow();

 private:
  struct WatchedFile {
    std::string path;
    int fd = -1;
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t read_offset = 0;      // bytes consumed from the file
    uint64_t line_offset = 0;      // just after the last complete line
    bool reported = false;         // a position was delivered for this file
    uint64_t reported_offset = 0;  // the last delivered position
    std::string partial;           // an incomplete line, at most max_line_bytes + 1
    bool discarding = false;       // the current line is too long; skipping to its end
  };

  static void onTimer(uv_timer_t* timer);
  void poll();
  void scheduleNext(bool immediately);
  void rescan();
  void openFile(const std::string& path, bool first_scan);
  enum class ReadOutcome {
    kEof,    // read everything there was
    kMore,   // stopped early (read budget spent, or paused): data may be left
    kError,  // a read failed (counted and logged)
  };
  // Reads what was appended; at_eof_final treats the end of the file as the
  // end of the last line (the file was rotated away and is finished).
  ReadOutcome readFile(WatchedFile& file, bool at_eof_final);
  void checkFile(WatchedFile& file, bool& budget_hit);
  void emitLine(WatchedFile& file, std::string_view line, bool truncated);
  // Hands the events read from `file` (and its position) to the sink.
  void deliverPending(WatchedFile& file);
  void closeFd(WatchedFile& file);
  void countError();

  uv_loop_t* loop_;
  FileInputConfig config_;
  std::string hostname_;
  DeliveryLimits limits_;
  InputSink& sink_;
  Counter& events_read_;
  Counter& lines_truncated_;
  uv_timer_t timer_{};
  bool timer_initialized_ = false;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  bool first_scan_done_ = false;
  std::chrono::milliseconds rescan_interval_{1000};
  uint64_t last_rescan_ms_ = 0;

  std::map<std::string, std::unique_ptr<WatchedFile>> files_;
  std::map<std::string, InputPosition> saved_;  // committed positions not yet used
  std::map<std::string, int> open_errors_;      // last errno per path, to log once
  std::vector<char> buffer_;

  // The delivery being assembled for the file being read.
  std::vector<Event> pending_events_;
  uint64_t pending_bytes_ = 0;

  InputStats stats_;
  LogRateLimiter error_log_{5, std::chrono::seconds(60)};
};

}  // namespace edge::agent
