// The stdin input ("type: stdin"): one event per line of the agent's
// standard input, whatever it is: a pipe (`app | edge-agent`), a terminal, a
// socket, or a redirected file (`edge-agent < file`). At end of input the
// input logs that standard input ended and stops; the agent keeps running
// and ships what was read. There are no positions: a pipe cannot be replayed.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "edge/agent/input.h"
#include "edge/agent/input_registry.h"
#include "edge/agent/pending_delivery.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "inputs/in_exec/line_splitter.h"

namespace edge::agent {

struct StdinInputConfig {
  uint64_t max_line_bytes = 64 * 1024;
};

std::unique_ptr<InputSpec> parseStdinInputSpec(const ConfigNode& node, InputCommonConfig common);
// The registry entry (agent/src/input_registry.cc).
const InputTypeInfo& stdinInputType();

class StdinInput final : public Input {
 public:
  static constexpr size_t kReadChunk = 64 * 1024;
  // A redirected file is read in slices of this many bytes per loop turn.
  static constexpr size_t kFileBudgetPerTurn = 1 << 20;

  // `fd` is standard input unless a test passes another descriptor; the
  // input then owns it (descriptors 0-2 are never closed).
  StdinInput(const InputContext& context, InputCommonConfig common, StdinInputConfig config,
             int fd = 0);
  ~StdinInput() override;
  StdinInput(const StdinInput&) = delete;
  StdinInput& operator=(const StdinInput&) = delete;

  const std::string& name() const override { return common_.name; }
  std::string_view type() const override { return "stdin"; }
  Result<void> start(std::vector<InputPosition> saved) override;
  void pause() override;
  void resume() override;
  void close() override;
  InputStats stats() const override { return stats_; }

  // True once end of input was reached (or standard input was unusable).
  bool finished() const { return finished_; }

 private:
  enum class Kind { kNone, kStream, kFile };

  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onFileTimer(uv_timer_t* timer);
  void readFile();
  void consume(std::string_view data);
  void emitLine(std::string_view line, bool truncated);
  void endOfInput(const char* why);
  void startReading();
  void stopReading();
  void closeHandles();

  uv_loop_t* loop_;
  InputCommonConfig common_;
  StdinInputConfig config_;
  std::string hostname_;
  std::string kind_;
  PendingDelivery pending_;
  Counter& events_read_;
  Counter& truncated_;
  int fd_;

  Kind kind_of_fd_ = Kind::kNone;
  union {
    uv_pipe_t pipe;
    uv_tty_t tty;
    uv_tcp_t tcp;
  } stream_{};
  bool stream_open_ = false;
  bool reading_ = false;
  uv_timer_t file_timer_{};
  bool file_timer_open_ = false;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  bool finished_ = false;

  LineSplitter lines_;
  std::vector<char> read_buffer_;

  InputStats stats_;
  LogRateLimiter log_limiter_{5, std::chrono::seconds(60)};
};

}  // namespace edge::agent
