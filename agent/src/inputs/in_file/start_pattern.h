// A compiled PCRE2 pattern that tells whether a line starts a new record
// (multiline joining in the file input). JIT-compiled when the platform
// allows it, since it runs once per line.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "edge/common/result.h"

namespace edge::agent {

class StartPattern {
 public:
  // Errors name the pattern, the offset and PCRE2's reason.
  static Result<std::unique_ptr<StartPattern>> compile(const std::string& pattern);
  ~StartPattern();
  StartPattern(const StartPattern&) = delete;
  StartPattern& operator=(const StartPattern&) = delete;

  // True when the pattern matches somewhere in `line` (anchor it with ^).
  // A match error (e.g. the match limit) counts as "not a start".
  bool matches(std::string_view line) const;
  const std::string& pattern() const { return pattern_; }

 private:
  struct Impl;
  StartPattern(std::string pattern, std::unique_ptr<Impl> impl);
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::agent
