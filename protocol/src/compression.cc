// zstd compression for batch payloads, and decompression that never
// inflates past a caller-given bound (see compression.h).
#include "edge/protocol/compression.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

namespace edge::protocol {
namespace {

// Contexts are reused per thread: creating one costs several allocations and
// each gateway worker / agent loop decodes many small payloads.
struct CCtxDeleter {
  void operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};

ZSTD_CCtx* threadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}

// The decoder allocates a window of the size the frame asks for, however
// little output the frame then produces, and keeps it for the next call.
// Capping the window at 8 MiB bounds that memory per thread; encoders at
// levels 1-19 never need more.
constexpr int kMaxWindowLog = 23;

ZSTD_DCtx* createDCtx() {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  if (ctx != nullptr &&
      ZSTD_isError(ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, kMaxWindowLog))) {
    ZSTD_freeDCtx(ctx);
    return nullptr;
  }
  return ctx;
}

ZSTD_DCtx* threadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(createDCtx());
  return ctx.get();
}

// First guess for the output size when the frame does not declare it.
constexpr size_t kMinInitialOutput = 64u << 10;
constexpr size_t kTrustedRatio = 32;

Error tooLarge(size_t max_size, const std::string& what) {
  return makeError(
      ErrorCode::kTooLarge,
      "zstd payload " + what + " the decompressed size limit of " + std::to_string(max_size) +
          " bytes; send smaller batches or raise the receiver's max decompressed size");
}

}  // namespace

size_t zstdCompressBound(size_t input_size) { return ZSTD_compressBound(input_size); }

Result<size_t> zstdCompressInto(std::string_view input, int level, char* out, size_t out_size) {
  ZSTD_CCtx* ctx = threadCCtx();
  if (ctx == nullptr)
    return makeError(ErrorCode::kInternal, "zstd: cannot allocate a compression context");
  const size_t written = ZSTD_compressCCtx(ctx, out, out_size, input.data(), input.size(), level);
  if (ZSTD_isError(written)) {
    return makeError(ErrorCode::kInternal, std::string("zstd compression at level ") +
                                               std::to_string(level) +
                                               " failed: " + ZSTD_getErrorName(written));
  }
  return written;
}

Result<std::string> zstdCompress(std::string_view input, int level) {
  std::string out;
  out.resize(ZSTD_compressBound(input.size()));
  auto written = zstdCompressInto(input, level, out.data(), out.size());
  if (!written) return written.error();
  out.resize(*written);
  return out;
}

Result<std::string> zstdDecompress(std::string_view input, size_t max_size) {
  const unsigned long long declared = ZSTD_getFrameContentSize(input.data(), input.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    return makeError(ErrorCode::kCorrupt, "payload flagged zstd is not a zstd frame (" +
                                              std::to_string(input.size()) +
                                              " bytes, bad or truncated frame header)");
  }
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared > max_size) {
    return tooLarge(max_size, "declares " + std::to_string(declared) + " bytes, over");
  }

  ZSTD_DCtx* ctx = threadDCtx();
  if (ctx == nullptr)
    return makeError(ErrorCode::kInternal, "zstd: cannot allocate a decompression context");
  // A previous call may have stopped mid-frame (bound hit, corrupt input).
  ZSTD_DCtx_reset(ctx, ZSTD_reset_session_only);

  // The output buffer never grows past max_size + 1: the one spare byte is
  // how we learn that the data goes on beyond the bound without inflating it.
  const size_t cap = max_size == std::numeric_limits<size_t>::max() ? max_size : max_size + 1;
  // A declared size is trusted only up to a plausible ratio, so a 20-byte
  // payload that claims 60 MiB does not get 60 MiB allocated before it
  // fails; beyond that the buffer doubles as real output arrives.
  size_t initial = std::max(kMinInitialOutput, input.size() * kTrustedRatio);
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN) {
    // +1: further concatenated frames must still run into the bound.
    initial = std::min(initial, static_cast<size_t>(declared) + 1);
  }
  std::string out;

  // The common case — one frame whose declared size is within bounds and
  // plausible for its input — is decoded in one shot straight into a buffer
  // of exactly that size: the streaming path below would copy every byte
  // through zstd's window buffer, a third of the gateway's decode time.
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared < initial &&
      ZSTD_findFrameCompressedSize(input.data(), input.size()) == input.size()) {
    out.resize(static_cast<size_t>(declared));
    const size_t written =
        ZSTD_decompressDCtx(ctx, out.data(), out.size(), input.data(), input.size());
    if (!ZSTD_isError(written) && written == declared) return out;
    if (ZSTD_isError(written) &&
        ZSTD_getErrorCode(written) == ZSTD_error_frameParameter_windowTooLarge) {
      return makeError(ErrorCode::kTooLarge, "zstd payload needs a window larger than " +
                                                 std::to_string(1u << kMaxWindowLog) +
                                                 " bytes; compress at level 19 or lower");
    }
    return makeError(ErrorCode::kCorrupt,
                     ZSTD_isError(written)
                         ? std::string("corrupt zstd payload: ") + ZSTD_getErrorName(written)
                         : "corrupt zstd payload: decodes to " + std::to_string(written) +
                               " bytes, its header declares " + std::to_string(declared));
  }

  out.resize(std::min(initial, cap));

  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t produced = 0;
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= cap) return tooLarge(max_size, "inflates past");
      // A fresh string gets exactly the requested capacity; growing `out` in
      // place could round up to twice its old capacity, past the bound.
      std::string bigger;
      bigger.resize(std::min(cap, std::max(out.size() * 2, kMinInitialOutput)));
      std::memcpy(bigger.data(), out.data(), produced);
      out.swap(bigger);
    }
    ZSTD_outBuffer ob{out.data(), out.size(), produced};
    const size_t ret = ZSTD_decompressStream(ctx, &ob, &in);
    if (ZSTD_isError(ret)) {
      if (ZSTD_getErrorCode(ret) == ZSTD_error_frameParameter_windowTooLarge) {
        return makeError(ErrorCode::kTooLarge, "zstd payload needs a window larger than " +
                                                   std::to_string(1u << kMaxWindowLog) +
                                                   " bytes; compress at level 19 or lower");
      }
      return makeError(ErrorCode::kCorrupt,
                       std::string("corrupt zstd payload: ") + ZSTD_getErrorName(ret));
    }
    produced = ob.pos;
    if (produced > max_size) return tooLarge(max_size, "inflates past");
    if (in.pos == in.size) {
      if (ret == 0) break;  // every frame decoded and flushed
      // Input exhausted with room left in the output: zstd is waiting for
      // bytes that will never come.
      if (ob.pos < ob.size) {
        return makeError(ErrorCode::kCorrupt,
                         "corrupt zstd payload: truncated frame (input ended after " +
                             std::to_string(input.size()) + " bytes)");
      }
    }
  }
  out.resize(produced);
  return out;
}

}  // namespace edge::protocol
