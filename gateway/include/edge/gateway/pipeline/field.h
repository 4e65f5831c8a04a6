// Names of event values that match conditions, templates and rate-limit keys
// refer to, and a compiled reference that reads one of them from an event
// without allocating.
//
// Names (docs/pipeline.md):
//   kind, source, host, tenant, raw   the event's strings (empty = missing)
//   agent_id                          the batch's agent (from EventContext)
//   severity                          text: its name ("warning"); number: 0..7
//   ts                                event time, ns since the epoch
//   seq                               the agent's sequence number
//   fields.<key>                      a typed event field, e.g. fields.user
// Event fields are always written with the "fields." prefix, so a field that
// happens to be called "host" never shadows the event's host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "edge/common/event.h"
#include "edge/common/result.h"

namespace edge::gateway::pipeline {

// What a batch knows that its events do not carry themselves.
struct EventContext {
  std::string_view agent_id;
};

enum class FieldId : uint8_t {
  kKind,
  kSource,
  kHost,
  kSeverity,
  kTenant,
  kAgentId,
  kRaw,
  kTs,
  kSeq,
  kEventField,  // fields.<key>
};

// A typed view of one value; text views point into the event or the context
// and are valid while they are.
struct ValueView {
  enum class Type : uint8_t { kMissing, kString, kInt, kDouble, kBool };
  Type type = Type::kMissing;
  std::string_view text;  // kString
  int64_t integer = 0;    // kInt
  double number = 0;      // kDouble
  bool boolean = false;   // kBool
};

// Scratch space for rendering a number as text (int64, shortest double).
struct TextBuffer {
  char data[32];
};

// Reading a value remembers where an event field was found, to try that
// position first in the next event: a FieldRef (and the conditions,
// templates, routers and limiters holding one) is used by one thread at a time.
class FieldRef {
 public:
  // Parses a field name. Errors list the valid names, and for a bare name
  // that is not a built-in one suggest "fields.<name>".
  static Result<FieldRef> parse(std::string_view name);

  FieldId id() const { return id_; }
  const std::string& name() const { return name_; }  // as written, e.g. "fields.user"
  const std::string& key() const { return key_; }    // the event field key, e.g. "user"

  // The value with its type: severity is kInt (its RFC 5424 number), ts and
  // seq are kInt, built-in strings are kMissing when empty.
  ValueView value(const Event& event, const EventContext& context) const;

  // The value as text for string operations and templates: severity as its
  // name, numbers rendered into `buffer`, bools as true/false. False when
  // the value is missing.
  bool text(const Event& event, const EventContext& context, TextBuffer& buffer,
            std::string_view& out) const;

 private:
  FieldRef(FieldId id, std::string name, std::string key)
      : id_(id), name_(std::move(name)), key_(std::move(key)) {}
  const FieldValue* find(const Event& event) const;
  FieldId id_;
  std::string name_;
  std::string key_;  // non-empty for kEventField
  // Where key_ was found in the last event (see find()).
  mutable size_t hint_ = 0;
};

// Renders a value as text (see FieldRef::text); false for kMissing.
bool valueText(const ValueView& value, TextBuffer& buffer, std::string_view& out);

}  // namespace edge::gateway::pipeline
