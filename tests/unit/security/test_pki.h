// Test fixtures for the security tests: CAs, server and agent certificates
// made with the real PKI helpers. Failures throw, which GoogleTest reports
// as a failed test.
#pragma once

#include <cstdint>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

#include "edge/protocol/pki.h"

namespace edge::protocol::testing {

template <typename T>
T must(Result<T> result, const std::string& what) {
  if (!result.ok()) throw std::runtime_error(what + ": " + result.error().message);
  return std::move(result.value());
}

inline void must(Result<void> result, const std::string& what) {
  if (!result.ok()) throw std::runtime_error(what + ": " + result.error().message);
}

inline int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

struct KeyCert {
  std::string key_pem;
  std::string cert_pem;
  CertificateInfo info;
};

CertificateAuthority makeCa(const std::string& name);
KeyCert makeServer(const CertificateAuthority& ca, std::vector<std::string> dns = {"gw.test"},
                   std::vector<std::string> ips = {"127.0.0.1"});
KeyCert makeAgent(const CertificateAuthority& ca, const std::string& agent_id,
                  const std::string& tenant, Validity validity = Validity::days(30, now()));

// A temporary directory removed (with its files) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace edge::protocol::testing
