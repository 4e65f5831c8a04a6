// Tests of the per-hour local time offset cache against libc's own zone
// rules, minute by minute around DST switches: whole-hour switches (New
// York, London), a 30-minute one (Lord Howe), switches at 00:01 local time
// in a -3:30 zone (St John's, 2010: the offset changes inside an hour), and
// a zone without DST but with a half-hour offset (Kolkata).
#include "parsers/local_time.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <cstdlib>
#include <set>
#include <string>

#include "parsers/syslog_parser.h"

namespace edge::agent {
namespace {

// Sets TZ for one test and restores it.
class ScopedTz {
 public:
  explicit ScopedTz(const char* zone) {
    if (const char* old = std::getenv("TZ"); old != nullptr) saved_ = old;
    had_ = std::getenv("TZ") != nullptr;
    ::setenv("TZ", zone, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (had_) {
      ::setenv("TZ", saved_.c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  std::string saved_;
  bool had_ = false;
};

int64_t libcOffset(int64_t utc_s) {
  time_t t = static_cast<time_t>(utc_s);
  struct tm tm {};
  EXPECT_NE(::localtime_r(&t, &tm), nullptr);
  return tm.tm_gmtoff;
}

// Every instant whose local wall clock reads `wall_s` (none in a skipped
// hour, two in a repeated one). The zone's offsets near it are the
// candidates.
std::set<int64_t> instantsOf(int64_t wall_s) {
  std::set<int64_t> out;
  for (int64_t probe : {wall_s - 2 * 86400, wall_s, wall_s + 2 * 86400}) {
    int64_t t = wall_s - libcOffset(probe);
    if (t + libcOffset(t) == wall_s) out.insert(t);
  }
  return out;
}

struct Switch {
  const char* zone;
  int64_t utc_s;  // an instant near a change of offset
};

void checkAround(const Switch& at) {
  SCOPED_TRACE(std::string(at.zone) + " around " + std::to_string(at.utc_s));
  ScopedTz tz(at.zone);
  LocalTimeCache cache;
  int failures = 0;
  for (int64_t t = at.utc_s - 6 * 3600; t <= at.utc_s + 6 * 3600 && failures < 5; t += 60) {
    int64_t expected = libcOffset(t);
    if (cache.offsetAt(t) != expected) {
      ADD_FAILURE() << "offsetAt(" << t << ") = " << cache.offsetAt(t) << ", libc says "
                    << expected;
      ++failures;
    }
    // The same minute read as a local wall-clock time.
    const int64_t wall = t;
    auto utc = cache.toUtc(wall);
    ASSERT_TRUE(utc.has_value()) << wall;
    std::set<int64_t> instants = instantsOf(wall);
    if (instants.empty()) {
      // A time the switch skips: moved by at most the size of the switch.
      EXPECT_LE(std::abs(*utc - (wall - libcOffset(wall))), 3600) << wall;
    } else if (instants.count(*utc) == 0) {
      ADD_FAILURE() << "toUtc(" << wall << ") = " << *utc << ", not an instant showing that time";
      ++failures;
    }
  }
}

TEST(LocalTimeCache, AgreesWithLibcAroundDstSwitches) {
  const Switch switches[] = {
      {"America/New_York", 1710054000},     // 2024-03-10 07:00Z: EST -> EDT
      {"America/New_York", 1730613600},     // 2024-11-03 06:00Z: EDT -> EST
      {"Europe/London", 1711846800},        // 2024-03-31 01:00Z
      {"Europe/London", 1729990800},        // 2024-10-27 01:00Z
      {"Australia/Lord_Howe", 1712415600},  // 2024-04-06 15:00Z: +11 -> +10:30
      {"Australia/Lord_Howe", 1728142200},  // 2024-10-05 15:30Z: +10:30 -> +11
      {"America/St_Johns", 1268537460},     // 2010-03-14 03:31Z: at 00:01 local
      {"America/St_Johns", 1289097060},     // 2010-11-07 02:31Z
      {"Asia/Kolkata", 1718452800},         // no DST, +5:30
  };
  for (const Switch& at : switches) checkAround(at);
}

TEST(LocalTimeCache, AsksLibcOncePerHourNotPerRecord) {
  ScopedTz tz("America/New_York");
  LocalTimeCache cache;
  const int64_t base = 1718452800;  // 2024-06-15T12:00:00Z
  for (int64_t i = 0; i < 10000; ++i) {
    ASSERT_EQ(cache.toUtc(base + i % 3600), base + i % 3600 + 4 * 3600) << "EDT is UTC-4";
    ASSERT_EQ(cache.offsetAt(base + i % 3600), -4 * 3600);
  }
  // Two probes per hour each way; a new clock hour during the loop may
  // recompute once more.
  EXPECT_LE(cache.libcCalls(), 8u);
}

TEST(LocalTimeCache, SeesAChangedTzAtOnce) {
  ScopedTz tz("UTC");
  LocalTimeCache cache;
  const int64_t wall = 1718452800;
  EXPECT_EQ(cache.toUtc(wall), wall);
  // Changed without tzset(), as a program might.
  ::setenv("TZ", "Asia/Kolkata", 1);
  EXPECT_EQ(cache.toUtc(wall), wall - 19800);
  EXPECT_EQ(cache.offsetAt(wall), 19800);
}

// The parser's use of it: a BSD timestamp (no zone) on both sides of a DST
// switch in the agent's zone.
TEST(LocalTimeCache, BsdTimestampsAcrossADstSwitch) {
  ScopedTz tz("America/New_York");
  SyslogParseOptions options;
  options.now_ns = 1710100000LL * 1000000000LL;  // 2024-03-10T19:46:40Z
  Event before;
  ASSERT_TRUE(parseSyslog("<13>Mar 10 01:30:00 h app: m", before, options));
  EXPECT_EQ(before.ts_ns, 1710052200LL * 1000000000LL) << "01:30 EST is 06:30Z";
  Event after;
  ASSERT_TRUE(parseSyslog("<13>Mar 10 03:30:00 h app: m", after, options));
  EXPECT_EQ(after.ts_ns, 1710055800LL * 1000000000LL) << "03:30 EDT is 07:30Z";
  Event rfc3339;
  ASSERT_TRUE(parseSyslog("<13>2024-03-10T03:30:00 h app: m", rfc3339, options));
  EXPECT_EQ(rfc3339.ts_ns, after.ts_ns) << "RFC 3339 without an offset is local time too";
}

}  // namespace
}  // namespace edge::agent
