// Reading what /proc/<pid> says about a process, for the process input.
// Processes can exit at any moment: every part that cannot be read (a fast
// exit, a permission) is simply absent, never an error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edge::agent {

struct ProcessInfo {
  int pid = 0;
  int ppid = -1;             // -1: unknown
  int64_t uid = -1;          // real uid; -1: unknown
  uint64_t start_ticks = 0;  // start time, clock ticks since boot (stat field 22)
  bool kernel_thread = false;
  std::string comm;     // the short name (stat field 2)
  std::string exe;      // empty: unknown (exited, kernel thread, no permission)
  std::string cmdline;  // arguments joined by spaces; empty: unknown
  bool cmdline_truncated = false;
  std::string cwd;
};

// Reads /proc/<pid>: nullopt when its stat cannot be read (the process is
// gone). The cmdline is cut at `max_cmdline_bytes`.
std::optional<ProcessInfo> readProcess(const std::string& proc_root, int pid,
                                       size_t max_cmdline_bytes);

// The numeric entries of `proc_root`, ascending. False if it cannot be read.
bool listPids(const std::string& proc_root, std::vector<int>& pids);

}  // namespace edge::agent
