// A rule's state over time: sliding windows (count and sum), distinct-value
// windows and counters with a TTL, all keyed by string. Times are ns since
// the epoch and come from the caller (the engine passes the event's time,
// so replaying an old log gives the same answers as it did live).
//
// Memory is bounded: at most `max_keys` keys (least recently updated ones
// are evicted first, counted in evictions()), at most kMaxSlotsPerKey
// distinct timestamps per window key (newer ones then share the newest
// slot) and kMaxDistinctPerKey values per distinct key (the oldest go,
// counted). Expired keys are removed as new updates come in.
//
// Owned by one rule of one engine and used from one thread; a reload of an
// unchanged rule hands the same object to the new engine.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace edge::lua {

class RuleState {
 public:
  static constexpr size_t kMaxSlotsPerKey = 1024;
  static constexpr size_t kMaxDistinctPerKey = 10000;

  explicit RuleState(uint64_t max_keys) : max_keys_(max_keys == 0 ? 1 : max_keys) {}
  RuleState(const RuleState&) = delete;
  RuleState& operator=(const RuleState&) = delete;

  struct Totals {
    uint64_t count = 0;
    double sum = 0;
  };
  // Records `value` at `now` and returns what the last `span_ns` hold
  // (this occurrence included).
  Totals windowAdd(std::string_view key, int64_t span_ns, double value, int64_t now);
  // What the last `span_ns` hold, without recording anything.
  Totals windowGet(std::string_view key, int64_t span_ns, int64_t now);
  // Records `value` under `key` at `now`; returns how many distinct values
  // were seen in the last `span_ns`.
  uint64_t distinctAdd(std::string_view key, std::string_view value, int64_t span_ns, int64_t now);
  uint64_t distinctGet(std::string_view key, int64_t span_ns, int64_t now);
  // Adds `delta`; the counter expires `ttl_ns` after its last update.
  double counterAdd(std::string_view key, double delta, int64_t ttl_ns, int64_t now);
  double counterGet(std::string_view key, int64_t now);
  // Forgets a key of every kind.
  void reset(std::string_view key);

  size_t keys() const { return entries_.size(); }
  uint64_t evictions() const { return evictions_; }  // keys pushed out by max_keys
  uint64_t valueEvictions() const { return value_evictions_; }  // distinct values pushed out
  uint64_t expired() const { return expired_; }
  uint64_t maxKeys() const { return max_keys_; }

 private:
  struct Slot {
    int64_t ts;
    uint64_t count;
    double sum;
  };
  struct Window {
    std::deque<Slot> slots;
    uint64_t count = 0;
    double sum = 0;
  };
  struct Distinct {
    std::deque<std::pair<int64_t, std::string>> order;  // (last seen, value), oldest first
    std::unordered_map<std::string, int64_t> last_seen;
  };
  struct Counter {
    double value = 0;
  };
  struct Entry {
    std::variant<std::monostate, Window, Distinct, Counter> data;
    int64_t latest = 0;      // newest time recorded
    int64_t expires_at = 0;  // latest + span or ttl
    std::list<std::string>::iterator lru;
  };

  // Finds or creates the entry for (kind, key); nullptr when `create` is false and absent.
  Entry* entry(char kind, std::string_view key, bool create, int64_t now);
  void touch(Entry& entry);
  void sweep(int64_t now);
  static void prune(Window& window, int64_t cutoff);
  static void prune(Distinct& distinct, int64_t cutoff);

  uint64_t max_keys_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recently updated first
  std::string scratch_;
  uint64_t evictions_ = 0;
  uint64_t value_evictions_ = 0;
  uint64_t expired_ = 0;
};

}  // namespace edge::lua
