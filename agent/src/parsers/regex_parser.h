// parser: {type: regex, pattern: '...'}. PCRE2 syntax; every named group
// ((?<name>...) or (?P<name>...)) that took part in the match becomes a
// string field (use `types:` for numbers). A record the pattern does not
// match is a parse error. The pattern is JIT-compiled where the platform
// allows; each parser owns its match data, so matching allocates nothing.
// Matching works on bytes (every line can match, whatever its encoding);
// start the pattern with (*UTF) for character semantics ('.' is one UTF-8
// character, \p{L} works), where invalid UTF-8 bytes match nothing.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "parsers/field_parser.h"

namespace edge::agent {

class RegexParser final : public FieldParser {
 public:
  // Backtracking budget per record, so a pathological pattern/line pair
  // costs a bounded time (counted as a parse error).
  static constexpr uint32_t kMatchLimit = 1'000'000;

  // Errors name the pattern, the offset and PCRE2's reason.
  static Result<std::unique_ptr<RegexParser>> create(const std::string& pattern,
                                                     ParserOptions options);
  ~RegexParser() override;
  RegexParser(const RegexParser&) = delete;
  RegexParser& operator=(const RegexParser&) = delete;

 protected:
  bool extract(Event& event, std::vector<Field>& out, std::string& error) const override;

 private:
  struct Group {
    uint32_t number;
    std::string name;
  };
  explicit RegexParser(ParserOptions options) : FieldParser(std::move(options)) {}

  pcre2_code* code_ = nullptr;
  pcre2_match_data* match_data_ = nullptr;
  pcre2_match_context* match_context_ = nullptr;
  pcre2_jit_stack* jit_stack_ = nullptr;
  bool jit_ = false;
  std::vector<Group> groups_;
};

}  // namespace edge::agent
