// The JSON parser on nlohmann-json's SAX interface: no DOM is built, each
// member goes straight into a Field.
#include "parsers/json_parser.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace edge::agent {
namespace {

using Json = nlohmann::json;

// Receives the SAX events of one record.
class FieldBuilder {
 public:
  FieldBuilder(std::vector<Field>& out, std::string& error) : out_(out), error_(error) {}

  bool null() {
    if (capturing()) return captureScalar("null");
    return checkTop();  // null members are skipped
  }
  bool boolean(bool v) {
    if (capturing()) return captureScalar(v ? "true" : "false");
    if (!checkTop()) return false;
    appendScalar(out_, key_, v);
    return true;
  }
  bool number_integer(Json::number_integer_t v) {
    if (capturing()) {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), v);
      return captureScalar(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
    }
    if (!checkTop()) return false;
    appendScalar(out_, key_, int64_t{v});
    return true;
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
    if (capturing()) return captureScalar(text);
    if (!checkTop()) return false;
    if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      appendScalar(out_, key_, static_cast<int64_t>(v));
    } else {
      appendText(out_, key_, text);  // exact, unlike a double
    }
    return true;
  }
  bool number_float(Json::number_float_t v, const Json::string_t& text) {
    if (capturing()) return captureScalar(text);
    if (!checkTop()) return false;
    appendScalar(out_, key_, double{v});
    return true;
  }
  bool string(Json::string_t& v) {
    if (capturing()) {
      captureComma();
      appendJsonString(capture_, v);
      return true;
    }
    if (!checkTop()) return false;
    appendText(out_, key_, v);
    return true;
  }
  bool binary(Json::binary_t& /*unused*/) { return true; }  // not produced by JSON text

  bool start_object(std::size_t /*unused*/) {
    if (capturing()) return captureOpen('{');
    if (!top_seen_) {
      top_seen_ = true;
      path_marks_.push_back(0);
      return true;
    }
    if (static_cast<int>(path_marks_.size()) >= JsonParser::kMaxObjectDepth) {
      return beginCapture('{');
    }
    path_marks_.push_back(path_.size());
    path_.assign(key_);
    path_ += '.';
    return true;
  }
  bool key(Json::string_t& k) {
    if (capturing()) {
      captureComma();
      appendJsonString(capture_, k);
      capture_ += ':';
      after_key_ = true;
      return true;
    }
    key_.assign(path_);
    key_ += k;
    return true;
  }
  bool end_object() {
    if (capturing()) return captureClose('}');
    path_.resize(path_marks_.back());
    path_marks_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*unused*/) {
    if (capturing()) return captureOpen('[');
    if (!top_seen_) return notObject();
    return beginCapture('[');
  }
  bool end_array() { return captureClose(']'); }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    // ex.what() is "[json.exception.parse_error.101] parse error at line 1,
    // column 5: syntax error while ..."; keep the part after the location.
    std::string_view what = ex.what();
    size_t colon = what.find(": ");
    if (colon != std::string_view::npos) what.remove_prefix(colon + 2);
    error_ = "json: at byte " + std::to_string(position) + ": ";
    error_.append(what.substr(0, 160));
    return false;
  }

 private:
  bool capturing() const { return capture_depth_ > 0; }

  bool checkTop() {
    if (top_seen_) return true;
    return notObject();
  }
  bool notObject() {
    error_ = "json: the record is not a JSON object";
    return false;
  }

  bool beginCapture(char open) {
    capture_.clear();
    capture_ += open;
    capture_depth_ = 1;
    first_in_level_ = true;
    after_key_ = false;
    return true;
  }
  void captureComma() {
    if (after_key_) {
      after_key_ = false;
    } else if (!first_in_level_) {
      capture_ += ',';
    }
    first_in_level_ = false;
  }
  bool captureScalar(std::string_view text) {
    captureComma();
    capture_.append(text);
    return true;
  }
  bool captureOpen(char open) {
    captureComma();
    capture_ += open;
    ++capture_depth_;
    first_in_level_ = true;
    return true;
  }
  bool captureClose(char close) {
    capture_ += close;
    first_in_level_ = false;
    if (--capture_depth_ == 0) appendText(out_, key_, capture_);
    return true;
  }

  std::vector<Field>& out_;
  std::string& error_;
  bool top_seen_ = false;
  std::string path_;                // "a.b." while inside a.b
  std::vector<size_t> path_marks_;  // path_ length to restore per open object
  std::string key_;                 // dotted key of the next value
  // Arrays and too-deep objects are re-serialized into capture_.
  int capture_depth_ = 0;
  std::string capture_;
  bool first_in_level_ = true;
  bool after_key_ = false;
};

bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The flat-object scanner. Returns false (with fields possibly appended to
// `out`) when the text is not in the subset it handles; the caller then
// removes them and lets nlohmann-json decide.
class FlatScanner {
 public:
  explicit FlatScanner(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  bool scan(std::vector<Field>& out) {
    skipSpace();
    if (!consume('{')) return false;
    skipSpace();
    if (consume('}')) return finish();
    while (true) {
      std::string_view key;
      if (!readString(key)) return false;
      skipSpace();
      if (!consume(':')) return false;
      skipSpace();
      if (!readValue(key, out)) return false;
      skipSpace();
      if (consume(',')) {
        skipSpace();
        continue;
      }
      if (consume('}')) return finish();
      return false;
    }
  }

 private:
  void skipSpace() {
    while (p_ < end_ && isJsonSpace(*p_)) ++p_;
  }
  bool consume(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool finish() {
    skipSpace();
    return p_ == end_;
  }
  bool readString(std::string_view& text) {
    if (!consume('"')) return false;
    const char* start = p_;
    while (p_ < end_) {
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        text = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c > 0x7E || c == '\\') return false;  // escapes, UTF-8, controls
      ++p_;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }
  bool readValue(std::string_view key, std::vector<Field>& out) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '"': {
        std::string_view text;
        if (!readString(text)) return false;
        appendText(out, key, text);
        return true;
      }
      case 't':
        if (!literal("true")) return false;
        appendScalar(out, key, true);
        return true;
      case 'f':
        if (!literal("false")) return false;
        appendScalar(out, key, false);
        return true;
      case 'n':
        return literal("null");  // skipped, as in the SAX path
      default:
        return readNumber(key, out);
    }
  }
  // JSON number grammar; integers that fit int64 and finite doubles only.
  bool readNumber(std::string_view key, std::vector<Field>& out) {
    const char* start = p_;
    consume('-');
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return false;
    }
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      const char* digits = p_;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      if (p_ == digits) return false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      const char* digits = p_;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      if (p_ == digits) return false;
    }
    if (integer) {
      int64_t v = 0;
      auto r = std::from_chars(start, p_, v);
      if (r.ec != std::errc() || r.ptr != p_) return false;  // beyond int64: SAX path
      appendScalar(out, key, v);
      return true;
    }
    double d = 0;
    auto r = std::from_chars(start, p_, d);
    if (r.ec != std::errc() || r.ptr != p_ || !std::isfinite(d)) return false;
    appendScalar(out, key, d);
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

bool JsonParser::extract(Event& event, std::vector<Field>& out, std::string& error) const {
  if (fast_path_) {
    const size_t mark = out.size();
    if (FlatScanner(event.raw).scan(out)) return true;
    out.erase(out.begin() + static_cast<ptrdiff_t>(mark), out.end());
  }
  FieldBuilder builder(out, error);
  const char* begin = event.raw.data();
  const char* end = begin + event.raw.size();
  bool ok = false;
  try {
    ok = Json::sax_parse(begin, end, &builder);
  } catch (const std::exception& ex) {
    error = std::string("json: ") + ex.what();
    ok = false;
  }
  if (!ok && error.empty()) error = "json: the record is not a JSON object";
  return ok;
}

}  // namespace edge::agent
