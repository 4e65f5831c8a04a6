// The gateway's TLS listener with real sockets and certificates made by the
// PKI helpers: mutual TLS and tenancy from the certificate, refusals (no
// certificate, wrong agent id, plaintext), enrollment with good and bad
// tokens, and a CRL reload that disconnects a revoked agent.
#include <gtest/gtest.h>

#include <csignal>
#include <ctime>

#include "../security/test_pki.h"
#include "edge/protocol/enrollment_token.h"
#include "edge/protocol/pki.h"
#include "edge/protocol/tls.h"
#include "test_support.h"

namespace edge::gateway::testing {
namespace {

using protocol::testing::makeAgent;
using protocol::testing::makeCa;
using protocol::testing::makeServer;
using protocol::testing::must;

int64_t unixNow() { return static_cast<int64_t>(std::time(nullptr)); }

void writeFile(const std::string& path, const std::string& text) {
  must(protocol::writeFileSecurely(path, text, 0600, true), "write " + path);
}

// A blocking agent that speaks the protocol through a TlsSession.
class TlsAgent {
 public:
  TlsAgent(uint16_t port, const protocol::CertificateAuthority& ca, const std::string& cert_pem,
           const std::string& key_pem) {
    protocol::TlsContextOptions options;
    options.role = protocol::TlsRole::kClient;
    options.ca_cert_pem = ca.cert_pem;
    options.cert_pem = cert_pem;
    options.key_pem = key_pem;
    context_ = must(protocol::TlsContext::create(options), "client TLS context");
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{};
    tv.tv_sec = kGuard.count();
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
        << strerror(errno);
    protocol::TlsSessionOptions session_options;
    session_options.server_name = "127.0.0.1";
    session_ = must(protocol::TlsSession::create(context_, session_options), "client session");
    flush();
  }
  ~TlsAgent() { ::close(fd_); }
  TlsAgent(const TlsAgent&) = delete;
  TlsAgent& operator=(const TlsAgent&) = delete;

  // True once the handshake finished; false if it failed or the gateway closed.
  bool handshake() {
    while (!session_->handshakeDone()) {
      if (session_->failed() || !receive()) return false;
    }
    return true;
  }

  void sendControl(protocol::FrameType type, const google::protobuf::MessageLite& message) {
    sendPlain(protocol::encodeControlFrame(type, message));
  }

  void sendPlain(const std::string& bytes) {
    ASSERT_TRUE(session_->writePlaintext(bytes).ok());
    flush();
  }

  size_t sendBatch(uint64_t batch_id, const std::string& agent_id,
                   const std::vector<Event>& events) {
    auto payload = protocol::encodeBatchPayload(batch_id, agent_id, events, 3);
    EXPECT_TRUE(payload.ok());
    if (!payload) return 0;
    sendPlain(protocol::encodeFrame(protocol::FrameType::kBatch, payload->flags, payload->bytes));
    return payload->bytes.size();
  }

  wire::Hello makeHello(const std::string& agent_id) {
    wire::Hello hello;
    hello.set_protocol_version(protocol::kProtocolVersion);
    hello.set_agent_id(agent_id);
    hello.set_agent_version("test-1.0");
    hello.set_tenant_hint("agent-claims-this");
    return hello;
  }

  // Next frame; nullopt on EOF, a TLS error or the guard timeout.
  std::optional<protocol::Frame> readFrame() {
    for (;;) {
      auto next = decoder_.next();
      if (!next) {
        ADD_FAILURE() << "gateway sent a bad frame: " << next.error().message;
        return std::nullopt;
      }
      if (next->has_value()) return std::move(**next);
      if (!receive()) return std::nullopt;
    }
  }

  // The first frame must be `type`; parses it into `message`.
  bool expect(protocol::FrameType type, google::protobuf::MessageLite& message) {
    auto frame = readFrame();
    if (!frame) {
      ADD_FAILURE() << "connection closed, expected " << protocol::frameTypeName(type);
      return false;
    }
    EXPECT_EQ(frame->type, type) << protocol::frameTypeName(frame->type);
    if (frame->type != type) return false;
    return protocol::parseControl(*frame, message).ok();
  }

  const protocol::TlsSession& session() const { return *session_; }

 private:
  bool receive() {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    auto fed = session_->feedCiphertext(std::string_view(buf, static_cast<size_t>(n)));
    flush();
    if (!fed) return false;
    std::string plain;
    for (;;) {
      auto read = session_->readPlaintext(plain);
      if (!read || *read == 0) break;
    }
    if (!plain.empty()) {
      EXPECT_TRUE(decoder_.feed(plain.data(), plain.size()).ok());
    }
    return true;
  }

  void flush() {
    const std::string out = session_->takeCiphertext();
    size_t off = 0;
    while (off < out.size()) {
      const ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;  // the gateway closed; reads will tell
      off += static_cast<size_t>(n);
    }
  }

  std::shared_ptr<protocol::TlsContext> context_;
  std::unique_ptr<protocol::TlsSession> session_;
  int fd_ = -1;
  protocol::FrameDecoder decoder_{64u << 20};
};

// A CA, a gateway certificate and the files a TLS gateway config names.
class TlsGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // As edge-gateway's main() does: a write to an agent that already closed
    // must be an EPIPE error on that connection, not the end of the process.
    signal(SIGPIPE, SIG_IGN);
    ca_ = makeCa("gateway test CA");
    auto server = makeServer(ca_, {"gw.test"}, {"127.0.0.1"});
    writeFile(dir_.file("ca.crt"), ca_.cert_pem);
    writeFile(dir_.file("ca.key"), ca_.key_pem);
    writeFile(dir_.file("gw.crt"), server.cert_pem);
    writeFile(dir_.file("gw.key"), server.key_pem);
    token_key_ =
        std::make_unique<protocol::TokenKey>(must(protocol::TokenKey::generate(), "token key"));
    must(token_key_->saveFile(dir_.file("token.key"), false), "save token key");
  }

  std::string yaml(bool enrollment, const std::string& crl = "",
                   const std::string& handshake_timeout = "30s") {
    std::string tls = "  tls:\n    cert: " + dir_.file("gw.crt") +
                      "\n    key: " + dir_.file("gw.key") + "\n    ca: " + dir_.file("ca.crt") +
                      "\n    handshake_timeout: " + handshake_timeout + "\n";
    if (!crl.empty()) tls += "    crl: " + crl + "\n    crl_check_interval: 20ms\n";
    if (enrollment) {
      tls += "  enrollment:\n    enabled: true\n    ca_key: " + dir_.file("ca.key") +
             "\n    token_secret: " + dir_.file("token.key") + "\n    tenant: acme\n";
    }
    return testConfigYaml(dir_.file("data"), tls);
  }

  std::string token(const std::string& tenant, int64_t ttl, uint32_t uses, int64_t now) {
    auto token = must(protocol::newEnrollmentToken(tenant, ttl, uses, now), "token");
    return must(protocol::encodeEnrollmentToken(*token_key_, token), "encode token");
  }

  TempDir dir_;
  protocol::CertificateAuthority ca_;
  std::unique_ptr<protocol::TokenKey> token_key_;
};

TEST_F(TlsGatewayTest, MutualTlsBatchIsStoredUnderTheCertificatesTenant) {
  GatewayHarness gateway(yaml(false));
  ASSERT_TRUE(gateway.start());
  auto agent_cert = makeAgent(ca_, "agent-1", "tenant-a");
  {
    TlsAgent agent(gateway.port(), ca_, agent_cert.cert_pem, agent_cert.key_pem);
    ASSERT_TRUE(agent.handshake()) << agent.session().error().message;
    EXPECT_EQ(agent.session().protocolVersion(), "TLSv1.2");
    agent.sendControl(protocol::FrameType::kHello, agent.makeHello("agent-1"));
    wire::Welcome welcome;
    ASSERT_TRUE(agent.expect(protocol::FrameType::kWelcome, welcome));
    EXPECT_TRUE(welcome.client_cert_pem().empty());
    // The events claim another tenant; the certificate decides.
    agent.sendBatch(7, "agent-1", makeEvents(3, 1, "agent-claims-this"));
    wire::Ack ack;
    ASSERT_TRUE(agent.expect(protocol::FrameType::kAck, ack));
    ASSERT_EQ(ack.entries_size(), 1);
    EXPECT_EQ(ack.entries(0).batch_id(), 7u);
    EXPECT_EQ(ack.entries(0).status(), wire::ACK_STATUS_OK);
  }
  EXPECT_EQ(gateway.counter("edge_gateway_tls_handshakes_total"), 1u);
  gateway.stop();
  Db db(gateway.dbPath());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events"), 3);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE tenant = 'tenant-a'"), 3);
}

TEST_F(TlsGatewayTest, HelloAgentIdMustMatchTheCertificate) {
  GatewayHarness gateway(yaml(false));
  ASSERT_TRUE(gateway.start());
  auto agent_cert = makeAgent(ca_, "agent-1", "tenant-a");
  TlsAgent agent(gateway.port(), ca_, agent_cert.cert_pem, agent_cert.key_pem);
  ASSERT_TRUE(agent.handshake());
  agent.sendControl(protocol::FrameType::kHello, agent.makeHello("agent-2"));
  wire::Error error;
  ASSERT_TRUE(agent.expect(protocol::FrameType::kError, error));
  EXPECT_EQ(error.code(), wire::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_NE(error.reason().find("does not match the client certificate's agent id \"agent-1\""),
            std::string::npos)
      << error.reason();
  EXPECT_FALSE(agent.readFrame().has_value());  // closed
  EXPECT_EQ(gateway.protocolErrors("unauthenticated"), 1u);
}

TEST_F(TlsGatewayTest, ClientWithoutCertificateIsRefusedInTheHandshake) {
  GatewayHarness gateway(yaml(false));
  ASSERT_TRUE(gateway.start());
  TlsAgent agent(gateway.port(), ca_, "", "");
  EXPECT_FALSE(agent.handshake());
  EXPECT_TRUE(gateway.waitForCounter("edge_gateway_tls_handshake_failures_total", 1,
                                     {{"reason", "no_peer_certificate"}}));
  EXPECT_EQ(gateway.counter("edge_gateway_tls_handshakes_total"), 0u);
}

TEST_F(TlsGatewayTest, CertificateFromAnotherCaIsRefused) {
  GatewayHarness gateway(yaml(false));
  ASSERT_TRUE(gateway.start());
  auto other_ca = makeCa("someone else's CA");
  auto agent_cert = makeAgent(other_ca, "agent-1", "tenant-a");
  TlsAgent agent(gateway.port(), ca_, agent_cert.cert_pem, agent_cert.key_pem);
  EXPECT_FALSE(agent.handshake());
  EXPECT_TRUE(gateway.waitForCounter("edge_gateway_tls_handshake_failures_total", 1,
                                     {{"reason", "untrusted_certificate"}}));
}

TEST_F(TlsGatewayTest, WithEnrollmentOnACertlessClientMayOnlyEnroll) {
  GatewayHarness gateway(yaml(true));
  ASSERT_TRUE(gateway.start());
  TlsAgent agent(gateway.port(), ca_, "", "");
  ASSERT_TRUE(agent.handshake());
  agent.sendControl(protocol::FrameType::kHello, agent.makeHello("agent-1"));
  wire::Error error;
  ASSERT_TRUE(agent.expect(protocol::FrameType::kError, error));
  EXPECT_EQ(error.code(), wire::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_NE(error.reason().find("no client certificate"), std::string::npos) << error.reason();
}

// A plain TCP connection to the gateway (blocking, reads bounded by kGuard).
int connectPlain(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{};
  tv.tv_sec = kGuard.count();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

TEST_F(TlsGatewayTest, SilentPeerIsDroppedAtTheHandshakeTimeout) {
  GatewayHarness gateway(yaml(false, "", "100ms"));
  ASSERT_TRUE(gateway.start());
  const int fd = connectPlain(gateway.port());
  char buf[256];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) {
  }
  ::close(fd);
  EXPECT_EQ(n, 0) << "expected the gateway to close the connection";
  EXPECT_TRUE(gateway.waitForCounter("edge_gateway_tls_handshake_failures_total", 1,
                                     {{"reason", "handshake_timeout"}}));
}

TEST_F(TlsGatewayTest, PlaintextIsRefusedWhenTlsIsOn) {
  GatewayHarness gateway(yaml(false));
  ASSERT_TRUE(gateway.start());
  const int fd = connectPlain(gateway.port());
  wire::Hello hello;
  hello.set_protocol_version(protocol::kProtocolVersion);
  hello.set_agent_id("agent-1");
  const std::string frame = protocol::encodeControlFrame(protocol::FrameType::kHello, hello);
  ASSERT_EQ(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(frame.size()));
  // Whatever comes back (a TLS alert) is no WELCOME frame, and the gateway closes.
  std::string received;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) received.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(n, 0) << "expected the gateway to close the connection";
  EXPECT_NE(
      received.substr(0, 4),
      protocol::encodeControlFrame(protocol::FrameType::kWelcome, wire::Welcome()).substr(0, 4));
  EXPECT_TRUE(gateway.waitForCounter("edge_gateway_tls_handshake_failures_total", 1,
                                     {{"reason", "malformed"}}));
}

// One enrollment attempt: a fresh key, a CSR, HELLO with the token.
struct EnrollOutcome {
  bool welcomed = false;
  wire::Welcome welcome;
  wire::Error error;
  std::string key_pem;
};

EnrollOutcome enroll(uint16_t port, const protocol::CertificateAuthority& ca,
                     const std::string& agent_id, const std::string& token) {
  EnrollOutcome outcome;
  outcome.key_pem = must(protocol::generatePrivateKeyPem(), "agent key");
  const std::string csr = must(protocol::createCsr(outcome.key_pem, agent_id, "hint"), "csr");
  TlsAgent agent(port, ca, "", "");
  if (!agent.handshake()) {
    ADD_FAILURE() << "enrollment handshake failed";
    return outcome;
  }
  wire::Hello hello = agent.makeHello(agent_id);
  hello.set_enrollment_token(token);
  hello.set_csr_pem(csr);
  agent.sendControl(protocol::FrameType::kHello, hello);
  auto frame = agent.readFrame();
  if (!frame) {
    ADD_FAILURE() << "no answer to the enrollment HELLO";
    return outcome;
  }
  if (frame->type == protocol::FrameType::kWelcome) {
    outcome.welcomed = protocol::parseControl(*frame, outcome.welcome).ok();
  } else {
    EXPECT_EQ(frame->type, protocol::FrameType::kError);
    EXPECT_TRUE(protocol::parseControl(*frame, outcome.error).ok());
  }
  EXPECT_FALSE(agent.readFrame().has_value()) << "the gateway closes after answering";
  return outcome;
}

TEST_F(TlsGatewayTest, EnrollmentSignsOnlyForAValidToken) {
  GatewayHarness gateway(yaml(true));
  ASSERT_TRUE(gateway.start());
  const int64_t now = unixNow();

  // Refusals first: none of them may spend the valid token's use.
  std::string tampered = token("acme", 3600, 5, now);
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  const std::vector<std::pair<std::string, std::string>> bad = {
      {token("acme", 60, 1, now - 7200), "expired"},
      {tampered, "signature is invalid"},
      {token("other", 3600, 1, now), "is for tenant \"other\""},
  };
  for (const auto& [text, why] : bad) {
    EnrollOutcome outcome = enroll(gateway.port(), ca_, "agent-9", text);
    EXPECT_FALSE(outcome.welcomed) << why;
    EXPECT_EQ(outcome.error.code(), wire::ERROR_CODE_UNAUTHENTICATED) << why;
    EXPECT_NE(outcome.error.reason().find(why), std::string::npos) << outcome.error.reason();
    EXPECT_EQ(outcome.error.reason().rfind("enrollment token", 0), 0u) << outcome.error.reason();
  }

  const std::string good = token("acme", 3600, 1, now);
  EnrollOutcome enrolled = enroll(gateway.port(), ca_, "agent-9", good);
  ASSERT_TRUE(enrolled.welcomed) << enrolled.error.reason();
  EXPECT_EQ(enrolled.welcome.ca_cert_pem(), ca_.cert_pem);
  auto info = must(protocol::inspectCertificate(enrolled.welcome.client_cert_pem()), "inspect");
  EXPECT_EQ(info.common_name, "agent-9");
  EXPECT_EQ(info.organization, "acme");
  EXPECT_EQ(info.organizational_unit, "edge-agent");
  must(protocol::verifyCertificate(enrolled.welcome.client_cert_pem(), ca_.cert_pem),
       "the certificate chains to the CA");

  // Exhausted: its one use is spent.
  EnrollOutcome again = enroll(gateway.port(), ca_, "agent-10", good);
  EXPECT_FALSE(again.welcomed);
  EXPECT_NE(again.error.reason().find("has already been used 1 time(s)"), std::string::npos)
      << again.error.reason();
  EXPECT_EQ(gateway.counter("edge_gateway_enrollments_total", {{"result", "ok"}}), 1u);
  EXPECT_EQ(gateway.counter("edge_gateway_enrollments_total", {{"result", "refused"}}), 4u);

  // The enrolled agent reconnects with its certificate and ships under its tenant.
  TlsAgent agent(gateway.port(), ca_, enrolled.welcome.client_cert_pem(), enrolled.key_pem);
  ASSERT_TRUE(agent.handshake());
  agent.sendControl(protocol::FrameType::kHello, agent.makeHello("agent-9"));
  wire::Welcome welcome;
  ASSERT_TRUE(agent.expect(protocol::FrameType::kWelcome, welcome));
  agent.sendBatch(1, "agent-9", makeEvents(2, 1));
  wire::Ack ack;
  ASSERT_TRUE(agent.expect(protocol::FrameType::kAck, ack));
  EXPECT_EQ(ack.entries(0).status(), wire::ACK_STATUS_OK);
  gateway.stop();
  Db db(gateway.dbPath());
  EXPECT_EQ(db.scalar("SELECT count(*) FROM events WHERE tenant = 'acme' AND agent_id = 'agent-9'"),
            2);
}

TEST_F(TlsGatewayTest, CrlReloadDisconnectsARevokedAgent) {
  const std::string crl_path = dir_.file("ca.crl");
  writeFile(crl_path, must(protocol::writeCrlPem(ca_, {}, {0, 0, 1}), "empty CRL"));
  GatewayHarness gateway(yaml(false, crl_path));
  ASSERT_TRUE(gateway.start());
  auto revoked_cert = makeAgent(ca_, "agent-r", "tenant-a");
  auto kept_cert = makeAgent(ca_, "agent-k", "tenant-a");

  TlsAgent revoked(gateway.port(), ca_, revoked_cert.cert_pem, revoked_cert.key_pem);
  TlsAgent kept(gateway.port(), ca_, kept_cert.cert_pem, kept_cert.key_pem);
  for (auto* agent : {&revoked, &kept}) ASSERT_TRUE(agent->handshake());
  revoked.sendControl(protocol::FrameType::kHello, revoked.makeHello("agent-r"));
  kept.sendControl(protocol::FrameType::kHello, kept.makeHello("agent-k"));
  wire::Welcome welcome;
  ASSERT_TRUE(revoked.expect(protocol::FrameType::kWelcome, welcome));
  ASSERT_TRUE(kept.expect(protocol::FrameType::kWelcome, welcome));

  writeFile(crl_path,
            must(protocol::writeCrlPem(ca_, {{revoked_cert.info.serial_hex, unixNow()}}, {0, 0, 2}),
                 "CRL revoking agent-r"));
  wire::Error error;
  ASSERT_TRUE(revoked.expect(protocol::FrameType::kError, error));
  EXPECT_EQ(error.code(), wire::ERROR_CODE_UNAUTHENTICATED);
  EXPECT_NE(error.reason().find("revoked"), std::string::npos) << error.reason();
  EXPECT_FALSE(revoked.readFrame().has_value());
  EXPECT_EQ(gateway.counter("edge_gateway_revoked_disconnects_total"), 1u);
  EXPECT_GE(gateway.counter("edge_gateway_crl_reloads_total"), 2u);

  // The other agent is still served.
  kept.sendBatch(1, "agent-k", makeEvents(1, 1));
  wire::Ack ack;
  ASSERT_TRUE(kept.expect(protocol::FrameType::kAck, ack));

  // And the revoked certificate no longer gets through a handshake.
  TlsAgent retry(gateway.port(), ca_, revoked_cert.cert_pem, revoked_cert.key_pem);
  EXPECT_FALSE(retry.handshake());
  EXPECT_TRUE(gateway.waitForCounter("edge_gateway_tls_handshake_failures_total", 1,
                                     {{"reason", "revoked_certificate"}}));
}

// Renewal: a CSR without a token over mutual TLS gets a certificate for the
// identity of the verified certificate, whatever the CSR's subject says.
TEST_F(TlsGatewayTest, RenewalCertifiesTheVerifiedIdentityOnly) {
  GatewayHarness gateway(yaml(true));
  ASSERT_TRUE(gateway.start());
  auto current = makeAgent(ca_, "agent-5", "acme");
  const std::string key = must(protocol::generatePrivateKeyPem(), "key");
  const std::string csr = must(protocol::createCsr(key, "someone-else", "other"), "csr");
  auto renewHello = [&](TlsAgent& agent, const std::string& agent_id) {
    wire::Hello hello = agent.makeHello(agent_id);
    hello.set_csr_pem(csr);
    agent.sendControl(protocol::FrameType::kHello, hello);
  };
  {
    TlsAgent agent(gateway.port(), ca_, current.cert_pem, current.key_pem);
    ASSERT_TRUE(agent.handshake());
    renewHello(agent, "agent-5");
    wire::Welcome welcome;
    ASSERT_TRUE(agent.expect(protocol::FrameType::kWelcome, welcome));
    auto info = must(protocol::inspectCertificate(welcome.client_cert_pem()), "inspect");
    EXPECT_EQ(info.common_name, "agent-5");
    EXPECT_EQ(info.organization, "acme");
    EXPECT_NE(info.serial_hex, current.info.serial_hex);
    EXPECT_EQ(welcome.ca_cert_pem(), ca_.cert_pem);
    EXPECT_FALSE(agent.readFrame().has_value()) << "the gateway closes after the certificate";

    // The renewed certificate (with the CSR's key) is accepted.
    TlsAgent renewed(gateway.port(), ca_, welcome.client_cert_pem(), key);
    ASSERT_TRUE(renewed.handshake());
    renewed.sendControl(protocol::FrameType::kHello, renewed.makeHello("agent-5"));
    wire::Welcome session;
    ASSERT_TRUE(renewed.expect(protocol::FrameType::kWelcome, session));
    EXPECT_TRUE(session.client_cert_pem().empty());
  }
  {
    TlsAgent agent(gateway.port(), ca_, current.cert_pem, current.key_pem);
    ASSERT_TRUE(agent.handshake());
    renewHello(agent, "agent-6");
    wire::Error error;
    ASSERT_TRUE(agent.expect(protocol::FrameType::kError, error));
    EXPECT_EQ(error.code(), wire::ERROR_CODE_UNAUTHENTICATED);
    EXPECT_NE(error.reason().find("does not match the client certificate"), std::string::npos)
        << error.reason();
  }
  {
    auto other_tenant = makeAgent(ca_, "agent-7", "globex");
    TlsAgent agent(gateway.port(), ca_, other_tenant.cert_pem, other_tenant.key_pem);
    ASSERT_TRUE(agent.handshake());
    renewHello(agent, "agent-7");
    wire::Error error;
    ASSERT_TRUE(agent.expect(protocol::FrameType::kError, error));
    EXPECT_NE(error.reason().find("for tenant acme only"), std::string::npos) << error.reason();
  }
  EXPECT_EQ(gateway.counter("edge_gateway_enrollments_total", {{"result", "ok"}}), 1u);
  EXPECT_EQ(gateway.counter("edge_gateway_enrollments_total", {{"result", "refused"}}), 2u);
}

TEST_F(TlsGatewayTest, MissingCertificateFileFailsAtStartWithItsKey) {
  std::string text = yaml(false);
  const std::string gw_crt = dir_.file("gw.crt");
  text.replace(text.find(gw_crt), gw_crt.size(), dir_.file("missing.crt"));
  auto parsed = parseGatewayConfig(text, "t.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  resolveDefaults(*parsed);
  MetricsRegistry registry;
  auto sink = std::make_shared<sinks::SqliteSink>(parsed->sqlite, registry);
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    Gateway gateway(&loop, *parsed, sink, registry);
    auto started = gateway.start();
    ASSERT_FALSE(started.ok());
    EXPECT_NE(started.error().message.find("gateway.tls.cert"), std::string::npos)
        << started.error().message;
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace edge::gateway::testing
