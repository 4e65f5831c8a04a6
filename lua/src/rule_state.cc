// Windows, distinct windows and counters of one rule (see rule_state.h).
#include "edge/lua/rule_state.h"

#include <algorithm>

namespace edge::lua {

RuleState::Entry* RuleState::entry(char kind, std::string_view key, bool create, int64_t now) {
  // One map for every kind: the same user key can be a window and a counter.
  scratch_.assign(1, kind);
  scratch_.append(key);
  auto it = entries_.find(scratch_);
  if (it != entries_.end()) {
    if (it->second.expires_at < now) {
      // Expired: start again as if new (and do not count it as an eviction).
      lru_.erase(it->second.lru);
      entries_.erase(it);
      ++expired_;
    } else {
      return &it->second;
    }
  }
  if (!create) return nullptr;
  sweep(now);
  if (entries_.size() >= max_keys_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
    ++evictions_;
  }
  lru_.push_front(scratch_);
  Entry& created = entries_[scratch_];
  created.lru = lru_.begin();
  switch (kind) {
    case 'w':
      created.data = Window{};
      break;
    case 'd':
      created.data = Distinct{};
      break;
    default:
      created.data = Counter{};
      break;
  }
  return &created;
}

void RuleState::touch(Entry& entry) {
  if (entry.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, entry.lru);
}

void RuleState::sweep(int64_t now) {
  // The least recently updated keys sit at the back; a few per insertion
  // keeps expired keys from piling up without a timer.
  for (int i = 0; i < 4 && !lru_.empty(); ++i) {
    auto it = entries_.find(lru_.back());
    if (it == entries_.end() || it->second.expires_at >= now) return;
    entries_.erase(it);
    lru_.pop_back();
    ++expired_;
  }
}

void RuleState::prune(Window& window, int64_t cutoff) {
  while (!window.slots.empty() && window.slots.front().ts <= cutoff) {
    window.count -= window.slots.front().count;
    window.sum -= window.slots.front().sum;
    window.slots.pop_front();
  }
  if (window.slots.empty()) window.sum = 0;  // no drift from float subtraction
}

void RuleState::prune(Distinct& distinct, int64_t cutoff) {
  while (!distinct.order.empty() && distinct.order.front().first <= cutoff) {
    auto& [ts, value] = distinct.order.front();
    auto it = distinct.last_seen.find(value);
    // A value seen again later has a newer entry further back; only its
    // newest entry removes it.
    if (it != distinct.last_seen.end() && it->second == ts) distinct.last_seen.erase(it);
    distinct.order.pop_front();
  }
}

RuleState::Totals RuleState::windowAdd(std::string_view key, int64_t span_ns, double value,
                                       int64_t now) {
  Entry* e = entry('w', key, true, now);
  auto& window = std::get<Window>(e->data);
  // Out-of-order times count at the newest time the key has seen.
  const int64_t at = std::max(now, e->latest);
  if (!window.slots.empty() &&
      (window.slots.back().ts == at || window.slots.size() >= kMaxSlotsPerKey)) {
    window.slots.back().ts = at;
    window.slots.back().count += 1;
    window.slots.back().sum += value;
  } else {
    window.slots.push_back(Slot{at, 1, value});
  }
  window.count += 1;
  window.sum += value;
  e->latest = at;
  e->expires_at = at + span_ns;
  prune(window, at - span_ns);
  touch(*e);
  return Totals{window.count, window.sum};
}

RuleState::Totals RuleState::windowGet(std::string_view key, int64_t span_ns, int64_t now) {
  Entry* e = entry('w', key, false, now);
  if (e == nullptr) return {};
  const auto& window = std::get<Window>(e->data);
  const int64_t cutoff = std::max(now, e->latest) - span_ns;
  Totals totals;
  for (auto it = window.slots.rbegin(); it != window.slots.rend() && it->ts > cutoff; ++it) {
    totals.count += it->count;
    totals.sum += it->sum;
  }
  return totals;
}

uint64_t RuleState::distinctAdd(std::string_view key, std::string_view value, int64_t span_ns,
                                int64_t now) {
  Entry* e = entry('d', key, true, now);
  auto& distinct = std::get<Distinct>(e->data);
  const int64_t at = std::max(now, e->latest);
  std::string text(value);
  distinct.last_seen[text] = at;
  distinct.order.emplace_back(at, std::move(text));
  prune(distinct, at - span_ns);
  while (distinct.last_seen.size() > kMaxDistinctPerKey) {
    auto& [ts, oldest] = distinct.order.front();
    auto it = distinct.last_seen.find(oldest);
    if (it != distinct.last_seen.end() && it->second == ts) {
      distinct.last_seen.erase(it);
      ++value_evictions_;
    }
    distinct.order.pop_front();
  }
  // Bound the history too: a value repeated often leaves stale entries.
  while (distinct.order.size() > 4 * kMaxDistinctPerKey) {
    auto& [ts, oldest] = distinct.order.front();
    auto it = distinct.last_seen.find(oldest);
    if (it != distinct.last_seen.end() && it->second == ts) {
      distinct.last_seen.erase(it);
      ++value_evictions_;
    }
    distinct.order.pop_front();
  }
  e->latest = at;
  e->expires_at = at + span_ns;
  touch(*e);
  return distinct.last_seen.size();
}

uint64_t RuleState::distinctGet(std::string_view key, int64_t span_ns, int64_t now) {
  Entry* e = entry('d', key, false, now);
  if (e == nullptr) return 0;
  const auto& distinct = std::get<Distinct>(e->data);
  const int64_t cutoff = std::max(now, e->latest) - span_ns;
  uint64_t n = 0;
  for (const auto& [value, ts] : distinct.last_seen) n += ts > cutoff ? 1 : 0;
  return n;
}

double RuleState::counterAdd(std::string_view key, double delta, int64_t ttl_ns, int64_t now) {
  Entry* e = entry('c', key, true, now);
  auto& counter = std::get<Counter>(e->data);
  counter.value += delta;
  e->latest = std::max(now, e->latest);
  e->expires_at = e->latest + ttl_ns;
  touch(*e);
  return counter.value;
}

double RuleState::counterGet(std::string_view key, int64_t now) {
  Entry* e = entry('c', key, false, now);
  return e == nullptr ? 0 : std::get<Counter>(e->data).value;
}

void RuleState::reset(std::string_view key) {
  for (char kind : {'w', 'd', 'c'}) {
    scratch_.assign(1, kind);
    scratch_.append(key);
    auto it = entries_.find(scratch_);
    if (it == entries_.end()) continue;
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
}

}  // namespace edge::lua
