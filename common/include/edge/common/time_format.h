// Moments as people read them in messages and files.
#pragma once

#include <cstdint>
#include <string>

namespace edge {

// "2026-11-23T17:34:14Z": unix seconds as an ISO 8601 time in UTC.
std::string formatUtcTime(int64_t unix_seconds);

}  // namespace edge
