// The agent's TLS identity: the edge CA that gateways must chain to, the
// agent's private key and client certificate, the enrollment token that gets
// the first certificate, and when to renew it (docs/security.md, "The agent
// side"). The shipper asks it which TLS context to use and hands it what a
// gateway returned from enrollment or renewal.
//
// Files (defaults under output.tls.state_dir, <data_dir>/tls):
//   agent.key  0600  EC P-256 key generated on this host; it never leaves it
//   agent.crt  0644  the certificate from enrollment/renewal (or installed by hand)
//   ca.crt     0644  the edge CA certificate (installed by the operator)
//   enrolled-token.sha256  0600  SHA-256 of the token the certificate came from,
//                     so a refused or revoked agent never re-enrolls with it
// Every write goes to a temporary file that is fsynced and renamed over the
// old one, so a crash leaves either the old or the new file, never half of one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "edge/common/result.h"
#include "edge/protocol/pki.h"

namespace edge::protocol {
class TlsContext;
}

namespace edge::agent {

struct CredentialsOptions {
  std::string ca_path;
  std::string cert_path;
  std::string key_path;
  std::string state_dir;   // for the token marker; created 0700 when something is written
  std::string token;       // enrollment token, or
  std::string token_file;  // a file holding it (read again by readToken())
  std::string tenant_hint;
  // Renewal: with renew_before_s > 0 renew that long before not_after,
  // otherwise once less than renew_fraction of the lifetime is left.
  double renew_fraction = 1.0 / 3.0;
  int64_t renew_before_s = 0;
};

class AgentCredentials {
 public:
  // Reads the CA (required), and the key and certificate when they exist.
  // Refuses a certificate without its key (or the other way round), a pair
  // that does not match, a certificate of another CA or one that is not an
  // agent certificate, and having neither a certificate nor a token: each
  // error names the file and the fix. An expired certificate loads but is
  // not usable(): the agent enrolls again if it has a new token.
  static Result<std::unique_ptr<AgentCredentials>> load(CredentialsOptions options,
                                                        int64_t now = 0);
  ~AgentCredentials();
  AgentCredentials(const AgentCredentials&) = delete;
  AgentCredentials& operator=(const AgentCredentials&) = delete;

  // Mutual TLS with the agent's certificate; null without one.
  std::shared_ptr<const protocol::TlsContext> sessionContext() const;
  // No client certificate: only for enrollment HELLOs.
  std::shared_ptr<const protocol::TlsContext> enrollmentContext() const;
  const std::optional<protocol::CertificateInfo>& certificate() const;
  // A certificate within its validity at `now` that no gateway refused.
  bool usable(int64_t now) const;
  // A gateway refused the certificate in the handshake (revoked, expired,
  // another CA): with a token it has not enrolled with, the agent enrolls.
  void markRefused() { refused_ = true; }
  bool refused() const { return refused_; }
  // Unix seconds after which the certificate should be renewed; 0 without one.
  int64_t renewAt() const;

  // The enrollment token, trimmed; re-reads token_file every time. "" when
  // none is configured or the file is empty.
  Result<std::string> readToken() const;
  // True if the current certificate was obtained with `token`.
  bool enrolledWith(std::string_view token) const;
  // A CSR for `agent_id` with the agent's key, generating and storing the
  // key (0600) first when there is none.
  Result<std::string> createCsr(const std::string& agent_id);
  // Stores a certificate a gateway signed (enrollment or renewal) after
  // checking it: for `agent_id`, an agent certificate, chaining to our CA,
  // for our key. `token` is the enrollment token it came from ("" for a
  // renewal). Rebuilds sessionContext().
  Result<protocol::CertificateInfo> install(std::string_view cert_pem, std::string_view ca_cert_pem,
                                            const std::string& agent_id, std::string_view token,
                                            int64_t now = 0);

  const CredentialsOptions& options() const { return options_; }

 private:
  explicit AgentCredentials(CredentialsOptions options);

  CredentialsOptions options_;
  std::string ca_pem_;
  std::string key_pem_;
  std::optional<protocol::CertificateInfo> cert_;
  std::shared_ptr<const protocol::TlsContext> session_context_;
  std::shared_ptr<const protocol::TlsContext> enrollment_context_;
  std::string enrolled_token_hash_;  // hex SHA-256, "" when unknown
  bool refused_ = false;
};

// SHA-256 of a token as lowercase hex (what enrolled-token.sha256 holds).
std::string tokenFingerprint(std::string_view token);

}  // namespace edge::agent
