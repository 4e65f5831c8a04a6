// Tests of the metrics input: exact values from fixture /proc files (two
// samples ten seconds apart for the rates), configuration, a smoke run on
// the real /proc, and the input on a libuv loop.
#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <uv.h>

#include <filesystem>

#include "edge/common/config.h"
#include "edge/common/metrics.h"
#include "inputs/in_metrics/metrics_collector.h"
#include "inputs/in_metrics/metrics_input.h"
#include "test_support.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int64_t kSec = 1'000'000'000;
const std::string kFixtures = std::string(EDGE_SOURCE_DIR) + "/tests/unit/agent/fixtures/";

const Event* findEvent(const std::vector<Event>& events, std::string_view source,
                       std::string_view key = {}, std::string_view value = {}) {
  for (const Event& event : events) {
    if (event.source != source) continue;
    if (key.empty()) return &event;
    const FieldValue* v = event.findField(key);
    if (v != nullptr && std::holds_alternative<std::string>(*v) &&
        std::get<std::string>(*v) == value)
      return &event;
  }
  return nullptr;
}

int64_t intField(const Event& event, std::string_view key) {
  const FieldValue* v = event.findField(key);
  EXPECT_NE(v, nullptr) << key << " missing in " << event.raw;
  if (v == nullptr || !std::holds_alternative<int64_t>(*v)) {
    ADD_FAILURE() << key << " is not an int in " << event.raw;
    return -1;
  }
  return std::get<int64_t>(*v);
}

double floatField(const Event& event, std::string_view key) {
  const FieldValue* v = event.findField(key);
  EXPECT_NE(v, nullptr) << key << " missing in " << event.raw;
  if (v == nullptr || !std::holds_alternative<double>(*v)) {
    ADD_FAILURE() << key << " is not a float in " << event.raw;
    return -1;
  }
  return std::get<double>(*v);
}

class FixtureProc : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::copy(kFixtures + "proc", dir_.path(), fs::copy_options::recursive);
    config_.proc_root = dir_.path();
    config_.mount_points = {dir_.path()};
  }
  void advance() {
    fs::copy(kFixtures + "proc-later", dir_.path(),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  }
  TempDir dir_;
  MetricsConfig config_;
};

TEST_F(FixtureProc, FirstSampleHasCountersButNoRates) {
  MetricsCollector collector(config_, "metric", "host-a");
  std::vector<Event> events = collector.collect(5 * kSec, 1773446400 * kSec);
  EXPECT_EQ(collector.errors(), 0u) << collector.lastError();
  // cpu, memory, load, 2 disks (loop0 and ram0 skipped), 2 interfaces, 1 filesystem.
  ASSERT_EQ(events.size(), 8u);
  for (const Event& event : events) {
    EXPECT_EQ(event.kind, "metric");
    EXPECT_EQ(event.host, "host-a");
    EXPECT_EQ(event.ts_ns, 1773446400 * kSec);
    EXPECT_EQ(event.raw, fieldsToJson(event.fields));
  }
  const Event* cpu = findEvent(events, "metrics:cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(intField(*cpu, "cpus"), 2);
  EXPECT_EQ(intField(*cpu, "procs_running"), 3);
  EXPECT_EQ(intField(*cpu, "procs_blocked"), 1);
  EXPECT_EQ(cpu->findField("user_pct"), nullptr);
  EXPECT_EQ(cpu->findField("context_switches_per_sec"), nullptr);

  const Event* memory = findEvent(events, "metrics:memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(intField(*memory, "total_bytes"), 16384000LL * 1024);
  EXPECT_EQ(intField(*memory, "free_bytes"), 4096000LL * 1024);
  EXPECT_EQ(intField(*memory, "available_bytes"), 8192000LL * 1024);
  EXPECT_EQ(intField(*memory, "used_bytes"), 8192000LL * 1024);
  EXPECT_DOUBLE_EQ(floatField(*memory, "used_pct"), 50.0);
  EXPECT_EQ(intField(*memory, "buffers_bytes"), 512000LL * 1024);
  EXPECT_EQ(intField(*memory, "cached_bytes"), 2048000LL * 1024);
  EXPECT_EQ(intField(*memory, "shmem_bytes"), 128000LL * 1024);
  EXPECT_EQ(intField(*memory, "swap_total_bytes"), 2048000LL * 1024);
  EXPECT_EQ(intField(*memory, "swap_free_bytes"), 1024000LL * 1024);
  EXPECT_EQ(intField(*memory, "swap_used_bytes"), 1024000LL * 1024);

  const Event* load = findEvent(events, "metrics:load");
  ASSERT_NE(load, nullptr);
  EXPECT_DOUBLE_EQ(floatField(*load, "load1"), 0.52);
  EXPECT_DOUBLE_EQ(floatField(*load, "load5"), 0.58);
  EXPECT_DOUBLE_EQ(floatField(*load, "load15"), 0.59);
  EXPECT_EQ(intField(*load, "runnable"), 2);
  EXPECT_EQ(intField(*load, "threads"), 345);

  EXPECT_EQ(findEvent(events, "metrics:disk", "device", "loop0"), nullptr);
  EXPECT_EQ(findEvent(events, "metrics:disk", "device", "ram0"), nullptr);
  const Event* vda = findEvent(events, "metrics:disk", "device", "vda");
  ASSERT_NE(vda, nullptr);
  EXPECT_EQ(intField(*vda, "reads"), 1000);
  EXPECT_EQ(intField(*vda, "writes"), 2000);
  EXPECT_EQ(intField(*vda, "read_bytes"), 20000 * 512);
  EXPECT_EQ(intField(*vda, "write_bytes"), 40000 * 512);
  EXPECT_EQ(intField(*vda, "io_time_ms"), 3000);
  EXPECT_EQ(intField(*vda, "in_progress"), 0);
  EXPECT_EQ(vda->findField("reads_per_sec"), nullptr);
  const Event* vda1 = findEvent(events, "metrics:disk", "device", "vda1");
  ASSERT_NE(vda1, nullptr);  // the 11-column format of older kernels
  EXPECT_EQ(intField(*vda1, "in_progress"), 1);

  const Event* eth0 = findEvent(events, "metrics:network", "interface", "eth0");
  ASSERT_NE(eth0, nullptr);
  EXPECT_EQ(intField(*eth0, "rx_bytes"), 12345678);
  EXPECT_EQ(intField(*eth0, "rx_packets"), 20000);
  EXPECT_EQ(intField(*eth0, "rx_errors"), 2);
  EXPECT_EQ(intField(*eth0, "rx_drops"), 3);
  EXPECT_EQ(intField(*eth0, "tx_bytes"), 5000000);
  EXPECT_EQ(intField(*eth0, "tx_packets"), 15000);
  EXPECT_EQ(intField(*eth0, "tx_errors"), 1);
  EXPECT_EQ(intField(*eth0, "tx_drops"), 4);
  EXPECT_NE(findEvent(events, "metrics:network", "interface", "lo"), nullptr);
}

TEST_F(FixtureProc, SecondSampleHasExactRates) {
  MetricsCollector collector(config_, "metric", "h");
  (void)collector.collect(5 * kSec, 0);
  advance();
  std::vector<Event> events = collector.collect(15 * kSec, 0);  // 10 s later
  EXPECT_EQ(collector.errors(), 0u) << collector.lastError();

  const Event* cpu = findEvent(events, "metrics:cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "user_pct"), 20.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "nice_pct"), 0.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "system_pct"), 10.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "idle_pct"), 60.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "iowait_pct"), 5.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "irq_pct"), 0.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "softirq_pct"), 5.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "steal_pct"), 0.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "busy_pct"), 35.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "context_switches_per_sec"), 2000.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "forks_per_sec"), 10.0);
  EXPECT_DOUBLE_EQ(floatField(*cpu, "interrupts_per_sec"), 5000.0);
  EXPECT_EQ(intField(*cpu, "procs_running"), 5);
  EXPECT_EQ(intField(*cpu, "procs_blocked"), 0);

  const Event* vda = findEvent(events, "metrics:disk", "device", "vda");
  ASSERT_NE(vda, nullptr);
  EXPECT_DOUBLE_EQ(floatField(*vda, "reads_per_sec"), 10.0);
  EXPECT_DOUBLE_EQ(floatField(*vda, "writes_per_sec"), 50.0);
  EXPECT_DOUBLE_EQ(floatField(*vda, "read_bytes_per_sec"), 102400.0);
  EXPECT_DOUBLE_EQ(floatField(*vda, "write_bytes_per_sec"), 512000.0);
  EXPECT_DOUBLE_EQ(floatField(*vda, "util_pct"), 20.0);
  EXPECT_EQ(intField(*vda, "in_progress"), 2);
  const Event* vda1 = findEvent(events, "metrics:disk", "device", "vda1");
  ASSERT_NE(vda1, nullptr);
  EXPECT_DOUBLE_EQ(floatField(*vda1, "reads_per_sec"), 5.0);
  EXPECT_DOUBLE_EQ(floatField(*vda1, "read_bytes_per_sec"), 51200.0);

  const Event* eth0 = findEvent(events, "metrics:network", "interface", "eth0");
  ASSERT_NE(eth0, nullptr);
  EXPECT_DOUBLE_EQ(floatField(*eth0, "rx_bytes_per_sec"), 100000.0);
  EXPECT_DOUBLE_EQ(floatField(*eth0, "rx_packets_per_sec"), 100.0);
  EXPECT_DOUBLE_EQ(floatField(*eth0, "rx_errors_per_sec"), 0.0);
  EXPECT_DOUBLE_EQ(floatField(*eth0, "rx_drops_per_sec"), 0.2);
  EXPECT_DOUBLE_EQ(floatField(*eth0, "tx_bytes_per_sec"), 100000.0);
  EXPECT_DOUBLE_EQ(floatField(*eth0, "tx_packets_per_sec"), 50.0);
  const Event* lo = findEvent(events, "metrics:network", "interface", "lo");
  ASSERT_NE(lo, nullptr);
  EXPECT_DOUBLE_EQ(floatField(*lo, "rx_bytes_per_sec"), 10000.0);
}

TEST_F(FixtureProc, CountersGoingBackwardsGiveNoRate) {
  MetricsCollector collector(config_, "metric", "h");
  advance();
  (void)collector.collect(5 * kSec, 0);
  fs::copy(kFixtures + "proc", dir_.path(),
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::vector<Event> events = collector.collect(15 * kSec, 0);
  const Event* cpu = findEvent(events, "metrics:cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->findField("user_pct"), nullptr);
  EXPECT_EQ(cpu->findField("context_switches_per_sec"), nullptr);
  const Event* eth0 = findEvent(events, "metrics:network", "interface", "eth0");
  ASSERT_NE(eth0, nullptr);
  EXPECT_EQ(eth0->findField("rx_bytes_per_sec"), nullptr);
  const Event* vda = findEvent(events, "metrics:disk", "device", "vda");
  ASSERT_NE(vda, nullptr);
  EXPECT_EQ(vda->findField("reads_per_sec"), nullptr);
  EXPECT_EQ(vda->findField("util_pct"), nullptr);
  EXPECT_EQ(intField(*vda, "reads"), 1000);
}

TEST_F(FixtureProc, CollectorsAndFiltersAreHonoured) {
  config_.collectors = {MetricsCollectorKind::kDisk, MetricsCollectorKind::kNetwork};
  config_.disk_devices = {"loop*", "vda"};
  config_.network_interfaces = {"eth*"};
  MetricsCollector collector(config_, "m", "h");
  std::vector<Event> events = collector.collect(kSec, 0);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_NE(findEvent(events, "metrics:disk", "device", "loop0"), nullptr);
  EXPECT_NE(findEvent(events, "metrics:disk", "device", "vda"), nullptr);
  EXPECT_NE(findEvent(events, "metrics:network", "interface", "eth0"), nullptr);
  EXPECT_EQ(events[0].kind, "m");
}

TEST_F(FixtureProc, FilesystemUsageMatchesStatvfs) {
  config_.collectors = {MetricsCollectorKind::kFilesystem};
  config_.mount_points = {dir_.path(), "/no/such/mount"};
  MetricsCollector collector(config_, "metric", "h");
  std::vector<Event> events = collector.collect(kSec, 0);
  EXPECT_EQ(collector.errors(), 1u);
  EXPECT_NE(collector.lastError().find("/no/such/mount"), std::string::npos);
  ASSERT_EQ(events.size(), 1u);
  struct statvfs st {};
  ASSERT_EQ(::statvfs(dir_.path().c_str(), &st), 0);
  const Event& fsev = events[0];
  EXPECT_EQ(std::get<std::string>(*fsev.findField("mount_point")), dir_.path());
  EXPECT_EQ(intField(fsev, "total_bytes"), static_cast<int64_t>(st.f_blocks * st.f_frsize));
  EXPECT_EQ(intField(fsev, "inodes_total"), static_cast<int64_t>(st.f_files));
  EXPECT_EQ(intField(fsev, "used_bytes") + intField(fsev, "free_bytes"),
            intField(fsev, "total_bytes"));
  double pct = floatField(fsev, "used_pct");
  EXPECT_GE(pct, 0.0);
  EXPECT_LE(pct, 100.0);
}

TEST_F(FixtureProc, MissingFilesAreCountedNotFatal) {
  fs::remove(dir_.file("meminfo"));
  fs::remove_all(dir_.file("net"));
  MetricsCollector collector(config_, "metric", "h");
  std::vector<Event> events = collector.collect(kSec, 0);
  EXPECT_EQ(collector.errors(), 2u);
  EXPECT_EQ(findEvent(events, "metrics:memory"), nullptr);
  EXPECT_EQ(findEvent(events, "metrics:network"), nullptr);
  EXPECT_NE(findEvent(events, "metrics:cpu"), nullptr);
  EXPECT_NE(collector.lastError().find("net/dev"), std::string::npos) << collector.lastError();
}

TEST(MetricsRealProcTest, SmokeRun) {
  MetricsConfig config;  // /proc, "/", every collector
  MetricsCollector collector(config, "metric", "h");
  (void)collector.collect(static_cast<int64_t>(uv_hrtime()), nowNs());
  uv_sleep(200);
  std::vector<Event> events = collector.collect(static_cast<int64_t>(uv_hrtime()), nowNs());
  EXPECT_EQ(collector.errors(), 0u) << collector.lastError();
  const Event* cpu = findEvent(events, "metrics:cpu");
  ASSERT_NE(cpu, nullptr);
  EXPECT_GE(intField(*cpu, "cpus"), 1);
  if (cpu->findField("idle_pct") != nullptr) {
    double sum = 0;
    for (const char* s : {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"})
      sum += floatField(*cpu, std::string(s) + "_pct");
    EXPECT_NEAR(sum, 100.0, 0.01);
  }
  const Event* memory = findEvent(events, "metrics:memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_GT(intField(*memory, "total_bytes"), 0);
  EXPECT_NE(findEvent(events, "metrics:load"), nullptr);
  EXPECT_NE(findEvent(events, "metrics:network", "interface", "lo"), nullptr);
  EXPECT_NE(findEvent(events, "metrics:filesystem", "mount_point", "/"), nullptr);
}

// --- configuration ---------------------------------------------------------

struct Parsed {
  std::unique_ptr<InputSpec> spec;
  std::vector<std::string> errors;
};

Parsed parseYaml(const std::string& yaml) {
  auto doc = ConfigDocument::parse(yaml, "agent.yaml");
  EXPECT_TRUE(doc.ok());
  InputCommonConfig common;
  common.type = "metrics";
  common.name = "m";
  Parsed parsed;
  parsed.spec = metricsInputType().parse((*doc)->root(), common);
  parsed.errors = (*doc)->errors();
  return parsed;
}

TEST(MetricsConfigTest, DefaultsAndErrors) {
  EXPECT_EQ(metricsInputType().type, "metrics");
  EXPECT_EQ(metricsInputType().default_kind, "metric");
  Parsed ok =
      parseYaml("type: metrics\ninterval: 30s\ncollectors: [cpu, disk]\nmount_points: [/, /var]\n");
  EXPECT_TRUE(ok.errors.empty()) << ok.errors.front();
  ASSERT_NE(ok.spec, nullptr);

  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"type: metrics\nintervall: 5s\n", "intervall"},
      {"type: metrics\ncollectors: [cpu, gpu]\n", "unknown collector \"gpu\""},
      {"type: metrics\ncollectors: []\n", "expected at least one"},
      {"type: metrics\ninterval: 1ms\n", "between 100ms and 24h"},
      {"type: metrics\nproc_root: proc\n", "absolute path"},
  };
  for (const Case& c : cases) {
    Parsed p = parseYaml(c.yaml);
    ASSERT_FALSE(p.errors.empty()) << c.yaml;
    EXPECT_NE(p.errors[0].find(c.expected), std::string::npos) << c.yaml << " -> " << p.errors[0];
  }
}

// --- the input on a loop ----------------------------------------------------

class CollectingSink : public InputSink {
 public:
  void deliver(std::string_view input, std::vector<Event>&& delivered,
               std::vector<InputPosition>&& positions) override {
    EXPECT_EQ(input, "m");
    EXPECT_TRUE(positions.empty());
    ++deliveries;
    for (Event& e : delivered) events.push_back(std::move(e));
  }
  int deliveries = 0;
  std::vector<Event> events;
};

TEST(MetricsInputTest, SamplesOnItsIntervalAndStopsWhenPaused) {
  TempDir dir;
  fs::copy(kFixtures + "proc", dir.path(), fs::copy_options::recursive);
  uv_loop_t loop;
  uv_loop_init(&loop);
  MetricsRegistry registry;
  CollectingSink sink;
  InputContext context;
  context.loop = &loop;
  context.hostname = "host-a";
  context.limits.max_events = 3;  // a sample (8 events) is split into deliveries
  context.sink = &sink;
  context.metrics = &registry;
  InputCommonConfig common;
  common.type = "metrics";
  common.name = "m";
  MetricsInputConfig config;
  config.interval = std::chrono::milliseconds(100);
  config.metrics.proc_root = dir.path();
  config.metrics.mount_points = {dir.path()};
  {
    MetricsInput input(context, common, config);
    ASSERT_TRUE(input.start({}).ok());
    ASSERT_TRUE(testing::runUntil(&loop, [&] { return input.samples() >= 2; }));
    EXPECT_EQ(sink.events.size(), 16u);
    EXPECT_EQ(sink.deliveries, 6);  // 3 + 3 + 2 per sample
    EXPECT_EQ(input.stats().events_read, 16u);
    EXPECT_EQ(input.stats().errors, 0u);
    EXPECT_EQ(sink.events[0].kind, "metric");
    EXPECT_EQ(sink.events[0].host, "host-a");

    input.pause();
    uint64_t samples = input.samples();
    testing::runFor(&loop, std::chrono::milliseconds(350));
    EXPECT_EQ(input.samples(), samples);
    input.resume();
    ASSERT_TRUE(testing::runUntil(&loop, [&] { return input.samples() > samples; }));
    input.close();
    testing::closeLoop(&loop);
  }
  EXPECT_NE(registry.renderPrometheus().find("edge_agent_events_read_total{input=\"m\"} "),
            std::string::npos);
}

}  // namespace
}  // namespace edge::agent
