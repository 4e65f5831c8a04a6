// Tests for logging setup (text and JSON lines on stderr) and the log rate limiter.
#include "edge/common/log.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace edge {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// Points fd 2 at a temporary file for the lifetime of the object, so the real
// stderr sink can be observed.
class StderrCapture {
 public:
  StderrCapture() {
    path_ = std::filesystem::temp_directory_path() /
            ("edge_log_test_" + std::to_string(getpid()) + ".txt");
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    int fd = open(path_.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    EXPECT_GE(fd, 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  ~StderrCapture() { restore(); }

  // Restores stderr and returns what was written meanwhile.
  std::string finish() {
    restore();
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    std::filesystem::remove(path_);
    return text.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    spdlog::default_logger()->flush();
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }
  std::filesystem::path path_;
  int saved_ = -1;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

TEST(LogTest, UnknownLevelIsAConfigError) {
  LogOptions options;
  options.level = "verbose";
  auto r = setupLogging(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kConfig);
  EXPECT_EQ(
      r.error().message,
      "unknown log level \"verbose\"; use one of trace, debug, info, warn, error, critical, off");
}

TEST(LogTest, JsonLinesAreValidJsonWithAllFields) {
  LogOptions options;
  options.format = LogFormat::kJson;
  options.component = "gateway";
  options.level = "debug";
  StderrCapture capture;
  ASSERT_TRUE(setupLogging(options).ok());
  spdlog::info("hello \"world\" \\ {}\nsecond line\t{}", 42, "\x01");
  spdlog::warn("careful");
  spdlog::trace("not shown at debug level");
  std::string text = capture.finish();

  auto out = lines(text);
  ASSERT_EQ(out.size(), 2u) << text;
  auto first = nlohmann::json::parse(out[0]);
  ASSERT_TRUE(first.is_object());
  EXPECT_EQ(first.size(), 4u);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["component"], "gateway");
  EXPECT_EQ(first["msg"], "hello \"world\" \\ 42\nsecond line\t\x01");
  EXPECT_THAT(first["ts"].get<std::string>(),
              MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"));
  // Key order is part of the format people grep for.
  EXPECT_THAT(out[0], ::testing::StartsWith("{\"ts\":\""));
  auto second = nlohmann::json::parse(out[1]);
  EXPECT_EQ(second["level"], "warn");
  EXPECT_EQ(second["msg"], "careful");
}

TEST(LogTest, TextFormat) {
  LogOptions options;
  options.component = "agent";
  options.level = "INFO";
  StderrCapture capture;
  ASSERT_TRUE(setupLogging(options).ok());
  spdlog::info("started with {} inputs", 3);
  spdlog::error("spool full");
  spdlog::debug("hidden");
  std::string text = capture.finish();
  auto out = lines(text);
  ASSERT_EQ(out.size(), 2u) << text;
  const std::string ts = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z";
  EXPECT_THAT(out[0], MatchesRegex(ts + " info  agent: started with 3 inputs"));
  EXPECT_THAT(out[1], MatchesRegex(ts + " error agent: spool full"));
}

TEST(LogTest, OffLevelSilencesEverything) {
  LogOptions options;
  options.level = "off";
  StderrCapture capture;
  ASSERT_TRUE(setupLogging(options).ok());
  spdlog::critical("nothing");
  EXPECT_EQ(capture.finish(), "");
  ASSERT_TRUE(setupLogging(LogOptions{}).ok());
}

TEST(LogRateLimiterTest, AllowsBurstThenSuppresses) {
  LogRateLimiter limiter(3, std::chrono::hours(1));
  EXPECT_EQ(limiter.allow(), 1u);
  EXPECT_EQ(limiter.allow(), 1u);
  EXPECT_EQ(limiter.allow(), 1u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.allow(), 0u);
}

TEST(LogRateLimiterTest, NextWindowReportsSuppressedCount) {
  const auto interval = std::chrono::milliseconds(300);
  LogRateLimiter limiter(1, interval);
  auto start = std::chrono::steady_clock::now();
  uint64_t first = limiter.allow();
  uint64_t a = limiter.allow();
  uint64_t b = limiter.allow();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(first, 1u);
  if (elapsed >= interval) GTEST_SKIP() << "machine too slow to stay inside one window";
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 0u);
  std::this_thread::sleep_for(interval + std::chrono::milliseconds(50));
  // Two suppressed since the last allowed message.
  EXPECT_EQ(limiter.allow(), 3u);
}

TEST(LogRateLimiterTest, ThreadSafeWithinOneWindow) {
  LogRateLimiter limiter(100, std::chrono::hours(1));
  constexpr int kThreads = 4;
  constexpr int kCalls = 20000;
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> reported_suppressed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        uint64_t n = limiter.allow();
        if (n > 0) {
          allowed.fetch_add(1);
          reported_suppressed.fetch_add(n - 1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  // The window opens once; a racing first call may let through a few extra.
  EXPECT_GE(allowed.load(), 100u);
  EXPECT_LE(allowed.load(), 100u + kThreads);
  EXPECT_LE(reported_suppressed.load(), uint64_t{kThreads} * kCalls - allowed.load());
}

}  // namespace
}  // namespace edge
