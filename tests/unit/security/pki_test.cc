// Tests for the PKI helpers: keys, CA, server and agent certificates, CSR
// handling (the signer's subject wins), CRL writing and verification, the
// serial registry, serial normalization and secure file writing.
#include "edge/protocol/pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

#include "edge/protocol/tls.h"
#include "test_pki.h"

namespace edge::protocol {
namespace {

using testing::KeyCert;
using testing::makeAgent;
using testing::makeCa;
using testing::makeServer;
using testing::must;
using testing::now;
using testing::TempDir;

const CertificateAuthority& testCa() {
  static const CertificateAuthority ca = makeCa("pki test CA");
  return ca;
}

unsigned fileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// Flips one base64 character inside a PEM body, `from_end` characters
// before the END line.
std::string damagePem(std::string pem, size_t from_end) {
  const size_t end = pem.find("-----END");
  size_t pos = end - from_end;
  while (pem[pos] == '\n' || pem[pos] == '=') --pos;
  pem[pos] = pem[pos] == 'A' ? 'B' : 'A';
  return pem;
}

TEST(PkiKeyTest, GeneratesDistinctP256Keys) {
  const std::string a = must(generatePrivateKeyPem(), "key a");
  const std::string b = must(generatePrivateKeyPem(), "key b");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("-----BEGIN EC PRIVATE KEY-----", 0), 0u) << a;
  const std::string pub = must(publicKeyPem(a), "public key");
  EXPECT_EQ(pub.rfind("-----BEGIN PUBLIC KEY-----", 0), 0u) << pub;
  EXPECT_EQ(pub.find("PRIVATE"), std::string::npos);
  EXPECT_FALSE(publicKeyPem("not a key").ok());
}

TEST(PkiCaTest, SelfSignedCaIsACa) {
  const auto info = must(inspectCertificate(testCa().cert_pem), "inspect CA");
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.common_name, "pki test CA");
  EXPECT_EQ(info.organizational_unit, "edge-ca");
  EXPECT_EQ(info.subject, info.issuer);
  EXPECT_GT(info.not_after - info.not_before, 3000LL * 86400);
  EXPECT_TRUE(verifyCertificate(testCa().cert_pem, testCa().cert_pem).ok());
  // Names that would need DN escaping are refused, not mangled.
  CaOptions bad;
  bad.name = "Acme, Inc";
  EXPECT_FALSE(createCaCertificate(testCa().key_pem, bad).ok());
}

TEST(PkiServerCertTest, CarriesDnsAndIpSans) {
  const KeyCert server =
      makeServer(testCa(), {"gw.example.com", "*.gw.example.com"}, {"10.0.0.5", "::1"});
  EXPECT_EQ(server.info.common_name, "gw-1");
  EXPECT_EQ(server.info.organizational_unit, "edge-gateway");
  EXPECT_EQ(server.info.dns_names,
            (std::vector<std::string>{"gw.example.com", "*.gw.example.com"}));
  EXPECT_EQ(server.info.ip_addresses, (std::vector<std::string>{"10.0.0.5", "::1"}));
  EXPECT_FALSE(server.info.is_ca);
  EXPECT_EQ(server.info.serial_hex.size(), 32u) << "16-byte random serials";
  EXPECT_TRUE(verifyCertificate(server.cert_pem, testCa().cert_pem).ok());
}

TEST(PkiServerCertTest, RefusesMissingOrInvalidSans) {
  const std::string key = must(generatePrivateKeyPem(), "key");
  ServerCertOptions options;
  options.common_name = "gw";
  options.validity = Validity::days(1, now());
  auto none = issueServerCertificate(testCa(), key, options);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("SAN"), std::string::npos);

  options.ip_addresses = {"300.1.2.3"};
  EXPECT_FALSE(issueServerCertificate(testCa(), key, options).ok());
  options.ip_addresses.clear();
  options.dns_names = {"bad_name!.example"};
  EXPECT_FALSE(issueServerCertificate(testCa(), key, options).ok());
}

TEST(PkiServerCertTest, WrongCaKeyIsRefused) {
  CertificateAuthority mixed = testCa();
  mixed.key_pem = must(generatePrivateKeyPem(), "other key");
  const std::string key = must(generatePrivateKeyPem(), "key");
  ServerCertOptions options;
  options.common_name = "gw";
  options.dns_names = {"gw"};
  options.validity = Validity::days(1, now());
  auto r = issueServerCertificate(mixed, key, options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not belong"), std::string::npos) << r.error().message;
}

TEST(PkiCsrTest, SignerChoosesTheSubjectNotTheCsr) {
  const std::string key = must(generatePrivateKeyPem(), "agent key");
  // The agent asks for another identity and tenant; the signer decides.
  const std::string csr = must(createCsr(key, "admin", "other-tenant"), "CSR");
  ClientCertOptions options;
  options.agent_id = "agent-7";
  options.tenant = "acme";
  options.validity = Validity::days(30, now());
  const auto issued = must(signAgentCsr(testCa(), csr, options), "sign");
  EXPECT_EQ(issued.info.common_name, "agent-7");
  EXPECT_EQ(issued.info.organization, "acme");
  EXPECT_EQ(issued.info.organizational_unit, "edge-agent");
  EXPECT_EQ(issued.info.subject.find("admin"), std::string::npos) << issued.info.subject;
  EXPECT_EQ(issued.info.subject.find("other-tenant"), std::string::npos) << issued.info.subject;
  const auto identity = must(agentIdentityOf(issued.info), "identity");
  EXPECT_EQ(identity.agent_id, "agent-7");
  EXPECT_EQ(identity.tenant, "acme");
  EXPECT_TRUE(verifyCertificate(issued.cert_pem, testCa().cert_pem).ok());
  // The certificate carries the CSR's key: a TLS context accepts the pair.
  TlsContextOptions tls;
  tls.role = TlsRole::kClient;
  tls.ca_cert_pem = testCa().cert_pem;
  tls.cert_pem = issued.cert_pem;
  tls.key_pem = key;
  EXPECT_TRUE(TlsContext::create(tls).ok());
  tls.key_pem = must(generatePrivateKeyPem(), "another key");
  EXPECT_FALSE(TlsContext::create(tls).ok());
}

TEST(PkiCsrTest, DamagedCsrIsRefused) {
  const std::string key = must(generatePrivateKeyPem(), "agent key");
  const std::string csr = must(createCsr(key, "agent-1", ""), "CSR");
  ClientCertOptions options;
  options.agent_id = "agent-1";
  options.tenant = "acme";
  options.validity = Validity::days(30, now());
  ASSERT_TRUE(signAgentCsr(testCa(), csr, options).ok());
  EXPECT_TRUE(checkCsr(csr).ok());
  // Damage inside the signature: parses, but no longer proves possession.
  auto damaged = signAgentCsr(testCa(), damagePem(csr, 12), options);
  EXPECT_FALSE(damaged.ok());
  EXPECT_FALSE(checkCsr(damagePem(csr, 12)).ok());
  EXPECT_FALSE(signAgentCsr(testCa(), "garbage", options).ok());
  EXPECT_FALSE(signAgentCsr(testCa(), "", options).ok());
}

TEST(PkiCsrTest, SignerValidatesIdentity) {
  const std::string key = must(generatePrivateKeyPem(), "agent key");
  const std::string csr = must(createCsr(key, "agent-1", "acme"), "CSR");
  ClientCertOptions options;
  options.validity = Validity::days(30, now());
  options.agent_id = "agent 1";
  options.tenant = "acme";
  EXPECT_FALSE(signAgentCsr(testCa(), csr, options).ok());
  options.agent_id = "agent-1";
  options.tenant = "acme,O=root";
  EXPECT_FALSE(signAgentCsr(testCa(), csr, options).ok());
  options.tenant = "";
  EXPECT_FALSE(signAgentCsr(testCa(), csr, options).ok());
}

TEST(PkiIdentityTest, ValidatesAgentIdsAndTenants) {
  EXPECT_TRUE(validateAgentId("0af3c9d2e1b04a5f").ok());
  EXPECT_TRUE(validateAgentId("web-01.prod_eu").ok());
  EXPECT_FALSE(validateAgentId("").ok());
  EXPECT_FALSE(validateAgentId("-leading").ok());
  EXPECT_FALSE(validateAgentId("has space").ok());
  EXPECT_FALSE(validateAgentId(std::string(65, 'a')).ok());
  EXPECT_TRUE(validateTenant("acme").ok());
  EXPECT_FALSE(validateTenant("acme/eu").ok());
}

TEST(PkiVerifyTest, ExpiredCertificateFailsVerification) {
  const int64_t t = now();
  const KeyCert old =
      makeAgent(testCa(), "agent-1", "acme", Validity{t - 20 * 86400, t - 10 * 86400});
  auto r = verifyCertificate(old.cert_pem, testCa().cert_pem);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_NE(r.error().message.find("expired"), std::string::npos);
  // Time is injectable.
  EXPECT_TRUE(verifyCertificate(old.cert_pem, testCa().cert_pem, t - 15 * 86400).ok());
  const CertificateAuthority other = makeCa("other");
  EXPECT_FALSE(verifyCertificate(old.cert_pem, other.cert_pem, t - 15 * 86400).ok());
}

TEST(PkiSerialTest, NormalizesTheWaysPeopleWriteSerials) {
  EXPECT_EQ(must(normalizeSerialHex("0A:1B"), "colons"), "0a1b");
  EXPECT_EQ(must(normalizeSerialHex("A1B"), "odd"), "0a1b");
  EXPECT_EQ(must(normalizeSerialHex(" 0x000a1b\n"), "prefix"), "0a1b");
  EXPECT_EQ(must(normalizeSerialHex("ff"), "high bit"), "ff");
  EXPECT_EQ(must(normalizeSerialHex("0"), "zero"), "00");
  EXPECT_FALSE(normalizeSerialHex("xyz").ok());
  EXPECT_FALSE(normalizeSerialHex("").ok());
}

TEST(PkiCrlTest, WrittenCrlVerifiesAndListsSerials) {
  const CertificateAuthority& ca = testCa();
  const int64_t t = now();
  CrlOptions options;
  options.this_update = t;
  options.next_update = t + 7 * 86400;
  options.crl_number = 7;
  // One serial with the high bit set (needs a leading zero in DER), one short.
  const std::vector<RevokedSerial> revoked = {{"ff0102", t - 60}, {"0a", t}};
  const std::string crl = must(writeCrlPem(ca, revoked, options), "write CRL");
  EXPECT_EQ(crl.rfind("-----BEGIN X509 CRL-----", 0), 0u);
  const auto list = must(RevocationList::fromCrl(crl, ca.cert_pem), "read CRL");
  EXPECT_EQ(list.size(), 2u);
  EXPECT_TRUE(list.isRevoked("ff0102"));
  EXPECT_TRUE(list.isRevoked("0a"));
  EXPECT_FALSE(list.isRevoked("0b"));
  EXPECT_EQ(list.crlNumber(), 7u);
  EXPECT_EQ(list.thisUpdate(), t);
  EXPECT_EQ(list.nextUpdate(), t + 7 * 86400);
  EXPECT_FALSE(list.isStale(t + 86400));
  EXPECT_TRUE(list.isStale(t + 8 * 86400));
}

TEST(PkiCrlTest, EmptyCrlAndFarFutureDatesWork) {
  CrlOptions options;
  options.this_update = now();
  options.next_update = 2556144000;  // 2051: GeneralizedTime
  const std::string crl = must(writeCrlPem(testCa(), {}, options), "write CRL");
  const auto list = must(RevocationList::fromCrl(crl, testCa().cert_pem), "read CRL");
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.nextUpdate(), 2556144000);
}

TEST(PkiCrlTest, CrlFromAnotherCaOrTamperedIsRefused) {
  const CertificateAuthority other = makeCa("other CA");
  const std::string foreign = must(writeCrlPem(other, {{"01", now()}}, {}), "foreign CRL");
  auto r = RevocationList::fromCrl(foreign, testCa().cert_pem);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not by this CA"), std::string::npos) << r.error().message;

  // Same issuer name, different key: only the signature tells them apart.
  CertificateAuthority impostor;
  impostor.key_pem = must(generatePrivateKeyPem(), "impostor key");
  CaOptions same_name;
  same_name.name = "pki test CA";
  impostor.cert_pem =
      must(createCaCertificate(impostor.key_pem, same_name), "impostor CA").cert_pem;
  const std::string forged = must(writeCrlPem(impostor, {}, {}), "forged CRL");
  r = RevocationList::fromCrl(forged, testCa().cert_pem);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << r.error().message;

  const std::string good = must(writeCrlPem(testCa(), {{"01", now()}}, {}), "CRL");
  EXPECT_FALSE(RevocationList::fromCrl(damagePem(good, 90), testCa().cert_pem).ok());
  EXPECT_FALSE(RevocationList::fromCrl("junk", testCa().cert_pem).ok());
}

TEST(PkiRegistryTest, RecordsIssuesAndRevocations) {
  TempDir dir;
  const std::string path = dir.file("serials.db");
  EXPECT_FALSE(CertificateRegistry::open(path, false).ok()) << "no silent creation";
  auto registry = must(CertificateRegistry::open(path, true), "open");
  EXPECT_EQ(fileMode(path), 0600u);

  const KeyCert agent = makeAgent(testCa(), "agent-1", "acme");
  ASSERT_TRUE(registry->recordIssued(agent.info, "agent", now()).ok());
  auto duplicate = registry->recordIssued(agent.info, "agent", now());
  EXPECT_FALSE(duplicate.ok());

  auto entry = must(registry->find(agent.info.serial_hex), "find");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->kind, "agent");
  EXPECT_FALSE(entry->revoked_at.has_value());

  EXPECT_TRUE(must(registry->revoke(agent.info.serial_hex, "key compromise", 1000), "revoke"));
  EXPECT_FALSE(must(registry->revoke(agent.info.serial_hex, "again", 2000), "revoke twice"));
  // A serial the CA never saw (signed by a gateway during enrollment).
  EXPECT_TRUE(must(registry->revoke("AB:CD", "lost laptop", 3000), "revoke unknown"));
  auto unknown = must(registry->find("abcd"), "find unknown");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->kind, "unknown");

  const auto revoked = must(registry->revoked(), "revoked");
  ASSERT_EQ(revoked.size(), 2u);
  EXPECT_EQ(must(registry->find(agent.info.serial_hex), "find")->revoked_at, 1000);
  EXPECT_EQ(must(registry->nextCrlNumber(), "crl 1"), 1u);
  EXPECT_EQ(must(registry->nextCrlNumber(), "crl 2"), 2u);

  registry.reset();
  auto reopened = must(CertificateRegistry::open(path, false), "reopen");
  EXPECT_EQ(must(reopened->revoked(), "revoked").size(), 2u);
  EXPECT_EQ(must(reopened->nextCrlNumber(), "crl 3"), 3u);
}

TEST(PkiFileTest, WritesKeysWithMode0600AndNeverOverwritesSilently) {
  TempDir dir;
  const std::string path = dir.file("agent.key");
  const mode_t old_umask = ::umask(0);  // even a permissive umask must not widen the mode
  auto first = writeFileSecurely(path, "secret-1", 0600, false);
  ::umask(old_umask);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(fileMode(path), 0600u);
  EXPECT_EQ(must(readTextFile(path), "read"), "secret-1");

  auto again = writeFileSecurely(path, "secret-2", 0600, false);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);
  EXPECT_EQ(must(readTextFile(path), "read"), "secret-1");

  ASSERT_TRUE(writeFileSecurely(path, "secret-3", 0600, true).ok());
  EXPECT_EQ(must(readTextFile(path), "read"), "secret-3");
  EXPECT_EQ(fileMode(path), 0600u);

  const std::string cert = dir.file("ca.crt");
  ASSERT_TRUE(writeFileSecurely(cert, "public", 0644, false).ok());
  EXPECT_EQ(fileMode(cert), 0644u);
  EXPECT_EQ(readTextFile(dir.file("missing")).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace edge::protocol
