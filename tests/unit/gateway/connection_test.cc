// Connection-level behaviour of the gateway over real TCP: handshake, acks
// only after the rows are committed, credit, and every protocol violation
// closing only the offending connection.
#include "test_support.h"

namespace edge::gateway::testing {
namespace {

class ConnectionTest : public ::testing::Test {
 protected:
  void startGateway(const std::string& gateway_extra = "", const std::string& sqlite_extra = "") {
    harness_ =
        std::make_unique<GatewayHarness>(testConfigYaml(dir_.path(), gateway_extra, sqlite_extra));
    ASSERT_TRUE(harness_->start());
  }
  void TearDown() override {
    if (harness_) harness_->stop();
  }

  TempDir dir_;
  std::unique_ptr<GatewayHarness> harness_;
};

TEST_F(ConnectionTest, HelloIsAnsweredWithWelcomeAndInitialCredit) {
  startGateway(
      "  credit_batches: 7\n  credit_bytes: 9MiB\n  max_frame_bytes: 1MiB\n  heartbeat_interval: "
      "3s\n");
  TestAgent agent(harness_->port());
  wire::Welcome welcome = agent.hello("agent-1");
  EXPECT_EQ(welcome.gateway_id(), "gw-test");
  EXPECT_FALSE(welcome.session_id().empty());
  EXPECT_EQ(welcome.credit_batches(), 7u);
  EXPECT_EQ(welcome.credit_bytes(), 9u << 20);
  EXPECT_EQ(welcome.max_frame_bytes(), 1u << 20);
  EXPECT_EQ(welcome.heartbeat_interval_ms(), 3000u);

  TestAgent other(harness_->port());
  EXPECT_NE(other.hello("agent-2").session_id(), welcome.session_id());
}

TEST_F(ConnectionTest, BatchIsAckedOnlyAfterItsRowsAreCommitted) {
  startGateway();
  TestAgent agent(harness_->port());
  agent.hello("agent-1");
  const size_t bytes = agent.sendBatch(42, "agent-1", makeEvents(3, 1000));

  auto frame = agent.readFrame();
  ASSERT_TRUE(frame.has_value());
  ASSERT_EQ(frame->type, protocol::FrameType::kAck);
  wire::Ack ack;
  ASSERT_TRUE(protocol::parseControl(*frame, ack).ok());
  ASSERT_EQ(ack.entries_size(), 1);
  EXPECT_EQ(ack.entries(0).batch_id(), 42u);
  EXPECT_EQ(ack.entries(0).status(), wire::ACK_STATUS_OK);
  {
    // The ACK just arrived: the rows must already be visible to another reader.
    Db db(harness_->dbPath());
    EXPECT_EQ(db.scalar("select count(*) from events where agent_id = 'agent-1'"), 3);
    // The tenant is the gateway's, whatever the agent put in its events.
    EXPECT_EQ(db.scalar("select count(*) from events where tenant = 'acme'"), 3);
    EXPECT_EQ(db.scalar("select count(*) from events where tenant = 'agent-claims-this'"), 0);
  }

  frame = agent.readFrame();
  ASSERT_TRUE(frame.has_value());
  ASSERT_EQ(frame->type, protocol::FrameType::kCredit);
  wire::Credit credit;
  ASSERT_TRUE(protocol::parseControl(*frame, credit).ok());
  EXPECT_EQ(credit.batches(), 1u);
  EXPECT_EQ(credit.bytes(), bytes);

  EXPECT_EQ(harness_->counter("edge_gateway_batches_received_total"), 1u);
  EXPECT_EQ(harness_->counter("edge_gateway_events_received_total"), 3u);
  EXPECT_EQ(harness_->counter("edge_gateway_batches_committed_total"), 1u);
  EXPECT_EQ(harness_->counter("edge_gateway_events_committed_total"), 3u);
}

TEST_F(ConnectionTest, UncompressedBatchesAndRedeliveryWork) {
  startGateway();
  TestAgent agent(harness_->port());
  agent.hello("agent-1");
  AckTally tally;
  agent.sendBatch(1, "agent-1", makeEvents(5, 1), /*zstd_level=*/0);
  ASSERT_TRUE(tally.readUntil(agent, {1}, 1));
  // Redelivery (as after a lost ack): acked OK again, stored once.
  agent.sendBatch(1, "agent-1", makeEvents(5, 1));
  agent.sendBatch(2, "agent-1", makeEvents(5, 6));
  ASSERT_TRUE(tally.readUntil(agent, {1, 2}, 3));
  EXPECT_EQ(tally.acks[1], wire::ACK_STATUS_OK);
  EXPECT_EQ(tally.acks[2], wire::ACK_STATUS_OK);
  EXPECT_EQ(Db(harness_->dbPath()).scalar("select count(*) from events"), 10);
  EXPECT_EQ(harness_->counter("edge_gateway_sink_duplicates_total"), 5u);
}

TEST_F(ConnectionTest, HeartbeatsAreAcceptedAndKeepTheConnection) {
  startGateway();
  TestAgent agent(harness_->port());
  agent.hello("agent-1");
  wire::Heartbeat heartbeat;
  heartbeat.set_agent_version("test-1.0");
  heartbeat.set_uptime_s(12);
  heartbeat.set_spool_batches(3);
  agent.sendControl(protocol::FrameType::kHeartbeat, heartbeat);
  agent.sendBatch(1, "agent-1", makeEvents(1, 1));
  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1}, 1));
  EXPECT_NE(httpGet(harness_->adminPort(), "/healthz").find("\"agents_with_heartbeat\":1"),
            std::string::npos);
}

// ---------------------------------------------------------------------------
// Protocol violations: ERROR with the right code, the connection closes, the
// reason is counted, and a second connection is not disturbed.

struct Violation {
  const char* name;
  bool hello_first;
  // Bytes the misbehaving agent sends (after HELLO if hello_first).
  std::function<std::string()> bytes;
  wire::ErrorCode code;
  const char* reason;
};

std::string header(uint8_t version, uint8_t type, uint16_t flags, uint32_t length) {
  std::string h(protocol::kFrameHeaderSize, '\0');
  h[0] = static_cast<char>(protocol::kMagic0);
  h[1] = static_cast<char>(protocol::kMagic1);
  h[2] = static_cast<char>(version);
  h[3] = static_cast<char>(type);
  h[4] = static_cast<char>(flags >> 8);
  h[5] = static_cast<char>(flags & 0xff);
  h[8] = static_cast<char>(length >> 24);
  h[9] = static_cast<char>((length >> 16) & 0xff);
  h[10] = static_cast<char>((length >> 8) & 0xff);
  h[11] = static_cast<char>(length & 0xff);
  return h;
}

std::string batchFrame(uint64_t batch_id, const std::string& agent_id, std::vector<Event> events,
                       int level = 3) {
  auto payload = protocol::encodeBatchPayload(batch_id, agent_id, events, level);
  EXPECT_TRUE(payload.ok());
  return protocol::encodeFrame(protocol::FrameType::kBatch, payload->flags, payload->bytes);
}

// max_frame_bytes and max_decompressed_bytes are 64KiB / 256KiB below.
const Violation kViolations[] = {
    {"GarbageBytes", false, [] { return std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); },
     wire::ERROR_CODE_PROTOCOL, "frame"},
    {"WrongFrameVersion", false, [] { return header(protocol::kProtocolVersion + 1, 1, 0, 0); },
     wire::ERROR_CODE_UNSUPPORTED_VERSION, "unsupported_version"},
    {"WrongHelloVersion", false,
     [] {
       wire::Hello hello;
       hello.set_protocol_version(protocol::kProtocolVersion + 1);
       hello.set_agent_id("bad");
       return protocol::encodeControlFrame(protocol::FrameType::kHello, hello);
     },
     wire::ERROR_CODE_UNSUPPORTED_VERSION, "unsupported_version"},
    {"OversizedFrame", true,
     [] {
       return header(protocol::kProtocolVersion, static_cast<uint8_t>(protocol::FrameType::kBatch),
                     0, (64u << 10) + 1);
     },
     wire::ERROR_CODE_TOO_LARGE, "too_large"},
    {"DecompressionBomb", true,
     [] {
       std::vector<Event> events = makeEvents(1, 1);
       events[0].raw.assign(1u << 20, 'a');  // compresses to almost nothing
       return batchFrame(1, "bad", events, 3);
     },
     wire::ERROR_CODE_TOO_LARGE, "too_large"},
    {"BatchBeforeHello", false, [] { return batchFrame(1, "bad", makeEvents(1, 1)); },
     wire::ERROR_CODE_PROTOCOL, "batch_before_hello"},
    {"AgentIdMismatch", true, [] { return batchFrame(1, "somebody-else", makeEvents(1, 1)); },
     wire::ERROR_CODE_PROTOCOL, "agent_mismatch"},
    {"CorruptBatch", true,
     [] { return protocol::encodeFrame(protocol::FrameType::kBatch, 0, std::string(100, '\x5a')); },
     wire::ERROR_CODE_PROTOCOL, "bad_batch"},
    {"CorruptZstd", true,
     [] {
       return protocol::encodeFrame(protocol::FrameType::kBatch, protocol::kFlagZstd,
                                    std::string(100, '\x5a'));
     },
     wire::ERROR_CODE_PROTOCOL, "bad_batch"},
    {"BadHelloProtobuf", false,
     [] {
       return protocol::encodeFrame(protocol::FrameType::kHello, 0,
                                    std::string("\xff\xff\xff\xff", 4));
     },
     wire::ERROR_CODE_PROTOCOL, "bad_message"},
    {"HelloWithoutAgentId", false,
     [] { return protocol::encodeControlFrame(protocol::FrameType::kHello, wire::Hello()); },
     wire::ERROR_CODE_PROTOCOL, "bad_hello"},
    {"SecondHello", true,
     [] {
       wire::Hello hello;
       hello.set_agent_id("bad");
       return protocol::encodeControlFrame(protocol::FrameType::kHello, hello);
     },
     wire::ERROR_CODE_PROTOCOL, "duplicate_hello"},
    {"GatewayOnlyFrame", true,
     [] { return protocol::encodeControlFrame(protocol::FrameType::kCredit, wire::Credit()); },
     wire::ERROR_CODE_PROTOCOL, "unexpected_frame"},
    {"HeartbeatBeforeHello", false,
     [] {
       return protocol::encodeControlFrame(protocol::FrameType::kHeartbeat, wire::Heartbeat());
     },
     wire::ERROR_CODE_PROTOCOL, "unexpected_frame"},
};

class ViolationTest : public ConnectionTest, public ::testing::WithParamInterface<Violation> {};

TEST_P(ViolationTest, SendsErrorClosesThatConnectionOnlyAndCounts) {
  const Violation& v = GetParam();
  startGateway(
      "  max_frame_bytes: 64KiB\n  credit_bytes: 64KiB\n  max_decompressed_bytes: 256KiB\n");

  TestAgent good(harness_->port());
  good.hello("good-agent");
  AckTally tally;
  good.sendBatch(1, "good-agent", makeEvents(2, 1));
  ASSERT_TRUE(tally.readUntil(good, {1}, 1));

  TestAgent bad(harness_->port());
  if (v.hello_first) bad.hello("bad");
  bad.sendBytes(v.bytes());
  wire::Error error = bad.expectError();
  EXPECT_EQ(error.code(), v.code) << error.reason();
  EXPECT_FALSE(error.reason().empty());
  EXPECT_TRUE(bad.closedByPeer());
  EXPECT_TRUE(
      harness_->waitForCounter("edge_gateway_protocol_errors_total", 1, {{"reason", v.reason}}));

  // The good agent is unaffected.
  good.sendBatch(2, "good-agent", makeEvents(2, 3));
  ASSERT_TRUE(tally.readUntil(good, {1, 2}, 2));
  EXPECT_EQ(tally.acks[2], wire::ACK_STATUS_OK);
  Db db(harness_->dbPath());
  EXPECT_EQ(db.scalar("select count(*) from events where agent_id = 'good-agent'"), 4);
  EXPECT_EQ(db.scalar("select count(*) from events where agent_id <> 'good-agent'"), 0);
}

std::string violationName(const ::testing::TestParamInfo<Violation>& param) {
  return param.param.name;
}

INSTANTIATE_TEST_SUITE_P(Protocol, ViolationTest, ::testing::ValuesIn(kViolations), violationName);

TEST_F(ConnectionTest, BatchWithoutCreditIsAViolation) {
  startGateway("  credit_batches: 1\n");
  TestAgent agent(harness_->port());
  agent.hello("agent-1");
  // Hold the database so the first batch cannot be acked (and credit not
  // replenished) before the second one arrives.
  Db blocker(harness_->dbPath());
  blocker.lockForWrite();
  agent.sendBatch(1, "agent-1", makeEvents(1, 1));
  agent.sendBatch(2, "agent-1", makeEvents(1, 2));
  wire::Error error = agent.expectError();
  EXPECT_EQ(error.code(), wire::ERROR_CODE_PROTOCOL);
  EXPECT_NE(error.reason().find("credit"), std::string::npos) << error.reason();
  EXPECT_TRUE(agent.closedByPeer());
  blocker.unlock();
  EXPECT_EQ(harness_->protocolErrors("credit_exceeded"), 1u);
  // The first batch still commits; its ack has nowhere to go and is counted.
  EXPECT_TRUE(harness_->waitForCounter("edge_gateway_acks_dropped_total", 1));
  EXPECT_EQ(Db(harness_->dbPath()).scalar("select count(*) from events"), 1);
}

TEST_F(ConnectionTest, ByteCreditIsAdvisory) {
  // Like the agent letting a batch bigger than its byte credit go alone.
  startGateway("  max_frame_bytes: 64KiB\n  credit_bytes: 64KiB\n");
  TestAgent agent(harness_->port());
  agent.hello("agent-1");
  std::vector<Event> big = makeEvents(1, 1);
  big[0].raw.assign(40000, 'x');
  std::vector<Event> big2 = makeEvents(1, 2);
  big2[0].raw.assign(40000, 'y');
  size_t bytes = agent.sendBatch(1, "agent-1", big, /*zstd_level=*/0);
  bytes += agent.sendBatch(2, "agent-1", big2, /*zstd_level=*/0);
  ASSERT_GT(bytes, 64u << 10);
  AckTally tally;
  ASSERT_TRUE(tally.readUntil(agent, {1, 2}, 2));
  EXPECT_EQ(tally.acks[2], wire::ACK_STATUS_OK);
  EXPECT_EQ(tally.credit_bytes, bytes);
  EXPECT_EQ(harness_->protocolErrors("credit_exceeded"), 0u);
}

TEST_F(ConnectionTest, SilentPeerGetsErrorAfterHelloTimeout) {
  startGateway("  hello_timeout: 200ms\n");
  TestAgent agent(harness_->port());
  wire::Error error = agent.expectError();
  EXPECT_EQ(error.code(), wire::ERROR_CODE_PROTOCOL);
  EXPECT_NE(error.reason().find("HELLO"), std::string::npos) << error.reason();
  EXPECT_TRUE(agent.closedByPeer());
  EXPECT_EQ(harness_->protocolErrors("hello_timeout"), 1u);
}

TEST_F(ConnectionTest, IdleConnectionIsToldToGoAwayAndClosed) {
  startGateway("  idle_timeout: 300ms\n  heartbeat_interval: 100ms\n");
  TestAgent agent(harness_->port());
  agent.hello("agent-1");
  auto frame = agent.readFrame();
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->type, protocol::FrameType::kGoaway);
  EXPECT_TRUE(agent.closedByPeer());
  EXPECT_TRUE(harness_->waitForCounter("edge_gateway_connections_idle_closed_total", 1));
}

TEST_F(ConnectionTest, ConnectionOverTheLimitIsRefusedAndCounted) {
  startGateway("  max_connections: 1\n");
  TestAgent first(harness_->port());
  first.hello("agent-1");
  TestAgent second(harness_->port());
  wire::Error error = second.expectError();
  EXPECT_EQ(error.code(), wire::ERROR_CODE_OVERLOADED);
  EXPECT_NE(error.reason().find("max_connections"), std::string::npos) << error.reason();
  EXPECT_TRUE(second.closedByPeer());
  EXPECT_EQ(harness_->counter("edge_gateway_connections_refused_total"), 1u);
  // The first keeps working.
  AckTally tally;
  first.sendBatch(1, "agent-1", makeEvents(1, 1));
  EXPECT_TRUE(tally.readUntil(first, {1}, 1));
}

}  // namespace
}  // namespace edge::gateway::testing
