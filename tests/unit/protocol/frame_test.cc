// Tests for the frame header encoding and the incremental FrameDecoder.
#include "edge/protocol/frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace edge::protocol {
namespace {

struct Decoded {
  std::vector<Frame> frames;
  bool failed = false;
  Error error;
};

// Pulls every complete frame out of the decoder.
void drain(FrameDecoder& decoder, Decoded& out) {
  for (;;) {
    auto next = decoder.next();
    if (!next.ok()) {
      out.failed = true;
      out.error = next.error();
      return;
    }
    if (!next->has_value()) return;
    out.frames.push_back(std::move(**next));
  }
}

std::string header(uint8_t m0, uint8_t m1, uint8_t version, uint8_t type, uint16_t flags,
                   uint16_t reserved, uint32_t length) {
  std::string h;
  h += static_cast<char>(m0);
  h += static_cast<char>(m1);
  h += static_cast<char>(version);
  h += static_cast<char>(type);
  h += static_cast<char>(flags >> 8);
  h += static_cast<char>(flags & 0xff);
  h += static_cast<char>(reserved >> 8);
  h += static_cast<char>(reserved & 0xff);
  h += static_cast<char>(length >> 24);
  h += static_cast<char>((length >> 16) & 0xff);
  h += static_cast<char>((length >> 8) & 0xff);
  h += static_cast<char>(length & 0xff);
  return h;
}

std::string validHeader(uint32_t length, uint8_t type = 16, uint16_t flags = 0) {
  return header(kMagic0, kMagic1, kProtocolVersion, type, flags, 0, length);
}

TEST(ProtocolFrameEncode, HeaderLayoutIsBigEndian) {
  const std::string bytes = encodeFrame(FrameType::kBatch, kFlagZstd, std::string(0x010203, 'x'));
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + 0x010203);
  const std::string expected("\x45\x44\x01\x10\x00\x01\x00\x00\x00\x01\x02\x03", kFrameHeaderSize);
  EXPECT_EQ(bytes.substr(0, kFrameHeaderSize), expected);
}

TEST(ProtocolFrameEncode, AppendKeepsExistingBytes) {
  std::string out = "prefix";
  appendFrame(out, FrameType::kAck, 0, "ab");
  EXPECT_EQ(out.substr(0, 6), "prefix");
  EXPECT_EQ(out.size(), 6 + kFrameHeaderSize + 2);
  EXPECT_EQ(out.substr(6 + kFrameHeaderSize), "ab");
  EXPECT_EQ(static_cast<uint8_t>(out[6 + 3]), 3);
}

TEST(ProtocolFrameType, NamesAndKnownTypes) {
  EXPECT_STREQ(frameTypeName(FrameType::kHello), "HELLO");
  EXPECT_STREQ(frameTypeName(FrameType::kWelcome), "WELCOME");
  EXPECT_STREQ(frameTypeName(FrameType::kAck), "ACK");
  EXPECT_STREQ(frameTypeName(FrameType::kCredit), "CREDIT");
  EXPECT_STREQ(frameTypeName(FrameType::kHeartbeat), "HEARTBEAT");
  EXPECT_STREQ(frameTypeName(FrameType::kGoaway), "GOAWAY");
  EXPECT_STREQ(frameTypeName(FrameType::kError), "ERROR");
  EXPECT_STREQ(frameTypeName(FrameType::kBatch), "BATCH");
  EXPECT_STREQ(frameTypeName(static_cast<FrameType>(99)), "UNKNOWN");
  for (int t : {1, 2, 3, 4, 5, 6, 7, 16})
    EXPECT_TRUE(isKnownFrameType(static_cast<uint8_t>(t))) << t;
  for (int t : {0, 8, 15, 17, 255}) EXPECT_FALSE(isKnownFrameType(static_cast<uint8_t>(t))) << t;
}

TEST(ProtocolFrameDecoder, RoundTripsEveryType) {
  const std::vector<FrameType> types = {
      FrameType::kHello,     FrameType::kWelcome, FrameType::kAck,   FrameType::kCredit,
      FrameType::kHeartbeat, FrameType::kGoaway,  FrameType::kError, FrameType::kBatch};
  std::string wire;
  for (size_t i = 0; i < types.size(); ++i) {
    appendFrame(wire, types[i], types[i] == FrameType::kBatch ? kFlagZstd : 0,
                std::string(i * 7, 'a' + static_cast<char>(i)));
  }
  FrameDecoder decoder;
  ASSERT_TRUE(decoder.feed(wire).ok());
  Decoded out;
  drain(decoder, out);
  ASSERT_FALSE(out.failed) << out.error.message;
  ASSERT_EQ(out.frames.size(), types.size());
  for (size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(out.frames[i].type, types[i]);
    EXPECT_EQ(out.frames[i].flags, types[i] == FrameType::kBatch ? kFlagZstd : 0);
    EXPECT_EQ(out.frames[i].payload, std::string(i * 7, 'a' + static_cast<char>(i)));
  }
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
}

TEST(ProtocolFrameDecoder, ByteAtATimeNeverYieldsEarly) {
  std::string wire;
  appendFrame(wire, FrameType::kHello, 0, "hello payload");
  appendFrame(wire, FrameType::kCredit, 0, "");
  appendFrame(wire, FrameType::kBatch, kFlagZstd, std::string(300, '\x00'));
  const std::vector<size_t> frame_ends = {kFrameHeaderSize + 13, 2 * kFrameHeaderSize + 13,
                                          wire.size()};

  FrameDecoder decoder;
  Decoded out;
  for (size_t i = 0; i < wire.size(); ++i) {
    ASSERT_TRUE(decoder.feed(&wire[i], 1).ok());
    drain(decoder, out);
    ASSERT_FALSE(out.failed) << out.error.message;
    size_t complete = 0;
    for (size_t end : frame_ends) complete += end <= i + 1 ? 1 : 0;
    ASSERT_EQ(out.frames.size(), complete) << "after byte " << i;
  }
  ASSERT_EQ(out.frames.size(), 3u);
  EXPECT_EQ(out.frames[0].payload, "hello payload");
  EXPECT_EQ(out.frames[1].type, FrameType::kCredit);
  EXPECT_TRUE(out.frames[1].payload.empty());
  EXPECT_EQ(out.frames[2].payload, std::string(300, '\x00'));
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
}

TEST(ProtocolFrameDecoder, EverySplitOfTwoFramesDecodes) {
  std::string wire;
  appendFrame(wire, FrameType::kAck, 0, "first");
  appendFrame(wire, FrameType::kGoaway, 0, "second one");
  for (size_t split = 0; split <= wire.size(); ++split) {
    FrameDecoder decoder;
    Decoded out;
    ASSERT_TRUE(decoder.feed(wire.data(), split).ok());
    drain(decoder, out);
    ASSERT_TRUE(decoder.feed(wire.data() + split, wire.size() - split).ok());
    drain(decoder, out);
    ASSERT_FALSE(out.failed) << out.error.message;
    ASSERT_EQ(out.frames.size(), 2u) << "split " << split;
    EXPECT_EQ(out.frames[0].payload, "first");
    EXPECT_EQ(out.frames[1].payload, "second one");
  }
}

TEST(ProtocolFrameDecoder, TruncatedFrameWaitsForMoreBytes) {
  const std::string wire = encodeFrame(FrameType::kHeartbeat, 0, "0123456789");
  FrameDecoder decoder;
  ASSERT_TRUE(decoder.feed(wire.data(), wire.size() - 1).ok());
  auto next = decoder.next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(decoder.bufferedBytes(), wire.size() - 1);
  // Asking again changes nothing.
  next = decoder.next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());

  ASSERT_TRUE(decoder.feed(wire.data() + wire.size() - 1, 1).ok());
  next = decoder.next();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->payload, "0123456789");
}

TEST(ProtocolFrameDecoder, HeaderAloneIsNotAFrame) {
  FrameDecoder decoder;
  const std::string h = validHeader(5);
  ASSERT_TRUE(decoder.feed(h.data(), kFrameHeaderSize - 1).ok());
  auto next = decoder.next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  ASSERT_TRUE(decoder.feed(h.data() + kFrameHeaderSize - 1, 1).ok());
  next = decoder.next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

TEST(ProtocolFrameDecoder, ManyFramesInUnalignedChunks) {
  // Chunks never line up with frame boundaries, so the decoder keeps a
  // partial frame while compacting; every payload must come out intact.
  std::string wire;
  constexpr int kFrames = 5000;
  for (int i = 0; i < kFrames; ++i) {
    appendFrame(wire, FrameType::kBatch, 0,
                std::to_string(i) + std::string(static_cast<size_t>(i % 97), 'z'));
  }
  FrameDecoder decoder;
  Decoded out;
  size_t max_buffered = 0;
  for (size_t pos = 0; pos < wire.size(); pos += 173) {
    ASSERT_TRUE(decoder.feed(wire.data() + pos, std::min<size_t>(173, wire.size() - pos)).ok());
    drain(decoder, out);
    ASSERT_FALSE(out.failed) << out.error.message;
    max_buffered = std::max(max_buffered, decoder.bufferedBytes());
  }
  ASSERT_EQ(out.frames.size(), static_cast<size_t>(kFrames));
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_EQ(out.frames[static_cast<size_t>(i)].payload,
              std::to_string(i) + std::string(static_cast<size_t>(i % 97), 'z'));
  }
  // Only a partial frame is ever held back.
  EXPECT_LT(max_buffered, kFrameHeaderSize + 101);
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
}

TEST(ProtocolFrameDecoder, OversizedLengthRefusedBeforePayloadArrives) {
  FrameDecoder decoder(1024);
  // Only the header: the payload is never sent, yet the frame is refused.
  const std::string h = validHeader(1025);
  auto fed = decoder.feed(h);
  ASSERT_FALSE(fed.ok());
  EXPECT_EQ(fed.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(fed.error().message.find("1025"), std::string::npos) << fed.error().message;
  EXPECT_NE(fed.error().message.find("1024"), std::string::npos) << fed.error().message;
  EXPECT_TRUE(decoder.failed());
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
  auto next = decoder.next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().code, ErrorCode::kTooLarge);
}

TEST(ProtocolFrameDecoder, HugeLengthRefusedWithDefaultLimit) {
  FrameDecoder decoder;
  auto fed = decoder.feed(validHeader(0xffffffffu));
  ASSERT_FALSE(fed.ok());
  EXPECT_EQ(fed.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(fed.error().message.find(std::to_string(kDefaultMaxFrameSize)), std::string::npos);
}

TEST(ProtocolFrameDecoder, PayloadOfExactlyTheMaximumIsAccepted) {
  FrameDecoder decoder(64);
  ASSERT_TRUE(decoder.feed(encodeFrame(FrameType::kBatch, 0, std::string(64, 'm'))).ok());
  auto next = decoder.next();
  ASSERT_TRUE(next.ok()) << next.error().message;
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->payload.size(), 64u);
}

TEST(ProtocolFrameDecoder, OversizedSecondFrameIsRefusedAfterTheFirstIsReturned) {
  FrameDecoder decoder(16);
  std::string wire = encodeFrame(FrameType::kAck, 0, "ok");
  wire += validHeader(17);
  ASSERT_TRUE(decoder.feed(wire).ok());
  auto first = decoder.next();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->payload, "ok");
  auto second = decoder.next();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kTooLarge);
}

// Feeds `bytes` and returns the first error from feed or next.
Error firstError(FrameDecoder& decoder, const std::string& bytes) {
  auto fed = decoder.feed(bytes);
  if (!fed.ok()) return fed.error();
  auto next = decoder.next();
  if (!next.ok()) return next.error();
  ADD_FAILURE() << "no error for the given bytes";
  return Error{};
}

TEST(ProtocolFrameDecoder, BadMagicRefused) {
  FrameDecoder decoder;
  const Error e = firstError(decoder, "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(e.code, ErrorCode::kProtocol);
  EXPECT_NE(e.message.find("magic"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("0x47 0x45"), std::string::npos) << e.message;
}

TEST(ProtocolFrameDecoder, WrongVersionNamesBothVersions) {
  FrameDecoder decoder;
  const Error e = firstError(decoder, header(kMagic0, kMagic1, 2, 16, 0, 0, 0));
  EXPECT_EQ(e.code, ErrorCode::kUnsupportedVersion);
  EXPECT_NE(e.message.find("version 2"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("version 1"), std::string::npos) << e.message;
}

TEST(ProtocolFrameDecoder, UnknownTypeRefused) {
  FrameDecoder decoder;
  const Error e = firstError(decoder, header(kMagic0, kMagic1, kProtocolVersion, 9, 0, 0, 0));
  EXPECT_EQ(e.code, ErrorCode::kProtocol);
  EXPECT_NE(e.message.find("type 9"), std::string::npos) << e.message;
}

TEST(ProtocolFrameDecoder, UnknownFlagsRefused) {
  FrameDecoder decoder;
  const Error e = firstError(decoder, header(kMagic0, kMagic1, kProtocolVersion, 16, 0x0003, 0, 0));
  EXPECT_EQ(e.code, ErrorCode::kProtocol);
  EXPECT_NE(e.message.find("0x0003"), std::string::npos) << e.message;
}

TEST(ProtocolFrameDecoder, NonZeroReservedRefused) {
  for (uint16_t reserved : {uint16_t{1}, uint16_t{0x8000}}) {
    FrameDecoder decoder;
    const Error e =
        firstError(decoder, header(kMagic0, kMagic1, kProtocolVersion, 1, 0, reserved, 0));
    EXPECT_EQ(e.code, ErrorCode::kProtocol);
    EXPECT_NE(e.message.find("reserved"), std::string::npos) << e.message;
  }
}

TEST(ProtocolFrameDecoder, FailureIsSticky) {
  FrameDecoder decoder;
  ASSERT_FALSE(decoder.feed(header('X', 'Y', 1, 1, 0, 0, 0)).ok());
  ASSERT_TRUE(decoder.failed());
  const std::string good = encodeFrame(FrameType::kHello, 0, "x");
  auto fed = decoder.feed(good);
  ASSERT_FALSE(fed.ok());
  EXPECT_EQ(fed.error().code, ErrorCode::kProtocol);
  auto next = decoder.next();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message.find("magic"), std::string::npos);
}

TEST(ProtocolFrameDecoder, BadHeaderAfterGoodFrameFailsOnlyAfterTheGoodFrame) {
  std::string wire = encodeFrame(FrameType::kHello, 0, "x");
  wire += header(kMagic0, kMagic1, 7, 1, 0, 0, 0);
  FrameDecoder decoder;
  ASSERT_TRUE(decoder.feed(wire).ok());
  Decoded out;
  drain(decoder, out);
  ASSERT_EQ(out.frames.size(), 1u);
  ASSERT_TRUE(out.failed);
  EXPECT_EQ(out.error.code, ErrorCode::kUnsupportedVersion);
}

TEST(ProtocolFrameDecoder, EmptyFeedIsHarmless) {
  FrameDecoder decoder;
  ASSERT_TRUE(decoder.feed(nullptr, 0).ok());
  auto next = decoder.next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

}  // namespace
}  // namespace edge::protocol
