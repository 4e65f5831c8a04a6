// See regex_cache.h.
#include "regex_cache.h"

namespace edge::lua {

RegexCache::RegexCache() { match_data_ = pcre2_match_data_create(32, nullptr); }

RegexCache::~RegexCache() { pcre2_match_data_free(match_data_); }

Result<const pcre2_code*> RegexCache::get(std::string_view pattern, std::string_view flags) {
  scratch_.assign(flags);
  scratch_ += '/';
  scratch_.append(pattern);
  auto it = codes_.find(scratch_);
  if (it != codes_.end()) return static_cast<const pcre2_code*>(it->second.get());
  uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  for (char flag : flags) {
    switch (flag) {
      case 'i':
        options |= PCRE2_CASELESS;
        break;
      case 'm':
        options |= PCRE2_MULTILINE;
        break;
      case 's':
        options |= PCRE2_DOTALL;
        break;
      case 'x':
        options |= PCRE2_EXTENDED;
        break;
      default:
        return makeError(ErrorCode::kInvalidArgument,
                         std::string("unknown regex flag '") + flag + "' (use i, m, s, x)");
    }
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return makeError(ErrorCode::kInvalidArgument,
                     "regex /" + std::string(pattern) + "/: " +
                         reinterpret_cast<const char*>(message) + " at offset " +
                         std::to_string(offset));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // no JIT: the interpreter still matches
  if (codes_.size() >= kMaxPatterns) {
    codes_.clear();
    ++clears_;
  }
  auto& slot = codes_[scratch_];
  slot.reset(code);
  return static_cast<const pcre2_code*>(code);
}

Result<bool> RegexCache::match(std::string_view subject, std::string_view pattern,
                               std::string_view flags, Match* out) {
  auto code = get(pattern, flags);
  if (!code) return code.error();
  const int rc = pcre2_match(*code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                             0, 0, match_data_, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) {
    if (out) out->matched = false;
    return false;
  }
  if (rc < 0) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof(message));
    return makeError(ErrorCode::kInvalidArgument,
                     "regex /" + std::string(pattern) + "/: " +
                         reinterpret_cast<const char*>(message));
  }
  if (out) {
    out->matched = true;
    out->groups.clear();
    uint32_t groups = 0;
    pcre2_pattern_info(*code, PCRE2_INFO_CAPTURECOUNT, &groups);
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data_);
    const uint32_t available = pcre2_get_ovector_count(match_data_);
    // rc 0: more groups than the match data holds; the first `available` are set.
    const uint32_t filled = rc == 0 ? available : static_cast<uint32_t>(rc);
    for (uint32_t i = 0; i <= groups; ++i) {
      if (i >= filled || ovector[2 * i] == PCRE2_UNSET) {
        out->groups.emplace_back(SIZE_MAX, 0);
      } else {
        out->groups.emplace_back(ovector[2 * i], ovector[2 * i + 1] - ovector[2 * i]);
      }
    }
  }
  return true;
}

}  // namespace edge::lua
