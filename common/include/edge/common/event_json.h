// Events as NDJSON, one JSON object per line: the format `edgectl rules
// test` reads and writes and `edgectl parse` produces (docs/lua.md,
// "Event NDJSON"). Both directions live here so every tool agrees on it.
//
//   {"ts":"2015-12-10T06:55:46.000000000Z","seq":1,"kind":"syslog",
//    "source":"/var/log/auth.log","host":"LabSZ","severity":"info",
//    "tenant":"acme","fields":{"program":"sshd","pid":24200},"raw":"Dec 10 ..."}
//
// Reading: every key is optional; `ts` is an RFC 3339 string (UTC "Z" or a
// numeric offset, up to 9 fractional digits) or an integer of ns since the
// epoch; `severity` a name ("warning", "err", ...) or 0..7; field values are
// strings, integers, floats or booleans (no null, arrays or objects). An
// unknown key or a wrong type is an error that names the key.
// Writing: every key, in the order above (`tenant` only when set), `ts` as
// RFC 3339 with nanoseconds; the field order of the event is kept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge {

// Parses one NDJSON line. Errors say which key is wrong and what was expected.
Result<Event> eventFromJson(std::string_view line);

// One line of JSON, without the trailing newline. Invalid UTF-8 in strings
// is replaced (raw log bytes can be anything).
std::string eventToJson(const Event& event);

// "2015-12-10T06:55:46.123456789Z" for ns since the epoch.
std::string formatRfc3339Nanos(int64_t ts_ns);
// Parses RFC 3339 ("2015-12-10T06:55:46Z", "...46.5+01:00"): ns since the epoch.
Result<int64_t> parseRfc3339(std::string_view text);

}  // namespace edge
