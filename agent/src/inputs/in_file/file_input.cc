// The file input: glob expansion, per-file polling with pread, line
// splitting with a bounded partial-line buffer, multiline joining, rotation
// (rename and copytruncate), truncation and deletion handling, and
// deliveries sized to fit one spool batch.
#include "inputs/in_file/file_input.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

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

bool readExactly(int fd, char* out, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool isCompressedName(std::string_view name) {
  for (std::string_view ext : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip"}) {
    if (name.ends_with(ext)) return true;
  }
  return false;
}

// --- configuration (type: file) ----------------------------------------------

constexpr uint64_t kMaxLineBytes = 4ull << 20;

std::unique_ptr<InputSpec> parseFileInput(const ConfigNode& node, InputCommonConfig common) {
  rejectUnknownInputKeys(node, {"paths", "start_at", "max_line_bytes", "poll_interval",
                                "partial_line_timeout", "rotate_wait", "multiline"});
  FileInputConfig config;
  config.name = common.name;
  config.kind = common.kind;
  config.paths = node.getStringList("paths", {"/var/log/*.log"});
  if (config.paths.empty()) node.addError("paths", "expected at least one path or glob pattern");
  for (const std::string& path : config.paths) {
    if (path.empty()) node.addError("paths", "expected non-empty paths");
  }
  config.start_at = node.getEnum("start_at", "beginning", {"beginning", "end"}) == "end"
                        ? StartAt::kEnd
                        : StartAt::kBeginning;
  config.max_line_bytes = node.getBytes("max_line_bytes", 64 * 1024);
  if (config.max_line_bytes < 16 || config.max_line_bytes > kMaxLineBytes) {
    node.addError("max_line_bytes", "expected a size between 16 and 4MiB");
  }
  config.poll_interval = node.getDuration("poll_interval", std::chrono::milliseconds(250));
  if (config.poll_interval < std::chrono::milliseconds(10) ||
      config.poll_interval > std::chrono::hours(1)) {
    node.addError("poll_interval", "expected a duration between 10ms and 1h");
  }
  config.partial_line_timeout =
      node.getDuration("partial_line_timeout", std::chrono::milliseconds(5000));
  if (config.partial_line_timeout > std::chrono::hours(24)) {
    node.addError("partial_line_timeout", "expected a duration up to 24h (0 = never)");
  }
  config.rotate_wait = node.getDuration("rotate_wait", std::chrono::milliseconds(5000));
  if (config.rotate_wait > std::chrono::hours(1)) {
    node.addError("rotate_wait", "expected a duration up to 1h");
  }
  ConfigNode multiline = node["multiline"];
  if (multiline.exists()) {
    multiline.rejectUnknownKeys({"start_pattern", "max_lines", "max_bytes", "timeout"});
    config.multiline.start_pattern = multiline.requireString("start_pattern");
    if (!config.multiline.start_pattern.empty()) {
      if (auto compiled = StartPattern::compile(config.multiline.start_pattern); !compiled) {
        multiline.addError("start_pattern", compiled.error().message);
      }
    } else if (multiline["start_pattern"].exists()) {
      multiline.addError("start_pattern", "expected a regular expression such as '^\\S'");
    }
    config.multiline.max_lines =
        static_cast<uint32_t>(multiline.getInt("max_lines", 500, 1, 100000));
    config.multiline.max_bytes = multiline.getBytes("max_bytes", 256 * 1024);
    if (config.multiline.max_bytes < 16 || config.multiline.max_bytes > kMaxLineBytes) {
      multiline.addError("max_bytes", "expected a size between 16 and 4MiB");
    }
    config.multiline.timeout = multiline.getDuration("timeout", std::chrono::milliseconds(1000));
    if (config.multiline.timeout < std::chrono::milliseconds(1) ||
        config.multiline.timeout > std::chrono::hours(1)) {
      multiline.addError("timeout", "expected a duration between 1ms and 1h");
    }
  }
  return std::make_unique<FileInputSpec>(std::move(common), std::move(config));
}

}  // namespace

const InputTypeInfo& fileInputType() {
  static const InputTypeInfo kInfo{"file", "log", &parseFileInput, WhenFull::kBlock};
  return kInfo;
}

Result<std::unique_ptr<Input>> FileInputSpec::create(const InputContext& context) const {
  if (!config_.multiline.start_pattern.empty()) {
    // Validated at parse time; a failure here is only possible for specs
    // built in code.
    if (auto compiled = StartPattern::compile(config_.multiline.start_pattern); !compiled) {
      return makeError(ErrorCode::kConfig, "input " + config_.name +
                                               ": multiline.start_pattern: " +
                                               compiled.error().message);
    }
  }
  return std::unique_ptr<Input>(std::make_unique<FileInput>(
      context.loop, config_, context.hostname, context.limits, *context.sink, *context.metrics));
}

// --- the input ----------------------------------------------------------------

FileInput::FileInput(uv_loop_t* loop, FileInputConfig config, std::string hostname,
                     DeliveryLimits limits, InputSink& sink, MetricsRegistry& metrics)
    : loop_(loop),
      config_(std::move(config)),
      hostname_(std::move(hostname)),
      limits_(limits),
      sink_(sink),
      events_read_(metrics.counter("edge_agent_events_read_total", "Events read by inputs",
                                   {{"input", config_.name}})),
      lines_truncated_(metrics.counter(
          "edge_agent_lines_truncated_total",
          "Lines longer than max_line_bytes (or records over multiline.max_bytes), emitted "
          "truncated",
          {{"input", config_.name}})),
      clock_(&monotonicMs) {
  if (limits_.max_events == 0) limits_.max_events = 1;
  if (!config_.multiline.start_pattern.empty()) {
    auto compiled = StartPattern::compile(config_.multiline.start_pattern);
    if (compiled) {
      start_pattern_ = std::move(*compiled);
    } else {
      spdlog::error("input {}: {}; lines are not joined", config_.name, compiled.error().message);
    }
  }
}

FileInput::~FileInput() {
  for (auto& [path, file] : files_) closeFd(*file);
  for (auto& file : rotated_) closeFd(*file);
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
  // Records still being joined and unterminated lines are not emitted: their
  // position was not committed, so the next start reads them again whole.
  for (auto& [path, file] : files_) closeFd(*file);
  for (auto& file : rotated_) closeFd(*file);
  files_.clear();
  rotated_.clear();
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
      clock_() - last_rescan_ms_ >= static_cast<uint64_t>(rescan_interval_.count())) {
    rescan();
  }
  bool budget_hit = false;
  // Rotated files first: their lines are older than the new file's.
  for (auto it = rotated_.begin(); it != rotated_.end() && !closed_ && !paused_;) {
    if (checkRotated(**it, budget_hit)) {
      closeFd(**it);
      it = rotated_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::string> reopen;
  for (auto it = files_.begin(); it != files_.end() && !closed_ && !paused_;) {
    WatchedFile& file = *it->second;
    checkFile(file, budget_hit);
    if (file.rotated) {
      // Renamed away or deleted: drain it aside; whatever is at the path
      // now is a new file.
      std::string path = file.path;
      if (file.fd >= 0) rotated_.push_back(std::move(it->second));
      it = files_.erase(it);
      reopen.push_back(std::move(path));
    } else if (file.fd < 0) {
      it = files_.erase(it);
    } else {
      ++it;
    }
  }
  // A path whose file was renamed away or deleted is looked at on every
  // poll for a while, not only at the next rescan: an application reopens
  // its log within moments, and a new file that is rotated away before we
  // open it would be missed entirely.
  for (std::string& path : reopen) vacated_.insert_or_assign(std::move(path), clock_());
  for (auto it = vacated_.begin(); it != vacated_.end() && !closed_ && !paused_;) {
    const std::string& path = it->first;
    if (files_.find(path) == files_.end()) {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0) openFile(path, false);
    }
    auto found = files_.find(path);
    if (found != files_.end()) {
      spdlog::info("input {}: {} was rotated; reading the new file from the start", config_.name,
                   path);
      checkFile(*found->second, budget_hit);
      it = vacated_.erase(it);
    } else if (clock_() - it->second >= kVacatedWatchMs) {
      it = vacated_.erase(it);
    } else {
      ++it;
    }
  }
  scheduleNext(budget_hit);
}

void FileInput::countError() { ++stats_.errors; }

void FileInput::rescan() {
  last_rescan_ms_ = clock_();
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
    if (files_.find(path) == files_.end()) {
      openFile(path, !first_scan_done_);
      vacated_.erase(path);
    }
  }
  if (!first_scan_done_) {
    // Saved positions whose file vanished from its path while the agent was
    // stopped: drain the file if it was only renamed, and forget the path.
    for (auto it = saved_.begin(); it != saved_.end();) {
      struct stat st {};
      if (::stat(it->first.c_str(), &st) != 0) {
        recoverRotated(it->second);
        InputPosition gone = it->second;
        gone.forget = true;
        sink_.deliver(config_.name, {}, {std::move(gone)});
        it = saved_.erase(it);
      } else {
        ++it;
      }
    }
  }
  first_scan_done_ = true;
}

void FileInput::recoverRotated(const InputPosition& saved) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(saved.path).parent_path();
  if (dir.empty()) dir = ".";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string candidate = it->path().string();
    struct stat st {};
    if (::stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (static_cast<uint64_t>(st.st_dev) != saved.device ||
        static_cast<uint64_t>(st.st_ino) != saved.inode) {
      continue;
    }
    if (static_cast<uint64_t>(st.st_size) < saved.offset) return;  // rewritten; nothing to trust
    int fd = ::open(candidate.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    auto file = std::make_unique<WatchedFile>();
    file->path = saved.path;
    file->fd = fd;
    file->device = saved.device;
    file->inode = saved.inode;
    file->read_offset = saved.offset;
    file->line_offset = saved.offset;
    file->rotated = true;
    file->last_growth_ms = clock_();
    spdlog::info("input {}: {} was rotated to {} while the agent was stopped; reading its rest "
                 "from offset {}",
                 config_.name, saved.path, candidate, saved.offset);
    rotated_.push_back(std::move(file));
    return;
  }
}

void FileInput::openFile(const std::string& path, bool first_scan) {
  if (files_.size() >= kMaxFiles) {
    countError();
    if (uint64_t n = error_log_.allow(); n != 0) {
      spdlog::warn(
          "input {}: more than {} files match its paths; not reading {}: narrow the patterns or "
          "split the input",
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
  file->last_growth_ms = clock_();
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
    } else if (pos.device == file->device && pos.inode == file->inode) {
      spdlog::info(
          "input {}: {} is shorter ({}) than the saved offset {}: it was truncated while the "
          "agent was stopped; reading it from the start",
          config_.name, path, size, pos.offset);
    } else {
      spdlog::info(
          "input {}: {} is not the file of the saved position (inode {} -> {}); reading it from "
          "the start",
          config_.name, path, pos.inode, file->inode);
      recoverRotated(pos);
    }
    saved_.erase(saved);
  } else if (first_scan && config_.start_at == StartAt::kEnd && size > 0) {
    // Start after the last complete line, so a line being written is read whole.
    uint64_t tail = std::min<uint64_t>(size, kReadChunk);
    std::string buf(tail, '\0');
    offset = size;
    if (readExactly(fd, buf.data(), tail, size - tail)) {
      size_t nl = buf.rfind('\n');
      if (nl != std::string::npos) offset = size - tail + nl + 1;
    }
  }
  file->read_offset = offset;
  file->line_offset = offset;
  if (offset > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(offset, kFingerprintBytes));
    file->fingerprint.resize(n);
    if (!readExactly(fd, file->fingerprint.data(), n, offset - n)) file->fingerprint.clear();
  }
  spdlog::debug("input {}: watching {} from offset {}", config_.name, path, offset);
  files_.emplace(path, std::move(file));
}

void FileInput::closeFd(WatchedFile& file) {
  if (file.fd >= 0) ::close(file.fd);
  file.fd = -1;
}

void FileInput::resetForNewContent(WatchedFile& file) {
  file.read_offset = 0;
  file.line_offset = 0;
  file.partial.clear();
  file.discarding = false;
  file.record.clear();
  file.record_lines = 0;
  file.record_truncated = false;
  file.record_end = 0;
  file.fingerprint.clear();
}

bool FileInput::fingerprintMatches(int fd, const WatchedFile& file) const {
  size_t n = file.fingerprint.size();
  if (n == 0 || file.read_offset < n) return false;
  std::string bytes(n, '\0');
  return readExactly(fd, bytes.data(), n, file.read_offset - n) && bytes == file.fingerprint;
}

int FileInput::findRotatedCopy(const WatchedFile& file) const {
  namespace fs = std::filesystem;
  if (file.fingerprint.empty()) return -1;
  fs::path path(file.path);
  std::string base = path.filename().string();
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  int best_fd = -1;
  int64_t best_mtime = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name == base || !name.starts_with(base) || isCompressedName(name)) continue;
    int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_ino) == file.inode ||
        static_cast<uint64_t>(st.st_size) < file.read_offset || !fingerprintMatches(fd, file)) {
      ::close(fd);
      continue;
    }
    // Several generations may match (rotations of identical content); the
    // newest is the copy just made.
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (best_fd < 0 || mtime > best_mtime) {
      if (best_fd >= 0) ::close(best_fd);
      best_fd = fd;
      best_mtime = mtime;
    } else {
      ::close(fd);
    }
  }
  return best_fd;
}

void FileInput::handleTruncation(WatchedFile& file, uint64_t size) {
  int copy = findRotatedCopy(file);
  if (copy >= 0) {
    spdlog::info(
        "input {}: {} was truncated (copytruncate: size {} < offset {}); reading the rest of the "
        "old content from its rotated copy, then the file from the start",
        config_.name, file.path, size, file.read_offset);
    // The copy's rest is what was appended between our last read and the
    // copy: small, read now in full.
    while (!closed_ && readFile(file, true, copy) == ReadOutcome::kMore) {
    }
    ::close(copy);
  } else {
    spdlog::info(
        "input {}: {} was truncated (size {}, offset {}); reading it from the start{}", config_.name,
        file.path, size, file.read_offset,
        file.fingerprint.empty() ? "" : " (no rotated copy with the old content was found)");
    // What was read of the old content is finished.
    finishFile(file);
  }
  deliverPending(file);
  resetForNewContent(file);
}

void FileInput::checkFile(WatchedFile& file, bool& budget_hit) {
  struct stat st {};
  bool gone = ::stat(file.path.c_str(), &st) != 0;
  if (gone || static_cast<uint64_t>(st.st_dev) != file.device ||
      static_cast<uint64_t>(st.st_ino) != file.inode) {
    // Renamed away (rotation) or deleted. Everything written so far is read
    // now, before the new file, so lines stay in order; the old file is then
    // drained for rotate_wait (its writer may not have reopened yet).
    while (!closed_ && readFile(file, false) == ReadOutcome::kMore) {
    }
    if (gone) {
      spdlog::info("input {}: {} was removed or renamed; finishing the open file", config_.name,
                   file.path);
      deliverPending(file);
      InputPosition forget{config_.name, file.path, file.device, file.inode, 0, true};
      sink_.deliver(config_.name, {}, {std::move(forget)});
    } else {
      deliverPending(file);
    }
    file.rotated = true;
    file.last_growth_ms = clock_();
    if (config_.rotate_wait.count() == 0) {
      // Not drained: finish it now so its last line precedes the new file's.
      finishFile(file);
      deliverPending(file);
      closeFd(file);
    }
    return;
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < file.read_offset) {
    handleTruncation(file, size);
  } else if (size > file.read_offset && !file.fingerprint.empty() &&
             !fingerprintMatches(file.fd, file)) {
    // Truncated and rewritten past our offset between two polls.
    handleTruncation(file, size);
  }
  if (size > file.read_offset && readFile(file, false) == ReadOutcome::kMore && !paused_)
    budget_hit = true;
  checkTimeouts(file);
  deliverPending(file);
}

bool FileInput::checkRotated(WatchedFile& file, bool& budget_hit) {
  ReadOutcome outcome = readFile(file, false);
  if (outcome == ReadOutcome::kMore) {
    if (!paused_) budget_hit = true;
    deliverPending(file);
    return false;
  }
  checkTimeouts(file);
  if (outcome == ReadOutcome::kError ||
      clock_() - file.last_growth_ms >= static_cast<uint64_t>(config_.rotate_wait.count())) {
    finishFile(file);
    deliverPending(file);
    spdlog::debug("input {}: finished the rotated file that was {}", config_.name, file.path);
    return true;
  }
  deliverPending(file);
  return false;
}

FileInput::ReadOutcome FileInput::readFile(WatchedFile& file, bool at_eof_final, int fd) {
  if (fd < 0) fd = file.fd;
  if (fd < 0) return ReadOutcome::kError;
  buffer_.resize(kReadChunk);
  uint64_t budget = kReadBudgetPerPoll;
  bool eof = false;
  while (budget > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kReadChunk, budget));
    ssize_t n = ::pread(fd, buffer_.data(), want, static_cast<off_t>(file.read_offset));
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
    file.last_growth_ms = clock_();

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
      if (take == end - pos && file.partial.empty() && found != nullptr) {
        // The common case: a whole line inside the buffer, no copy.
        std::string_view line(data + pos, take);
        bool truncated = false;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > config_.max_line_bytes) {
          truncated = true;
          line = truncateUtf8(line, config_.max_line_bytes);
        }
        onLine(file, line, truncated, base + end + 1);
        pos = end + 1;
        continue;
      }
      file.partial.append(data + pos, take);
      if (take < end - pos) file.discarding = true;
      if (found == nullptr) break;
      std::string_view line = file.partial;
      bool truncated = file.discarding;
      if (!truncated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.size() > config_.max_line_bytes) truncated = true;
      if (truncated) line = truncateUtf8(line, config_.max_line_bytes);
      onLine(file, line, truncated, base + end + 1);
      file.partial.clear();
      file.discarding = false;
      pos = end + 1;
    }
    file.read_offset = base + len;
    if (len >= kFingerprintBytes) {
      file.fingerprint.assign(data + len - kFingerprintBytes, kFingerprintBytes);
    } else {
      file.fingerprint.append(data, len);
      if (file.fingerprint.size() > kFingerprintBytes)
        file.fingerprint.erase(0, file.fingerprint.size() - kFingerprintBytes);
    }
    if (paused_ || closed_) return ReadOutcome::kMore;
  }
  if (eof && at_eof_final) finishFile(file);
  return eof ? ReadOutcome::kEof : ReadOutcome::kMore;
}

void FileInput::onLine(WatchedFile& file, std::string_view line, bool truncated, uint64_t end) {
  if (!start_pattern_) {
    emit(file, line, truncated);
    file.line_offset = end;
    return;
  }
  if (file.record_lines > 0 && start_pattern_->matches(line)) flushRecord(file);
  if (file.record_lines > 0) {
    if (file.record.size() + 1 + line.size() > config_.multiline.max_bytes) {
      size_t room = config_.multiline.max_bytes - std::min<size_t>(config_.multiline.max_bytes,
                                                                   file.record.size() + 1);
      if (room > 0) {
        file.record += '\n';
        file.record.append(truncateUtf8(line, room));
      }
      file.record_truncated = true;
    } else {
      file.record += '\n';
      file.record.append(line);
    }
  } else {
    file.record.assign(line.substr(0, std::min<size_t>(line.size(), config_.multiline.max_bytes)));
    if (line.size() > config_.multiline.max_bytes) file.record_truncated = true;
  }
  file.record_truncated = file.record_truncated || truncated;
  ++file.record_lines;
  file.record_end = end;
  file.last_line_ms = clock_();
  if (file.record_lines >= config_.multiline.max_lines) flushRecord(file);
}

void FileInput::flushRecord(WatchedFile& file) {
  if (file.record_lines == 0) return;
  emit(file, file.record, file.record_truncated);
  file.line_offset = file.record_end;
  file.record.clear();
  file.record_lines = 0;
  file.record_truncated = false;
}

void FileInput::checkTimeouts(WatchedFile& file) {
  uint64_t now = clock_();
  if ((!file.partial.empty() || file.discarding) && config_.partial_line_timeout.count() > 0 &&
      now - file.last_growth_ms >= static_cast<uint64_t>(config_.partial_line_timeout.count())) {
    // The writer left a line without its newline: take it as complete.
    std::string line = std::move(file.partial);
    bool truncated = file.discarding;
    file.partial.clear();
    file.discarding = false;
    if (line.size() > config_.max_line_bytes) {
      truncated = true;
      line.resize(truncateUtf8(line, config_.max_line_bytes).size());
    }
    onLine(file, line, truncated, file.read_offset);
  }
  if (file.record_lines > 0 &&
      now - file.last_line_ms >= static_cast<uint64_t>(config_.multiline.timeout.count())) {
    flushRecord(file);
  }
}

void FileInput::finishFile(WatchedFile& file) {
  if (!file.partial.empty() || file.discarding) {
    // The file is finished: its unterminated last line is a line too.
    std::string line = std::move(file.partial);
    bool truncated = file.discarding;
    file.partial.clear();
    file.discarding = false;
    if (!truncated && !line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > config_.max_line_bytes) {
      truncated = true;
      line.resize(truncateUtf8(line, config_.max_line_bytes).size());
    }
    onLine(file, line, truncated, file.read_offset);
  }
  flushRecord(file);
}

void FileInput::emit(WatchedFile& file, std::string_view text, bool truncated) {
  Event event;
  event.ts_ns = nowNs();
  event.kind = config_.kind;
  event.source = file.path;
  event.host = hostname_;
  event.raw.assign(text);
  event.fields.push_back(Field{"path", file.path});
  uint64_t bytes = estimateEventBytes(event);
  // Deliver first if this record would not fit: the delivered position is
  // then exactly the end of the delivered records.
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
          "input {}: a {} in {} is longer than {} ({}) and was truncated; raise it to keep such "
          "records whole",
          config_.name, start_pattern_ ? "record" : "line", file.path,
          start_pattern_ ? "multiline.max_bytes or max_line_bytes" : "max_line_bytes",
          start_pattern_ ? config_.multiline.max_bytes : config_.max_line_bytes);
    }
  }
}

void FileInput::deliverPending(WatchedFile& file) {
  if (file.rotated) {
    // The path now belongs to another file (or none); the old file's
    // progress is not kept (docs/agent.md).
    if (pending_events_.empty()) return;
    std::vector<Event> events = std::move(pending_events_);
    pending_events_.clear();
    pending_bytes_ = 0;
    sink_.deliver(config_.name, std::move(events), {});
    return;
  }
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
