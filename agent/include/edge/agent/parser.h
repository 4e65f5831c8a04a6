// Per-input parsers: turn an event's raw record into typed fields. Every
// input accepts `parser:`; the agent core applies it to each event before
// spooling. The raw record is always kept. A record the parser cannot read
// stays as it is (raw only), gets the field "parse_error" and is counted
// (edge_agent_parse_errors_total{input}); it is never dropped.
//
//   parser: {type: json}
//   parser: {type: logfmt}
//   parser: {type: regex, pattern: '^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+)'}
//   parser: {type: syslog}                 # RFC 5424 or RFC 3164, detected per record
//   common keys: time_key (field holding the event time), time_format
//   (strptime format, or "rfc3339" / "unix" / "unix_ms"), types ({field: int|float|bool})
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "edge/common/config.h"
#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::agent {

enum class ParserType { kNone, kJson, kLogfmt, kRegex, kSyslog };

struct ParserConfig {
  ParserType type = ParserType::kNone;
  std::string pattern;       // regex only
  std::string time_key;      // empty: keep the read time
  std::string time_format = "rfc3339";
  std::map<std::string, std::string> types;  // field -> int | float | bool
};

// Reads `parser:` under `input_node` (absent -> kNone); problems are recorded
// in the node's document.
ParserConfig parseParserConfig(const ConfigNode& input_node);

// What a parser saw; the core may export these as metrics.
struct ParserStats {
  uint64_t records = 0;
  uint64_t parse_errors = 0;       // records parse() returned false for
  uint64_t conversion_errors = 0;  // types:/time_key values left unconverted
  uint64_t fields_dropped = 0;     // fields beyond the per-record limit (syslog: its SD limit too)
};

class Parser {
 public:
  virtual ~Parser() = default;
  // Adds fields (and possibly ts, severity, host) from event.raw. Returns
  // false if the record could not be parsed; the event is still kept.
  // A parser is used by one thread at a time (it reuses scratch buffers).
  virtual bool parse(Event& event) const = 0;
  virtual ParserStats stats() const { return {}; }
};

// nullptr for kNone. A bad regex is an error naming the pattern and why.
Result<std::unique_ptr<Parser>> makeParser(const ParserConfig& config);

}  // namespace edge::agent
