// parser: {type: logfmt}. key=value pairs separated by spaces or tabs:
//   level=info msg="user \"bob\" logged in" took=12ms retry
// Values are strings (use `types:` for numbers); a quoted value may contain
// spaces and the escapes \" \\ \/ \n \r \t \b \f \uXXXX; a bare key (no '=')
// is the boolean true; `key=` is the empty string. A record is malformed
// (parse_error) when a quote is unterminated, a key is empty ("=x") or a
// quote appears inside a key or an unquoted value.
#pragma once

#include "parsers/field_parser.h"

namespace edge::agent {

class LogfmtParser final : public FieldParser {
 public:
  explicit LogfmtParser(ParserOptions options) : FieldParser(std::move(options)) {}

 protected:
  bool extract(Event& event, std::vector<Field>& out, std::string& error) const override;
};

}  // namespace edge::agent
