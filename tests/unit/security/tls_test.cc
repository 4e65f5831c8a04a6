// Tests for TlsContext/TlsSession: a client and a server session pumped
// against each other entirely in memory, with certificates from the real PKI
// helpers. Covers mutual authentication and every refusal the gateway
// relies on (no certificate, another CA, expired, revoked, wrong name),
// data in both directions under arbitrary chunking, close, resumption.
#include "edge/protocol/tls.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_pki.h"

namespace edge::protocol {
namespace {

using testing::KeyCert;
using testing::makeAgent;
using testing::makeCa;
using testing::makeServer;
using testing::must;
using testing::now;

// Everything one end received as plaintext.
struct End {
  std::unique_ptr<TlsSession> session;
  std::string received;
};

// Moves ciphertext between the two ends in chunks of 1..max_chunk bytes
// until neither has anything left to send, reading plaintext as it arrives.
// Keeps flushing after a failure so the peer sees the alert.
void pump(End& a, End& b, std::mt19937& rng, size_t max_chunk = 1u << 20) {
  auto deliver = [&](End& from, End& to) {
    std::string bytes = from.session->takeCiphertext();
    if (bytes.empty()) return false;
    std::uniform_int_distribution<size_t> size(1, max_chunk);
    size_t pos = 0;
    while (pos < bytes.size() && !to.session->failed()) {
      const size_t n = std::min(size(rng), bytes.size() - pos);
      if (!to.session->feedCiphertext(std::string_view(bytes).substr(pos, n))) break;
      pos += n;
      (void)to.session->readPlaintext(to.received);
    }
    return true;
  };
  for (int round = 0; round < 10000; ++round) {
    const bool ab = deliver(a, b);
    const bool ba = deliver(b, a);
    if (!ab && !ba) return;
  }
  FAIL() << "the sessions never stopped producing ciphertext";
}

struct Peers {
  KeyCert server;
  KeyCert agent;
  CertificateAuthority ca;
};

const Peers& peers() {
  static const Peers p = [] {
    Peers out;
    out.ca = makeCa("test CA");
    out.server = makeServer(out.ca);
    out.agent = makeAgent(out.ca, "agent-1", "acme");
    return out;
  }();
  return p;
}

TlsContextOptions serverOptions(const CertificateAuthority& ca, const KeyCert& server) {
  TlsContextOptions o;
  o.role = TlsRole::kServer;
  o.ca_cert_pem = ca.cert_pem;
  o.cert_pem = server.cert_pem;
  o.key_pem = server.key_pem;
  return o;
}

TlsContextOptions clientOptions(const CertificateAuthority& ca, const KeyCert* agent) {
  TlsContextOptions o;
  o.role = TlsRole::kClient;
  o.ca_cert_pem = ca.cert_pem;
  if (agent != nullptr) {
    o.cert_pem = agent->cert_pem;
    o.key_pem = agent->key_pem;
  }
  return o;
}

TlsSessionOptions serverName(const std::string& name) {
  TlsSessionOptions options;
  options.server_name = name;
  return options;
}

struct Connection {
  End client;
  End server;
};

Connection connect(const TlsContextOptions& server_options, const TlsContextOptions& client_options,
                   const std::string& server_name = "127.0.0.1", size_t max_chunk = 1u << 20,
                   std::shared_ptr<const TlsSavedSession> resume = nullptr) {
  static std::mt19937 rng(12345);
  auto server_ctx = must(TlsContext::create(server_options), "server context");
  auto client_ctx = must(TlsContext::create(client_options), "client context");
  Connection c;
  c.server.session = must(TlsSession::create(server_ctx), "server session");
  TlsSessionOptions options;
  options.server_name = server_name;
  options.resume = std::move(resume);
  c.client.session = must(TlsSession::create(client_ctx, options), "client session");
  pump(c.client, c.server, rng, max_chunk);
  return c;
}

TEST(TlsSessionTest, MutualHandshakeExtractsPeerIdentities) {
  const Peers& p = peers();
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &p.agent));
  ASSERT_TRUE(c.server.session->handshakeDone()) << c.server.session->error().message;
  ASSERT_TRUE(c.client.session->handshakeDone()) << c.client.session->error().message;

  const auto& agent = c.server.session->peerIdentity();
  ASSERT_TRUE(agent.has_value());
  EXPECT_EQ(agent->common_name, "agent-1");
  EXPECT_EQ(agent->organization, "acme");
  EXPECT_EQ(agent->organizational_unit, "edge-agent");
  EXPECT_EQ(agent->serial_hex, p.agent.info.serial_hex);
  auto identity = agentIdentityOf(*agent);
  ASSERT_TRUE(identity.ok()) << identity.error().message;
  EXPECT_EQ(identity->agent_id, "agent-1");
  EXPECT_EQ(identity->tenant, "acme");

  const auto& gateway = c.client.session->peerIdentity();
  ASSERT_TRUE(gateway.has_value());
  EXPECT_EQ(gateway->common_name, "gw-1");
  EXPECT_EQ(gateway->organizational_unit, "edge-gateway");
  EXPECT_EQ(gateway->ip_addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_FALSE(agentIdentityOf(*gateway).ok()) << "a gateway certificate must not pass as an agent";

  EXPECT_EQ(c.client.session->protocolVersion(), "TLSv1.2");
  const std::string suite = c.server.session->cipherSuite();
  EXPECT_NE(suite.find("ECDHE-ECDSA"), std::string::npos) << suite;
  EXPECT_TRUE(suite.find("GCM") != std::string::npos ||
              suite.find("CHACHA20-POLY1305") != std::string::npos)
      << suite;
  EXPECT_EQ(c.server.session->failure(), TlsFailure::kNone);
}

TEST(TlsSessionTest, DnsServerNameMatchesSan) {
  const Peers& p = peers();
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &p.agent), "gw.test");
  EXPECT_TRUE(c.client.session->handshakeDone()) << c.client.session->error().message;
}

TEST(TlsSessionTest, ClientWithoutCertificateIsRefused) {
  const Peers& p = peers();
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, nullptr));
  ASSERT_TRUE(c.server.session->failed());
  EXPECT_EQ(c.server.session->failure(), TlsFailure::kNoPeerCertificate);
  EXPECT_NE(c.server.session->error().message.find("sent no certificate"), std::string::npos)
      << c.server.session->error().message;
  EXPECT_FALSE(c.server.session->peerIdentity().has_value());
  ASSERT_TRUE(c.client.session->failed()) << "the client must learn it was refused";
  EXPECT_EQ(c.client.session->failure(), TlsFailure::kPeerAlert);
}

TEST(TlsSessionTest, CertificateFromAnotherCaIsRefused) {
  const Peers& p = peers();
  const CertificateAuthority other = makeCa("other CA");
  const KeyCert intruder = makeAgent(other, "agent-1", "acme");
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &intruder));
  ASSERT_TRUE(c.server.session->failed());
  EXPECT_EQ(c.server.session->failure(), TlsFailure::kUntrustedCertificate)
      << c.server.session->error().message;
  EXPECT_NE(c.server.session->error().message.find("not issued by the configured edge CA"),
            std::string::npos)
      << c.server.session->error().message;
  EXPECT_TRUE(c.client.session->failed());
  EXPECT_NE(c.client.session->error().message.find("unknown_ca"), std::string::npos)
      << c.client.session->error().message;
}

TEST(TlsSessionTest, ExpiredClientCertificateIsRefused) {
  const Peers& p = peers();
  const int64_t t = now();
  const KeyCert expired = makeAgent(p.ca, "agent-old", "acme", Validity{t - 10 * 86400, t - 86400});
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &expired));
  ASSERT_TRUE(c.server.session->failed());
  EXPECT_EQ(c.server.session->failure(), TlsFailure::kExpiredCertificate)
      << c.server.session->error().message;
  EXPECT_NE(c.server.session->error().message.find("expired"), std::string::npos)
      << c.server.session->error().message;
  EXPECT_NE(c.client.session->error().message.find("certificate_expired"), std::string::npos)
      << c.client.session->error().message;
}

TEST(TlsSessionTest, NotYetValidClientCertificateIsRefused) {
  const Peers& p = peers();
  const int64_t t = now();
  const KeyCert future = makeAgent(p.ca, "agent-new", "acme", Validity{t + 86400, t + 10 * 86400});
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &future));
  ASSERT_TRUE(c.server.session->failed());
  EXPECT_EQ(c.server.session->failure(), TlsFailure::kExpiredCertificate)
      << c.server.session->error().message;
}

TEST(TlsSessionTest, RevokedSerialInCrlIsRefused) {
  const Peers& p = peers();
  const KeyCert revoked = makeAgent(p.ca, "agent-gone", "acme");
  auto options = serverOptions(p.ca, p.server);
  options.crl_pem = must(writeCrlPem(p.ca, {{revoked.info.serial_hex, now()}}, {}), "CRL");

  Connection refused = connect(options, clientOptions(p.ca, &revoked));
  ASSERT_TRUE(refused.server.session->failed());
  EXPECT_EQ(refused.server.session->failure(), TlsFailure::kRevokedCertificate)
      << refused.server.session->error().message;
  EXPECT_NE(refused.server.session->error().message.find(revoked.info.serial_hex),
            std::string::npos)
      << "the refusal names the serial: " << refused.server.session->error().message;
  EXPECT_NE(refused.client.session->error().message.find("certificate_revoked"), std::string::npos)
      << refused.client.session->error().message;

  Connection allowed = connect(options, clientOptions(p.ca, &p.agent));
  EXPECT_TRUE(allowed.server.session->handshakeDone())
      << "other serials stay valid: " << allowed.server.session->error().message;
}

TEST(TlsSessionTest, CrlFromAnotherCaIsAConfigError) {
  const Peers& p = peers();
  const CertificateAuthority other = makeCa("other CA");
  auto options = serverOptions(p.ca, p.server);
  options.crl_pem = must(writeCrlPem(other, {}, {}), "CRL");
  auto ctx = TlsContext::create(options);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().message.find("CRL"), std::string::npos) << ctx.error().message;
}

TEST(TlsSessionTest, ReloadedRevocationListAppliesToNewHandshakes) {
  const Peers& p = peers();
  testing::TempDir dir;
  const KeyCert agent = makeAgent(p.ca, "agent-2", "acme");
  auto store = std::make_shared<RevocationStore>(p.ca.cert_pem);
  auto options = serverOptions(p.ca, p.server);
  options.revocation = [store](std::string_view serial) { return store->isRevoked(serial); };
  auto server_ctx = must(TlsContext::create(options), "server context");

  auto handshake = [&]() {
    auto client_ctx = must(TlsContext::create(clientOptions(p.ca, &agent)), "client context");
    Connection c;
    c.server.session = must(TlsSession::create(server_ctx), "server session");
    c.client.session =
        must(TlsSession::create(client_ctx, serverName("127.0.0.1")), "client session");
    std::mt19937 rng(7);
    pump(c.client, c.server, rng);
    return c;
  };
  Connection before = handshake();
  ASSERT_TRUE(before.server.session->handshakeDone()) << before.server.session->error().message;

  const std::string crl_path = dir.file("revoked.crl");
  must(writeFileSecurely(crl_path,
                         must(writeCrlPem(p.ca, {{agent.info.serial_hex, now()}}, {}), "CRL"), 0644,
                         false),
       "write CRL");
  ASSERT_TRUE(store->reloadFile(crl_path).ok());
  EXPECT_TRUE(store->isRevoked(agent.info.serial_hex));
  EXPECT_TRUE(server_ctx->isRevoked(agent.info.serial_hex))
      << "live sessions can be re-checked after a reload";

  Connection after = handshake();
  EXPECT_EQ(after.server.session->failure(), TlsFailure::kRevokedCertificate)
      << after.server.session->error().message;

  // A broken file keeps the previous list.
  must(writeFileSecurely(crl_path, "not a CRL", 0644, true), "overwrite CRL");
  EXPECT_FALSE(store->reloadFile(crl_path).ok());
  EXPECT_TRUE(store->isRevoked(agent.info.serial_hex));
}

TEST(TlsSessionTest, ServerCertificateFromAnotherCaIsRefusedByClient) {
  const Peers& p = peers();
  const CertificateAuthority other = makeCa("rogue CA");
  const KeyCert rogue = makeServer(other);
  // The rogue server trusts our CA so that only the client's check matters.
  Connection c = connect(serverOptions(p.ca, rogue), clientOptions(p.ca, &p.agent));
  ASSERT_TRUE(c.client.session->failed());
  EXPECT_EQ(c.client.session->failure(), TlsFailure::kUntrustedCertificate)
      << c.client.session->error().message;
  EXPECT_FALSE(c.server.session->handshakeDone());
}

TEST(TlsSessionTest, ServerNameMismatchIsRefused) {
  const Peers& p = peers();
  for (const std::string name : {"10.9.9.9", "other.test", "::1"}) {
    Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &p.agent), name);
    ASSERT_TRUE(c.client.session->failed()) << name;
    EXPECT_EQ(c.client.session->failure(), TlsFailure::kNameMismatch)
        << name << ": " << c.client.session->error().message;
    EXPECT_NE(c.client.session->error().message.find(name), std::string::npos)
        << c.client.session->error().message;
  }
}

TEST(TlsSessionTest, ClientNeedsAServerName) {
  const Peers& p = peers();
  auto ctx = must(TlsContext::create(clientOptions(p.ca, &p.agent)), "client context");
  auto session = TlsSession::create(ctx, {});
  ASSERT_FALSE(session.ok());
  EXPECT_NE(session.error().message.find("server_name"), std::string::npos);
}

class TlsChunkingTest : public ::testing::TestWithParam<size_t> {};

TEST_P(TlsChunkingTest, DataRoundTripsInBothDirections) {
  const Peers& p = peers();
  const size_t max_chunk = GetParam();
  auto server_ctx = must(TlsContext::create(serverOptions(p.ca, p.server)), "server context");
  auto client_ctx = must(TlsContext::create(clientOptions(p.ca, &p.agent)), "client context");
  Connection c;
  c.server.session = must(TlsSession::create(server_ctx), "server session");
  c.client.session =
      must(TlsSession::create(client_ctx, serverName("127.0.0.1")), "client session");

  std::mt19937 rng(static_cast<unsigned>(max_chunk));
  auto randomBytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& ch : s) ch = static_cast<char>(rng());
    return s;
  };
  const std::string upstream = randomBytes(200000);
  const std::string downstream = randomBytes(150000);

  // Part of each direction is written before the handshake is done, and it
  // all goes in writes of random sizes.
  auto writeSome = [&](TlsSession& s, const std::string& data, size_t& pos, size_t limit) {
    std::uniform_int_distribution<size_t> size(1, 40000);
    while (pos < limit) {
      const size_t n = std::min(size(rng), limit - pos);
      ASSERT_TRUE(s.writePlaintext(std::string_view(data).substr(pos, n)).ok());
      pos += n;
    }
  };
  size_t up = 0;
  size_t down = 0;
  writeSome(*c.client.session, upstream, up, 5000);
  writeSome(*c.server.session, downstream, down, 3000);
  pump(c.client, c.server, rng, max_chunk);
  ASSERT_TRUE(c.client.session->handshakeDone()) << c.client.session->error().message;
  ASSERT_TRUE(c.server.session->handshakeDone()) << c.server.session->error().message;
  writeSome(*c.client.session, upstream, up, upstream.size());
  writeSome(*c.server.session, downstream, down, downstream.size());
  pump(c.client, c.server, rng, max_chunk);

  EXPECT_EQ(c.server.received.size(), upstream.size());
  EXPECT_TRUE(c.server.received == upstream) << "upstream bytes differ";
  EXPECT_EQ(c.client.received.size(), downstream.size());
  EXPECT_TRUE(c.client.received == downstream) << "downstream bytes differ";
}

INSTANTIATE_TEST_SUITE_P(Chunks, TlsChunkingTest, ::testing::Values(1, 7, 1500, 20000, 1u << 20));

TEST(TlsSessionTest, ReadPlaintextHonoursMaxBytes) {
  const Peers& p = peers();
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &p.agent));
  ASSERT_TRUE(c.client.session->writePlaintext(std::string(1000, 'x')).ok());
  ASSERT_TRUE(c.server.session->feedCiphertext(c.client.session->takeCiphertext()).ok());
  std::string out;
  auto first = c.server.session->readPlaintext(out, 300);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 300u);
  auto rest = c.server.session->readPlaintext(out);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 700u);
  EXPECT_EQ(out, std::string(1000, 'x'));
}

TEST(TlsSessionTest, CloseNotifyReachesThePeer) {
  const Peers& p = peers();
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &p.agent));
  ASSERT_TRUE(c.client.session->writePlaintext("last words").ok());
  ASSERT_TRUE(c.client.session->close().ok());
  EXPECT_FALSE(c.client.session->writePlaintext("more").ok());
  std::mt19937 rng(1);
  pump(c.client, c.server, rng);
  EXPECT_EQ(c.server.received, "last words");
  EXPECT_TRUE(c.server.session->peerClosed());
  EXPECT_FALSE(c.server.session->failed());
}

TEST(TlsSessionTest, PlaintextPeerFailsWithAClearReason) {
  const Peers& p = peers();
  auto ctx = must(TlsContext::create(serverOptions(p.ca, p.server)), "server context");
  auto server = must(TlsSession::create(ctx), "server session");
  // An edge frame header, as a plaintext agent would send it.
  const std::string plaintext("ED\x01\x01\x00\x00\x00\x00\x00\x00\x00\x10", 12);
  auto result = server->feedCiphertext(plaintext);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(server->failure(), TlsFailure::kMalformed);
  EXPECT_NE(result.error().message.find("speaking TLS"), std::string::npos)
      << result.error().message;
  // Stays failed.
  EXPECT_FALSE(server->feedCiphertext("more").ok());
  std::string out;
  EXPECT_FALSE(server->readPlaintext(out).ok());
}

TEST(TlsSessionTest, CorruptedRecordAfterHandshakeFails) {
  const Peers& p = peers();
  Connection c = connect(serverOptions(p.ca, p.server), clientOptions(p.ca, &p.agent));
  ASSERT_TRUE(c.client.session->writePlaintext("payload that will be damaged").ok());
  std::string record = c.client.session->takeCiphertext();
  record[record.size() - 3] ^= 0x40;
  ASSERT_TRUE(c.server.session->feedCiphertext(record).ok());
  std::string out;
  auto read = c.server.session->readPlaintext(out);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(c.server.session->failure(), TlsFailure::kMalformed);
  EXPECT_TRUE(out.empty()) << "no damaged plaintext is delivered";
}

TEST(TlsSessionTest, BufferedCiphertextIsBounded) {
  const Peers& p = peers();
  auto server_ctx = must(TlsContext::create(serverOptions(p.ca, p.server)), "server context");
  auto client_ctx = must(TlsContext::create(clientOptions(p.ca, &p.agent)), "client context");
  TlsSessionOptions server_options;
  server_options.max_buffered_ciphertext = 40000;
  Connection c;
  c.server.session = must(TlsSession::create(server_ctx, server_options), "server session");
  c.client.session =
      must(TlsSession::create(client_ctx, serverName("127.0.0.1")), "client session");
  std::mt19937 rng(5);
  pump(c.client, c.server, rng);
  ASSERT_TRUE(c.server.session->handshakeDone());
  // The application stops reading; ciphertext keeps arriving.
  ASSERT_TRUE(c.client.session->writePlaintext(std::string(100000, 'z')).ok());
  const std::string bytes = c.client.session->takeCiphertext();
  ASSERT_TRUE(c.server.session->feedCiphertext(std::string_view(bytes).substr(0, 30000)).ok());
  auto result = c.server.session->feedCiphertext(std::string_view(bytes).substr(30000, 20000));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(c.server.session->failure(), TlsFailure::kBufferLimit);
}

TEST(TlsSessionTest, OptionalClientAuthAllowsNoCertificateButNotABadOne) {
  const Peers& p = peers();
  auto options = serverOptions(p.ca, p.server);
  options.client_auth = ClientAuth::kOptional;

  Connection anonymous = connect(options, clientOptions(p.ca, nullptr));
  ASSERT_TRUE(anonymous.server.session->handshakeDone())
      << anonymous.server.session->error().message;
  EXPECT_FALSE(anonymous.server.session->peerIdentity().has_value());

  Connection agent = connect(options, clientOptions(p.ca, &p.agent));
  ASSERT_TRUE(agent.server.session->handshakeDone()) << agent.server.session->error().message;
  ASSERT_TRUE(agent.server.session->peerIdentity().has_value());

  const CertificateAuthority other = makeCa("other CA");
  const KeyCert intruder = makeAgent(other, "agent-1", "acme");
  Connection bad = connect(options, clientOptions(p.ca, &intruder));
  ASSERT_TRUE(bad.server.session->failed());
  EXPECT_EQ(bad.server.session->failure(), TlsFailure::kUntrustedCertificate)
      << bad.server.session->error().message;
  EXPECT_TRUE(bad.client.session->failed());

  const int64_t t = now();
  const KeyCert expired = makeAgent(p.ca, "agent-old", "acme", Validity{t - 10 * 86400, t - 86400});
  Connection old = connect(options, clientOptions(p.ca, &expired));
  EXPECT_EQ(old.server.session->failure(), TlsFailure::kExpiredCertificate)
      << old.server.session->error().message;
}

TEST(TlsSessionTest, SessionTicketResumptionRechecksRevocation) {
  const Peers& p = peers();
  const KeyCert agent = makeAgent(p.ca, "agent-3", "acme");
  auto revoked = std::make_shared<bool>(false);
  auto options = serverOptions(p.ca, p.server);
  options.session_tickets = true;
  options.revocation = [revoked, serial = agent.info.serial_hex](std::string_view s) {
    return *revoked && s == serial;
  };
  auto server_ctx = must(TlsContext::create(options), "server context");
  auto client_ctx = must(TlsContext::create(clientOptions(p.ca, &agent)), "client context");
  std::mt19937 rng(3);
  auto handshake = [&](std::shared_ptr<const TlsSavedSession> resume) {
    Connection c;
    c.server.session = must(TlsSession::create(server_ctx), "server session");
    TlsSessionOptions client_options;
    client_options.server_name = "127.0.0.1";
    client_options.resume = std::move(resume);
    c.client.session = must(TlsSession::create(client_ctx, client_options), "client session");
    pump(c.client, c.server, rng);
    return c;
  };

  Connection full = handshake(nullptr);
  ASSERT_TRUE(full.client.session->handshakeDone()) << full.client.session->error().message;
  EXPECT_FALSE(full.server.session->resumed());
  auto saved = must(full.client.session->saveSession(), "save session");

  Connection resumed = handshake(saved);
  ASSERT_TRUE(resumed.server.session->handshakeDone()) << resumed.server.session->error().message;
  EXPECT_TRUE(resumed.server.session->resumed());
  EXPECT_TRUE(resumed.client.session->resumed());
  ASSERT_TRUE(resumed.server.session->peerIdentity().has_value());
  EXPECT_EQ(resumed.server.session->peerIdentity()->common_name, "agent-3");

  *revoked = true;
  Connection refused = handshake(saved);
  EXPECT_TRUE(refused.server.session->failed());
  EXPECT_EQ(refused.server.session->failure(), TlsFailure::kRevokedCertificate)
      << refused.server.session->error().message;
  EXPECT_TRUE(refused.client.session->failed()) << "the client is told, not left hanging";
}

TEST(TlsContextTest, RefusesInconsistentConfiguration) {
  const Peers& p = peers();
  auto no_ca = serverOptions(p.ca, p.server);
  no_ca.ca_cert_pem.clear();
  EXPECT_FALSE(TlsContext::create(no_ca).ok());

  auto no_cert = serverOptions(p.ca, p.server);
  no_cert.cert_pem.clear();
  no_cert.key_pem.clear();
  auto r = TlsContext::create(no_cert);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("edgectl cert issue"), std::string::npos) << r.error().message;

  auto mismatched = serverOptions(p.ca, p.server);
  mismatched.key_pem = p.agent.key_pem;
  r = TlsContext::create(mismatched);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not belong"), std::string::npos) << r.error().message;

  auto garbage = serverOptions(p.ca, p.server);
  garbage.ca_cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_FALSE(TlsContext::create(garbage).ok());

  auto ok = TlsContext::create(serverOptions(p.ca, p.server));
  ASSERT_TRUE(ok.ok());
  ASSERT_TRUE((*ok)->ownCertificate().has_value());
  EXPECT_EQ((*ok)->ownCertificate()->common_name, "gw-1");
}

TEST(TlsFailureTest, NamesAreStableLabels) {
  EXPECT_STREQ(tlsFailureName(TlsFailure::kRevokedCertificate), "revoked_certificate");
  EXPECT_STREQ(tlsFailureName(TlsFailure::kNoPeerCertificate), "no_peer_certificate");
  EXPECT_STREQ(tlsFailureName(TlsFailure::kNone), "none");
}

}  // namespace
}  // namespace edge::protocol
