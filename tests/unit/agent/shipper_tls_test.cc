// Tests of the shipper over TLS against a fake gateway: a libuv TCP server on
// the test's loop that speaks TLS with edge's own TlsSession (server role,
// optional client certificates, like a gateway with enrollment) and signs
// CSRs with a CA from the PKI helpers. It checks enrollment then mutual TLS,
// refusals without a tight retry loop (and a new token tried at once),
// renewal before a session and during one, the server name check, session
// resumption, and re-enrollment of a revoked agent only with a new token.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "../security/test_pki.h"
#include "edge/agent/credentials.h"
#include "edge/agent/shipper.h"
#include "edge/protocol/batch.h"
#include "edge/protocol/control.h"
#include "edge/protocol/frame.h"
#include "edge/protocol/tls.h"
#include "test_support.h"

namespace edge::agent {
namespace {

using protocol::CertificateAuthority;
using protocol::Validity;
using protocol::testing::makeAgent;
using protocol::testing::makeCa;
using protocol::testing::makeServer;
using protocol::testing::must;
using protocol::testing::now;
using testing::makeEvent;
using testing::runFor;
using testing::runUntil;
using testing::TempDir;
using testing::writeFile;

constexpr const char* kValidToken = "edge1.valid.token";
constexpr const char* kRefusal =
    "enrollment token expired at 2020-01-01T00:00:00Z; create a new one with edgectl token create";

class FakeTlsGateway {
 public:
  enum class Kind { kEnroll, kRenew, kSession };
  struct Hello {
    Kind kind;
    wire::Hello hello;
    std::optional<protocol::PeerIdentity> peer;
    bool resumed = false;
  };

  FakeTlsGateway(uv_loop_t* loop, const CertificateAuthority& ca, bool session_tickets)
      : loop_(loop), ca_(ca) {
    auto server = makeServer(ca, {"gw.test"}, {"127.0.0.1"});
    protocol::TlsContextOptions o;
    o.role = protocol::TlsRole::kServer;
    o.ca_cert_pem = ca.cert_pem;
    o.cert_pem = server.cert_pem;
    o.key_pem = server.key_pem;
    o.client_auth = protocol::ClientAuth::kOptional;
    o.session_tickets = session_tickets;
    o.revocation = [this](std::string_view serial) {
      return revoked.count(std::string(serial)) != 0;
    };
    context_ = must(protocol::TlsContext::create(o), "server context");
  }
  ~FakeTlsGateway() { EXPECT_TRUE(closed_) << "close() the fake gateway before the loop ends"; }

  uint16_t listen() {
    EXPECT_EQ(uv_tcp_init(loop_, &server_), 0);
    server_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    EXPECT_EQ(uv_tcp_bind(&server_, reinterpret_cast<const sockaddr*>(&addr), 0), 0);
    EXPECT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 16, &onConnection), 0);
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(&server_, reinterpret_cast<sockaddr*>(&bound), &len);
    return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    dropClients();
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  }

  void dropClients() {
    while (!clients_.empty()) closeClient(*clients_.begin());
  }

  // --- behaviour ---
  std::string valid_token = kValidToken;
  std::set<std::string> revoked;  // certificate serials refused in the handshake

  // --- observations ---
  std::vector<Hello> hellos;
  std::vector<std::string> issued;  // serials signed (enrollment and renewal)
  int tls_failures = 0;
  std::string last_tls_failure;
  std::set<uint64_t> acked;

  size_t count(Kind kind) const {
    return static_cast<size_t>(std::count_if(hellos.begin(), hellos.end(),
                                             [kind](const Hello& h) { return h.kind == kind; }));
  }
  const Hello* lastSession() const {
    for (auto it = hellos.rbegin(); it != hellos.rend(); ++it)
      if (it->kind == Kind::kSession) return &*it;
    return nullptr;
  }

 private:
  struct Client {
    uv_tcp_t tcp{};
    FakeTlsGateway* gateway = nullptr;
    std::unique_ptr<protocol::TlsSession> tls;
    protocol::FrameDecoder decoder;
    bool hello = false;
    char buffer[65536];
  };
  struct Write {
    uv_write_t req{};
    std::string data;
    Client* close_after = nullptr;
  };

  static void onConnection(uv_stream_t* server, int status) {
    auto* self = static_cast<FakeTlsGateway*>(server->data);
    ASSERT_EQ(status, 0);
    auto* client = new Client();
    client->gateway = self;
    uv_tcp_init(self->loop_, &client->tcp);
    client->tcp.data = client;
    ASSERT_EQ(uv_accept(server, reinterpret_cast<uv_stream_t*>(&client->tcp)), 0);
    client->tls = must(protocol::TlsSession::create(self->context_), "server session");
    self->clients_.insert(client);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&client->tcp),
        [](uv_handle_t* handle, size_t, uv_buf_t* buf) {
          auto* c = static_cast<Client*>(handle->data);
          *buf = uv_buf_init(c->buffer, sizeof(c->buffer));
        },
        &onRead);
  }

  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* client = static_cast<Client*>(stream->data);
    FakeTlsGateway* self = client->gateway;
    if (self == nullptr) return;
    if (nread < 0) {
      self->closeClient(client);
      return;
    }
    if (auto fed = client->tls->feedCiphertext(std::string_view(buf->base, nread)); !fed) {
      self->tls_failures += 1;
      self->last_tls_failure = fed.error().message;
      self->flush(client, /*close_after=*/true);
      return;
    }
    std::string plain;
    if (client->tls->handshakeDone()) {
      auto n = client->tls->readPlaintext(plain);
      ASSERT_TRUE(n.ok()) << n.error().message;
    }
    self->flush(client, false);
    if (plain.empty()) return;
    ASSERT_TRUE(client->decoder.feed(plain.data(), plain.size()).ok());
    while (self->clients_.count(client) != 0) {
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
        client.hello = true;
        Hello seen;
        ASSERT_TRUE(protocol::parseControl(frame, seen.hello).ok());
        seen.peer = client.tls->peerIdentity();
        seen.resumed = client.tls->resumed();
        const wire::Hello& hello = seen.hello;
        seen.kind = !hello.enrollment_token().empty() ? Kind::kEnroll
                    : !hello.csr_pem().empty()        ? Kind::kRenew
                                                      : Kind::kSession;
        hellos.push_back(seen);
        if (seen.kind == Kind::kEnroll) {
          EXPECT_FALSE(seen.peer.has_value()) << "an enrolling agent has no certificate yet";
          if (hello.enrollment_token() != valid_token) return error(client, kRefusal);
          return sign(client, hello, "acme");
        }
        if (!seen.peer) return error(client, "no client certificate");
        EXPECT_EQ(seen.peer->common_name, hello.agent_id());
        if (seen.kind == Kind::kRenew) return sign(client, hello, seen.peer->organization);
        wire::Welcome welcome;
        welcome.set_session_id("s" + std::to_string(hellos.size()));
        welcome.set_gateway_id("fake-tls");
        welcome.set_credit_batches(100);
        welcome.set_credit_bytes(1u << 30);
        return send(client, protocol::encodeControlFrame(protocol::FrameType::kWelcome, welcome));
      }
      case protocol::FrameType::kBatch: {
        auto decoded = protocol::decodeBatchPayload(frame.payload, frame.flags,
                                                    protocol::kDefaultMaxDecompressedSize);
        ASSERT_TRUE(decoded.ok()) << decoded.error().message;
        acked.insert(decoded->batch_id);
        wire::Ack ack;
        wire::AckEntry* entry = ack.add_entries();
        entry->set_batch_id(decoded->batch_id);
        entry->set_status(wire::ACK_STATUS_OK);
        return send(client, protocol::encodeControlFrame(protocol::FrameType::kAck, ack));
      }
      case protocol::FrameType::kHeartbeat:
        return;
      default:
        ADD_FAILURE() << "unexpected frame from the agent: " << protocol::frameTypeName(frame.type);
    }
  }

  void sign(Client& client, const wire::Hello& hello, const std::string& tenant) {
    protocol::ClientCertOptions o;
    o.agent_id = hello.agent_id();
    o.tenant = tenant;
    o.validity = Validity::days(30, now());
    auto issued_cert = protocol::signAgentCsr(ca_, hello.csr_pem(), o);
    ASSERT_TRUE(issued_cert.ok()) << issued_cert.error().message;
    issued.push_back(issued_cert->info.serial_hex);
    wire::Welcome welcome;
    welcome.set_session_id("enroll");
    welcome.set_client_cert_pem(issued_cert->cert_pem);
    welcome.set_ca_cert_pem(ca_.cert_pem);
    send(client, protocol::encodeControlFrame(protocol::FrameType::kWelcome, welcome), true);
  }

  void error(Client& client, const std::string& reason) {
    wire::Error error;
    error.set_code(wire::ERROR_CODE_UNAUTHENTICATED);
    error.set_reason(reason);
    send(client, protocol::encodeControlFrame(protocol::FrameType::kError, error), true);
  }

  void send(Client& client, const std::string& frame, bool close_after = false) {
    ASSERT_TRUE(client.tls->writePlaintext(frame).ok());
    flush(&client, close_after);
  }

  void flush(Client* client, bool close_after) {
    auto* w = new Write();
    w->data = client->tls->takeCiphertext();
    w->close_after = close_after ? client : nullptr;
    if (w->data.empty()) {
      delete w;
      if (close_after) closeClient(client);
      return;
    }
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&client->tcp), &buf, 1,
                      [](uv_write_t* req, int) {
                        auto* write = static_cast<Write*>(req->data);
                        Client* c = write->close_after;
                        delete write;
                        // Closed after the frame left, like the gateway does.
                        if (c != nullptr && c->gateway != nullptr) c->gateway->closeClient(c);
                      });
    if (rc != 0) {
      delete w;
      closeClient(client);
    }
  }

  void closeClient(Client* client) {
    if (clients_.erase(client) == 0) return;
    client->gateway = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&client->tcp),
             [](uv_handle_t* handle) { delete static_cast<Client*>(handle->data); });
  }

  uv_loop_t* loop_;
  CertificateAuthority ca_;
  std::shared_ptr<protocol::TlsContext> context_;
  uv_tcp_t server_{};
  std::set<Client*> clients_;
  bool closed_ = false;
};

using Kind = FakeTlsGateway::Kind;

class ShipperTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ::signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    SpoolOptions options;
    options.path = dir_.file("spool.db");
    auto spool = Spool::open(options);
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    spool_ = std::move(*spool);
    ca_ = makeCa("shipper TLS test CA");
    writeFile(dir_.file("ca.crt"), ca_.cert_pem, false);
  }

  void TearDown() override {
    if (shipper_) shipper_->close();
    if (gateway_) gateway_->close();
    testing::closeLoop(&loop_);
    shipper_.reset();
    gateway_.reset();
  }

  FakeTlsGateway& startGateway(bool session_tickets = false) {
    gateway_ = std::make_unique<FakeTlsGateway>(&loop_, ca_, session_tickets);
    port_ = gateway_->listen();
    return *gateway_;
  }

  CredentialsOptions credentialOptions() const {
    CredentialsOptions o;
    o.ca_path = dir_.file("ca.crt");
    o.state_dir = dir_.file("tls");
    o.cert_path = o.state_dir + "/agent.crt";
    o.key_path = o.state_dir + "/agent.key";
    return o;
  }

  // A certificate for this agent's id, as `edgectl cert issue` would make it.
  protocol::testing::KeyCert provision(Validity validity = Validity::days(30, now())) {
    auto pair = makeAgent(ca_, spool_->agentId(), "acme", validity);
    std::filesystem::create_directories(dir_.file("tls"));
    writeFile(dir_.file("tls/agent.key"), pair.key_pem, false);
    std::filesystem::permissions(
        dir_.file("tls/agent.key"),
        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    writeFile(dir_.file("tls/agent.crt"), pair.cert_pem, false);
    return pair;
  }

  ShipperOptions options(CredentialsOptions creds) {
    auto loaded = AgentCredentials::load(std::move(creds));
    EXPECT_TRUE(loaded.ok()) << loaded.error().message;
    ShipperOptions o;
    o.gateways = {"127.0.0.1:" + std::to_string(port_)};
    o.agent_version = "0.1.0-test";
    o.hostname = "test-host";
    o.reconnect_min = std::chrono::milliseconds(20);
    o.reconnect_max = std::chrono::milliseconds(200);
    o.heartbeat_interval = std::chrono::seconds(60);
    o.drain_timeout = std::chrono::milliseconds(500);
    o.enrollment_retry_min = std::chrono::seconds(60);
    o.enrollment_retry_max = std::chrono::seconds(120);
    if (loaded.ok()) o.credentials = std::move(*loaded);
    return o;
  }

  Shipper& startShipper(ShipperOptions o) {
    shipper_ = std::make_unique<Shipper>(&loop_, *spool_, std::move(o), metrics_);
    auto started = shipper_->start();
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().message);
    return *shipper_;
  }

  void spoolBatches(int n) {
    for (int i = 0; i < n; ++i) {
      std::vector<Event> events{makeEvent("line " + std::to_string(i))};
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
    return 0;
  }

  bool sessionWith(const std::string& serial) {
    const auto* session = gateway_->lastSession();
    return shipper_->connected() && session != nullptr && session->peer &&
           session->peer->serial_hex == serial;
  }

  uv_loop_t loop_{};
  TempDir dir_;
  MetricsRegistry metrics_;
  CertificateAuthority ca_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<FakeTlsGateway> gateway_;
  std::unique_ptr<Shipper> shipper_;
  uint16_t port_ = 0;
};

TEST_F(ShipperTlsTest, EnrollsWithATokenThenDeliversOverMutualTls) {
  FakeTlsGateway& gateway = startGateway();
  spoolBatches(3);
  CredentialsOptions creds = credentialOptions();
  creds.token = kValidToken;
  creds.tenant_hint = "acme";
  startShipper(options(creds));
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected() && spool_->batchCount() == 0; }))
      << gateway.last_tls_failure;

  ASSERT_EQ(gateway.hellos.size(), 2u);
  const auto& enroll = gateway.hellos[0];
  EXPECT_EQ(enroll.kind, Kind::kEnroll);
  EXPECT_EQ(enroll.hello.agent_id(), spool_->agentId());
  EXPECT_EQ(enroll.hello.tenant_hint(), "acme");
  EXPECT_TRUE(protocol::checkCsr(enroll.hello.csr_pem()).ok());
  const auto& session = gateway.hellos[1];
  EXPECT_EQ(session.kind, Kind::kSession);
  ASSERT_TRUE(session.peer.has_value());
  EXPECT_EQ(session.peer->common_name, spool_->agentId());
  EXPECT_EQ(session.peer->organization, "acme");
  ASSERT_EQ(gateway.issued.size(), 1u);
  EXPECT_EQ(session.peer->serial_hex, gateway.issued[0]);
  EXPECT_EQ(gateway.acked.size(), 3u);
  EXPECT_EQ(metric("edge_agent_enrollments_total{result=\"ok\"}"), 1u);
  EXPECT_GT(metric("edge_agent_certificate_expiry_seconds"), static_cast<uint64_t>(now()));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("tls/agent.crt")));
}

TEST_F(ShipperTlsTest, ARefusedTokenWaitsAndANewTokenInTheFileIsTriedAtOnce) {
  FakeTlsGateway& gateway = startGateway();
  CredentialsOptions creds = credentialOptions();
  creds.token_file = dir_.file("token");
  writeFile(creds.token_file, "edge1.expired.token\n", false);
  startShipper(options(creds));
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway.count(Kind::kEnroll) == 1; }));
  ASSERT_TRUE(runUntil(
      &loop_, [&] { return metric("edge_agent_enrollments_total{result=\"refused\"}") == 1; }));
  // retry_min is 60s: the refused token is not tried again meanwhile.
  runFor(&loop_, std::chrono::milliseconds(1500));
  EXPECT_EQ(gateway.count(Kind::kEnroll), 1u);
  EXPECT_FALSE(shipper_->connected());

  writeFile(creds.token_file, std::string(kValidToken) + "\n", false);
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  EXPECT_EQ(gateway.count(Kind::kEnroll), 2u);
  EXPECT_EQ(gateway.hellos.back().kind, Kind::kSession);
}

TEST_F(ShipperTlsTest, RenewsADueCertificateBeforeTheSession) {
  FakeTlsGateway& gateway = startGateway();
  const int64_t t = now();
  // A third of the lifetime is long gone: renewal is due.
  auto old = provision(Validity{t - 3000, t + 600});
  spoolBatches(1);
  startShipper(options(credentialOptions()));
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected() && spool_->batchCount() == 0; }))
      << gateway.last_tls_failure;
  ASSERT_EQ(gateway.hellos.size(), 2u);
  EXPECT_EQ(gateway.hellos[0].kind, Kind::kRenew);
  EXPECT_TRUE(gateway.hellos[0].hello.enrollment_token().empty());
  ASSERT_TRUE(gateway.hellos[0].peer.has_value());
  EXPECT_EQ(gateway.hellos[0].peer->serial_hex, old.info.serial_hex);
  ASSERT_EQ(gateway.issued.size(), 1u);
  EXPECT_TRUE(sessionWith(gateway.issued[0]));
  auto stored = must(protocol::inspectCertificate(
                         must(protocol::readTextFile(dir_.file("tls/agent.crt")), "read")),
                     "inspect");
  EXPECT_EQ(stored.serial_hex, gateway.issued[0]);
  EXPECT_EQ(metric("edge_agent_certificate_renewals_total{result=\"ok\"}"), 1u);
}

TEST_F(ShipperTlsTest, RenewsDuringASessionWhenTheTimeComes) {
  FakeTlsGateway& gateway = startGateway();
  const int64_t t = now();
  auto old = provision(Validity{t - 60, t + 3600});
  CredentialsOptions creds = credentialOptions();
  creds.renew_before_s = 3600 - 8;  // due 8 seconds from now
  startShipper(options(creds));
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  ASSERT_EQ(gateway.hellos.size(), 1u);
  EXPECT_EQ(gateway.hellos[0].kind, Kind::kSession);

  ASSERT_TRUE(runUntil(
      &loop_, [&] { return gateway.issued.size() == 1 && sessionWith(gateway.issued[0]); }));
  EXPECT_EQ(gateway.count(Kind::kRenew), 1u);
  EXPECT_NE(gateway.issued[0], old.info.serial_hex);
}

TEST_F(ShipperTlsTest, RefusesAGatewayWhoseCertificateLacksTheName) {
  FakeTlsGateway& gateway = startGateway();
  provision();
  ShipperOptions o = options(credentialOptions());
  o.tls_server_name = "other.example";
  startShipper(std::move(o));
  ASSERT_TRUE(
      runUntil(&loop_, [&] { return metric("edge_agent_tls_handshake_failures_total") >= 2; }));
  EXPECT_TRUE(gateway.hellos.empty());
  EXPECT_FALSE(shipper_->connected());
}

TEST_F(ShipperTlsTest, ResumesTheTlsSessionOnReconnect) {
  FakeTlsGateway& gateway = startGateway(/*session_tickets=*/true);
  provision();
  startShipper(options(credentialOptions()));
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  EXPECT_FALSE(gateway.hellos[0].resumed);
  gateway.dropClients();
  ASSERT_TRUE(
      runUntil(&loop_, [&] { return gateway.hellos.size() == 2 && shipper_->connected(); }));
  EXPECT_TRUE(gateway.hellos[1].resumed);
  EXPECT_TRUE(shipper_->tlsResumed());
  ASSERT_TRUE(gateway.hellos[1].peer.has_value());
  EXPECT_EQ(gateway.hellos[1].peer->common_name, spool_->agentId());
}

TEST_F(ShipperTlsTest, ARevokedAgentEnrollsAgainOnlyWithANewToken) {
  FakeTlsGateway& gateway = startGateway();
  CredentialsOptions creds = credentialOptions();
  creds.token_file = dir_.file("token");
  writeFile(creds.token_file, std::string(kValidToken) + "\n", false);
  startShipper(options(creds));
  ASSERT_TRUE(runUntil(&loop_, [&] { return shipper_->connected(); }));
  ASSERT_EQ(gateway.issued.size(), 1u);

  // Revoked: the handshake is refused, and the token it enrolled with is
  // not used again.
  gateway.revoked.insert(gateway.issued[0]);
  gateway.dropClients();
  ASSERT_TRUE(runUntil(&loop_, [&] { return gateway.tls_failures >= 3; }));
  EXPECT_EQ(gateway.count(Kind::kEnroll), 1u);
  EXPECT_FALSE(shipper_->connected());

  gateway.valid_token = "edge1.second.token";
  writeFile(creds.token_file, gateway.valid_token + "\n", false);
  ASSERT_TRUE(runUntil(
      &loop_, [&] { return gateway.issued.size() == 2 && sessionWith(gateway.issued[1]); }));
  EXPECT_EQ(gateway.count(Kind::kEnroll), 2u);
}

}  // namespace
}  // namespace edge::agent
