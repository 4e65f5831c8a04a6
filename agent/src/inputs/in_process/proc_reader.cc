// /proc/<pid>/{stat,status,exe,cmdline,cwd} reading for the process input.
#include "inputs/in_process/proc_reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace edge::agent {
namespace {

constexpr uint64_t kPfKthread = 0x00200000;  // PF_KTHREAD in stat's flags

// Reads at most `max` bytes of a small /proc file.
bool readSmall(const std::string& path, std::string& out, size_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out.clear();
  char buf[4096];
  bool ok = true;
  while (out.size() < max) {
    ssize_t n = ::read(fd, buf, std::min(sizeof(buf), max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return ok;
}

std::string readLink(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

template <typename T>
bool toNumber(std::string_view text, T& out) {
  auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

}  // namespace

std::optional<ProcessInfo> readProcess(const std::string& proc_root, int pid,
                                       size_t max_cmdline_bytes) {
  const std::string dir = proc_root + "/" + std::to_string(pid);
  std::string text;
  if (!readSmall(dir + "/stat", text, 8192) || text.empty()) return std::nullopt;
  ProcessInfo info;
  info.pid = pid;
  // "pid (comm) state ppid ..." where comm may hold spaces and parentheses.
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  info.comm = text.substr(open + 1, close - open - 1);
  std::string_view rest = std::string_view(text).substr(close + 1);
  std::vector<std::string_view> fields;  // fields[0] is stat field 3 (state)
  while (!rest.empty() && fields.size() < 20) {
    size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    size_t end = rest.find(' ');
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  if (fields.size() >= 2) {
    int ppid = 0;
    if (toNumber(fields[1], ppid)) info.ppid = ppid;
  }
  uint64_t flags = 0;
  if (fields.size() >= 7 && toNumber(fields[6], flags))
    info.kernel_thread = (flags & kPfKthread) != 0;
  if (fields.size() >= 20) toNumber(fields[19], info.start_ticks);

  if (readSmall(dir + "/status", text, 16384)) {
    size_t at = text.find("\nUid:");
    if (at != std::string::npos) {
      std::string_view line = std::string_view(text).substr(at + 5);
      size_t start = line.find_first_not_of(" \t");
      if (start != std::string_view::npos) {
        line.remove_prefix(start);
        int64_t uid = 0;
        if (toNumber(line.substr(0, line.find_first_of(" \t\n")), uid)) info.uid = uid;
      }
    }
  }
  if (!info.kernel_thread) {
    info.exe = readLink(dir + "/exe");
    info.cwd = readLink(dir + "/cwd");
    // One byte more than allowed tells whether it was cut.
    if (readSmall(dir + "/cmdline", text, max_cmdline_bytes + 1)) {
      if (text.size() > max_cmdline_bytes) {
        text.resize(max_cmdline_bytes);
        info.cmdline_truncated = true;
      }
      while (!text.empty() && text.back() == '\0') text.pop_back();
      std::replace(text.begin(), text.end(), '\0', ' ');
      info.cmdline = std::move(text);
    }
  }
  return info;
}

bool listPids(const std::string& proc_root, std::vector<int>& pids) {
  pids.clear();
  DIR* dir = ::opendir(proc_root.c_str());
  if (dir == nullptr) return false;
  while (struct dirent* entry = ::readdir(dir)) {
    const char* name = entry->d_name;
    if (name[0] < '1' || name[0] > '9') continue;
    int pid = 0;
    if (toNumber(std::string_view(name), pid)) pids.push_back(pid);
  }
  ::closedir(dir);
  std::sort(pids.begin(), pids.end());
  return true;
}

}  // namespace edge::agent
