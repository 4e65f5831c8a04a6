// Reading /proc/stat, /proc/meminfo, /proc/loadavg, /proc/diskstats,
// /proc/net/dev and statvfs(3) into metric events; rates against the
// previous sample.
#include "inputs/in_metrics/metrics_collector.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

namespace edge::agent {
namespace {

constexpr const char* kCpuStates[] = {"user",   "nice", "system",  "idle",
                                      "iowait", "irq",  "softirq", "steal"};
constexpr const char* kNetNames[] = {"rx_bytes", "rx_packets", "rx_errors", "rx_drops",
                                     "tx_bytes", "tx_packets", "tx_errors", "tx_drops"};
constexpr uint64_t kSectorBytes = 512;  // diskstats sectors are always 512 bytes

// Whitespace-separated tokens of one line.
class Tokens {
 public:
  explicit Tokens(std::string_view line) : rest_(line) {}
  bool next(std::string_view& token) {
    size_t start = rest_.find_first_not_of(" \t");
    if (start == std::string_view::npos) return false;
    rest_.remove_prefix(start);
    size_t end = rest_.find_first_of(" \t");
    token = rest_.substr(0, end);
    rest_.remove_prefix(end == std::string_view::npos ? rest_.size() : end);
    return true;
  }
  bool nextU64(uint64_t& value) {
    std::string_view token;
    if (!next(token)) return false;
    auto r = std::from_chars(token.data(), token.data() + token.size(), value);
    return r.ec == std::errc() && r.ptr == token.data() + token.size();
  }

 private:
  std::string_view rest_;
};

// Calls fn(line) for each line of `text`.
template <typename Fn>
void forEachLine(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    fn(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

double rate(uint64_t now, uint64_t before, double elapsed_s) {
  return static_cast<double>(now - before) / elapsed_s;
}

int64_t toInt(uint64_t v) {
  return v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
}

bool matchesAny(const std::vector<std::string>& patterns, std::string_view name) {
  std::string text(name);
  for (const std::string& pattern : patterns) {
    if (::fnmatch(pattern.c_str(), text.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::optional<MetricsCollectorKind> parseCollectorKind(std::string_view name) {
  if (name == "cpu") return MetricsCollectorKind::kCpu;
  if (name == "memory") return MetricsCollectorKind::kMemory;
  if (name == "load") return MetricsCollectorKind::kLoad;
  if (name == "disk") return MetricsCollectorKind::kDisk;
  if (name == "network") return MetricsCollectorKind::kNetwork;
  if (name == "filesystem") return MetricsCollectorKind::kFilesystem;
  return std::nullopt;
}

const char* collectorName(MetricsCollectorKind kind) {
  switch (kind) {
    case MetricsCollectorKind::kCpu:
      return "cpu";
    case MetricsCollectorKind::kMemory:
      return "memory";
    case MetricsCollectorKind::kLoad:
      return "load";
    case MetricsCollectorKind::kDisk:
      return "disk";
    case MetricsCollectorKind::kNetwork:
      return "network";
    case MetricsCollectorKind::kFilesystem:
      return "filesystem";
  }
  return "?";
}

MetricsCollector::MetricsCollector(MetricsConfig config, std::string kind, std::string hostname)
    : config_(std::move(config)), kind_(std::move(kind)), hostname_(std::move(hostname)) {}

std::vector<Event> MetricsCollector::collect(int64_t mono_ns, int64_t wall_ns) {
  double elapsed_s = 0;
  if (have_previous_ && mono_ns > last_mono_ns_) {
    elapsed_s = static_cast<double>(mono_ns - last_mono_ns_) / 1e9;
  }
  std::vector<Event> out;
  for (MetricsCollectorKind kind : config_.collectors) {
    switch (kind) {
      case MetricsCollectorKind::kCpu:
        collectCpu(out, wall_ns, elapsed_s);
        break;
      case MetricsCollectorKind::kMemory:
        collectMemory(out, wall_ns);
        break;
      case MetricsCollectorKind::kLoad:
        collectLoad(out, wall_ns);
        break;
      case MetricsCollectorKind::kDisk:
        collectDisk(out, wall_ns, elapsed_s);
        break;
      case MetricsCollectorKind::kNetwork:
        collectNetwork(out, wall_ns, elapsed_s);
        break;
      case MetricsCollectorKind::kFilesystem:
        collectFilesystem(out, wall_ns);
        break;
    }
  }
  for (Event& event : out) event.raw = fieldsToJson(event.fields);
  last_mono_ns_ = mono_ns;
  have_previous_ = true;
  return out;
}

bool MetricsCollector::readFile(const char* relative, std::string& out) {
  std::string path = config_.proc_root + "/" + relative;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail("cannot open " + path + ": " + std::strerror(errno));
    return false;
  }
  out.clear();
  char chunk[16384];
  while (true) {
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fail("cannot read " + path + ": " + std::strerror(errno));
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out.append(chunk, static_cast<size_t>(n));
    if (out.size() > (16u << 20)) break;  // a /proc file is never this big; stay bounded
  }
  ::close(fd);
  return true;
}

void MetricsCollector::fail(std::string message) {
  ++errors_;
  last_error_ = std::move(message);
}

Event MetricsCollector::makeEvent(const char* source, int64_t wall_ns) const {
  Event event;
  event.ts_ns = wall_ns;
  event.kind = kind_;
  event.source = source;
  event.host = hostname_;
  event.severity = Severity::kInfo;
  return event;
}

void MetricsCollector::collectCpu(std::vector<Event>& out, int64_t wall_ns, double elapsed_s) {
  if (!readFile("stat", buffer_)) return;
  CpuSample now;
  int64_t cpus = 0;
  int64_t running = -1, blocked = -1;
  forEachLine(buffer_, [&](std::string_view line) {
    Tokens tokens(line);
    std::string_view name;
    if (!tokens.next(name)) return;
    if (name == "cpu") {
      now.valid = true;
      for (uint64_t& state : now.states) {
        if (!tokens.nextU64(state)) break;  // older kernels have fewer columns
      }
    } else if (name.size() > 3 && name.substr(0, 3) == "cpu") {
      ++cpus;
    } else if (name == "ctxt") {
      tokens.nextU64(now.ctxt);
    } else if (name == "processes") {
      tokens.nextU64(now.processes);
    } else if (name == "intr") {
      tokens.nextU64(now.intr);
    } else if (name == "procs_running") {
      uint64_t v = 0;
      if (tokens.nextU64(v)) running = toInt(v);
    } else if (name == "procs_blocked") {
      uint64_t v = 0;
      if (tokens.nextU64(v)) blocked = toInt(v);
    }
  });
  if (!now.valid) {
    fail(config_.proc_root + "/stat has no \"cpu\" line");
    return;
  }
  Event event = makeEvent("metrics:cpu", wall_ns);
  if (cpu_.valid && elapsed_s > 0) {
    uint64_t total_now = 0, total_before = 0;
    bool monotonic = true;
    for (size_t i = 0; i < 8; ++i) {
      total_now += now.states[i];
      total_before += cpu_.states[i];
      if (now.states[i] < cpu_.states[i]) monotonic = false;
    }
    if (monotonic && total_now > total_before) {
      double total = static_cast<double>(total_now - total_before);
      double pct[8];
      for (size_t i = 0; i < 8; ++i) {
        pct[i] = static_cast<double>(now.states[i] - cpu_.states[i]) * 100.0 / total;
        event.fields.push_back(Field{std::string(kCpuStates[i]) + "_pct", pct[i]});
      }
      event.fields.push_back(Field{"busy_pct", 100.0 - pct[3] - pct[4]});
    }
    if (now.ctxt >= cpu_.ctxt)
      event.fields.push_back(
          Field{"context_switches_per_sec", rate(now.ctxt, cpu_.ctxt, elapsed_s)});
    if (now.processes >= cpu_.processes)
      event.fields.push_back(
          Field{"forks_per_sec", rate(now.processes, cpu_.processes, elapsed_s)});
    if (now.intr >= cpu_.intr)
      event.fields.push_back(Field{"interrupts_per_sec", rate(now.intr, cpu_.intr, elapsed_s)});
  }
  event.fields.push_back(Field{"cpus", cpus});
  if (running >= 0) event.fields.push_back(Field{"procs_running", running});
  if (blocked >= 0) event.fields.push_back(Field{"procs_blocked", blocked});
  cpu_ = now;
  out.push_back(std::move(event));
}

void MetricsCollector::collectMemory(std::vector<Event>& out, int64_t wall_ns) {
  if (!readFile("meminfo", buffer_)) return;
  struct Want {
    std::string_view key;
    int64_t value = -1;
  } want[] = {{"MemTotal"}, {"MemFree"}, {"MemAvailable"}, {"Buffers"},
              {"Cached"},   {"Shmem"},   {"SwapTotal"},    {"SwapFree"}};
  forEachLine(buffer_, [&](std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string_view key = line.substr(0, colon);
    for (Want& w : want) {
      if (w.key != key) continue;
      Tokens tokens(line.substr(colon + 1));
      uint64_t kb = 0;
      std::string_view unit;
      if (tokens.nextU64(kb)) {
        uint64_t bytes = (tokens.next(unit) && unit == "kB") ? kb * 1024 : kb;
        w.value = toInt(bytes);
      }
    }
  });
  int64_t total = want[0].value, free = want[1].value, available = want[2].value;
  int64_t buffers = want[3].value, cached = want[4].value;
  if (total <= 0 || free < 0) {
    fail(config_.proc_root + "/meminfo has no MemTotal/MemFree");
    return;
  }
  // Kernels before 3.14 have no MemAvailable: estimate it the old way.
  if (available < 0)
    available = free + std::max<int64_t>(buffers, 0) + std::max<int64_t>(cached, 0);
  Event event = makeEvent("metrics:memory", wall_ns);
  int64_t used = total - available;
  event.fields.push_back(Field{"total_bytes", total});
  event.fields.push_back(Field{"free_bytes", free});
  event.fields.push_back(Field{"available_bytes", available});
  event.fields.push_back(Field{"used_bytes", used});
  event.fields.push_back(
      Field{"used_pct", static_cast<double>(used) * 100.0 / static_cast<double>(total)});
  if (buffers >= 0) event.fields.push_back(Field{"buffers_bytes", buffers});
  if (cached >= 0) event.fields.push_back(Field{"cached_bytes", cached});
  if (want[5].value >= 0) event.fields.push_back(Field{"shmem_bytes", want[5].value});
  if (want[6].value >= 0 && want[7].value >= 0) {
    event.fields.push_back(Field{"swap_total_bytes", want[6].value});
    event.fields.push_back(Field{"swap_free_bytes", want[7].value});
    event.fields.push_back(Field{"swap_used_bytes", want[6].value - want[7].value});
  }
  out.push_back(std::move(event));
}

void MetricsCollector::collectLoad(std::vector<Event>& out, int64_t wall_ns) {
  if (!readFile("loadavg", buffer_)) return;
  // "0.52 0.58 0.59 2/345 12345"
  Tokens tokens(buffer_);
  std::string_view t[4];
  for (auto& token : t) {
    if (!tokens.next(token)) {
      fail(config_.proc_root + "/loadavg is not \"load1 load5 load15 running/threads pid\"");
      return;
    }
  }
  double load[3];
  for (int i = 0; i < 3; ++i) {
    auto r = std::from_chars(t[i].data(), t[i].data() + t[i].size(), load[i]);
    if (r.ec != std::errc()) {
      fail(config_.proc_root + "/loadavg: \"" + std::string(t[i]) + "\" is not a number");
      return;
    }
  }
  Event event = makeEvent("metrics:load", wall_ns);
  event.fields.push_back(Field{"load1", load[0]});
  event.fields.push_back(Field{"load5", load[1]});
  event.fields.push_back(Field{"load15", load[2]});
  size_t slash = t[3].find('/');
  uint64_t runnable = 0, threads = 0;
  if (slash != std::string_view::npos &&
      std::from_chars(t[3].data(), t[3].data() + slash, runnable).ec == std::errc() &&
      std::from_chars(t[3].data() + slash + 1, t[3].data() + t[3].size(), threads).ec ==
          std::errc()) {
    event.fields.push_back(Field{"runnable", toInt(runnable)});
    event.fields.push_back(Field{"threads", toInt(threads)});
  }
  out.push_back(std::move(event));
}

bool MetricsCollector::wantDisk(std::string_view device) const {
  if (!config_.disk_devices.empty()) return matchesAny(config_.disk_devices, device);
  return device.substr(0, 4) != "loop" && device.substr(0, 3) != "ram";
}

bool MetricsCollector::wantInterface(std::string_view name) const {
  return config_.network_interfaces.empty() || matchesAny(config_.network_interfaces, name);
}

void MetricsCollector::collectDisk(std::vector<Event>& out, int64_t wall_ns, double elapsed_s) {
  if (!readFile("diskstats", buffer_)) return;
  std::map<std::string, DiskSample, std::less<>> now;
  forEachLine(buffer_, [&](std::string_view line) {
    Tokens tokens(line);
    std::string_view major, minor, device;
    uint64_t v[11] = {};
    if (!tokens.next(major) || !tokens.next(minor) || !tokens.next(device)) return;
    for (uint64_t& x : v) {
      if (!tokens.nextU64(x)) return;  // fewer than the 11 classic columns: not a disk line
    }
    if (!wantDisk(device)) return;
    // v: reads merged sectors_read ms_reading writes merged sectors_written
    //    ms_writing in_progress io_ms weighted_io_ms
    DiskSample sample{v[0], v[4], v[2], v[6], v[9]};
    Event event = makeEvent("metrics:disk", wall_ns);
    event.fields.push_back(Field{"device", std::string(device)});
    event.fields.push_back(Field{"reads", toInt(sample.reads)});
    event.fields.push_back(Field{"writes", toInt(sample.writes)});
    event.fields.push_back(Field{"read_bytes", toInt(sample.read_sectors * kSectorBytes)});
    event.fields.push_back(Field{"write_bytes", toInt(sample.write_sectors * kSectorBytes)});
    event.fields.push_back(Field{"io_time_ms", toInt(sample.io_ms)});
    event.fields.push_back(Field{"in_progress", toInt(v[8])});
    auto before = disks_.find(device);
    if (before != disks_.end() && elapsed_s > 0) {
      const DiskSample& b = before->second;
      if (sample.reads >= b.reads)
        event.fields.push_back(Field{"reads_per_sec", rate(sample.reads, b.reads, elapsed_s)});
      if (sample.writes >= b.writes)
        event.fields.push_back(Field{"writes_per_sec", rate(sample.writes, b.writes, elapsed_s)});
      if (sample.read_sectors >= b.read_sectors)
        event.fields.push_back(
            Field{"read_bytes_per_sec",
                  rate(sample.read_sectors, b.read_sectors, elapsed_s) * kSectorBytes});
      if (sample.write_sectors >= b.write_sectors)
        event.fields.push_back(
            Field{"write_bytes_per_sec",
                  rate(sample.write_sectors, b.write_sectors, elapsed_s) * kSectorBytes});
      if (sample.io_ms >= b.io_ms) {
        double util = static_cast<double>(sample.io_ms - b.io_ms) / (elapsed_s * 1000.0) * 100.0;
        event.fields.push_back(Field{"util_pct", std::min(util, 100.0)});
      }
    }
    now.emplace(std::string(device), sample);
    out.push_back(std::move(event));
  });
  disks_ = std::move(now);
}

void MetricsCollector::collectNetwork(std::vector<Event>& out, int64_t wall_ns, double elapsed_s) {
  if (!readFile("net/dev", buffer_)) return;
  std::map<std::string, NetSample, std::less<>> now;
  forEachLine(buffer_, [&](std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;  // the two header lines
    std::string_view name = line.substr(0, colon);
    name.remove_prefix(std::min(name.find_first_not_of(' '), name.size()));
    if (name.empty() || !wantInterface(name)) return;
    // Receive: bytes packets errs drop fifo frame compressed multicast;
    // Transmit: bytes packets errs drop fifo colls carrier compressed.
    uint64_t col[16] = {};
    Tokens tokens(line.substr(colon + 1));
    for (uint64_t& c : col) {
      if (!tokens.nextU64(c)) return;
    }
    NetSample sample;
    for (int i = 0; i < 4; ++i) {
      sample.v[i] = col[i];
      sample.v[4 + i] = col[8 + i];
    }
    Event event = makeEvent("metrics:network", wall_ns);
    event.fields.push_back(Field{"interface", std::string(name)});
    for (int i = 0; i < 8; ++i) event.fields.push_back(Field{kNetNames[i], toInt(sample.v[i])});
    auto before = nets_.find(name);
    if (before != nets_.end() && elapsed_s > 0) {
      for (int i = 0; i < 8; ++i) {
        if (sample.v[i] < before->second.v[i]) continue;
        event.fields.push_back(Field{std::string(kNetNames[i]) + "_per_sec",
                                     rate(sample.v[i], before->second.v[i], elapsed_s)});
      }
    }
    now.emplace(std::string(name), sample);
    out.push_back(std::move(event));
  });
  nets_ = std::move(now);
}

void MetricsCollector::collectFilesystem(std::vector<Event>& out, int64_t wall_ns) {
  for (const std::string& mount : config_.mount_points) {
    struct statvfs st {};
    if (::statvfs(mount.c_str(), &st) != 0) {
      fail("cannot statvfs " + mount + ": " + std::strerror(errno));
      continue;
    }
    uint64_t frsize = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
    uint64_t total = static_cast<uint64_t>(st.f_blocks) * frsize;
    uint64_t free = static_cast<uint64_t>(st.f_bfree) * frsize;
    uint64_t avail = static_cast<uint64_t>(st.f_bavail) * frsize;
    uint64_t used = total >= free ? total - free : 0;
    Event event = makeEvent("metrics:filesystem", wall_ns);
    event.fields.push_back(Field{"mount_point", mount});
    event.fields.push_back(Field{"total_bytes", toInt(total)});
    event.fields.push_back(Field{"free_bytes", toInt(free)});
    event.fields.push_back(Field{"available_bytes", toInt(avail)});
    event.fields.push_back(Field{"used_bytes", toInt(used)});
    // As df(1) computes Use%: the part of what non-root users can have.
    if (used + avail > 0) {
      event.fields.push_back(
          Field{"used_pct", static_cast<double>(used) * 100.0 / static_cast<double>(used + avail)});
    }
    event.fields.push_back(Field{"inodes_total", toInt(st.f_files)});
    event.fields.push_back(Field{"inodes_free", toInt(st.f_ffree)});
    if (st.f_files > 0) {
      event.fields.push_back(Field{"inodes_used_pct", static_cast<double>(st.f_files - st.f_ffree) *
                                                          100.0 / static_cast<double>(st.f_files)});
    }
    out.push_back(std::move(event));
  }
}

}  // namespace edge::agent
