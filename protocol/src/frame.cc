// Frame header encoding and the incremental frame decoder (see frame.h for
// the header layout). The decoder never trusts a length before checking it.
#include "edge/protocol/frame.h"

#include <cassert>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

namespace edge::protocol {
namespace {

// Below this the buffer's capacity is kept after a large frame; above it the
// decoder gives memory back once the buffer drains, so one 8 MiB frame does
// not pin 8 MiB for the life of an idle connection.
constexpr size_t kRetainedCapacity = 256u << 10;

uint16_t readBe16(const unsigned char* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

uint32_t readBe32(const unsigned char* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

std::string hex(unsigned value, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += kDigits[(value >> shift) & 0xf];
  return out;
}

struct Header {
  FrameType type;
  uint16_t flags;
  uint32_t length;
};

// Validates a complete 12-byte header.
Result<Header> parseHeader(const unsigned char* p, uint32_t max_frame_size) {
  if (p[0] != kMagic0 || p[1] != kMagic1) {
    return makeError(ErrorCode::kProtocol,
                     "bad frame magic " + hex(p[0], 2) + " " + hex(p[1], 2) +
                         " (expected 0x45 0x44, \"ED\"): the peer is not speaking the edge "
                         "protocol; check that it is an edge agent/gateway and that TLS is "
                         "configured the same way on both sides");
  }
  if (p[2] != kProtocolVersion) {
    return makeError(ErrorCode::kUnsupportedVersion,
                     "unsupported protocol version " + std::to_string(p[2]) +
                         " (this side supports version " + std::to_string(kProtocolVersion) +
                         "); upgrade the older of agent and gateway");
  }
  if (!isKnownFrameType(p[3])) {
    return makeError(ErrorCode::kProtocol, "unknown frame type " + std::to_string(p[3]) +
                                               "; the peer speaks a newer or different protocol");
  }
  const uint16_t flags = readBe16(p + 4);
  if ((flags & ~kKnownFlags) != 0) {
    return makeError(ErrorCode::kProtocol, "unknown frame flags " + hex(flags, 4) + " on a " +
                                               frameTypeName(static_cast<FrameType>(p[3])) +
                                               " frame (known flags: 0x0001 zstd)");
  }
  const uint16_t reserved = readBe16(p + 6);
  if (reserved != 0) {
    return makeError(ErrorCode::kProtocol,
                     "non-zero reserved header bits " + hex(reserved, 4) + " on a " +
                         frameTypeName(static_cast<FrameType>(p[3])) +
                         " frame; the peer speaks a newer or different protocol");
  }
  const uint32_t length = readBe32(p + 8);
  if (length > max_frame_size) {
    return makeError(ErrorCode::kTooLarge,
                     std::string(frameTypeName(static_cast<FrameType>(p[3]))) +
                         " frame payload of " + std::to_string(length) +
                         " bytes exceeds the maximum frame size of " +
                         std::to_string(max_frame_size) +
                         " bytes; send smaller batches or raise the receiver's max frame size");
  }
  return Header{static_cast<FrameType>(p[3]), flags, length};
}

}  // namespace

const char* frameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kWelcome:
      return "WELCOME";
    case FrameType::kAck:
      return "ACK";
    case FrameType::kCredit:
      return "CREDIT";
    case FrameType::kHeartbeat:
      return "HEARTBEAT";
    case FrameType::kGoaway:
      return "GOAWAY";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kBatch:
      return "BATCH";
  }
  return "UNKNOWN";
}

bool isKnownFrameType(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kHello:
    case FrameType::kWelcome:
    case FrameType::kAck:
    case FrameType::kCredit:
    case FrameType::kHeartbeat:
    case FrameType::kGoaway:
    case FrameType::kError:
    case FrameType::kBatch:
      return true;
  }
  return false;
}

void appendFrame(std::string& out, FrameType type, uint16_t flags, std::string_view payload) {
  assert(payload.size() <= std::numeric_limits<uint32_t>::max());
  const auto length = static_cast<uint32_t>(payload.size());
  const char header[kFrameHeaderSize] = {
      static_cast<char>(kMagic0),
      static_cast<char>(kMagic1),
      static_cast<char>(kProtocolVersion),
      static_cast<char>(type),
      static_cast<char>(flags >> 8),
      static_cast<char>(flags & 0xff),
      0,
      0,
      static_cast<char>(length >> 24),
      static_cast<char>((length >> 16) & 0xff),
      static_cast<char>((length >> 8) & 0xff),
      static_cast<char>(length & 0xff),
  };
  out.reserve(out.size() + kFrameHeaderSize + payload.size());
  out.append(header, kFrameHeaderSize);
  out.append(payload);
}

std::string encodeFrame(FrameType type, uint16_t flags, std::string_view payload) {
  std::string out;
  appendFrame(out, type, flags, payload);
  return out;
}

FrameDecoder::FrameDecoder(uint32_t max_frame_size) : max_frame_size_(max_frame_size) {}

Result<void> FrameDecoder::feed(const char* data, size_t size) {
  if (failed_) return error_;
  if (size == 0) return okResult();
  // Compacting only once the consumed prefix is at least half the buffer
  // keeps the memmove cost amortised O(1) per byte, instead of one erase per
  // frame.
  if (read_pos_ > 0 && read_pos_ >= buffer_.size() - read_pos_) {
    buffer_.erase(0, read_pos_);
    read_pos_ = 0;
  }
  buffer_.append(data, size);
  // Refuse a bad header as soon as it is complete, so a caller that feeds
  // several reads before pulling frames still never buffers an oversized or
  // foreign payload.
  if (buffer_.size() - read_pos_ >= kFrameHeaderSize) {
    auto header = parseHeader(reinterpret_cast<const unsigned char*>(buffer_.data() + read_pos_),
                              max_frame_size_);
    if (!header.ok()) {
      failed_ = true;
      error_ = header.error();
      buffer_.clear();
      buffer_.shrink_to_fit();
      read_pos_ = 0;
      return error_;
    }
  }
  return okResult();
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (failed_) return error_;
  const size_t available = buffer_.size() - read_pos_;
  if (available < kFrameHeaderSize) return std::optional<Frame>();
  auto header = parseHeader(reinterpret_cast<const unsigned char*>(buffer_.data() + read_pos_),
                            max_frame_size_);
  if (!header.ok()) {
    failed_ = true;
    error_ = header.error();
    buffer_.clear();
    buffer_.shrink_to_fit();
    read_pos_ = 0;
    return error_;
  }
  if (available - kFrameHeaderSize < header->length) return std::optional<Frame>();

  Frame frame;
  frame.type = header->type;
  frame.flags = header->flags;
  frame.payload.assign(buffer_.data() + read_pos_ + kFrameHeaderSize, header->length);
  read_pos_ += kFrameHeaderSize + header->length;
  if (read_pos_ == buffer_.size()) {
    // Drained: restart at the front without moving anything.
    buffer_.clear();
    read_pos_ = 0;
    if (buffer_.capacity() > kRetainedCapacity) buffer_.shrink_to_fit();
  }
  return std::optional<Frame>(std::move(frame));
}

size_t FrameDecoder::bufferedBytes() const { return buffer_.size() - read_pos_; }

}  // namespace edge::protocol
