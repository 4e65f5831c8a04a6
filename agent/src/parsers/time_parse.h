// Turns the text (or number) of a record's time field into ns since the Unix
// epoch, for the parsers' time_key/time_format. RFC 3339 and the unix forms
// are parsed by hand (they are on the hot path); anything else is a
// strptime(3) format, with "%f" added for fractional seconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::agent {

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12).
int64_t daysFromCivil(int64_t year, unsigned month, unsigned day);

// time_format "rfc3339": "2026-03-14T00:00:00.000533Z",
// "2026-03-14 01:00:00+01:00", "...-0500"; a missing offset means UTC;
// fractions beyond ns are cut.
class TimeParser {
 public:
  enum class Kind { kRfc3339, kUnix, kUnixMs, kUnixUs, kUnixNs, kStrptime };

  // `format`: "rfc3339", "unix" (seconds, fractions allowed), "unix_ms",
  // "unix_us", "unix_ns", or a strptime format containing at least one '%'.
  static Result<TimeParser> create(std::string_view format);

  // Strings are parsed per the format; numbers only for the unix forms.
  std::optional<int64_t> parse(const FieldValue& value) const;
  std::optional<int64_t> parseText(std::string_view text) const;

  // The year used when a strptime format has none (tests pin it); the
  // default is the current year, or the previous one if the result would lie
  // more than a day in the future (a December line read in January).
  void setNowForTests(int64_t now_ns) { now_for_tests_ns_ = now_ns; }

  Kind kind() const { return kind_; }

 private:
  explicit TimeParser(Kind kind) : kind_(kind) {}
  std::optional<int64_t> parseStrptime(std::string_view text) const;

  Kind kind_;
  // The strptime format split at each "%f" (fractional seconds, ours).
  std::vector<std::string> pieces_;
  int64_t now_for_tests_ns_ = 0;
};

}  // namespace edge::agent
