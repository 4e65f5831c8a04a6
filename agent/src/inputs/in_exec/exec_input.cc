// The exec input: configuration keys, spawning with uv_spawn (own process
// group, pipes for stdout and stderr), the run's life cycle (lines, exit,
// pipes drained, status event), timeouts and restarts.
#include "inputs/in_exec/exec_input.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>

#include <algorithm>

#include "edge/common/config.h"

extern char** environ;

namespace edge::agent {
namespace {

constexpr uint64_t kMaxLineBytes = 4ull << 20;

std::string signalName(int signum) {
  const char* abbrev = ::sigabbrev_np(signum);
  if (abbrev != nullptr) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(signum);
}

std::string displayCommand(const ExecInputConfig& config) {
  if (config.shell) return config.command.empty() ? std::string() : config.command.front();
  std::string out;
  for (const std::string& arg : config.command) {
    if (!out.empty()) out += ' ';
    out += arg;
  }
  return out;
}

}  // namespace

std::unique_ptr<InputSpec> parseExecInputSpec(const ConfigNode& node, InputCommonConfig common) {
  rejectUnknownInputKeys(
      node, {"command", "shell", "mode", "interval", "timeout", "env", "clear_env", "cwd",
             "max_line_bytes", "restart_delay", "restart_delay_max"});
  ExecInputConfig config;
  config.shell = node.getBool("shell", false);
  ConfigNode command = node["command"];
  if (!command.exists()) {
    node.addError("command",
                  "missing required key: the program and its arguments as a list, e.g. "
                  "[\"/usr/bin/uptime\"] (or a string with shell: true)");
  } else if (command.isScalar()) {
    if (config.shell) {
      config.command = {command.asString()};
    } else {
      node.addError("command",
                    "expected a list (the program and its arguments, run without a shell), e.g. "
                    "[\"/bin/df\", \"-k\"]; or set shell: true to run the string with /bin/sh -c");
    }
  } else {
    config.command = node.getStringList("command", {});
    if (config.shell && config.command.size() != 1) {
      node.addError("command", "with shell: true, expected the script as one string");
    }
  }
  if (command.exists() && (config.command.empty() || config.command.front().empty())) {
    node.addError("command", "expected a non-empty command");
  }
  config.mode = node.getEnum("mode", "interval", {"interval", "stream"}) == "stream"
                    ? ExecInputConfig::Mode::kStream
                    : ExecInputConfig::Mode::kInterval;
  const bool stream = config.mode == ExecInputConfig::Mode::kStream;
  config.interval = node.getDuration("interval", std::chrono::seconds(60));
  if (config.interval < std::chrono::milliseconds(10) || config.interval > std::chrono::hours(24)) {
    node.addError("interval", "expected a duration between 10ms and 24h");
  }
  config.timeout = node.getDuration("timeout", config.interval);
  if (config.timeout < std::chrono::milliseconds(0)) {
    node.addError("timeout", "expected a duration (0 = no timeout)");
  }
  if (stream) {
    for (const char* key : {"interval", "timeout"}) {
      if (node[key].exists()) {
        node.addError(key,
                      "applies to mode: interval only; a mode: stream command runs until it exits "
                      "and is then restarted (see restart_delay)");
      }
    }
  }
  ConfigNode env = node["env"];
  if (env.exists()) {
    if (!env.isMap()) {
      node.addError("env", "expected a map of variable names to values, e.g. {LC_ALL: C}");
    } else {
      for (const std::string& key : env.keys()) {
        if (key.empty() || key.find('=') != std::string::npos) {
          env.addError(key, "expected an environment variable name without '='");
          continue;
        }
        config.env[key] = env.getString(key, "");
      }
    }
  }
  config.clear_env = node.getBool("clear_env", false);
  config.cwd = node.getString("cwd", "");
  config.max_line_bytes = node.getBytes("max_line_bytes", 64 * 1024);
  if (config.max_line_bytes < 16 || config.max_line_bytes > kMaxLineBytes) {
    node.addError("max_line_bytes", "expected a size between 16 and 4MiB");
  }
  config.restart_delay = node.getDuration("restart_delay", std::chrono::seconds(1));
  config.restart_delay_max = node.getDuration("restart_delay_max", std::chrono::seconds(60));
  if (config.restart_delay < std::chrono::milliseconds(10)) {
    node.addError("restart_delay", "expected at least 10ms");
  }
  if (config.restart_delay_max < config.restart_delay) {
    node.addError("restart_delay_max", "expected a duration no shorter than restart_delay");
  }
  return std::make_unique<BasicInputSpec<ExecInput, ExecInputConfig>>(std::move(common),
                                                                      std::move(config));
}

const InputTypeInfo& execInputType() {
  static const InputTypeInfo kInfo{"exec", "exec", &parseExecInputSpec, WhenFull::kBlock};
  return kInfo;
}

struct ExecInput::Run {
  Run(ExecInput* o, uint64_t run_id, size_t max_line)
      : owner(o), id(run_id), out_lines(max_line), err_lines(kMaxStderrLineBytes) {}

  ExecInput* owner;
  uint64_t id;
  uv_process_t process{};
  uv_pipe_t out{};
  uv_pipe_t err{};
  int live_handles = 0;  // initialized and not yet through their close callback
  bool process_closed = false;
  bool out_open = false;
  bool err_open = false;
  bool out_reading = false;
  bool exited = false;
  int64_t exit_status = 0;
  int term_signal = 0;
  bool timed_out = false;
  std::string spawn_error;
  int pid = 0;
  uint64_t start_ns = 0;
  uint64_t lines = 0;
  LineSplitter out_lines;
  LineSplitter err_lines;

  static void onClosed(uv_handle_t* handle) {
    auto* run = static_cast<Run*>(handle->data);
    if (--run->live_handles == 0) delete run;
  }
};

ExecInput::ExecInput(const InputContext& context, InputCommonConfig common, ExecInputConfig config)
    : loop_(context.loop),
      common_(std::move(common)),
      config_(std::move(config)),
      hostname_(context.hostname),
      kind_(common_.kind.empty() ? "exec" : common_.kind),
      display_(displayCommand(config_)),
      pending_(*context.sink, common_.name, context.limits),
      events_read_(context.metrics->counter("edge_agent_events_read_total", "Events read by inputs",
                                            {{"input", common_.name}})),
      truncated_(context.metrics->counter(
          "edge_agent_lines_truncated_total",
          "Records longer than the input's limit, emitted truncated", {{"input", common_.name}})),
      runs_total_(context.metrics->counter("edge_agent_exec_runs_total",
                                           "Commands started by exec inputs",
                                           {{"input", common_.name}})),
      failures_total_(context.metrics->counter(
          "edge_agent_exec_failures_total",
          "Exec runs that did not exit with status 0 (failed to start, killed, timed out)",
          {{"input", common_.name}})),
      stderr_lines_(context.metrics->counter("edge_agent_exec_stderr_lines_total",
                                             "Lines exec commands wrote on standard error",
                                             {{"input", common_.name}})),
      backoff_(config_.restart_delay) {}

ExecInput::~ExecInput() = default;

Result<void> ExecInput::start(std::vector<InputPosition> /*saved*/) {
  if (started_) return makeError(ErrorCode::kInternal, "input " + name() + " started twice");
  if (config_.command.empty() || config_.command.front().empty()) {
    return makeError(ErrorCode::kConfig, "input " + name() + ": command is empty");
  }
  read_buffer_.resize(kReadChunk);
  uv_timer_init(loop_, &tick_timer_);
  uv_timer_init(loop_, &run_timer_);
  tick_timer_.data = this;
  run_timer_.data = this;
  timers_initialized_ = true;
  started_ = true;
  if (config_.mode == ExecInputConfig::Mode::kInterval) {
    uv_timer_start(&tick_timer_, &ExecInput::onTick, 0,
                   static_cast<uint64_t>(config_.interval.count()));
  } else {
    uv_timer_start(&tick_timer_, &ExecInput::onTick, 0, 0);
  }
  spdlog::info("input {}: running {} {}", name(), display_,
               config_.mode == ExecInputConfig::Mode::kStream
                   ? std::string("as a stream")
                   : "every " + std::to_string(config_.interval.count()) + " ms");
  return okResult();
}

void ExecInput::onTick(uv_timer_t* timer) { static_cast<ExecInput*>(timer->data)->tick(); }

void ExecInput::tick() {
  if (closed_) return;
  if (run_ != nullptr) {
    if (log_limiter_.allow() != 0) {
      spdlog::warn("input {}: {} is still running at its next interval; skipping this run", name(),
                   display_);
    }
    return;
  }
  if (paused_) {
    // The spool is full: produce nothing now. A stream command is restarted
    // on resume.
    spdlog::debug("input {}: paused (spool full); not running {}", name(), display_);
    return;
  }
  spawn();
}

void ExecInput::spawn() {
  auto* run = new Run(this, ++run_counter_, config_.max_line_bytes);
  run_ = run;
  runs_total_.inc();
  run->start_ns = uv_hrtime();

  uv_pipe_init(loop_, &run->out, 0);
  uv_pipe_init(loop_, &run->err, 0);
  run->out.data = run;
  run->err.data = run;
  run->live_handles = 2;
  run->out_open = true;
  run->err_open = true;

  std::vector<std::string> argv;
  if (config_.shell) {
    argv = {"/bin/sh", "-c", config_.command.front()};
  } else {
    argv = config_.command;
  }
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);

  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  const bool custom_env = config_.clear_env || !config_.env.empty();
  if (custom_env) {
    if (!config_.clear_env) {
      for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        std::string key(entry.substr(0, entry.find('=')));
        if (config_.env.count(key) == 0) env_strings.emplace_back(entry);
      }
    }
    for (const auto& [key, value] : config_.env) env_strings.push_back(key + "=" + value);
    for (std::string& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);
  }

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;  // libuv connects it to /dev/null
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&run->out);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&run->err);

  uv_process_options_t options{};
  options.file = args[0];
  options.args = args.data();
  options.env = custom_env ? envp.data() : nullptr;
  options.cwd = config_.cwd.empty() ? nullptr : config_.cwd.c_str();
  // A new session: the child leads its own process group, so a timeout can
  // kill everything it started.
  options.flags = UV_PROCESS_DETACHED;
  options.stdio_count = 3;
  options.stdio = stdio;
  options.exit_cb = &ExecInput::onExit;
  run->process.data = run;
  int rc = uv_spawn(loop_, &run->process, &options);
  ++run->live_handles;  // uv_spawn initialized the handle even if it failed
  if (rc != 0) {
    run->spawn_error = uv_strerror(rc);
    run->exited = true;
    if (log_limiter_.allow() != 0) {
      spdlog::error("input {}: cannot run {}: {}; check the command's path{}", name(), display_,
                    run->spawn_error, config_.cwd.empty() ? "" : " and cwd " + config_.cwd);
    }
    // The pipes were never connected: nothing to read.
    closePipe(run->out, run->out_open);
    closePipe(run->err, run->err_open);
    finishRun();
    return;
  }
  run->pid = run->process.pid;
  spdlog::debug("input {}: started {} (pid {}, run {})", name(), display_, run->pid, run->id);
  if (!paused_) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&run->out), &ExecInput::onAlloc,
                  &ExecInput::onStdout);
    run->out_reading = true;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&run->err), &ExecInput::onAlloc,
                &ExecInput::onStderr);
  if (config_.mode == ExecInputConfig::Mode::kInterval && config_.timeout.count() > 0) {
    uv_timer_start(&run_timer_, &ExecInput::onRunTimer,
                   static_cast<uint64_t>(config_.timeout.count()), 0);
  }
}

void ExecInput::onAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  // Reads are processed synchronously, so one buffer serves both pipes.
  ExecInput& self = *static_cast<Run*>(handle->data)->owner;
  *buf = uv_buf_init(self.read_buffer_.data(), static_cast<unsigned>(self.read_buffer_.size()));
}

void ExecInput::onStdout(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Run& run = *static_cast<Run*>(stream->data);
  ExecInput& self = *run.owner;
  auto on_line = [&](std::string_view line, bool truncated) { self.stdoutLine(line, truncated); };
  if (nread > 0) {
    run.out_lines.feed(std::string_view(buf->base, static_cast<size_t>(nread)), on_line);
    self.pending_.flush();
    // The delivery may have paused the input: leave the rest in the pipe,
    // where it blocks the command until the spool drains.
    if (self.paused_ && !self.closed_ && run.out_reading) {
      uv_read_stop(stream);
      run.out_reading = false;
    }
    return;
  }
  if (nread == 0) return;
  run.out_lines.finish(on_line);
  self.pending_.flush();
  self.closePipe(run.out, run.out_open);
  self.maybeFinish();
}

void ExecInput::onStderr(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Run& run = *static_cast<Run*>(stream->data);
  ExecInput& self = *run.owner;
  auto on_line = [&](std::string_view line, bool) { self.stderrLine(line); };
  if (nread > 0) {
    run.err_lines.feed(std::string_view(buf->base, static_cast<size_t>(nread)), on_line);
    return;
  }
  if (nread == 0) return;
  run.err_lines.finish(on_line);
  self.closePipe(run.err, run.err_open);
  self.maybeFinish();
}

void ExecInput::stdoutLine(std::string_view line, bool truncated) {
  if (closed_ || run_ == nullptr) return;  // shutting down: the sink may be gone
  Event event;
  event.ts_ns = nowNs();
  event.kind = kind_;
  event.source = display_;
  event.host = hostname_;
  event.raw.assign(line);
  event.fields.push_back(Field{"run", static_cast<int64_t>(run_->id)});
  if (truncated) {
    event.fields.push_back(Field{"truncated", true});
    ++stats_.lines_truncated;
    truncated_.inc();
    if (log_limiter_.allow() != 0) {
      spdlog::warn(
          "input {}: a line from {} is longer than max_line_bytes ({}) and was truncated; raise "
          "max_line_bytes to keep such lines whole",
          name(), display_, config_.max_line_bytes);
    }
  }
  ++run_->lines;
  queue(std::move(event));
}

void ExecInput::stderrLine(std::string_view line) {
  stderr_lines_.inc();
  if (uint64_t n = stderr_limiter_.allow(); n != 0) {
    if (n > 1) {
      spdlog::warn("input {}: {} stderr ({} lines not logged): {}", name(), display_, n - 1, line);
    } else {
      spdlog::warn("input {}: {} stderr: {}", name(), display_, line);
    }
  }
}

void ExecInput::closePipe(uv_pipe_t& pipe, bool& open) {
  if (!open) return;
  open = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe), &Run::onClosed);
}

void ExecInput::onExit(uv_process_t* process, int64_t exit_status, int term_signal) {
  Run& run = *static_cast<Run*>(process->data);
  ExecInput& self = *run.owner;
  run.exited = true;
  run.exit_status = exit_status;
  run.term_signal = term_signal;
  // Its pipes normally reach EOF right away; a process it left running in
  // the background may keep them open.
  uv_timer_start(&self.run_timer_, &ExecInput::onRunTimer,
                 static_cast<uint64_t>(kDrainGrace.count()), 0);
  self.maybeFinish();
}

void ExecInput::onRunTimer(uv_timer_t* timer) {
  static_cast<ExecInput*>(timer->data)->runTimerFired();
}

void ExecInput::runTimerFired() {
  if (run_ == nullptr) return;
  Run& run = *run_;
  if (!run.exited) {
    if (!closed_) {
      run.timed_out = true;
      if (log_limiter_.allow() != 0) {
        spdlog::warn("input {}: {} (pid {}) ran longer than its timeout of {} ms; killing it",
                     name(), display_, run.pid, config_.timeout.count());
      }
    }
    killGroup(SIGKILL);  // onExit follows
    return;
  }
  if (paused_ && !closed_ && run.out_open) {
    // Unread output is waiting for the spool, not held by a stray process.
    uv_timer_start(&run_timer_, &ExecInput::onRunTimer, static_cast<uint64_t>(kDrainGrace.count()),
                   0);
    return;
  }
  spdlog::debug("input {}: {} exited but its output stays open; killing what it left running",
                name(), display_);
  killGroup(SIGKILL);
  auto on_line = [&](std::string_view line, bool truncated) { stdoutLine(line, truncated); };
  if (run.out_open) run.out_lines.finish(on_line);
  closePipe(run.out, run.out_open);
  closePipe(run.err, run.err_open);
  finishRun();
}

void ExecInput::killGroup(int signum) {
  if (run_ == nullptr || run_->pid <= 0) return;
  ::kill(-run_->pid, signum);
}

void ExecInput::maybeFinish() {
  if (run_ != nullptr && run_->exited && !run_->out_open && !run_->err_open) finishRun();
}

void ExecInput::finishRun() {
  Run& run = *run_;
  uv_timer_stop(&run_timer_);
  const uint64_t ran_ms = (uv_hrtime() - run.start_ns) / 1000000;
  const bool ok =
      run.spawn_error.empty() && !run.timed_out && run.term_signal == 0 && run.exit_status == 0;
  if (!ok) {
    failures_total_.inc();
    ++stats_.errors;
  }
  if (!closed_) {
    emitStatus(run, run.spawn_error);
    pending_.flush();
    if (!ok && run.spawn_error.empty() && log_limiter_.allow() != 0) {
      spdlog::warn("input {}: {} {} after {} ms", name(), display_,
                   run.timed_out          ? std::string("timed out")
                   : run.term_signal != 0 ? "was killed by " + signalName(run.term_signal)
                                          : "exited with status " + std::to_string(run.exit_status),
                   ran_ms);
    }
  }
  if (!run.process_closed) {
    run.process_closed = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&run.process), &Run::onClosed);
  }
  run_ = nullptr;  // the Run deletes itself once its handles are closed
  if (closed_) {
    if (timers_initialized_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&run_timer_), nullptr);
      timers_initialized_ = false;
    }
    return;
  }
  if (config_.mode == ExecInputConfig::Mode::kStream) {
    if (ran_ms >= static_cast<uint64_t>(config_.restart_delay_max.count())) {
      backoff_ = config_.restart_delay;
    }
    std::chrono::milliseconds delay = backoff_;
    backoff_ = std::min(backoff_ * 2, config_.restart_delay_max);
    spdlog::info("input {}: restarting {} in {} ms", name(), display_, delay.count());
    uv_timer_start(&tick_timer_, &ExecInput::onTick, static_cast<uint64_t>(delay.count()), 0);
  }
}

void ExecInput::emitStatus(Run& run, const std::string& error) {
  const int64_t duration_ms = static_cast<int64_t>((uv_hrtime() - run.start_ns) / 1000000);
  Event event;
  event.ts_ns = nowNs();
  event.kind = kind_;
  event.source = display_;
  event.host = hostname_;
  event.fields.push_back(Field{"run", static_cast<int64_t>(run.id)});
  std::string what;
  if (!error.empty()) {
    event.fields.push_back(Field{"exec_status", std::string("failed_to_start")});
    event.fields.push_back(Field{"error", error});
    event.severity = Severity::kError;
    what = "could not start: " + error;
  } else if (run.timed_out || run.term_signal != 0) {
    event.fields.push_back(Field{"exec_status", std::string(run.timed_out ? "timeout" : "killed")});
    event.fields.push_back(Field{"signal", signalName(run.term_signal)});
    event.severity = Severity::kError;
    what = (run.timed_out ? "timed out, killed by " : "killed by ") + signalName(run.term_signal);
  } else {
    event.fields.push_back(Field{"exec_status", std::string("exited")});
    event.fields.push_back(Field{"exit_code", run.exit_status});
    event.severity = run.exit_status == 0 ? Severity::kInfo : Severity::kWarning;
    what = "exited with status " + std::to_string(run.exit_status);
  }
  event.fields.push_back(Field{"duration_ms", duration_ms});
  event.fields.push_back(Field{"lines", static_cast<int64_t>(run.lines)});
  event.raw = display_ + ": " + what + " after " + std::to_string(duration_ms) + " ms, " +
              std::to_string(run.lines) + " lines";
  queue(std::move(event));
}

void ExecInput::queue(Event&& event) {
  pending_.add(std::move(event));
  ++stats_.events_read;
  events_read_.inc();
}

void ExecInput::pause() {
  if (paused_ || closed_) return;
  paused_ = true;
  if (run_ != nullptr && run_->out_reading) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&run_->out));
    run_->out_reading = false;
  }
}

void ExecInput::resume() {
  if (!paused_ || closed_) return;
  paused_ = false;
  if (run_ != nullptr) {
    if (run_->out_open && !run_->out_reading) {
      uv_read_start(reinterpret_cast<uv_stream_t*>(&run_->out), &ExecInput::onAlloc,
                    &ExecInput::onStdout);
      run_->out_reading = true;
    }
  } else if (config_.mode == ExecInputConfig::Mode::kStream && started_ &&
             uv_is_active(reinterpret_cast<uv_handle_t*>(&tick_timer_)) == 0) {
    // A restart that came due while paused.
    uv_timer_start(&tick_timer_, &ExecInput::onTick, 0, 0);
  }
}

void ExecInput::close() {
  if (closed_) return;
  pending_.flush();
  closed_ = true;
  if (!started_) return;
  uv_timer_stop(&tick_timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_timer_), nullptr);
  if (run_ == nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(&run_timer_), nullptr);
    timers_initialized_ = false;
    return;
  }
  // Ask the command to stop; SIGKILL follows after kKillGrace. Keep
  // draining its output (discarded now) so it cannot block on a full pipe.
  if (!run_->exited) {
    killGroup(SIGTERM);
    uv_timer_start(&run_timer_, &ExecInput::onRunTimer, static_cast<uint64_t>(kKillGrace.count()),
                   0);
  }
  if (run_->out_open && !run_->out_reading) {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&run_->out), &ExecInput::onAlloc,
                  &ExecInput::onStdout);
    run_->out_reading = true;
  }
}

}  // namespace edge::agent
