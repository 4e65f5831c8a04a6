// YAML configuration reading: typed getters that record every mistake with
// file, line and key path instead of stopping at the first one.
#include "edge/common/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

namespace edge {
namespace {

// Values are quoted JSON-style so that whitespace and control characters in a
// bad value are visible in the error message; long values are cut.
std::string quote(std::string_view text) {
  constexpr size_t kMaxShown = 80;
  std::string shown(text.substr(0, kMaxShown));
  std::string out =
      nlohmann::json(shown).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxShown) out.insert(out.size() - 1, "...");
  return out;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

int markLine(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return 0;
  return mark.line + 1;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool allDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Optimal string alignment distance: like Levenshtein, but a swap of two
// neighbouring letters ("lveel") counts as one typo.
size_t editDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string childPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path = parent;
  path += '.';
  path += key;
  return path;
}

// yaml-cpp does not complain about repeated keys and silently keeps one, so
// a second "level:" would hide the first. Walk the tree once at load.
void findDuplicateKeys(const YAML::Node& node, const std::string& path, ConfigDocument& doc) {
  if (node.IsMap()) {
    std::vector<std::pair<std::string, int>> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string& key = it->first.Scalar();
      auto prev =
          std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == key; });
      if (prev != seen.end()) {
        doc.recordError(markLine(it->first), childPath(path, key),
                        "duplicate key (first set at line " + std::to_string(prev->second) +
                            "); remove one of them");
      } else {
        seen.emplace_back(key, markLine(it->first));
      }
      findDuplicateKeys(it->second, childPath(path, key), doc);
    }
  } else if (node.IsSequence()) {
    size_t index = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++index) {
      findDuplicateKeys(*it, path + "[" + std::to_string(index) + "]", doc);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Parsers

Result<uint64_t> parseByteSize(std::string_view text) {
  std::string_view value = trim(text);
  size_t digits = 0;
  while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
  if (digits == 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "expected a byte size such as 1048576, 64KiB or 10MiB, got " + quote(text));
  }
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + digits, number);
  if (ec == std::errc::result_out_of_range) {
    return makeError(ErrorCode::kInvalidArgument,
                     "expected a byte size of at most 16EiB, got " + quote(text));
  }
  std::string_view unit = trim(value.substr(digits));
  struct Unit {
    std::string_view name;
    uint64_t multiplier;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1000ULL},
      {"MB", 1000ULL * 1000},
      {"GB", 1000ULL * 1000 * 1000},
      {"TB", 1000ULL * 1000 * 1000 * 1000},
      {"KiB", 1ULL << 10},
      {"MiB", 1ULL << 20},
      {"GiB", 1ULL << 30},
      {"TiB", 1ULL << 40},
  };
  for (const Unit& u : kUnits) {
    if (!equalsIgnoreCase(unit, u.name)) continue;
    uint64_t result = 0;
    if (__builtin_mul_overflow(number, u.multiplier, &result)) {
      return makeError(ErrorCode::kInvalidArgument,
                       "expected a byte size of at most 16EiB, got " + quote(text));
    }
    return result;
  }
  return makeError(
      ErrorCode::kInvalidArgument,
      "expected a byte size such as 1048576, 64KiB or 10MiB (units B, KB, MB, GB, TB, KiB, MiB, "
      "GiB, TiB), got " +
          quote(text));
}

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
  std::string_view value = trim(text);
  size_t end = 0;
  while (end < value.size() && ((value[end] >= '0' && value[end] <= '9') || value[end] == '.'))
    ++end;
  std::string_view number = value.substr(0, end);
  std::string_view unit = trim(value.substr(end));
  const std::string expected =
      "expected a duration such as 250ms, 5s, 2m or 1h, got " + quote(text);
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      std::count(number.begin(), number.end(), '.') > 1) {
    return makeError(ErrorCode::kInvalidArgument, expected);
  }
  int64_t unit_ms = 0;
  if (unit.empty()) {
    // A bare number is milliseconds; fractions of a millisecond are not meaningful.
    if (!allDigits(number)) return makeError(ErrorCode::kInvalidArgument, expected);
    unit_ms = 1;
  } else if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = 60 * 1000;
  } else if (unit == "h") {
    unit_ms = 3600 * 1000;
  } else if (unit == "d") {
    unit_ms = 24LL * 3600 * 1000;
  } else {
    return makeError(ErrorCode::kInvalidArgument, expected);
  }
  // Integer arithmetic on the two halves keeps "0.001s" exactly 1ms.
  size_t dot = number.find('.');
  std::string_view whole = number.substr(0, dot);
  std::string_view frac =
      dot == std::string_view::npos ? std::string_view() : number.substr(dot + 1);
  int64_t whole_value = 0;
  auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), whole_value);
  (void)p;
  int64_t ms = 0;
  if (ec == std::errc::result_out_of_range || __builtin_mul_overflow(whole_value, unit_ms, &ms)) {
    return makeError(ErrorCode::kInvalidArgument,
                     "expected a shorter duration, got " + quote(text));
  }
  if (!frac.empty()) {
    // frac_value < 1e10 and unit_ms < 1e8, so the product fits in int64.
    std::string_view digits = frac.substr(0, 10);
    int64_t frac_value = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), frac_value);
    int64_t scale = 1;
    for (size_t i = 0; i < digits.size(); ++i) scale *= 10;
    int64_t extra = frac_value * unit_ms / scale;
    if (__builtin_add_overflow(ms, extra, &ms)) {
      return makeError(ErrorCode::kInvalidArgument,
                       "expected a shorter duration, got " + quote(text));
    }
  }
  return std::chrono::milliseconds(ms);
}

Result<HostPort> parseHostPort(std::string_view text) {
  std::string_view value = trim(text);
  const std::string expected = "expected host:port, got " + quote(text);
  HostPort result;
  std::string_view port_text;
  if (!value.empty() && value.front() == '[') {
    size_t close = value.find(']');
    if (close == std::string_view::npos || close + 1 >= value.size() || value[close + 1] != ':') {
      return makeError(ErrorCode::kInvalidArgument, expected);
    }
    result.host = std::string(value.substr(1, close - 1));
    port_text = value.substr(close + 2);
  } else {
    size_t colon = value.rfind(':');
    if (colon == std::string_view::npos) return makeError(ErrorCode::kInvalidArgument, expected);
    result.host = std::string(value.substr(0, colon));
    if (result.host.find(':') != std::string::npos) {
      return makeError(
          ErrorCode::kInvalidArgument,
          "expected host:port with an IPv6 host in brackets, as in [::1]:7400, got " + quote(text));
    }
    port_text = value.substr(colon + 1);
  }
  if (result.host.empty()) return makeError(ErrorCode::kInvalidArgument, expected);
  uint32_t port = 0;
  if (!allDigits(port_text) || port_text.size() > 5 ||
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port).ec !=
          std::errc() ||
      port < 1 || port > 65535) {
    return makeError(ErrorCode::kInvalidArgument,
                     "expected host:port with a port from 1 to 65535, got " + quote(text));
  }
  result.port = static_cast<uint16_t>(port);
  return result;
}

// ---------------------------------------------------------------------------
// ConfigNode

ConfigNode::ConfigNode(ConfigDocument* doc, std::shared_ptr<YAML::Node> node, std::string path,
                       int parent_line)
    : doc_(doc), node_(std::move(node)), path_(std::move(path)), parent_line_(parent_line) {}

bool ConfigNode::exists() const { return node_ != nullptr; }
bool ConfigNode::isMap() const { return node_ && node_->IsMap(); }
bool ConfigNode::isSequence() const { return node_ && node_->IsSequence(); }
bool ConfigNode::isScalar() const { return node_ && node_->IsScalar(); }

int ConfigNode::line() const {
  if (!node_) return 0;
  // yaml-cpp marks an empty value ("key:" then a newline) at the next token,
  // often on a later line; the key's own line is where a person looks.
  if (node_->IsNull() && parent_line_ > 0) return parent_line_;
  return markLine(*node_);
}

// Where an error about this node points: its own line, or for a missing or
// position-less node (an empty value), the nearest enclosing line.
static int errorLine(const ConfigNode& node, int parent_line) {
  int line = node.line();
  return line > 0 ? line : parent_line;
}

ConfigNode ConfigNode::operator[](std::string_view key) const {
  int here = errorLine(*this, parent_line_);
  std::string path = childPath(path_, key);
  if (!node_ || node_->IsNull()) return ConfigNode(doc_, nullptr, std::move(path), here);
  if (!node_->IsMap()) {
    // Recorded once per node thanks to de-duplication in recordError.
    doc_->recordError(here, path_, "expected a map, got " + describe(*node_));
    return ConfigNode(doc_, nullptr, std::move(path), here);
  }
  // Iterate instead of yaml-cpp's operator[], which throws on odd nodes and
  // would create keys on a non-const node.
  for (auto it = node_->begin(); it != node_->end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) {
      return ConfigNode(doc_, std::make_shared<YAML::Node>(it->second), std::move(path),
                        markLine(it->first) > 0 ? markLine(it->first) : here);
    }
  }
  return ConfigNode(doc_, nullptr, std::move(path), here);
}

std::vector<ConfigNode> ConfigNode::elements() const {
  std::vector<ConfigNode> out;
  if (!node_ || node_->IsNull()) return out;
  int here = errorLine(*this, parent_line_);
  if (!node_->IsSequence()) {
    doc_->recordError(here, path_, "expected a list, got " + describe(*node_));
    return out;
  }
  size_t index = 0;
  for (auto it = node_->begin(); it != node_->end(); ++it, ++index) {
    out.push_back(ConfigNode(doc_, std::make_shared<YAML::Node>(*it),
                             path_ + "[" + std::to_string(index) + "]", here));
  }
  return out;
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (!node_ || !node_->IsMap()) return out;
  for (auto it = node_->begin(); it != node_->end(); ++it) {
    if (it->first.IsScalar()) out.push_back(it->first.Scalar());
  }
  return out;
}

std::string ConfigNode::asString() const {
  if (!node_ || node_->IsNull()) return {};
  if (!node_->IsScalar()) {
    doc_->recordError(errorLine(*this, parent_line_), path_,
                      "expected a string, got " + describe(*node_));
    return {};
  }
  return node_->Scalar();
}

namespace {

// The text of a child value for the scalar getters: absent (missing or null,
// use the default), present but not a scalar (error recorded), or a scalar.
struct ScalarLookup {
  bool present = false;  // false: missing or null, use the default
  bool ok = false;       // present and a scalar
  std::string text;
};

}  // namespace

static ScalarLookup lookupScalar(const ConfigNode& child, const YAML::Node* node,
                                 ConfigDocument* doc, int line, std::string_view what) {
  ScalarLookup result;
  if (!node || node->IsNull()) return result;
  result.present = true;
  if (!node->IsScalar()) {
    doc->recordError(line, child.path(),
                     "expected " + std::string(what) + ", got " + describe(*node));
    return result;
  }
  result.ok = true;
  result.text = node->Scalar();
  return result;
}

std::string ConfigNode::getString(std::string_view key, std::string_view def) const {
  ConfigNode child = (*this)[key];
  ScalarLookup scalar = lookupScalar(child, child.node_.get(), doc_,
                                     errorLine(child, child.parent_line_), "a string");
  if (!scalar.present || !scalar.ok) return std::string(def);
  return scalar.text;
}

bool ConfigNode::getBool(std::string_view key, bool def) const {
  ConfigNode child = (*this)[key];
  int line = errorLine(child, child.parent_line_);
  ScalarLookup scalar = lookupScalar(child, child.node_.get(), doc_, line, "true or false");
  if (!scalar.present || !scalar.ok) return def;
  for (std::string_view yes : {"true", "yes", "on"}) {
    if (equalsIgnoreCase(scalar.text, yes)) return true;
  }
  for (std::string_view no : {"false", "no", "off"}) {
    if (equalsIgnoreCase(scalar.text, no)) return false;
  }
  doc_->recordError(line, child.path(), "expected true or false, got " + quote(scalar.text));
  return def;
}

int64_t ConfigNode::getInt(std::string_view key, int64_t def, int64_t min, int64_t max) const {
  ConfigNode child = (*this)[key];
  int line = errorLine(child, child.parent_line_);
  const std::string what = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  ScalarLookup scalar = lookupScalar(child, child.node_.get(), doc_, line, what);
  if (!scalar.present || !scalar.ok) return def;
  std::string_view text = trim(scalar.text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    doc_->recordError(line, child.path(), "expected " + what + ", got " + quote(scalar.text));
    return def;
  }
  return value;
}

double ConfigNode::getDouble(std::string_view key, double def) const {
  ConfigNode child = (*this)[key];
  int line = errorLine(child, child.parent_line_);
  ScalarLookup scalar = lookupScalar(child, child.node_.get(), doc_, line, "a number");
  if (!scalar.present || !scalar.ok) return def;
  std::string_view text = trim(scalar.text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !std::isfinite(value)) {
    doc_->recordError(line, child.path(), "expected a number, got " + quote(scalar.text));
    return def;
  }
  return value;
}

std::vector<std::string> ConfigNode::getStringList(std::string_view key,
                                                   std::vector<std::string> def) const {
  ConfigNode child = (*this)[key];
  if (!child.node_ || child.node_->IsNull()) return def;
  int line = errorLine(child, child.parent_line_);
  if (child.node_->IsScalar()) return {child.node_->Scalar()};
  if (!child.node_->IsSequence()) {
    doc_->recordError(line, child.path(),
                      "expected a list of strings, got " + describe(*child.node_));
    return def;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const ConfigNode& element : child.elements()) {
    if (!element.node_->IsScalar()) {
      doc_->recordError(errorLine(element, line), element.path(),
                        "expected a string, got " + describe(*element.node_));
      ok = false;
      continue;
    }
    out.push_back(element.node_->Scalar());
  }
  return ok ? out : def;
}

uint64_t ConfigNode::getBytes(std::string_view key, uint64_t def) const {
  ConfigNode child = (*this)[key];
  int line = errorLine(child, child.parent_line_);
  const char* what = "a byte size such as 1048576, 64KiB or 10MiB";
  ScalarLookup scalar = lookupScalar(child, child.node_.get(), doc_, line, what);
  if (!scalar.present || !scalar.ok) return def;
  auto parsed = parseByteSize(scalar.text);
  if (!parsed) {
    doc_->recordError(line, child.path(), parsed.error().message);
    return def;
  }
  return *parsed;
}

std::chrono::milliseconds ConfigNode::getDuration(std::string_view key,
                                                  std::chrono::milliseconds def) const {
  ConfigNode child = (*this)[key];
  int line = errorLine(child, child.parent_line_);
  ScalarLookup scalar =
      lookupScalar(child, child.node_.get(), doc_, line, "a duration such as 250ms, 5s, 2m or 1h");
  if (!scalar.present || !scalar.ok) return def;
  auto parsed = parseDuration(scalar.text);
  if (!parsed) {
    doc_->recordError(line, child.path(), parsed.error().message);
    return def;
  }
  return *parsed;
}

std::string ConfigNode::getEnum(std::string_view key, std::string_view def,
                                std::initializer_list<std::string_view> allowed) const {
  std::string what = "one of ";
  bool first = true;
  for (std::string_view option : allowed) {
    if (!first) what += ", ";
    what += option;
    first = false;
  }
  ConfigNode child = (*this)[key];
  int line = errorLine(child, child.parent_line_);
  ScalarLookup scalar = lookupScalar(child, child.node_.get(), doc_, line, what);
  if (!scalar.present || !scalar.ok) return std::string(def);
  for (std::string_view option : allowed) {
    if (scalar.text == option) return scalar.text;
  }
  doc_->recordError(line, child.path(), "expected " + what + ", got " + quote(scalar.text));
  return std::string(def);
}

std::string ConfigNode::getHostPort(std::string_view key, std::string_view def) const {
  ConfigNode child = (*this)[key];
  int line = errorLine(child, child.parent_line_);
  ScalarLookup scalar = lookupScalar(child, child.node_.get(), doc_, line, "host:port");
  if (!scalar.present || !scalar.ok) return std::string(def);
  auto parsed = parseHostPort(scalar.text);
  if (!parsed) {
    doc_->recordError(line, child.path(), parsed.error().message);
    return std::string(def);
  }
  return std::string(trim(scalar.text));
}

std::string ConfigNode::requireString(std::string_view key) const {
  ConfigNode child = (*this)[key];
  if (!child.node_ || child.node_->IsNull()) {
    doc_->recordError(errorLine(child, child.parent_line_), child.path(), "missing required key");
    return {};
  }
  return getString(key, "");
}

void ConfigNode::rejectUnknownKeys(std::initializer_list<std::string_view> known) const {
  rejectUnknownKeys(std::span<const std::string_view>(known.begin(), known.size()));
}

void ConfigNode::rejectUnknownKeys(std::span<const std::string_view> known) const {
  if (!node_ || node_->IsNull()) return;
  int here = errorLine(*this, parent_line_);
  if (!node_->IsMap()) {
    doc_->recordError(here, path_, "expected a map, got " + describe(*node_));
    return;
  }
  for (auto it = node_->begin(); it != node_->end(); ++it) {
    if (!it->first.IsScalar()) {
      doc_->recordError(markLine(it->first) > 0 ? markLine(it->first) : here, path_,
                        "keys must be plain strings, got " + describe(it->first));
      continue;
    }
    const std::string& key = it->first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string_view best;
    size_t best_distance = std::numeric_limits<size_t>::max();
    for (std::string_view candidate : known) {
      size_t d = editDistance(key, candidate);
      if (d < best_distance) {
        best_distance = d;
        best = candidate;
      }
    }
    // Far-off suggestions confuse more than they help.
    size_t tolerance = std::max<size_t>(2, std::max(key.size(), best.size()) / 3);
    std::string message = "unknown key";
    if (!best.empty() && best_distance <= tolerance) {
      message += ", did you mean '" + std::string(best) + "'?";
    } else if (known.size() > 0) {
      message += "; known keys are ";
      bool first = true;
      for (std::string_view candidate : known) {
        if (!first) message += ", ";
        message += candidate;
        first = false;
      }
    }
    int line = markLine(it->first);
    doc_->recordError(line > 0 ? line : here, childPath(path_, key), message);
  }
}

void ConfigNode::addError(std::string_view message) const {
  doc_->recordError(errorLine(*this, parent_line_), path_, message);
}

void ConfigNode::addError(std::string_view key, std::string_view message) const {
  ConfigNode child = (*this)[key];
  doc_->recordError(errorLine(child, child.parent_line_), child.path(), message);
}

// ---------------------------------------------------------------------------
// ConfigDocument

ConfigDocument::~ConfigDocument() = default;

Result<std::unique_ptr<ConfigDocument>> ConfigDocument::loadFile(const std::string& filename) {
  std::ifstream in(filename, std::ios::binary);
  if (!in) {
    int err = errno;
    return makeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     filename + ": cannot open configuration file: " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return makeError(ErrorCode::kIo,
                     filename + ": cannot read configuration file: " + std::strerror(errno));
  }
  return parse(text.str(), filename);
}

Result<std::unique_ptr<ConfigDocument>> ConfigDocument::parse(std::string_view text,
                                                              std::string filename) {
  std::unique_ptr<ConfigDocument> doc(new ConfigDocument());
  doc->filename_ = std::move(filename);
  try {
    doc->root_ = std::make_shared<YAML::Node>(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    std::string where = doc->filename_;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return makeError(ErrorCode::kConfig, where + ": " + e.msg);
  } catch (const std::exception& e) {
    return makeError(ErrorCode::kConfig, doc->filename_ + ": " + e.what());
  }
  findDuplicateKeys(*doc->root_, "", *doc);
  return doc;
}

ConfigNode ConfigDocument::root() { return ConfigNode(this, root_, "", 1); }

void ConfigDocument::recordError(int line, std::string_view path, std::string_view message) {
  std::string text = filename_;
  if (line > 0) text += ":" + std::to_string(line);
  text += ": ";
  if (!path.empty()) {
    text += path;
    text += ": ";
  }
  text += message;
  // The same node can be reached through several getters; say it once.
  if (std::find(errors_.begin(), errors_.end(), text) == errors_.end())
    errors_.push_back(std::move(text));
}

Result<void> ConfigDocument::finish() const {
  if (errors_.empty()) return okResult();
  std::string all;
  for (const std::string& error : errors_) {
    if (!all.empty()) all += '\n';
    all += error;
  }
  return makeError(ErrorCode::kConfig, all);
}

}  // namespace edge
