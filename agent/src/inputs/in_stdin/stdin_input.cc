// The stdin input: picks the libuv handle that fits what standard input is
// (pipe, terminal, socket), or reads a redirected regular file in slices on
// a timer (epoll cannot watch regular files), splits lines, and finishes at
// end of input.
#include "inputs/in_stdin/stdin_input.h"

#include <errno.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstring>

#include "edge/common/config.h"

namespace edge::agent {
namespace {

constexpr uint64_t kMaxLineBytes = 4ull << 20;

}  // namespace

std::unique_ptr<InputSpec> parseStdinInputSpec(const ConfigNode& node, InputCommonConfig common) {
  rejectUnknownInputKeys(node, {"max_line_bytes"});
  StdinInputConfig config;
  config.max_line_bytes = node.getBytes("max_line_bytes", 64 * 1024);
  if (config.max_line_bytes < 16 || config.max_line_bytes > kMaxLineBytes) {
    node.addError("max_line_bytes", "expected a size between 16 and 4MiB");
  }
  return std::make_unique<BasicInputSpec<StdinInput, StdinInputConfig>>(std::move(common), config);
}

const InputTypeInfo& stdinInputType() {
  static const InputTypeInfo kInfo{"stdin", "log", &parseStdinInputSpec, WhenFull::kBlock};
  return kInfo;
}

StdinInput::StdinInput(const InputContext& context, InputCommonConfig common,
                       StdinInputConfig config, int fd)
    : loop_(context.loop),
      common_(std::move(common)),
      config_(config),
      hostname_(context.hostname),
      kind_(common_.kind.empty() ? "log" : common_.kind),
      pending_(*context.sink, common_.name, context.limits),
      events_read_(context.metrics->counter("edge_agent_events_read_total", "Events read by inputs",
                                            {{"input", common_.name}})),
      truncated_(context.metrics->counter(
          "edge_agent_lines_truncated_total",
          "Records longer than the input's limit, emitted truncated", {{"input", common_.name}})),
      fd_(fd),
      lines_(config.max_line_bytes) {}

StdinInput::~StdinInput() {
  if (kind_of_fd_ == Kind::kFile && fd_ > STDERR_FILENO) ::close(fd_);
}

Result<void> StdinInput::start(std::vector<InputPosition> /*saved*/) {
  if (started_) return makeError(ErrorCode::kInternal, "input " + name() + " started twice");
  started_ = true;
  read_buffer_.resize(kReadChunk);
  int rc = 0;
  uv_handle_type type = uv_guess_handle(fd_);
  switch (type) {
    case UV_TTY:
      rc = uv_tty_init(loop_, &stream_.tty, fd_, 1);
      break;
    case UV_NAMED_PIPE:
      rc = uv_pipe_init(loop_, &stream_.pipe, 0);
      if (rc == 0) {
        stream_open_ = true;
        rc = uv_pipe_open(&stream_.pipe, fd_);
      }
      break;
    case UV_TCP:
      rc = uv_tcp_init(loop_, &stream_.tcp);
      if (rc == 0) {
        stream_open_ = true;
        rc = uv_tcp_open(&stream_.tcp, fd_);
      }
      break;
    case UV_FILE:
      kind_of_fd_ = Kind::kFile;
      uv_timer_init(loop_, &file_timer_);
      file_timer_.data = this;
      file_timer_open_ = true;
      spdlog::info("input {}: reading standard input (a file)", name());
      startReading();
      return okResult();
    default:
      spdlog::warn(
          "input {}: standard input is not open or not readable (fd {}); the input reads "
          "nothing. Run the agent with its input piped or redirected, or remove the stdin input",
          name(), fd_);
      finished_ = true;
      return okResult();
  }
  if (type == UV_TTY && rc == 0) stream_open_ = true;
  kind_of_fd_ = Kind::kStream;
  reinterpret_cast<uv_handle_t*>(&stream_)->data = this;
  if (rc != 0) {
    spdlog::warn("input {}: cannot read standard input: {}; the input reads nothing", name(),
                 uv_strerror(rc));
    finished_ = true;
    closeHandles();
    return okResult();
  }
  spdlog::info("input {}: reading standard input ({})", name(),
               type == UV_TTY   ? "a terminal"
               : type == UV_TCP ? "a socket"
                                : "a pipe");
  startReading();
  return okResult();
}

void StdinInput::startReading() {
  if (closed_ || finished_ || paused_) return;
  if (kind_of_fd_ == Kind::kStream && stream_open_ && !reading_) {
    int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&stream_), &StdinInput::onAlloc,
                           &StdinInput::onRead);
    if (rc != 0) {
      ++stats_.errors;
      spdlog::warn("input {}: cannot read standard input: {}", name(), uv_strerror(rc));
      endOfInput("it cannot be read");
      return;
    }
    reading_ = true;
  } else if (kind_of_fd_ == Kind::kFile && file_timer_open_) {
    uv_timer_start(&file_timer_, &StdinInput::onFileTimer, 0, 0);
  }
}

void StdinInput::stopReading() {
  if (kind_of_fd_ == Kind::kStream && reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&stream_));
    reading_ = false;
  } else if (kind_of_fd_ == Kind::kFile && file_timer_open_) {
    uv_timer_stop(&file_timer_);
  }
}

void StdinInput::onAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto& self = *static_cast<StdinInput*>(handle->data);
  *buf = uv_buf_init(self.read_buffer_.data(), static_cast<unsigned>(self.read_buffer_.size()));
}

void StdinInput::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto& self = *static_cast<StdinInput*>(stream->data);
  if (nread > 0) {
    self.consume(std::string_view(buf->base, static_cast<size_t>(nread)));
    self.pending_.flush();
    // Paused by that delivery: the rest waits in the pipe and its writer blocks.
    if (self.paused_) self.stopReading();
    return;
  }
  if (nread == 0) return;
  if (nread != UV_EOF) {
    ++self.stats_.errors;
    spdlog::warn("input {}: reading standard input failed: {}", self.name(),
                 uv_strerror(static_cast<int>(nread)));
  }
  self.endOfInput(nread == UV_EOF ? "end of input" : "a read error");
}

void StdinInput::onFileTimer(uv_timer_t* timer) {
  static_cast<StdinInput*>(timer->data)->readFile();
}

void StdinInput::readFile() {
  if (closed_ || finished_ || paused_) return;
  size_t budget = kFileBudgetPerTurn;
  while (budget > 0) {
    ssize_t n = ::read(fd_, read_buffer_.data(), std::min(read_buffer_.size(), budget));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pending_.flush();
        uv_timer_start(&file_timer_, &StdinInput::onFileTimer, 50, 0);
        return;
      }
      ++stats_.errors;
      spdlog::warn("input {}: reading standard input failed: {}", name(), std::strerror(errno));
      endOfInput("a read error");
      return;
    }
    if (n == 0) {
      endOfInput("end of input");
      return;
    }
    consume(std::string_view(read_buffer_.data(), static_cast<size_t>(n)));
    budget -= static_cast<size_t>(n);
    if (paused_ || closed_) break;
  }
  pending_.flush();
  if (!paused_ && !closed_ && !finished_) {
    uv_timer_start(&file_timer_, &StdinInput::onFileTimer, 0, 0);
  }
}

void StdinInput::consume(std::string_view data) {
  lines_.feed(data, [&](std::string_view line, bool truncated) { emitLine(line, truncated); });
}

void StdinInput::emitLine(std::string_view line, bool truncated) {
  Event event;
  event.ts_ns = nowNs();
  event.kind = kind_;
  event.source = "stdin";
  event.host = hostname_;
  event.raw.assign(line);
  if (truncated) {
    event.fields.push_back(Field{"truncated", true});
    ++stats_.lines_truncated;
    truncated_.inc();
    if (log_limiter_.allow() != 0) {
      spdlog::warn(
          "input {}: a line on standard input is longer than max_line_bytes ({}) and was "
          "truncated; raise max_line_bytes to keep such lines whole",
          name(), config_.max_line_bytes);
    }
  }
  pending_.add(std::move(event));
  ++stats_.events_read;
  events_read_.inc();
}

void StdinInput::endOfInput(const char* why) {
  if (finished_) return;
  // An unterminated last line is a line too.
  lines_.finish([&](std::string_view line, bool truncated) { emitLine(line, truncated); });
  pending_.flush();
  finished_ = true;
  spdlog::info("input {}: standard input ended ({}) after {} lines; the agent keeps shipping",
               name(), why, stats_.events_read);
  closeHandles();
}

void StdinInput::pause() {
  if (paused_ || closed_) return;
  paused_ = true;
  stopReading();
}

void StdinInput::resume() {
  if (!paused_ || closed_) return;
  paused_ = false;
  startReading();
}

void StdinInput::closeHandles() {
  reading_ = false;
  if (stream_open_) {
    stream_open_ = false;
    // libuv closes the descriptor with the handle, except 0-2.
    uv_close(reinterpret_cast<uv_handle_t*>(&stream_), nullptr);
  }
  if (file_timer_open_) {
    file_timer_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&file_timer_), nullptr);
  }
}

void StdinInput::close() {
  if (closed_) return;
  pending_.flush();
  closed_ = true;
  closeHandles();
}

}  // namespace edge::agent
