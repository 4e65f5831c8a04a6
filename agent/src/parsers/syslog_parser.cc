// Syslog parsing: PRI, then RFC 5424 when the header is well formed, else
// RFC 3164 in the forms real senders produce. Both passes scan the message
// once and collect views into it; the event is only touched at the end, so
// a record that is not syslog leaves it unchanged.
#include "parsers/syslog_parser.h"

#include <time.h>

#include <array>
#include <cstdlib>
#include <string>
#include <vector>

#include "parsers/local_time.h"

namespace edge::agent {
namespace {

// A longer word is not a tag (programs name themselves in a few dozen bytes).
constexpr size_t kMaxTagBytes = 255;
constexpr std::string_view kBom = "\xEF\xBB\xBF";

constexpr std::array<const char*, 24> kFacilityNames = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};

constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                      "jul", "aug", "sep", "oct", "nov", "dec"};

bool isDigit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool isLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int daysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && isLeap(year) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t daysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int64_t nanos = 0;
};

// Seconds since 1970-01-01T00:00 of the same zone as the text (wall-clock
// seconds). Out-of-range parts (Feb 30, 25:00) are rejected rather than
// normalized: such a "timestamp" is more likely not one.
std::optional<int64_t> wallSeconds(const Civil& c) {
  // int64 ns reach from 1677 to 2262.
  if (c.year < 1678 || c.year > 2261 || c.month < 1 || c.month > 12 || c.day < 1 ||
      c.day > daysInMonth(c.year, c.month) || c.hour > 23 || c.minute > 59 || c.second > 60) {
    return std::nullopt;
  }
  return daysFromCivil(c.year, c.month, c.day) * 86400 + c.hour * 3600 + c.minute * 60 + c.second;
}

// ns since the epoch; `offset_s` is the zone's offset east of UTC when the
// text gave one. Without one the time is UTC or, unless `utc`, local time
// (converted through the per-hour offset cache, not a libc call per record).
std::optional<int64_t> civilToNs(const Civil& c, bool utc, std::optional<int> offset_s) {
  auto wall = wallSeconds(c);
  if (!wall) return std::nullopt;
  std::optional<int64_t> seconds = *wall - offset_s.value_or(0);
  if (!offset_s && !utc) seconds = LocalTimeCache::forThisThread().toUtc(*wall);
  if (!seconds) return std::nullopt;
  return *seconds * 1000000000LL + c.nanos;
}

// Exactly `count` digits.
bool readDigits(std::string_view s, size_t& i, int count, int& out) {
  if (i + static_cast<size_t>(count) > s.size()) return false;
  int value = 0;
  for (int k = 0; k < count; ++k) {
    char c = s[i + static_cast<size_t>(k)];
    if (!isDigit(c)) return false;
    value = value * 10 + (c - '0');
  }
  i += static_cast<size_t>(count);
  out = value;
  return true;
}

// Between min and max digits.
bool readDigitRange(std::string_view s, size_t& i, int min, int max, int& out) {
  size_t j = i;
  int value = 0;
  int count = 0;
  while (j < s.size() && count < max && isDigit(s[j])) {
    value = value * 10 + (s[j] - '0');
    ++j;
    ++count;
  }
  if (count < min || (j < s.size() && isDigit(s[j]))) return false;
  i = j;
  out = value;
  return true;
}

bool readChar(std::string_view s, size_t& i, char c) {
  if (i >= s.size() || s[i] != c) return false;
  ++i;
  return true;
}

// ".123456789": any number of digits, the first nine count.
bool readFraction(std::string_view s, size_t& i, int64_t& nanos) {
  if (i >= s.size() || (s[i] != '.' && s[i] != ',')) return true;
  size_t j = i + 1;
  int used = 0;
  int64_t value = 0;
  while (j < s.size() && isDigit(s[j])) {
    if (used < 9) {
      value = value * 10 + (s[j] - '0');
      ++used;
    }
    ++j;
  }
  if (used == 0) return false;
  for (; used < 9; ++used) value *= 10;
  nanos = value;
  i = j;
  return true;
}

// RFC 3339 date-time at s[i]; advances i past it on success.
std::optional<int64_t> scanRfc3339(std::string_view s, size_t& i, bool utc) {
  size_t j = i;
  Civil c;
  int year = 0;
  if (!readDigits(s, j, 4, year) || !readChar(s, j, '-') || !readDigits(s, j, 2, c.month) ||
      !readChar(s, j, '-') || !readDigits(s, j, 2, c.day)) {
    return std::nullopt;
  }
  c.year = year;
  if (j >= s.size() || (s[j] != 'T' && s[j] != 't' && s[j] != ' ')) return std::nullopt;
  ++j;
  if (!readDigits(s, j, 2, c.hour) || !readChar(s, j, ':') || !readDigits(s, j, 2, c.minute) ||
      !readChar(s, j, ':') || !readDigits(s, j, 2, c.second) || !readFraction(s, j, c.nanos)) {
    return std::nullopt;
  }
  std::optional<int> offset;
  if (j < s.size() && (s[j] == 'Z' || s[j] == 'z')) {
    offset = 0;
    ++j;
  } else if (j < s.size() && (s[j] == '+' || s[j] == '-')) {
    int sign = s[j] == '-' ? -1 : 1;
    ++j;
    int hours = 0;
    int minutes = 0;
    if (!readDigits(s, j, 2, hours)) return std::nullopt;
    readChar(s, j, ':');
    if (!readDigits(s, j, 2, minutes) || hours > 23 || minutes > 59) return std::nullopt;
    offset = sign * (hours * 3600 + minutes * 60);
  }
  auto ns = civilToNs(c, utc, offset);
  if (ns) i = j;
  return ns;
}

int monthIndex(std::string_view s, size_t i) {
  if (i + 3 > s.size()) return 0;
  for (size_t m = 0; m < kMonths.size(); ++m) {
    if (lower(s[i]) == kMonths[m][0] && lower(s[i + 1]) == kMonths[m][1] &&
        lower(s[i + 2]) == kMonths[m][2]) {
      return static_cast<int>(m) + 1;
    }
  }
  return 0;
}

size_t skipSpaces(std::string_view s, size_t i) {
  while (i < s.size() && s[i] == ' ') ++i;
  return i;
}

// Senders' clocks run a little ahead at most, while messages can be old
// (queued, replayed): a timestamp further ahead than this is last year's.
constexpr int64_t kMaxFutureNs = 31LL * 86400 * 1000000000LL;

// RFC 3164 timestamps have no year: the latest year that does not put the
// timestamp more than a month ahead of `now_ns`. So a "Dec 31" message read
// on Jan 1 is from the year before, and a "Jan 1" one from a sender whose
// clock runs ahead on Dec 31 is from the next.
std::optional<int64_t> withInferredYear(Civil c, bool utc, int64_t now_ns) {
  const int64_t now_s = now_ns / 1000000000LL;
  // Now on the timestamp's clock, to learn its year.
  const int64_t now_wall_s = now_s + (utc ? 0 : LocalTimeCache::forThisThread().offsetAt(now_s));
  time_t now_wall = static_cast<time_t>(now_wall_s);
  struct tm now_tm {};
  ::gmtime_r(&now_wall, &now_tm);
  const int64_t year = now_tm.tm_year + 1900;
  // Down to four years back so Feb 29 finds its leap year.
  for (int64_t candidate = year + 1; candidate >= year - 4; --candidate) {
    c.year = candidate;
    auto wall = wallSeconds(c);
    if (!wall) continue;  // Feb 29 in a common year
    // Clearly too far ahead on the wall clock already (no two offsets of a
    // zone differ by two days): no need to convert it.
    if (*wall - now_wall_s > kMaxFutureNs / 1000000000LL + 2 * 86400) continue;
    auto ns = civilToNs(c, utc, std::nullopt);
    if (!ns) continue;
    if (*ns - now_ns <= kMaxFutureNs) return ns;
  }
  return std::nullopt;
}

// BSD timestamp at s[i]: "Mmm dd hh:mm:ss" with the variants senders use:
// any case, one- or two-digit or zero-padded day, a year before or after the
// time, a fraction of a second, a ':' after it.
std::optional<int64_t> scanBsdTimestamp(std::string_view s, size_t& i, bool utc, int64_t now_ns) {
  size_t j = i;
  Civil c;
  c.month = monthIndex(s, j);
  if (c.month == 0) return std::nullopt;
  j += 3;
  if (j >= s.size() || s[j] != ' ') return std::nullopt;
  j = skipSpaces(s, j);
  if (!readDigitRange(s, j, 1, 2, c.day)) return std::nullopt;
  if (j >= s.size() || s[j] != ' ') return std::nullopt;
  j = skipSpaces(s, j);
  std::optional<int> year;
  {
    size_t k = j;
    int y = 0;
    if (readDigits(s, k, 4, y) && k < s.size() && s[k] == ' ') {
      year = y;
      j = skipSpaces(s, k);
    }
  }
  if (!readDigitRange(s, j, 1, 2, c.hour) || !readChar(s, j, ':') ||
      !readDigits(s, j, 2, c.minute) || !readChar(s, j, ':') || !readDigits(s, j, 2, c.second) ||
      !readFraction(s, j, c.nanos)) {
    return std::nullopt;
  }
  if (!year && j < s.size() && s[j] == ' ') {
    // "Aug 10 22:18:24 2009 host": a year after the time (some network gear).
    size_t k = j + 1;
    int y = 0;
    if (readDigits(s, k, 4, y) && (k == s.size() || s[k] == ' ') && y >= 1970 && y <= 2200) {
      year = y;
      j = k;
    }
  }
  if (j < s.size() && s[j] == ':' && (j + 1 == s.size() || s[j + 1] == ' ')) ++j;
  if (j < s.size() && s[j] != ' ') return std::nullopt;
  std::optional<int64_t> ns;
  if (year) {
    c.year = *year;
    ns = civilToNs(c, utc, std::nullopt);
  } else {
    ns = withInferredYear(c, utc, now_ns);
  }
  if (ns) i = j;
  return ns;
}

struct Parsed {
  int pri = 13;  // user.notice: RFC 3164 section 4.3.3 for a message without PRI
  bool has_pri = false;
  std::optional<int64_t> ts;
  std::string_view host;
  std::string_view app_name;
  std::string_view procid;
  std::string_view msgid;
  std::vector<Field> sd;
  uint64_t sd_dropped = 0;  // parameters beyond kMaxSyslogSdFields
  std::string_view message;
};

// PRI "<0>".."<191>"; at most three digits, no leading zeros beyond "<0>"
// are required by the RFC but senders vary, so "<013>" is accepted.
bool readPri(std::string_view s, size_t& i, int& pri) {
  size_t j = i;
  if (!readChar(s, j, '<')) return false;
  int value = 0;
  if (!readDigitRange(s, j, 1, 3, value) || !readChar(s, j, '>') || value > 191) return false;
  pri = value;
  i = j;
  return true;
}

std::string_view token(std::string_view s, size_t& i) {
  size_t start = i;
  while (i < s.size() && s[i] != ' ') ++i;
  return s.substr(start, i - start);
}

std::string_view nil(std::string_view value) { return value == "-" ? std::string_view() : value; }

std::string_view stripBom(std::string_view s) {
  if (s.substr(0, kBom.size()) == kBom) s.remove_prefix(kBom.size());
  return s;
}

// RFC 5424 STRUCTURED-DATA at s[j] == '['. Tolerates spaces around '=' and
// an unescaped ']' inside a quoted value; anything else malformed fails and
// the caller keeps the text as message.
bool parseStructuredData(std::string_view s, size_t& j, std::vector<Field>& out,
                         uint64_t& dropped) {
  const size_t n = s.size();
  while (j < n && s[j] == '[') {
    ++j;
    size_t id_start = j;
    while (j < n && s[j] != ' ' && s[j] != ']' && s[j] != '=' && s[j] != '"') ++j;
    std::string_view id = s.substr(id_start, j - id_start);
    if (id.empty()) return false;
    const size_t element_first = out.size();
    bool any_param = false;
    for (;;) {
      j = skipSpaces(s, j);
      if (j >= n) return false;
      if (s[j] == ']') {
        ++j;
        break;
      }
      size_t name_start = j;
      while (j < n && s[j] != '=' && s[j] != ' ' && s[j] != ']' && s[j] != '"') ++j;
      std::string_view name = s.substr(name_start, j - name_start);
      if (name.empty()) return false;
      j = skipSpaces(s, j);
      if (!readChar(s, j, '=')) return false;
      j = skipSpaces(s, j);
      if (!readChar(s, j, '"')) return false;
      std::string value;
      for (;;) {
        if (j >= n) return false;
        char c = s[j];
        if (c == '\\' && j + 1 < n && (s[j + 1] == '"' || s[j + 1] == '\\' || s[j + 1] == ']')) {
          value += s[j + 1];
          j += 2;
          continue;
        }
        ++j;
        if (c == '"') break;
        value += c;
      }
      any_param = true;
      std::string key = "sd.";
      key.append(id).append(".").append(name);
      // A repeated PARAM-NAME (RFC 5424 allows it, e.g. origin ip=) joins its values.
      Field* existing = nullptr;
      for (size_t k = element_first; k < out.size(); ++k) {
        if (out[k].key == key) existing = &out[k];
      }
      if (existing != nullptr) {
        std::get<std::string>(existing->value).append(",").append(value);
      } else if (out.size() < kMaxSyslogSdFields) {
        out.push_back(Field{std::move(key), std::move(value)});
      } else {
        ++dropped;
      }
    }
    if (!any_param) {
      if (out.size() < kMaxSyslogSdFields) {
        out.push_back(Field{"sd." + std::string(id), true});
      } else {
        ++dropped;
      }
    }
  }
  return true;
}

// RFC 5424 after the PRI: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP
// PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]. Runs of spaces between header
// fields are accepted; a missing tail of the header counts as NIL.
bool parse5424(std::string_view s, size_t i, bool utc, Parsed& out) {
  const size_t n = s.size();
  if (i >= n || s[i] < '1' || s[i] > '9') return false;
  int version = 0;
  if (!readDigitRange(s, i, 1, 3, version) || i >= n || s[i] != ' ') return false;
  i = skipSpaces(s, i);
  std::string_view ts_text = token(s, i);
  if (ts_text != "-") {
    out.ts = parseRfc3339(ts_text, utc);
    if (!out.ts) return false;
  } else if (!out.has_pri) {
    return false;  // "1 - ..." without PRI is more likely plain text
  }
  std::string_view* header[] = {&out.host, &out.app_name, &out.procid, &out.msgid};
  for (std::string_view* field : header) {
    i = skipSpaces(s, i);
    *field = nil(token(s, i));
  }
  i = skipSpaces(s, i);
  if (i >= n) return true;
  if (s[i] == '-' && (i + 1 == n || s[i + 1] == ' ')) {
    ++i;
  } else if (s[i] == '[') {
    size_t j = i;
    if (parseStructuredData(s, j, out.sd, out.sd_dropped)) {
      i = j;
    } else {
      out.sd.clear();
      out.sd_dropped = 0;
      out.message = stripBom(s.substr(i));
      return true;
    }
  } else {
    // No STRUCTURED-DATA at all: take the rest as the message.
    out.message = stripBom(s.substr(i));
    return true;
  }
  if (i < n && s[i] == ' ') ++i;
  out.message = stripBom(s.substr(i));
  return true;
}

bool isHostnameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '.' || c == '-' ||
         c == '_' || c == ':' || c == '%';
}

// A word that can be a HOSTNAME (name, IPv4 or IPv6 address) and not a TAG.
bool looksLikeHostname(std::string_view word) {
  if (word.empty() || word.size() > 255 || word.back() == ':') return false;
  for (char c : word) {
    if (!isHostnameChar(c)) return false;
  }
  return true;
}

// RFC 3164 after the PRI: [TIMESTAMP [HOSTNAME]] [TAG[:]] MSG.
bool parse3164(std::string_view s, size_t i, const SyslogParseOptions& options, int64_t now_ns,
               Parsed& out) {
  const size_t n = s.size();
  i = skipSpaces(s, i);
  {
    size_t j = i;
    if (j < n && (s[j] == '*' || s[j] == '.')) ++j;  // Cisco marks an unsynced clock so
    size_t k = j;
    if (auto ts = scanRfc3339(s, k, options.utc)) {
      if (k < n && s[k] == ':' && (k + 1 == n || s[k + 1] == ' ')) ++k;
      if (k == n || s[k] == ' ') {
        out.ts = ts;
        i = k;
      }
    }
    if (!out.ts) {
      k = j;
      if (auto ts = scanBsdTimestamp(s, k, options.utc, now_ns)) {
        out.ts = ts;
        i = k;
      }
    }
  }
  if (!out.ts && !out.has_pri && !options.assume_syslog) return false;

  if (out.ts) {
    i = skipSpaces(s, i);
    size_t j = i;
    std::string_view word = token(s, j);
    if (word == "-") {
      i = j;
    } else if (looksLikeHostname(word)) {
      out.host = word;
      i = j;
    }
    if (i < n && s[i] == ' ') ++i;
  }

  // The TAG: after a timestamp the next word (ended by ':' or a space), as
  // rsyslog does; without one only a word ending in ':' counts, so plain text
  // is not split into a made-up program name.
  size_t k = i;
  while (k < n && s[k] != ' ' && s[k] != ':') ++k;
  std::string_view tag = s.substr(i, k - i);
  bool colon = k < n && s[k] == ':';
  bool is_tag = !tag.empty() && tag.front() != '[' && tag.size() <= kMaxTagBytes &&
                (out.ts ? true : colon && (k + 1 == n || s[k + 1] == ' '));
  if (is_tag) {
    size_t bracket = tag.find('[');
    if (bracket == std::string_view::npos) {
      out.app_name = tag;
    } else {
      out.app_name = tag.substr(0, bracket);
      if (tag.back() == ']') out.procid = tag.substr(bracket + 1, tag.size() - bracket - 2);
    }
    i = k + (colon ? 1 : 0);
    if (i < n && s[i] == ' ') ++i;
  }
  out.message = stripBom(s.substr(std::min(i, n)));
  return true;
}

}  // namespace

const char* syslogFacilityName(int facility) {
  if (facility < 0 || facility >= static_cast<int>(kFacilityNames.size())) return nullptr;
  return kFacilityNames[static_cast<size_t>(facility)];
}

std::optional<int64_t> parseRfc3339(std::string_view text, bool utc) {
  size_t i = 0;
  auto ns = scanRfc3339(text, i, utc);
  if (!ns || i != text.size()) return std::nullopt;
  return ns;
}

SyslogFormat parseSyslogRecord(std::string_view raw, Event& event,
                               const SyslogParseOptions& options, uint64_t* fields_dropped) {
  std::string_view s = raw;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '\0')) {
    s.remove_suffix(1);
  }
  s = stripBom(s);
  if (s.empty()) return SyslogFormat::kNone;

  Parsed parsed;
  size_t i = 0;
  parsed.has_pri = readPri(s, i, parsed.pri);
  const int64_t now_ns = options.now_ns != 0 ? options.now_ns : nowNs();

  SyslogFormat format = SyslogFormat::kRfc5424;
  if (!parse5424(s, i, options.utc, parsed)) {
    // parse5424 may have filled some parts before it gave up.
    Parsed fallback;
    fallback.pri = parsed.pri;
    fallback.has_pri = parsed.has_pri;
    parsed = std::move(fallback);
    format = SyslogFormat::kRfc3164;
    if (!parse3164(s, i, options, now_ns, parsed)) return SyslogFormat::kNone;
  }

  event.severity = static_cast<Severity>(parsed.pri & 7);
  const int facility = parsed.pri >> 3;
  event.setField("facility", std::string(syslogFacilityName(facility)));
  event.setField("facility_code", static_cast<int64_t>(facility));
  if (parsed.ts) event.ts_ns = *parsed.ts;
  if (!parsed.host.empty()) {
    event.host.assign(parsed.host);
  } else if (!options.local_hostname.empty()) {
    event.host.assign(options.local_hostname);
  }
  if (!parsed.app_name.empty()) event.setField("app_name", std::string(parsed.app_name));
  if (!parsed.procid.empty()) event.setField("procid", std::string(parsed.procid));
  if (!parsed.msgid.empty()) event.setField("msgid", std::string(parsed.msgid));
  for (Field& field : parsed.sd) event.fields.push_back(std::move(field));
  if (fields_dropped != nullptr) *fields_dropped += parsed.sd_dropped;
  event.setField("message", std::string(parsed.message));
  return format;
}

}  // namespace edge::agent
