// Tests of the agent's TLS settings and identity: output.tls / enrollment
// validation (TLS by default, plaintext only explicitly and on loopback),
// and AgentCredentials with certificates made by the real PKI helpers —
// what it refuses to load, the key it generates (0600, reused), what it
// checks before storing a certificate, the token marker, and renewal times.
#include "edge/agent/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "../security/test_pki.h"
#include "edge/agent/agent_config.h"
#include "edge/protocol/tls.h"
#include "test_support.h"

namespace edge::agent {
namespace {

using protocol::CertificateAuthority;
using protocol::Validity;
using protocol::testing::makeAgent;
using protocol::testing::makeCa;
using protocol::testing::must;
using protocol::testing::now;
using testing::TempDir;
using testing::writeFile;

Result<AgentConfig> parse(const std::string& yaml) { return parseAgentConfig(yaml, "agent.yaml"); }

std::string errorOf(const Result<AgentConfig>& config) {
  return config.ok() ? std::string("(no error)") : config.error().message;
}

unsigned fileMode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

// ---- configuration -------------------------------------------------------------

TEST(TlsConfigTest, AConfigFileWithoutTlsGetsTls) {
  auto config = parse("agent: {data_dir: /srv/agent}\n");
  ASSERT_TRUE(config.ok()) << errorOf(config);
  EXPECT_TRUE(config->output.tls.enabled);
  EXPECT_EQ(config->tlsStateDir(), "/srv/agent/tls");
  EXPECT_EQ(config->tlsCaPath(), "/srv/agent/tls/ca.crt");
  EXPECT_EQ(config->tlsCertPath(), "/srv/agent/tls/agent.crt");
  EXPECT_EQ(config->tlsKeyPath(), "/srv/agent/tls/agent.key");
  EXPECT_DOUBLE_EQ(config->output.tls.renew_fraction, 1.0 / 3.0);
  EXPECT_EQ(config->output.tls.handshake_timeout, std::chrono::seconds(10));
}

TEST(TlsConfigTest, TheEmbeddedDefaultIsPlaintextOnLoopback) {
  auto config = parseAgentConfig(defaultAgentConfigYaml(), std::string(kEmbeddedConfigName));
  ASSERT_TRUE(config.ok()) << errorOf(config);
  EXPECT_FALSE(config->output.tls.enabled);
  EXPECT_TRUE(config->output.tls.allow_plaintext);
}

TEST(TlsConfigTest, PlaintextNeedsAllowPlaintext) {
  auto config = parse("output: {tls: {enabled: false}}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(errorOf(config).find("output.tls.enabled"), std::string::npos) << errorOf(config);
  EXPECT_NE(errorOf(config).find("allow_plaintext: true"), std::string::npos) << errorOf(config);
}

TEST(TlsConfigTest, PlaintextIsOnlyAllowedToLoopbackGateways) {
  for (const char* gateway : {"127.0.0.1:7400", "127.1.2.3:1", "localhost:7400", "[::1]:7400"}) {
    auto config = parse(std::string("output: {gateways: [\"") + gateway +
                        "\"], tls: {enabled: false, allow_plaintext: true}}\n");
    EXPECT_TRUE(config.ok()) << gateway << ": " << errorOf(config);
  }
  auto config = parse(
      "output:\n  gateways: [\"127.0.0.1:7400\", \"gw.example.com:7400\"]\n"
      "  tls: {enabled: false, allow_plaintext: true}\n");
  ASSERT_FALSE(config.ok());
  const std::string message = errorOf(config);
  EXPECT_NE(message.find("agent.yaml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("output.tls.allow_plaintext"), std::string::npos) << message;
  EXPECT_NE(message.find("gw.example.com:7400"), std::string::npos) << message;
}

TEST(TlsConfigTest, ReadsEveryKey) {
  auto config = parse(R"(
agent: {data_dir: /d}
output:
  gateways: ["gw1:7400"]
  tls: {ca: /etc/edge/ca.crt, cert: /etc/edge/a.crt, key: /etc/edge/a.key, state_dir: /var/edge/tls,
        server_name: gw.example.com, handshake_timeout: 3s, renew_before: 30d}
  enrollment: {token_file: /etc/edge/token, tenant_hint: acme, retry_min: 1s, retry_max: 10s}
)");
  ASSERT_TRUE(config.ok()) << errorOf(config);
  EXPECT_EQ(config->tlsCaPath(), "/etc/edge/ca.crt");
  EXPECT_EQ(config->tlsCertPath(), "/etc/edge/a.crt");
  EXPECT_EQ(config->tlsKeyPath(), "/etc/edge/a.key");
  EXPECT_EQ(config->tlsStateDir(), "/var/edge/tls");
  EXPECT_EQ(config->output.tls.server_name, "gw.example.com");
  EXPECT_EQ(config->output.tls.handshake_timeout, std::chrono::seconds(3));
  EXPECT_EQ(config->output.tls.renew_before, std::chrono::hours(24 * 30));
  EXPECT_EQ(config->output.enrollment.token_file, "/etc/edge/token");
  EXPECT_EQ(config->output.enrollment.tenant_hint, "acme");
  EXPECT_EQ(config->output.enrollment.retry_min, std::chrono::seconds(1));
  EXPECT_EQ(config->output.enrollment.retry_max, std::chrono::seconds(10));
}

TEST(TlsConfigTest, RenewBeforeTakesAShareOrADuration) {
  auto share = parse("output: {tls: {renew_before: 25%}}\n");
  ASSERT_TRUE(share.ok()) << errorOf(share);
  EXPECT_DOUBLE_EQ(share->output.tls.renew_fraction, 0.25);
  EXPECT_EQ(share->output.tls.renew_before.count(), 0);
  auto hours = parse("output: {tls: {renew_before: 12h}}\n");
  ASSERT_TRUE(hours.ok()) << errorOf(hours);
  EXPECT_EQ(hours->output.tls.renew_before, std::chrono::hours(12));
  for (const char* bad : {"0%", "95%", "abc%", "%", "0d", "x", "10s"}) {
    auto config = parse(std::string("output: {tls: {renew_before: \"") + bad + "\"}}\n");
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_NE(errorOf(config).find("output.tls.renew_before"), std::string::npos)
        << errorOf(config);
  }
}

TEST(TlsConfigTest, EnrollmentMistakesAreNamedWithoutEchoingTheToken) {
  auto both = parse("output: {enrollment: {token: edge1.a.b, token_file: /t}}\n");
  ASSERT_FALSE(both.ok());
  EXPECT_NE(errorOf(both).find("not both"), std::string::npos) << errorOf(both);

  auto garbage = parse("output: {enrollment: {token: s3cr3t-but-not-a-token}}\n");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(errorOf(garbage).find("edgectl token create"), std::string::npos) << errorOf(garbage);
  EXPECT_EQ(errorOf(garbage).find("s3cr3t"), std::string::npos) << errorOf(garbage);

  auto plaintext = parse(
      "output: {tls: {enabled: false, allow_plaintext: true}, enrollment: {token: edge1.a.b}}\n");
  ASSERT_FALSE(plaintext.ok());
  EXPECT_NE(errorOf(plaintext).find("needs output.tls.enabled: true"), std::string::npos)
      << errorOf(plaintext);

  auto half = parse("output: {tls: {cert: /a.crt}}\n");
  ASSERT_FALSE(half.ok());
  EXPECT_NE(errorOf(half).find("set both output.tls.cert and output.tls.key"), std::string::npos)
      << errorOf(half);
}

// ---- credentials ------------------------------------------------------------------

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = makeCa("agent test CA");
    writeFile(dir_.file("ca.crt"), ca_.cert_pem, false);
  }

  CredentialsOptions options() const {
    CredentialsOptions o;
    o.ca_path = dir_.file("ca.crt");
    o.state_dir = dir_.file("tls");
    o.cert_path = o.state_dir + "/agent.crt";
    o.key_path = o.state_dir + "/agent.key";
    return o;
  }

  std::unique_ptr<AgentCredentials> load(CredentialsOptions o, int64_t at = 0) {
    auto loaded = AgentCredentials::load(std::move(o), at);
    EXPECT_TRUE(loaded.ok()) << loaded.error().message;
    return loaded.ok() ? std::move(*loaded) : nullptr;
  }

  std::string loadError(CredentialsOptions o) {
    auto loaded = AgentCredentials::load(std::move(o));
    EXPECT_FALSE(loaded.ok());
    return loaded.ok() ? std::string() : loaded.error().message;
  }

  // What a gateway does with the CSR.
  std::string sign(const std::string& csr, const std::string& agent_id,
                   Validity validity = Validity::days(90, now())) {
    protocol::ClientCertOptions o;
    o.agent_id = agent_id;
    o.tenant = "acme";
    o.validity = validity;
    return must(protocol::signAgentCsr(ca_, csr, o), "sign").cert_pem;
  }

  void installPair(const protocol::testing::KeyCert& pair) {
    std::filesystem::create_directories(dir_.file("tls"));
    writeFile(dir_.file("tls/agent.key"), pair.key_pem, false);
    std::filesystem::permissions(
        dir_.file("tls/agent.key"),
        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    writeFile(dir_.file("tls/agent.crt"), pair.cert_pem, false);
  }

  TempDir dir_;
  CertificateAuthority ca_;
};

TEST_F(CredentialsTest, RefusesToStartWithoutTheCa) {
  CredentialsOptions o = options();
  o.ca_path = dir_.file("missing-ca.crt");
  o.token = "edge1.x.y";
  const std::string message = loadError(o);
  EXPECT_NE(message.find("missing-ca.crt"), std::string::npos) << message;
  EXPECT_NE(message.find("edgectl ca init"), std::string::npos) << message;
}

TEST_F(CredentialsTest, RefusesToStartWithNeitherCertificateNorToken) {
  const std::string message = loadError(options());
  EXPECT_NE(message.find("no agent certificate"), std::string::npos) << message;
  EXPECT_NE(message.find("output.enrollment.token"), std::string::npos) << message;
}

TEST_F(CredentialsTest, WithATokenAndNoCertificateItIsReadyToEnroll) {
  CredentialsOptions o = options();
  o.token = "  edge1.token.sig\n";
  auto creds = load(o);
  ASSERT_NE(creds, nullptr);
  EXPECT_FALSE(creds->usable(0));
  EXPECT_EQ(creds->sessionContext(), nullptr);
  ASSERT_NE(creds->enrollmentContext(), nullptr);
  EXPECT_FALSE(creds->enrollmentContext()->ownCertificate().has_value());
  EXPECT_EQ(*creds->readToken(), "edge1.token.sig");
  EXPECT_EQ(creds->renewAt(), 0);
}

TEST_F(CredentialsTest, GeneratesItsKeyOnceWithMode0600AndTheCsrProvesIt) {
  CredentialsOptions o = options();
  o.token = "edge1.token.sig";
  o.tenant_hint = "acme";
  auto creds = load(o);
  ASSERT_NE(creds, nullptr);
  EXPECT_FALSE(std::filesystem::exists(o.key_path));
  auto csr = creds->createCsr("agent-7");
  ASSERT_TRUE(csr.ok()) << csr.error().message;
  EXPECT_TRUE(protocol::checkCsr(*csr).ok());
  EXPECT_EQ(fileMode(o.key_path), 0600u);
  EXPECT_EQ(fileMode(o.state_dir), 0700u);
  const std::string key = must(protocol::readTextFile(o.key_path), "key");

  // A restart (e.g. after a refused enrollment) keeps the key.
  auto again = load(o);
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(again->createCsr("agent-7").ok());
  EXPECT_EQ(must(protocol::readTextFile(o.key_path), "key"), key);

  auto bad_id = creds->createCsr("bad id with spaces");
  ASSERT_FALSE(bad_id.ok());
  EXPECT_NE(bad_id.error().message.find("agent.id"), std::string::npos) << bad_id.error().message;
}

TEST_F(CredentialsTest, InstallsAnEnrolledCertificateAndRemembersTheToken) {
  CredentialsOptions o = options();
  o.token = "edge1.token.sig";
  auto creds = load(o);
  ASSERT_NE(creds, nullptr);
  std::string cert = sign(must(creds->createCsr("agent-7"), "csr"), "agent-7");
  auto installed = creds->install(cert, ca_.cert_pem, "agent-7", "edge1.token.sig");
  ASSERT_TRUE(installed.ok()) << installed.error().message;
  EXPECT_EQ(installed->common_name, "agent-7");
  EXPECT_TRUE(creds->usable(0));
  ASSERT_NE(creds->sessionContext(), nullptr);
  EXPECT_EQ(creds->sessionContext()->ownCertificate()->serial_hex, installed->serial_hex);
  EXPECT_EQ(fileMode(o.cert_path), 0644u);
  EXPECT_EQ(fileMode(o.state_dir + "/enrolled-token.sha256"), 0600u);
  EXPECT_TRUE(creds->enrolledWith("edge1.token.sig"));
  EXPECT_FALSE(creds->enrolledWith("edge1.other.sig"));

  // After a restart the agent uses the stored certificate.
  auto restarted = load(o);
  ASSERT_NE(restarted, nullptr);
  EXPECT_TRUE(restarted->usable(0));
  EXPECT_EQ(restarted->certificate()->serial_hex, installed->serial_hex);
  EXPECT_TRUE(restarted->enrolledWith("edge1.token.sig"));
  // The marker holds a hash, never the token.
  EXPECT_EQ(
      must(protocol::readTextFile(o.state_dir + "/enrolled-token.sha256"), "marker").find("edge1"),
      std::string::npos);
}

TEST_F(CredentialsTest, RefusesCertificatesThatAreNotForIt) {
  CredentialsOptions o = options();
  o.token = "edge1.token.sig";
  auto creds = load(o);
  ASSERT_NE(creds, nullptr);
  std::string csr = must(creds->createCsr("agent-7"), "csr");

  auto other_agent = creds->install(sign(csr, "agent-8"), "", "agent-7", "t");
  ASSERT_FALSE(other_agent.ok());
  EXPECT_NE(other_agent.error().message.find("agent-8"), std::string::npos);

  CertificateAuthority rogue = makeCa("rogue CA");
  protocol::ClientCertOptions co;
  co.agent_id = "agent-7";
  co.tenant = "acme";
  co.validity = Validity::days(30, now());
  auto foreign = creds->install(must(protocol::signAgentCsr(rogue, csr, co), "rogue").cert_pem,
                                rogue.cert_pem, "agent-7", "t");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("rogue CA"), std::string::npos) << foreign.error().message;

  auto other_key = creds->install(makeAgent(ca_, "agent-7", "acme").cert_pem, "", "agent-7", "t");
  ASSERT_FALSE(other_key.ok());
  EXPECT_NE(other_key.error().message.find("key"), std::string::npos) << other_key.error().message;

  EXPECT_FALSE(std::filesystem::exists(o.cert_path)) << "nothing may be stored";
  EXPECT_FALSE(creds->usable(0));
}

TEST_F(CredentialsTest, LoadsAProvisionedPairAndRefusesBrokenOnes) {
  installPair(makeAgent(ca_, "web-01", "acme"));
  auto creds = load(options());
  ASSERT_NE(creds, nullptr);
  EXPECT_TRUE(creds->usable(0));
  EXPECT_EQ(creds->certificate()->common_name, "web-01");

  // Certificate and key of different pairs.
  auto a = makeAgent(ca_, "web-01", "acme");
  auto b = makeAgent(ca_, "web-01", "acme");
  writeFile(dir_.file("tls/agent.key"), a.key_pem, false);
  writeFile(dir_.file("tls/agent.crt"), b.cert_pem, false);
  EXPECT_NE(loadError(options()).find("does not belong"), std::string::npos);

  // Another CA's certificate.
  installPair(makeAgent(makeCa("other CA"), "web-01", "acme"));
  EXPECT_NE(loadError(options()).find("does not chain to the CA"), std::string::npos);

  // A certificate without its key.
  std::filesystem::remove(dir_.file("tls/agent.key"));
  EXPECT_NE(loadError(options()).find("its private key"), std::string::npos);
}

TEST_F(CredentialsTest, AnExpiredCertificateNeedsANewToken) {
  const int64_t t = now();
  installPair(makeAgent(ca_, "web-01", "acme", Validity{t - 86400 * 10, t - 86400}));
  const std::string message = loadError(options());
  EXPECT_NE(message.find("has expired"), std::string::npos) << message;

  CredentialsOptions o = options();
  o.token = "edge1.new.token";
  auto creds = load(o);
  ASSERT_NE(creds, nullptr);
  EXPECT_FALSE(creds->usable(0));
  ASSERT_TRUE(creds->certificate().has_value());
}

TEST_F(CredentialsTest, RenewsAfterTwoThirdsOfTheLifetimeOrRenewBefore) {
  const int64_t t = now();
  installPair(makeAgent(ca_, "web-01", "acme", Validity{t - 3000, t + 6000}));
  auto by_share = load(options());
  ASSERT_NE(by_share, nullptr);
  EXPECT_EQ(by_share->renewAt(), t + 3000);  // a third (3000 s) of 9000 s left

  CredentialsOptions o = options();
  o.renew_before_s = 1000;
  auto by_time = load(o);
  ASSERT_NE(by_time, nullptr);
  EXPECT_EQ(by_time->renewAt(), t + 5000);

  o.renew_before_s = 100000;  // longer than the lifetime: as soon as possible
  auto asap = load(o);
  ASSERT_NE(asap, nullptr);
  EXPECT_EQ(asap->renewAt(), t - 3000);
}

TEST_F(CredentialsTest, ARefusedCertificateIsNotUsable) {
  installPair(makeAgent(ca_, "web-01", "acme"));
  auto creds = load(options());
  ASSERT_NE(creds, nullptr);
  creds->markRefused();
  EXPECT_FALSE(creds->usable(0));
}

TEST_F(CredentialsTest, TheTokenFileIsReadAgainEveryTime) {
  CredentialsOptions o = options();
  o.token_file = dir_.file("token");
  writeFile(o.token_file, "edge1.first.sig\n", false);
  auto creds = load(o);
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(*creds->readToken(), "edge1.first.sig");
  writeFile(o.token_file, "edge1.second.sig\n", false);
  EXPECT_EQ(*creds->readToken(), "edge1.second.sig");
  std::filesystem::remove(o.token_file);
  auto gone = creds->readToken();
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(gone.error().message.find("output.enrollment.token_file"), std::string::npos);
}

}  // namespace
}  // namespace edge::agent
