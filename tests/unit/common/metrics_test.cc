// Tests for the metrics registry and its Prometheus text exposition.
#include "edge/common/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

namespace edge {
namespace {

TEST(MetricsTest, ExpositionOfASmallRegistry) {
  MetricsRegistry registry;
  // Registered out of name order: families come out sorted, series in
  // registration order.
  registry.counter("edge_b_total", "B things", {{"input", "tail"}}).inc(3);
  registry.counter("edge_b_total", "B things", {{"input", "syslog"}}).inc();
  registry.gauge("edge_a_queue", "A gauge").set(-5);
  auto& h = registry.histogram("edge_c_seconds", "Latency", {0.1, 1, 2.5}, {{"op", "x"}});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(3);
  EXPECT_EQ(registry.renderPrometheus(),
            "# HELP edge_a_queue A gauge\n"
            "# TYPE edge_a_queue gauge\n"
            "edge_a_queue -5\n"
            "# HELP edge_b_total B things\n"
            "# TYPE edge_b_total counter\n"
            "edge_b_total{input=\"tail\"} 3\n"
            "edge_b_total{input=\"syslog\"} 1\n"
            "# HELP edge_c_seconds Latency\n"
            "# TYPE edge_c_seconds histogram\n"
            "edge_c_seconds_bucket{op=\"x\",le=\"0.1\"} 1\n"
            "edge_c_seconds_bucket{op=\"x\",le=\"1\"} 2\n"
            "edge_c_seconds_bucket{op=\"x\",le=\"2.5\"} 2\n"
            "edge_c_seconds_bucket{op=\"x\",le=\"+Inf\"} 3\n"
            "edge_c_seconds_sum{op=\"x\"} 3.55\n"
            "edge_c_seconds_count{op=\"x\"} 3\n");
}

TEST(MetricsTest, EmptyRegistryRendersNothing) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.renderPrometheus(), "");
}

TEST(MetricsTest, SameNameAndLabelsReturnTheSameObject) {
  MetricsRegistry registry;
  Counter& a = registry.counter("c_total", "h", {{"k", "v"}});
  Counter& b = registry.counter("c_total", "h", {{"k", "v"}});
  Counter& other = registry.counter("c_total", "h", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
  a.inc(2);
  EXPECT_EQ(b.value(), 2u);
  EXPECT_EQ(other.value(), 0u);
  Gauge& g1 = registry.gauge("g", "h");
  Gauge& g2 = registry.gauge("g", "h");
  EXPECT_EQ(&g1, &g2);
  Histogram& h1 = registry.histogram("h_seconds", "h", {1});
  Histogram& h2 = registry.histogram("h_seconds", "h", {1, 2});
  EXPECT_EQ(&h1, &h2);
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry registry;
  registry
      .counter("esc_total", "Help with \\ and\nnewline and \"quotes\"",
               {{"path", "C:\\dir\n\"x\""}})
      .inc();
  EXPECT_EQ(registry.renderPrometheus(),
            "# HELP esc_total Help with \\\\ and\\nnewline and \"quotes\"\n"
            "# TYPE esc_total counter\n"
            "esc_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsTest, HistogramBucketsAreInclusiveAndCumulative) {
  Histogram h({5, 1, 2});  // unsorted on purpose
  h.observe(1);            // exactly on a bound: counts in le="1"
  h.observe(1.0000001);
  h.observe(2);
  h.observe(100);
  h.observe(-3);
  auto snap = h.snapshot();
  ASSERT_EQ(snap.bounds, (std::vector<double>{1, 2, 5}));
  ASSERT_EQ(snap.cumulative, (std::vector<uint64_t>{2, 4, 4, 5}));
  EXPECT_EQ(snap.count, 5u);
  EXPECT_NEAR(snap.sum, 1 + 1.0000001 + 2 + 100 - 3, 1e-6);
}

TEST(MetricsTest, HistogramWithoutLabelsAndLargeBounds) {
  MetricsRegistry registry;
  auto& h = registry.histogram("size_bytes", "Sizes",
                               {1024, 1e6, std::numeric_limits<double>::infinity()});
  h.observe(2e6);
  EXPECT_EQ(registry.renderPrometheus(),
            "# HELP size_bytes Sizes\n"
            "# TYPE size_bytes histogram\n"
            "size_bytes_bucket{le=\"1024\"} 0\n"
            "size_bytes_bucket{le=\"1e+06\"} 0\n"
            "size_bytes_bucket{le=\"+Inf\"} 1\n"
            "size_bytes_sum 2e+06\n"
            "size_bytes_count 1\n");
}

TEST(MetricsTest, GaugeAddAndSet) {
  MetricsRegistry registry;
  Gauge& g = registry.gauge("inflight", "In flight");
  g.add(5);
  g.add(-2);
  EXPECT_EQ(g.value(), 3);
  g.set(10);
  EXPECT_EQ(g.value(), 10);
}

TEST(MetricsTest, ConcurrentUpdatesFromTwoThreads) {
  MetricsRegistry registry;
  constexpr int kPerThread = 200000;
  auto work = [&registry] {
    // Registration from both threads at once must converge on one object.
    Counter& c = registry.counter("events_total", "Events", {{"t", "shared"}});
    Gauge& g = registry.gauge("level", "Level");
    Histogram& h = registry.histogram("lat_seconds", "Latency", {0.5});
    for (int i = 0; i < kPerThread; ++i) {
      c.inc();
      g.add(1);
      h.observe(i % 2 == 0 ? 0.25 : 1.0);
    }
  };
  std::thread a(work);
  std::thread b(work);
  a.join();
  b.join();
  EXPECT_EQ(registry.counter("events_total", "Events", {{"t", "shared"}}).value(), 2u * kPerThread);
  EXPECT_EQ(registry.gauge("level", "Level").value(), 2 * kPerThread);
  auto snap = registry.histogram("lat_seconds", "Latency", {0.5}).snapshot();
  EXPECT_EQ(snap.count, 2u * kPerThread);
  EXPECT_EQ(snap.cumulative[0], uint64_t{kPerThread});
  EXPECT_DOUBLE_EQ(snap.sum, kPerThread * 0.25 + kPerThread * 1.0);
}

TEST(MetricsDeathTest, TypeMismatchAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.counter("dup_total", "h");
        registry.gauge("dup_total", "h");
      },
      "metric \"dup_total\" registered as a gauge but it already exists as a counter");
}

TEST(MetricsDeathTest, InvalidNamesAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.counter("1bad", "h");
      },
      "invalid metric name \"1bad\"");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.counter("has-dash", "h");
      },
      "invalid metric name");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.counter("ok_total", "h", {{"bad-label", "v"}});
      },
      "invalid label name \"bad-label\"");
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.histogram("h_seconds", "h", {1}, {{"le", "v"}});
      },
      "invalid label name \"le\"");
}

TEST(MetricsTest, ValidNamesWithColonsAndDigits) {
  MetricsRegistry registry;
  registry.counter("job:rate_5m", "Recording-rule style name").inc();
  registry.gauge("_x9", "Leading underscore").set(1);
  std::string text = registry.renderPrometheus();
  EXPECT_NE(text.find("job:rate_5m 1\n"), std::string::npos);
  EXPECT_NE(text.find("_x9 1\n"), std::string::npos);
}

}  // namespace
}  // namespace edge
