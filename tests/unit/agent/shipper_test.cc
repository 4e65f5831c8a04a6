// Tests of the shipper against a fake gateway: a real libuv TCP server on
// loopback, on the same loop, speaking the protocol with edge_protocol. It
// checks that HELLO comes first, that batches arrive in order and within the
// credit and in-flight window, that acks drain the spool, and that
// disconnects, RETRY, REJECTED and GOAWAY lead to the right resends.
#include "edge/agent/shipper.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "edge/protocol/batch.h"
#include "edge/protocol/control.h"
#include "edge/protocol/frame.h"
#include "test_support.h"

namespace edge::agent {
namespace {

using testing::makeEvent;
using testing::runFor;
using testing::runUntil;
using testing::TempDir;

class FakeGateway {
 public:
  explicit FakeGateway(uv_loop_t* loop) : loop_(loop) {}
  ~FakeGateway() { EXPECT_TRUE(closed_) << "close() the fake gateway before the loop ends"; }

  uint16_t listen() {
    EXPECT_EQ(uv_tcp_init(loop_, &server_), 0);
    server_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    EXPECT_EQ(uv_tcp_bind(&server_, reinterpret_cast<const sockaddr*>(&addr), 0), 0);
    EXPECT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 16, &FakeGateway::onConnection),
              0);
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &len);
    return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    dropClient();
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  }

  // --- behaviour ---
  uint32_t credit_batches = 2;
  uint64_t credit_bytes = 1ull << 30;
  bool auto_ack = false;  // ack OK (and grant one batch of credit) on arrival

  // --- observations ---
  int connections = 0;
  std::vector<wire::Hello> hellos;
  std::vector<std::vector<uint64_t>> received;  // batch ids per connection, in arrival order
  std::vector<protocol::DecodedBatch> batches;
  size_t max_unacked = 0;
  std::vector<wire::Heartbeat> heartbeats;

  std::vector<uint64_t> allReceived() const {
    std::vector<uint64_t> all;
    for (const auto& ids : received) all.insert(all.end(), ids.begin(), ids.end());
    return all;
  }
  size_t unacked() const { return client_ != nullptr ? client_->unacked.size() : 0; }

  // --- actions ---
  void ack(uint64_t batch_id, wire::AckStatus status = wire::ACK_STATUS_OK,
           const std::string& reason = "") {
    wire::Ack ack;
    wire::AckEntry* entry = ack.add_entries();
    entry->set_batch_id(batch_id);
    entry->set_status(status);
    entry->set_reason(reason);
    ASSERT_NE(client_, nullptr);
    EXPECT_EQ(client_->unacked.erase(batch_id), 1u)
        << "acking batch " << batch_id << " that is not unacked";
    send(protocol::encodeControlFrame(protocol::FrameType::kAck, ack));
  }
  void credit(uint32_t batches_n, uint64_t bytes) {
    wire::Credit credit;
    credit.set_batches(batches_n);
    credit.set_bytes(bytes);
    send(protocol::encodeControlFrame(protocol::FrameType::kCredit, credit));
  }
  void goaway(uint32_t reconnect_after_ms) {
    wire::Goaway goaway;
    goaway.set_reason("draining for a test");
    goaway.set_reconnect_after_ms(reconnect_after_ms);
    send(protocol::encodeControlFrame(protocol::FrameType::kGoaway, goaway));
    goaway_sent_ = true;
  }
  void error(const std::string& reason) {
    wire::Error error;
    error.set_code(wire::ERROR_CODE_OVERLOADED);
    error.set_reason(reason);
    send(protocol::encodeControlFrame(protocol::FrameType::kError, error));
  }
  bool hasClient() const { return client_ != nullptr; }
  void dropClient() {
    if (client_ == nullptr) return;
    client_->gateway = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&client_->tcp),
             [](uv_handle_t* handle) { delete static_cast<Client*>(handle->data); });
    client_ = nullptr;
  }

 private:
  struct Client {
    uv_tcp_t tcp{};
    FakeGateway* gateway = nullptr;
    protocol::FrameDecoder decoder;
    bool hello = false;
    std::set<uint64_t> unacked;
    char buffer[65536];
  };
  struct Write {
    uv_write_t req{};
    std::string data;
  };

  void send(std::string frame) {
    if (client_ == nullptr) return;
    auto* w = new Write();
    w->data = std::move(frame);
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&client_->tcp), &buf, 1,
                      [](uv_write_t* req, int) { delete static_cast<Write*>(req->data); });
    if (rc != 0) {
      delete w;
      ADD_FAILURE() << "fake gateway write: " << uv_strerror(rc);
    }
  }

  static void onConnection(uv_stream_t* server, int status) {
    auto* self = static_cast<FakeGateway*>(server->data);
    ASSERT_EQ(status, 0);
    self->dropClient();  // one agent connection at a time
    auto* client = new Client();
    client->gateway = self;
    uv_tcp_init(self->loop_, &client->tcp);
    client->tcp.data = client;
    ASSERT_EQ(uv_accept(server, reinterpret_cast<uv_stream_t*>(&client->tcp)), 0);
    self->client_ = client;
    self->connections += 1;
    self->received.emplace_back();
    self->goaway_sent_ = false;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&client->tcp),
        [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
          auto* c = static_cast<Client*>(handle->data);
          *buf = uv_buf_init(c->buffer, sizeof(c->buffer));
        },
        &FakeGateway::onRead);
  }

  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* client = static_cast<Client*>(stream->data);
    FakeGateway* self = client->gateway;
    if (self == nullptr) return;
    if (nread < 0) {  // the agent closed its end
      if (self->client_ == client) self->dropClient();
      return;
    }
    auto fed = client->decoder.feed(buf->base, static_cast<size_t>(nread));
    ASSERT_TRUE(fed.ok()) << fed.error().message;
    while (self->client_ == client) {
      auto next = client->decoder.next();
      ASSERT_TRUE(next.ok()) << "agent sent a malformed frame: " << next.error().message;
      if (!next->has_value()) break;
      self->handleFrame(*client, **next);
    }
  }

  void handleFrame(Client& client, const protocol::Frame& frame) {
    if (!client.hello && frame.type != protocol::FrameType::kHello) {
      ADD_FAILURE() << "first frame was " << protocol::frameTypeName(frame.type) << ", not HELLO";
      return;
    }
    switch (frame.type) {
      case protocol::FrameType::kHello: {
        EXPECT_FALSE(client.hello) << "second HELLO on one connection";
        wire::Hello hello;
        ASSERT_TRUE(protocol::parseControl(frame, hello).ok());
        EXPECT_EQ(hello.protocol_version(), 1u);
        EXPECT_FALSE(hello.agent_id().empty());
        EXPECT_NE(std::find(hello.capabilities().begin(), hello.capabilities().end(), "zstd"),
                  hello.capabilities().end());
        client.hello = true;
        hellos.push_back(hello);
        wire::Welcome welcome;
        welcome.set_session_id("session-" + std::to_string(connections));
        welcome.set_gateway_id("fake-gateway");
        welcome.set_credit_batches(credit_batches);
        welcome.set_credit_bytes(credit_bytes);
        send(protocol::encodeControlFrame(protocol::FrameType::kWelcome, welcome));
        return;
      }
      case protocol::FrameType::kBatch: {
        EXPECT_FALSE(goaway_sent_) << "the agent sent a batch after GOAWAY";
        auto decoded = protocol::decodeBatchPayload(frame.payload, frame.flags,
                                                    protocol::kDefaultMaxDecompressedSize);
        ASSERT_TRUE(decoded.ok()) << decoded.error().message;
        EXPECT_EQ(decoded->agent_id, hellos.back().agent_id());
        EXPECT_TRUE(frame.flags & protocol::kFlagZstd);
        received.back().push_back(decoded->batch_id);
        client.unacked.insert(decoded->batch_id);
        max_unacked = std::max(max_unacked, client.unacked.size());
        uint64_t id = decoded->batch_id;
        batches.push_back(std::move(*decoded));
        if (auto_ack) {
          ack(id);
          credit(1, 1 << 20);
        }
        return;
      }
      case protocol::FrameType::kHeartbeat: {
        wire::Heartbeat heartbeat;
        ASSERT_TRUE(protocol::parseControl(frame, heartbeat).ok());
        heartbeats.push_back(heartbeat);
        return;
      }
      default:
        ADD_FAILURE() << "unexpected frame from the agent: " << protocol::frameTypeName(frame.type);
    }
  }

  uv_loop_t* loop_;
  uv_tcp_t server_{};
  Client* client_ = nullptr;
  bool closed_ = false;
  bool goaway_sent_ = false;
};

class ShipperTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    SpoolOptions options;
    options.path = dir_.file("spool.db");
    auto spool = Spool::open(options);
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    spool_ = std::move(*spool);
    gateway_ = std::make_unique<FakeGateway>(&loop_);
    port_ = gateway_->listen();
  }

  void TearDown() override {
    if (shipper_) shipper_->close();
    gateway_->close();
    testing::closeLoop(&loop_);
    shipper_.reset();
    gateway_.reset();
  }

  ShipperOptions options() {
    ShipperOptions o;
    o.gateways = {"127.0.0.1:" + std::to_string(port_)};
    o.agent_version = "0.1.0-test";
    o.hostname = "test-host";
    o.max_in_flight_batches = 8;
    o.reconnect_min = std::chrono::milliseconds(20);
    o.reconnect_max = std::chrono::milliseconds(200);
    o.heartbeat_interval = std::chrono::seconds(60);
    o.drain_timeout = std::chrono::milliseconds(200);
    return o;
  }

  Shipper& startShipper(ShipperOptions o) {
    shipper_ = std::make_unique<Shipper>(&loop_, *spool_, std::move(o), metrics_);
    shipper_->setOnSpoolShrunk([this] { ++shrunk_; });
    auto started = shipper_->start();
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().message);
    return *shipper_;
  }

  void spoolBatches(int n) {
    for (int i = 0; i < n; ++i) {
      std::vector<Event> events;
      for (int j = 0; j < 3; ++j) events.push_back(makeEvent("batch line " + std::to_string(j)));
      auto appended = spool_->append(events, {});
      ASSERT_TRUE(appended.ok()) << appended.error().message;
    }
  }

  uint64_t metric(const std::string& name) {
    std::istringstream text(metrics_.renderPrometheus());
    std::string line;
    while (std::getline(text, line)) {
      if (line.rfind(name + " ", 0) == 0) return std::stoull(line.substr(name.size() + 1));
    }
    ADD_FAILURE() << "metric " << name << " not found";
    return 0;
  }

  uv_loop_t loop_{};
  TempDir dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<FakeGateway> gateway_;
  std::unique_ptr<Shipper> shipper_;
  uint16_t port_ = 0;
  int shrunk_ = 0;
};

using Ids = std::vector<uint64_t>;

TEST_F(ShipperTest, HelloCarriesTheAgentIdentity) {
  startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  ASSERT_EQ(gateway_->hellos.size(), 1u);
  const wire::Hello& hello = gateway_->hellos[0];
  EXPECT_EQ(hello.agent_id(), spool_->agentId());
  EXPECT_EQ(hello.agent_version(), "0.1.0-test");
  EXPECT_EQ(hello.hostname(), "test-host");
  EXPECT_EQ(metric("edge_agent_connected"), 1u);
}

TEST_F(ShipperTest, CreditLimitsInFlightAndBatchesArriveInOrder) {
  spoolBatches(6);
  gateway_->credit_batches = 2;
  startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() >= 2; }));
  runFor(&loop_, std::chrono::milliseconds(100));
  ASSERT_EQ(gateway_->allReceived(), (Ids{1, 2})) << "sent beyond the granted credit";
  for (uint64_t id = 1; id <= 6; ++id) {
    size_t expect = std::min<uint64_t>(id + 1, 6);
    ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() >= expect; }))
        << "batch " << id;
    gateway_->ack(id);
    gateway_->credit(1, 1 << 20);
  }
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(gateway_->allReceived(), (Ids{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(gateway_->max_unacked, 2u);
  EXPECT_EQ(gateway_->connections, 1);
  EXPECT_EQ(metric("edge_agent_batches_sent_total"), 6u);
  EXPECT_EQ(metric("edge_agent_batches_acked_total"), 6u);
  EXPECT_GT(shrunk_, 0);
  // The events carry their spool seqs.
  ASSERT_EQ(gateway_->batches.size(), 6u);
  EXPECT_EQ(gateway_->batches[1].events.front().seq, 4u);
}

TEST_F(ShipperTest, ByteCreditLimitsTheWindowButOneBatchMayGoAlone) {
  spoolBatches(3);
  gateway_->credit_batches = 10;
  gateway_->credit_bytes = 1;  // smaller than any batch
  startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() >= 1; }));
  runFor(&loop_, std::chrono::milliseconds(100));
  ASSERT_EQ(gateway_->allReceived(), (Ids{1})) << "sent beyond the byte credit";
  gateway_->ack(1);
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() == 2; }));
  gateway_->credit(0, 1 << 20);  // bytes for the rest
  gateway_->ack(2);
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() == 3; }));
  gateway_->ack(3);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
}

TEST_F(ShipperTest, MaxInFlightCapsTheWindowOnTopOfCredit) {
  spoolBatches(5);
  gateway_->credit_batches = 100;
  ShipperOptions o = options();
  o.max_in_flight_batches = 3;
  startShipper(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() >= 3; }));
  runFor(&loop_, std::chrono::milliseconds(100));
  ASSERT_EQ(gateway_->allReceived(), (Ids{1, 2, 3})) << "sent beyond max_in_flight_batches";
  gateway_->auto_ack = true;
  gateway_->ack(1);
  gateway_->ack(2);
  gateway_->ack(3);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(gateway_->allReceived(), (Ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(gateway_->max_unacked, 3u);
}

TEST_F(ShipperTest, DisconnectMidFlightResendsUnackedBatches) {
  spoolBatches(4);
  gateway_->credit_batches = 10;
  startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() == 4; }));
  gateway_->ack(1);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 3; }));
  gateway_->dropClient();
  ASSERT_TRUE(runUntil(
      &loop_, [&] { return gateway_->connections == 2 && gateway_->received[1].size() == 3; }));
  EXPECT_EQ(gateway_->received[0], (Ids{1, 2, 3, 4}));
  EXPECT_EQ(gateway_->received[1], (Ids{2, 3, 4})) << "unacked batches are resent, in order";
  EXPECT_EQ(gateway_->hellos.size(), 2u);
  EXPECT_EQ(gateway_->hellos[1].agent_id(), gateway_->hellos[0].agent_id());
  for (uint64_t id : {2, 3, 4}) gateway_->ack(id);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_TRUE(shipper_->connected());
  EXPECT_EQ(metric("edge_agent_connect_failures_total"), 0u);
}

TEST_F(ShipperTest, RejectedBatchesAreDroppedAndRetriedOnesResent) {
  spoolBatches(3);
  gateway_->credit_batches = 10;
  startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() == 3; }));
  gateway_->ack(1, wire::ACK_STATUS_REJECTED, "invalid for a test");
  gateway_->ack(2, wire::ACK_STATUS_RETRY, "sink busy");
  gateway_->ack(3);
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() == 4; }));
  EXPECT_EQ(gateway_->allReceived(), (Ids{1, 2, 3, 2}));
  EXPECT_EQ(gateway_->connections, 1) << "a RETRY is resent on the same connection";
  EXPECT_EQ(spool_->batchCount(), 1u);
  EXPECT_EQ(metric("edge_agent_batches_rejected_total"), 1u);
  gateway_->ack(2);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(metric("edge_agent_batches_acked_total"), 2u);
}

TEST_F(ShipperTest, GoawayStopsSendingAndReconnectsAfterTheDelay) {
  spoolBatches(2);
  gateway_->credit_batches = 10;
  Shipper& shipper = startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() == 2; }));
  gateway_->goaway(100);
  runFor(&loop_, std::chrono::milliseconds(20));
  spoolBatches(1);
  shipper.wake();  // must not send on the draining connection
  ASSERT_TRUE(runUntil(
      &loop_, [&] { return gateway_->connections == 2 && gateway_->received[1].size() == 3; }));
  EXPECT_EQ(gateway_->received[0], (Ids{1, 2}));
  EXPECT_EQ(gateway_->received[1], (Ids{1, 2, 3}));
  EXPECT_EQ(metric("edge_agent_connect_failures_total"), 0u);
}

TEST_F(ShipperTest, WakeSendsANewBatchAtOnce) {
  gateway_->credit_batches = 10;
  gateway_->auto_ack = true;
  Shipper& shipper = startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper.connected(); }));
  spoolBatches(1);
  shipper.wake();
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(gateway_->allReceived(), (Ids{1}));
}

TEST_F(ShipperTest, HeartbeatsReportTheSpool) {
  spoolBatches(2);
  gateway_->credit_batches = 0;  // nothing may be sent: the spool stays at 2
  ShipperOptions o = options();
  o.heartbeat_interval = std::chrono::milliseconds(100);
  Shipper& shipper = startShipper(o);
  shipper.setTelemetryProvider([] {
    AgentTelemetry t;
    t.uptime_s = 42;
    t.inputs.push_back(InputTelemetry{"host-logs", "file", 7, 0, 1});
    return t;
  });
  ASSERT_TRUE(runUntil(&loop_, [&] { return !gateway_->heartbeats.empty(); }));
  const wire::Heartbeat& hb = gateway_->heartbeats.front();
  EXPECT_EQ(hb.spool_batches(), 2u);
  EXPECT_EQ(hb.spool_bytes(), spool_->payloadBytes());
  EXPECT_EQ(hb.uptime_s(), 42u);
  ASSERT_EQ(hb.inputs_size(), 1);
  EXPECT_EQ(hb.inputs(0).name(), "host-logs");
  EXPECT_EQ(hb.inputs(0).events_read(), 7u);
  EXPECT_TRUE(gateway_->allReceived().empty());
}

TEST_F(ShipperTest, ConnectFailuresAreCountedAndRetried) {
  // A port with nothing listening: bind the gateway's port, then close it.
  gateway_->close();
  testing::runFor(&loop_, std::chrono::milliseconds(10));
  spoolBatches(1);
  startShipper(options());
  ASSERT_TRUE(runUntil(&loop_, [&] { return metric("edge_agent_connect_failures_total") >= 3; }));
  EXPECT_FALSE(shipper_->connected());
  EXPECT_EQ(metric("edge_agent_connected"), 0u);
  EXPECT_EQ(spool_->batchCount(), 1u);
}

// --- gateway choice -------------------------------------------------------------

TEST(RendezvousOrderTest, IsStableAndIndependentOfListOrder) {
  std::vector<std::string> gateways{"gw-a:7400", "gw-b:7400", "gw-c:7400", "gw-d:7400"};
  std::vector<std::string> first = rendezvousOrder("agent-42", gateways);
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(std::set<std::string>(first.begin(), first.end()),
            std::set<std::string>(gateways.begin(), gateways.end()));
  std::vector<std::string> reversed(gateways.rbegin(), gateways.rend());
  EXPECT_EQ(rendezvousOrder("agent-42", reversed), first);
  EXPECT_EQ(rendezvousOrder("agent-42", gateways), first);
  // A fixed hash: the same order on every build and restart. (If this
  // changes, every deployed agent would move to another gateway.)
  // (Computed independently from the documented hash: FNV-1a 64 of
  // "<agent id>\0<host:port>" then the splitmix64 finalizer, highest first.)
  EXPECT_EQ(first, (std::vector<std::string>{"gw-a:7400", "gw-d:7400", "gw-b:7400", "gw-c:7400"}));
}

TEST(RendezvousOrderTest, SpreadsAgentsAndRemovingAGatewayOnlyMovesItsAgents) {
  std::vector<std::string> gateways{"10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"};
  std::vector<std::string> fewer{"10.0.0.1:7400", "10.0.0.3:7400"};
  std::map<std::string, int> per_gateway;
  int moved_needlessly = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string id = "agent-" + std::to_string(i);
    std::vector<std::string> order = rendezvousOrder(id, gateways);
    per_gateway[order[0]] += 1;
    std::vector<std::string> after = rendezvousOrder(id, fewer);
    if (order[0] != "10.0.0.2:7400" && after[0] != order[0]) ++moved_needlessly;
    // Without gateway 2, its agents go to their second choice.
    if (order[0] == "10.0.0.2:7400") {
      EXPECT_EQ(after[0], order[1]);
    }
  }
  EXPECT_EQ(moved_needlessly, 0);
  for (const auto& [gw, n] : per_gateway) {
    EXPECT_GT(n, 800) << gw;
    EXPECT_LT(n, 1200) << gw;
  }
}

class TwoGatewayTest : public ShipperTest {
 protected:
  void SetUp() override {
    ShipperTest::SetUp();
    other_ = std::make_unique<FakeGateway>(&loop_);
    other_port_ = other_->listen();
    std::string a = "127.0.0.1:" + std::to_string(port_);
    std::string b = "127.0.0.1:" + std::to_string(other_port_);
    std::vector<std::string> order = rendezvousOrder(spool_->agentId(), {a, b});
    preferred_ = order[0] == a ? gateway_.get() : other_.get();
    fallback_ = order[0] == a ? other_.get() : gateway_.get();
    preferred_->credit_batches = 100;
    fallback_->credit_batches = 100;
  }
  void TearDown() override {
    if (shipper_) shipper_->close();
    other_->close();
    ShipperTest::TearDown();
    other_.reset();
  }
  ShipperOptions options2() {
    ShipperOptions o = options();
    o.gateways.push_back("127.0.0.1:" + std::to_string(other_port_));
    return o;
  }
  uint64_t received(FakeGateway* gw, uint64_t id) {
    auto all = gw->allReceived();
    return static_cast<uint64_t>(std::count(all.begin(), all.end(), id));
  }

  std::unique_ptr<FakeGateway> other_;
  uint16_t other_port_ = 0;
  FakeGateway* preferred_ = nullptr;
  FakeGateway* fallback_ = nullptr;
};

TEST_F(TwoGatewayTest, ConnectsToThePreferredGatewayFirst) {
  startShipper(options2());
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  EXPECT_EQ(preferred_->connections, 1);
  EXPECT_EQ(fallback_->connections, 0);
}

TEST_F(TwoGatewayTest, FailsOverWhenThePreferredGatewayIsDown) {
  preferred_->close();
  runFor(&loop_, std::chrono::milliseconds(10));
  spoolBatches(3);
  fallback_->auto_ack = true;
  startShipper(options2());
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(fallback_->allReceived(), (Ids{1, 2, 3}));
  EXPECT_GE(metric("edge_agent_gateway_failovers_total"), 1u);
}

TEST_F(TwoGatewayTest, LostSessionResendsUnackedBatchesToTheNextGateway) {
  spoolBatches(4);
  startShipper(options2());
  ASSERT_TRUE(runUntil(&loop_, [&] { return preferred_->allReceived().size() == 4; }));
  preferred_->ack(1);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 3; }));
  fallback_->auto_ack = true;
  preferred_->close();  // the gateway dies mid-stream
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(fallback_->allReceived(), (Ids{2, 3, 4}));
}

TEST_F(TwoGatewayTest, AnErrorFrameMovesToTheNextGateway) {
  startShipper(options2());
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  preferred_->error("overloaded for a test");
  ASSERT_TRUE(runUntil(&loop_, [&] { return fallback_->connections == 1 && shipper_->connected(); }));
}

TEST_F(TwoGatewayTest, GoawayDrainsOutstandingAcksThenMovesToTheNextGateway) {
  spoolBatches(3);
  ShipperOptions o = options2();
  o.drain_timeout = std::chrono::seconds(30);  // only the acks may end this drain
  startShipper(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return preferred_->allReceived().size() == 3; }));
  preferred_->goaway(0);
  runFor(&loop_, std::chrono::milliseconds(50));
  spoolBatches(1);
  shipper_->wake();  // nothing new goes to a draining gateway
  runFor(&loop_, std::chrono::milliseconds(50));
  EXPECT_EQ(fallback_->connections, 0) << "waits for the outstanding acks";
  preferred_->ack(1);
  preferred_->ack(2);
  runFor(&loop_, std::chrono::milliseconds(50));
  EXPECT_EQ(fallback_->connections, 0);
  fallback_->auto_ack = true;
  preferred_->ack(3);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(preferred_->allReceived(), (Ids{1, 2, 3}));
  EXPECT_EQ(fallback_->allReceived(), (Ids{4})) << "acked batches are not sent again";
}

TEST_F(TwoGatewayTest, GoawayDrainEndsAtDrainTimeoutAndUnackedAreResent) {
  spoolBatches(2);
  ShipperOptions o = options2();
  o.drain_timeout = std::chrono::milliseconds(100);
  startShipper(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return preferred_->allReceived().size() == 2; }));
  fallback_->auto_ack = true;
  preferred_->ack(1);
  preferred_->goaway(0);  // batch 2 is never acked by the draining gateway
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(fallback_->allReceived(), (Ids{2}));
}

TEST_F(TwoGatewayTest, ConnectionTtlReconnectsGracefullyStartingFromThePreferredGateway) {
  preferred_->auto_ack = true;
  ShipperOptions o = options2();
  o.connection_ttl = std::chrono::milliseconds(200);
  startShipper(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  for (int round = 0; round < 3; ++round) {
    spoolBatches(2);
    shipper_->wake();
    runFor(&loop_, std::chrono::milliseconds(60));
  }
  ASSERT_TRUE(runUntil(&loop_, [&] { return preferred_->connections >= 3; }))
      << "each ttl ends the session and starts a new one on the preferred gateway";
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  EXPECT_EQ(fallback_->connections, 0);
  for (uint64_t id = 1; id <= 6; ++id) EXPECT_EQ(received(preferred_, id), 1u) << "batch " << id;
  EXPECT_EQ(metric("edge_agent_connect_failures_total"), 0u);
}

TEST_F(TwoGatewayTest, ConnectionTtlBringsAgentsBackFromTheFallback) {
  // The preferred gateway refuses the first session (ERROR), then is fine.
  fallback_->auto_ack = true;
  preferred_->auto_ack = true;
  ShipperOptions o = options2();
  o.connection_ttl = std::chrono::milliseconds(300);
  startShipper(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return preferred_->hasClient() && shipper_->connected(); }));
  preferred_->error("overloaded for a test");
  ASSERT_TRUE(runUntil(&loop_, [&] { return fallback_->connections == 1 && shipper_->connected(); }));
  ASSERT_TRUE(runUntil(&loop_, [&] { return preferred_->connections == 2 && shipper_->connected(); }))
      << "after the ttl the agent starts again from its preferred gateway";
}

TEST_F(ShipperTest, WarnsWhenNoAckArrivesForAckTimeoutWarning) {
  spoolBatches(1);
  gateway_->credit_batches = 10;
  ShipperOptions o = options();
  o.ack_timeout_warning = std::chrono::milliseconds(100);
  startShipper(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway_->allReceived().size() == 1; }));
  ASSERT_TRUE(runUntil(&loop_, [&] { return metric("edge_agent_ack_timeouts_total") >= 1; }));
  EXPECT_TRUE(shipper_->connected()) << "a slow gateway is warned about, not dropped";
  gateway_->ack(1);
  ASSERT_TRUE(runUntil(&loop_, [&] { return spool_->batchCount() == 0; }));
  uint64_t warned = metric("edge_agent_ack_timeouts_total");
  runFor(&loop_, std::chrono::milliseconds(300));
  EXPECT_EQ(metric("edge_agent_ack_timeouts_total"), warned) << "nothing in flight, no warning";
}

}  // namespace
}  // namespace edge::agent
