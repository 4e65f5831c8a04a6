// Control frames: a Protocol Buffers message (lite runtime) as the payload
// of a frame whose type names the message.
#include "edge/protocol/control.h"

#include <cassert>
#include <climits>
#include <limits>
#include <string>

namespace edge::protocol {

std::string encodeControlFrame(FrameType type, const google::protobuf::MessageLite& message) {
  std::string out;
  appendControlFrame(out, type, message);
  return out;
}

void appendControlFrame(std::string& out, FrameType type,
                        const google::protobuf::MessageLite& message) {
  // Serialised straight after the header in `out`: no temporary payload copy.
  const size_t size = message.ByteSizeLong();
  assert(size <= std::numeric_limits<uint32_t>::max());
  const size_t start = out.size();
  appendFrame(out, type, 0, std::string_view());
  out.resize(start + kFrameHeaderSize + size);
  const auto length = static_cast<uint32_t>(size);
  out[start + 8] = static_cast<char>(length >> 24);
  out[start + 9] = static_cast<char>((length >> 16) & 0xff);
  out[start + 10] = static_cast<char>((length >> 8) & 0xff);
  out[start + 11] = static_cast<char>(length & 0xff);
  message.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(out.data() + start + kFrameHeaderSize));
}

Result<void> parseControl(const Frame& frame, google::protobuf::MessageLite& message) {
  const char* name = frameTypeName(frame.type);
  if (frame.type == FrameType::kBatch) {
    return makeError(ErrorCode::kProtocol,
                     "a BATCH frame is not a control frame; decode it with decodeBatchPayload");
  }
  if ((frame.flags & kFlagZstd) != 0) {
    return makeError(ErrorCode::kProtocol,
                     std::string(name) +
                         " frame is flagged zstd, but control frames are never "
                         "compressed; the peer is misbehaving");
  }
  if (frame.payload.size() > static_cast<size_t>(INT_MAX) ||
      !message.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size()))) {
    return makeError(ErrorCode::kProtocol, "malformed " + std::string(name) +
                                               " frame: " + std::to_string(frame.payload.size()) +
                                               " payload bytes are not a valid " +
                                               message.GetTypeName() + " message");
  }
  return okResult();
}

}  // namespace edge::protocol
