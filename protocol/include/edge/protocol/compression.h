// zstd compression with a hard bound on decompressed size, so a small
// malicious payload cannot inflate into gigabytes (a "zstd bomb").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "edge/common/result.h"

namespace edge::protocol {

Result<std::string> zstdCompress(std::string_view input, int level = 3);

// Compresses into `out` (at least zstdCompressBound(input.size()) bytes);
// returns the compressed size. For callers that reuse one output buffer.
size_t zstdCompressBound(size_t input_size);
Result<size_t> zstdCompressInto(std::string_view input, int level, char* out, size_t out_size);

// Fails with kTooLarge before producing more than `max_size` bytes (also when
// the frame header declares a larger content size), kCorrupt on bad input.
Result<std::string> zstdDecompress(std::string_view input, size_t max_size);

}  // namespace edge::protocol
