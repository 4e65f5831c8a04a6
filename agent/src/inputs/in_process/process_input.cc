// The process input: configuration, the connector and polling sources, and
// the events they turn into.
#include "inputs/in_process/process_input.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "edge/agent/pending_delivery.h"

namespace edge::agent {
namespace {

constexpr const char* kSourceConnector = "process:connector";
constexpr const char* kSourcePoll = "process:poll";
constexpr int kKthreadd = 2;  // the parent of every kernel thread

}  // namespace

std::unique_ptr<InputSpec> parseProcessInputSpec(const ConfigNode& node, InputCommonConfig common) {
  rejectUnknownInputKeys(node, {"mode", "interval", "proc_root", "actions",
                                "include_kernel_threads", "report_existing", "max_cmdline_bytes"});
  ProcessInputConfig config;
  std::string mode = node.getEnum("mode", "auto", {"auto", "connector", "poll"});
  config.mode = mode == "connector" ? ProcessInputConfig::Mode::kConnector
                : mode == "poll"    ? ProcessInputConfig::Mode::kPoll
                                    : ProcessInputConfig::Mode::kAuto;
  config.interval = node.getDuration("interval", std::chrono::seconds(1));
  if (config.interval < std::chrono::milliseconds(10) || config.interval > std::chrono::hours(1)) {
    node.addError("interval", "expected a duration between 10ms and 1h");
  }
  config.proc_root = node.getString("proc_root", "/proc");
  if (config.proc_root.empty() || config.proc_root.front() != '/') {
    node.addError("proc_root", "expected an absolute path, e.g. /proc");
  }
  if (node["actions"].exists()) {
    config.report_start = config.report_exec = config.report_exit = false;
    std::vector<std::string> actions = node.getStringList("actions", {});
    for (const std::string& action : actions) {
      if (action == "start") {
        config.report_start = true;
      } else if (action == "exec") {
        config.report_exec = true;
      } else if (action == "exit") {
        config.report_exit = true;
      } else {
        node.addError("actions", "unknown action \"" + action + "\": expected start, exec or exit");
      }
    }
    if (actions.empty()) node.addError("actions", "expected at least one of start, exec, exit");
  }
  config.include_kernel_threads = node.getBool("include_kernel_threads", false);
  config.report_existing = node.getBool("report_existing", false);
  config.max_cmdline_bytes =
      static_cast<size_t>(node.getBytes("max_cmdline_bytes", config.max_cmdline_bytes));
  if (config.max_cmdline_bytes < 16 || config.max_cmdline_bytes > (1u << 20)) {
    node.addError("max_cmdline_bytes", "expected a size between 16 and 1MiB");
  }
  return std::make_unique<BasicInputSpec<ProcessInput, ProcessInputConfig>>(std::move(common), std::move(config));
}

const InputTypeInfo& processInputType() {
  // Pausing cannot hold process events back (the kernel and /proc do not
  // wait), so when the spool is full they are dropped and counted.
  static const InputTypeInfo kInfo{"process", "process", &parseProcessInputSpec,
                                   WhenFull::kDropNewest};
  return kInfo;
}

ProcessInput::ProcessInput(const InputContext& context, InputCommonConfig common,
                           ProcessInputConfig config)
    : loop_(context.loop),
      common_(std::move(common)),
      config_(std::move(config)),
      hostname_(context.hostname),
      kind_(common_.kind.empty() ? "process" : common_.kind),
      limits_(context.limits),
      sink_(*context.sink),
      events_read_(context.metrics->counter("edge_agent_events_read_total", "Events read by inputs",
                                            {{"input", common_.name}})),
      errors_(context.metrics->counter("edge_agent_input_errors_total",
                                       "I/O errors seen by inputs (open, read, stat)",
                                       {{"input", common_.name}})),
      overruns_(context.metrics->counter(
          "edge_agent_input_dropped_total",
          "Records an input read and discarded, or (reason=overrun) times the kernel dropped "
          "process events because the agent fell behind",
          {{"input", common_.name}, {"reason", "overrun"}})) {
  if (limits_.max_events == 0) limits_.max_events = 1;
  long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks > 0) clock_ticks_ = ticks;
}

ProcessInput::~ProcessInput() = default;

Result<void> ProcessInput::start(std::vector<InputPosition> /*saved*/) {
  if (started_) return makeError(ErrorCode::kInternal, "input " + common_.name + " started twice");
  if (config_.mode != ProcessInputConfig::Mode::kPoll) {
    auto opened = connector_.open();
    if (opened.ok()) {
      int rc = uv_poll_init(loop_, &poll_, connector_.fd());
      if (rc != 0) {
        connector_.close();
        return makeError(ErrorCode::kInternal,
                         "input " + common_.name +
                             ": cannot watch the proc connector socket: " + uv_strerror(rc));
      }
      poll_.data = this;
      poll_initialized_ = true;
      connector_active_ = true;
    } else if (config_.mode == ProcessInputConfig::Mode::kConnector) {
      return makeError(ErrorCode::kIo,
                       "input " + common_.name + ": mode: connector: " + opened.error().message +
                           "; run the agent with CAP_NET_ADMIN or use mode: auto or poll");
    } else {
      spdlog::info(
          "input {}: the kernel's process events are not available ({}); polling {} every {} ms "
          "instead: processes that start and exit between polls are missed, exit codes are "
          "unknown",
          common_.name, opened.error().message, config_.proc_root, config_.interval.count());
    }
  }
  int rc = uv_timer_init(loop_, &timer_);
  if (rc != 0) {
    return makeError(ErrorCode::kInternal,
                     "input " + common_.name + ": cannot create its timer: " + uv_strerror(rc));
  }
  timer_.data = this;
  timer_initialized_ = true;
  started_ = true;

  // What runs now: remembered for exit events, reported if asked.
  scan(true, connector_active_ ? kSourceConnector : kSourcePoll);
  if (connector_active_) {
    for (const ProcConnectorEvent& event : connector_.takeEarlyEvents())
      handleConnectorEvent(event);
    uv_poll_start(&poll_, UV_READABLE, &ProcessInput::onPoll);
  } else {
    auto interval = static_cast<uint64_t>(config_.interval.count());
    uv_timer_start(&timer_, &ProcessInput::onTimer, interval, interval);
  }
  flush();
  spdlog::debug("input {}: watching processes ({}), {} running", common_.name, mode(),
                tracked_.size());
  return okResult();
}

void ProcessInput::pause() {
  if (paused_) return;
  paused_ = true;
  if (closed_) return;
  if (poll_initialized_) uv_poll_stop(&poll_);
  if (timer_initialized_) uv_timer_stop(&timer_);
}

void ProcessInput::resume() {
  if (!paused_) return;
  paused_ = false;
  if (!started_ || closed_) return;
  // Catch up with what happened meanwhile (as far as /proc still shows it).
  scan(false, kSourcePoll);
  flush();
  if (connector_active_) {
    uv_poll_start(&poll_, UV_READABLE, &ProcessInput::onPoll);
  } else {
    auto interval = static_cast<uint64_t>(config_.interval.count());
    uv_timer_start(&timer_, &ProcessInput::onTimer, interval, interval);
  }
}

void ProcessInput::close() {
  if (closed_) return;
  closed_ = true;
  if (poll_initialized_) uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
  connector_.close();  // uv_close stopped watching it
  if (timer_initialized_) uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void ProcessInput::onPoll(uv_poll_t* handle, int status, int /*events*/) {
  auto* self = static_cast<ProcessInput*>(handle->data);
  if (status < 0) {
    self->countError(std::string("proc connector socket: ") + uv_strerror(status));
    return;
  }
  self->readConnector();
}

void ProcessInput::onTimer(uv_timer_t* timer) {
  static_cast<ProcessInput*>(timer->data)->pollNow();
}

void ProcessInput::pollNow() {
  if (closed_ || paused_) return;
  scan(false, kSourcePoll);
  flush();
}

void ProcessInput::readConnector() {
  if (closed_ || paused_) return;
  bool resync = false;
  for (int i = 0; i < kReadBudget; ++i) {
    connector_events_.clear();
    auto status = connector_.readOnce(connector_events_);
    for (const ProcConnectorEvent& event : connector_events_) handleConnectorEvent(event);
    if (status == ProcConnector::ReadStatus::kAgain) break;
    if (status == ProcConnector::ReadStatus::kOverrun) {
      overruns_.inc();
      ++stats_.events_dropped;
      resync = true;
      if (uint64_t n = log_limiter_.allow(); n != 0) {
        spdlog::warn(
            "input {}: the kernel dropped process events (the agent fell behind a burst); "
            "rescanning {} to catch up (short-lived processes of the burst are lost)",
            common_.name, config_.proc_root);
      }
    } else if (status == ProcConnector::ReadStatus::kError) {
      countError(std::string("reading the proc connector: ") + std::strerror(errno));
      break;
    }
  }
  if (resync) scan(false, kSourcePoll);
  flush();
}

void ProcessInput::handleConnectorEvent(const ProcConnectorEvent& event) {
  switch (event.type) {
    case ProcConnectorEvent::Type::kFork: {
      if (event.ppid == kKthreadd && !config_.include_kernel_threads) {
        // A kernel thread: remember it so its exit is recognised, no /proc read.
        if (tracked_.size() < kMaxTracked) {
          Tracked t;
          t.ppid = event.ppid;
          t.kernel_thread = true;
          t.generation = generation_;
          tracked_[event.pid] = std::move(t);
        }
        return;
      }
      auto info = readProcess(config_.proc_root, event.pid, config_.max_cmdline_bytes);
      ProcessInfo known;
      if (info) known = std::move(*info);
      known.pid = event.pid;
      known.ppid = event.ppid;  // the kernel's word is exact, /proc may lag
      remember(known);
      if (config_.report_start) emitStart(known, "start", kSourceConnector, false);
      return;
    }
    case ProcConnectorEvent::Type::kExec: {
      auto info = readProcess(config_.proc_root, event.pid, config_.max_cmdline_bytes);
      ProcessInfo known;
      if (info) known = std::move(*info);
      known.pid = event.pid;
      if (known.ppid < 0) {
        auto it = tracked_.find(event.pid);
        if (it != tracked_.end()) known.ppid = it->second.ppid;
      }
      remember(known);
      if (config_.report_exec) emitStart(known, "exec", kSourceConnector, false);
      return;
    }
    case ProcConnectorEvent::Type::kExit: {
      auto it = tracked_.find(event.pid);
      const Tracked* tracked = it != tracked_.end() ? &it->second : nullptr;
      bool kernel_thread = tracked != nullptr && tracked->kernel_thread;
      if (config_.report_exit && (!kernel_thread || config_.include_kernel_threads)) {
        emitExit(event.pid, tracked, event.ppid, event.exit_status, kSourceConnector);
      }
      if (it != tracked_.end()) tracked_.erase(it);
      return;
    }
  }
}

void ProcessInput::scan(bool initial, const char* source) {
  if (!listPids(config_.proc_root, pids_)) {
    countError("cannot list " + config_.proc_root + ": " + std::strerror(errno));
    return;
  }
  ++generation_;
  for (int pid : pids_) {
    auto it = tracked_.find(pid);
    if (it != tracked_.end()) {
      it->second.generation = generation_;
      continue;
    }
    auto info = readProcess(config_.proc_root, pid, config_.max_cmdline_bytes);
    if (!info) continue;  // gone already
    remember(*info);
    bool report = config_.report_start && (!initial || config_.report_existing) &&
                  (!info->kernel_thread || config_.include_kernel_threads);
    if (report) emitStart(*info, "start", source, initial);
  }
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    if (it->second.generation == generation_) {
      ++it;
      continue;
    }
    if (config_.report_exit && (!it->second.kernel_thread || config_.include_kernel_threads)) {
      emitExit(it->first, &it->second, it->second.ppid, std::nullopt, source);
    }
    it = tracked_.erase(it);
  }
}

void ProcessInput::remember(const ProcessInfo& info) {
  auto it = tracked_.find(info.pid);
  if (it == tracked_.end()) {
    if (tracked_.size() >= kMaxTracked) {
      if (!tracking_full_logged_) {
        tracking_full_logged_ = true;
        spdlog::warn("input {}: more than {} processes; exits of further ones carry only the pid",
                     common_.name, kMaxTracked);
      }
      return;
    }
    it = tracked_.emplace(info.pid, Tracked{}).first;
  }
  Tracked& t = it->second;
  if (info.ppid >= 0) t.ppid = info.ppid;
  if (info.uid >= 0) t.uid = info.uid;
  if (info.start_ticks != 0) t.start_ticks = info.start_ticks;
  t.kernel_thread = info.kernel_thread;
  t.generation = generation_;
  if (!info.comm.empty()) t.comm = info.comm;
  if (!info.exe.empty()) t.exe = info.exe;
  if (!info.cmdline.empty()) t.cmdline = info.cmdline.substr(0, kTrackedCmdlineBytes);
}

Event ProcessInput::makeEvent(const char* source) const {
  Event event;
  event.ts_ns = nowNs();
  event.kind = kind_;
  event.source = source;
  event.host = hostname_;
  event.severity = Severity::kInfo;
  return event;
}

void ProcessInput::emitStart(const ProcessInfo& info, const char* action, const char* source,
                             bool existing) {
  Event event = makeEvent(source);
  event.fields.push_back(Field{"action", std::string(action)});
  event.fields.push_back(Field{"pid", int64_t{info.pid}});
  if (info.ppid >= 0) event.fields.push_back(Field{"ppid", int64_t{info.ppid}});
  if (info.uid >= 0) event.fields.push_back(Field{"uid", info.uid});
  if (!info.comm.empty()) event.fields.push_back(Field{"comm", info.comm});
  if (!info.exe.empty()) event.fields.push_back(Field{"exe", info.exe});
  if (!info.cmdline.empty()) event.fields.push_back(Field{"cmdline", info.cmdline});
  if (info.cmdline_truncated) event.fields.push_back(Field{"cmdline_truncated", true});
  if (!info.cwd.empty()) event.fields.push_back(Field{"cwd", info.cwd});
  if (info.kernel_thread) event.fields.push_back(Field{"kernel_thread", true});
  if (existing) event.fields.push_back(Field{"existing", true});
  event.raw = fieldsToJson(event.fields);
  pending_.push_back(std::move(event));
}

void ProcessInput::emitExit(int pid, const Tracked* tracked, int ppid,
                            std::optional<uint32_t> status, const char* source) {
  Event event = makeEvent(source);
  event.fields.push_back(Field{"action", std::string("exit")});
  event.fields.push_back(Field{"pid", int64_t{pid}});
  if (ppid < 0 && tracked != nullptr) ppid = tracked->ppid;
  if (ppid >= 0) event.fields.push_back(Field{"ppid", int64_t{ppid}});
  if (tracked != nullptr) {
    if (tracked->uid >= 0) event.fields.push_back(Field{"uid", tracked->uid});
    if (!tracked->comm.empty()) event.fields.push_back(Field{"comm", tracked->comm});
    if (!tracked->exe.empty()) event.fields.push_back(Field{"exe", tracked->exe});
    if (!tracked->cmdline.empty()) event.fields.push_back(Field{"cmdline", tracked->cmdline});
  }
  if (status) {
    int st = static_cast<int>(*status);
    if (WIFSIGNALED(st)) {
      event.fields.push_back(Field{"signal", int64_t{WTERMSIG(st)}});
      if (WCOREDUMP(st)) event.fields.push_back(Field{"core_dumped", true});
    } else {
      event.fields.push_back(Field{"exit_code", int64_t{WEXITSTATUS(st)}});
    }
  }
  // How long it ran, from its start time in clock ticks since boot.
  if (tracked != nullptr && tracked->start_ticks != 0 && config_.proc_root == "/proc") {
    struct timespec boot {};
    if (clock_gettime(CLOCK_BOOTTIME, &boot) == 0) {
      int64_t now_ms = static_cast<int64_t>(boot.tv_sec) * 1000 + boot.tv_nsec / 1000000;
      int64_t start_ms = static_cast<int64_t>(tracked->start_ticks) * 1000 / clock_ticks_;
      if (now_ms >= start_ms) event.fields.push_back(Field{"runtime_ms", now_ms - start_ms});
    }
  }
  event.raw = fieldsToJson(event.fields);
  pending_.push_back(std::move(event));
}

void ProcessInput::flush() {
  if (pending_.empty()) return;
  stats_.events_read += pending_.size();
  events_read_.inc(pending_.size());
  // One delivery must fit one spool batch.
  PendingDelivery delivery(sink_, common_.name, limits_);
  for (Event& event : pending_) delivery.add(std::move(event));
  pending_.clear();
  delivery.flush();
}

void ProcessInput::countError(const std::string& what) {
  ++stats_.errors;
  errors_.inc();
  if (uint64_t n = log_limiter_.allow(); n != 0) spdlog::warn("input {}: {}", common_.name, what);
}

}  // namespace edge::agent
