// Syslog message parsing (RFC 5424 and RFC 3164, detected per message) into
// an Event's fields, tolerant of what real senders produce: no PRI, a year
// inside the BSD timestamp, upper-case months, RFC 3339 timestamps in BSD
// messages, missing hostname or tag, NIL values, a BOM, 8-bit bytes. Used by
// the syslog input for every message and by `parser: {type: syslog}`.
//
// Fields set: facility (name, e.g. "local4"), facility_code (int), message
// (always, possibly empty), and when the message has them app_name, procid,
// msgid, sd.<SD-ID>.<PARAM-NAME> (RFC 5424 structured data, escapes \" \\ \]
// resolved, a repeated PARAM-NAME's values joined with ','; an element
// without parameters is sd.<SD-ID> = true).
// Event::severity comes from the PRI, Event::ts_ns from the timestamp and
// Event::host from the HOSTNAME.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "edge/common/event.h"

namespace edge::agent {

struct SyslogParseOptions {
  // Event::host when the message names no host; empty leaves Event::host as
  // it is.
  std::string_view local_hostname;
  // The receive time: RFC 3164 timestamps have no year, it is inferred from
  // this (the latest year that puts the timestamp at most a month ahead of
  // it, so a December message read in January lands in the previous year).
  // 0: the current time.
  int64_t now_ns = 0;
  // RFC 3164 timestamps carry no zone: they are the agent's local time
  // unless this is set, then UTC.
  bool utc = false;
  // A record with neither PRI nor timestamp is still syslog (a syslog port
  // received it: RFC 3164 section 4.3.3 says PRI 13 and the whole text is
  // the message). Without this such a record is not parsed (kNone).
  bool assume_syslog = false;
};

enum class SyslogFormat : uint8_t {
  kNone,     // not syslog; the event is unchanged
  kRfc3164,  // BSD syslog (and anything that is not RFC 5424)
  kRfc5424,
};

// Structured-data fields kept per message; further parameters are dropped
// (and counted): a message of nothing but parameters must not turn into
// thousands of fields. With the header fields and the message a record stays
// below the 256 fields any parser keeps (FieldParser::kMaxFieldsPerRecord),
// so with `parser: syslog` the message is never the field that is cut.
inline constexpr size_t kMaxSyslogSdFields = 240;

// Parses `raw` (one message without framing; a trailing CR/LF/NUL is
// ignored) into `event`. Never fails on a message that has a PRI or a
// timestamp: what cannot be recognized becomes the message. When
// `fields_dropped` is set, the structured-data fields dropped beyond
// kMaxSyslogSdFields are added to it.
SyslogFormat parseSyslogRecord(std::string_view raw, Event& event,
                               const SyslogParseOptions& options = {},
                               uint64_t* fields_dropped = nullptr);

inline bool parseSyslog(std::string_view raw, Event& event,
                        const SyslogParseOptions& options = {}) {
  return parseSyslogRecord(raw, event, options) != SyslogFormat::kNone;
}

// "kern", "user", ... "local7"; nullptr outside 0..23.
const char* syslogFacilityName(int facility);

// RFC 3339 date-time ("2003-10-11T22:14:15.003Z", "...-07:00", a space
// instead of 'T', up to 9 fraction digits) as ns since the epoch. Without a
// zone the time is local (or UTC when `utc`). nullopt if it is not one, or
// if `text` has anything after it.
std::optional<int64_t> parseRfc3339(std::string_view text, bool utc);

}  // namespace edge::agent
