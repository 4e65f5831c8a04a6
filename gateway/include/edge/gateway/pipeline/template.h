// Name templates such as "edge.{tenant}.{kind}": literal text with {field}
// placeholders (the names of field.h), compiled once and rendered per event
// into a caller's buffer. "{{" and "}}" are a literal brace.
//
// What comes out depends on the mode, so every rendered name is usable where
// it goes (docs/pipeline.md, "Templates"):
//   kTopic  Kafka topic: bytes of substituted values outside [A-Za-z0-9._-]
//           become '_'; at most 249 bytes; "." and ".." become "_" / "__".
//           Literal text must already be in that set.
//   kTable  SQL table: ASCII letters lowered, bytes outside [a-z0-9_] become
//           '_', a leading digit gets a '_' in front, at most 63 bytes
//           (PostgreSQL's identifier limit). Literal text must be letters,
//           digits and '_'.
//   kKey    verbatim (rate-limit keys): nothing replaced or cut.
// A missing field, or an empty one, renders as the template's default
// ("unknown" unless configured), sanitised the same way.
//
// Threading: one thread at a time per Template (field lookups keep a hint).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/result.h"
#include "edge/gateway/pipeline/field.h"

namespace edge::gateway::pipeline {

enum class TemplateMode : uint8_t { kTopic, kTable, kKey };
const char* templateModeName(TemplateMode mode);  // "topic", "table", "key"

inline constexpr size_t kMaxTopicLength = 249;
inline constexpr size_t kMaxTableLength = 63;

class Template {
 public:
  // Errors quote the template and name the 1-based position of the problem:
  // an unclosed '{', a '}' without '{', an empty or unknown placeholder, a
  // '{' inside a placeholder, or a literal character the mode does not allow.
  static Result<Template> compile(std::string_view text, TemplateMode mode,
                                  std::string_view missing = "unknown");

  // Renders into `out` (cleared first; its capacity is reused, so a warm
  // buffer means no allocation).
  void render(const Event& event, const EventContext& context, std::string& out) const;

  const std::string& source() const { return source_; }
  TemplateMode mode() const { return mode_; }
  // No placeholders: every event renders the same name.
  bool isConstant() const { return fields_.empty(); }

 private:
  Template() = default;
  void appendValue(std::string_view value, std::string& out) const;
  void finish(std::string& out) const;

  // Text and placeholders alternate: literals_[i], fields_[i], literals_[i+1], ...
  std::vector<std::string> literals_;
  std::vector<FieldRef> fields_;
  std::string missing_;  // already sanitised for the mode
  std::string source_;
  TemplateMode mode_ = TemplateMode::kKey;
};

}  // namespace edge::gateway::pipeline
