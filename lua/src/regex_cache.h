// PCRE2 patterns for rules: compiled once per (pattern, flags) and engine,
// JIT-compiled when PCRE2 supports it, with one reusable match-data block.
// Bounded: past kMaxPatterns the cache is cleared (counted), so a rule that
// builds patterns from event data cannot grow it without end.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "edge/common/result.h"

namespace edge::lua {

class RegexCache {
 public:
  static constexpr size_t kMaxPatterns = 1000;

  RegexCache();
  ~RegexCache();
  RegexCache(const RegexCache&) = delete;
  RegexCache& operator=(const RegexCache&) = delete;

  struct Match {
    bool matched = false;
    // (offset, length) of the whole match then of each group; a group that
    // did not take part has offset SIZE_MAX.
    std::vector<std::pair<size_t, size_t>> groups;
  };
  // flags: any of "i" (caseless), "m" (multiline), "s" (dotall), "x" (extended).
  Result<const pcre2_code*> get(std::string_view pattern, std::string_view flags);
  Result<bool> match(std::string_view subject, std::string_view pattern, std::string_view flags,
                     Match* out);
  uint64_t clears() const { return clears_; }

 private:
  struct CodeDeleter {
    void operator()(pcre2_code* code) const { pcre2_code_free(code); }
  };
  std::unordered_map<std::string, std::unique_ptr<pcre2_code, CodeDeleter>> codes_;
  pcre2_match_data* match_data_ = nullptr;
  std::string scratch_;
  uint64_t clears_ = 0;
};

}  // namespace edge::lua
