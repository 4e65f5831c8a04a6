// RuleState: sliding windows, distinct windows, counters with TTL, bounded
// keys with LRU eviction, all on an explicit clock.
#include "edge/lua/rule_state.h"

#include <gtest/gtest.h>

namespace edge::lua {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(RuleStateTest, WindowCountsAndSumsTheLastSpan) {
  RuleState state(100);
  EXPECT_EQ(state.windowAdd("k", 60 * kSecond, 2, 0).count, 1u);
  EXPECT_EQ(state.windowAdd("k", 60 * kSecond, 3, 30 * kSecond).sum, 5);
  const auto at_61 = state.windowAdd("k", 60 * kSecond, 4, 61 * kSecond);
  EXPECT_EQ(at_61.count, 2u);  // the one at 0 left the window
  EXPECT_EQ(at_61.sum, 7);
  EXPECT_EQ(state.windowGet("k", 60 * kSecond, 100 * kSecond).count, 1u);
  EXPECT_EQ(state.windowGet("k", 10 * kSecond, 61 * kSecond).count, 1u);
  EXPECT_EQ(state.windowGet("absent", 60 * kSecond, 0).count, 0u);
}

TEST(RuleStateTest, OutOfOrderTimesCountAtTheNewest) {
  RuleState state(100);
  state.windowAdd("k", 60 * kSecond, 1, 100 * kSecond);
  EXPECT_EQ(state.windowAdd("k", 60 * kSecond, 1, 10 * kSecond).count, 2u);
}

TEST(RuleStateTest, SlotsPerKeyAreBounded) {
  RuleState state(100);
  const size_t n = RuleState::kMaxSlotsPerKey * 3;
  for (size_t i = 0; i < n; ++i) {
    state.windowAdd("k", 3600 * kSecond, 1, static_cast<int64_t>(i) * 1000);
  }
  EXPECT_EQ(state.windowGet("k", 3600 * kSecond, static_cast<int64_t>(n) * 1000).count, n);
}

TEST(RuleStateTest, DistinctCountsValuesSeenInTheSpan) {
  RuleState state(100);
  EXPECT_EQ(state.distinctAdd("ip", "alice", 60 * kSecond, 0), 1u);
  EXPECT_EQ(state.distinctAdd("ip", "bob", 60 * kSecond, 10 * kSecond), 2u);
  EXPECT_EQ(state.distinctAdd("ip", "alice", 60 * kSecond, 50 * kSecond), 2u);
  // bob (at 10) expires at 70; alice was seen again at 50.
  EXPECT_EQ(state.distinctAdd("ip", "carol", 60 * kSecond, 71 * kSecond), 2u);
  EXPECT_EQ(state.distinctGet("ip", 60 * kSecond, 111 * kSecond), 1u);
}

TEST(RuleStateTest, DistinctValuesPerKeyAreBounded) {
  RuleState state(100);
  for (size_t i = 0; i < RuleState::kMaxDistinctPerKey + 5; ++i) {
    state.distinctAdd("k", std::to_string(i), 3600 * kSecond, 0);
  }
  EXPECT_EQ(state.distinctGet("k", 3600 * kSecond, 0), RuleState::kMaxDistinctPerKey);
  EXPECT_EQ(state.valueEvictions(), 5u);
}

TEST(RuleStateTest, CounterExpiresAfterItsTtl) {
  RuleState state(100);
  EXPECT_EQ(state.counterAdd("c", 1, 10 * kSecond, 0), 1);
  EXPECT_EQ(state.counterAdd("c", 2, 10 * kSecond, 5 * kSecond), 3);
  EXPECT_EQ(state.counterGet("c", 15 * kSecond), 3);
  EXPECT_EQ(state.counterGet("c", 16 * kSecond), 0);
  EXPECT_EQ(state.counterAdd("c", 1, 10 * kSecond, 16 * kSecond), 1);
}

TEST(RuleStateTest, KindsAreSeparateAndResetClearsAll) {
  RuleState state(100);
  state.windowAdd("k", kSecond, 1, 0);
  state.counterAdd("k", 5, kSecond, 0);
  EXPECT_EQ(state.keys(), 2u);
  state.reset("k");
  EXPECT_EQ(state.keys(), 0u);
}

TEST(RuleStateTest, KeysAreCappedLeastRecentlyUpdatedFirst) {
  RuleState state(3);
  state.counterAdd("a", 1, 3600 * kSecond, 0);
  state.counterAdd("b", 1, 3600 * kSecond, 1);
  state.counterAdd("c", 1, 3600 * kSecond, 2);
  state.counterAdd("a", 1, 3600 * kSecond, 3);  // a is fresh again
  state.counterAdd("d", 1, 3600 * kSecond, 4);  // evicts b
  EXPECT_EQ(state.keys(), 3u);
  EXPECT_EQ(state.evictions(), 1u);
  EXPECT_EQ(state.counterGet("b", 5), 0);
  EXPECT_EQ(state.counterGet("a", 5), 2);
}

TEST(RuleStateTest, ExpiredKeysAreSweptByLaterUpdates) {
  RuleState state(1000);
  for (int i = 0; i < 10; ++i) state.windowAdd(std::to_string(i), kSecond, 1, 0);
  for (int i = 0; i < 10; ++i) state.windowAdd("new" + std::to_string(i), kSecond, 1, 100 * kSecond);
  EXPECT_EQ(state.keys(), 10u);
  EXPECT_EQ(state.expired(), 10u);
  EXPECT_EQ(state.evictions(), 0u);
}

}  // namespace
}  // namespace edge::lua
