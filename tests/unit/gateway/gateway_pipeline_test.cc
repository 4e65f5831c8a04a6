// The pipeline inside a running gateway, with real sockets and two sinks the
// test controls: a batch split between sinks is acked only after every sink
// committed its part, one sink's RETRY makes the whole batch RETRY, a batch
// routed nowhere is acked at once, a throttle rate limit withholds the
// connection's credit (and gives it back), and reloadPipeline swaps the
// pipeline under a live connection or keeps it when the new one is broken.
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "edge/gateway/queued_sink.h"
#include "test_support.h"

namespace edge::gateway::testing {
namespace {

// A sink whose commits the test can hold back and whose answer it chooses.
class ControlledSink final : public QueuedSink {
 public:
  struct Seen {
    uint64_t batch_id = 0;
    std::vector<std::string> raws;
    std::string table;
  };

  ControlledSink(std::string name, MetricsRegistry& metrics)
      : QueuedSink(std::move(name), {}, metrics) {}
  ~ControlledSink() override {
    release();
    stop();
  }

  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      held_ = false;
    }
    cv_.notify_all();
  }
  void answer(SinkStatus status, std::string reason) {
    std::lock_guard lock(mutex_);
    status_ = status;
    reason_ = std::move(reason);
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 protected:
  Result<void> openStore() override { return okResult(); }
  std::vector<SinkResult> commitGroup(std::span<const SinkBatchPtr> batches) override {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return !held_; });
    std::vector<SinkResult> results;
    for (const SinkBatchPtr& batch : batches) {
      Seen seen{batch->batch_id, {}, batch->table};
      for (const Event& e : batch->events) seen.raws.push_back(e.raw);
      if (status_ == SinkStatus::kOk) seen_.push_back(std::move(seen));
      SinkResult result;
      result.status = status_;
      result.reason = reason_;
      results.push_back(std::move(result));
    }
    return results;
  }
  void closeStore() override {}

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool held_ = false;
  SinkStatus status_ = SinkStatus::kOk;
  std::string reason_;
  std::vector<Seen> seen_;
};

// A Gateway with the test's sinks on a loop thread of its own; runOnLoop()
// calls into it on that thread (reloadPipeline is a loop-thread call).
class Harness {
 public:
  Harness(const std::string& yaml, std::vector<std::string> sink_names) {
    auto parsed = parseGatewayConfig(yaml, "test.yaml");
    if (!parsed) {
      ADD_FAILURE() << parsed.error().message;
      return;
    }
    config_ = std::move(*parsed);
    resolveDefaults(config_);
    for (const std::string& name : sink_names) {
      auto sink = std::make_shared<ControlledSink>(name, metrics_);
      sinks_[name] = sink;
      map_.emplace(name, sink);
    }
  }
  ~Harness() {
    for (auto& [name, sink] : sinks_) sink->release();
    if (running_) stop();
  }

  bool start() {
    uv_loop_init(&loop_);
    gateway_ = std::make_unique<Gateway>(&loop_, config_, map_, metrics_);
    if (auto started = gateway_->start(); !started) {
      ADD_FAILURE() << "gateway did not start: " << started.error().message;
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
      return false;
    }
    uv_async_init(&loop_, &stop_async_, [](uv_async_t* async) {
      auto* self = static_cast<Harness*>(async->data);
      uv_close(reinterpret_cast<uv_handle_t*>(&self->task_async_), nullptr);
      self->gateway_->shutdown(
          [self] { uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_async_), nullptr); });
    });
    stop_async_.data = this;
    uv_async_init(&loop_, &task_async_, [](uv_async_t* async) {
      auto* self = static_cast<Harness*>(async->data);
      std::function<void()> task;
      {
        std::lock_guard lock(self->task_mutex_);
        task.swap(self->task_);
      }
      if (task) task();
    });
    task_async_.data = this;
    running_ = true;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
    return true;
  }

  void runOnLoop(std::function<void()> fn) {
    std::promise<void> done;
    {
      std::lock_guard lock(task_mutex_);
      task_ = [&] {
        fn();
        done.set_value();
      };
    }
    uv_async_send(&task_async_);
    done.get_future().wait();
  }

  void stop() {
    for (auto& [name, sink] : sinks_) sink->release();
    uv_async_send(&stop_async_);
    thread_.join();
    running_ = false;
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "the gateway left libuv handles open";
    gateway_.reset();
  }

  ControlledSink& sink(const std::string& name) { return *sinks_.at(name); }
  Gateway& gateway() { return *gateway_; }
  uint16_t port() const { return gateway_->listenPort(); }
  uint64_t counter(const std::string& name, const MetricLabels& labels = {}) {
    return metrics_.counter(name, "", labels).value();
  }
  bool waitForCounter(const std::string& name, uint64_t want, const MetricLabels& labels = {}) {
    const auto deadline = std::chrono::steady_clock::now() + kGuard;
    while (std::chrono::steady_clock::now() < deadline) {
      if (counter(name, labels) >= want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

 private:
  GatewayConfig config_;
  MetricsRegistry metrics_;
  std::map<std::string, std::shared_ptr<ControlledSink>> sinks_;
  SinkMap map_;
  uv_loop_t loop_{};
  uv_async_t stop_async_{};
  uv_async_t task_async_{};
  std::mutex task_mutex_;
  std::function<void()> task_;
  std::unique_ptr<Gateway> gateway_;
  std::thread thread_;
  bool running_ = false;
};

// sqlite and discard both enabled, plus `pipeline` (and gateway keys).
std::string yamlWith(const TempDir& dir, const std::string& pipeline,
                     const std::string& gateway_extra = "") {
  return testConfigYaml(dir.path(), gateway_extra,
                        "    enabled: true\n  discard: {enabled: true}\n") +
         pipeline;
}

const char* kSplit = R"(pipeline:
  routes:
    - name: errors
      match: {field: raw, prefix: ERROR}
      sinks: [sqlite]
      table: "errors_{tenant}"
  default_route: {sinks: [discard]}
)";

std::vector<Event> eventsWithRaw(const std::vector<std::string>& raws, uint64_t first_seq) {
  std::vector<Event> events = makeEvents(raws.size(), first_seq);
  for (size_t i = 0; i < raws.size(); ++i) events[i].raw = raws[i];
  return events;
}

std::vector<std::string> allRaws(ControlledSink& sink) {
  std::vector<std::string> out;
  for (const auto& seen : sink.seen()) out.insert(out.end(), seen.raws.begin(), seen.raws.end());
  return out;
}

TEST(GatewayPipelineTest, ABatchSplitBetweenTwoSinksIsAckedOnlyAfterBothCommitted) {
  TempDir dir;
  Harness harness(yamlWith(dir, kSplit), {"sqlite", "discard"});
  ASSERT_TRUE(harness.start());
  TestAgent agent(harness.port());
  agent.hello("agent-1");

  harness.sink("discard").hold();
  agent.sendBatch(1, "agent-1", eventsWithRaw({"ERROR one", "INFO two", "ERROR three"}, 1));
  // sqlite's part is committed and its completion handled on the loop...
  ASSERT_TRUE(harness.waitForCounter("edge_gateway_sink_batches_total", 1,
                                     {{"sink", "sqlite"}, {"status", "ok"}}));
  // ...which is where an ack would be queued: nothing yet, discard holds its part.
  EXPECT_EQ(harness.counter("edge_gateway_batches_committed_total"), 0u);
  EXPECT_TRUE(harness.sink("discard").seen().empty());
  harness.sink("discard").release();

  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1}, 1));
  EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
  EXPECT_EQ(harness.counter("edge_gateway_batches_committed_total"), 1u);
  EXPECT_EQ(harness.counter("edge_gateway_events_committed_total"), 3u);
  EXPECT_EQ(allRaws(harness.sink("sqlite")),
            (std::vector<std::string>{"ERROR one", "ERROR three"}));
  EXPECT_EQ(harness.sink("sqlite").seen()[0].table, "errors_acme");
  EXPECT_EQ(allRaws(harness.sink("discard")), (std::vector<std::string>{"INFO two"}));
  EXPECT_EQ(
      harness.counter("edge_gateway_sink_events_total", {{"sink", "sqlite"}, {"status", "ok"}}),
      2u);
  EXPECT_EQ(
      harness.counter("edge_gateway_sink_events_total", {{"sink", "discard"}, {"status", "ok"}}),
      1u);
  EXPECT_EQ(harness.counter("edge_gateway_route_events_total", {{"route", "errors"}}), 2u);
}

TEST(GatewayPipelineTest, OneSinksRetryMakesTheWholeBatchRetry) {
  TempDir dir;
  Harness harness(yamlWith(dir, kSplit), {"sqlite", "discard"});
  ASSERT_TRUE(harness.start());
  TestAgent agent(harness.port());
  agent.hello("agent-1");

  harness.sink("discard").answer(SinkStatus::kRetry, "disk full");
  agent.sendBatch(1, "agent-1", eventsWithRaw({"ERROR one", "INFO two"}, 1));
  wire::Ack ack;
  for (;;) {
    auto frame = agent.readFrame();
    ASSERT_TRUE(frame.has_value()) << "no ACK";
    if (frame->type != protocol::FrameType::kAck) continue;
    ASSERT_TRUE(protocol::parseControl(*frame, ack).ok());
    break;
  }
  ASSERT_EQ(ack.entries_size(), 1);
  EXPECT_EQ(ack.entries(0).batch_id(), 1u);
  EXPECT_EQ(ack.entries(0).status(), wire::ACK_STATUS_RETRY);
  EXPECT_EQ(ack.entries(0).reason(), "sink discard: disk full");
  EXPECT_EQ(harness.counter("edge_gateway_batches_retried_total"), 1u);
  EXPECT_EQ(harness.counter("edge_gateway_batches_committed_total"), 0u);
  EXPECT_EQ(harness.counter("edge_gateway_sink_batches_total",
                            {{"sink", "discard"}, {"status", "retry"}}),
            1u);
  // sqlite committed its part; the agent's resend is a duplicate there.
  EXPECT_EQ(allRaws(harness.sink("sqlite")), std::vector<std::string>{"ERROR one"});

  // The sink recovers; the resent batch is acked OK.
  harness.sink("discard").answer(SinkStatus::kOk, "");
  agent.sendBatch(1, "agent-1", eventsWithRaw({"ERROR one", "INFO two"}, 1));
  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1}, 2));
  EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
}

TEST(GatewayPipelineTest, ABatchRoutedNowhereIsAckedAtOnceAndCounted) {
  TempDir dir;
  Harness harness(yamlWith(dir, R"(pipeline:
  stages:
    - rate_limit: {name: debug_cap, rate: 1/h, burst: 1, action: drop, match: {field: raw, prefix: DEBUG}}
  routes:
    - {name: errors, match: {field: raw, prefix: ERROR}, sinks: [sqlite]}
    - {name: never, match: {field: raw, prefix: NEVER}, sinks: [discard]}
)"),
                  {"sqlite", "discard"});
  ASSERT_TRUE(harness.start());
  TestAgent agent(harness.port());
  agent.hello("agent-1");
  agent.sendBatch(1, "agent-1", eventsWithRaw({"DEBUG a", "DEBUG b", "INFO c", "DEBUG d"}, 1));
  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1}, 1));
  EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
  EXPECT_TRUE(harness.sink("sqlite").seen().empty());
  EXPECT_TRUE(harness.sink("discard").seen().empty());
  EXPECT_EQ(harness.counter("edge_gateway_pipeline_events_dropped_total", {{"stage", "debug_cap"}}),
            2u);
  EXPECT_EQ(harness.counter("edge_gateway_route_dropped_total"), 2u);  // DEBUG a, INFO c
  EXPECT_EQ(harness.counter("edge_gateway_events_received_total"), 4u);
  EXPECT_EQ(harness.counter("edge_gateway_events_committed_total"), 0u);
  EXPECT_EQ(harness.counter("edge_gateway_batches_committed_total"), 1u);
}

TEST(GatewayPipelineTest, ThrottleWithholdsTheConnectionsCredit) {
  TempDir dir;
  // One batch of credit, and a limit the test never waits out: if the ack
  // gave the credit back, a second batch would be accepted.
  Harness harness(testConfigYaml(dir.path(), "  credit_batches: 1\n") + R"(pipeline:
  stages:
    - rate_limit: {name: per_agent, key: agent, rate: 1/h, burst: 1, action: throttle}
)",
                  {"sqlite"});
  ASSERT_TRUE(harness.start());
  TestAgent agent(harness.port());
  agent.hello("agent-1");
  agent.sendBatch(1, "agent-1", makeEvents(3, 1));
  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1}, 0));
  EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
  EXPECT_EQ(tally.credit_batches, 0u);
  EXPECT_EQ(allRaws(harness.sink("sqlite")).size(), 3u);  // throttle loses nothing
  EXPECT_EQ(harness.counter("edge_gateway_credit_throttled_total"), 1u);
  EXPECT_EQ(harness.counter("edge_gateway_ratelimit_events_total",
                            {{"limiter", "per_agent"}, {"decision", "throttled"}}),
            2u);

  agent.sendBatch(2, "agent-1", makeEvents(1, 4));
  wire::Error error = agent.expectError();
  EXPECT_EQ(error.code(), wire::ERROR_CODE_PROTOCOL);
  EXPECT_NE(error.reason().find("without batch credit"), std::string::npos) << error.reason();
}

TEST(GatewayPipelineTest, ThrottledCreditComesBackOnceTheKeyConforms) {
  TempDir dir;
  // 11 events at 20/s with burst 1: 10 throttled, conforming again ~0.5s
  // later. Only the order of events is asserted, not the time.
  Harness harness(testConfigYaml(dir.path(), "  credit_batches: 1\n") + R"(pipeline:
  stages:
    - rate_limit: {name: per_agent, key: agent, rate: 20/s, burst: 1, action: throttle}
)",
                  {"sqlite"});
  ASSERT_TRUE(harness.start());
  TestAgent agent(harness.port());
  agent.hello("agent-1");
  const size_t bytes = agent.sendBatch(1, "agent-1", makeEvents(11, 1));
  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1}, 1));
  EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
  EXPECT_EQ(tally.credit_bytes, bytes);
  EXPECT_EQ(harness.counter("edge_gateway_credit_throttled_total"), 1u);
  EXPECT_EQ(harness.counter("edge_gateway_ratelimit_events_total",
                            {{"limiter", "per_agent"}, {"decision", "throttled"}}),
            10u);
  // With the credit back, the next batch is accepted.
  agent.sendBatch(2, "agent-1", makeEvents(1, 12));
  ASSERT_TRUE(tally.readUntil(agent, {2}, 1));
  EXPECT_EQ(tally.acks[2], wire::ACK_STATUS_OK);
}

TEST(GatewayPipelineTest, ReloadSwapsThePipelineUnderALiveConnectionOrKeepsIt) {
  TempDir dir;
  const std::string path = dir.file("gateway.yaml");
  std::ofstream(path) << yamlWith(dir, kSplit);
  Harness harness(yamlWith(dir, kSplit), {"sqlite", "discard"});
  ASSERT_TRUE(harness.start());
  TestAgent agent(harness.port());
  agent.hello("agent-1");
  AckTally tally;
  agent.sendBatch(1, "agent-1", eventsWithRaw({"ERROR a", "INFO b"}, 1));
  ASSERT_TRUE(tally.readUntil(agent, {1}, 1));

  // A broken pipeline: refused with every reason, the old one stays.
  std::ofstream(path, std::ios::trunc) << yamlWith(dir, R"(pipeline:
  routes:
    - name: bad
      match: {field: raw, regex: "(unclosed"}
      sinks: [kafka]
)");
  Result<void> reloaded = okResult();
  harness.runOnLoop([&] { reloaded = harness.gateway().reloadPipeline(path); });
  ASSERT_FALSE(reloaded.ok());
  EXPECT_NE(reloaded.error().message.find(path + ":18: pipeline.routes[0].match.regex:"),
            std::string::npos)
      << reloaded.error().message;
  EXPECT_NE(reloaded.error().message.find(path + ":19: pipeline.routes[0].sinks[0]: unknown sink "
                                                 "\"kafka\""),
            std::string::npos)
      << reloaded.error().message;
  EXPECT_EQ(harness.counter("edge_gateway_pipeline_reloads_total", {{"result", "failed"}}), 1u);
  agent.sendBatch(2, "agent-1", eventsWithRaw({"ERROR c", "INFO d"}, 3));
  ASSERT_TRUE(tally.readUntil(agent, {2}, 2));
  EXPECT_EQ(allRaws(harness.sink("sqlite")), (std::vector<std::string>{"ERROR a", "ERROR c"}));

  // A good one: the next batch on the same connection uses it.
  std::ofstream(path, std::ios::trunc) << yamlWith(dir, R"(pipeline:
  routes:
    - {name: infos, match: {field: raw, prefix: INFO}, sinks: [sqlite]}
  default_route: {sinks: [discard]}
)");
  harness.runOnLoop([&] { reloaded = harness.gateway().reloadPipeline(path); });
  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  EXPECT_EQ(harness.counter("edge_gateway_pipeline_reloads_total", {{"result", "ok"}}), 1u);
  agent.sendBatch(3, "agent-1", eventsWithRaw({"ERROR e", "INFO f"}, 5));
  ASSERT_TRUE(tally.readUntil(agent, {3}, 3));
  EXPECT_EQ(tally.acks[3], wire::ACK_STATUS_OK);
  EXPECT_EQ(allRaws(harness.sink("sqlite")),
            (std::vector<std::string>{"ERROR a", "ERROR c", "INFO f"}));
  EXPECT_EQ(allRaws(harness.sink("discard")),
            (std::vector<std::string>{"INFO b", "INFO d", "ERROR e"}));
  EXPECT_EQ(harness.counter("edge_gateway_connections_total"), 1u);  // never reconnected
}

TEST(GatewayPipelineTest, ReloadRefusesTyposAndSinksTheGatewayDidNotStartWith) {
  TempDir dir;
  const std::string path = dir.file("gateway.yaml");
  Harness harness(testConfigYaml(dir.path()), {"sqlite"});
  ASSERT_TRUE(harness.start());
  Result<void> reloaded = okResult();

  std::ofstream(path) << testConfigYaml(dir.path()) << "pipline:\n  routes: []\n";
  harness.runOnLoop([&] { reloaded = harness.gateway().reloadPipeline(path); });
  ASSERT_FALSE(reloaded.ok());
  EXPECT_NE(reloaded.error().message.find(path + ":13: pipline: unknown key, did you mean "
                                                 "'pipeline'?"),
            std::string::npos)
      << reloaded.error().message;

  // The file enables discard and routes there, but this gateway runs sqlite only.
  std::ofstream(path, std::ios::trunc)
      << yamlWith(dir, "pipeline: {default_route: {sinks: [discard]}}\n");
  harness.runOnLoop([&] { reloaded = harness.gateway().reloadPipeline(path); });
  ASSERT_FALSE(reloaded.ok());
  EXPECT_NE(reloaded.error().message.find("routes to sink(s) discard, which this gateway did not "
                                          "start with (running: sqlite)"),
            std::string::npos)
      << reloaded.error().message;
  EXPECT_EQ(harness.counter("edge_gateway_pipeline_reloads_total", {{"result", "failed"}}), 2u);
  EXPECT_FALSE(harness.gateway().pipeline()->hasRouting());  // still the original
}

std::pair<int, nlohmann::json> getJson(uint16_t port, const std::string& path) {
  const std::string response = httpGet(port, path);
  const int status = response.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(response.substr(9, 3)) : 0;
  const size_t body = response.find("\r\n\r\n");
  return {status, nlohmann::json::parse(
                      body == std::string::npos ? std::string() : response.substr(body + 4),
                      nullptr, false)};
}

TEST(GatewayPipelineTest, ReadyzSaysWhetherToSendAgentsHere) {
  TempDir dir;
  // 1KiB: one decoded batch of big events is over it.
  Harness harness(yamlWith(dir, kSplit, "  max_in_flight_bytes: 1KiB\n"), {"sqlite", "discard"});
  ASSERT_TRUE(harness.start());
  auto [status, ready] = getJson(harness.gateway().adminPort(), "/readyz");
  EXPECT_EQ(status, 200) << ready.dump();
  EXPECT_EQ(ready["ready"], true);
  EXPECT_TRUE(ready["reasons"].empty());

  TestAgent agent(harness.port());
  agent.hello("agent-1");
  std::vector<Event> big = eventsWithRaw({"ERROR " + std::string(2000, 'x')}, 1);
  std::vector<Event> big2 = eventsWithRaw({"ERROR " + std::string(2000, 'y')}, 2);
  harness.sink("sqlite").hold();
  const size_t bytes = agent.sendBatch(1, "agent-1", big) + agent.sendBatch(2, "agent-1", big2);
  ASSERT_TRUE(harness.waitForCounter("edge_gateway_batches_received_total", 2));
  EXPECT_EQ(harness.counter("edge_gateway_in_flight_budget_exceeded_total"), 1u);
  std::tie(status, ready) = getJson(harness.gateway().adminPort(), "/readyz");
  EXPECT_EQ(status, 503) << ready.dump();
  EXPECT_EQ(ready["ready"], false);
  ASSERT_EQ(ready["reasons"].size(), 1u) << ready.dump();
  EXPECT_NE(ready["reasons"][0].get<std::string>().find("above gateway.max_in_flight_bytes (1024)"),
            std::string::npos)
      << ready.dump();
  // Liveness is another question: the gateway is healthy, just full.
  EXPECT_EQ(getJson(harness.gateway().adminPort(), "/healthz").first, 200);

  harness.sink("sqlite").release();
  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1, 2}, 2));
  EXPECT_EQ(tally.credit_bytes, bytes);
  // Batch 1's credit waited while batch 2 still held more than half the budget.
  EXPECT_EQ(harness.counter("edge_gateway_credit_withheld_total"), 1u);
  std::tie(status, ready) = getJson(harness.gateway().adminPort(), "/readyz");
  EXPECT_EQ(status, 200) << ready.dump();

  // A failing sink makes the gateway not ready, naming the sink.
  harness.sink("discard").answer(SinkStatus::kRetry, "disk full");
  agent.sendBatch(3, "agent-1", eventsWithRaw({"INFO z"}, 3));
  ASSERT_TRUE(tally.readUntil(agent, {3}, 3));
  EXPECT_EQ(tally.acks[3], wire::ACK_STATUS_RETRY);
  std::tie(status, ready) = getJson(harness.gateway().adminPort(), "/readyz");
  EXPECT_EQ(status, 503) << ready.dump();
  ASSERT_EQ(ready["reasons"].size(), 1u) << ready.dump();
  EXPECT_EQ(ready["reasons"][0], "sink discard is failing: disk full");
  const auto health = getJson(harness.gateway().adminPort(), "/healthz");
  EXPECT_EQ(health.first, 503);
  EXPECT_EQ(health.second["sinks"]["discard"]["healthy"], false);
  EXPECT_EQ(health.second["sinks"]["sqlite"]["healthy"], true);
}

}  // namespace
}  // namespace edge::gateway::testing
