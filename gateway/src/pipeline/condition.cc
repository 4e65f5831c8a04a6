// Match conditions: YAML -> ConditionSpec (with file:line errors) -> a tree
// of evaluator nodes. Values are parsed and regexes compiled once, at compile
// time; evaluation only reads the event (regexes reuse their match data).
#include "edge/gateway/pipeline/condition.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace edge::gateway::pipeline {
namespace {

struct OpName {
  std::string_view name;
  MatchOp op;
};

constexpr OpName kOps[] = {
    {"equals", MatchOp::kEquals},
    {"not_equals", MatchOp::kNotEquals},
    {"prefix", MatchOp::kPrefix},
    {"suffix", MatchOp::kSuffix},
    {"contains", MatchOp::kContains},
    {"regex", MatchOp::kRegex},
    {"in", MatchOp::kIn},
    {"exists", MatchOp::kExists},
    {"gt", MatchOp::kGt},
    {"ge", MatchOp::kGe},
    {"lt", MatchOp::kLt},
    {"le", MatchOp::kLe},
};

constexpr std::string_view kConditionKeys[] = {
    "field",  "equals", "not_equals", "prefix", "suffix", "contains", "regex", "in",
    "exists", "gt",     "ge",         "lt",     "le",     "all",      "any",   "not",
};

constexpr int kMaxDepth = 32;
// Backtracking budget per evaluation, so a pathological pattern costs a
// bounded time (and counts as no match).
constexpr uint32_t kRegexMatchLimit = 1'000'000;

std::optional<MatchOp> opByName(std::string_view name) {
  for (const OpName& o : kOps) {
    if (o.name == name) return o.op;
  }
  return std::nullopt;
}

std::string opList() {
  std::string out;
  for (const OpName& o : kOps) {
    if (!out.empty()) out += ", ";
    out += o.name;
  }
  return out;
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  out += text.substr(0, 80);
  if (text.size() > 80) out += "...";
  out += '"';
  return out;
}

// A number as written in a value or an event string: an integer when the
// whole text is one, else a finite double; anything else is not a number.
struct Number {
  bool is_int = false;
  int64_t integer = 0;
  double number = 0;
};

bool parseNumber(std::string_view text, Number& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return false;
  const char* begin = text.data();
  const char* end = begin + text.size();
  int64_t i = 0;
  auto [p, ec] = std::from_chars(begin, end, i);
  if (ec == std::errc() && p == end) {
    out.is_int = true;
    out.integer = i;
    out.number = static_cast<double>(i);
    return true;
  }
  double d = 0;
  auto [q, ec2] = std::from_chars(begin, end, d);
  if (ec2 != std::errc() || q != end || !std::isfinite(d)) return false;
  out.is_int = false;
  out.number = d;
  return true;
}

std::optional<bool> parseBoolText(std::string_view text) {
  auto eq = [&](std::string_view word) {
    if (word.size() != text.size()) return false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(text[i])) != word[i]) return false;
    }
    return true;
  };
  for (std::string_view yes : {"true", "yes", "on"}) {
    if (eq(yes)) return true;
  }
  for (std::string_view no : {"false", "no", "off"}) {
    if (eq(no)) return false;
  }
  return std::nullopt;
}

// A configured value in every form an event value might be compared in.
struct Operand {
  std::string text;
  bool has_number = false;
  Number number;
  std::optional<bool> boolean;
};

Operand makeOperand(std::string_view text) {
  Operand o;
  o.text = std::string(text);
  o.has_number = parseNumber(text, o.number);
  o.boolean = parseBoolText(text);
  return o;
}

// The numeric value of an event value; strings are parsed (no match if not
// a number), bools and missing values have none.
bool numericValue(const ValueView& v, Number& out) {
  switch (v.type) {
    case ValueView::Type::kInt:
      out.is_int = true;
      out.integer = v.integer;
      out.number = static_cast<double>(v.integer);
      return true;
    case ValueView::Type::kDouble:
      out.is_int = false;
      out.number = v.number;
      return !std::isnan(v.number);
    case ValueView::Type::kString:
      return parseNumber(v.text, out);
    case ValueView::Type::kBool:
    case ValueView::Type::kMissing:
      break;
  }
  return false;
}

bool equalsOperand(const ValueView& v, const Operand& o) {
  switch (v.type) {
    case ValueView::Type::kMissing:
      return false;
    case ValueView::Type::kString:
      return v.text == o.text;
    case ValueView::Type::kInt:
      if (!o.has_number) return false;
      return o.number.is_int ? v.integer == o.number.integer
                             : static_cast<double>(v.integer) == o.number.number;
    case ValueView::Type::kDouble:
      return o.has_number && v.number == o.number.number;
    case ValueView::Type::kBool:
      return o.boolean.has_value() && *o.boolean == v.boolean;
  }
  return false;
}

// Severity values may be written as names (warning, warn, err, ...) or as
// their RFC 5424 numbers 0..7; both become the number.
Result<std::string> normaliseSeverity(std::string_view text) {
  if (auto s = parseSeverity(text)) return std::to_string(static_cast<int>(*s));
  Number n;
  if (parseNumber(text, n) && n.is_int && n.integer >= 0 && n.integer <= 7) {
    return std::to_string(n.integer);
  }
  return makeError(ErrorCode::kInvalidArgument,
                   "expected a severity name (emergency, alert, critical, error, warning, "
                   "notice, info, debug) or a number 0..7, got " +
                       quoted(text));
}

std::string pcre2Message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof(buf));
  if (n < 0) return "error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

}  // namespace

const char* matchOpName(MatchOp op) {
  for (const OpName& o : kOps) {
    if (o.op == op) return o.name.data();
  }
  return "unknown";
}

namespace detail {

class MatchNode {
 public:
  virtual ~MatchNode() = default;
  virtual bool eval(const Event& event, const EventContext& context) const = 0;
};

}  // namespace detail

namespace {

using detail::MatchNode;
using NodePtr = std::unique_ptr<MatchNode>;

class EqualsNode final : public MatchNode {
 public:
  EqualsNode(FieldRef field, Operand operand, bool negate)
      : field_(std::move(field)), operand_(std::move(operand)), negate_(negate) {}
  bool eval(const Event& event, const EventContext& context) const override {
    return equalsOperand(field_.value(event, context), operand_) != negate_;
  }

 private:
  FieldRef field_;
  Operand operand_;
  bool negate_;
};

class StringOpNode final : public MatchNode {
 public:
  StringOpNode(FieldRef field, MatchOp op, std::string needle)
      : field_(std::move(field)), op_(op), needle_(std::move(needle)) {}
  bool eval(const Event& event, const EventContext& context) const override {
    TextBuffer buffer;
    std::string_view text;
    if (!field_.text(event, context, buffer, text)) return false;
    switch (op_) {
      case MatchOp::kPrefix:
        return text.starts_with(needle_);
      case MatchOp::kSuffix:
        return text.ends_with(needle_);
      default:
        return text.find(needle_) != std::string_view::npos;
    }
  }

 private:
  FieldRef field_;
  MatchOp op_;
  std::string needle_;
};

class RegexNode final : public MatchNode {
 public:
  static Result<NodePtr> create(FieldRef field, const std::string& pattern) {
    std::unique_ptr<RegexNode> node(new RegexNode(std::move(field)));
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    auto compile = [&](uint32_t options) {
      return pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                           &error_code, &error_offset, nullptr);
    };
    // Byte semantics by default, so any value can match whatever its
    // encoding; a pattern starting with (*UTF) gets character semantics and
    // then invalid UTF-8 in a value must mean "no match", not an error.
    node->code_ = compile(0);
    uint32_t all_options = 0;
    if (node->code_ != nullptr &&
        pcre2_pattern_info(node->code_, PCRE2_INFO_ALLOPTIONS, &all_options) == 0 &&
        (all_options & PCRE2_UTF) != 0) {
      pcre2_code_free(node->code_);
      node->code_ = compile(PCRE2_MATCH_INVALID_UTF);
    }
    if (node->code_ == nullptr) {
      return makeError(ErrorCode::kInvalidArgument,
                       "regex " + quoted(pattern) + " is not a valid PCRE2 pattern: at offset " +
                           std::to_string(error_offset) + ": " + pcre2Message(error_code));
    }
    // The JIT is an optimisation; the interpreter gives the same answers
    // where it is unavailable (SELinux execmem, unsupported CPU).
    node->jit_ = pcre2_jit_compile(node->code_, PCRE2_JIT_COMPLETE) == 0;
    node->context_ = pcre2_match_context_create(nullptr);
    // Only "matched or not" is needed: one ovector pair is enough.
    node->data_ = pcre2_match_data_create(1, nullptr);
    if (node->context_ == nullptr || node->data_ == nullptr) {
      return makeError(ErrorCode::kInternal, "out of memory compiling regex " + quoted(pattern));
    }
    pcre2_set_match_limit(node->context_, kRegexMatchLimit);
    if (node->jit_) {
      node->jit_stack_ = pcre2_jit_stack_create(32 * 1024, 512 * 1024, nullptr);
      if (node->jit_stack_ != nullptr) {
        pcre2_jit_stack_assign(node->context_, nullptr, node->jit_stack_);
      }
    }
    return NodePtr(std::move(node));
  }

  ~RegexNode() override {
    if (jit_stack_ != nullptr) pcre2_jit_stack_free(jit_stack_);
    if (data_ != nullptr) pcre2_match_data_free(data_);
    if (context_ != nullptr) pcre2_match_context_free(context_);
    if (code_ != nullptr) pcre2_code_free(code_);
  }

  bool eval(const Event& event, const EventContext& context) const override {
    TextBuffer buffer;
    std::string_view text;
    if (!field_.text(event, context, buffer, text)) return false;
    auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), 0, 0, data_, context_)
                  : pcre2_match(code_, subject, text.size(), 0, 0, data_, context_);
    // Errors (match limit, JIT stack) count as no match.
    return rc >= 0;
  }

 private:
  explicit RegexNode(FieldRef field) : field_(std::move(field)) {}
  FieldRef field_;
  pcre2_code* code_ = nullptr;
  // Reused by every evaluation: the reason a Condition is per thread.
  pcre2_match_data* data_ = nullptr;
  pcre2_match_context* context_ = nullptr;
  pcre2_jit_stack* jit_stack_ = nullptr;
  bool jit_ = false;
};

// `in`: sorted lists searched by bisection, so long lists stay cheap.
class InNode final : public MatchNode {
 public:
  InNode(FieldRef field, const std::vector<std::string>& values) : field_(std::move(field)) {
    for (const std::string& value : values) {
      Operand o = makeOperand(value);
      texts_.push_back(o.text);
      if (o.has_number) {
        if (o.number.is_int) ints_.push_back(o.number.integer);
        numbers_.push_back(o.number.number);
      }
      if (o.boolean) (*o.boolean ? has_true_ : has_false_) = true;
    }
    std::sort(texts_.begin(), texts_.end());
    std::sort(ints_.begin(), ints_.end());
    std::sort(numbers_.begin(), numbers_.end());
  }

  bool eval(const Event& event, const EventContext& context) const override {
    ValueView v = field_.value(event, context);
    switch (v.type) {
      case ValueView::Type::kMissing:
        return false;
      case ValueView::Type::kString:
        return std::binary_search(texts_.begin(), texts_.end(), v.text, std::less<>());
      case ValueView::Type::kInt:
        return std::binary_search(ints_.begin(), ints_.end(), v.integer) ||
               std::binary_search(numbers_.begin(), numbers_.end(), static_cast<double>(v.integer));
      case ValueView::Type::kDouble:
        return std::binary_search(numbers_.begin(), numbers_.end(), v.number);
      case ValueView::Type::kBool:
        return v.boolean ? has_true_ : has_false_;
    }
    return false;
  }

 private:
  FieldRef field_;
  std::vector<std::string> texts_;
  std::vector<int64_t> ints_;
  std::vector<double> numbers_;
  bool has_true_ = false;
  bool has_false_ = false;
};

class ExistsNode final : public MatchNode {
 public:
  ExistsNode(FieldRef field, bool want) : field_(std::move(field)), want_(want) {}
  bool eval(const Event& event, const EventContext& context) const override {
    return (field_.value(event, context).type != ValueView::Type::kMissing) == want_;
  }

 private:
  FieldRef field_;
  bool want_;
};

class CompareNode final : public MatchNode {
 public:
  CompareNode(FieldRef field, MatchOp op, Number operand)
      : field_(std::move(field)), op_(op), operand_(operand) {}
  bool eval(const Event& event, const EventContext& context) const override {
    Number value;
    if (!numericValue(field_.value(event, context), value)) return false;
    // Integers compare exactly; anything else as doubles (NaN never matches).
    if (value.is_int && operand_.is_int) return test(value.integer, operand_.integer);
    return test(value.number, operand_.number);
  }

 private:
  template <typename T>
  bool test(T a, T b) const {
    switch (op_) {
      case MatchOp::kGt:
        return a > b;
      case MatchOp::kGe:
        return a >= b;
      case MatchOp::kLt:
        return a < b;
      default:
        return a <= b;
    }
  }
  FieldRef field_;
  MatchOp op_;
  Number operand_;
};

class AllNode final : public MatchNode {
 public:
  explicit AllNode(std::vector<NodePtr> children) : children_(std::move(children)) {}
  bool eval(const Event& event, const EventContext& context) const override {
    for (const NodePtr& child : children_) {
      if (!child->eval(event, context)) return false;
    }
    return true;
  }

 private:
  std::vector<NodePtr> children_;
};

class AnyNode final : public MatchNode {
 public:
  explicit AnyNode(std::vector<NodePtr> children) : children_(std::move(children)) {}
  bool eval(const Event& event, const EventContext& context) const override {
    for (const NodePtr& child : children_) {
      if (child->eval(event, context)) return true;
    }
    return false;
  }

 private:
  std::vector<NodePtr> children_;
};

class NotNode final : public MatchNode {
 public:
  explicit NotNode(NodePtr child) : child_(std::move(child)) {}
  bool eval(const Event& event, const EventContext& context) const override {
    return !child_->eval(event, context);
  }

 private:
  NodePtr child_;
};

bool isNumericOp(MatchOp op) {
  return op == MatchOp::kGt || op == MatchOp::kGe || op == MatchOp::kLt || op == MatchOp::kLe;
}

// Compiles one leaf; errors carry no location (the caller adds it).
Result<NodePtr> compileLeaf(const ConditionSpec& spec) {
  auto field = FieldRef::parse(spec.field);
  if (!field) return field.error();
  if (spec.op == MatchOp::kIn) {
    if (spec.values.empty()) {
      return makeError(ErrorCode::kInvalidArgument,
                       "needs a non-empty list of values, e.g. in: [root, admin]");
    }
  } else if (spec.values.size() != 1) {
    return makeError(ErrorCode::kInvalidArgument, "needs exactly one value");
  }

  std::vector<std::string> values = spec.values;
  // Severity compares by number whatever way it was written; prefix, regex
  // and the other string ops see its name.
  const bool severity_by_number = field->id() == FieldId::kSeverity &&
                                  (spec.op == MatchOp::kEquals || spec.op == MatchOp::kNotEquals ||
                                   spec.op == MatchOp::kIn || isNumericOp(spec.op));
  if (severity_by_number) {
    for (std::string& value : values) {
      auto normalised = normaliseSeverity(value);
      if (!normalised) return normalised.error();
      value = *normalised;
    }
  }

  switch (spec.op) {
    case MatchOp::kEquals:
    case MatchOp::kNotEquals:
      return NodePtr(std::make_unique<EqualsNode>(std::move(*field), makeOperand(values[0]),
                                                  spec.op == MatchOp::kNotEquals));
    case MatchOp::kPrefix:
    case MatchOp::kSuffix:
    case MatchOp::kContains:
      return NodePtr(std::make_unique<StringOpNode>(std::move(*field), spec.op, values[0]));
    case MatchOp::kRegex:
      return RegexNode::create(std::move(*field), values[0]);
    case MatchOp::kIn:
      return NodePtr(std::make_unique<InNode>(std::move(*field), values));
    case MatchOp::kExists: {
      auto want = parseBoolText(values[0]);
      if (!want) {
        return makeError(ErrorCode::kInvalidArgument,
                         "expected true or false, got " + quoted(values[0]));
      }
      return NodePtr(std::make_unique<ExistsNode>(std::move(*field), *want));
    }
    case MatchOp::kGt:
    case MatchOp::kGe:
    case MatchOp::kLt:
    case MatchOp::kLe: {
      Number number;
      if (!parseNumber(values[0], number)) {
        return makeError(
            ErrorCode::kInvalidArgument,
            "expected a number, got " + quoted(values[0]) + " (gt, ge, lt and le compare numbers)");
      }
      return NodePtr(std::make_unique<CompareNode>(std::move(*field), spec.op, number));
    }
  }
  return makeError(ErrorCode::kInternal, "unknown match operator");
}

Result<NodePtr> compileNode(const ConditionSpec& spec, int depth) {
  auto located = [&](const Error& error) {
    std::string where = spec.path.empty() ? std::string("condition") : spec.path;
    if (spec.line > 0) where += " (line " + std::to_string(spec.line) + ")";
    return makeError(error.code, where + ": " + error.message);
  };
  if (depth > kMaxDepth) {
    return located(
        makeError(ErrorCode::kInvalidArgument,
                  "conditions nested more than " + std::to_string(kMaxDepth) + " levels deep"));
  }
  switch (spec.kind) {
    case ConditionSpec::Kind::kLeaf: {
      auto node = compileLeaf(spec);
      if (!node) return located(node.error());
      return node;
    }
    case ConditionSpec::Kind::kAll:
    case ConditionSpec::Kind::kAny: {
      if (spec.children.empty()) {
        return located(makeError(ErrorCode::kInvalidArgument, "needs at least one condition"));
      }
      std::vector<NodePtr> children;
      for (const ConditionSpec& child : spec.children) {
        auto node = compileNode(child, depth + 1);
        if (!node) return node.error();
        children.push_back(std::move(*node));
      }
      if (children.size() == 1) return std::move(children.front());
      if (spec.kind == ConditionSpec::Kind::kAll) {
        return NodePtr(std::make_unique<AllNode>(std::move(children)));
      }
      return NodePtr(std::make_unique<AnyNode>(std::move(children)));
    }
    case ConditionSpec::Kind::kNot: {
      if (spec.children.size() != 1) {
        return located(makeError(ErrorCode::kInvalidArgument, "not: needs exactly one condition"));
      }
      auto node = compileNode(spec.children.front(), depth + 1);
      if (!node) return node.error();
      return NodePtr(std::make_unique<NotNode>(std::move(*node)));
    }
  }
  return makeError(ErrorCode::kInternal, "unknown condition kind");
}

// ---------------------------------------------------------------------------
// Reading YAML

const char* kConditionShape =
    "expected a condition: {field: <name>, <op>: <value>} or one of all: [...], any: [...], "
    "not: {...}";

std::string describeNode(const ConfigNode& node) {
  if (node.isSequence()) return "a list";
  if (node.isScalar()) return quoted(node.asString());
  return "nothing";
}

bool readInto(const ConfigNode& node, int depth, ConditionSpec& out);

bool readLeafOps(const ConfigNode& node, const std::vector<std::string>& op_keys,
                 ConditionSpec& out) {
  bool ok = true;
  bool field_ok = true;
  ConfigNode field_node = node["field"];
  std::string field_name;
  if (!field_node.isScalar()) {
    node.addError("field", "expected a field name such as kind, severity or fields.user");
    field_ok = false;
  } else {
    field_name = field_node.asString();
    auto parsed = FieldRef::parse(field_name);
    if (!parsed) {
      node.addError("field", parsed.error().message);
      field_ok = false;
    }
  }
  if (op_keys.empty()) {
    node.addError("a condition on field " + quoted(field_name) + " needs an operator: one of " +
                  opList());
    return false;
  }
  std::vector<ConditionSpec> leaves;
  for (const std::string& key : op_keys) {
    ConditionSpec leaf;
    leaf.kind = ConditionSpec::Kind::kLeaf;
    leaf.field = field_name;
    leaf.op = *opByName(key);
    ConfigNode value = node[key];
    leaf.path = value.path();
    leaf.line = value.line();
    if (leaf.op == MatchOp::kIn) {
      if (!value.isSequence()) {
        node.addError(
            key, "expected a list of values, e.g. in: [root, admin], got " + describeNode(value));
        ok = false;
        continue;
      }
      for (const ConfigNode& element : value.elements()) {
        if (!element.isScalar()) {
          element.addError("expected a value (a string or a number)");
          ok = false;
          continue;
        }
        leaf.values.push_back(element.asString());
      }
    } else if (!value.isScalar()) {
      std::string message = "expected a value (a string or a number), got ";
      message += value.isMap() ? "a map" : describeNode(value);
      if (!value.isMap() && !value.isSequence()) {
        message += "; to test that a field is absent write exists: false";
      }
      node.addError(key, message);
      ok = false;
      continue;
    } else {
      leaf.values.push_back(value.asString());
    }
    if (field_ok) {
      // Validate now (numbers, severities, regex syntax) so the error points
      // at this line instead of surfacing when a worker compiles the route.
      auto compiled = compileLeaf(leaf);
      if (!compiled) {
        node.addError(key, compiled.error().message);
        ok = false;
        continue;
      }
    }
    leaves.push_back(std::move(leaf));
  }
  if (!ok || !field_ok) return false;
  if (leaves.size() == 1) {
    out = std::move(leaves.front());
  } else {
    out.kind = ConditionSpec::Kind::kAll;
    out.children = std::move(leaves);
  }
  return true;
}

bool readInto(const ConfigNode& node, int depth, ConditionSpec& out) {
  out.path = node.path();
  out.line = node.line();
  if (depth > kMaxDepth) {
    node.addError("conditions nested more than " + std::to_string(kMaxDepth) + " levels deep");
    return false;
  }
  if (!node.isMap()) {
    node.addError(std::string(kConditionShape) + ", got " + describeNode(node));
    return false;
  }
  bool ok = true;
  std::vector<std::string> op_keys;
  std::vector<std::string> combinators;
  bool has_field = false;
  bool has_unknown = false;
  for (const std::string& key : node.keys()) {
    if (key == "field") {
      has_field = true;
    } else if (opByName(key)) {
      op_keys.push_back(key);
    } else if (key == "all" || key == "any" || key == "not") {
      combinators.push_back(key);
    } else {
      has_unknown = true;
    }
  }
  if (has_unknown) {
    node.rejectUnknownKeys(std::span<const std::string_view>(kConditionKeys));
    ok = false;
  }
  if (has_field || (!op_keys.empty() && combinators.empty())) {
    for (const std::string& c : combinators) {
      node.addError(
          c, c + ": cannot share a map with field:; put the field test inside the " + c + " list");
      ok = false;
    }
    if (!has_field) {
      node.addError(op_keys.front(), op_keys.front() +
                                         ": needs field: naming what to test, e.g. {field: "
                                         "kind, " +
                                         op_keys.front() + ": ...}");
      return false;
    }
    return readLeafOps(node, op_keys, out) && ok;
  }
  if (combinators.empty()) {
    if (!has_unknown) node.addError(kConditionShape);
    return false;
  }
  if (combinators.size() > 1 || !op_keys.empty()) {
    node.addError("use one of all, any or not per map (nest them for more), not " +
                  std::to_string(combinators.size() + op_keys.size()) + " keys");
    return false;
  }
  const std::string& key = combinators.front();
  ConfigNode child = node[key];
  if (key == "not") {
    out.kind = ConditionSpec::Kind::kNot;
    out.children.resize(1);
    return readInto(child, depth + 1, out.children.front()) && ok;
  }
  out.kind = key == "all" ? ConditionSpec::Kind::kAll : ConditionSpec::Kind::kAny;
  if (!child.isSequence()) {
    node.addError(key, key + ": expected a list of conditions, got " +
                           (child.isMap() ? std::string("a map") : describeNode(child)));
    return false;
  }
  std::vector<ConfigNode> elements = child.elements();
  if (elements.empty()) {
    node.addError(key, key + ": needs at least one condition");
    return false;
  }
  for (const ConfigNode& element : elements) {
    ConditionSpec spec;
    if (!readInto(element, depth + 1, spec)) {
      ok = false;
      continue;
    }
    out.children.push_back(std::move(spec));
  }
  return ok;
}

}  // namespace

std::optional<ConditionSpec> readCondition(const ConfigNode& node) {
  ConditionSpec spec;
  if (!readInto(node, 0, spec)) return std::nullopt;
  return spec;
}

Condition::Condition(std::unique_ptr<detail::MatchNode> root) : root_(std::move(root)) {}
Condition::Condition(Condition&&) noexcept = default;
Condition& Condition::operator=(Condition&&) noexcept = default;
Condition::~Condition() = default;

Result<Condition> Condition::compile(const ConditionSpec& spec) {
  auto root = compileNode(spec, 0);
  if (!root) return root.error();
  return Condition(std::move(*root));
}

bool Condition::matches(const Event& event, const EventContext& context) const {
  return root_->eval(event, context);
}

}  // namespace edge::gateway::pipeline
