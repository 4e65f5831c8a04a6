// Tests of the spool writer: batch boundaries by events and bytes, the flush
// timer, positions committed with their events, and pausing inputs when the
// spool reaches max_bytes.
#include "spool_writer.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace edge::agent {
namespace {

using testing::makeEvent;
using testing::TempDir;

class SpoolWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    SpoolOptions options;
    options.path = dir_.file("spool.db");
    auto spool = Spool::open(options);
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    spool_ = std::move(*spool);
  }
  void TearDown() override {
    if (writer_) writer_->close();
    testing::closeLoop(&loop_);
  }

  SpoolWriter& makeWriter(SpoolConfig config) {
    writer_ = std::make_unique<SpoolWriter>(&loop_, *spool_, config, metrics_);
    writer_->setOnAppended([this] { ++appended_; });
    writer_->setOnPressure([this](bool paused) { pressure_.push_back(paused); });
    EXPECT_TRUE(writer_->start().ok());
    return *writer_;
  }

  static std::vector<Event> events(int n) {
    std::vector<Event> out;
    for (int i = 0; i < n; ++i) out.push_back(makeEvent("event " + std::to_string(i)));
    return out;
  }

  static std::vector<InputPosition> at(uint64_t offset) {
    return {InputPosition{"in", "/f", 1, 2, offset}};
  }

  uint64_t committedOffset() {
    auto positions = spool_->loadPositions("in");
    EXPECT_TRUE(positions.ok());
    return positions.ok() && !positions->empty() ? positions->front().offset : 0;
  }

  uv_loop_t loop_{};
  TempDir dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<SpoolWriter> writer_;
  int appended_ = 0;
  std::vector<bool> pressure_;
};

TEST_F(SpoolWriterTest, BatchesEndOnDeliveryBoundariesWithinMaxEvents) {
  SpoolConfig config;
  config.batch_max_events = 3;
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.deliver("in", events(2), at(20));
  EXPECT_EQ(spool_->batchCount(), 0u);
  EXPECT_EQ(committedOffset(), 0u) << "positions wait for their events";
  writer.deliver("in", events(2), at(40));  // 4 > 3: the first two go alone
  EXPECT_EQ(spool_->batchCount(), 1u);
  EXPECT_EQ(spool_->eventCount(), 2u);
  EXPECT_EQ(committedOffset(), 20u);
  writer.deliver("in", events(1), at(50));  // reaches 3: flushed at once
  EXPECT_EQ(spool_->batchCount(), 2u);
  EXPECT_EQ(spool_->eventCount(), 5u);
  EXPECT_EQ(committedOffset(), 50u);
  EXPECT_EQ(appended_, 2);
  auto pending = spool_->pending(0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].event_count, 2u);
  EXPECT_EQ((*pending)[1].event_count, 3u);
  EXPECT_EQ((*pending)[1].first_seq, 3u);
}

TEST_F(SpoolWriterTest, BatchesStayWithinMaxBytes) {
  SpoolConfig config;
  config.batch_max_bytes = 1024;
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  std::vector<Event> big;
  big.push_back(makeEvent(std::string(700, 'x')));
  writer.deliver("in", std::move(big), at(701));
  EXPECT_EQ(spool_->batchCount(), 0u);
  std::vector<Event> more;
  more.push_back(makeEvent(std::string(700, 'y')));
  writer.deliver("in", std::move(more), at(1402));
  EXPECT_EQ(spool_->batchCount(), 1u);
  EXPECT_EQ(spool_->eventCount(), 1u);
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(spool_->batchCount(), 2u);
  EXPECT_EQ(committedOffset(), 1402u);
}

TEST_F(SpoolWriterTest, FlushesAfterTheInterval) {
  SpoolConfig config;
  config.flush_interval = std::chrono::milliseconds(20);
  SpoolWriter& writer = makeWriter(config);
  writer.deliver("in", events(1), at(10));
  EXPECT_EQ(spool_->batchCount(), 0u);
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return spool_->batchCount() == 1; }));
  EXPECT_EQ(appended_, 1);
  EXPECT_EQ(committedOffset(), 10u);
  // A position-only delivery is committed by the timer too, without a batch.
  writer.deliver("in", {}, at(15));
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return committedOffset() == 15; }));
  EXPECT_EQ(spool_->batchCount(), 1u);
  EXPECT_EQ(appended_, 1);
}

TEST_F(SpoolWriterTest, LaterPositionsOfTheSamePathWin) {
  SpoolConfig config;
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.deliver("in", events(1), at(10));
  writer.deliver("in", events(1), at(20));
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(committedOffset(), 20u);
  EXPECT_EQ(spool_->batchCount(), 1u);
  EXPECT_EQ(spool_->eventCount(), 2u);
}

TEST_F(SpoolWriterTest, PausesInputsAtMaxBytesAndResumesBelow) {
  SpoolConfig config;
  config.max_bytes = 1;  // any batch fills it
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.deliver("in", events(2), at(10));
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(pressure_, std::vector<bool>{true});
  EXPECT_TRUE(writer.paused());
  std::string text = metrics_.renderPrometheus();
  EXPECT_NE(text.find("edge_agent_input_paused_total 1"), std::string::npos) << text;
  EXPECT_NE(text.find("edge_agent_spool_batches 1"), std::string::npos) << text;
  EXPECT_NE(text.find("edge_agent_spool_events 2"), std::string::npos) << text;

  ASSERT_TRUE(spool_->remove(1).ok());
  writer.onSpoolShrunk();
  EXPECT_EQ(pressure_, (std::vector<bool>{true, false}));
  EXPECT_FALSE(writer.paused());
  text = metrics_.renderPrometheus();
  EXPECT_NE(text.find("edge_agent_spool_batches 0"), std::string::npos) << text;
  EXPECT_NE(text.find("edge_agent_spool_bytes 0"), std::string::npos) << text;
}

}  // namespace
}  // namespace edge::agent
