// StartPattern: PCRE2 compile (with JIT where available) and matching.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "inputs/in_file/start_pattern.h"

#include <pcre2.h>

namespace edge::agent {

struct StartPattern::Impl {
  pcre2_code* code = nullptr;
  pcre2_match_data* match = nullptr;
  bool jit = false;
  ~Impl() {
    pcre2_match_data_free(match);  // both accept nullptr
    pcre2_code_free(code);
  }
};

StartPattern::StartPattern(std::string pattern, std::unique_ptr<Impl> impl)
    : pattern_(std::move(pattern)), impl_(std::move(impl)) {}

StartPattern::~StartPattern() = default;

Result<std::unique_ptr<StartPattern>> StartPattern::compile(const std::string& pattern) {
  auto impl = std::make_unique<Impl>();
  int error = 0;
  PCRE2_SIZE offset = 0;
  impl->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (impl->code == nullptr) {
    PCRE2_UCHAR message[256] = {};
    pcre2_get_error_message(error, message, sizeof(message));
    return makeError(ErrorCode::kConfig, "invalid pattern '" + pattern + "' at offset " +
                                             std::to_string(offset) + ": " +
                                             reinterpret_cast<const char*>(message));
  }
  impl->jit = pcre2_jit_compile(impl->code, PCRE2_JIT_COMPLETE) == 0;
  impl->match = pcre2_match_data_create_from_pattern(impl->code, nullptr);
  if (impl->match == nullptr) {
    return makeError(ErrorCode::kInternal, "out of memory compiling '" + pattern + "'");
  }
  return std::unique_ptr<StartPattern>(new StartPattern(pattern, std::move(impl)));
}

bool StartPattern::matches(std::string_view line) const {
  // PCRE2 10.42 rejects a null subject even with length 0.
  auto subject = reinterpret_cast<PCRE2_SPTR>(line.empty() ? "" : line.data());
  int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, line.size(), 0, 0, impl_->match,
                                        nullptr)
                      : pcre2_match(impl_->code, subject, line.size(), 0, 0, impl_->match, nullptr);
  return rc >= 0;
}

}  // namespace edge::agent
