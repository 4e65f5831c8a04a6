// Tests of the stdin input on real descriptors: a pipe (with a writer that
// blocks while the input is paused), a redirected regular file, /dev/null and
// a descriptor that is not open.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "edge/common/config.h"
#include "inputs/in_stdin/stdin_input.h"

namespace edge::agent {
namespace {

using namespace std::chrono_literals;

class CaptureSink final : public InputSink {
 public:
  void deliver(std::string_view input, std::vector<Event>&& delivered,
               std::vector<InputPosition>&& positions) override {
    EXPECT_EQ(input, "in");
    EXPECT_TRUE(positions.empty());
    for (Event& event : delivered) events.push_back(std::move(event));
    if (on_deliver) on_deliver();
  }
  std::vector<Event> events;
  std::function<void()> on_deliver;
};

class StdinInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &tick_);
  }

  void TearDown() override {
    if (input_) input_->close();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (uv_loop_alive(&loop_) != 0 && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
    input_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  // The input owns `fd` from here on.
  StdinInput& start(int fd, uint64_t max_line_bytes = 64 * 1024) {
    InputContext context;
    context.loop = &loop_;
    context.hostname = "agent-host";
    context.sink = &sink_;
    context.metrics = &metrics_;
    context.limits.max_events = 100;
    InputCommonConfig common;
    common.type = "stdin";
    common.name = "in";
    StdinInputConfig config;
    config.max_line_bytes = max_line_bytes;
    input_ = std::make_unique<StdinInput>(context, common, config, fd);
    auto started = input_->start({});
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().message);
    return *input_;
  }

  bool runUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
    uv_timer_start(
        &tick_, [](uv_timer_t*) {}, 5, 5);
    auto deadline = std::chrono::steady_clock::now() + limit;
    bool ok = done();
    while (!ok && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_ONCE);
      ok = done();
    }
    uv_timer_stop(&tick_);
    return ok;
  }

  std::vector<std::string> raws() const {
    std::vector<std::string> out;
    for (const Event& event : sink_.events) out.push_back(event.raw);
    return out;
  }

  uv_loop_t loop_{};
  uv_timer_t tick_{};
  MetricsRegistry metrics_;
  CaptureSink sink_;
  std::unique_ptr<StdinInput> input_;
};

void writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    ASSERT_GT(n, 0);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

TEST_F(StdinInputTest, PipeLinesUntilEndOfInput) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  StdinInput& input = start(fds[0]);
  writeAll(fds[1], "first\nsecond\r\n\xC3\xA4 8-bit \xFF\n");
  ASSERT_TRUE(runUntil([&] { return sink_.events.size() == 3; }));
  EXPECT_FALSE(input.finished());
  writeAll(fds[1], "no final newline");
  ::close(fds[1]);
  ASSERT_TRUE(runUntil([&] { return input.finished(); }));
  EXPECT_EQ(raws(), (std::vector<std::string>{"first", "second", "\xC3\xA4 8-bit \xFF",
                                              "no final newline"}));
  for (const Event& event : sink_.events) {
    EXPECT_EQ(event.kind, "log");
    EXPECT_EQ(event.source, "stdin");
    EXPECT_EQ(event.host, "agent-host");
    EXPECT_GT(event.ts_ns, 0);
  }
  EXPECT_EQ(input.stats().events_read, 4u);
  EXPECT_NE(metrics_.renderPrometheus().find("edge_agent_events_read_total{input=\"in\"} 4"),
            std::string::npos);
}

TEST_F(StdinInputTest, RedirectedRegularFile) {
  char path[] = "/tmp/edge-stdin-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content;
  for (int i = 0; i < 5000; ++i) content += "line " + std::to_string(i) + "\n";
  writeAll(fd, content);
  ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
  ::unlink(path);
  StdinInput& input = start(fd);
  ASSERT_TRUE(runUntil([&] { return input.finished(); }));
  ASSERT_EQ(sink_.events.size(), 5000u);
  EXPECT_EQ(sink_.events[4999].raw, "line 4999");
}

TEST_F(StdinInputTest, LongLinesAreTruncatedAndCounted) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  StdinInput& input = start(fds[0], 16);
  writeAll(fds[1], std::string(1000, 'y') + "\nok\n");
  ::close(fds[1]);
  ASSERT_TRUE(runUntil([&] { return input.finished(); }));
  ASSERT_EQ(raws(), (std::vector<std::string>{std::string(16, 'y'), "ok"}));
  EXPECT_NE(sink_.events[0].findField("truncated"), nullptr);
  EXPECT_EQ(input.stats().lines_truncated, 1u);
}

// Paused, the input leaves the pipe alone: the writer blocks instead of
// anything being lost, and after resume every line arrives in order.
TEST_F(StdinInputTest, PauseBlocksTheWriterAndLosesNothing) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  StdinInput* input = nullptr;
  sink_.on_deliver = [&] { input->pause(); };
  input = &start(fds[0]);
  constexpr int kLines = 50000;
  std::thread writer([fd = fds[1]] {
    std::string chunk;
    for (int i = 0; i < kLines; ++i) chunk += "record " + std::to_string(i) + "\n";
    writeAll(fd, chunk);
    ::close(fd);
  });
  ASSERT_TRUE(runUntil([&] { return !sink_.events.empty(); }));
  for (int i = 0; i < 50; ++i) {  // loop turns while paused; never blocks
    uv_run(&loop_, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_LT(sink_.events.size(), static_cast<size_t>(kLines));
  EXPECT_FALSE(input->finished());
  sink_.on_deliver = nullptr;
  input->resume();
  bool done = runUntil([&] { return input->finished(); });
  writer.join();
  ASSERT_TRUE(done);
  ASSERT_EQ(sink_.events.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; i += 4999) {
    EXPECT_EQ(sink_.events[static_cast<size_t>(i)].raw, "record " + std::to_string(i));
  }
}

TEST_F(StdinInputTest, DevNullEndsAtOnce) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  StdinInput& input = start(fd);
  ASSERT_TRUE(runUntil([&] { return input.finished(); }));
  EXPECT_TRUE(sink_.events.empty());
}

TEST_F(StdinInputTest, AClosedDescriptorIsNotFatal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  StdinInput& input = start(fds[0]);
  EXPECT_TRUE(input.finished());
  EXPECT_TRUE(sink_.events.empty());
}

TEST(StdinInputConfig, KeysAndDefaults) {
  EXPECT_EQ(stdinInputType().type, "stdin");
  EXPECT_EQ(stdinInputType().default_kind, "log");
  auto doc = ConfigDocument::parse(
      "inputs:\n  - type: stdin\n    max_line_bytes: 8\n    path: /dev/stdin\n", "agent.yaml");
  ASSERT_TRUE(doc.ok());
  InputCommonConfig common;
  common.type = "stdin";
  common.name = "in";
  auto spec = stdinInputType().parse((*doc)->root()["inputs"].elements().at(0), common);
  auto finished = (*doc)->finish();
  ASSERT_FALSE(finished.ok());
  EXPECT_NE(finished.error().message.find("inputs[0].max_line_bytes: expected a size between 16"),
            std::string::npos)
      << finished.error().message;
  EXPECT_NE(finished.error().message.find("path"), std::string::npos) << finished.error().message;
}

}  // namespace
}  // namespace edge::agent
