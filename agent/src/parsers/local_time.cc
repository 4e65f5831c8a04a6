// The per-hour cache of the local zone's UTC offset (see local_time.h).
#include "parsers/local_time.h"

#include <stdlib.h>
#include <time.h>

namespace edge::agent {
namespace {

constexpr int64_t kHour = 3600;

// Rounds toward minus infinity, so times before 1970 fall in their own hour.
int64_t floorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

}  // namespace

LocalTimeCache& LocalTimeCache::forThisThread() {
  static thread_local LocalTimeCache cache;
  return cache;
}

void LocalTimeCache::checkZone() {
  const char* tz = ::getenv("TZ");
  const bool changed = (tz != nullptr) != tz_set_ || (tz != nullptr && tz_ != tz);
  // time() is a vDSO read, no system call.
  const int64_t clock_hour = floorDiv(static_cast<int64_t>(::time(nullptr)), kHour);
  if (!changed && clock_hour == clock_hour_) return;
  tz_set_ = tz != nullptr;
  tz_ = tz != nullptr ? tz : "";
  clock_hour_ = clock_hour;
  // localtime_r() does not look at TZ or /etc/localtime again by itself;
  // tzset() makes it (and mktime()) see a changed zone now.
  ::tzset();
  to_utc_.fill(Entry{});
  to_local_ = Entry{};
}

std::optional<int64_t> LocalTimeCache::mktimeOffset(int64_t local_s) {
  ++libc_calls_;
  time_t wall = static_cast<time_t>(local_s);
  struct tm tm {};
  if (::gmtime_r(&wall, &tm) == nullptr) return std::nullopt;
  tm.tm_isdst = -1;  // let the zone rules decide, as the sender's clock did
  tm.tm_wday = -1;   // mktime() sets it on success (-1 is also a valid result)
  time_t utc = ::mktime(&tm);
  if (tm.tm_wday < 0) return std::nullopt;
  return local_s - static_cast<int64_t>(utc);
}

int64_t LocalTimeCache::localtimeOffset(int64_t utc_s) {
  ++libc_calls_;
  time_t t = static_cast<time_t>(utc_s);
  struct tm tm {};
  if (::localtime_r(&t, &tm) == nullptr) return 0;
  return static_cast<int64_t>(tm.tm_gmtoff);
}

std::optional<int64_t> LocalTimeCache::toUtc(int64_t local_s) {
  checkZone();
  const int64_t hour = floorDiv(local_s, kHour);
  const Entry* entry = nullptr;
  for (const Entry& slot : to_utc_) {
    if (slot.hour == hour) entry = &slot;
  }
  if (entry == nullptr) {
    auto first = mktimeOffset(hour * kHour);
    auto last = mktimeOffset(hour * kHour + kHour - 1);
    if (first && last) {
      Entry& slot = to_utc_[next_slot_];
      next_slot_ = (next_slot_ + 1) % to_utc_.size();
      slot = Entry{hour, *first, *first == *last};
      entry = &slot;
    }
  }
  if (entry != nullptr && entry->uniform) return local_s - entry->offset_s;
  auto offset = mktimeOffset(local_s);
  if (!offset) return std::nullopt;
  return local_s - *offset;
}

int64_t LocalTimeCache::offsetAt(int64_t utc_s) {
  checkZone();
  const int64_t hour = floorDiv(utc_s, kHour);
  if (to_local_.hour != hour) {
    int64_t first = localtimeOffset(hour * kHour);
    int64_t last = localtimeOffset(hour * kHour + kHour - 1);
    to_local_ = Entry{hour, first, first == last};
  }
  return to_local_.uniform ? to_local_.offset_s : localtimeOffset(utc_s);
}

}  // namespace edge::agent
