// Gateway-level behaviour: admin HTTP, credit withheld under sink pressure,
// graceful shutdown, the loop mailbox, and the real edge-gateway binary
// (ready file, SIGTERM).
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "edge/gateway/loop_mailbox.h"
#include "test_support.h"

namespace edge::gateway::testing {
namespace {

TEST(GatewayTest, AdminServesMetricsAndHealth) {
  TempDir dir;
  GatewayHarness harness(testConfigYaml(dir.path()));
  ASSERT_TRUE(harness.start());
  auto agent = std::make_unique<TestAgent>(harness.port());
  agent->hello("agent-1");
  AckTally tally;
  agent->sendBatch(1, "agent-1", makeEvents(2, 1));
  ASSERT_TRUE(tally.readUntil(*agent, {1}, 1));

  const std::string metrics = httpGet(harness.adminPort(), "/metrics");
  EXPECT_NE(metrics.find("HTTP/1.1 200"), std::string::npos) << metrics.substr(0, 200);
  EXPECT_NE(metrics.find("text/plain; version=0.0.4"), std::string::npos);
  for (const char* name :
       {"edge_gateway_events_received_total", "edge_gateway_events_committed_total",
        "edge_gateway_batches_received_total", "edge_gateway_batches_committed_total",
        "edge_gateway_connections", "edge_gateway_connections_total",
        "edge_gateway_connections_refused_total",
        "edge_gateway_protocol_errors_total{reason=\"frame\"}", "edge_gateway_sink_queue_batches",
        "edge_gateway_sink_duplicates_total", "edge_gateway_credit_withheld_total",
        "edge_gateway_sink_commit_seconds_bucket"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
  }
  EXPECT_NE(metrics.find("edge_gateway_events_committed_total 2"), std::string::npos);
  EXPECT_NE(metrics.find("edge_gateway_connections 1"), std::string::npos);

  const std::string health = httpGet(harness.adminPort(), "/healthz");
  EXPECT_NE(health.find("HTTP/1.1 200"), std::string::npos) << health;
  const auto body =
      nlohmann::json::parse(health.substr(health.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_TRUE(body.is_object()) << health;
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["connections"], 1);
  EXPECT_EQ(body["sink_queue_batches"], 0);
  agent.reset();
  harness.stop();
}

TEST(GatewayTest, CreditIsWithheldWhileTheSinkIsAboveItsHighWatermark) {
  TempDir dir;
  GatewayHarness harness(testConfigYaml(dir.path(), "", "    queue_max_batches: 2\n"));
  ASSERT_TRUE(harness.start());
  {
    TestAgent agent(harness.port());
    agent.hello("agent-1");

    Db blocker(harness.dbPath());
    blocker.lockForWrite();
    size_t bytes = agent.sendBatch(1, "agent-1", makeEvents(1, 1));
    bytes += agent.sendBatch(2, "agent-1", makeEvents(1, 2));
    // Two batches queued = the high watermark: the worker withholds credit.
    ASSERT_TRUE(harness.waitForCounter("edge_gateway_backpressure_total", 1));
    blocker.unlock();

    AckTally tally;
    ASSERT_TRUE(tally.readUntil(agent, {1, 2}, 2));
    EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
    EXPECT_EQ(tally.acks[2], wire::ACK_STATUS_OK);
    // All credit comes back once the queue is below its low watermark...
    EXPECT_EQ(tally.credit_batches, 2u);
    EXPECT_EQ(tally.credit_bytes, bytes);
  }
  // ...but the first batch's credit was held back while the queue was full.
  EXPECT_GE(harness.counter("edge_gateway_credit_withheld_total"), 1u);
  harness.stop();
}

TEST(GatewayTest, ConnectionOverItsBufferCapIsPausedThenResumed) {
  TempDir dir;
  GatewayHarness harness(testConfigYaml(dir.path(), "  max_buffered_bytes_per_connection: 1KiB\n"));
  ASSERT_TRUE(harness.start());
  {
    TestAgent agent(harness.port());
    agent.hello("agent-1");
    std::vector<Event> big = makeEvents(2, 1);
    for (Event& e : big) e.raw.assign(4096, 'x');  // decoded size well over the 1KiB cap

    Db blocker(harness.dbPath());
    blocker.lockForWrite();
    agent.sendBatch(1, "agent-1", big);
    ASSERT_TRUE(harness.waitForCounter("edge_gateway_read_paused_total", 1));
    // Sent while the connection is paused: read only after batch 1 left the sink.
    std::vector<Event> next = makeEvents(2, 3);
    agent.sendBatch(2, "agent-1", next);
    blocker.unlock();

    AckTally tally;
    ASSERT_TRUE(tally.readUntil(agent, {1, 2}, 2));
    EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
    EXPECT_EQ(tally.acks[2], wire::ACK_STATUS_OK);
  }
  EXPECT_EQ(Db(harness.dbPath()).scalar("select count(*) from events"), 4);
  harness.stop();
}

TEST(GatewayTest, ShutdownSendsGoawayAndStillAcksInFlightBatches) {
  TempDir dir;
  GatewayHarness harness(testConfigYaml(dir.path(), "  drain_timeout: 60s\n"));
  ASSERT_TRUE(harness.start());
  {
    TestAgent agent(harness.port());
    agent.hello("agent-1");

    Db blocker(harness.dbPath());
    blocker.lockForWrite();
    agent.sendBatch(7, "agent-1", makeEvents(3, 1));
    ASSERT_TRUE(harness.waitForCounter("edge_gateway_batches_received_total", 1));
    harness.requestStop();

    auto frame = agent.readFrame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->type, protocol::FrameType::kGoaway);
    blocker.unlock();  // now the in-flight batch can commit

    bool acked = false;
    while (auto next = agent.readFrame()) {
      if (next->type != protocol::FrameType::kAck) continue;
      wire::Ack ack;
      ASSERT_TRUE(protocol::parseControl(*next, ack).ok());
      ASSERT_EQ(ack.entries_size(), 1);
      EXPECT_EQ(ack.entries(0).batch_id(), 7u);
      EXPECT_EQ(ack.entries(0).status(), wire::ACK_STATUS_OK);
      acked = true;
    }
    EXPECT_TRUE(acked) << "the in-flight batch was not acked before the close";
  }
  harness.stop();  // fails if handles were left open
  EXPECT_EQ(Db(dir.file("events.db")).scalar("select count(*) from events"), 3);
}

// gateway.workers: 4 loops on one port. Every connection is served by one of
// them, health sums them all, and a shutdown drains every worker: in-flight
// batches on all of them are acked before the close.
TEST(GatewayTest, SeveralWorkersShareThePortAndDrainTogether) {
  TempDir dir;
  GatewayHarness harness(testConfigYaml(dir.path(), "  workers: 4\n  drain_timeout: 60s\n"));
  ASSERT_TRUE(harness.start());
  constexpr int kAgents = 16;
  std::vector<std::unique_ptr<TestAgent>> agents;
  for (int i = 0; i < kAgents; ++i) {
    agents.push_back(std::make_unique<TestAgent>(harness.port()));
    agents.back()->hello("agent-" + std::to_string(i));
  }
  for (int i = 0; i < kAgents; ++i) {
    agents[i]->sendBatch(1, "agent-" + std::to_string(i), makeEvents(5, 1));
    AckTally tally;
    ASSERT_TRUE(tally.readUntil(*agents[i], {1}, 1)) << "agent " << i;
    EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
  }
  const std::string health = httpGet(harness.adminPort(), "/healthz");
  const auto body =
      nlohmann::json::parse(health.substr(health.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_TRUE(body.is_object()) << health;
  EXPECT_EQ(body["workers"], 4);
  EXPECT_EQ(body["connections"], kAgents);
  EXPECT_EQ(body["status"], "ok");

  // One batch in flight per agent while the sink is locked, then shutdown.
  Db blocker(harness.dbPath());
  blocker.lockForWrite();
  for (int i = 0; i < kAgents; ++i) {
    agents[i]->sendBatch(2, "agent-" + std::to_string(i), makeEvents(5, 6));
  }
  ASSERT_TRUE(harness.waitForCounter("edge_gateway_batches_received_total", 2 * kAgents));
  harness.requestStop();
  for (int i = 0; i < kAgents; ++i) {
    auto frame = agents[i]->readFrame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->type, protocol::FrameType::kGoaway) << "agent " << i;
  }
  blocker.unlock();
  for (int i = 0; i < kAgents; ++i) {
    bool acked = false;
    while (auto next = agents[i]->readFrame()) {
      if (next->type != protocol::FrameType::kAck) continue;
      wire::Ack ack;
      ASSERT_TRUE(protocol::parseControl(*next, ack).ok());
      for (const auto& entry : ack.entries()) {
        if (entry.batch_id() == 2 && entry.status() == wire::ACK_STATUS_OK) acked = true;
      }
    }
    EXPECT_TRUE(acked) << "agent " << i << ": the in-flight batch was not acked before the close";
  }
  harness.stop();  // fails if a worker left handles open
  EXPECT_EQ(Db(dir.file("events.db")).scalar("select count(*) from events"), kAgents * 10);
}

TEST(GatewayTest, StartFailsCleanlyWhenThePortIsTaken) {
  TempDir dir;
  GatewayHarness first(testConfigYaml(dir.path()));
  ASSERT_TRUE(first.start());

  TempDir other;
  GatewayHarness second(testConfigYaml(other.path()));
  second.mutableConfig().listen.port = first.port();
  uv_loop_t loop;
  uv_loop_init(&loop);
  MetricsRegistry metrics;
  auto sink = std::make_shared<sinks::SqliteSink>(second.config().sqlite, metrics);
  {
    Gateway gateway(&loop, second.config(), sink, metrics);
    auto started = gateway.start();
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.error().message.find("gateway.listen"), std::string::npos)
        << started.error().message;
    EXPECT_NE(started.error().message.find(std::to_string(first.port())), std::string::npos);
    gateway.shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
  first.stop();
}

TEST(LoopMailboxTest, RunsPostedTasksOnTheLoopInOrder) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<int> seen;
  int drains = 0;
  std::shared_ptr<LoopMailbox> mailbox;
  auto created = LoopMailbox::create(&loop, [&] { ++drains; });
  ASSERT_TRUE(created.ok());
  mailbox = *created;
  const auto loop_thread = std::this_thread::get_id();
  std::thread poster([&] {
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(mailbox->post([&, i] {
        EXPECT_EQ(std::this_thread::get_id(), loop_thread);
        seen.push_back(i);
        if (i == 999) mailbox->close();
      }));
    }
  });
  uv_run(&loop, UV_RUN_DEFAULT);  // returns once the last task closed the mailbox
  poster.join();
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], i);
  EXPECT_GE(drains, 0);
  EXPECT_FALSE(mailbox->post([] { FAIL() << "ran after close"; }));
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// ---------------------------------------------------------------------------
// The real binary.

std::string gatewayBinary() { return std::string(EDGE_BINARY_DIR) + "/gateway/edge-gateway"; }

TEST(GatewayBinaryTest, ServesAgentsWritesReadyFileAndExitsCleanlyOnSigterm) {
  TempDir dir;
  const std::string config_path = dir.file("gateway.yaml");
  {
    std::ofstream out(config_path);
    out << testConfigYaml(dir.file("data"));
  }
  const std::string ready = dir.file("ready.json");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string binary = gatewayBinary();
    execl(binary.c_str(), binary.c_str(), "--config", config_path.c_str(), "--ready-file",
          ready.c_str(), "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }

  nlohmann::json doc;
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(ready);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      doc = nlohmann::json::parse(text.str(), nullptr, false);
      if (doc.is_object()) break;
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << "edge-gateway exited early, status " << status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(doc.is_object()) << "no ready file at " << ready;
  EXPECT_EQ(doc["pid"].get<int64_t>(), pid);
  const auto port = doc["listen_port"].get<uint16_t>();
  const auto admin_port = doc["admin_port"].get<uint16_t>();
  EXPECT_NE(port, 0);
  EXPECT_NE(admin_port, 0);

  {
    TestAgent agent(port);
    agent.hello("agent-bin");
    AckTally tally;
    agent.sendBatch(1, "agent-bin", makeEvents(4, 1));
    ASSERT_TRUE(tally.readUntil(agent, {1}, 1));
    EXPECT_NE(httpGet(admin_port, "/metrics").find("edge_gateway_events_committed_total 4"),
              std::string::npos);

    ASSERT_EQ(kill(pid, SIGTERM), 0);
    auto frame = agent.readFrame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->type, protocol::FrameType::kGoaway);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(
      Db(dir.file("data/events.db")).scalar("select count(*) from events where tenant = 'acme'"),
      4);
}

}  // namespace
}  // namespace edge::gateway::testing
