// Tests for zstd compression with a hard bound on decompressed size,
// including "zstd bombs" that must be refused without being inflated.
#include "edge/protocol/compression.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <string>

#include "alloc_tracker.h"

namespace edge::protocol {
namespace {

using test_support::AllocationTracker;

// Compresses `total` zero bytes in 1 MiB steps, so the test itself never
// holds the inflated data. With declare_size the frame header carries the
// content size; without it the size is unknown, as with a streaming sender.
std::string zeroBomb(size_t total, bool declare_size, int window_log = 0) {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  EXPECT_NE(ctx, nullptr);
  ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, 1);
  if (window_log != 0) ZSTD_CCtx_setParameter(ctx, ZSTD_c_windowLog, window_log);
  if (declare_size) {
    ZSTD_CCtx_setPledgedSrcSize(ctx, total);
  } else {
    ZSTD_CCtx_setParameter(ctx, ZSTD_c_contentSizeFlag, 0);
  }
  const std::string chunk(1u << 20, '\0');
  std::string out;
  std::string buf(ZSTD_CStreamOutSize(), '\0');
  size_t fed = 0;
  for (;;) {
    const size_t n = std::min(chunk.size(), total - fed);
    const bool last = fed + n == total;
    ZSTD_inBuffer in{chunk.data(), n, 0};
    for (;;) {
      ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
      const size_t remaining =
          ZSTD_compressStream2(ctx, &ob, &in, last ? ZSTD_e_end : ZSTD_e_continue);
      EXPECT_FALSE(ZSTD_isError(remaining)) << ZSTD_getErrorName(remaining);
      out.append(buf.data(), ob.pos);
      if (last ? remaining == 0 : in.pos == in.size) break;
    }
    fed += n;
    if (last) break;
  }
  ZSTD_freeCCtx(ctx);
  return out;
}

// Size of a zstd frame header (RFC 8878 3.1.1.1), to find the first block.
size_t frameHeaderSize(const std::string& frame) {
  const auto fhd = static_cast<uint8_t>(frame.at(4));
  const bool single_segment = (fhd >> 5) & 1;
  static constexpr size_t kDictIdSize[] = {0, 1, 2, 4};
  static constexpr size_t kContentSize[] = {0, 2, 4, 8};
  const size_t fcs = (fhd >> 6) == 0 ? (single_segment ? 1 : 0) : kContentSize[fhd >> 6];
  return 4 + 1 + (single_segment ? 0 : 1) + kDictIdSize[fhd & 3] + fcs;
}

TEST(ProtocolZstd, RoundTrip) {
  std::string text;
  for (int i = 0; i < 10000; ++i) text += "line " + std::to_string(i) + " of a log file\n";
  auto compressed = zstdCompress(text, 3);
  ASSERT_TRUE(compressed.ok()) << compressed.error().message;
  EXPECT_LT(compressed->size(), text.size() / 4);
  auto restored = zstdDecompress(*compressed, text.size());
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_EQ(*restored, text);
}

TEST(ProtocolZstd, EmptyInputRoundTrips) {
  auto compressed = zstdCompress("", 3);
  ASSERT_TRUE(compressed.ok());
  EXPECT_FALSE(compressed->empty());
  auto restored = zstdDecompress(*compressed, 0);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  EXPECT_TRUE(restored->empty());
}

TEST(ProtocolZstd, ExactlyTheBoundIsAcceptedOneMoreIsNot) {
  const std::string data(100000, 'q');
  auto compressed = zstdCompress(data, 3);
  ASSERT_TRUE(compressed.ok());
  EXPECT_TRUE(zstdDecompress(*compressed, data.size()).ok());
  auto refused = zstdDecompress(*compressed, data.size() - 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
}

TEST(ProtocolZstd, DeclaredBombRefusedWithoutInflating) {
  const size_t bomb = 200u << 20;
  const size_t bound = 1u << 20;
  const std::string payload = zeroBomb(bomb, true);
  ASSERT_EQ(ZSTD_getFrameContentSize(payload.data(), payload.size()), bomb);
  AllocationTracker tracker;
  auto result = zstdDecompress(payload, bound);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(result.error().message.find(std::to_string(bomb)), std::string::npos)
      << result.error().message;
  EXPECT_NE(result.error().message.find(std::to_string(bound)), std::string::npos)
      << result.error().message;
  EXPECT_LT(tracker.largest(), 64u << 10);
}

TEST(ProtocolZstd, UnknownSizeBombStopsAtTheBound) {
  const size_t bomb = 200u << 20;
  const size_t bound = 1u << 20;
  const std::string payload = zeroBomb(bomb, false);
  ASSERT_EQ(ZSTD_getFrameContentSize(payload.data(), payload.size()), ZSTD_CONTENTSIZE_UNKNOWN);
  AllocationTracker tracker;
  auto result = zstdDecompress(payload, bound);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(result.error().message.find(std::to_string(bound)), std::string::npos)
      << result.error().message;
  EXPECT_LE(tracker.largest(), bound + 1024);
  EXPECT_GT(tracker.largest(), 0u);
}

TEST(ProtocolZstd, UnknownSizeUnderTheBoundDecodes) {
  const size_t size = 3u << 20;
  const std::string payload = zeroBomb(size, false);
  auto result = zstdDecompress(payload, 4u << 20);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(*result, std::string(size, '\0'));
}

TEST(ProtocolZstd, OversizedWindowRefused) {
  // The decoder would allocate the window (16 MiB here) before producing
  // any output, so it is capped independently of the output bound.
  const std::string big_window = zeroBomb(2u << 20, false, 24);
  auto refused = zstdDecompress(big_window, 64u << 20);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(refused.error().message.find("window"), std::string::npos) << refused.error().message;

  const std::string ok_window = zeroBomb(2u << 20, false, 23);
  auto accepted = zstdDecompress(ok_window, 64u << 20);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(accepted->size(), 2u << 20);
}

TEST(ProtocolZstd, ConcatenatedFramesCountTowardsTheBound) {
  const std::string part(600u << 10, 'c');
  auto one = zstdCompress(part, 1);
  ASSERT_TRUE(one.ok());
  const std::string two = *one + *one;
  auto refused = zstdDecompress(two, 1u << 20);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooLarge);
  auto accepted = zstdDecompress(two, 2 * part.size());
  ASSERT_TRUE(accepted.ok()) << accepted.error().message;
  EXPECT_EQ(*accepted, part + part);
}

TEST(ProtocolZstd, GarbageIsCorrupt) {
  auto result = zstdDecompress("this is not zstd at all", 1u << 20);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kCorrupt);
  auto empty = zstdDecompress("", 1u << 20);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kCorrupt);
}

TEST(ProtocolZstd, CorruptBlockReportsZstdError) {
  std::string data;
  for (int i = 0; i < 2000; ++i) data += "event " + std::to_string(i * 7919) + "\n";
  auto compressed = zstdCompress(data, 3);
  ASSERT_TRUE(compressed.ok());
  std::string bad = *compressed;
  const size_t header = frameHeaderSize(bad);
  ASSERT_LT(header, bad.size());
  // Block type 3 is reserved: zstd must refuse the block.
  bad[header] = static_cast<char>(bad[header] | 0x06);
  auto result = zstdDecompress(bad, 1u << 20);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(result.error().message.find("orrupt"), std::string::npos) << result.error().message;
  // The decoder recovers for the next payload on this thread.
  auto good = zstdDecompress(*compressed, 1u << 20);
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(*good, data);
}

TEST(ProtocolZstd, TruncatedFrameIsCorrupt) {
  std::string data;
  for (int i = 0; i < 2000; ++i) data += "record " + std::to_string(i * 104729) + "\n";
  auto compressed = zstdCompress(data, 3);
  ASSERT_TRUE(compressed.ok());
  for (size_t cut : {compressed->size() - 1, compressed->size() / 2, size_t{12}}) {
    auto result = zstdDecompress(compressed->substr(0, cut), 1u << 20);
    ASSERT_FALSE(result.ok()) << "cut at " << cut;
    EXPECT_EQ(result.error().code, ErrorCode::kCorrupt) << result.error().message;
  }
}

}  // namespace
}  // namespace edge::protocol
