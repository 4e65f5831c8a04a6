// out_file: NDJSON files (see include/edge/sinks/file_sink.h).
#include "edge/sinks/file_sink.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "edge/common/event_json.h"

namespace edge::sinks {
namespace {

using gateway::SinkBatchPtr;
using gateway::SinkResult;
using gateway::SinkStatus;

std::string errnoText(int error) { return std::strerror(error); }

// A route's table becomes a file name: only characters that are safe in
// one path component, never a hidden or parent name.
std::string fileStem(const std::string& table, const std::string& fallback) {
  if (table.empty()) return fallback;
  std::string stem = table;
  for (char& c : stem) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.';
    if (!safe) c = '_';
  }
  if (stem.front() == '.') stem.front() = '_';
  return stem;
}

// "20261123T184501.123456789": sorts in time order.
std::string rotationStamp(int64_t now_ns) {
  const time_t seconds = static_cast<time_t>(now_ns / 1'000'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%04d%02d%02dT%02d%02d%02d.%09lld", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long long>(now_ns % 1'000'000'000));
  return buffer;
}

// `{"agent_id":"a1",` — every line of a batch starts with it, then the
// event's own JSON object without its opening brace.
std::string agentPrefix(const std::string& agent_id) {
  return "{\"agent_id\":" +
         nlohmann::json(agent_id).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         ",";
}

Result<void> writeAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return makeError(ErrorCode::kIo, errnoText(errno));
    }
    done += static_cast<size_t>(n);
  }
  return okResult();
}

}  // namespace

FileSink::FileSink(FileSinkOptions options, MetricsRegistry& metrics)
    : QueuedSink("file",
                 gateway::QueuedSinkOptions{.high_watermark = options.queue_max_batches,
                                            .max_group_batches = options.queue_max_batches},
                 metrics),
      options_(std::move(options)),
      lines_written_(metrics.counter("edge_gateway_file_sink_lines_total",
                                     "NDJSON lines the file sink wrote and synced")),
      rotations_(metrics.counter("edge_gateway_file_sink_rotations_total",
                                 "Files the file sink rotated")),
      rotated_files_deleted_(
          metrics.counter("edge_gateway_file_sink_rotated_files_deleted_total",
                          "Rotated files deleted because more than sinks.file.keep existed")) {}

FileSink::~FileSink() { stop(); }

std::string FileSink::pathOf(const std::string& name) const {
  return options_.directory + "/" + name + ".ndjson";
}

Result<void> FileSink::openStore() {
  std::error_code ec;
  std::filesystem::create_directories(options_.directory, ec);
  if (ec || ::access(options_.directory.c_str(), W_OK) != 0) {
    return makeError(ErrorCode::kIo, "file sink: cannot write to directory " + options_.directory +
                                         ": " + (ec ? ec.message() : errnoText(errno)) +
                                         "; create it for this user or set sinks.file.directory");
  }
  spdlog::info("file sink: writing NDJSON to {} (rotate at {} bytes or {} s, keep {}, fsync {})",
               pathOf(options_.name), options_.rotate_bytes,
               options_.rotate_interval.count() / 1000, options_.keep, options_.fsync);
  return okResult();
}

void FileSink::closeStore() {
  for (auto& [name, file] : files_) {
    if (file.fd >= 0) ::close(file.fd);
  }
  files_.clear();
}

Result<FileSink::OpenFile*> FileSink::fileFor(const std::string& name) {
  auto it = files_.find(name);
  if (it != files_.end()) return &it->second;
  const std::string path = pathOf(name);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    return makeError(ErrorCode::kIo, "cannot open " + path + ": " + errnoText(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  OpenFile file;
  file.fd = fd;
  file.size = static_cast<uint64_t>(st.st_size);
  file.opened_at_ns = nowNs();
  return &files_.emplace(name, std::move(file)).first->second;
}

Result<void> FileSink::rotateIfDue(const std::string& name, OpenFile& file) {
  if (file.size == 0) return okResult();
  const int64_t now = nowNs();
  const bool by_size = file.size >= options_.rotate_bytes;
  const bool by_age =
      options_.rotate_interval.count() > 0 &&
      now - file.opened_at_ns >= static_cast<int64_t>(options_.rotate_interval.count()) * 1'000'000;
  if (!by_size && !by_age) return okResult();

  const std::string path = pathOf(name);
  const std::string rotated = options_.directory + "/" + name + "-" + rotationStamp(now) + ".ndjson";
  ::close(file.fd);
  file.fd = -1;
  if (::rename(path.c_str(), rotated.c_str()) != 0) {
    files_.erase(name);
    return makeError(ErrorCode::kIo, "cannot rotate " + path + ": " + errnoText(errno));
  }
  files_.erase(name);
  rotations_.inc();
  removeOldRotations(name);
  // The rename must survive a crash before the new file's first sync.
  if (const int dir = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return okResult();
}

void FileSink::removeOldRotations(const std::string& name) {
  std::vector<std::string> rotated;
  std::error_code ec;
  const std::string prefix = name + "-";
  for (const auto& entry : std::filesystem::directory_iterator(options_.directory, ec)) {
    const std::string file = entry.path().filename().string();
    if (file.size() > prefix.size() + 7 && file.compare(0, prefix.size(), prefix) == 0 &&
        file.ends_with(".ndjson") && file[prefix.size()] >= '0' && file[prefix.size()] <= '9') {
      rotated.push_back(file);
    }
  }
  if (rotated.size() <= options_.keep) return;
  std::sort(rotated.begin(), rotated.end());  // the stamp sorts by time
  for (size_t i = 0; i + options_.keep < rotated.size(); ++i) {
    if (std::filesystem::remove(options_.directory + "/" + rotated[i], ec)) {
      rotated_files_deleted_.inc();
    }
  }
}

Result<void> FileSink::appendGroup(std::span<const SinkBatchPtr> batches) {
  // Lines per file first: one write() and one fdatasync() per file and group.
  std::vector<std::pair<std::string, OpenFile*>> touched;
  for (const SinkBatchPtr& batch : batches) {
    const std::string name = fileStem(batch->table, options_.name);
    auto seen = std::find_if(touched.begin(), touched.end(),
                             [&name](const auto& entry) { return entry.first == name; });
    OpenFile* file = seen != touched.end() ? seen->second : nullptr;
    if (file == nullptr) {
      // Rotation happens between groups, never inside one.
      auto opened = fileFor(name);
      if (!opened) return opened.error();
      if (auto rotated = rotateIfDue(name, **opened); !rotated) return rotated.error();
      opened = fileFor(name);
      if (!opened) return opened.error();
      file = *opened;
      touched.emplace_back(name, file);
    }
    const std::string prefix = agentPrefix(batch->agent_id);
    for (const Event& event : batch->events) {
      const std::string json = eventToJson(event);
      file->pending += prefix;
      file->pending.append(json, 1, std::string::npos);
      file->pending += '\n';
    }
  }

  Result<void> status = okResult();
  for (auto& [name, file] : touched) {
    if (auto written = writeAll(file->fd, file->pending); !written) {
      status = makeError(ErrorCode::kIo, "cannot write " + pathOf(name) + ": " +
                                             written.error().message);
      break;
    }
  }
  if (status && options_.fsync) {
    for (auto& [name, file] : touched) {
      if (::fdatasync(file->fd) != 0) {
        status = makeError(ErrorCode::kIo, "cannot sync " + pathOf(name) + ": " + errnoText(errno));
        break;
      }
    }
  }
  for (auto& [name, file] : touched) {
    if (status) {
      file->size += file->pending.size();
    } else {
      // Back to the last whole line of every file of the group: the retry
      // writes these lines again and nothing may be there twice or in half.
      (void)::ftruncate(file->fd, static_cast<off_t>(file->size));
    }
    file->pending.clear();
  }
  return status;
}

std::vector<SinkResult> FileSink::commitGroup(std::span<const SinkBatchPtr> batches) {
  std::vector<SinkResult> results(batches.size());
  auto appended = appendGroup(batches);
  uint64_t lines = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (appended) {
      results[i].inserted = batches[i]->events.size();
      lines += batches[i]->events.size();
    } else {
      // Disk full or an I/O error: the agent keeps the events and resends.
      results[i].status = SinkStatus::kRetry;
      results[i].reason = "file sink: " + appended.error().message;
    }
  }
  if (appended) {
    lines_written_.inc(lines);
  } else {
    spdlog::warn("file sink: {}; {} batch(es) will be resent", appended.error().message,
                 batches.size());
  }
  return results;
}

gateway::SinkFactory readFileSink(ConfigNode& section) {
  section.rejectUnknownKeys({"enabled", "directory", "name", "rotate_bytes", "rotate_interval",
                             "keep", "fsync", "queue_max_batches"});
  if (!section.getBool("enabled", true)) return {};
  FileSinkOptions options;
  options.directory = section.getString("directory", "");
  options.name = section.getString("name", options.name);
  if (options.name.empty() || fileStem(options.name, "") != options.name) {
    section.addError("name", "expected a file name of letters, digits, '_', '-' or '.', got '" +
                                 options.name + "'");
  }
  options.rotate_bytes = section.getBytes("rotate_bytes", options.rotate_bytes);
  if (options.rotate_bytes < 4096) section.addError("rotate_bytes", "expected at least 4KiB");
  options.rotate_interval = section.getDuration("rotate_interval", options.rotate_interval);
  options.keep = static_cast<uint32_t>(section.getInt("keep", options.keep, 1, 100'000));
  options.fsync = section.getBool("fsync", options.fsync);
  options.queue_max_batches =
      static_cast<size_t>(section.getInt("queue_max_batches", 64, 1, 1'000'000));
  return [options](const gateway::SinkContext& context) mutable
             -> Result<std::shared_ptr<gateway::Sink>> {
    if (options.directory.empty()) options.directory = context.data_dir + "/ndjson";
    return std::shared_ptr<gateway::Sink>(std::make_shared<FileSink>(options, context.metrics));
  };
}

}  // namespace edge::sinks
