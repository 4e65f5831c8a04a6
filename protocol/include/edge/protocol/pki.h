// The built-in PKI of edge (see docs/security.md): EC P-256 keys, a
// self-signed CA, gateway server certificates with SANs, agent CSRs and the
// client certificates signed from them, a registry of issued serials, and
// revocation as a standard X.509 v2 CRL signed by the CA.
//
// Everything here works on PEM text so that callers never touch mbedTLS
// types. All functions are thread-safe (each call uses its own DRBG) and none
// touches the network.
//
// Subject conventions (enforced by the signer, never taken from a CSR):
//   CA        CN=<name>,O=edge,OU=edge-ca
//   gateway   CN=<name>,O=edge,OU=edge-gateway     + SAN DNS/IP, EKU serverAuth
//   agent     CN=<agent id>,O=<tenant>,OU=edge-agent  EKU clientAuth
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "edge/common/result.h"

namespace edge::protocol {

inline constexpr std::string_view kCaOrganizationalUnit = "edge-ca";
inline constexpr std::string_view kGatewayOrganizationalUnit = "edge-gateway";
inline constexpr std::string_view kAgentOrganizationalUnit = "edge-agent";
inline constexpr std::string_view kEdgeOrganization = "edge";

// What a parsed certificate says about its subject. Times are Unix seconds.
struct CertificateInfo {
  std::string subject;  // e.g. "CN=agent-1, O=acme, OU=edge-agent"
  std::string issuer;
  std::string common_name;                // CN
  std::string organization;               // O
  std::string organizational_unit;        // OU
  std::vector<std::string> dns_names;     // SAN dNSName entries
  std::vector<std::string> ip_addresses;  // SAN iPAddress entries, textual ("127.0.0.1", "::1")
  std::string serial_hex;                 // canonical: lowercase, no leading zero bytes
  int64_t not_before = 0;
  int64_t not_after = 0;
  bool is_ca = false;
};

// Validity window in Unix seconds.
struct Validity {
  int64_t not_before = 0;
  int64_t not_after = 0;
  // [now - 5 minutes, now + days]: the backdating absorbs clock skew between
  // the signer and the peers that verify the certificate.
  static Validity days(int64_t days, int64_t now);
};

// A CA as its PEM cert and key; both are needed to sign.
struct CertificateAuthority {
  std::string cert_pem;
  std::string key_pem;
};

struct IssuedCertificate {
  std::string cert_pem;
  CertificateInfo info;
};

// ---- keys ------------------------------------------------------------------

// A fresh EC P-256 private key as PEM ("BEGIN EC PRIVATE KEY").
Result<std::string> generatePrivateKeyPem();
// The public half of a private key as PEM ("BEGIN PUBLIC KEY").
Result<std::string> publicKeyPem(std::string_view private_key_pem);

// ---- certificates ------------------------------------------------------------

struct CaOptions {
  std::string name = "edge CA";  // the CA's CN
  int64_t days = 3650;
  int64_t now = 0;  // 0 = the current time
};
// A self-signed CA certificate for `key_pem` (CA:true, pathlen 0,
// keyCertSign + cRLSign).
Result<IssuedCertificate> createCaCertificate(std::string_view key_pem, const CaOptions& options);

struct ServerCertOptions {
  std::string common_name;                // e.g. "gw-1"
  std::vector<std::string> dns_names;     // SAN dNSName; "*.example.com" allowed
  std::vector<std::string> ip_addresses;  // SAN iPAddress; IPv4 or IPv6 text
  Validity validity;
};
// A gateway server certificate for the public key of `subject_key_pem`
// (private or public key PEM). At least one SAN is required: clients check
// the name they connected to against the SANs, not the CN.
Result<IssuedCertificate> issueServerCertificate(const CertificateAuthority& ca,
                                                 std::string_view subject_key_pem,
                                                 const ServerCertOptions& options);

// Agent side of enrollment: a CSR for `key_pem`, subject
// CN=<agent_id>,O=<tenant_hint>,OU=edge-agent. The subject is informational
// (signers ignore it); the CSR proves possession of the key.
Result<std::string> createCsr(std::string_view key_pem, std::string_view agent_id,
                              std::string_view tenant_hint);

struct ClientCertOptions {
  std::string agent_id;  // chosen by the signer (e.g. from HELLO, validated)
  std::string tenant;    // chosen by the signer (from the enrollment token)
  Validity validity;
};
// Checks a CSR without signing it: it parses, its signature verifies with
// its own key (proof of possession), and the key is P-256/P-384 or RSA >= 2048.
Result<void> checkCsr(std::string_view csr_pem);

// Signs a CSR into an agent client certificate. Checks the CSR's signature
// (proof of possession) and key type; the subject is always
// CN=<agent_id>,O=<tenant>,OU=edge-agent whatever the CSR asked for.
Result<IssuedCertificate> signAgentCsr(const CertificateAuthority& ca, std::string_view csr_pem,
                                       const ClientCertOptions& options);

// Issues an agent client certificate directly for a key the operator holds
// (pre-provisioning without enrollment; also used by tests).
Result<IssuedCertificate> issueAgentCertificate(const CertificateAuthority& ca,
                                                std::string_view subject_key_pem,
                                                const ClientCertOptions& options);

// Parses the first certificate of a PEM text.
Result<CertificateInfo> inspectCertificate(std::string_view cert_pem);

// Checks that `cert_pem` chains to `ca_cert_pem` and is within its validity
// at `now` (0 = the current time).
Result<void> verifyCertificate(std::string_view cert_pem, std::string_view ca_cert_pem,
                               int64_t now = 0);

// ---- identities --------------------------------------------------------------

// The agent id and tenant an agent certificate carries.
struct AgentIdentity {
  std::string agent_id;
  std::string tenant;
};
// Reads CN/O of a certificate whose OU is edge-agent; refuses other
// certificates (a gateway certificate is not an agent).
Result<AgentIdentity> agentIdentityOf(const CertificateInfo& cert);

// Agent ids and tenants go into certificate subjects and SQL keys: 1-64
// characters of [A-Za-z0-9._-], starting with a letter or digit.
Result<void> validateAgentId(std::string_view agent_id);
Result<void> validateTenant(std::string_view tenant);

// Canonical form of a serial number typed by a person or printed by a tool:
// "0A:1B:..", "0x0a1b..", "A1B" -> lowercase hex without leading zero bytes.
Result<std::string> normalizeSerialHex(std::string_view serial);

// ---- revocation --------------------------------------------------------------

struct RevokedSerial {
  std::string serial_hex;
  int64_t revoked_at = 0;
};

struct CrlOptions {
  int64_t this_update = 0;  // 0 = now
  int64_t next_update = 0;  // 0 = this_update + 30 days
  uint64_t crl_number = 1;  // increases with every CRL the CA writes
};
// A PEM X.509 v2 CRL signed by the CA listing `revoked`. (mbedTLS 2.28 has
// no CRL writer; this one is assembled with its ASN.1 writer and signed with
// the CA key, and OpenSSL and mbedTLS both parse it.)
Result<std::string> writeCrlPem(const CertificateAuthority& ca,
                                const std::vector<RevokedSerial>& revoked,
                                const CrlOptions& options);

// The serials of a CRL, after checking that the CA signed it. Immutable, so
// it can be shared between threads.
class RevocationList {
 public:
  // Parses a PEM or DER CRL and verifies its issuer and signature against
  // `ca_cert_pem`. A CRL past its nextUpdate still loads (enforcing an old
  // list beats enforcing none); check isStale() to warn about it.
  static Result<RevocationList> fromCrl(std::string_view crl, std::string_view ca_cert_pem);

  bool isRevoked(std::string_view serial_hex) const {
    return serials_.count(std::string(serial_hex)) != 0;
  }
  size_t size() const { return serials_.size(); }
  int64_t thisUpdate() const { return this_update_; }
  int64_t nextUpdate() const { return next_update_; }
  bool isStale(int64_t now) const { return next_update_ != 0 && now > next_update_; }
  uint64_t crlNumber() const { return crl_number_; }

 private:
  std::unordered_set<std::string> serials_;
  int64_t this_update_ = 0;
  int64_t next_update_ = 0;
  uint64_t crl_number_ = 0;
};

// A revocation list that can be swapped while connections check it: the
// gateway reloads its CRL file without a restart and checks every new
// handshake (and, after a reload, every live session) against it. All
// methods are thread-safe.
class RevocationStore {
 public:
  explicit RevocationStore(std::string ca_cert_pem);

  // Loads and verifies a CRL file; on failure the previous list stays.
  Result<void> reloadFile(const std::string& crl_path);
  void set(std::shared_ptr<const RevocationList> list);
  std::shared_ptr<const RevocationList> current() const;
  bool isRevoked(std::string_view serial_hex) const;

 private:
  const std::string ca_cert_pem_;
  mutable std::mutex mutex_;
  std::shared_ptr<const RevocationList> list_;
};

// ---- registry of issued certificates ------------------------------------------

struct RegistryEntry {
  std::string serial_hex;
  std::string
      kind;  // "ca", "gateway", "agent", or "unknown" for a serial only seen in a revocation
  std::string subject;
  int64_t not_before = 0;
  int64_t not_after = 0;
  int64_t issued_at = 0;
  std::optional<int64_t> revoked_at;
  std::string revoke_reason;
};

// The CA's record of every serial it issued and revoked, in SQLite (the
// CA directory's serials.db). Used by edgectl; a gateway that signs
// enrollments keeps its own registry.
class CertificateRegistry {
 public:
  // Opens (creating with mode 0600 when missing and `create` is set).
  static Result<std::unique_ptr<CertificateRegistry>> open(const std::string& path, bool create);
  ~CertificateRegistry();
  CertificateRegistry(const CertificateRegistry&) = delete;
  CertificateRegistry& operator=(const CertificateRegistry&) = delete;

  // Records an issued certificate; fails with kInvalidArgument if the serial
  // is already known (serials are 127 random bits, so this means a bug or
  // a copied database).
  Result<void> recordIssued(const CertificateInfo& cert, std::string_view kind, int64_t issued_at);
  // Marks a serial revoked. Unknown serials are recorded too (the CA may not
  // have seen certificates that gateways signed during enrollment). Returns
  // false if it was already revoked.
  Result<bool> revoke(std::string_view serial_hex, std::string_view reason, int64_t revoked_at);
  Result<std::optional<RegistryEntry>> find(std::string_view serial_hex);
  Result<std::vector<RevokedSerial>> revoked();
  // Allocates the next CRL number (1, 2, ...).
  Result<uint64_t> nextCrlNumber();

 private:
  struct Db;
  explicit CertificateRegistry(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// ---- files ---------------------------------------------------------------------

// Writes a file with `mode`. Without `overwrite`, an existing file is an
// error (open with O_CREAT|O_EXCL). With it, the content goes to a fresh
// temporary file that is renamed over the old one, so the mode is `mode`
// and a reader never sees a half-written key.
Result<void> writeFileSecurely(const std::string& path, std::string_view content, unsigned mode,
                               bool overwrite);
Result<std::string> readTextFile(const std::string& path);

}  // namespace edge::protocol
