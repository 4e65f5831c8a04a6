// Helpers for Protocol Buffers control frames (protocol/schemas/control.proto,
// generated as <edge/protocol/control.pb.h>, namespace edge::wire).
#pragma once

#include <string>

#include "edge/common/result.h"
#include "edge/protocol/control.pb.h"
#include "edge/protocol/frame.h"

namespace edge::protocol {

// Serialises `message` into a complete frame of `type` (header + payload).
std::string encodeControlFrame(FrameType type, const google::protobuf::MessageLite& message);
// Appends the frame to `out`.
void appendControlFrame(std::string& out, FrameType type, const google::protobuf::MessageLite& message);

// Parses a control frame's payload; kProtocol if it is not a valid message.
Result<void> parseControl(const Frame& frame, google::protobuf::MessageLite& message);

}  // namespace edge::protocol
