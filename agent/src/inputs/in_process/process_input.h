// The process input ("type: process"): an event when a process starts,
// replaces its program (exec) and exits, with pid, ppid, uid, comm, exe,
// cmdline and cwd read from /proc/<pid> right away, and on exit the exit
// code or signal when known.
//
// Two sources (docs/inputs.md compares them):
//   connector  the kernel's proc connector (netlink): every fork, exec and
//              exit as it happens, exit codes included; needs CAP_NET_ADMIN
//              in the host's namespaces.
//   poll       a diff of the pids in /proc every `interval`: starts and exits
//              of processes that live across a poll; shorter-lived ones are
//              missed, exit codes are unknown, there is no exec event.
// mode: auto (default) tries the connector and falls back to polling.
//
// There are no positions. A process the input learnt about (at start, or
// from its start event) is remembered, so its exit event carries its exe and
// cmdline even though /proc no longer has them.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "edge/agent/input.h"
#include "edge/agent/input_registry.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "inputs/in_process/proc_connector.h"
#include "inputs/in_process/proc_reader.h"

namespace edge::agent {

struct ProcessInputConfig {
  enum class Mode { kAuto, kConnector, kPoll };
  Mode mode = Mode::kAuto;
  std::chrono::milliseconds interval{1000};  // poll mode
  std::string proc_root = "/proc";
  bool report_start = true;
  bool report_exec = true;
  bool report_exit = true;
  bool include_kernel_threads = false;
  bool report_existing = false;  // start events (existing: true) for what runs at start
  size_t max_cmdline_bytes = 4096;
};

std::unique_ptr<InputSpec> parseProcessInputSpec(const ConfigNode& node, InputCommonConfig common);
// The registry entry (agent/src/input_registry.cc).
const InputTypeInfo& processInputType();

class ProcessInput final : public Input {
 public:
  // Processes remembered for their exit events; beyond this (a fork bomb)
  // new ones are reported but not remembered (their exits lack exe etc.).
  static constexpr size_t kMaxTracked = 1 << 17;
  // cmdline kept per remembered process.
  static constexpr size_t kTrackedCmdlineBytes = 512;
  // Datagrams read per loop turn, so a burst does not starve the loop.
  static constexpr int kReadBudget = 256;

  ProcessInput(const InputContext& context, InputCommonConfig common, ProcessInputConfig config);
  ~ProcessInput() override;
  ProcessInput(const ProcessInput&) = delete;
  ProcessInput& operator=(const ProcessInput&) = delete;

  const std::string& name() const override { return common_.name; }
  std::string_view type() const override { return "process"; }
  Result<void> start(std::vector<InputPosition> saved) override;
  void pause() override;
  void resume() override;
  void close() override;
  InputStats stats() const override { return stats_; }

  // "connector" or "poll" once started.
  std::string_view mode() const { return connector_active_ ? "connector" : "poll"; }
  // Runs one /proc scan now (tests).
  void pollNow();

 private:
  struct Tracked {
    int ppid = -1;
    int64_t uid = -1;
    uint64_t start_ticks = 0;
    bool kernel_thread = false;
    uint64_t generation = 0;
    std::string comm;
    std::string exe;
    std::string cmdline;
  };

  static void onPoll(uv_poll_t* handle, int status, int events);
  static void onTimer(uv_timer_t* timer);
  void readConnector();
  void handleConnectorEvent(const ProcConnectorEvent& event);
  // Diffs /proc against what is remembered: starts and exits.
  void scan(bool initial, const char* source);
  void remember(const ProcessInfo& info);
  void emitStart(const ProcessInfo& info, const char* action, const char* source, bool existing);
  void emitExit(int pid, const Tracked* tracked, int ppid, std::optional<uint32_t> status,
                const char* source);
  Event makeEvent(const char* source) const;
  void flush();
  void countError(const std::string& what);

  uv_loop_t* loop_;
  InputCommonConfig common_;
  ProcessInputConfig config_;
  std::string hostname_;
  std::string kind_;
  DeliveryLimits limits_;
  InputSink& sink_;
  Counter& events_read_;
  Counter& errors_;
  Counter& overruns_;

  ProcConnector connector_;
  bool connector_active_ = false;
  uv_poll_t poll_{};
  bool poll_initialized_ = false;
  uv_timer_t timer_{};
  bool timer_initialized_ = false;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  bool tracking_full_logged_ = false;
  int64_t clock_ticks_ = 100;

  std::unordered_map<int, Tracked> tracked_;
  uint64_t generation_ = 0;
  std::vector<int> pids_;
  std::vector<ProcConnectorEvent> connector_events_;
  std::vector<Event> pending_;
  InputStats stats_;
  LogRateLimiter log_limiter_{5, std::chrono::minutes(10)};
};

}  // namespace edge::agent
