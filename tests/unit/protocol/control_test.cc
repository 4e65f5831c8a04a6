// Tests for Protocol Buffers control frames: encode, frame, decode, refuse.
#include "edge/protocol/control.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace edge::protocol {
namespace {

std::vector<Frame> decodeAll(const std::string& wire) {
  FrameDecoder decoder;
  EXPECT_TRUE(decoder.feed(wire).ok());
  std::vector<Frame> frames;
  for (;;) {
    auto next = decoder.next();
    EXPECT_TRUE(next.ok());
    if (!next.ok() || !next->has_value()) break;
    frames.push_back(std::move(**next));
  }
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
  return frames;
}

TEST(ProtocolControl, FullExchangeRoundTrips) {
  wire::Hello hello;
  hello.set_protocol_version(kProtocolVersion);
  hello.set_agent_id("agent-7");
  hello.set_agent_version("0.1.0");
  hello.set_hostname("db-3");
  hello.add_capabilities("zstd");
  hello.set_enrollment_token("tok");
  hello.set_csr_pem(std::string("-----BEGIN\0CSR-----", 19));

  wire::Welcome welcome;
  welcome.set_session_id("s-1");
  welcome.set_credit_batches(8);
  welcome.set_credit_bytes(8u << 20);
  welcome.set_max_frame_bytes(kDefaultMaxFrameSize);
  (*welcome.mutable_policy())["batch_max_events"] = "1000";

  wire::Ack ack;
  auto* entry = ack.add_entries();
  entry->set_batch_id(42);
  entry->set_status(wire::ACK_STATUS_OK);
  entry = ack.add_entries();
  entry->set_batch_id(43);
  entry->set_status(wire::ACK_STATUS_REJECTED);
  entry->set_reason("invalid");

  wire::Credit credit;
  credit.set_batches(4);
  credit.set_bytes(1u << 20);

  wire::Heartbeat heartbeat;
  heartbeat.set_spool_batches(3);
  auto* input = heartbeat.add_inputs();
  input->set_name("tail:/var/log/syslog");
  input->set_events_read(100);

  wire::Goaway goaway;
  goaway.set_reason("draining");
  goaway.set_reconnect_after_ms(500);

  wire::Error error;
  error.set_code(wire::ERROR_CODE_TOO_LARGE);
  error.set_reason("frame too large");

  std::string wire_bytes = encodeControlFrame(FrameType::kHello, hello);
  appendControlFrame(wire_bytes, FrameType::kWelcome, welcome);
  appendControlFrame(wire_bytes, FrameType::kAck, ack);
  appendControlFrame(wire_bytes, FrameType::kCredit, credit);
  appendControlFrame(wire_bytes, FrameType::kHeartbeat, heartbeat);
  appendControlFrame(wire_bytes, FrameType::kGoaway, goaway);
  appendControlFrame(wire_bytes, FrameType::kError, error);

  const auto frames = decodeAll(wire_bytes);
  ASSERT_EQ(frames.size(), 7u);

  wire::Hello hello2;
  ASSERT_TRUE(parseControl(frames[0], hello2).ok());
  EXPECT_EQ(frames[0].type, FrameType::kHello);
  EXPECT_EQ(hello2.SerializeAsString(), hello.SerializeAsString());
  EXPECT_EQ(hello2.csr_pem(), hello.csr_pem());

  wire::Welcome welcome2;
  ASSERT_TRUE(parseControl(frames[1], welcome2).ok());
  EXPECT_EQ(welcome2.credit_bytes(), 8u << 20);
  EXPECT_EQ(welcome2.policy().at("batch_max_events"), "1000");

  wire::Ack ack2;
  ASSERT_TRUE(parseControl(frames[2], ack2).ok());
  ASSERT_EQ(ack2.entries_size(), 2);
  EXPECT_EQ(ack2.entries(1).status(), wire::ACK_STATUS_REJECTED);
  EXPECT_EQ(ack2.entries(1).reason(), "invalid");

  wire::Credit credit2;
  ASSERT_TRUE(parseControl(frames[3], credit2).ok());
  EXPECT_EQ(credit2.batches(), 4u);

  wire::Heartbeat heartbeat2;
  ASSERT_TRUE(parseControl(frames[4], heartbeat2).ok());
  EXPECT_EQ(heartbeat2.inputs(0).name(), "tail:/var/log/syslog");

  wire::Goaway goaway2;
  ASSERT_TRUE(parseControl(frames[5], goaway2).ok());
  EXPECT_EQ(goaway2.reconnect_after_ms(), 500u);

  wire::Error error2;
  ASSERT_TRUE(parseControl(frames[6], error2).ok());
  EXPECT_EQ(error2.code(), wire::ERROR_CODE_TOO_LARGE);
}

TEST(ProtocolControl, HeaderCarriesTypeAndLength) {
  wire::Credit credit;
  credit.set_batches(1);
  const std::string bytes = encodeControlFrame(FrameType::kCredit, credit);
  const std::string payload = credit.SerializeAsString();
  ASSERT_EQ(bytes.size(), kFrameHeaderSize + payload.size());
  EXPECT_EQ(static_cast<uint8_t>(bytes[3]), static_cast<uint8_t>(FrameType::kCredit));
  EXPECT_EQ(bytes[4], 0);
  EXPECT_EQ(bytes[5], 0);
  EXPECT_EQ(static_cast<uint8_t>(bytes[11]), payload.size());
  EXPECT_EQ(bytes.substr(kFrameHeaderSize), payload);
}

TEST(ProtocolControl, EmptyMessageIsAnEmptyPayload) {
  const std::string bytes = encodeControlFrame(FrameType::kCredit, wire::Credit());
  EXPECT_EQ(bytes.size(), kFrameHeaderSize);
  const auto frames = decodeAll(bytes);
  ASSERT_EQ(frames.size(), 1u);
  wire::Credit credit;
  credit.set_batches(99);  // parsing must reset what was there
  ASSERT_TRUE(parseControl(frames[0], credit).ok());
  EXPECT_EQ(credit.batches(), 0u);
}

TEST(ProtocolControl, MalformedPayloadNamesFrameAndMessage) {
  Frame frame;
  frame.type = FrameType::kHello;
  frame.payload =
      std::string("\x0a\xff\xff\xff\xff\x0f", 6);  // length-delimited field running off the end
  wire::Hello hello;
  auto result = parseControl(frame, hello);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kProtocol);
  EXPECT_NE(result.error().message.find("HELLO"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("edge.wire.Hello"), std::string::npos)
      << result.error().message;
}

TEST(ProtocolControl, InvalidWireTypeRefused) {
  Frame frame;
  frame.type = FrameType::kAck;
  frame.payload = std::string("\x0f", 1);  // field 1, wire type 7 (does not exist)
  wire::Ack ack;
  auto result = parseControl(frame, ack);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kProtocol);
  EXPECT_NE(result.error().message.find("ACK"), std::string::npos) << result.error().message;
}

TEST(ProtocolControl, BatchOrCompressedFramesAreNotControlFrames) {
  wire::Credit credit;
  Frame batch;
  batch.type = FrameType::kBatch;
  auto r1 = parseControl(batch, credit);
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().code, ErrorCode::kProtocol);

  Frame compressed;
  compressed.type = FrameType::kCredit;
  compressed.flags = kFlagZstd;
  auto r2 = parseControl(compressed, credit);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, ErrorCode::kProtocol);
  EXPECT_NE(r2.error().message.find("CREDIT"), std::string::npos);
}

}  // namespace
}  // namespace edge::protocol
