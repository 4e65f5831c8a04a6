// Wire framing for the agent <-> gateway protocol.
//
// Every frame is a fixed 12-byte header followed by the payload:
//
//   offset size field
//   0      2    magic            0x45 0x44 ("ED")
//   2      1    version          kProtocolVersion
//   3      1    type             FrameType
//   4      2    flags            big-endian; kFlagZstd = payload is zstd-compressed
//   6      2    reserved         must be zero
//   8      4    payload length   big-endian
//
// The decoder checks magic, version, type, reserved bits and the length
// against the maximum frame size as soon as the header is complete, before
// it buffers or allocates anything for the payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "edge/common/result.h"

namespace edge::protocol {

inline constexpr uint8_t kMagic0 = 0x45;  // 'E'
inline constexpr uint8_t kMagic1 = 0x44;  // 'D'
inline constexpr uint8_t kProtocolVersion = 1;
inline constexpr size_t kFrameHeaderSize = 12;
inline constexpr uint32_t kDefaultMaxFrameSize = 8u << 20;           // 8 MiB on the wire
inline constexpr size_t kDefaultMaxDecompressedSize = 64u << 20;     // 64 MiB after zstd

enum class FrameType : uint8_t {
  kHello = 1,
  kWelcome = 2,
  kAck = 3,
  kCredit = 4,
  kHeartbeat = 5,
  kGoaway = 6,
  kError = 7,
  kBatch = 16,
};

inline constexpr uint16_t kFlagZstd = 1u << 0;
inline constexpr uint16_t kKnownFlags = kFlagZstd;

const char* frameTypeName(FrameType type);
bool isKnownFrameType(uint8_t type);

struct Frame {
  FrameType type = FrameType::kError;
  uint16_t flags = 0;
  std::string payload;
};

// Appends header + payload to `out`. The caller keeps payloads under the
// peer's maximum frame size.
void appendFrame(std::string& out, FrameType type, uint16_t flags, std::string_view payload);
std::string encodeFrame(FrameType type, uint16_t flags, std::string_view payload);

// Incremental decoder: feed it whatever the socket delivered, in any split,
// then pull complete frames. After an error it stays failed (the connection
// must be closed); the error says what was wrong.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_size = kDefaultMaxFrameSize);

  // Buffers bytes. Fails if the decoder already failed.
  Result<void> feed(const char* data, size_t size);
  Result<void> feed(std::string_view data) { return feed(data.data(), data.size()); }

  // Next complete frame, std::nullopt if more bytes are needed, or an error
  // (bad magic, unsupported version, unknown type, unknown flags, non-zero
  // reserved bits, payload larger than the maximum).
  Result<std::optional<Frame>> next();

  // Bytes held but not yet returned as frames (for per-connection caps).
  size_t bufferedBytes() const;
  bool failed() const { return failed_; }

 private:
  uint32_t max_frame_size_;
  std::string buffer_;
  size_t read_pos_ = 0;
  bool failed_ = false;
  Error error_;
};

}  // namespace edge::protocol
