// GCRA rate limiter: per-key theoretical arrival times in a hash map whose
// nodes are also chained in least-recently-used order, so idle keys are
// found and forgotten in O(1) per decision.
#include "edge/gateway/pipeline/rate_limiter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace edge::gateway::pipeline {
namespace {

constexpr double kMaxRatePerSecond = 1e9;  // one event per ns: the clock's resolution
// TAT never goes past this (a throttled key's debt saturates instead of
// overflowing; at any real rate it takes centuries to get near).
constexpr int64_t kMaxTat = std::numeric_limits<int64_t>::max() / 4;
// Idle keys forgotten per decision: enough to keep up with key churn while
// bounding the work any one event pays for.
constexpr int kSweepPerDecision = 2;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string where(const RateLimitConfig& config) {
  std::string out = config.path.empty() ? "rate_limit" : config.path;
  if (!config.name.empty()) out += " (" + config.name + ")";
  if (config.line > 0) out += " at line " + std::to_string(config.line);
  return out;
}

}  // namespace

const char* rateLimitActionName(RateLimitAction action) {
  switch (action) {
    case RateLimitAction::kDrop:
      return "drop";
    case RateLimitAction::kSample:
      return "sample";
    case RateLimitAction::kThrottle:
      return "throttle";
  }
  return "unknown";
}

const char* rateDecisionName(RateDecision decision) {
  switch (decision) {
    case RateDecision::kAllow:
      return "allowed";
    case RateDecision::kDrop:
      return "dropped";
    case RateDecision::kSampleKeep:
      return "sample_kept";
    case RateDecision::kSampleOut:
      return "sampled_out";
    case RateDecision::kThrottle:
      return "throttled";
  }
  return "unknown";
}

Result<double> parseRate(std::string_view text) {
  std::string_view value = trim(text);
  const std::string expected =
      "expected a rate such as 1000/s, 60/m or 5/h, got \"" + std::string(text) + "\"";
  size_t slash = value.find('/');
  std::string_view number = trim(value.substr(0, slash));
  std::string_view unit = slash == std::string_view::npos ? "s" : trim(value.substr(slash + 1));
  double count = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), count);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size() ||
      !std::isfinite(count)) {
    return makeError(ErrorCode::kInvalidArgument, expected);
  }
  struct Unit {
    std::string_view name;
    double seconds;
  };
  static constexpr Unit kUnits[] = {
      {"s", 1},       {"sec", 1},  {"second", 1},  {"m", 60},    {"min", 60},
      {"minute", 60}, {"h", 3600}, {"hour", 3600}, {"d", 86400}, {"day", 86400},
  };
  const Unit* found = nullptr;
  for (const Unit& u : kUnits) {
    if (u.name == unit) found = &u;
  }
  if (found == nullptr) {
    return makeError(ErrorCode::kInvalidArgument,
                     expected + " (units: s, m, h, d, or sec, min, hour, day)");
  }
  double per_second = count / found->seconds;
  if (!(per_second > 0)) {
    return makeError(ErrorCode::kInvalidArgument,
                     "a rate must be above zero, got \"" + std::string(text) +
                         "\" (to stop all events, route them nowhere)");
  }
  if (per_second > kMaxRatePerSecond) {
    return makeError(ErrorCode::kInvalidArgument,
                     "a rate can be at most 1000000000/s, got \"" + std::string(text) + "\"");
  }
  return per_second;
}

int64_t steadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<RateLimiter>> RateLimiter::create(const RateLimitConfig& config,
                                                         MonotonicClock clock,
                                                         MetricsRegistry* metrics) {
  auto fail = [&](const std::string& message) {
    return makeError(ErrorCode::kConfig, where(config) + ": " + message);
  };
  if (!(config.rate_per_second > 0) || config.rate_per_second > kMaxRatePerSecond) {
    return fail("rate must be above 0 and at most 1000000000/s");
  }
  if (config.sample_one_in == 0) return fail("sample must be at least 1 (keep 1 in N)");
  if (config.max_keys == 0) return fail("max_keys must be at least 1");
  auto key = Template::compile(config.key, TemplateMode::kKey, config.missing_value);
  if (!key) return fail("key: " + key.error().message);
  std::optional<Condition> match;
  if (config.match) {
    auto compiled = Condition::compile(*config.match);
    if (!compiled) return fail("match: " + compiled.error().message);
    match.emplace(std::move(*compiled));
  }
  std::unique_ptr<RateLimiter> limiter(
      new RateLimiter(config, std::move(*key), std::move(match), std::move(clock), metrics));
  limiter->interval_ns_ = std::max<int64_t>(1, std::llround(1e9 / config.rate_per_second));
  limiter->burst_ =
      config.burst > 0
          ? config.burst
          : std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(config.rate_per_second)));
  int64_t tolerance = 0;
  if (limiter->burst_ - 1 > static_cast<uint64_t>(kMaxTat) ||
      __builtin_mul_overflow(static_cast<int64_t>(limiter->burst_ - 1), limiter->interval_ns_,
                             &tolerance) ||
      tolerance > kMaxTat / 2) {
    return fail("burst " + std::to_string(limiter->burst_) +
                " at this rate spans more time than the limiter can track; lower burst");
  }
  limiter->tolerance_ns_ = tolerance;
  return limiter;
}

RateLimiter::RateLimiter(const RateLimitConfig& config, Template key,
                         std::optional<Condition> match, MonotonicClock clock,
                         MetricsRegistry* metrics)
    : name_(config.name),
      key_(std::move(key)),
      match_(std::move(match)),
      clock_(clock ? std::move(clock) : MonotonicClock(steadyNowNs)),
      action_(config.action),
      sample_one_in_(config.sample_one_in),
      max_keys_(config.max_keys),
      idle_timeout_ns_(
          std::chrono::duration_cast<std::chrono::nanoseconds>(config.idle_timeout).count()) {
  if (metrics == nullptr) {
    own_metrics_ = std::make_unique<MetricsRegistry>();
    metrics = own_metrics_.get();
  }
  const std::string events = "edge_gateway_ratelimit_events_total";
  const std::string events_help = "Events seen by a rate limiter, by decision";
  auto decision = [&](const char* d) {
    return &metrics->counter(events, events_help, {{"limiter", name_}, {"decision", d}});
  };
  allowed_ = decision("allowed");
  dropped_ = decision("dropped");
  sampled_out_ = decision("sampled_out");
  sample_kept_ = decision("sample_kept");
  throttled_ = decision("throttled");
  const std::string evictions = "edge_gateway_ratelimit_evictions_total";
  const std::string evictions_help =
      "Keys a rate limiter forgot: idle (no debt, unused for idle_timeout) or at max_keys";
  evicted_idle_ =
      &metrics->counter(evictions, evictions_help, {{"limiter", name_}, {"reason", "idle"}});
  evicted_capacity_ =
      &metrics->counter(evictions, evictions_help, {{"limiter", name_}, {"reason", "capacity"}});
  keys_gauge_ = &metrics->gauge("edge_gateway_ratelimit_keys", "Keys a rate limiter tracks",
                                {{"limiter", name_}});
}

RateLimiter::~RateLimiter() {
  // The gauge may be shared with other workers' limiters: take back only ours.
  keys_gauge_->add(-static_cast<int64_t>(entries_.size()));
}

void RateLimiter::unlink(Entry& entry) {
  (entry.newer != nullptr ? entry.newer->older : newest_) = entry.older;
  (entry.older != nullptr ? entry.older->newer : oldest_) = entry.newer;
  entry.newer = entry.older = nullptr;
}

void RateLimiter::pushNewest(Entry& entry) {
  entry.older = newest_;
  entry.newer = nullptr;
  if (newest_ != nullptr) newest_->newer = &entry;
  newest_ = &entry;
  if (oldest_ == nullptr) oldest_ = &entry;
}

void RateLimiter::evict(Entry& entry) {
  unlink(entry);
  auto it = entries_.find(std::string_view(*entry.key));
  entries_.erase(it);
  keys_gauge_->add(-1);
}

void RateLimiter::sweepIdle(int64_t now_ns) {
  for (int i = 0; i < kSweepPerDecision && oldest_ != nullptr; ++i) {
    Entry& oldest = *oldest_;
    // A key still in debt (TAT ahead of now) is not idle: forgetting it
    // would give it a fresh burst.
    if (now_ns - oldest.last_seen < idle_timeout_ns_ || oldest.tat > now_ns) return;
    evict(oldest);
    ++counters_.evicted_idle;
    evicted_idle_->inc();
  }
}

RateLimiter::Entry& RateLimiter::lookup(std::string_view key, int64_t now_ns) {
  sweepIdle(now_ns);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    Entry& entry = it->second;
    if (newest_ != &entry) {
      unlink(entry);
      pushNewest(entry);
    }
    entry.last_seen = now_ns;
    return entry;
  }
  if (entries_.size() >= max_keys_ && oldest_ != nullptr) {
    evict(*oldest_);
    ++counters_.evicted_capacity;
    evicted_capacity_->inc();
  }
  auto [inserted, ok] = entries_.emplace(std::string(key), Entry{});
  (void)ok;
  Entry& entry = inserted->second;
  entry.key = &inserted->first;
  entry.tat = now_ns;
  entry.last_seen = now_ns;
  pushNewest(entry);
  keys_gauge_->add(1);
  return entry;
}

RateDecision RateLimiter::decideEntry(Entry& entry, int64_t now_ns) {
  const int64_t tat = std::max(entry.tat, now_ns);
  const int64_t next = tat > kMaxTat - interval_ns_ ? kMaxTat : tat + interval_ns_;
  if (tat - now_ns <= tolerance_ns_) {
    entry.tat = next;
    entry.over = 0;
    return RateDecision::kAllow;
  }
  switch (action_) {
    case RateLimitAction::kDrop:
      return RateDecision::kDrop;
    case RateLimitAction::kSample: {
      // The first event of every N over the limit is kept, so a short
      // spike still leaves a trace.
      bool keep = entry.over % sample_one_in_ == 0;
      ++entry.over;
      return keep ? RateDecision::kSampleKeep : RateDecision::kSampleOut;
    }
    case RateLimitAction::kThrottle:
      // Kept, and paid for: the debt is what makes the caller wait.
      entry.tat = next;
      return RateDecision::kThrottle;
  }
  return RateDecision::kAllow;
}

void RateLimiter::count(RateDecision decision, uint64_t n, BatchResult* batch) {
  uint64_t BatchResult::*batch_field = nullptr;
  uint64_t Counters::*own_field = nullptr;
  Counter* shared = nullptr;
  switch (decision) {
    case RateDecision::kAllow:
      batch_field = &BatchResult::allowed;
      own_field = &Counters::allowed;
      shared = allowed_;
      break;
    case RateDecision::kDrop:
      batch_field = &BatchResult::dropped;
      own_field = &Counters::dropped;
      shared = dropped_;
      break;
    case RateDecision::kSampleKeep:
      batch_field = &BatchResult::sample_kept;
      own_field = &Counters::sample_kept;
      shared = sample_kept_;
      break;
    case RateDecision::kSampleOut:
      batch_field = &BatchResult::sampled_out;
      own_field = &Counters::sampled_out;
      shared = sampled_out_;
      break;
    case RateDecision::kThrottle:
      batch_field = &BatchResult::throttled;
      own_field = &Counters::throttled;
      shared = throttled_;
      break;
  }
  counters_.*own_field += n;
  // Batches publish to the shared (atomic) counters once, at the end.
  if (batch != nullptr) {
    batch->*batch_field += n;
  } else {
    shared->inc(n);
  }
}

void RateLimiter::publish(const BatchResult& batch) {
  if (batch.allowed > 0) allowed_->inc(batch.allowed);
  if (batch.dropped > 0) dropped_->inc(batch.dropped);
  if (batch.sampled_out > 0) sampled_out_->inc(batch.sampled_out);
  if (batch.sample_kept > 0) sample_kept_->inc(batch.sample_kept);
  if (batch.throttled > 0) throttled_->inc(batch.throttled);
}

RateDecision RateLimiter::decideKey(std::string_view key, int64_t now_ns) {
  RateDecision decision = decideEntry(lookup(key, now_ns), now_ns);
  count(decision, 1, nullptr);
  return decision;
}

RateDecision RateLimiter::decideAt(const Event& event, const EventContext& context,
                                   int64_t now_ns) {
  if (match_ && !match_->matches(event, context)) return RateDecision::kAllow;
  key_.render(event, context, scratch_key_);
  return decideKey(scratch_key_, now_ns);
}

RateDecision RateLimiter::decide(const Event& event, const EventContext& context) {
  return decideAt(event, context, clock_());
}

RateLimiter::BatchResult RateLimiter::decideBatch(std::span<const Event> events,
                                                  const EventContext& context,
                                                  std::span<RateDecision> decisions) {
  BatchResult result;
  const int64_t now_ns = clock_();
  const size_t n = std::min(events.size(), decisions.size());
  for (size_t i = 0; i < n; ++i) {
    const Event& event = events[i];
    if (match_ && !match_->matches(event, context)) {
      decisions[i] = RateDecision::kAllow;
      continue;
    }
    key_.render(event, context, scratch_key_);
    Entry& entry = lookup(scratch_key_, now_ns);
    RateDecision decision = decideEntry(entry, now_ns);
    decisions[i] = decision;
    count(decision, 1, &result);
    if (decision == RateDecision::kThrottle) {
      result.throttle_wait_ns =
          std::max(result.throttle_wait_ns, entry.tat - tolerance_ns_ - now_ns);
    }
  }
  publish(result);
  return result;
}

int64_t RateLimiter::waitNsAt(std::string_view key, int64_t now_ns) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  return std::max<int64_t>(0, it->second.tat - tolerance_ns_ - now_ns);
}

int64_t RateLimiter::waitNs(std::string_view key) const { return waitNsAt(key, clock_()); }

void RateLimiter::keyOf(const Event& event, const EventContext& context, std::string& out) const {
  key_.render(event, context, out);
}

}  // namespace edge::gateway::pipeline
