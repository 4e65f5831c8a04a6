// A single-pass logfmt scanner (no regex, one allocation per long value).
#include "parsers/logfmt_parser.h"

#include <cstring>

namespace edge::agent {
namespace {

bool isSpace(unsigned char c) { return c <= ' '; }

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool readHex4(std::string_view s, size_t pos, uint32_t& out) {
  if (pos + 4 > s.size()) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    int h = hexValue(s[pos + i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(h);
  }
  out = v;
  return true;
}

void appendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the quoted value body `s` (between the quotes) into `out`.
// Unknown or broken escapes are kept as written: a log line is not rejected
// for a stray backslash.
void unescape(std::string_view s, std::string& out) {
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\' || i + 1 == s.size()) {
      out += c;
      continue;
    }
    char e = s[i + 1];
    switch (e) {
      case '"':
        out += '"';
        ++i;
        continue;
      case '\\':
        out += '\\';
        ++i;
        continue;
      case '/':
        out += '/';
        ++i;
        continue;
      case 'n':
        out += '\n';
        ++i;
        continue;
      case 'r':
        out += '\r';
        ++i;
        continue;
      case 't':
        out += '\t';
        ++i;
        continue;
      case 'b':
        out += '\b';
        ++i;
        continue;
      case 'f':
        out += '\f';
        ++i;
        continue;
      case 'u': {
        uint32_t cp = 0;
        if (!readHex4(s, i + 2, cp)) break;
        size_t consumed = 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low = 0;
          if (i + 7 < s.size() && s[i + 6] == '\\' && s[i + 7] == 'u' && readHex4(s, i + 8, low) &&
              low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            consumed = 12;
          } else {
            cp = 0xFFFD;  // a lone surrogate is not valid UTF-8
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        appendUtf8(out, cp);
        i += consumed - 1;
        continue;
      }
      default:
        break;
    }
    out += c;  // keep the backslash; the next character follows as usual
  }
}

bool fail(std::string& error, const char* what, size_t pos) {
  error = "logfmt: ";
  error += what;
  error += " at byte ";
  error += std::to_string(pos);
  return false;
}

}  // namespace

bool LogfmtParser::extract(Event& event, std::vector<Field>& out, std::string& error) const {
  std::string_view s = event.raw;
  const size_t n = s.size();
  size_t pos = 0;
  while (true) {
    while (pos < n && isSpace(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == n) break;
    size_t key_start = pos;
    while (pos < n && !isSpace(static_cast<unsigned char>(s[pos])) && s[pos] != '=' &&
           s[pos] != '"') {
      ++pos;
    }
    if (pos < n && s[pos] == '"') return fail(error, "unexpected '\"' in a key", pos);
    if (pos == key_start) return fail(error, "'=' without a key", pos);
    std::string_view key = s.substr(key_start, pos - key_start);
    if (pos == n || s[pos] != '=') {
      appendScalar(out, key, true);
      continue;
    }
    ++pos;  // '='
    if (pos == n || isSpace(static_cast<unsigned char>(s[pos]))) {
      appendText(out, key, {});
      continue;
    }
    if (s[pos] == '"') {
      size_t open = pos++;
      bool escaped = false;
      while (pos < n && s[pos] != '"') {
        if (s[pos] == '\\') {
          escaped = true;
          if (pos + 1 < n) ++pos;
        }
        ++pos;
      }
      if (pos >= n) return fail(error, "unterminated quoted value", open);
      std::string_view body = s.substr(open + 1, pos - open - 1);
      ++pos;  // closing quote
      if (pos < n && !isSpace(static_cast<unsigned char>(s[pos]))) {
        return fail(error, "unexpected character after a closing quote", pos);
      }
      if (escaped) {
        Field& field = out.emplace_back();
        field.key.assign(key.data(), key.size());
        unescape(body, std::get<std::string>(field.value));
      } else {
        appendText(out, key, body);
      }
      continue;
    }
    size_t value_start = pos;
    while (pos < n && !isSpace(static_cast<unsigned char>(s[pos]))) {
      if (s[pos] == '"') return fail(error, "unexpected '\"' in an unquoted value", pos);
      ++pos;
    }
    appendText(out, key, s.substr(value_start, pos - value_start));
  }
  if (out.empty()) {
    error = "logfmt: the record is empty";
    return false;
  }
  return true;
}

}  // namespace edge::agent
