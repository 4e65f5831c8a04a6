// GCRA rate limiter on a hand-driven clock: burst then steady rate, the three
// actions, time until conforming, keys from templates, bounded memory with
// idle and capacity eviction, batch decisions, metrics, and rate parsing.
#include "edge/gateway/pipeline/rate_limiter.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_support.h"

namespace edge::gateway::pipeline::testing {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSecond = 1'000'000'000;

struct Clock {
  int64_t now = 1'000 * kSecond;  // arbitrary, not zero
  MonotonicClock fn() {
    return [this] { return now; };
  }
};

RateLimitConfig config(double rate, uint64_t burst, RateLimitAction action) {
  RateLimitConfig c;
  c.name = "test";
  c.rate_per_second = rate;
  c.burst = burst;
  c.action = action;
  return c;
}

std::unique_ptr<RateLimiter> make(const RateLimitConfig& c, Clock& clock,
                                  MetricsRegistry* metrics = nullptr) {
  auto limiter = RateLimiter::create(c, clock.fn(), metrics);
  if (!limiter) {
    ADD_FAILURE() << limiter.error().message;
    return nullptr;
  }
  return std::move(*limiter);
}

TEST(PipelineRateLimiterTest, BurstThenSteadyRate) {
  Clock clock;
  auto limiter = make(config(10, 5, RateLimitAction::kDrop), clock);  // T = 100ms
  ASSERT_TRUE(limiter);
  EXPECT_EQ(limiter->emissionIntervalNs(), 100 * kMs);
  // After an idle spell: exactly `burst` pass at once.
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(limiter->decideKey("a", clock.now), RateDecision::kAllow) << i;
  EXPECT_EQ(limiter->decideKey("a", clock.now), RateDecision::kDrop);
  EXPECT_EQ(limiter->waitNsAt("a", clock.now), 100 * kMs);
  // 99ms later: still over; at 100ms one more conforms, and only one.
  EXPECT_EQ(limiter->decideKey("a", clock.now + 99 * kMs), RateDecision::kDrop);
  EXPECT_EQ(limiter->waitNsAt("a", clock.now + 99 * kMs), 1 * kMs);
  clock.now += 100 * kMs;
  EXPECT_EQ(limiter->waitNsAt("a", clock.now), 0);
  EXPECT_EQ(limiter->decideKey("a", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->decideKey("a", clock.now), RateDecision::kDrop);
  // Steady state: offered at 4x the rate for 10 s, exactly rate x time pass.
  int allowed = 0;
  for (int step = 1; step <= 400; ++step) {
    clock.now += 25 * kMs;
    if (limiter->decideKey("a", clock.now) == RateDecision::kAllow) ++allowed;
  }
  EXPECT_EQ(allowed, 100);
  // Another key has its own bucket.
  EXPECT_EQ(limiter->decideKey("b", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->counters().allowed, 5u + 1 + 100 + 1);
}

TEST(PipelineRateLimiterTest, EventsAtExactlyTheRateAllPassAndIdleRefillsTheBurst) {
  Clock clock;
  auto limiter = make(config(1000, 1, RateLimitAction::kDrop), clock);  // T = 1ms, no burst
  ASSERT_TRUE(limiter);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kAllow) << i;
    clock.now += kMs;
  }
  EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kDrop);  // burst 1: no second
  auto bursty = make(config(1000, 50, RateLimitAction::kDrop), clock);
  ASSERT_TRUE(bursty);
  for (int round = 0; round < 3; ++round) {
    int passed = 0;
    while (bursty->decideKey("k", clock.now) == RateDecision::kAllow) ++passed;
    EXPECT_EQ(passed, 50) << round;
    clock.now += 50 * kMs;  // idle long enough to refill all 50
  }
}

TEST(PipelineRateLimiterTest, DefaultBurstIsOneSecondOfEvents) {
  Clock clock;
  auto limiter = make(config(60.0 / 60.0 * 7, 0, RateLimitAction::kDrop), clock);  // 7/s
  ASSERT_TRUE(limiter);
  EXPECT_EQ(limiter->burst(), 7u);
  auto slow = make(config(1.0 / 60, 0, RateLimitAction::kDrop), clock);  // 1/m
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->burst(), 1u);
  EXPECT_EQ(slow->emissionIntervalNs(), 60 * kSecond);
}

TEST(PipelineRateLimiterTest, SampleKeepsOneInNWhileOver) {
  Clock clock;
  RateLimitConfig c = config(10, 2, RateLimitAction::kSample);
  c.sample_one_in = 4;
  auto limiter = make(c, clock);
  ASSERT_TRUE(limiter);
  std::vector<RateDecision> got;
  for (int i = 0; i < 12; ++i) got.push_back(limiter->decideKey("k", clock.now));
  const std::vector<RateDecision> want = {
      RateDecision::kAllow,      RateDecision::kAllow,      RateDecision::kSampleKeep,
      RateDecision::kSampleOut,  RateDecision::kSampleOut,  RateDecision::kSampleOut,
      RateDecision::kSampleKeep, RateDecision::kSampleOut,  RateDecision::kSampleOut,
      RateDecision::kSampleOut,  RateDecision::kSampleKeep, RateDecision::kSampleOut,
  };
  EXPECT_EQ(got, want);
  EXPECT_TRUE(keepsEvent(RateDecision::kSampleKeep));
  EXPECT_FALSE(keepsEvent(RateDecision::kSampleOut));
  // Kept samples do not use up the rate: after T one conforms again, and
  // the next spell starts with a kept sample.
  clock.now += 100 * kMs;
  EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kSampleKeep);
  EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kSampleOut);
  EXPECT_EQ(limiter->counters().sample_kept, 4u);
  EXPECT_EQ(limiter->counters().sampled_out, 8u);
  EXPECT_EQ(limiter->counters().allowed, 3u);
}

TEST(PipelineRateLimiterTest, ThrottleKeepsEverythingAndReportsHowLongToWithholdCredit) {
  Clock clock;
  auto limiter = make(config(100, 10, RateLimitAction::kThrottle), clock);  // T = 10ms
  ASSERT_TRUE(limiter);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->waitNsAt("k", clock.now), 10 * kMs);
  // 40 more at once: kept but throttled, and the debt grows the wait.
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kThrottle);
  }
  EXPECT_EQ(limiter->waitNsAt("k", clock.now), 410 * kMs);
  EXPECT_TRUE(keepsEvent(RateDecision::kThrottle));
  // A caller that withholds credit for the wait finds the key conforming.
  clock.now += limiter->waitNsAt("k", clock.now) - 1;
  EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kThrottle);
  clock.now += 11 * kMs;
  EXPECT_EQ(limiter->waitNsAt("k", clock.now), 0);
  EXPECT_EQ(limiter->decideKey("k", clock.now), RateDecision::kAllow);
  // Over time, throttling enforces the average rate exactly: 52 events in
  // the first 420ms would be 42 at 100/s plus the burst of 10.
  EXPECT_EQ(limiter->counters().throttled, 41u);
  EXPECT_EQ(limiter->waitNs("unknown-key"), 0);
}

TEST(PipelineRateLimiterTest, KeysFromTemplatesAndOnlyMatchingEvents) {
  Clock clock;
  auto doc = ConfigDocument::parse("match: {field: kind, equals: auth}\n", "t.yaml");
  ASSERT_TRUE(doc.ok());
  RateLimitConfig c = config(1, 1, RateLimitAction::kDrop);
  c.key = "{tenant}/{fields.user}";
  c.match = readCondition((*doc)->root()["match"]);
  ASSERT_TRUE(c.match);
  auto limiter = make(c, clock);
  ASSERT_TRUE(limiter);
  Event e = makeEvent("auth");
  e.setField("user", std::string("root"));
  std::string key;
  limiter->keyOf(e, {}, key);
  EXPECT_EQ(key, "acme/root");
  EXPECT_EQ(limiter->decide(e, {}), RateDecision::kAllow);
  EXPECT_EQ(limiter->decide(e, {}), RateDecision::kDrop);
  e.setField("user", std::string("bob"));
  EXPECT_EQ(limiter->decide(e, {}), RateDecision::kAllow);
  e.removeField("user");  // missing field: the default, so all such events share a key
  limiter->keyOf(e, {}, key);
  EXPECT_EQ(key, "acme/unknown");
  EXPECT_EQ(limiter->decide(e, {}), RateDecision::kAllow);
  EXPECT_EQ(limiter->decide(e, {}), RateDecision::kDrop);
  // Events the condition does not select are neither limited nor counted.
  Event other = makeEvent("log");
  for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter->decide(other, {}), RateDecision::kAllow);
  EXPECT_EQ(limiter->counters().allowed, 3u);
  EXPECT_EQ(limiter->counters().dropped, 2u);
  EXPECT_EQ(limiter->trackedKeys(), 3u);
}

TEST(PipelineRateLimiterTest, AgentKeyComesFromTheContext) {
  Clock clock;
  auto limiter = make(config(1, 1, RateLimitAction::kDrop), clock);  // key {agent_id}
  ASSERT_TRUE(limiter);
  Event e = makeEvent();
  EXPECT_EQ(limiter->decide(e, EventContext{"a1"}), RateDecision::kAllow);
  EXPECT_EQ(limiter->decide(e, EventContext{"a1"}), RateDecision::kDrop);
  EXPECT_EQ(limiter->decide(e, EventContext{"a2"}), RateDecision::kAllow);
  EXPECT_GT(limiter->waitNs("a1"), 0);
  EXPECT_GT(limiter->waitNs("a2"), 0);
}

TEST(PipelineRateLimiterTest, CapacityEvictsTheLeastRecentlyUsedKey) {
  Clock clock;
  RateLimitConfig c = config(1, 1, RateLimitAction::kDrop);
  c.max_keys = 3;
  MetricsRegistry registry;
  auto limiter = make(c, clock, &registry);
  ASSERT_TRUE(limiter);
  EXPECT_EQ(limiter->decideKey("a", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->decideKey("b", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->decideKey("c", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->decideKey("a", clock.now), RateDecision::kDrop);   // a is now most recent
  EXPECT_EQ(limiter->decideKey("d", clock.now), RateDecision::kAllow);  // evicts b
  EXPECT_EQ(limiter->trackedKeys(), 3u);
  EXPECT_EQ(limiter->counters().evicted_capacity, 1u);
  EXPECT_EQ(limiter->decideKey("a", clock.now), RateDecision::kDrop);  // a kept its state
  EXPECT_EQ(limiter->decideKey("c", clock.now), RateDecision::kDrop);
  // b was forgotten, so it starts with a fresh burst (the cost of the cap),
  // evicting the oldest again (d).
  EXPECT_EQ(limiter->decideKey("b", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->counters().evicted_capacity, 2u);
  EXPECT_EQ(limiter->trackedKeys(), 3u);
  const std::string text = registry.renderPrometheus();
  EXPECT_NE(
      text.find("edge_gateway_ratelimit_evictions_total{limiter=\"test\",reason=\"capacity\"} 2"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("edge_gateway_ratelimit_keys{limiter=\"test\"} 3"), std::string::npos)
      << text;
  limiter.reset();
  EXPECT_NE(registry.renderPrometheus().find("edge_gateway_ratelimit_keys{limiter=\"test\"} 0"),
            std::string::npos);
}

TEST(PipelineRateLimiterTest, IdleKeysAreForgottenButNotWhileInDebt) {
  Clock clock;
  RateLimitConfig c = config(10, 1, RateLimitAction::kThrottle);  // T = 100ms
  c.idle_timeout = std::chrono::seconds(1);
  auto limiter = make(c, clock);
  ASSERT_TRUE(limiter);
  EXPECT_EQ(limiter->decideKey("quiet", clock.now), RateDecision::kAllow);
  // "debtor" runs 50 events (5 s) into debt.
  for (int i = 0; i < 50; ++i) (void)limiter->decideKey("debtor", clock.now);
  EXPECT_EQ(limiter->trackedKeys(), 2u);
  clock.now += 2 * kSecond;
  // The next decision sweeps: "quiet" is idle and forgotten; "debtor" is
  // idle as long but still owes 3 s, so it stays (forgetting it would
  // forgive the debt).
  EXPECT_EQ(limiter->decideKey("new", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->counters().evicted_idle, 1u);
  EXPECT_EQ(limiter->trackedKeys(), 2u);
  EXPECT_GT(limiter->waitNsAt("debtor", clock.now), 0);
  EXPECT_EQ(limiter->waitNsAt("quiet", clock.now), 0);
  clock.now += 10 * kSecond;
  EXPECT_EQ(limiter->decideKey("new2", clock.now), RateDecision::kAllow);
  EXPECT_EQ(limiter->trackedKeys(), 1u);
  EXPECT_EQ(limiter->counters().evicted_idle, 3u);
}

TEST(PipelineRateLimiterTest, ManyKeysStayWithinTheCap) {
  Clock clock;
  RateLimitConfig c = config(100, 1, RateLimitAction::kDrop);
  c.max_keys = 1000;
  c.idle_timeout = std::chrono::milliseconds(10);
  auto limiter = make(c, clock);
  ASSERT_TRUE(limiter);
  for (int i = 0; i < 100'000; ++i) {
    clock.now += 100'000;  // 100us per event: about 100 keys inside the idle timeout
    EXPECT_EQ(limiter->decideKey("key-" + std::to_string(i), clock.now), RateDecision::kAllow);
    ASSERT_LE(limiter->trackedKeys(), 1000u);
  }
  // Idle keys are swept as the limiter runs; the cap is never reached.
  EXPECT_EQ(limiter->counters().evicted_capacity, 0u);
  EXPECT_GT(limiter->counters().evicted_idle, 99'000u);
  EXPECT_LE(limiter->trackedKeys(), 110u);
}

TEST(PipelineRateLimiterTest, DecideBatchReadsTheClockOnceAndCountsOnce) {
  Clock clock;
  int clock_reads = 0;
  RateLimitConfig c = config(10, 3, RateLimitAction::kThrottle);
  c.key = "{host}";
  MetricsRegistry registry;
  auto made = RateLimiter::create(
      c,
      [&] {
        ++clock_reads;
        return clock.now;
      },
      &registry);
  ASSERT_TRUE(made.ok()) << made.error().message;
  auto& limiter = *made;
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) events.push_back(makeEvent("log", "web-1"));
  events.push_back(makeEvent("log", "web-2"));
  std::vector<RateDecision> decisions(events.size());
  auto result = limiter->decideBatch(events, {}, decisions);
  EXPECT_EQ(clock_reads, 1);
  EXPECT_EQ(result.allowed, 4u);
  EXPECT_EQ(result.throttled, 2u);
  EXPECT_EQ(result.kept(), 6u);
  EXPECT_EQ(decisions[3], RateDecision::kThrottle);
  EXPECT_EQ(decisions[5], RateDecision::kAllow);
  // web-1 took 5 at T = 100ms with burst 3: conforming again in 300 ms.
  EXPECT_EQ(result.throttle_wait_ns, 300 * kMs);
  EXPECT_EQ(limiter->waitNsAt("web-1", clock.now), 300 * kMs);
  const std::string text = registry.renderPrometheus();
  EXPECT_NE(
      text.find("edge_gateway_ratelimit_events_total{limiter=\"test\",decision=\"allowed\"} 4"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("edge_gateway_ratelimit_events_total{limiter=\"test\",decision=\"throttled\"} 2"),
      std::string::npos)
      << text;
}

TEST(PipelineRateLimiterTest, LimitersWithOneNameShareTheirMetrics) {
  Clock clock;
  MetricsRegistry registry;
  auto a = make(config(1, 1, RateLimitAction::kDrop), clock, &registry);
  auto b = make(config(1, 1, RateLimitAction::kDrop), clock, &registry);
  ASSERT_TRUE(a && b);
  (void)a->decideKey("k", clock.now);
  (void)a->decideKey("k", clock.now);
  (void)b->decideKey("k", clock.now);
  (void)b->decideKey("k", clock.now);
  const std::string text = registry.renderPrometheus();
  EXPECT_NE(text.find("decision=\"dropped\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("edge_gateway_ratelimit_keys{limiter=\"test\"} 2"), std::string::npos)
      << text;
  EXPECT_EQ(a->counters().dropped, 1u);
}

TEST(PipelineRateLimiterTest, ParseRate) {
  EXPECT_DOUBLE_EQ(*parseRate("1000/s"), 1000);
  EXPECT_DOUBLE_EQ(*parseRate("1000"), 1000);
  EXPECT_DOUBLE_EQ(*parseRate(" 60 / m "), 1);
  EXPECT_DOUBLE_EQ(*parseRate("60/min"), 1);
  EXPECT_DOUBLE_EQ(*parseRate("7200/h"), 2);
  EXPECT_DOUBLE_EQ(*parseRate("7200/hour"), 2);
  EXPECT_DOUBLE_EQ(*parseRate("86400/d"), 1);
  EXPECT_DOUBLE_EQ(*parseRate("2.5/sec"), 2.5);
  EXPECT_DOUBLE_EQ(*parseRate("1e9/s"), 1e9);
  EXPECT_EQ(parseRate("fast").error().message,
            "expected a rate such as 1000/s, 60/m or 5/h, got \"fast\"");
  EXPECT_EQ(parseRate("10/w").error().message,
            "expected a rate such as 1000/s, 60/m or 5/h, got \"10/w\" (units: s, m, h, d, or "
            "sec, min, hour, day)");
  EXPECT_EQ(parseRate("0/s").error().message,
            "a rate must be above zero, got \"0/s\" (to stop all events, route them nowhere)");
  EXPECT_FALSE(parseRate("-5/s").ok());
  EXPECT_FALSE(parseRate("/s").ok());
  EXPECT_FALSE(parseRate("").ok());
  EXPECT_FALSE(parseRate("inf/s").ok());
  EXPECT_EQ(parseRate("2e9/s").error().message,
            "a rate can be at most 1000000000/s, got \"2e9/s\"");
}

TEST(PipelineRateLimiterTest, CreateRefusesBadSettings) {
  Clock clock;
  RateLimitConfig c = config(0, 1, RateLimitAction::kDrop);
  c.path = "pipeline.stages[1].rate_limit";
  c.line = 9;
  EXPECT_EQ(RateLimiter::create(c).error().message,
            "pipeline.stages[1].rate_limit (test) at line 9: rate must be above 0 and at most "
            "1000000000/s");
  c = config(1, 1, RateLimitAction::kSample);
  c.sample_one_in = 0;
  EXPECT_NE(RateLimiter::create(c).error().message.find("sample must be at least 1"),
            std::string::npos);
  c = config(1, 1, RateLimitAction::kDrop);
  c.max_keys = 0;
  EXPECT_NE(RateLimiter::create(c).error().message.find("max_keys must be at least 1"),
            std::string::npos);
  c = config(1, 1, RateLimitAction::kDrop);
  c.key = "{nope}";
  EXPECT_NE(RateLimiter::create(c).error().message.find("key: template \"{nope}\""),
            std::string::npos);
  c = config(1.0 / 86400, 1'000'000'000'000, RateLimitAction::kDrop);
  EXPECT_NE(RateLimiter::create(c).error().message.find("spans more time than the limiter"),
            std::string::npos);
  EXPECT_STREQ(rateLimitActionName(RateLimitAction::kThrottle), "throttle");
  EXPECT_STREQ(rateDecisionName(RateDecision::kSampleOut), "sampled_out");
}

}  // namespace
}  // namespace edge::gateway::pipeline::testing
