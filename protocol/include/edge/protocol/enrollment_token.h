// Enrollment tokens: what an agent presents (in HELLO, with its CSR) to get
// its first client certificate. A token is short-lived, bound to one tenant,
// limited to a number of uses, and signed with HMAC-SHA256 under a secret
// that every gateway of the tier holds, so any gateway can check it without
// asking anyone (see docs/security.md).
//
//   edge1.<base64url(payload)>.<base64url(HMAC-SHA256(key, "edge1." + base64url(payload)))>
//
// payload (JSON): {"id":"<32 hex>","tenant":"acme","iat":<unix s>,"exp":<unix s>,
//                  "uses":<max uses>,"kid":"<8 hex: key fingerprint>"}
//
// Verification is stateless (signature, expiry); use counts are the one
// shared piece of state and go through a TokenUseStore (SQLite here; a
// PostgreSQL store lets a whole tier share them).
//
// Refusals are Errors whose message starts with "enrollment token " and
// names the reason; the gateway forwards it to the agent. Codes:
//   kInvalidArgument  malformed token, or wrong tenant
//   kCorrupt          bad signature (tampered, or signed with another key)
//   kTimeout          expired, or issued in the future
//   kTooLarge         every allowed use is spent
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "edge/common/result.h"
#include "edge/protocol/pki.h"

namespace edge::protocol {

inline constexpr std::string_view kTokenPrefix = "edge1.";
inline constexpr size_t kTokenKeyBytes = 32;
inline constexpr size_t kMaxTokenLength = 1024;
// Clock skew tolerated between the machine that created a token and the
// gateway checking it, for "issued in the future".
inline constexpr int64_t kTokenClockSkewSeconds = 300;

// The HMAC secret. On disk: 64 hex characters and a newline, mode 0600
// (edgectl ca init writes <ca-dir>/token.key).
class TokenKey {
 public:
  static Result<TokenKey> generate();
  static Result<TokenKey> fromHex(std::string_view hex);
  static Result<TokenKey> loadFile(const std::string& path);
  // Writes the key file with mode 0600 (see writeFileSecurely).
  Result<void> saveFile(const std::string& path, bool overwrite) const;

  // First 4 bytes of SHA-256(key) as hex: names the key in tokens and
  // messages without revealing it.
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& bytes() const { return key_; }
  ~TokenKey();
  TokenKey(const TokenKey&) = default;
  TokenKey(TokenKey&&) = default;
  TokenKey& operator=(const TokenKey&) = default;
  TokenKey& operator=(TokenKey&&) = default;

 private:
  explicit TokenKey(std::string key);
  std::string key_;
  std::string fingerprint_;
};

struct EnrollmentToken {
  std::string id;  // 32 hex characters, random
  std::string tenant;
  int64_t issued_at = 0;  // Unix seconds
  int64_t expires_at = 0;
  uint32_t max_uses = 1;
};

// Creates a token for `tenant` valid for `ttl_seconds` from `now` with
// `max_uses` uses. Validates the tenant (pki.h validateTenant).
Result<EnrollmentToken> newEnrollmentToken(std::string_view tenant, int64_t ttl_seconds,
                                           uint32_t max_uses, int64_t now);
// Signs `token` into its text form.
Result<std::string> encodeEnrollmentToken(const TokenKey& key, const EnrollmentToken& token);

// Checks format, signature (constant-time) and validity time at `now`.
// Does not count a use: call TokenUseStore::consume() after everything
// else about the enrollment request checked out.
Result<EnrollmentToken> verifyEnrollmentToken(const TokenKey& key, std::string_view text,
                                              int64_t now);

// Refuses a token bound to another tenant than `expected_tenant` (e.g. the
// tenant a gateway serves, or the one the agent was configured for).
Result<void> checkTokenTenant(const EnrollmentToken& token, std::string_view expected_tenant);

// Counts token uses. consume() is atomic across threads and processes that
// share the store: with max_uses N, exactly N calls succeed.
class TokenUseStore {
 public:
  virtual ~TokenUseStore() = default;
  // Counts one use; returns the use number (1..max_uses) or a kTooLarge
  // error when every use is spent.
  virtual Result<uint32_t> consume(const EnrollmentToken& token, int64_t now) = 0;
  // Uses counted so far (0 for an unknown token).
  virtual Result<uint32_t> uses(std::string_view token_id) = 0;
  // Forgets tokens that expired before `before` (they can never verify
  // again, so their counts are no longer needed).
  virtual Result<uint64_t> purgeExpired(int64_t before) = 0;
};

// TokenUseStore in a SQLite file (table enrollment_token_uses), which may be
// the gateway's state database. Safe for several processes on one host.
class SqliteTokenUseStore final : public TokenUseStore {
 public:
  static Result<std::unique_ptr<SqliteTokenUseStore>> open(const std::string& path);
  ~SqliteTokenUseStore() override;

  Result<uint32_t> consume(const EnrollmentToken& token, int64_t now) override;
  Result<uint32_t> uses(std::string_view token_id) override;
  Result<uint64_t> purgeExpired(int64_t before) override;

 private:
  struct Db;
  explicit SqliteTokenUseStore(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// ---- the gateway's side of enrollment ------------------------------------------

struct EnrollmentRequest {
  std::string token;            // HELLO.enrollment_token
  std::string csr_pem;          // HELLO.csr_pem
  std::string agent_id;         // HELLO.agent_id; must pass validateAgentId
  std::string required_tenant;  // if set, tokens for any other tenant are refused
};

// Checks an enrollment request and signs the agent's certificate:
// token (signature, expiry) -> tenant -> agent id -> CSR (proof of
// possession) -> sign -> count the use. The use is counted last, so a request
// refused for any other reason does not spend it; the certificate is only
// returned if counting succeeded. Subject: CN=<agent_id>, O=<token tenant>,
// OU=edge-agent, valid `cert_days` from `now`. Errors are the reasons to send
// back to the agent.
Result<IssuedCertificate> enrollAgent(const TokenKey& key, TokenUseStore& uses,
                                      const CertificateAuthority& ca,
                                      const EnrollmentRequest& request, int64_t cert_days,
                                      int64_t now);

}  // namespace edge::protocol
