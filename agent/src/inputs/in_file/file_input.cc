// The file input: glob expansion, per-file polling with pread, line
// splitting with a bounded partial-line buffer, truncation and rotation
// handling, and deliveries sized to fit one spool batch.
#include "inputs/in_file/file_input.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace edge::agent {
namespace {

uint64_t monotonicMs() { return uv_hrtime() / 1000000; }

// Cuts `line` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view truncateUtf8(std::string_view line, size_t max) {
  if (line.size() <= max) return line;
  size_t cut = max;
  // Back off over continuation bytes (10xxxxxx), at most a sequence's length.
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80; ++i)
    --cut;
  return line.substr(0, cut);
}

}  // namespace

FileInput::FileInput(uv_loop_t* loop, FileInputConfig config, std::string hostname,
                     DeliveryLimits limits, InputSink& sink, MetricsRegistry& metrics)
    : loop_(loop),
      config_(std::move(config)),
      hostname_(std::move(hostname)),
      limits_(limits),
      sink_(sink),
      events_read_(metrics.counter("edge_agent_events_read_total", "Events read by inputs",
                                   {{"input", config_.name}})),
      lines_truncated_(metrics.counter("edge_agent_lines_truncated_total",
                                       "Lines longer than max_line_bytes, emitted truncated",
                                       {{"input", config_.name}})) {
  if (limits_.max_events == 0) limits_.max_events = 1;
}

FileInput::~FileInput() {
  for (auto& [path, file] : files_) closeFd(*file);
}

Result<void> FileInput::start(std::vector<InputPosition> saved) {
  if (started_) return makeError(ErrorCode::kInternal, "input " + config_.name + " started twice");
  for (InputPosition& pos : saved) {
    std::string path = pos.path;
    saved_.emplace(std::move(path), std::move(pos));
  }
  int rc = uv_timer_init(loop_, &timer_);
  if (rc != 0) {
    return makeError(
        ErrorCode::kInternal,
        "input " + config_.name + ": cannot create its poll timer: " + uv_strerror(rc));
  }
  timer_.data = this;
  timer_initialized_ = true;
  started_ = true;
  scheduleNext(true);
  return okResult();
}

void FileInput::pause() {
  if (paused_) return;
  paused_ = true;
  if (timer_initialized_ && !closed_) uv_timer_stop(&timer_);
}

void FileInput::resume() {
  if (!paused_) return;
  paused_ = false;
  scheduleNext(true);
}

void FileInput::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [path, file] : files_) closeFd(*file);
  files_.clear();
  if (timer_initialized_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

InputStats FileInput::stats() const { return stats_; }

void FileInput::onTimer(uv_timer_t* timer) { static_cast<FileInput*>(timer->data)->poll(); }

void FileInput::pollNow() { poll(); }

void FileInput::scheduleNext(bool immediately) {
  if (!started_ || paused_ || closed_) return;
  uint64_t delay = immediately ? 0 : static_cast<uint64_t>(config_.poll_interval.count());
  uv_timer_start(&timer_, &FileInput::onTimer, delay, 0);
}

void FileInput::poll() {
  if (closed_ || paused_) return;
  if (!first_scan_done_ ||
      monotonicMs() - last_rescan_ms_ >= static_cast<uint64_t>(rescan_interval_.count())) {
    rescan();
  }
  bool budget_hit = false;
  for (auto it = files_.begin(); it != files_.end() && !closed_;) {
    WatchedFile& file = *it->second;
    checkFile(file, budget_hit);
    if (file.fd < 0) {
      it = files_.erase(it);
    } else {
      ++it;
    }
    // The sink may have paused us (spool full): stop reading now.
    if (paused_) break;
  }
  scheduleNext(budget_hit);
}

void FileInput::countError() { ++stats_.errors; }

void FileInput::rescan() {
  last_rescan_ms_ = monotonicMs();
  std::set<std::string> matches;
  for (const std::string& pattern : config_.paths) {
    glob_t found{};
    int rc = ::glob(pattern.c_str(), 0, nullptr, &found);
    if (rc == 0) {
      for (size_t i = 0; i < found.gl_pathc; ++i) matches.insert(found.gl_pathv[i]);
    } else if (rc != GLOB_NOMATCH) {
      countError();
      if (uint64_t n = error_log_.allow(); n != 0) {
        spdlog::warn(
            "input {}: cannot expand the pattern {} ({}); check the directory's permissions",
            config_.name, pattern, rc == GLOB_NOSPACE ? "out of memory" : "read error");
      }
    }
    globfree(&found);
  }
  for (const std::string& path : matches) {
    if (files_.find(path) == files_.end()) openFile(path, !first_scan_done_);
  }
  first_scan_done_ = true;
}

void FileInput::openFile(const std::string& path, bool first_scan) {
  if (files_.size() >= kMaxFiles) {
    countError();
    if (uint64_t n = error_log_.allow(); n != 0) {
      spdlog::warn(
          "input {}: more than {} files match its paths; not reading {}: narrow the patterns or "
          "split "
          "the input",
          config_.name, kMaxFiles, path);
    }
    return;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return;  // gone between glob and open
    auto [it, inserted] = open_errors_.emplace(path, err);
    if (inserted || it->second != err) {
      it->second = err;
      countError();
      spdlog::warn("input {}: cannot open {}: {}; give the agent read access (it retries)",
                   config_.name, path, std::strerror(err));
    }
    return;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    auto [it, inserted] = open_errors_.emplace(path, -1);
    if (inserted) spdlog::debug("input {}: {} is not a regular file; skipped", config_.name, path);
    return;
  }
  open_errors_.erase(path);

  auto file = std::make_unique<WatchedFile>();
  file->path = path;
  file->fd = fd;
  file->device = static_cast<uint64_t>(st.st_dev);
  file->inode = static_cast<uint64_t>(st.st_ino);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0;

  auto saved = saved_.find(path);
  if (saved != saved_.end()) {
    const InputPosition& pos = saved->second;
    if (pos.device == file->device && pos.inode == file->inode && pos.offset <= size) {
      offset = pos.offset;
      file->reported = true;
      file->reported_offset = offset;
      spdlog::debug("input {}: resuming {} at offset {}", config_.name, path, offset);
    } else {
      // Rotated or replaced while the agent was not running. The rest of the
      // old file (now under another name) is not read.
      spdlog::info(
          "input {}: {} is not the file of the saved position (inode {} -> {}, size {}, saved "
          "offset "
          "{}); reading it from the start",
          config_.name, path, pos.inode, file->inode, size, pos.offset);
    }
    saved_.erase(saved);
  } else if (first_scan && config_.start_at == StartAt::kEnd && size > 0) {
    // Start after the last complete line, so a line being written is read whole.
    uint64_t tail = std::min<uint64_t>(size, kReadChunk);
    std::string buf(tail, '\0');
    ssize_t n = ::pread(fd, buf.data(), tail, static_cast<off_t>(size - tail));
    offset = size;
    if (n == static_cast<ssize_t>(tail)) {
      size_t nl = buf.rfind('\n');
      if (nl != std::string::npos) offset = size - tail + nl + 1;
    }
  }
  file->read_offset = offset;
  file->line_offset = offset;
  spdlog::debug("input {}: watching {} from offset {}", config_.name, path, offset);
  files_.emplace(path, std::move(file));
}

void FileInput::closeFd(WatchedFile& file) {
  if (file.fd >= 0) ::close(file.fd);
  file.fd = -1;
}

void FileInput::checkFile(WatchedFile& file, bool& budget_hit) {
  struct stat st {};
  if (::stat(file.path.c_str(), &st) != 0) {
    // Deleted, or renamed away with no new file yet: finish what is there.
    ReadOutcome outcome = readFile(file, true);
    deliverPending(file);
    if (outcome == ReadOutcome::kMore) {
      budget_hit = !paused_;
      return;
    }
    spdlog::info("input {}: {} was removed or renamed; finished reading it", config_.name,
                 file.path);
    closeFd(file);
    return;
  }
  if (static_cast<uint64_t>(st.st_dev) != file.device ||
      static_cast<uint64_t>(st.st_ino) != file.inode) {
    // Rotated by rename: the old file is finished (to EOF) before the new
    // one is read, so lines stay in order.
    ReadOutcome outcome = readFile(file, true);
    deliverPending(file);
    if (outcome == ReadOutcome::kMore) {
      budget_hit = !paused_;
      return;
    }
    int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat nst {};
    if (fd >= 0 && (::fstat(fd, &nst) != 0 || !S_ISREG(nst.st_mode))) {
      ::close(fd);
      fd = -1;
    }
    closeFd(file);
    if (fd < 0) return;  // rescan picks the new file up later
    spdlog::info("input {}: {} was rotated; reading the new file from the start", config_.name,
                 file.path);
    file.fd = fd;
    file.device = static_cast<uint64_t>(nst.st_dev);
    file.inode = static_cast<uint64_t>(nst.st_ino);
    file.read_offset = 0;
    file.line_offset = 0;
    file.reported = false;
    file.partial.clear();
    file.discarding = false;
    st = nst;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < file.read_offset) {
    spdlog::info("input {}: {} was truncated (size {} < offset {}); reading it from the start",
                 config_.name, file.path, size, file.read_offset);
    file.read_offset = 0;
    file.line_offset = 0;
    file.partial.clear();
    file.discarding = false;
  }
  if (size > file.read_offset && readFile(file, false) == ReadOutcome::kMore && !paused_)
    budget_hit = true;
  deliverPending(file);
}

FileInput::ReadOutcome FileInput::readFile(WatchedFile& file, bool at_eof_final) {
  if (file.fd < 0) return ReadOutcome::kError;
  buffer_.resize(kReadChunk);
  uint64_t budget = kReadBudgetPerPoll;
  bool eof = false;
  while (budget > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kReadChunk, budget));
    ssize_t n = ::pread(file.fd, buffer_.data(), want, static_cast<off_t>(file.read_offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      countError();
      if (uint64_t logged = error_log_.allow(); logged != 0) {
        spdlog::warn("input {}: read error on {} at offset {}: {}", config_.name, file.path,
                     file.read_offset, std::strerror(errno));
      }
      return ReadOutcome::kError;
    }
    if (n == 0) {
      eof = true;
      break;
    }
    budget -= static_cast<uint64_t>(n);

    // Split lines. `base` is the file offset of buffer_[0].
    const char* data = buffer_.data();
    size_t len = static_cast<size_t>(n);
    uint64_t base = file.read_offset;
    size_t pos = 0;
    const size_t cap = config_.max_line_bytes + 1;  // +1 leaves room for a '\r' before '\n'
    while (pos < len) {
      const void* found = std::memchr(data + pos, '\n', len - pos);
      size_t end =
          found != nullptr ? static_cast<size_t>(static_cast<const char*>(found) - data) : len;
      size_t take = std::min(end - pos, cap - std::min(cap, file.partial.size()));
      file.partial.append(data + pos, take);
      if (take < end - pos) file.discarding = true;
      if (found == nullptr) break;
      std::string_view line = file.partial;
      bool truncated = file.discarding;
      if (!truncated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.size() > config_.max_line_bytes) truncated = true;
      if (truncated) line = truncateUtf8(line, config_.max_line_bytes);
      emitLine(file, line, truncated);
      file.line_offset = base + end + 1;
      file.partial.clear();
      file.discarding = false;
      pos = end + 1;
    }
    file.read_offset = base + len;
    if (paused_ || closed_) return ReadOutcome::kMore;
  }
  if (eof && at_eof_final && (!file.partial.empty() || file.discarding)) {
    // The file is finished: its unterminated last line is a line too.
    std::string_view line = file.partial;
    bool truncated = file.discarding;
    if (!truncated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > config_.max_line_bytes) truncated = true;
    if (truncated) line = truncateUtf8(line, config_.max_line_bytes);
    emitLine(file, line, truncated);
    file.line_offset = file.read_offset;
    file.partial.clear();
    file.discarding = false;
  }
  return eof ? ReadOutcome::kEof : ReadOutcome::kMore;
}

void FileInput::emitLine(WatchedFile& file, std::string_view line, bool truncated) {
  Event event;
  event.ts_ns = nowNs();
  event.kind = config_.kind;
  event.source = file.path;
  event.host = hostname_;
  event.raw.assign(line);
  event.fields.push_back(Field{"path", file.path});
  uint64_t bytes = estimateEventBytes(event);
  // Deliver first if this line would not fit: the delivered position is then
  // exactly the end of the delivered lines.
  if (!pending_events_.empty() && (pending_events_.size() >= limits_.max_events ||
                                   pending_bytes_ + bytes > limits_.max_bytes)) {
    deliverPending(file);
  }
  pending_events_.push_back(std::move(event));
  pending_bytes_ += bytes;
  ++stats_.events_read;
  events_read_.inc();
  if (truncated) {
    ++stats_.lines_truncated;
    lines_truncated_.inc();
    if (uint64_t n = error_log_.allow(); n != 0) {
      spdlog::warn(
          "input {}: a line in {} is longer than max_line_bytes ({}) and was truncated; raise "
          "max_line_bytes to keep such lines whole",
          config_.name, file.path, config_.max_line_bytes);
    }
  }
}

void FileInput::deliverPending(WatchedFile& file) {
  bool position_changed = !file.reported || file.reported_offset != file.line_offset;
  if (pending_events_.empty() && !position_changed) return;
  std::vector<InputPosition> positions;
  positions.push_back(
      InputPosition{config_.name, file.path, file.device, file.inode, file.line_offset});
  file.reported = true;
  file.reported_offset = file.line_offset;
  std::vector<Event> events = std::move(pending_events_);
  pending_events_.clear();
  pending_bytes_ = 0;
  sink_.deliver(config_.name, std::move(events), std::move(positions));
}

}  // namespace edge::agent
