// Match conditions: structured YAML (no expression language to parse),
// read into a plain ConditionSpec with file:line errors, then compiled into
// a tree of small evaluators that test an event without allocating.
//
//   match:
//     all:
//       - {field: kind, equals: auth}
//       - {field: severity, le: warning}
//       - any:
//           - {field: fields.user, in: [root, admin]}
//           - {field: raw, regex: 'Failed password .* from \d+\.\d+\.\d+\.\d+'}
//       - not: {field: host, prefix: test-}
//
// A leaf is {field: <name>, <op>: <value>} (several ops in one leaf must all
// hold). Ops: equals, not_equals, prefix, suffix, contains, regex, in, exists,
// gt, ge, lt, le. Combinators: all: [...], any: [...], not: {...}. Field
// names are those of field.h. docs/pipeline.md has the exact semantics of
// each op on strings, numbers, bools and missing values.
//
// Threading: a compiled Condition keeps per-regex match buffers, so one
// instance must be used by one thread at a time (compile one per worker).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/event.h"
#include "edge/common/result.h"
#include "edge/gateway/pipeline/field.h"

namespace edge::gateway::pipeline {

enum class MatchOp : uint8_t {
  kEquals,
  kNotEquals,
  kPrefix,
  kSuffix,
  kContains,
  kRegex,
  kIn,
  kExists,
  kGt,
  kGe,
  kLt,
  kLe,
};
const char* matchOpName(MatchOp op);  // as written in YAML: "equals", "not_equals", ...

// A condition as plain data: what the YAML said, already validated by
// readCondition, so compiling it again (per worker) cannot fail.
struct ConditionSpec {
  enum class Kind : uint8_t { kLeaf, kAll, kAny, kNot };
  Kind kind = Kind::kLeaf;
  // kLeaf
  std::string field;
  MatchOp op = MatchOp::kEquals;
  std::vector<std::string> values;  // one value; the list for `in`; "true"/"false" for exists
  // kAll / kAny: the list; kNot: exactly one
  std::vector<ConditionSpec> children;
  // Where it came from, for messages: dotted path and line.
  std::string path;
  int line = 0;
};

// Reads a condition from YAML. Every mistake (unknown key with a "did you
// mean", missing operator, wrong value type, bad regex, unknown field, a
// non-numeric value for gt/ge/lt/le, an unknown severity name) is recorded
// in the node's document with file:line; returns nullopt if any was found.
std::optional<ConditionSpec> readCondition(const ConfigNode& node);

namespace detail {
class MatchNode;
}

class Condition {
 public:
  // Errors name the spec's path and line; specs from readCondition compile.
  static Result<Condition> compile(const ConditionSpec& spec);

  Condition(Condition&&) noexcept;
  Condition& operator=(Condition&&) noexcept;
  ~Condition();

  bool matches(const Event& event, const EventContext& context = {}) const;

 private:
  explicit Condition(std::unique_ptr<detail::MatchNode> root);
  std::unique_ptr<detail::MatchNode> root_;
};

}  // namespace edge::gateway::pipeline
