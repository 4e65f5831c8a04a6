// Tests for out_file (storage-sinks/out_file) on real files in a temp dir.
#include "edge/sinks/file_sink.h"

#include <signal.h>
#include <sys/resource.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "edge/gateway/config.h"
#include "edge/gateway/sink_catalog.h"
#include "test_support.h"

namespace edge::gateway::testing {
namespace {

using sinks::FileSink;
using sinks::FileSinkOptions;

SinkResult submitAndWait(Sink& sink, SinkBatchPtr batch) {
  std::mutex mutex;
  std::condition_variable done;
  std::optional<SinkResult> result;
  sink.submit(std::move(batch), [&](SinkResult r) {
    std::lock_guard lock(mutex);
    result = std::move(r);
    done.notify_all();
  });
  std::unique_lock lock(mutex);
  EXPECT_TRUE(done.wait_for(lock, kGuard, [&] { return result.has_value(); }));
  return result.value_or(SinkResult{SinkStatus::kError, "no completion", 0, 0});
}

SinkBatchPtr makeBatch(const std::string& agent_id, size_t n, uint64_t first_seq,
                       const std::string& table = "") {
  auto batch = std::make_shared<SinkBatch>();
  batch->agent_id = agent_id;
  batch->batch_id = first_seq;
  batch->table = table;
  batch->events = makeEvents(n, first_seq, "acme");
  return batch;
}

std::vector<nlohmann::json> readLines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

std::vector<std::string> filesIn(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class FileSinkTest : public ::testing::Test {
 protected:
  FileSinkOptions options() {
    FileSinkOptions o;
    o.directory = dir_.file("out");
    return o;
  }
  TempDir dir_;
  MetricsRegistry metrics_;
};

TEST_F(FileSinkTest, WritesOneJsonLinePerEventWithTheAgent) {
  FileSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start());
  SinkResult result = submitAndWait(sink, makeBatch("agent \"7\"", 3, 10));
  EXPECT_EQ(result.status, SinkStatus::kOk);
  EXPECT_EQ(result.inserted, 3u);
  sink.stop();

  auto lines = readLines(dir_.file("out/events.ndjson"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["agent_id"], "agent \"7\"");
  EXPECT_EQ(lines[0]["seq"], 10);
  EXPECT_EQ(lines[2]["seq"], 12);
  EXPECT_EQ(lines[0]["tenant"], "acme");
  EXPECT_EQ(lines[0]["raw"], "line 10");
  EXPECT_EQ(lines[0]["fields"]["bytes"], 1234);
  EXPECT_EQ(lines[0]["fields"]["ok"], true);
}

TEST_F(FileSinkTest, ARoutesTableChoosesTheFileAndIsMadeSafe) {
  FileSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start());
  EXPECT_EQ(submitAndWait(sink, makeBatch("a", 2, 1, "alerts")).status, SinkStatus::kOk);
  EXPECT_EQ(submitAndWait(sink, makeBatch("a", 1, 5, "../etc/passwd")).status, SinkStatus::kOk);
  sink.stop();
  EXPECT_EQ(readLines(dir_.file("out/alerts.ndjson")).size(), 2u);
  EXPECT_EQ(filesIn(dir_.file("out")),
            (std::vector<std::string>{"_._etc_passwd.ndjson", "alerts.ndjson"}));
}

TEST_F(FileSinkTest, RotatesBySizeAndKeepsTheNewestFiles) {
  FileSinkOptions o = options();
  o.rotate_bytes = 4096;
  o.keep = 2;
  FileSink sink(o, metrics_);
  ASSERT_TRUE(sink.start());
  uint64_t seq = 1;
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(submitAndWait(sink, makeBatch("a", 10, seq)).status, SinkStatus::kOk);
    seq += 10;
  }
  sink.stop();
  std::vector<std::string> files = filesIn(dir_.file("out"));
  ASSERT_EQ(files.size(), 3u) << "2 rotated + the current one";
  EXPECT_EQ(files.back(), "events.ndjson");
  EXPECT_GT(metrics_.counter("edge_gateway_file_sink_rotated_files_deleted_total", "").value(), 0u);
  // What is left is the newest data, in order, with no line cut.
  uint64_t previous = 0;
  for (const std::string& file : files) {
    for (const auto& line : readLines(dir_.file("out/" + file))) {
      EXPECT_GT(line["seq"].get<uint64_t>(), previous);
      previous = line["seq"].get<uint64_t>();
    }
  }
  EXPECT_EQ(previous, seq - 1);
}

// A write that fails half-way (here: the file size limit, EFBIG) is cut back
// to the last whole line and reported kRetry; the retry then lands whole.
TEST_F(FileSinkTest, AFailedWriteLeavesNoHalfLineAndIsRetried) {
  FileSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start());
  ASSERT_EQ(submitAndWait(sink, makeBatch("a", 5, 1)).status, SinkStatus::kOk);
  const auto before = std::filesystem::file_size(dir_.file("out/events.ndjson"));

  signal(SIGXFSZ, SIG_IGN);
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  rlimit tight = old;
  tight.rlim_cur = before + 100;  // room for part of one line
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tight), 0);
  SinkResult failed = submitAndWait(sink, makeBatch("a", 5, 6));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
  EXPECT_EQ(failed.status, SinkStatus::kRetry);
  EXPECT_NE(failed.reason.find("events.ndjson"), std::string::npos) << failed.reason;
  EXPECT_EQ(std::filesystem::file_size(dir_.file("out/events.ndjson")), before);

  EXPECT_EQ(submitAndWait(sink, makeBatch("a", 5, 6)).status, SinkStatus::kOk);
  sink.stop();
  auto lines = readLines(dir_.file("out/events.ndjson"));
  ASSERT_EQ(lines.size(), 10u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i]["seq"], i + 1);
}

TEST_F(FileSinkTest, ConfiguredUnderSinksFileAndRoutable) {
  auto config = parseGatewayConfig(R"(
gateway:
  data_dir: )" + dir_.path() + R"(
  tls: {enabled: false, allow_plaintext: true}
sinks:
  file: {rotate_bytes: 1MiB, keep: 3}
)",
                                   "gw.yaml");
  ASSERT_TRUE(config) << config.error().message;
  resolveDefaults(*config);
  EXPECT_FALSE(config->sqlite_enabled) << "another sink is enabled: sqlite only when asked";
  EXPECT_EQ(config->enabledSinks(), std::vector<std::string>{"file"});
  MetricsRegistry metrics;
  auto sinks = createSinks(*config, metrics, nullptr);
  ASSERT_TRUE(sinks) << sinks.error().message;
  auto* file = dynamic_cast<FileSink*>(sinks->at("file").get());
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->directory(), dir_.path() + "/ndjson");

  auto bad = parseGatewayConfig("sinks:\n  file: {rotate_byte: 1MiB, name: ../x}\n", "gw.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("gw.yaml:2"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("rotate_byte"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("sinks.file.name"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace edge::gateway::testing
