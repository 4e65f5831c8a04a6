// Rate limits with GCRA (the generic cell rate algorithm): one timestamp per
// key, the "theoretical arrival time" (TAT). With emission interval
// T = 1/rate and burst B, an event at time t conforms when
// max(TAT, t) - t <= (B - 1) * T, and then TAT = max(TAT, t) + T. So after
// an idle spell B events pass at once, then one per T. A key whose TAT is in
// the past is indistinguishable from a key never seen, which is what makes
// forgetting idle keys free.
//
// Over the limit, the action decides:
//   drop      the event is dropped (TAT unchanged)
//   sample    one event in N is kept (the first of every N while over), the
//             rest dropped (TAT unchanged)
//   throttle  the event is kept and TAT still advances (the key runs into
//             debt); the caller withholds credit for waitNs() so the agent's
//             spool holds the data and nothing is lost
//
// Keys come from a template (template.h, verbatim mode): "{agent_id}",
// "{tenant}", "{tenant}/{fields.user}". Memory is bounded by max_keys: keys
// idle for idle_timeout (and with no debt) are forgotten as the limiter
// runs, and at the cap the least recently used key is evicted; both are
// counted.
//
// Time is a monotonic clock in nanoseconds, injectable for tests.
// Threading: one limiter per worker (not thread-safe); limiters built from
// the same config share their counters through the MetricsRegistry.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "edge/common/event.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/pipeline/condition.h"
#include "edge/gateway/pipeline/field.h"
#include "edge/gateway/pipeline/template.h"

namespace edge::gateway::pipeline {

enum class RateLimitAction : uint8_t { kDrop, kSample, kThrottle };
const char* rateLimitActionName(RateLimitAction action);  // "drop", "sample", "throttle"

enum class RateDecision : uint8_t {
  kAllow,       // within the limit
  kDrop,        // over the limit, action drop: drop the event
  kSampleKeep,  // over the limit, action sample: keep this one
  kSampleOut,   // over the limit, action sample: drop this one
  kThrottle,    // over the limit, action throttle: keep the event, withhold credit
};
const char* rateDecisionName(RateDecision decision);
// Whether the event goes on down the pipeline.
inline bool keepsEvent(RateDecision d) {
  return d != RateDecision::kDrop && d != RateDecision::kSampleOut;
}

// "1000/s", "60/m", "5/h", "100/d", "2.5/s"; a bare number is per second.
// Units: s, sec, second; m, min, minute; h, hour; d, day. At most 1e9/s.
Result<double> parseRate(std::string_view text);

struct RateLimitConfig {
  std::string name;                // the limiter's metrics label
  std::string key = "{agent_id}";  // template; the reader maps "agent" and "tenant" here
  double rate_per_second = 0;      // > 0
  uint64_t burst = 0;              // 0: one second's worth of events (at least 1)
  RateLimitAction action = RateLimitAction::kDrop;
  uint32_t sample_one_in = 10;  // action sample: keep 1 in N while over
  size_t max_keys = 100'000;
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::optional<ConditionSpec> match;     // only matching events are limited
  std::string missing_value = "unknown";  // for fields the key template misses
  // Where it came from, for messages.
  std::string path;
  int line = 0;
};

// Monotonic time in ns. Tests pass their own.
using MonotonicClock = std::function<int64_t()>;
int64_t steadyNowNs();

class RateLimiter {
 public:
  // Refuses a non-positive or too high rate, a rate/burst whose tolerance
  // does not fit in 64-bit ns, sample_one_in 0, max_keys 0, or a bad key
  // template or condition, each with the config's path.
  // metrics: nullptr keeps counters private to this limiter.
  static Result<std::unique_ptr<RateLimiter>> create(const RateLimitConfig& config,
                                                     MonotonicClock clock = {},
                                                     MetricsRegistry* metrics = nullptr);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // One event; kAllow for events the match condition excludes (not counted).
  RateDecision decide(const Event& event, const EventContext& context);
  RateDecision decideAt(const Event& event, const EventContext& context, int64_t now_ns);
  // For a caller that already has the key.
  RateDecision decideKey(std::string_view key, int64_t now_ns);

  struct BatchResult {
    uint64_t allowed = 0;
    uint64_t dropped = 0;      // action drop
    uint64_t sampled_out = 0;  // action sample, dropped
    uint64_t sample_kept = 0;  // action sample, kept while over
    uint64_t throttled = 0;    // action throttle, kept while over
    // Longest wait until a throttled key of this batch conforms again:
    // how long the caller should withhold credit. 0 if none was throttled.
    int64_t throttle_wait_ns = 0;
    uint64_t kept() const { return allowed + sample_kept + throttled; }
  };
  // Decides every event (one clock read), writing decisions[i] for events[i];
  // counters are updated once per batch. decisions.size() must be >= events.size().
  BatchResult decideBatch(std::span<const Event> events, const EventContext& context,
                          std::span<RateDecision> decisions);

  // How long until `key` conforms again: 0 if it does now (or is unknown).
  int64_t waitNs(std::string_view key) const;
  int64_t waitNsAt(std::string_view key, int64_t now_ns) const;
  // The key an event maps to (for waitNs), rendered into `out`.
  void keyOf(const Event& event, const EventContext& context, std::string& out) const;

  const std::string& name() const { return name_; }
  RateLimitAction action() const { return action_; }
  int64_t emissionIntervalNs() const { return interval_ns_; }
  uint64_t burst() const { return burst_; }
  size_t trackedKeys() const { return entries_.size(); }

  struct Counters {
    uint64_t allowed = 0;
    uint64_t dropped = 0;
    uint64_t sampled_out = 0;
    uint64_t sample_kept = 0;
    uint64_t throttled = 0;
    uint64_t evicted_idle = 0;
    uint64_t evicted_capacity = 0;
  };
  // This limiter's own counts (the registry's counters are shared by every
  // limiter with the same name).
  const Counters& counters() const { return counters_; }

 private:
  struct Entry {
    int64_t tat = 0;        // theoretical arrival time, ns
    int64_t last_seen = 0;  // ns
    uint64_t over = 0;      // events over the limit in this spell (sampling)
    // Least-recently-used list through the map's nodes (stable addresses).
    Entry* newer = nullptr;
    Entry* older = nullptr;
    const std::string* key = nullptr;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  RateLimiter(const RateLimitConfig& config, Template key, std::optional<Condition> match,
              MonotonicClock clock, MetricsRegistry* metrics);
  RateDecision decideEntry(Entry& entry, int64_t now_ns);
  Entry& lookup(std::string_view key, int64_t now_ns);
  void unlink(Entry& entry);
  void pushNewest(Entry& entry);
  void evict(Entry& entry);
  void sweepIdle(int64_t now_ns);
  void count(RateDecision decision, uint64_t n, BatchResult* batch);
  void publish(const BatchResult& batch);

  std::string name_;
  Template key_;
  std::optional<Condition> match_;
  MonotonicClock clock_;
  RateLimitAction action_;
  int64_t interval_ns_ = 0;   // T
  int64_t tolerance_ns_ = 0;  // (B - 1) * T
  uint64_t burst_ = 0;
  uint32_t sample_one_in_ = 1;
  size_t max_keys_ = 0;
  int64_t idle_timeout_ns_ = 0;

  std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries_;
  Entry* newest_ = nullptr;
  Entry* oldest_ = nullptr;
  std::string scratch_key_;

  std::unique_ptr<MetricsRegistry> own_metrics_;
  Counter* allowed_ = nullptr;
  Counter* dropped_ = nullptr;
  Counter* sampled_out_ = nullptr;
  Counter* sample_kept_ = nullptr;
  Counter* throttled_ = nullptr;
  Counter* evicted_idle_ = nullptr;
  Counter* evicted_capacity_ = nullptr;
  Gauge* keys_gauge_ = nullptr;
  Counters counters_;
};

}  // namespace edge::gateway::pipeline
