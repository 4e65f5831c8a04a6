// Name templates: parsed once into literals and field references, rendered
// per event with the mode's sanitising rule (template.h, docs/pipeline.md).
#include "edge/gateway/pipeline/template.h"

namespace edge::gateway::pipeline {
namespace {

bool topicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool tableChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string showChar(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7f) {
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("byte 0x") + kHex[u >> 4] + kHex[u & 0xf];
  }
  return std::string("'") + c + "'";
}

}  // namespace

const char* templateModeName(TemplateMode mode) {
  switch (mode) {
    case TemplateMode::kTopic:
      return "topic";
    case TemplateMode::kTable:
      return "table";
    case TemplateMode::kKey:
      return "key";
  }
  return "unknown";
}

Result<Template> Template::compile(std::string_view text, TemplateMode mode,
                                   std::string_view missing) {
  const std::string shown = "template \"" + std::string(text) + "\"";
  auto fail = [&](size_t index, const std::string& what) {
    return makeError(ErrorCode::kInvalidArgument,
                     shown + ": " + what + " at position " + std::to_string(index + 1));
  };
  if (text.empty()) {
    return makeError(ErrorCode::kInvalidArgument,
                     "empty template; write a name such as edge.{tenant}.{kind}");
  }
  Template t;
  t.mode_ = mode;
  t.source_ = std::string(text);
  std::string literal;
  size_t literal_bytes = 0;
  auto addLiteral = [&](char c, size_t index) -> Result<void> {
    switch (mode) {
      case TemplateMode::kTopic:
        if (!topicChar(c)) {
          return fail(index, showChar(c) +
                                 " is not allowed in a Kafka topic name (use letters, digits, "
                                 "'.', '_' and '-')");
        }
        break;
      case TemplateMode::kTable:
        if (!tableChar(lower(c))) {
          return fail(
              index, showChar(c) + " is not allowed in a table name (use letters, digits and '_')");
        }
        c = lower(c);
        break;
      case TemplateMode::kKey:
        break;
    }
    literal.push_back(c);
    ++literal_bytes;
    return okResult();
  };

  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      EDGE_TRY(addLiteral('{', i));
      ++i;
      continue;
    }
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        EDGE_TRY(addLiteral('}', i));
        ++i;
        continue;
      }
      return fail(i, "'}' without a matching '{' (write '}}' for a literal brace)");
    }
    if (c != '{') {
      EDGE_TRY(addLiteral(c, i));
      continue;
    }
    size_t close = i + 1;
    while (close < text.size() && text[close] != '}') {
      if (text[close] == '{') {
        return fail(close,
                    "'{' inside the placeholder opened at position " + std::to_string(i + 1));
      }
      ++close;
    }
    if (close == text.size()) {
      return fail(i, "unclosed '{' (a placeholder is {name}; write '{{' for a literal brace)");
    }
    std::string_view name = text.substr(i + 1, close - i - 1);
    if (name.empty()) return fail(i, "empty placeholder {}");
    auto field = FieldRef::parse(name);
    if (!field) return fail(i, "placeholder {" + std::string(name) + "}: " + field.error().message);
    t.literals_.push_back(std::move(literal));
    literal.clear();
    t.fields_.push_back(std::move(*field));
    i = close;
  }
  t.literals_.push_back(std::move(literal));

  if (mode != TemplateMode::kKey) {
    const size_t limit = mode == TemplateMode::kTopic ? kMaxTopicLength : kMaxTableLength;
    if (literal_bytes > limit) {
      return makeError(ErrorCode::kInvalidArgument,
                       shown + ": the fixed text alone is " + std::to_string(literal_bytes) +
                           " bytes; a " + templateModeName(mode) + " name has at most " +
                           std::to_string(limit));
    }
    if (t.isConstant() && (t.literals_[0] == "." || t.literals_[0] == "..")) {
      return makeError(ErrorCode::kInvalidArgument,
                       shown + ": \".\" and \"..\" are not valid Kafka topic names");
    }
  }
  std::string sanitised_missing;
  t.appendValue(missing, sanitised_missing);
  if (sanitised_missing.empty() && mode != TemplateMode::kKey) {
    return makeError(ErrorCode::kInvalidArgument,
                     shown + ": the value for missing fields must not be empty (a " +
                         std::string(templateModeName(mode)) + " name cannot be empty)");
  }
  t.missing_ = std::move(sanitised_missing);
  return t;
}

void Template::appendValue(std::string_view value, std::string& out) const {
  switch (mode_) {
    case TemplateMode::kKey:
      out.append(value);
      return;
    case TemplateMode::kTopic:
    case TemplateMode::kTable:
      break;
  }
  // Grow once and write in place: a byte-by-byte push_back was most of the
  // cost of rendering.
  const size_t start = out.size();
  out.resize(start + value.size());
  char* dst = out.data() + start;
  if (mode_ == TemplateMode::kTopic) {
    for (char c : value) *dst++ = topicChar(c) ? c : '_';
  } else {
    for (char c : value) {
      char l = lower(c);
      *dst++ = tableChar(l) ? l : '_';
    }
  }
}

void Template::finish(std::string& out) const {
  switch (mode_) {
    case TemplateMode::kKey:
      return;
    case TemplateMode::kTopic:
      if (out.size() > kMaxTopicLength) out.resize(kMaxTopicLength);
      // Kafka refuses these two names; only a bare {field} can produce them.
      if (out == "." || out == "..") {
        for (char& c : out) c = '_';
      }
      return;
    case TemplateMode::kTable:
      if (!out.empty() && out.front() >= '0' && out.front() <= '9') out.insert(out.begin(), '_');
      if (out.size() > kMaxTableLength) out.resize(kMaxTableLength);
      return;
  }
}

void Template::render(const Event& event, const EventContext& context, std::string& out) const {
  out.clear();
  for (size_t i = 0; i < fields_.size(); ++i) {
    out.append(literals_[i]);
    TextBuffer buffer;
    std::string_view value;
    if (fields_[i].text(event, context, buffer, value) && !value.empty()) {
      appendValue(value, out);
    } else {
      out.append(missing_);
    }
  }
  out.append(literals_.back());
  finish(out);
}

}  // namespace edge::gateway::pipeline
