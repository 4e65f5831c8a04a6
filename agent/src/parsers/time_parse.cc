// Time field parsing for the parsers: hand-written RFC 3339 and unix-number
// forms, strptime(3) for the rest. Results are UTC ns since the epoch.
#include "parsers/time_parse.h"

#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>

namespace edge::agent {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
// Marks "the format set no year" in struct tm (a value no format produces).
constexpr int kNoYear = -10000;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at text[pos].
bool digits(std::string_view text, size_t pos, size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = text[pos + i];
    if (!isDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool isLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned daysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : kDays[m - 1];
}

// Fraction digits "123456" -> ns (cut beyond 9 digits). Returns the digit count.
size_t fractionNs(std::string_view text, size_t pos, int64_t& ns) {
  size_t n = 0;
  int64_t value = 0;
  int64_t scale = 100'000'000;
  while (pos + n < text.size() && isDigit(text[pos + n])) {
    if (scale > 0) {
      value += (text[pos + n] - '0') * scale;
      scale /= 10;
    }
    ++n;
  }
  ns = value;
  return n;
}

// "[+-]int[.frac]" in units of `unit_ns` nanoseconds.
std::optional<int64_t> parseUnixText(std::string_view text, int64_t unit_ns) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  bool negative = false;
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) negative = text[pos++] == '-';
  int64_t whole = 0;
  size_t start = pos;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  while (pos < text.size() && isDigit(text[pos])) {
    int d = text[pos] - '0';
    if (whole > (kMax - d) / 10) return std::nullopt;
    whole = whole * 10 + d;
    ++pos;
  }
  if (pos == start) return std::nullopt;
  if (whole > kMax / unit_ns) return std::nullopt;
  int64_t result = whole * unit_ns;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int64_t scale = unit_ns / 10;
    size_t frac_start = pos;
    while (pos < text.size() && isDigit(text[pos])) {
      result += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == frac_start) return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  return negative ? -result : result;
}

int64_t unitNs(TimeParser::Kind kind) {
  switch (kind) {
    case TimeParser::Kind::kUnix:
      return kNsPerSec;
    case TimeParser::Kind::kUnixMs:
      return 1'000'000;
    case TimeParser::Kind::kUnixUs:
      return 1'000;
    default:
      return 1;
  }
}

}  // namespace

int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm: exact for the whole proleptic Gregorian range.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

static std::optional<int64_t> parseRfc3339Utc(std::string_view t) {
  int year, month, day, hour, minute, second;
  if (!digits(t, 0, 4, year) || t.size() < 19 || t[4] != '-' || !digits(t, 5, 2, month) ||
      t[7] != '-' || !digits(t, 8, 2, day) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      !digits(t, 11, 2, hour) || t[13] != ':' || !digits(t, 14, 2, minute) || t[16] != ':' ||
      !digits(t, 17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > daysInMonth(year, static_cast<unsigned>(month)) || hour > 23 ||
      minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t frac = 0;
  if (pos < t.size() && (t[pos] == '.' || t[pos] == ',')) {
    size_t n = fractionNs(t, pos + 1, frac);
    if (n == 0) return std::nullopt;
    pos += 1 + n;
  }
  int64_t offset_s = 0;
  if (pos < t.size()) {
    char c = t[pos];
    if (c == 'Z' || c == 'z') {
      ++pos;
    } else if (c == '+' || c == '-') {
      int oh = 0, om = 0;
      if (!digits(t, pos + 1, 2, oh)) return std::nullopt;
      pos += 3;
      if (pos < t.size() && t[pos] == ':') {
        if (!digits(t, pos + 1, 2, om)) return std::nullopt;
        pos += 3;
      } else if (pos + 2 <= t.size() && digits(t, pos, 2, om)) {
        pos += 2;
      }
      if (oh > 23 || om > 59) return std::nullopt;
      offset_s = (oh * 3600 + om * 60) * (c == '-' ? -1 : 1);
    }
  }
  if (pos != t.size()) return std::nullopt;
  int64_t days = daysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  return secs * kNsPerSec + frac;
}

Result<TimeParser> TimeParser::create(std::string_view format) {
  if (format == "rfc3339") return TimeParser(Kind::kRfc3339);
  if (format == "unix") return TimeParser(Kind::kUnix);
  if (format == "unix_ms") return TimeParser(Kind::kUnixMs);
  if (format == "unix_us") return TimeParser(Kind::kUnixUs);
  if (format == "unix_ns") return TimeParser(Kind::kUnixNs);
  if (format.find('%') == std::string_view::npos) {
    return makeError(ErrorCode::kConfig,
                     "time_format \"" + std::string(format) +
                         "\" is neither rfc3339, unix, unix_ms, unix_us, unix_ns nor a strptime "
                         "format (e.g. \"%d/%b/%Y:%H:%M:%S %z\")");
  }
  TimeParser parser(Kind::kStrptime);
  std::string piece;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      if (format[i + 1] == 'f') {
        parser.pieces_.push_back(std::move(piece));
        piece.clear();
        ++i;
        continue;
      }
      piece += format[i++];  // keeps "%%" and "%x" together
    }
    piece += format[i];
  }
  parser.pieces_.push_back(std::move(piece));
  return parser;
}

std::optional<int64_t> TimeParser::parse(const FieldValue& value) const {
  if (const auto* text = std::get_if<std::string>(&value)) return parseText(*text);
  if (kind_ == Kind::kRfc3339 || kind_ == Kind::kStrptime) return std::nullopt;
  int64_t unit = unitNs(kind_);
  if (const auto* i = std::get_if<int64_t>(&value)) {
    if (*i > std::numeric_limits<int64_t>::max() / unit ||
        *i < std::numeric_limits<int64_t>::min() / unit) {
      return std::nullopt;
    }
    return *i * unit;
  }
  if (const auto* d = std::get_if<double>(&value)) {
    double ns = *d * static_cast<double>(unit);
    if (!std::isfinite(ns) || std::fabs(ns) >= 9.2e18) return std::nullopt;
    return static_cast<int64_t>(std::llround(ns));
  }
  return std::nullopt;
}

std::optional<int64_t> TimeParser::parseText(std::string_view text) const {
  switch (kind_) {
    case Kind::kRfc3339:
      return parseRfc3339Utc(text);
    case Kind::kStrptime:
      return parseStrptime(text);
    default:
      return parseUnixText(text, unitNs(kind_));
  }
}

std::optional<int64_t> TimeParser::parseStrptime(std::string_view text) const {
  // strptime needs a terminated string; time texts are short.
  char buf[128];
  if (text.size() >= sizeof(buf)) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';

  struct tm tm {};
  tm.tm_year = kNoYear;
  tm.tm_mday = 1;
  int64_t frac = 0;
  const char* p = buf;
  // "%f" (fractional seconds) is ours: strptime runs on the pieces between.
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (i > 0) {
      size_t n = fractionNs(std::string_view(p), 0, frac);
      if (n == 0) return std::nullopt;
      p += n;
    }
    if (!pieces_[i].empty()) {
      p = ::strptime(p, pieces_[i].c_str(), &tm);
      if (p == nullptr) return std::nullopt;
    }
  }
  while (*p == ' ' || *p == '\t') ++p;
  if (*p != '\0') return std::nullopt;

  auto toNs = [&](int64_t year) -> std::optional<int64_t> {
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31) return std::nullopt;
    int64_t days = daysFromCivil(year, static_cast<unsigned>(tm.tm_mon + 1),
                                 static_cast<unsigned>(tm.tm_mday));
    int64_t secs = days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec -
                   static_cast<int64_t>(tm.tm_gmtoff);
    return secs * kNsPerSec + frac;
  };
  if (tm.tm_year != kNoYear) return toNs(int64_t{tm.tm_year} + 1900);

  int64_t now = now_for_tests_ns_ != 0 ? now_for_tests_ns_ : nowNs();
  time_t now_s = static_cast<time_t>(now / kNsPerSec);
  struct tm now_tm {};
  gmtime_r(&now_s, &now_tm);
  int64_t year = int64_t{now_tm.tm_year} + 1900;
  auto result = toNs(year);
  if (result && *result > now + 86400 * kNsPerSec) result = toNs(year - 1);
  return result;
}

}  // namespace edge::agent
