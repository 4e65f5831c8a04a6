// Tests of the whole agent in-process: it starts from a configuration, reads
// a file, and on SIGTERM commits the events it still buffers before run()
// returns, so a clean stop loses nothing and leaves no handle open.
#include "edge/agent/agent.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "edge/agent/spool.h"
#include "inputs/in_file/file_input.h"
#include "test_support.h"

namespace edge::agent {
namespace {

using testing::TempDir;

TEST(AgentTest, SigtermFlushesBufferedEventsAndExitsCleanly) {
  TempDir dir;
  std::string log = dir.file("app.log");
  std::string text;
  for (int i = 0; i < 100; ++i) text += "line " + std::to_string(i) + "\n";
  testing::writeFile(log, text);

  // Nothing listens on port 1 and nothing is flushed before the stop: the
  // events can only reach the spool through the shutdown flush.
  auto config = parseAgentConfig(R"(
agent: {hostname: test-host}
spool: {flush_interval: 10m, batch_max_events: 100000}
output: {gateways: ["127.0.0.1:1"], reconnect_min: 1s, reconnect_max: 1s,
         tls: {enabled: false, allow_plaintext: true}}
)",
                                 "test.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  config->data_dir = dir.path() + "/data";
  addTailInput(*config, log);
  {
    // A faster poll than --tail's default keeps the test short.
    auto& spec = dynamic_cast<const FileInputSpec&>(*config->inputs.back());
    FileInputConfig fast = spec.config();
    fast.poll_interval = std::chrono::milliseconds(10);
    config->inputs.back() = std::make_shared<FileInputSpec>(spec.common(), fast);
  }

  auto agent = Agent::create(*config);
  ASSERT_TRUE(agent.ok()) << agent.error().message;
  std::string agent_id = (*agent)->agentId();
  Counter& read =
      (*agent)->metrics().counter("edge_agent_events_read_total", "", {{"input", "tail-1"}});
  Gauge& spooled = (*agent)->metrics().gauge("edge_agent_spool_events", "");

  std::atomic<bool> all_read{false};
  std::thread stopper([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (read.value() < 100 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    all_read = read.value() == 100;
    ::kill(::getpid(), SIGTERM);
  });
  auto ran = (*agent)->run();
  stopper.join();
  ASSERT_TRUE(ran.ok()) << ran.error().message;
  ASSERT_TRUE(all_read) << "the input did not read the file";
  EXPECT_EQ(spooled.value(), 100);
  agent->reset();

  SpoolOptions options;
  options.path = dir.path() + "/data/spool.db";
  auto spool = Spool::open(options);
  ASSERT_TRUE(spool.ok()) << spool.error().message;
  EXPECT_EQ((*spool)->agentId(), agent_id);
  EXPECT_EQ((*spool)->eventCount(), 100u);
  auto positions = (*spool)->loadPositions("tail-1");
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 1u);
  EXPECT_EQ((*positions)[0].path, log);
  EXPECT_EQ((*positions)[0].offset, text.size());
}

TEST(AgentTest, StartsWithAFreshSpoolWhenTheOldOneIsGarbage) {
  TempDir dir;
  testing::writeFile(dir.file("spool.db"), "not a database at all, just text\n");
  auto config = parseAgentConfig(
      "agent: {hostname: h}\ninputs: []\noutput: {tls: {enabled: false, allow_plaintext: true}}\n",
      "test.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message;
  config->data_dir = dir.path();
  auto agent = Agent::create(*config);
  ASSERT_TRUE(agent.ok()) << agent.error().message;
  EXPECT_FALSE((*agent)->agentId().empty());
  bool moved = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    moved |= entry.path().filename().string().starts_with("spool.db.corrupt-");
  }
  EXPECT_TRUE(moved);
}

}  // namespace
}  // namespace edge::agent
