// Tests of PendingDelivery, the batching the inputs without positions share:
// deliveries stay within both DeliveryLimits, keep the order, and an event
// larger than max_bytes travels alone.
#include "edge/agent/pending_delivery.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace edge::agent {
namespace {

class Recorder final : public InputSink {
 public:
  void deliver(std::string_view input, std::vector<Event>&& events,
               std::vector<InputPosition>&& positions) override {
    EXPECT_EQ(input, "in");
    EXPECT_TRUE(positions.empty());
    std::vector<std::string> raws;
    for (const Event& event : events) raws.push_back(event.raw);
    deliveries.push_back(raws);
  }
  std::vector<std::vector<std::string>> deliveries;
};

Event eventOf(std::string raw) {
  Event event;
  event.raw = std::move(raw);
  return event;
}

TEST(PendingDelivery, SplitsAtMaxEvents) {
  Recorder sink;
  PendingDelivery pending(sink, "in", DeliveryLimits{2, 1 << 20});
  for (const char* raw : {"a", "b", "c", "d", "e"}) pending.add(eventOf(raw));
  EXPECT_EQ(pending.size(), 1u) << "full deliveries go as soon as the next event arrives";
  pending.flush();
  EXPECT_TRUE(pending.empty());
  pending.flush();  // nothing pending: no empty delivery
  using Raws = std::vector<std::vector<std::string>>;
  EXPECT_EQ(sink.deliveries, (Raws{{"a", "b"}, {"c", "d"}, {"e"}}));
}

TEST(PendingDelivery, SplitsAtMaxBytesAndALargeEventTravelsAlone) {
  Recorder sink;
  const std::string small(100, 's');
  const std::string large(1000, 'L');
  const uint64_t limit = 2 * estimateEventBytes(eventOf(small));
  PendingDelivery pending(sink, "in", DeliveryLimits{500, limit});
  pending.add(eventOf(small));
  pending.add(eventOf(small));
  pending.add(eventOf(small));  // would pass max_bytes: the first two go
  pending.add(eventOf(large));  // larger than max_bytes on its own
  pending.add(eventOf(small));
  pending.flush();
  using Raws = std::vector<std::vector<std::string>>;
  EXPECT_EQ(sink.deliveries, (Raws{{small, small}, {small}, {large}, {small}}));
}

TEST(PendingDelivery, ZeroMaxEventsMeansOneAtATime) {
  Recorder sink;
  PendingDelivery pending(sink, "in", DeliveryLimits{0, 1 << 20});
  pending.add(eventOf("a"));
  pending.add(eventOf("b"));
  pending.flush();
  EXPECT_EQ(sink.deliveries.size(), 2u);
}

}  // namespace
}  // namespace edge::agent
