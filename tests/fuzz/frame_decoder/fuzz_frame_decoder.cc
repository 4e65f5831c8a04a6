// libFuzzer target: arbitrary bytes from a peer, fed to FrameDecoder in
// data-derived splits, then every frame decoded as the gateway would.
// Invariant checked besides memory safety: the split never changes the
// outcome (same frames, same error) compared with one whole feed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "edge/protocol/batch.h"
#include "edge/protocol/control.h"
#include "edge/protocol/frame.h"

namespace {

using edge::protocol::Frame;
using edge::protocol::FrameDecoder;
using edge::protocol::FrameType;

constexpr uint32_t kMaxFrame = 1u << 20;
constexpr size_t kMaxDecompressed = 1u << 20;

struct Outcome {
  std::vector<Frame> frames;
  bool failed = false;
  edge::ErrorCode code = edge::ErrorCode::kInternal;
};

void drain(FrameDecoder& decoder, Outcome& out) {
  while (!out.failed) {
    auto next = decoder.next();
    if (!next.ok()) {
      out.failed = true;
      out.code = next.error().code;
      return;
    }
    if (!next->has_value()) return;
    out.frames.push_back(std::move(**next));
  }
}

void feedAndDrain(FrameDecoder& decoder, std::string_view bytes, Outcome& out) {
  if (out.failed) return;
  auto fed = decoder.feed(bytes);
  if (!fed.ok()) {
    out.failed = true;
    out.code = fed.error().code;
    return;
  }
  drain(decoder, out);
}

// Split points come from the input itself (FNV-1a seeded xorshift), so
// libFuzzer explores splits by mutating bytes and every seed is plain wire
// bytes.
uint64_t splitSeed(std::string_view input) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : input) h = (h ^ c) * 1099511628211ull;
  return h | 1;
}

Outcome decodeSplit(std::string_view input) {
  FrameDecoder decoder(kMaxFrame);
  Outcome out;
  uint64_t state = splitSeed(input);
  size_t pos = 0;
  while (pos < input.size() && !out.failed) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    // Mostly tiny reads (1..16 bytes), sometimes a large one.
    const size_t len = (state & 0x30) == 0 ? 1 + (state >> 8) % 4096 : 1 + (state >> 8) % 16;
    const size_t n = len < input.size() - pos ? len : input.size() - pos;
    feedAndDrain(decoder, input.substr(pos, n), out);
    pos += n;
  }
  return out;
}

template <typename Message>
void parseAs(const Frame& frame) {
  Message message;
  if (edge::protocol::parseControl(frame, message).ok()) {
    // What parsed must re-encode into a frame that parses again.
    const std::string again = edge::protocol::encodeControlFrame(frame.type, message);
    FrameDecoder decoder(UINT32_MAX);
    if (!decoder.feed(again).ok()) std::abort();
    auto next = decoder.next();
    if (!next.ok() || !next->has_value()) std::abort();
    Message reparsed;
    if (!edge::protocol::parseControl(**next, reparsed).ok()) std::abort();
  }
}

void handle(const Frame& frame) {
  switch (frame.type) {
    case FrameType::kHello:
      parseAs<edge::wire::Hello>(frame);
      break;
    case FrameType::kWelcome:
      parseAs<edge::wire::Welcome>(frame);
      break;
    case FrameType::kAck:
      parseAs<edge::wire::Ack>(frame);
      break;
    case FrameType::kCredit:
      parseAs<edge::wire::Credit>(frame);
      break;
    case FrameType::kHeartbeat:
      parseAs<edge::wire::Heartbeat>(frame);
      break;
    case FrameType::kGoaway:
      parseAs<edge::wire::Goaway>(frame);
      break;
    case FrameType::kError:
      parseAs<edge::wire::Error>(frame);
      break;
    case FrameType::kBatch: {
      auto batch = edge::protocol::decodeBatchPayload(frame.payload, frame.flags, kMaxDecompressed);
      if (batch.ok()) {
        for (const edge::Event& e : batch->events) {
          if (!e.tenant.empty()) std::abort();  // never taken from the wire
        }
      }
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Outcome whole;
  FrameDecoder decoder(kMaxFrame);
  feedAndDrain(decoder, input, whole);

  const Outcome split = decodeSplit(input);
  if (split.failed != whole.failed || split.frames.size() != whole.frames.size()) std::abort();
  if (split.failed && split.code != whole.code) std::abort();
  for (size_t i = 0; i < whole.frames.size(); ++i) {
    const Frame& a = whole.frames[i];
    const Frame& b = split.frames[i];
    if (a.type != b.type || a.flags != b.flags || a.payload != b.payload) std::abort();
    if (a.payload.size() > kMaxFrame) std::abort();
    handle(a);
  }
  return 0;
}
