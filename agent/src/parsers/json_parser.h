// parser: {type: json}. A record is one JSON object. Its members become
// typed fields: strings, integers (int64; larger unsigned values are kept as
// their decimal text), floats and booleans; null members are skipped.
// Nested objects are flattened into dotted keys ({"http":{"status":200}} ->
// http.status = 200) down to kMaxObjectDepth levels (the record is level
// 1); arrays, and objects deeper than that, are kept as compact JSON text
// under their key.
#pragma once

#include "parsers/field_parser.h"

namespace edge::agent {

//
// Most log records are a flat object of ASCII strings and numbers; those go
// through a strict scanner that accepts only that subset of JSON (no
// escapes, no nesting, no bytes outside 0x20..0x7E in strings) and produces
// exactly what nlohmann-json would. Anything else, including every error,
// is parsed by nlohmann-json's SAX parser. parsers_test compares both.
class JsonParser final : public FieldParser {
 public:
  static constexpr int kMaxObjectDepth = 8;

  explicit JsonParser(ParserOptions options, bool fast_path = true)
      : FieldParser(std::move(options)), fast_path_(fast_path) {}

 protected:
  bool extract(Event& event, std::vector<Field>& out, std::string& error) const override;

 private:
  bool fast_path_;
};

// Appends `text` to `out` as a JSON string literal (quotes and escapes).
void appendJsonString(std::string& out, std::string_view text);

}  // namespace edge::agent
