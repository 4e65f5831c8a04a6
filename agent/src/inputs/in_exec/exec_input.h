// The exec input ("type: exec"): runs a command and turns each line of its
// standard output into an event.
//
//   mode: interval  runs the command every `interval` (the first run at
//                   start); a run still going at the next tick is not doubled
//                   (the tick is skipped and logged); `timeout` kills it.
//   mode: stream    runs a long-lived command and streams its lines; when it
//                   exits it is restarted after a backoff (restart_delay,
//                   doubling up to restart_delay_max, back to restart_delay
//                   once a run lasted restart_delay_max).
//
// After every run one status event follows the run's lines: fields
// exec_status ("exited", "killed", "timeout", "failed_to_start"), exit_code
// or signal, duration_ms, lines, and `run` (also on every line event, to tie
// lines to their run). Standard error goes to the agent log at a bounded rate.
//
// The command runs in its own process group (a new session), so a timeout or
// the agent's shutdown kills everything it started, not just the first
// process. No shell is involved unless `shell: true`.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <map>
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

struct ExecInputConfig {
  enum class Mode { kInterval, kStream };
  // argv; with shell, one element: the script for /bin/sh -c.
  std::vector<std::string> command;
  bool shell = false;
  Mode mode = Mode::kInterval;
  std::chrono::milliseconds interval{60000};
  // Interval mode: a run is killed after this; 0 = never. Default: interval.
  std::chrono::milliseconds timeout{60000};
  std::map<std::string, std::string> env;  // set or override in the child's environment
  bool clear_env = false;                  // start from an empty environment instead of the agent's
  std::string cwd;                         // empty: the agent's working directory
  uint64_t max_line_bytes = 64 * 1024;
  std::chrono::milliseconds restart_delay{1000};
  std::chrono::milliseconds restart_delay_max{60000};
};

std::unique_ptr<InputSpec> parseExecInputSpec(const ConfigNode& node, InputCommonConfig common);
// The registry entry (agent/src/input_registry.cc).
const InputTypeInfo& execInputType();

class ExecInput final : public Input {
 public:
  static constexpr size_t kReadChunk = 64 * 1024;
  // A stderr line is logged up to this many bytes.
  static constexpr size_t kMaxStderrLineBytes = 2048;
  // After the command exits, how long its pipes may stay open (held by a
  // process it left behind) before the rest of its group is killed.
  static constexpr std::chrono::milliseconds kDrainGrace{2000};
  // On close: SIGTERM, then SIGKILL after this.
  static constexpr std::chrono::milliseconds kKillGrace{2000};

  ExecInput(const InputContext& context, InputCommonConfig common, ExecInputConfig config);
  ~ExecInput() override;
  ExecInput(const ExecInput&) = delete;
  ExecInput& operator=(const ExecInput&) = delete;

  const std::string& name() const override { return common_.name; }
  std::string_view type() const override { return "exec"; }
  Result<void> start(std::vector<InputPosition> saved) override;
  void pause() override;
  void resume() override;
  void close() override;
  InputStats stats() const override { return stats_; }

  // Runs so far (tests).
  uint64_t runs() const { return run_counter_; }
  bool running() const { return run_ != nullptr; }

 private:
  struct Run;

  static void onTick(uv_timer_t* timer);
  static void onRunTimer(uv_timer_t* timer);
  static void onExit(uv_process_t* process, int64_t exit_status, int term_signal);
  static void onAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void onStdout(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void onStderr(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

  void tick();
  void spawn();
  void runTimerFired();
  void stdoutLine(std::string_view line, bool truncated);
  void stderrLine(std::string_view line);
  void closePipe(uv_pipe_t& pipe, bool& open);
  void maybeFinish();
  void finishRun();
  void scheduleRestart();
  void killGroup(int signum);
  void emitStatus(Run& run, const std::string& error);
  void queue(Event&& event);

  uv_loop_t* loop_;
  InputCommonConfig common_;
  ExecInputConfig config_;
  std::string hostname_;
  std::string kind_;
  std::string display_;  // the command as people read it, the events' source
  PendingDelivery pending_;
  Counter& events_read_;
  Counter& truncated_;
  Counter& runs_total_;
  Counter& failures_total_;
  Counter& stderr_lines_;

  uv_timer_t tick_timer_{};  // interval ticks, or the restart delay in stream mode
  uv_timer_t run_timer_{};   // timeout, drain grace, kill grace of the current run
  bool timers_initialized_ = false;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  Run* run_ = nullptr;  // at most one run at a time; owned until its handles close
  uint64_t run_counter_ = 0;
  std::chrono::milliseconds backoff_{0};

  std::vector<char> read_buffer_;

  InputStats stats_;
  LogRateLimiter log_limiter_{5, std::chrono::seconds(60)};
  LogRateLimiter stderr_limiter_{20, std::chrono::seconds(10)};
};

}  // namespace edge::agent
