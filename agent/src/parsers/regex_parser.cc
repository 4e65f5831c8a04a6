// The regex parser on PCRE2: compile once (JIT when available), match with
// per-parser match data, copy out the named groups.
#include "parsers/regex_parser.h"

namespace edge::agent {
namespace {

std::string pcre2Message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof(buf));
  if (n < 0) return "error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

}  // namespace

Result<std::unique_ptr<RegexParser>> RegexParser::create(const std::string& pattern,
                                                         ParserOptions options) {
  std::unique_ptr<RegexParser> parser(new RegexParser(std::move(options)));
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  auto compile = [&](uint32_t compile_options) {
    return pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                         compile_options, &error_code, &error_offset, nullptr);
  };
  // Byte semantics by default: any line matches whatever its encoding. A
  // pattern that starts with (*UTF) gets character semantics, and then
  // invalid UTF-8 in a line must not turn into a match error.
  parser->code_ = compile(0);
  uint32_t all_options = 0;
  if (parser->code_ != nullptr &&
      pcre2_pattern_info(parser->code_, PCRE2_INFO_ALLOPTIONS, &all_options) == 0 &&
      (all_options & PCRE2_UTF) != 0) {
    pcre2_code_free(parser->code_);
    parser->code_ = compile(PCRE2_MATCH_INVALID_UTF);
  }
  if (parser->code_ == nullptr) {
    return makeError(ErrorCode::kConfig,
                     "regex \"" + pattern + "\" is not a valid regular expression: at offset " +
                         std::to_string(error_offset) + ": " + pcre2Message(error_code));
  }
  uint32_t name_count = 0;
  uint32_t entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(parser->code_, PCRE2_INFO_NAMECOUNT, &name_count);
  pcre2_pattern_info(parser->code_, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(parser->code_, PCRE2_INFO_NAMETABLE, &table);
  if (name_count == 0) {
    return makeError(ErrorCode::kConfig,
                     "regex \"" + pattern +
                         "\" has no named groups, so it would produce no fields: name what to "
                         "keep, e.g. (?<status>\\d+)");
  }
  for (uint32_t i = 0; i < name_count; ++i) {
    PCRE2_SPTR entry = table + static_cast<size_t>(i) * entry_size;
    uint32_t number = (static_cast<uint32_t>(entry[0]) << 8) | entry[1];
    parser->groups_.push_back(Group{number, std::string(reinterpret_cast<const char*>(entry + 2))});
  }
  // The JIT is an optimisation: without it (unsupported CPU, SELinux
  // execmem), the interpreter gives the same results.
  parser->jit_ = pcre2_jit_compile(parser->code_, PCRE2_JIT_COMPLETE) == 0;
  parser->match_context_ = pcre2_match_context_create(nullptr);
  parser->match_data_ = pcre2_match_data_create_from_pattern(parser->code_, nullptr);
  if (parser->match_context_ == nullptr || parser->match_data_ == nullptr) {
    return makeError(ErrorCode::kInternal, "out of memory compiling parser.pattern");
  }
  pcre2_set_match_limit(parser->match_context_, kMatchLimit);
  if (parser->jit_) {
    parser->jit_stack_ = pcre2_jit_stack_create(32 * 1024, 512 * 1024, nullptr);
    if (parser->jit_stack_ != nullptr) {
      pcre2_jit_stack_assign(parser->match_context_, nullptr, parser->jit_stack_);
    }
  }
  return parser;
}

RegexParser::~RegexParser() {
  if (jit_stack_ != nullptr) pcre2_jit_stack_free(jit_stack_);
  if (match_data_ != nullptr) pcre2_match_data_free(match_data_);
  if (match_context_ != nullptr) pcre2_match_context_free(match_context_);
  if (code_ != nullptr) pcre2_code_free(code_);
}

bool RegexParser::extract(Event& event, std::vector<Field>& out, std::string& error) const {
  auto subject = reinterpret_cast<PCRE2_SPTR>(event.raw.data());
  int rc =
      jit_ ? pcre2_jit_match(code_, subject, event.raw.size(), 0, 0, match_data_, match_context_)
           : pcre2_match(code_, subject, event.raw.size(), 0, 0, match_data_, match_context_);
  if (rc == PCRE2_ERROR_NOMATCH) {
    error = "regex: the record does not match the pattern";
    return false;
  }
  if (rc < 0) {
    error = "regex: " + pcre2Message(rc);
    return false;
  }
  PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data_);
  uint32_t pairs = pcre2_get_ovector_count(match_data_);
  for (const Group& group : groups_) {
    if (group.number >= pairs || group.number >= static_cast<uint32_t>(rc)) continue;
    PCRE2_SIZE start = ovector[2 * group.number];
    PCRE2_SIZE end = ovector[2 * group.number + 1];
    if (start == PCRE2_UNSET || end < start) continue;  // the group did not take part
    appendText(out, group.name, std::string_view(event.raw).substr(start, end - start));
  }
  return true;
}

}  // namespace edge::agent
