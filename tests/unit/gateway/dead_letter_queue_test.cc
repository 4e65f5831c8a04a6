// Tests for the dead-letter queue (gateway/src/dead_letter_queue.cc) on real
// SQLite files.
#include "edge/gateway/dead_letter_queue.h"

#include <gtest/gtest.h>

#include <thread>

#include "test_support.h"

namespace edge::gateway::testing {
namespace {

SinkBatch makeBatch(size_t n, uint64_t first_seq) {
  SinkBatch batch;
  batch.agent_id = "agent-7";
  batch.batch_id = 42;
  batch.topic = "edge.acme.log";
  batch.table = "events";
  batch.events = makeEvents(n, first_seq, "acme");
  return batch;
}

class DeadLetterQueueTest : public ::testing::Test {
 protected:
  std::shared_ptr<DeadLetterQueue> open(uint64_t max_bytes = 1ull << 30) {
    auto dlq = DeadLetterQueue::open({dir_.file("sub/dlq.db"), max_bytes, false}, &metrics_);
    EXPECT_TRUE(dlq) << dlq.error().message;
    return dlq ? *dlq : nullptr;
  }
  TempDir dir_;
  MetricsRegistry metrics_;
};

TEST_F(DeadLetterQueueTest, KeepsTheChosenEventsWithReasonAndDestination) {
  auto dlq = open();
  const SinkBatch batch = makeBatch(5, 100);
  const uint32_t bad[] = {1, 3};
  ASSERT_TRUE(dlq->put("postgres", batch, bad, "invalid byte sequence 0x00"));

  auto letters = dlq->list({});
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 2u);
  const DeadLetter& first = (*letters)[0];
  EXPECT_EQ(first.sink, "postgres");
  EXPECT_EQ(first.reason, "invalid byte sequence 0x00");
  EXPECT_EQ(first.agent_id, "agent-7");
  EXPECT_EQ(first.batch_id, 42u);
  EXPECT_EQ(first.topic, "edge.acme.log");
  EXPECT_EQ(first.table, "events");
  EXPECT_EQ(first.event.seq, 101u);
  EXPECT_EQ((*letters)[1].event.seq, 103u);
  // The event comes back as it went in, typed fields included.
  const Event& original = batch.events[1];
  EXPECT_EQ(first.event.ts_ns, original.ts_ns);
  EXPECT_EQ(first.event.tenant, "acme");
  EXPECT_EQ(first.event.kind, original.kind);
  EXPECT_EQ(first.event.source, original.source);
  EXPECT_EQ(first.event.host, original.host);
  EXPECT_EQ(first.event.severity, original.severity);
  EXPECT_EQ(first.event.raw, original.raw);
  ASSERT_EQ(first.event.fields.size(), original.fields.size());
  for (size_t i = 0; i < original.fields.size(); ++i) {
    EXPECT_EQ(first.event.fields[i].key, original.fields[i].key);
    EXPECT_EQ(first.event.fields[i].value, original.fields[i].value) << original.fields[i].key;
  }
  EXPECT_EQ(metrics_.gauge("edge_gateway_dlq_events", "").value(), 2);
}

TEST_F(DeadLetterQueueTest, EmptyIndexesMeanTheWholeBatch) {
  auto dlq = open();
  ASSERT_TRUE(dlq->put("kafka", makeBatch(4, 1), {}, "message too large"));
  EXPECT_EQ(*dlq->count(), 4u);
}

TEST_F(DeadLetterQueueTest, ListFiltersBySinkAndPagesById) {
  auto dlq = open();
  ASSERT_TRUE(dlq->put("kafka", makeBatch(3, 1), {}, "a"));
  ASSERT_TRUE(dlq->put("postgres", makeBatch(2, 10), {}, "b"));
  auto kafka = dlq->list({"kafka", 0, 100});
  ASSERT_TRUE(kafka);
  EXPECT_EQ(kafka->size(), 3u);
  auto page = dlq->list({"", 0, 2});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  auto rest = dlq->list({"", page->back().id, 100});
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->size(), 3u);
}

TEST_F(DeadLetterQueueTest, RemoveDeletesByIdAndSurvivesReopen) {
  {
    auto dlq = open();
    ASSERT_TRUE(dlq->put("kafka", makeBatch(3, 1), {}, "a"));
    auto letters = dlq->list({});
    ASSERT_TRUE(letters);
    const int64_t ids[] = {(*letters)[0].id, (*letters)[2].id, 9999};
    auto removed = dlq->remove(ids);
    ASSERT_TRUE(removed);
    EXPECT_EQ(*removed, 2u);  // 9999 never existed
  }
  auto reopened = open();
  auto letters = reopened->list({});
  ASSERT_TRUE(letters);
  ASSERT_EQ(letters->size(), 1u);
  EXPECT_EQ(letters->front().event.seq, 2u);
  // The gauge starts from what the file holds.
  EXPECT_EQ(metrics_.gauge("edge_gateway_dlq_events", "").value(), 1);
}

TEST_F(DeadLetterQueueTest, RefusesWhenFullSoTheSinkRetriesInstead) {
  auto dlq = open(/*max_bytes=*/64 * 1024);
  SinkBatch big = makeBatch(50, 1);
  for (Event& event : big.events) event.raw.assign(4096, 'x');
  Result<void> put;
  int accepted = 0;
  while ((put = dlq->put("kafka", big, {}, "too large"))) ++accepted;
  EXPECT_GE(accepted, 1);
  EXPECT_NE(put.error().message.find("dlq.max_bytes"), std::string::npos) << put.error().message;
  EXPECT_EQ(metrics_.counter("edge_gateway_dlq_refused_total", "").value(), 1u);
  // Nothing half-written: every accepted put is whole.
  EXPECT_EQ(*dlq->count(), static_cast<uint64_t>(accepted) * 50);
}

TEST_F(DeadLetterQueueTest, ConcurrentPutsFromSinkThreads) {
  auto dlq = open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&dlq, t] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(dlq->put("sink" + std::to_string(t), makeBatch(2, i * 2), {}, "x"));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(*dlq->count(), 4u * 20 * 2);
}

TEST_F(DeadLetterQueueTest, AFileThatIsNotADatabaseIsNamedInTheError) {
  {
    std::FILE* f = std::fopen(dir_.file("junk.db").c_str(), "w");
    std::fputs("this is not sqlite, just text long enough to look like a header............", f);
    std::fclose(f);
  }
  auto dlq = DeadLetterQueue::open({dir_.file("junk.db"), 1 << 20, false});
  ASSERT_FALSE(dlq);
  EXPECT_NE(dlq.error().message.find("junk.db"), std::string::npos) << dlq.error().message;
  EXPECT_NE(dlq.error().message.find("dlq.path"), std::string::npos) << dlq.error().message;
}

}  // namespace
}  // namespace edge::gateway::testing
