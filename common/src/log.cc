// Process logging: installs the default spdlog logger on stderr with either a
// human-readable text line or one JSON object per line, and a rate limiter
// for messages logged from hot paths.
#include "edge/common/log.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <cctype>
#include <nlohmann/json.hpp>

namespace edge {
namespace {

std::string_view levelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    case spdlog::level::off:
      return "off";
    case spdlog::level::n_levels:
      break;
  }
  return "unknown";
}

// RFC 3339 in UTC with milliseconds: 2026-11-23T12:00:00.123Z.
void appendTimestamp(std::chrono::system_clock::time_point time, spdlog::memory_buf_t& dest) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  time_t seconds = static_cast<time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {  // before 1970: keep the fraction positive
    millis += 1000;
    seconds -= 1;
  }
  struct tm tm {};
  gmtime_r(&seconds, &tm);
  char text[40];
  size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  dest.append(text, text + n);
  fmt::format_to(std::back_inserter(dest), ".{:03d}Z", millis);
}

class EdgeFormatter final : public spdlog::formatter {
 public:
  explicit EdgeFormatter(LogFormat format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string_view component(msg.logger_name.data(), msg.logger_name.size());
    std::string_view text(msg.payload.data(), msg.payload.size());
    std::string_view level = levelName(msg.level);
    if (format_ == LogFormat::kJson) {
      spdlog::memory_buf_t ts;
      appendTimestamp(msg.time, ts);
      nlohmann::ordered_json line;
      line["ts"] = std::string_view(ts.data(), ts.size());
      line["level"] = level;
      line["component"] = component;
      line["msg"] = text;
      // Messages may carry bytes from the outside world; never throw on them.
      std::string out = line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
      dest.append(out.data(), out.data() + out.size());
    } else {
      appendTimestamp(msg.time, dest);
      fmt::format_to(std::back_inserter(dest), " {:<5} ", level);
      if (!component.empty()) {
        dest.append(component.data(), component.data() + component.size());
        dest.push_back(':');
        dest.push_back(' ');
      }
      dest.append(text.data(), text.data() + text.size());
    }
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<EdgeFormatter>(format_);
  }

 private:
  LogFormat format_;
};

std::optional<spdlog::level::level_enum> parseLevel(std::string_view name) {
  std::string lower;
  for (char c : name)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "trace") return spdlog::level::trace;
  if (lower == "debug") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "error" || lower == "err") return spdlog::level::err;
  if (lower == "critical") return spdlog::level::critical;
  if (lower == "off") return spdlog::level::off;
  return std::nullopt;
}

}  // namespace

Result<void> setupLogging(const LogOptions& options) {
  auto level = parseLevel(options.level);
  if (!level) {
    return makeError(ErrorCode::kConfig,
                     "unknown log level \"" + options.level +
                         "\"; use one of trace, debug, info, warn, error, critical, off");
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(options.component, std::move(sink));
  logger->set_formatter(std::make_unique<EdgeFormatter>(options.format));
  logger->set_level(*level);
  spdlog::set_default_logger(std::move(logger));
  return okResult();
}

LogRateLimiter::LogRateLimiter(uint32_t burst, std::chrono::milliseconds interval)
    : burst_(burst), interval_(interval) {}

uint64_t LogRateLimiter::allow() {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t start = window_start_ms_.load(std::memory_order_acquire);
  // 0 means "no window yet". Only the thread that moves the window resets the
  // count, so a burst is never granted twice for one window.
  if (start == 0 || now - start >= interval_.count()) {
    if (window_start_ms_.compare_exchange_strong(start, now == 0 ? 1 : now,
                                                 std::memory_order_acq_rel)) {
      in_window_.store(0, std::memory_order_release);
    }
  }
  // Check before incrementing so a flood cannot wrap the counter.
  if (in_window_.load(std::memory_order_acquire) >= burst_ ||
      in_window_.fetch_add(1, std::memory_order_acq_rel) >= burst_) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  return 1 + suppressed_.exchange(0, std::memory_order_relaxed);
}

}  // namespace edge
