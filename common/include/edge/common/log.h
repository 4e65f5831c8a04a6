// Process logging on spdlog: human-readable text (default) or JSON lines
// ({"ts":"...","level":"info","component":"gateway","msg":"..."}) for log
// shippers. Call setupLogging once at start; then use spdlog::info(...) etc.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "edge/common/result.h"

namespace edge {

enum class LogFormat { kText, kJson };

struct LogOptions {
  std::string level = "info";   // trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::kText;
  std::string component;        // "agent", "gateway", "edgectl"
};

// Installs the default spdlog logger writing to stderr. Fails on an unknown level.
Result<void> setupLogging(const LogOptions& options);

// Lets a hot path log a recurring condition at most `burst` times per
// `interval`; the next allowed message reports how many were suppressed.
//   if (auto n = limiter.allow(); n) spdlog::warn("dropped {} (suppressed {})", x, *n - 1);
class LogRateLimiter {
 public:
  LogRateLimiter(uint32_t burst, std::chrono::milliseconds interval);
  // Returns 0 if this message must be suppressed; otherwise 1 + the number of
  // messages suppressed since the last allowed one.
  uint64_t allow();

 private:
  uint32_t burst_;
  std::chrono::milliseconds interval_;
  std::atomic<int64_t> window_start_ms_{0};
  std::atomic<uint32_t> in_window_{0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace edge
