// Tests of the spool writer: batch boundaries by events and bytes, the flush
// timer, positions committed with their events, the when_full policies
// (block pauses, drop_newest and drop_oldest count what they drop), and the
// parser hook.
#include "spool_writer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "edge/protocol/batch.h"
#include "edge/protocol/frame.h"

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
    writer_->setOnPressure(
        [this](SpoolWriter::Pressure p) { pressure_.push_back(p != SpoolWriter::Pressure::kNone); });
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

TEST_F(SpoolWriterTest, BlockedInputsResumeOnlyBelowHalfTheLimit) {
  SpoolConfig config;
  config.flush_interval = std::chrono::minutes(5);
  config.batch_max_events = 10;
  {
    SpoolWriter& sizing = makeWriter(config);
    for (int i = 0; i < 4; ++i) sizing.deliver("in", events(10), at(10 * (i + 1)));
    ASSERT_EQ(spool_->batchCount(), 4u);
  }
  uint64_t four = spool_->payloadBytes();
  writer_->close();
  testing::closeLoop(&loop_);
  ASSERT_EQ(uv_loop_init(&loop_), 0);
  pressure_.clear();
  config.max_bytes = four;  // full with four batches
  SpoolWriter& writer = makeWriter(config);
  EXPECT_EQ(writer.pressure(), SpoolWriter::Pressure::kFull);
  ASSERT_TRUE(spool_->remove(1).ok());  // three left: below the limit, above half
  writer.onSpoolShrunk();
  EXPECT_EQ(writer.pressure(), SpoolWriter::Pressure::kFull) << "no resume right below the limit";
  ASSERT_TRUE(spool_->remove(2).ok());  // two left: at (about) half
  ASSERT_TRUE(spool_->remove(3).ok());  // one left: below half
  writer.onSpoolShrunk();
  EXPECT_EQ(writer.pressure(), SpoolWriter::Pressure::kNone);
  EXPECT_EQ(pressure_, (std::vector<bool>{true, false}));
}

std::string metricsText(MetricsRegistry& metrics) { return metrics.renderPrometheus(); }

bool hasLine(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST_F(SpoolWriterTest, DropNewestDiscardsNewEventsButAdvancesThePosition) {
  SpoolConfig config;
  config.max_bytes = 1;  // full after the first batch
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.addInput("in", WhenFull::kDropNewest, nullptr);
  writer.deliver("in", events(2), at(10));
  ASSERT_TRUE(writer.flush().ok());
  ASSERT_EQ(spool_->eventCount(), 2u);
  EXPECT_EQ(writer.pressure(), SpoolWriter::Pressure::kFull);

  writer.deliver("in", events(3), at(30));
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(spool_->eventCount(), 2u) << "nothing new was spooled";
  EXPECT_EQ(spool_->batchCount(), 1u);
  EXPECT_EQ(committedOffset(), 30u) << "dropped events are not read again";
  EXPECT_EQ(writer.droppedEvents("in"), 3u);
  std::string text = metricsText(metrics_);
  EXPECT_TRUE(hasLine(text, "edge_agent_events_dropped_total{input=\"in\",reason=\"drop_newest\"} 3"))
      << text;
  EXPECT_TRUE(hasLine(text, "edge_agent_events_dropped_total{input=\"in\",reason=\"drop_oldest\"} 0"))
      << text;

  // Below the limit again, new events are kept.
  ASSERT_TRUE(spool_->remove(1).ok());
  writer.onSpoolShrunk();
  writer.deliver("in", events(1), at(40));
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(spool_->eventCount(), 1u);
  EXPECT_EQ(writer.droppedEvents("in"), 3u);
}

TEST_F(SpoolWriterTest, DropOldestDeletesOnlyItsOwnBatchesThatAreNotInFlight) {
  SpoolConfig config;
  config.flush_interval = std::chrono::minutes(5);
  config.batch_max_events = 10;
  SpoolWriter& writer = makeWriter(config);
  writer.addInput("other", WhenFull::kBlock, nullptr);
  writer.addInput("in", WhenFull::kDropOldest, nullptr);
  writer.deliver("other", events(10), {});  // batch 1 (flushed at 10 events)
  writer.deliver("in", events(10), at(10));   // batch 2
  writer.deliver("in", events(10), at(20));   // batch 3
  writer.deliver("in", events(10), at(30));   // batch 4
  ASSERT_EQ(spool_->batchCount(), 4u);
  // Make the spool "full" at its current size; batch 2 is in flight.
  writer_->close();
  testing::closeLoop(&loop_);
  ASSERT_EQ(uv_loop_init(&loop_), 0);
  config.max_bytes = spool_->payloadBytes();
  SpoolWriter& full = makeWriter(config);
  full.addInput("other", WhenFull::kBlock, nullptr);
  full.addInput("in", WhenFull::kDropOldest, nullptr);
  full.setInFlightCheck([](uint64_t id) { return id == 2; });
  EXPECT_EQ(full.pressure(), SpoolWriter::Pressure::kFull);
  full.deliver("in", events(10), at(40));
  ASSERT_TRUE(full.flush().ok());

  auto pending = spool_->pending(0, 10);
  ASSERT_TRUE(pending.ok());
  std::vector<uint64_t> ids;
  for (const SpooledBatch& batch : *pending) ids.push_back(batch.batch_id);
  // Batch 3 (the oldest of "in" not in flight) made room; batch 1 belongs
  // to a block input and batch 2 is in flight.
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 4, 5}));
  EXPECT_EQ(full.droppedEvents("in"), 10u);
  EXPECT_EQ(full.droppedEvents("other"), 0u);
  EXPECT_TRUE(hasLine(metricsText(metrics_),
                      "edge_agent_events_dropped_total{input=\"in\",reason=\"drop_oldest\"} 10"));
  EXPECT_EQ(committedOffset(), 40u);
}

TEST_F(SpoolWriterTest, DropOldestWithNothingOfItsOwnLeftDropsTheNewEvents) {
  SpoolConfig config;
  config.max_bytes = 1;
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.addInput("other", WhenFull::kBlock, nullptr);
  writer.addInput("in", WhenFull::kDropOldest, nullptr);
  writer.deliver("other", events(2), {});
  ASSERT_TRUE(writer.flush().ok());
  writer.deliver("in", events(4), at(10));
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(spool_->batchCount(), 1u) << "the block input's batch is never deleted";
  EXPECT_TRUE(hasLine(metricsText(metrics_),
                      "edge_agent_events_dropped_total{input=\"in\",reason=\"drop_newest\"} 4"));
  EXPECT_EQ(committedOffset(), 10u);
}

TEST_F(SpoolWriterTest, BatchesHoldOneInputEach) {
  SpoolConfig config;
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.deliver("a", events(2), {});
  writer.deliver("b", events(3), {});
  writer.deliver("a", events(1), {});
  ASSERT_TRUE(writer.flush().ok());
  auto pending = spool_->pending(0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].event_count, 3u);
  EXPECT_EQ((*pending)[1].event_count, 3u);
}

TEST_F(SpoolWriterTest, FailingParserKeepsTheEventWithAParseErrorField) {
  class EvenParser : public Parser {
   public:
    bool parse(Event& event) const override {
      bool even = (event.raw.back() - '0') % 2 == 0;
      if (even) event.setField("parsed", true);
      ++calls_;
      return even;
    }
    ParserStats stats() const override {
      ParserStats s;
      s.conversion_errors = calls_;  // pretend every record had one
      s.fields_dropped = calls_ / 2;
      return s;
    }

   private:
    mutable uint64_t calls_ = 0;
  };
  SpoolConfig config;
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.addInput("in", WhenFull::kBlock, std::make_unique<EvenParser>(), ParserType::kJson);
  writer.deliver("in", events(4), at(4));
  ASSERT_TRUE(writer.flush().ok());
  auto pending = spool_->pending(0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  auto decoded = protocol::decodeBatchPayload((*pending)[0].payload, (*pending)[0].flags,
                                              protocol::kDefaultMaxDecompressedSize);
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->events.size(), 4u);
  EXPECT_NE(decoded->events[0].findField("parsed"), nullptr);
  EXPECT_EQ(decoded->events[0].findField("parse_error"), nullptr);
  const FieldValue* error = decoded->events[1].findField("parse_error");
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(std::get<std::string>(*error), "json");
  EXPECT_EQ(decoded->events[1].raw, "event 1");
  std::string text = metricsText(metrics_);
  EXPECT_TRUE(hasLine(text, "edge_agent_parse_errors_total{input=\"in\"} 2")) << text;
  EXPECT_TRUE(hasLine(text, "edge_agent_parser_conversion_errors_total{input=\"in\"} 4")) << text;
  EXPECT_TRUE(hasLine(text, "edge_agent_parser_fields_dropped_total{input=\"in\"} 2")) << text;
  writer.deliver("in", events(2), at(6));
  text = metricsText(metrics_);
  EXPECT_TRUE(hasLine(text, "edge_agent_parser_conversion_errors_total{input=\"in\"} 6")) << text;
}

TEST_F(SpoolWriterTest, AFailingSpoolPausesEveryInputAndRetries) {
  SpoolConfig config;
  config.flush_interval = std::chrono::minutes(5);
  SpoolWriter& writer = makeWriter(config);
  writer.addInput("in", WhenFull::kDropNewest, nullptr);
  // Another connection holds the write lock past the busy timeout.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.file("spool.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(other, 0);
  spool_->setBusyTimeout(std::chrono::milliseconds(10));
  writer.deliver("in", events(1), at(5));
  EXPECT_FALSE(writer.flush().ok());
  EXPECT_EQ(writer.pressure(), SpoolWriter::Pressure::kFailing);
  EXPECT_EQ(pressure_, std::vector<bool>{true});
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  // The retry timer commits the buffered events.
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return spool_->eventCount() == 1; }));
  EXPECT_EQ(writer.pressure(), SpoolWriter::Pressure::kNone);
  EXPECT_EQ(committedOffset(), 5u);
}

}  // namespace
}  // namespace edge::agent
