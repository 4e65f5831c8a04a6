// Test fixtures for the security tests (see test_pki.h).
#include "test_pki.h"

#include <stdlib.h>

#include <filesystem>
#include <utility>

namespace edge::protocol::testing {

CertificateAuthority makeCa(const std::string& name) {
  CertificateAuthority ca;
  ca.key_pem = must(generatePrivateKeyPem(), "CA key");
  CaOptions options;
  options.name = name;
  ca.cert_pem = must(createCaCertificate(ca.key_pem, options), "CA certificate").cert_pem;
  return ca;
}

KeyCert makeServer(const CertificateAuthority& ca, std::vector<std::string> dns,
                   std::vector<std::string> ips) {
  KeyCert out;
  out.key_pem = must(generatePrivateKeyPem(), "server key");
  ServerCertOptions options;
  options.common_name = "gw-1";
  options.dns_names = std::move(dns);
  options.ip_addresses = std::move(ips);
  options.validity = Validity::days(30, now());
  auto issued = must(issueServerCertificate(ca, out.key_pem, options), "server certificate");
  out.cert_pem = issued.cert_pem;
  out.info = issued.info;
  return out;
}

KeyCert makeAgent(const CertificateAuthority& ca, const std::string& agent_id,
                  const std::string& tenant, Validity validity) {
  KeyCert out;
  out.key_pem = must(generatePrivateKeyPem(), "agent key");
  const std::string csr = must(createCsr(out.key_pem, agent_id, tenant), "agent CSR");
  ClientCertOptions options;
  options.agent_id = agent_id;
  options.tenant = tenant;
  options.validity = validity;
  auto issued = must(signAgentCsr(ca, csr, options), "agent certificate");
  out.cert_pem = issued.cert_pem;
  out.info = issued.info;
  return out;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "edge-security-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace edge::protocol::testing
