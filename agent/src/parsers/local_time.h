// Conversions between UTC and the agent's local time for timestamps that
// carry no zone (RFC 3164, RFC 3339 without an offset), without a libc zone
// call per record. With TZ unset, glibc's mktime()/localtime() stat
// /etc/localtime on every call (about 2 us each); syslog parsing used to
// spend ~90% of its time there.
//
// The zone's UTC offset is cached per hour: per local wall-clock hour for
// local -> UTC, per UTC hour for UTC -> local. An hour is cached only when
// libc gives the same offset at its first and its last second, so an hour
// in which the offset changes (a DST switch at a time that is not on the
// hour, e.g. America/St_Johns before 2011) falls back to libc for every
// call and DST is always exact. Entries are recomputed when the clock
// enters a new hour (so a replaced /etc/localtime is seen within the hour)
// and dropped at once when the TZ variable changes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace edge::agent {

class LocalTimeCache {
 public:
  // The UTC instant (s since the epoch) of local wall-clock time `local_s`,
  // written as seconds since 1970-01-01T00:00 of local time as if that were
  // UTC (daysFromCivil * 86400 + hh * 3600 + mm * 60 + ss). What mktime()
  // returns with tm_isdst = -1: a local time that occurs twice (DST ends)
  // gets one of its two instants, one that never occurs (DST starts) is
  // moved by the switch. nullopt only where mktime() fails.
  std::optional<int64_t> toUtc(int64_t local_s);

  // The zone's offset east of UTC in seconds at UTC instant `utc_s` (what
  // localtime_r() reports as tm_gmtoff).
  int64_t offsetAt(int64_t utc_s);

  // How many times libc was asked (tests check that the cache works).
  uint64_t libcCalls() const { return libc_calls_; }

  // The calling thread's cache (parsers run on one thread at a time, and a
  // per-thread cache needs no lock).
  static LocalTimeCache& forThisThread();

 private:
  static constexpr int64_t kNoHour = INT64_MIN;
  struct Entry {
    int64_t hour = kNoHour;  // the key: local hour (to_utc_) or UTC hour (to_local_)
    int64_t offset_s = 0;    // east of UTC
    bool uniform = false;    // false: the offset changes within this hour; ask libc
  };

  void checkZone();
  std::optional<int64_t> mktimeOffset(int64_t local_s);
  int64_t localtimeOffset(int64_t utc_s);

  // A few local hours: year inference tries a timestamp in two years, and
  // messages often straddle an hour.
  std::array<Entry, 4> to_utc_{};
  size_t next_slot_ = 0;
  Entry to_local_{};
  std::string tz_;                // the TZ variable the entries were computed under
  bool tz_set_ = false;           // whether TZ was set at all
  int64_t clock_hour_ = kNoHour;  // the hour of the clock they were computed in
  uint64_t libc_calls_ = 0;
};

}  // namespace edge::agent
