// The file input ("type: file"): tails files matched by glob patterns, one
// event per line, or per record when multiline joining is configured. It
// polls on a libuv timer rather than using inotify so it behaves the same on
// every file system (NFS, overlayfs) and stays small.
//
// Per file it tracks (device, inode, offset). The offset it reports is
// always at the end of a complete record (line, or multiline record), so a
// restart never splits or repeats one. Rotation:
//  - by rename (the inode at the path changed): the old file is read to its
//    end, then kept open for rotate_wait in case the writer still appends to
//    it, while the new file is read from 0;
//  - by copytruncate (the size dropped below the offset, or the bytes before
//    the offset changed): the rest of the old content is read from the
//    rotated copy when one is found next to the file, then the file is read
//    from 0;
//  - deletion: the open file is read to its end, closed, and its position
//    forgotten.
// docs/agent.md describes the guarantees and the known copytruncate race.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "edge/agent/input.h"
#include "edge/agent/input_registry.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "inputs/in_file/start_pattern.h"

namespace edge::agent {

// Where a file input starts in a file that has no saved position.
enum class StartAt { kBeginning, kEnd };

struct MultilineConfig {
  std::string start_pattern;  // empty: one event per line
  uint32_t max_lines = 500;   // a longer record is cut into several events
  uint64_t max_bytes = 256 * 1024;
  // A record is complete when the next start line arrives, or when no line
  // was added for this long.
  std::chrono::milliseconds timeout{1000};
};

struct FileInputConfig {
  std::string name;                // unique among inputs; metrics label and position key
  std::vector<std::string> paths;  // glob(3) patterns
  StartAt start_at = StartAt::kBeginning;
  std::string kind = "log";
  uint64_t max_line_bytes = 64 * 1024;
  std::chrono::milliseconds poll_interval{250};
  // An unterminated last line is emitted once the file has not grown for
  // this long (0: only when the file is rotated or deleted).
  std::chrono::milliseconds partial_line_timeout{5000};
  // After a rotation by rename, how long the old file is still read for
  // lines its writer appends before reopening.
  std::chrono::milliseconds rotate_wait{5000};
  MultilineConfig multiline;
};

class FileInputSpec final : public InputSpec {
 public:
  FileInputSpec(InputCommonConfig common, FileInputConfig config)
      : InputSpec(std::move(common)), config_(std::move(config)) {}
  const FileInputConfig& config() const { return config_; }
  Result<std::unique_ptr<Input>> create(const InputContext& context) const override;

 private:
  FileInputConfig config_;
};

// The registry entry (type: file).
const InputTypeInfo& fileInputType();

class FileInput final : public Input {
 public:
  // Bytes read from one file per poll before yielding to the loop; the next
  // poll then comes immediately, so a large backlog does not starve the
  // shipper.
  static constexpr uint64_t kReadBudgetPerPoll = 1 << 20;
  static constexpr size_t kReadChunk = 64 * 1024;
  // Open files per input; more matches are counted as errors and skipped.
  static constexpr size_t kMaxFiles = 1024;
  // Bytes before the read offset remembered to recognise the same content
  // (copytruncate detection and finding the rotated copy).
  static constexpr size_t kFingerprintBytes = 64;
  // How long a path whose file went away is checked on every poll.
  static constexpr uint64_t kVacatedWatchMs = 60000;

  // A bad multiline pattern is reported by create(); here it disables joining.
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
  // Replaces the monotonic millisecond clock used for the timeouts (tests).
  void setClock(std::function<uint64_t()> clock) { clock_ = std::move(clock); }

 private:
  struct WatchedFile {
    std::string path;
    int fd = -1;
    uint64_t device = 0;
    uint64_t inode = 0;
    uint64_t read_offset = 0;      // bytes consumed from the file
    uint64_t line_offset = 0;      // just after the last emitted record
    bool reported = false;         // a position was delivered for this file
    uint64_t reported_offset = 0;  // the last delivered position
    bool rotated = false;          // renamed away; read until idle for rotate_wait
    std::string partial;           // an incomplete line, at most max_line_bytes + 1
    bool discarding = false;       // the current line is too long; skipping to its end
    uint64_t last_growth_ms = 0;   // when bytes were last read
    // Multiline: the record being joined, and the file offset after its
    // last line.
    std::string record;
    uint32_t record_lines = 0;
    bool record_truncated = false;
    uint64_t record_end = 0;
    uint64_t last_line_ms = 0;
    // The last bytes before read_offset (at most kFingerprintBytes).
    std::string fingerprint;
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
  // end of the last line and record (the file is finished).
  ReadOutcome readFile(WatchedFile& file, bool at_eof_final, int fd = -1);
  void checkFile(WatchedFile& file, bool& budget_hit);
  // Reads an old rotated file; true when it is finished and can be closed.
  bool checkRotated(WatchedFile& file, bool& budget_hit);
  // The file shrank or its content changed under the offset: read the rest
  // of the old content from the rotated copy if one is found, then start
  // the file over at 0.
  void handleTruncation(WatchedFile& file, uint64_t size);
  bool fingerprintMatches(int fd, const WatchedFile& file) const;
  int findRotatedCopy(const WatchedFile& file) const;
  // At start: a saved position whose file is no longer at its path is
  // looked up by inode next to it and drained from the saved offset.
  void recoverRotated(const InputPosition& saved);
  // A complete line (without its newline) ending at file offset `end`.
  void onLine(WatchedFile& file, std::string_view line, bool truncated, uint64_t end);
  void flushRecord(WatchedFile& file);
  // Emits records and partial lines that waited long enough.
  void checkTimeouts(WatchedFile& file);
  void finishFile(WatchedFile& file);
  void emit(WatchedFile& file, std::string_view text, bool truncated);
  // Hands the events read from `file` (and its position) to the sink.
  void deliverPending(WatchedFile& file);
  void forgetPosition(const WatchedFile& file);
  void closeFd(WatchedFile& file);
  void countError();
  void resetForNewContent(WatchedFile& file);

  uv_loop_t* loop_;
  FileInputConfig config_;
  std::string hostname_;
  DeliveryLimits limits_;
  InputSink& sink_;
  std::unique_ptr<StartPattern> start_pattern_;
  Counter& events_read_;
  Counter& lines_truncated_;
  uv_timer_t timer_{};
  bool timer_initialized_ = false;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  bool first_scan_done_ = false;
  std::chrono::milliseconds rescan_interval_{1000};
  std::function<uint64_t()> clock_;
  uint64_t last_rescan_ms_ = 0;

  std::map<std::string, std::unique_ptr<WatchedFile>> files_;
  std::vector<std::unique_ptr<WatchedFile>> rotated_;  // renamed away, still draining
  std::map<std::string, InputPosition> saved_;         // committed positions not yet used
  std::map<std::string, uint64_t> vacated_;            // path -> when its file went away
  std::map<std::string, int> open_errors_;             // last errno per path, to log once
  std::vector<char> buffer_;

  // The delivery being assembled for the file being read.
  std::vector<Event> pending_events_;
  uint64_t pending_bytes_ = 0;

  InputStats stats_;
  LogRateLimiter error_log_{5, std::chrono::seconds(60)};
};

}  // namespace edge::agent
