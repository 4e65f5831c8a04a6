// zstd compression with a hard bound on decompressed size, so a small
// malicious payload cannot inflate into gigabytes (a "zstd bomb").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "edge/common/result.h"

namespace edge::protocol {

Result<std::string> zstdCompress(std::string_view input, int level = 3);

// Fails with kTooLarge before producing more than `max_size` bytes (also when
// the frame header declares a larger content size), kCorrupt on bad input.
Result<std::string> zstdDecompress(std::string_view input, size_t max_size);

}  // namespace edge::protocol
