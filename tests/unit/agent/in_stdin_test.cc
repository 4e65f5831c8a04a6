// Tests of the stdin input on real descriptors: a pipe (with a writer that
// blocks while the input is paused), a redirected regular file, /dev/null and
// a descriptor that is not open.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "edge/common/config.h"
#include "input_test_support.h"
#include "inputs/in_stdin/stdin_input.h"

namespace edge::agent {
namespace {

class StdinInputTest : public testing::InputLoopTest<StdinInput> {
 protected:
  StdinInputTest() : InputLoopTest("stdin", "in") { limits_.max_events = 100; }

  // The input owns `fd` from here on.
  StdinInput& startOn(int fd, uint64_t max_line_bytes = 64 * 1024) {
    StdinInputConfig config;
    config.max_line_bytes = max_line_bytes;
    return start(config, fd);
  }

  std::vector<std::string> raws() const {
    std::vector<std::string> out;
    for (const Event& event : sink_.events) out.push_back(event.raw);
    return out;
  }
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
  StdinInput& input = startOn(fds[0]);
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
  EXPECT_TRUE(hasMetric("edge_agent_events_read_total{input=\"in\"} 4")) << metricsText();
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
  StdinInput& input = startOn(fd);
  ASSERT_TRUE(runUntil([&] { return input.finished(); }));
  ASSERT_EQ(sink_.events.size(), 5000u);
  EXPECT_EQ(sink_.events[4999].raw, "line 4999");
}

TEST_F(StdinInputTest, LongLinesAreTruncatedAndCounted) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  StdinInput& input = startOn(fds[0], 16);
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
  input = &startOn(fds[0]);
  constexpr int kLines = 50000;
  std::thread writer([fd = fds[1]] {
    std::string chunk;
    for (int i = 0; i < kLines; ++i) chunk += "record " + std::to_string(i) + "\n";
    writeAll(fd, chunk);
    ::close(fd);
  });
  ASSERT_TRUE(runUntil([&] { return !sink_.events.empty(); }));
  spin(50);  // loop turns while paused
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
  StdinInput& input = startOn(fd);
  ASSERT_TRUE(runUntil([&] { return input.finished(); }));
  EXPECT_TRUE(sink_.events.empty());
}

TEST_F(StdinInputTest, AClosedDescriptorIsNotFatal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  StdinInput& input = startOn(fds[0]);
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
