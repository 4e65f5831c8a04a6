// out_file: writes events as NDJSON (one object per line: agent_id, then the
// event as docs/lua.md "Event NDJSON" describes it) into files in a
// directory, and acks a group of batches only after fdatasync() of every
// file it wrote to.
//
//   sinks:
//     file:
//       directory: /var/lib/edge-gateway/ndjson   # default <data_dir>/ndjson
//       name: events            # file <name>.ndjson; a route's table (if
//                               # rendered) picks <table>.ndjson instead
//       rotate_bytes: 128MiB    # rotate when a file reaches this size ...
//       rotate_interval: 1h     # ... or is this old (0 = never by time)
//       keep: 24                # rotated files kept per name; older deleted
//       fsync: true             # false: ack after write(), no power-loss safety
//
// Rotation renames <name>.ndjson to <name>-<UTC yyyymmddThhmmss.nnnnnnnnn>.ndjson
// and starts a new file. A failed write is cut back to the last whole line
// (ftruncate) and reported kRetry, so a file never holds half an event.
// Unlike SQLite and PostgreSQL, a file cannot de-duplicate: an agent that
// resends after a crash between fsync and ack produces the lines again
// (at-least-once; (agent_id, seq) on every line lets a reader drop them).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/metrics.h"
#include "edge/gateway/queued_sink.h"
#include "edge/gateway/sink_factory.h"

namespace edge::sinks {

struct FileSinkOptions {
  std::string directory;  // "" = <data_dir>/ndjson
  std::string name = "events";
  uint64_t rotate_bytes = 128ull << 20;
  std::chrono::milliseconds rotate_interval{3'600'000};  // 0 = size only
  uint32_t keep = 24;
  bool fsync = true;
  size_t queue_max_batches = 64;
};

class FileSink final : public gateway::QueuedSink {
 public:
  FileSink(FileSinkOptions options, MetricsRegistry& metrics);
  ~FileSink() override;

  const std::string& directory() const { return options_.directory; }

 protected:
  Result<void> openStore() override;
  std::vector<gateway::SinkResult> commitGroup(
      std::span<const gateway::SinkBatchPtr> batches) override;
  void closeStore() override;

 private:
  struct OpenFile {
    int fd = -1;
    uint64_t size = 0;          // bytes of whole lines in the file
    int64_t opened_at_ns = 0;   // for rotate_interval
    std::string pending;        // this group's lines, written at once
  };
  Result<void> appendGroup(std::span<const gateway::SinkBatchPtr> batches);
  Result<OpenFile*> fileFor(const std::string& table);
  Result<void> rotateIfDue(const std::string& name, OpenFile& file);
  void removeOldRotations(const std::string& name);
  std::string pathOf(const std::string& name) const;

  FileSinkOptions options_;
  std::map<std::string, OpenFile> files_;  // by file name stem
  Counter& lines_written_;
  Counter& rotations_;
  Counter& rotated_files_deleted_;
};

// sinks.file: the reader the sink catalog calls.
gateway::SinkFactory readFileSink(ConfigNode& section);

}  // namespace edge::sinks
