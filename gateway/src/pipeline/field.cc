// Field names and allocation-free access to event values.
#include "edge/gateway/pipeline/field.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

namespace edge::gateway::pipeline {
namespace {

struct BuiltIn {
  std::string_view name;
  FieldId id;
};

constexpr BuiltIn kBuiltIns[] = {
    {"kind", FieldId::kKind},         {"source", FieldId::kSource}, {"host", FieldId::kHost},
    {"severity", FieldId::kSeverity}, {"tenant", FieldId::kTenant}, {"agent_id", FieldId::kAgentId},
    {"raw", FieldId::kRaw},           {"ts", FieldId::kTs},         {"seq", FieldId::kSeq},
};

constexpr std::string_view kFieldsPrefix = "fields.";

// Optimal string alignment distance: Levenshtein plus a swap of two
// neighbouring letters ("hsot") counted as one typo.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string knownNames() {
  std::string out;
  for (const BuiltIn& b : kBuiltIns) {
    out += b.name;
    out += ", ";
  }
  out += "fields.<name>";
  return out;
}

ValueView stringValue(std::string_view text) {
  ValueView v;
  if (!text.empty()) {
    v.type = ValueView::Type::kString;
    v.text = text;
  }
  return v;
}

ValueView intValue(int64_t value) {
  ValueView v;
  v.type = ValueView::Type::kInt;
  v.integer = value;
  return v;
}

}  // namespace

Result<FieldRef> FieldRef::parse(std::string_view name) {
  for (const BuiltIn& b : kBuiltIns) {
    if (b.name == name) return FieldRef(b.id, std::string(name), {});
  }
  if (name.starts_with(kFieldsPrefix)) {
    std::string_view key = name.substr(kFieldsPrefix.size());
    if (key.empty()) {
      return makeError(ErrorCode::kInvalidArgument,
                       "field name \"fields.\" has no field key; write fields.<name>, e.g. "
                       "fields.user");
    }
    return FieldRef(FieldId::kEventField, std::string(name), std::string(key));
  }
  std::string message = "unknown field \"" + std::string(name) + "\"";
  std::string_view best;
  size_t best_distance = name.size();
  size_t tolerance = 1;
  for (const BuiltIn& b : kBuiltIns) {
    size_t d = editDistance(name, b.name);
    if (d < best_distance) {
      best_distance = d;
      best = b.name;
      // Short names are close to everything: one typo per three letters.
      tolerance = std::max<size_t>(1, std::max(name.size(), b.name.size()) / 3);
    }
  }
  if (name.empty()) {
    message = "empty field name";
  } else if (!best.empty() && best_distance <= tolerance) {
    message += "; did you mean '" + std::string(best) + "'? (an event field is written fields." +
               std::string(name) + ")";
  } else {
    message += "; an event field is written fields." + std::string(name);
  }
  message += "; known names are " + knownNames();
  return makeError(ErrorCode::kInvalidArgument, message);
}

// Events of one source carry their fields in the same order, so the position
// where the key was last found is tried first; routing tests the same few
// keys on every event and a scan of the whole list was its main cost.
const FieldValue* FieldRef::find(const Event& event) const {
  const std::vector<Field>& fields = event.fields;
  auto same = [this](const std::string& key) {
    return key.size() == key_.size() && key.front() == key_.front() &&
           std::char_traits<char>::compare(key.data(), key_.data(), key.size()) == 0;
  };
  if (hint_ < fields.size() && same(fields[hint_].key)) return &fields[hint_].value;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (same(fields[i].key)) {
      hint_ = i;
      return &fields[i].value;
    }
  }
  return nullptr;
}

ValueView FieldRef::value(const Event& event, const EventContext& context) const {
  switch (id_) {
    case FieldId::kKind:
      return stringValue(event.kind);
    case FieldId::kSource:
      return stringValue(event.source);
    case FieldId::kHost:
      return stringValue(event.host);
    case FieldId::kTenant:
      return stringValue(event.tenant);
    case FieldId::kAgentId:
      return stringValue(context.agent_id);
    case FieldId::kRaw:
      return stringValue(event.raw);
    case FieldId::kSeverity:
      return intValue(static_cast<int64_t>(event.severity));
    case FieldId::kTs:
      return intValue(event.ts_ns);
    case FieldId::kSeq:
      // Sequence numbers start at 1 and never get near 2^63.
      return intValue(static_cast<int64_t>(event.seq));
    case FieldId::kEventField:
      break;
  }
  const FieldValue* field = find(event);
  ValueView v;
  if (field == nullptr) return v;
  if (const auto* s = std::get_if<std::string>(field)) {
    v.type = ValueView::Type::kString;
    v.text = *s;
  } else if (const auto* i = std::get_if<int64_t>(field)) {
    v.type = ValueView::Type::kInt;
    v.integer = *i;
  } else if (const auto* d = std::get_if<double>(field)) {
    v.type = ValueView::Type::kDouble;
    v.number = *d;
  } else if (const auto* b = std::get_if<bool>(field)) {
    v.type = ValueView::Type::kBool;
    v.boolean = *b;
  }
  return v;
}

bool valueText(const ValueView& value, TextBuffer& buffer, std::string_view& out) {
  switch (value.type) {
    case ValueView::Type::kMissing:
      return false;
    case ValueView::Type::kString:
      out = value.text;
      return true;
    case ValueView::Type::kBool:
      out = value.boolean ? "true" : "false";
      return true;
    case ValueView::Type::kInt: {
      auto [end, ec] = std::to_chars(buffer.data, buffer.data + sizeof(buffer.data), value.integer);
      out = std::string_view(buffer.data,
                             ec == std::errc() ? static_cast<size_t>(end - buffer.data) : 0);
      return true;
    }
    case ValueView::Type::kDouble: {
      auto [end, ec] = std::to_chars(buffer.data, buffer.data + sizeof(buffer.data), value.number);
      out = std::string_view(buffer.data,
                             ec == std::errc() ? static_cast<size_t>(end - buffer.data) : 0);
      return true;
    }
  }
  return false;
}

bool FieldRef::text(const Event& event, const EventContext& context, TextBuffer& buffer,
                    std::string_view& out) const {
  if (id_ == FieldId::kSeverity) {
    out = severityName(event.severity);
    return true;
  }
  return valueText(value(event, context), buffer, out);
}

}  // namespace edge::gateway::pipeline
