// Host metrics from /proc (and statvfs) for the metrics input, as events.
// Kept apart from the input's timer so tests feed it fixture files and a
// hand-driven clock.
//
// Events (kind "metric" by default; source names the collector):
//   metrics:cpu         one per sample: <state>_pct for user nice system idle
//                       iowait irq softirq steal, busy_pct, cpus,
//                       context_switches_per_sec, forks_per_sec,
//                       interrupts_per_sec, procs_running, procs_blocked
//   metrics:memory      total_bytes free_bytes available_bytes used_bytes
//                       used_pct buffers_bytes cached_bytes shmem_bytes
//                       swap_total_bytes swap_free_bytes swap_used_bytes
//   metrics:load        load1 load5 load15 runnable threads
//   metrics:disk        one per device: device reads writes read_bytes
//                       write_bytes io_time_ms in_progress, and the rates
//                       reads_per_sec writes_per_sec read_bytes_per_sec
//                       write_bytes_per_sec util_pct
//   metrics:network     one per interface: interface rx_/tx_ bytes packets
//                       errors drops, and each as <name>_per_sec
//   metrics:filesystem  one per mount point: mount_point total_bytes
//                       free_bytes available_bytes used_bytes used_pct
//                       inodes_total inodes_free inodes_used_pct
// Counters are cumulative ints; percentages and rates are floats computed
// against the previous sample, so the first sample has none of them (and a
// counter that went backwards, e.g. a re-created device, gets no rate).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::agent {

enum class MetricsCollectorKind : uint8_t { kCpu, kMemory, kLoad, kDisk, kNetwork, kFilesystem };

struct MetricsConfig {
  std::vector<MetricsCollectorKind> collectors{
      MetricsCollectorKind::kCpu,     MetricsCollectorKind::kMemory,
      MetricsCollectorKind::kLoad,    MetricsCollectorKind::kDisk,
      MetricsCollectorKind::kNetwork, MetricsCollectorKind::kFilesystem};
  std::string proc_root = "/proc";
  std::vector<std::string> mount_points{"/"};
  // fnmatch(3) patterns; empty: every device except loop* and ram*.
  std::vector<std::string> disk_devices;
  // fnmatch(3) patterns; empty: every interface.
  std::vector<std::string> network_interfaces;
};

std::optional<MetricsCollectorKind> parseCollectorKind(std::string_view name);
const char* collectorName(MetricsCollectorKind kind);

class MetricsCollector {
 public:
  MetricsCollector(MetricsConfig config, std::string kind, std::string hostname);

  // Takes one sample. `mono_ns` is a monotonic clock (rates), `wall_ns` the
  // events' time. A collector whose file cannot be read is skipped and
  // counted in errors(), with a reason in lastError().
  std::vector<Event> collect(int64_t mono_ns, int64_t wall_ns);

  uint64_t errors() const { return errors_; }
  const std::string& lastError() const { return last_error_; }

 private:
  struct CpuSample {
    uint64_t states[8] = {};  // user nice system idle iowait irq softirq steal
    uint64_t ctxt = 0, processes = 0, intr = 0;
    bool valid = false;
  };
  struct DiskSample {
    uint64_t reads = 0, writes = 0, read_sectors = 0, write_sectors = 0, io_ms = 0;
  };
  struct NetSample {
    uint64_t v[8] = {};  // rx bytes packets errors drops, tx bytes packets errors drops
  };

  bool readFile(const char* relative, std::string& out);
  void fail(std::string message);
  Event makeEvent(const char* source, int64_t wall_ns) const;

  void collectCpu(std::vector<Event>& out, int64_t wall_ns, double elapsed_s);
  void collectMemory(std::vector<Event>& out, int64_t wall_ns);
  void collectLoad(std::vector<Event>& out, int64_t wall_ns);
  void collectDisk(std::vector<Event>& out, int64_t wall_ns, double elapsed_s);
  void collectNetwork(std::vector<Event>& out, int64_t wall_ns, double elapsed_s);
  void collectFilesystem(std::vector<Event>& out, int64_t wall_ns);
  bool wantDisk(std::string_view device) const;
  bool wantInterface(std::string_view name) const;

  MetricsConfig config_;
  std::string kind_;
  std::string hostname_;
  std::string buffer_;
  int64_t last_mono_ns_ = 0;
  bool have_previous_ = false;
  CpuSample cpu_;
  std::map<std::string, DiskSample, std::less<>> disks_;
  std::map<std::string, NetSample, std::less<>> nets_;
  uint64_t errors_ = 0;
  std::string last_error_;
};

}  // namespace edge::agent
