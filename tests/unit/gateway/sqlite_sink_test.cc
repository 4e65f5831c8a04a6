// Tests for out_sqlite (storage-sinks/out_sqlite) on real database files,
// out_discard, and the watermark counter every sink uses.
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "edge/sinks/discard_sink.h"
#include "test_support.h"

namespace edge::gateway::testing {
namespace {

using sinks::SqliteSink;
using sinks::SqliteSinkOptions;

// Completions arrive on the sink's thread; this hands them to the test.
class Completions {
 public:
  SinkCompletion callback() {
    return [this](SinkResult result) {
      std::lock_guard<std::mutex> lock(mutex_);
      results_.push_back(std::move(result));
      changed_.notify_all();
    };
  }
  // Waits (failure guard only) until `n` completions arrived; returns them.
  std::vector<SinkResult> waitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    EXPECT_TRUE(changed_.wait_for(lock, kGuard, [&] { return results_.size() >= n; }))
        << "only " << results_.size() << " of " << n << " completions arrived";
    return results_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<SinkResult> results_;
};

class CountingListener : public WatermarkListener {
 public:
  void onAboveHighWatermark() override { ++above; }
  void onBelowLowWatermark() override { ++below; }
  std::atomic<int> above{0};
  std::atomic<int> below{0};
};

SinkBatchPtr makeBatch(const std::string& agent_id, uint64_t batch_id, size_t n,
                       uint64_t first_seq) {
  auto batch = std::make_shared<SinkBatch>();
  batch->agent_id = agent_id;
  batch->batch_id = batch_id;
  batch->received_at_ns = 1700000000123456789LL;
  batch->events = makeEvents(n, first_seq, "acme");
  return batch;
}

class SqliteSinkTest : public ::testing::Test {
 protected:
  SqliteSinkOptions options() {
    SqliteSinkOptions options;
    options.path = dir_.file("sub/dir/events.db");  // parents are created
    options.busy_timeout = std::chrono::milliseconds(60000);
    return options;
  }
  TempDir dir_;
  MetricsRegistry metrics_;
};

TEST_F(SqliteSinkTest, CommitsEveryEventOfABatch) {
  SqliteSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start().ok());
  Completions done;
  sink.submit(makeBatch("agent-1", 7, 3, 100), done.callback());
  auto results = done.waitFor(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, SinkStatus::kOk) << results[0].reason;
  EXPECT_EQ(results[0].inserted, 3u);
  EXPECT_EQ(results[0].duplicates, 0u);

  Db db(sink.path());
  EXPECT_EQ(db.scalar("select count(*) from events"), 3);
  EXPECT_EQ(db.scalar("select count(*) from events where agent_id = 'agent-1' and tenant = 'acme'"),
            3);
  EXPECT_EQ(db.scalar("select min(seq) from events"), 100);
  EXPECT_EQ(db.scalar("select ts from events where seq = 101"), 1700000000000000000LL + 101 * 1000);
  EXPECT_EQ(db.text("select raw from events where seq = 102"), "line 102");
  EXPECT_EQ(db.text("select host from events where seq = 100"), "web-1");
  EXPECT_EQ(db.text("select kind from events where seq = 100"), "log");
  EXPECT_EQ(db.text("select source from events where seq = 100"), "/var/log/app.log");
  EXPECT_EQ(db.scalar("select severity from events where seq = 100"), 4);
  EXPECT_EQ(db.scalar("select received_at from events where seq = 100"), 1700000000123456789LL);
  sink.stop();
  EXPECT_EQ(metrics_.gauge("edge_gateway_sink_queue_batches", "").value(), 0);
}

TEST_F(SqliteSinkTest, RedeliveryInsertsNothingAndCountsDuplicates) {
  SqliteSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start().ok());
  Completions done;
  sink.submit(makeBatch("agent-1", 1, 4, 1), done.callback());
  done.waitFor(1);
  // The agent resends the same batch (its ack was lost), then one overlapping it.
  sink.submit(makeBatch("agent-1", 1, 4, 1), done.callback());
  sink.submit(makeBatch("agent-1", 2, 4, 3), done.callback());
  // Same seqs from another agent are different events.
  sink.submit(makeBatch("agent-2", 1, 4, 1), done.callback());
  auto results = done.waitFor(4);
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) EXPECT_EQ(r.status, SinkStatus::kOk) << r.reason;
  EXPECT_EQ(results[1].inserted, 0u);
  EXPECT_EQ(results[1].duplicates, 4u);
  EXPECT_EQ(results[2].inserted, 2u);
  EXPECT_EQ(results[2].duplicates, 2u);
  EXPECT_EQ(results[3].inserted, 4u);

  Db db(sink.path());
  EXPECT_EQ(db.scalar("select count(*) from events where agent_id = 'agent-1'"), 6);
  EXPECT_EQ(db.scalar("select count(*) from events where agent_id = 'agent-2'"), 4);
  EXPECT_EQ(metrics_.counter("edge_gateway_sink_duplicates_total", "").value(), 6u);
}

TEST_F(SqliteSinkTest, FieldsAreAJsonObjectWithTypes) {
  SqliteSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start().ok());
  auto batch = std::make_shared<SinkBatch>();
  batch->agent_id = "agent-1";
  batch->batch_id = 1;
  batch->received_at_ns = 1;
  batch->events = makeEvents(1, 1, "acme");
  batch->events[0].fields.push_back(Field{"quote", std::string("say \"hi\"\n")});
  Completions done;
  sink.submit(batch, done.callback());
  ASSERT_EQ(done.waitFor(1)[0].status, SinkStatus::kOk);

  Db db(sink.path());
  const std::string text = db.text("select fields from events");
  EXPECT_EQ(text, fieldsToJson(batch->events[0].fields));
  auto json = nlohmann::json::parse(text, nullptr, false);
  ASSERT_TRUE(json.is_object()) << text;
  EXPECT_EQ(json["user"], "alice");
  EXPECT_EQ(json["bytes"], 1234);
  EXPECT_DOUBLE_EQ(json["ratio"].get<double>(), 0.5);
  EXPECT_EQ(json["ok"], true);
  EXPECT_EQ(json["quote"], "say \"hi\"\n");
  // And SQLite's JSON functions can use it.
  EXPECT_EQ(db.scalar("select count(*) from events where json_extract(fields, '$.bytes') = 1234"),
            1);
}

TEST_F(SqliteSinkTest, SchemaHasVersionWalAndTimestampIndex) {
  SqliteSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start().ok());
  sink.stop();
  Db db(sink.path());
  EXPECT_EQ(db.text("select value from meta where key = 'schema_version'"), "1");
  EXPECT_EQ(db.text("pragma journal_mode"), "wal");
  EXPECT_EQ(
      db.scalar("select count(*) from sqlite_master where type = 'index' and tbl_name = 'events' "
                "and sql like '%(ts)%'"),
      1);
  EXPECT_NE(
      db.text("select sql from sqlite_master where name = 'events'").find("UNIQUE(agent_id, seq)"),
      std::string::npos);
}

TEST_F(SqliteSinkTest, RefusesADatabaseFromANewerSchema) {
  {
    SqliteSink sink(options(), metrics_);
    ASSERT_TRUE(sink.start().ok());
  }
  {
    Db db(options().path);
    db.scalar("update meta set value = '99' where key = 'schema_version'");
  }
  SqliteSink sink(options(), metrics_);
  auto started = sink.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("schema_version 99"), std::string::npos)
      << started.error().message;
}

TEST_F(SqliteSinkTest, OpenFailureNamesThePathAndTheSetting) {
  // A regular file where the database's directory should be.
  { std::ofstream(dir_.file("blocker")) << "x"; }
  SqliteSinkOptions opts = options();
  opts.path = dir_.file("blocker/events.db");
  SqliteSink sink(opts, metrics_);
  auto started = sink.start();
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find(opts.path), std::string::npos) << started.error().message;
  EXPECT_NE(started.error().message.find("sinks.sqlite.path"), std::string::npos)
      << started.error().message;
}

TEST_F(SqliteSinkTest, LockedDatabaseReportsRetryAndUnhealthyThenRecovers) {
  SqliteSinkOptions opts = options();
  opts.busy_timeout = std::chrono::milliseconds(1);
  SqliteSink sink(opts, metrics_);
  ASSERT_TRUE(sink.start().ok());
  Completions done;
  {
    Db blocker(sink.path());
    blocker.lockForWrite();
    sink.submit(makeBatch("agent-1", 1, 2, 1), done.callback());
    auto results = done.waitFor(1);
    EXPECT_EQ(results[0].status, SinkStatus::kRetry);
    EXPECT_NE(results[0].reason.find("locked"), std::string::npos) << results[0].reason;
    EXPECT_FALSE(sink.health().healthy);
    blocker.unlock();
  }
  sink.submit(makeBatch("agent-1", 1, 2, 1), done.callback());
  auto results = done.waitFor(2);
  EXPECT_EQ(results[1].status, SinkStatus::kOk) << results[1].reason;
  EXPECT_EQ(results[1].inserted, 2u);
  EXPECT_TRUE(sink.health().healthy);
}

TEST_F(SqliteSinkTest, WatermarkCallbacksFireOnlyOnCrossing) {
  SqliteSinkOptions opts = options();
  opts.queue_max_batches = 4;  // low = 2
  SqliteSink sink(opts, metrics_);
  ASSERT_TRUE(sink.start().ok());
  auto listener = std::make_shared<CountingListener>();
  sink.addWatermarkListener(listener);
  Completions done;

  Db blocker(sink.path());
  blocker.lockForWrite();  // the sink's first commit waits on this lock
  for (uint64_t i = 1; i <= 3; ++i) sink.submit(makeBatch("a", i, 1, i), done.callback());
  EXPECT_EQ(listener->above.load(), 0);
  EXPECT_FALSE(sink.aboveHighWatermark());
  sink.submit(makeBatch("a", 4, 1, 4), done.callback());  // reaches 4
  EXPECT_EQ(listener->above.load(), 1);
  EXPECT_TRUE(sink.aboveHighWatermark());
  for (uint64_t i = 5; i <= 8; ++i) sink.submit(makeBatch("a", i, 1, i), done.callback());
  EXPECT_EQ(listener->above.load(), 1) << "staying above must not fire again";
  EXPECT_EQ(listener->below.load(), 0);
  EXPECT_EQ(sink.queuedBatches(), 8u);
  EXPECT_EQ(metrics_.gauge("edge_gateway_sink_queue_batches", "").value(), 8);

  blocker.unlock();
  auto results = done.waitFor(8);
  for (const auto& r : results) EXPECT_EQ(r.status, SinkStatus::kOk) << r.reason;
  // The queue drains after the completions; wait for the crossing itself.
  const auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (sink.queuedBatches() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(listener->below.load(), 1);
  EXPECT_FALSE(sink.aboveHighWatermark());

  // A second climb fires again: the trigger re-arms after falling below low.
  blocker.lockForWrite();
  for (uint64_t i = 9; i <= 12; ++i) sink.submit(makeBatch("a", i, 1, i), done.callback());
  EXPECT_EQ(listener->above.load(), 2);
  blocker.unlock();
  done.waitFor(12);
  sink.stop();
  EXPECT_EQ(listener->below.load(), 2);
  EXPECT_EQ(Db(sink.path()).scalar("select count(*) from events"), 12);
}

TEST_F(SqliteSinkTest, StopCommitsWhatIsQueuedThenRefuses) {
  SqliteSink sink(options(), metrics_);
  ASSERT_TRUE(sink.start().ok());
  Completions done;
  for (uint64_t i = 1; i <= 20; ++i) sink.submit(makeBatch("a", i, 5, i * 10), done.callback());
  sink.stop();
  auto results = done.waitFor(20);
  for (const auto& r : results) EXPECT_EQ(r.status, SinkStatus::kOk) << r.reason;

  sink.submit(makeBatch("a", 99, 1, 9999), done.callback());
  results = done.waitFor(21);
  EXPECT_EQ(results[20].status, SinkStatus::kRetry);
  EXPECT_EQ(Db(sink.path()).scalar("select count(*) from events"), 100);
}

TEST(WatermarkCounterTest, EdgeTriggeredWithLowAtHalf) {
  WatermarkCounter counter(10);
  EXPECT_EQ(counter.low(), 5u);
  EXPECT_EQ(counter.add(9), WatermarkCounter::Crossing::kNone);
  EXPECT_EQ(counter.add(1), WatermarkCounter::Crossing::kAboveHigh);
  EXPECT_EQ(counter.add(5), WatermarkCounter::Crossing::kNone);
  EXPECT_EQ(counter.sub(9), WatermarkCounter::Crossing::kNone);  // 6: between the marks
  EXPECT_EQ(counter.add(3), WatermarkCounter::Crossing::kNone);  // 9: still "above"
  EXPECT_TRUE(counter.above());
  EXPECT_EQ(counter.sub(4), WatermarkCounter::Crossing::kBelowLow);  // 5
  EXPECT_EQ(counter.sub(100), WatermarkCounter::Crossing::kNone);
  EXPECT_EQ(counter.value(), 0u);
  EXPECT_EQ(counter.add(10), WatermarkCounter::Crossing::kAboveHigh);
}

TEST(WatermarkCounterTest, HighOfOneUsesZeroAsLow) {
  WatermarkCounter counter(1);
  EXPECT_EQ(counter.add(1), WatermarkCounter::Crossing::kAboveHigh);
  EXPECT_EQ(counter.sub(1), WatermarkCounter::Crossing::kBelowLow);
}

TEST(DiscardSinkTest, AcksEveryBatchAndCountsWhatItThrewAway) {
  MetricsRegistry metrics;
  sinks::DiscardSink sink({.queue_max_batches = 4}, metrics);
  ASSERT_TRUE(sink.start().ok());
  Completions done;
  for (uint64_t id = 1; id <= 10; ++id) sink.submit(makeBatch("agent-1", id, 3, id * 3), done.callback());
  std::vector<SinkResult> results = done.waitFor(10);
  ASSERT_EQ(results.size(), 10u);
  for (const SinkResult& result : results) {
    EXPECT_EQ(result.status, SinkStatus::kOk);
    EXPECT_EQ(result.inserted, 3u);
  }
  EXPECT_NE(metrics.renderPrometheus().find("edge_gateway_sink_discarded_events_total 30"),
            std::string::npos)
      << metrics.renderPrometheus();
  sink.stop();
  EXPECT_EQ(sink.queuedBatches(), 0u);
}

}  // namespace
}  // namespace edge::gateway::testing
