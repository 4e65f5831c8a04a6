// Enrollment tokens: HMAC-SHA256-signed, tenant-bound, expiring, with use
// counts in a TokenUseStore (see enrollment_token.h for the format).
#include "edge/protocol/enrollment_token.h"
#include "edge/common/time_format.h"

#include <mbedtls/base64.h>
// mbedTLS 2.28 forgot the extern "C" guard in this one header.
extern "C" {
#include <mbedtls/constant_time.h>
}
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <sqlite3.h>

#include <cctype>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "edge/protocol/pki.h"
#include "pki_internal.h"

namespace edge::protocol {
namespace {

constexpr size_t kMacBytes = 32;
constexpr size_t kTokenIdBytes = 16;

std::string toHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kDigits[u >> 4];
    out += kDigits[u & 0xf];
  }
  return out;
}

bool isLowerHex(std::string_view text) {
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

std::string base64UrlEncode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  size_t written = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &written,
                        reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  out.resize(written);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

// Strict: only the URL-safe alphabet, no padding.
std::optional<std::string> base64UrlDecode(std::string_view text) {
  std::string standard;
  standard.reserve(text.size() + 3);
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      standard += c;
    } else if (c == '-') {
      standard += '+';
    } else if (c == '_') {
      standard += '/';
    } else {
      return std::nullopt;
    }
  }
  if (standard.size() % 4 == 1) return std::nullopt;
  while (standard.size() % 4 != 0) standard += '=';
  std::string out(standard.size() / 4 * 3, '\0');
  size_t written = 0;
  if (mbedtls_base64_decode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &written,
                            reinterpret_cast<const unsigned char*>(standard.data()),
                            standard.size()) != 0) {
    return std::nullopt;
  }
  out.resize(written);
  return out;
}

Result<std::string> hmac(const TokenKey& key, std::string_view data) {
  unsigned char mac[kMacBytes];
  int ret = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                            reinterpret_cast<const unsigned char*>(key.bytes().data()),
                            key.bytes().size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size(), mac);
  if (ret != 0) return detail::mbedError(ErrorCode::kInternal, "computing the token HMAC", ret);
  return std::string(reinterpret_cast<char*>(mac), sizeof(mac));
}

std::string shortId(std::string_view id) { return std::string(id.substr(0, 8)); }

Error malformed(std::string_view why) {
  return makeError(
      ErrorCode::kInvalidArgument,
      "enrollment token is malformed: " + std::string(why) +
          "; copy the whole token printed by `edgectl token create` (it starts with \"edge1.\")");
}

Result<EnrollmentToken> parsePayload(std::string_view payload_b64, std::string* kid) {
  auto payload = base64UrlDecode(payload_b64);
  if (!payload) return malformed("the payload is not base64url");
  auto json = nlohmann::json::parse(*payload, nullptr, false);
  if (json.is_discarded() || !json.is_object())
    return malformed("the payload is not a JSON object");
  if (kid != nullptr && json.contains("kid") && json["kid"].is_string())
    *kid = json["kid"].get<std::string>();
  auto str = [&](const char* name) -> std::optional<std::string> {
    auto it = json.find(name);
    if (it == json.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto num = [&](const char* name) -> std::optional<int64_t> {
    auto it = json.find(name);
    if (it == json.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<int64_t>();
  };
  EnrollmentToken token;
  auto id = str("id");
  auto tenant = str("tenant");
  auto iat = num("iat");
  auto exp = num("exp");
  auto uses = num("uses");
  if (!id || !tenant || !iat || !exp || !uses)
    return malformed("the payload lacks id, tenant, iat, exp or uses");
  if (id->size() != kTokenIdBytes * 2 || !isLowerHex(*id))
    return malformed("the token id is not 32 hex digits");
  if (*uses < 1 || *uses > UINT32_MAX) return malformed("the use limit is out of range");
  token.id = *id;
  token.tenant = *tenant;
  token.issued_at = *iat;
  token.expires_at = *exp;
  token.max_uses = static_cast<uint32_t>(*uses);
  return token;
}

}  // namespace

// ---- TokenKey ------------------------------------------------------------------

TokenKey::TokenKey(std::string key) : key_(std::move(key)) {
  unsigned char digest[32];
  mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
             reinterpret_cast<const unsigned char*>(key_.data()), key_.size(), digest);
  fingerprint_ = toHex(std::string_view(reinterpret_cast<char*>(digest), 4));
}

TokenKey::~TokenKey() { detail::wipe(key_); }

Result<TokenKey> TokenKey::generate() {
  detail::Drbg drbg;
  EDGE_TRY(drbg.seed("edge-token-key"));
  auto bytes = drbg.bytes(kTokenKeyBytes);
  if (!bytes) return bytes.error();
  return TokenKey(std::move(*bytes));
}

Result<TokenKey> TokenKey::fromHex(std::string_view hex) {
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front())))
    hex.remove_prefix(1);
  if (hex.size() != kTokenKeyBytes * 2) {
    return makeError(ErrorCode::kInvalidArgument,
                     "token key must be 64 hex digits (32 bytes), got " +
                         std::to_string(hex.size()) + " characters");
  }
  std::string key;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = nibble(hex[i]);
    const int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return makeError(ErrorCode::kInvalidArgument, "token key contains a non-hex character");
    key += static_cast<char>((hi << 4) | lo);
  }
  return TokenKey(std::move(key));
}

Result<TokenKey> TokenKey::loadFile(const std::string& path) {
  auto text = readTextFile(path);
  if (!text)
    return makeError(text.error().code,
                     text.error().message + " (the gateway's enrollment token key)");
  auto key = fromHex(*text);
  detail::wipe(*text);
  if (!key) return makeError(key.error().code, path + ": " + key.error().message);
  return key;
}

Result<void> TokenKey::saveFile(const std::string& path, bool overwrite) const {
  std::string text = toHex(key_) + "\n";
  auto result = writeFileSecurely(path, text, 0600, overwrite);
  detail::wipe(text);
  return result;
}

// ---- tokens --------------------------------------------------------------------

Result<EnrollmentToken> newEnrollmentToken(std::string_view tenant, int64_t ttl_seconds,
                                           uint32_t max_uses, int64_t now) {
  EDGE_TRY(validateTenant(tenant));
  if (ttl_seconds <= 0) return makeError(ErrorCode::kInvalidArgument, "token ttl must be positive");
  if (max_uses == 0) return makeError(ErrorCode::kInvalidArgument, "a token needs at least 1 use");
  detail::Drbg drbg;
  EDGE_TRY(drbg.seed("edge-token-id"));
  auto id = drbg.bytes(kTokenIdBytes);
  if (!id) return id.error();
  EnrollmentToken token;
  token.id = toHex(*id);
  token.tenant = std::string(tenant);
  token.issued_at = now;
  token.expires_at = now + ttl_seconds;
  token.max_uses = max_uses;
  return token;
}

Result<std::string> encodeEnrollmentToken(const TokenKey& key, const EnrollmentToken& token) {
  EDGE_TRY(validateTenant(token.tenant));
  nlohmann::json payload = {{"id", token.id},         {"tenant", token.tenant},
                            {"iat", token.issued_at}, {"exp", token.expires_at},
                            {"uses", token.max_uses}, {"kid", key.fingerprint()}};
  std::string signed_part = std::string(kTokenPrefix) + base64UrlEncode(payload.dump());
  auto mac = hmac(key, signed_part);
  if (!mac) return mac.error();
  std::string text = signed_part + "." + base64UrlEncode(*mac);
  if (text.size() > kMaxTokenLength)
    return makeError(ErrorCode::kInvalidArgument, "token would be too long");
  return text;
}

Result<EnrollmentToken> verifyEnrollmentToken(const TokenKey& key, std::string_view text,
                                              int64_t now) {
  if (text.size() > kMaxTokenLength) return malformed("it is longer than 1024 characters");
  if (text.substr(0, kTokenPrefix.size()) != kTokenPrefix)
    return malformed("it does not start with \"edge1.\"");
  const size_t dot = text.rfind('.');
  if (dot < kTokenPrefix.size()) return malformed("the signature part is missing");
  const std::string_view signed_part = text.substr(0, dot);
  const std::string_view payload_b64 = signed_part.substr(kTokenPrefix.size());
  if (payload_b64.empty() || payload_b64.find('.') != std::string_view::npos)
    return malformed("wrong number of parts");
  auto signature = base64UrlDecode(text.substr(dot + 1));
  if (!signature || signature->size() != kMacBytes)
    return malformed("the signature is not 32 base64url bytes");

  auto expected = hmac(key, signed_part);
  if (!expected) return expected.error();
  if (mbedtls_ct_memcmp(expected->data(), signature->data(), kMacBytes) != 0) {
    // Only now look inside the (unauthenticated) payload, to tell a token
    // made with another key from an altered one.
    std::string kid;
    (void)parsePayload(payload_b64, &kid);
    if (!kid.empty() && kid != key.fingerprint()) {
      return makeError(ErrorCode::kCorrupt, "enrollment token was signed with token key " + kid +
                                                " but this gateway uses key " + key.fingerprint() +
                                                "; every gateway needs the CA's token.key");
    }
    return makeError(ErrorCode::kCorrupt,
                     "enrollment token signature is invalid: the token was altered or truncated; "
                     "copy it again from `edgectl token create`");
  }
  auto token = parsePayload(payload_b64, nullptr);
  if (!token) return token.error();
  if (auto tenant_ok = validateTenant(token->tenant); !tenant_ok)
    return malformed(tenant_ok.error().message);
  if (now >= token->expires_at) {
    return makeError(ErrorCode::kTimeout, "enrollment token " + shortId(token->id) +
                                              " expired at " + formatUtcTime(token->expires_at) +
                                              "; create a new one with "
                                              "`edgectl token create`");
  }
  if (token->issued_at > now + kTokenClockSkewSeconds) {
    return makeError(ErrorCode::kTimeout,
                     "enrollment token " + shortId(token->id) + " was issued at " +
                         formatUtcTime(token->issued_at) +
                         ", in the future; check the clocks of the CA host and the gateway");
  }
  return token;
}

Result<void> checkTokenTenant(const EnrollmentToken& token, std::string_view expected_tenant) {
  if (token.tenant != expected_tenant) {
    return makeError(ErrorCode::kInvalidArgument,
                     "enrollment token " + shortId(token.id) + " is for tenant \"" + token.tenant +
                         "\", not \"" + std::string(expected_tenant) +
                         "\"; use a token created with --tenant " + std::string(expected_tenant));
  }
  return okResult();
}

// ---- SqliteTokenUseStore -------------------------------------------------------------

struct SqliteTokenUseStore::Db {
  std::mutex mutex;
  std::unique_ptr<detail::Sqlite> sqlite;
};

SqliteTokenUseStore::SqliteTokenUseStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
SqliteTokenUseStore::~SqliteTokenUseStore() = default;

Result<std::unique_ptr<SqliteTokenUseStore>> SqliteTokenUseStore::open(const std::string& path) {
  auto sqlite = detail::Sqlite::open(path, true, "the enrollment token store");
  if (!sqlite) return sqlite.error();
  EDGE_TRY((*sqlite)->exec("PRAGMA journal_mode=WAL", "switch to WAL"));
  EDGE_TRY((*sqlite)->exec(R"sql(
CREATE TABLE IF NOT EXISTS enrollment_token_uses(
  token_id      TEXT PRIMARY KEY,
  tenant        TEXT NOT NULL,
  uses          INTEGER NOT NULL,
  max_uses      INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  first_used_at INTEGER NOT NULL,
  last_used_at  INTEGER NOT NULL
))sql",
                           "create the enrollment_token_uses table"));
  auto db = std::make_unique<Db>();
  db->sqlite = std::move(*sqlite);
  return std::unique_ptr<SqliteTokenUseStore>(new SqliteTokenUseStore(std::move(db)));
}

Result<uint32_t> SqliteTokenUseStore::consume(const EnrollmentToken& token, int64_t now) {
  std::lock_guard<std::mutex> lock(db_->mutex);
  // One statement, so counting is atomic without an explicit transaction:
  // the WHERE on the upsert refuses the increment once the limit is reached,
  // and then no row comes back.
  detail::Statement stmt(*db_->sqlite, R"sql(
INSERT INTO enrollment_token_uses(token_id, tenant, uses, max_uses, expires_at, first_used_at, last_used_at)
VALUES(?1, ?2, 1, ?3, ?4, ?5, ?5)
ON CONFLICT(token_id) DO UPDATE SET uses = uses + 1, last_used_at = excluded.last_used_at
  WHERE enrollment_token_uses.uses < enrollment_token_uses.max_uses
RETURNING uses)sql");
  if (!stmt.ok()) return db_->sqlite->error("count a use of enrollment token " + shortId(token.id));
  stmt.bind(1, token.id);
  stmt.bind(2, token.tenant);
  stmt.bind(3, static_cast<int64_t>(token.max_uses));
  stmt.bind(4, token.expires_at);
  stmt.bind(5, now);
  const int rc = stmt.step();
  if (rc == SQLITE_DONE) {
    return makeError(ErrorCode::kTooLarge,
                     "enrollment token " + shortId(token.id) + " has already been used " +
                         std::to_string(token.max_uses) +
                         " time(s), its limit; create a new token with `edgectl token create`");
  }
  if (rc != SQLITE_ROW)
    return db_->sqlite->error("count a use of enrollment token " + shortId(token.id));
  const auto uses = static_cast<uint32_t>(stmt.columnInt(0));
  if (stmt.step() != SQLITE_DONE)
    return db_->sqlite->error("count a use of enrollment token " + shortId(token.id));
  return uses;
}

Result<uint32_t> SqliteTokenUseStore::uses(std::string_view token_id) {
  std::lock_guard<std::mutex> lock(db_->mutex);
  detail::Statement stmt(*db_->sqlite,
                         "SELECT uses FROM enrollment_token_uses WHERE token_id = ?1");
  if (!stmt.ok()) return db_->sqlite->error("read token uses");
  stmt.bind(1, token_id);
  const int rc = stmt.step();
  if (rc == SQLITE_DONE) return 0u;
  if (rc != SQLITE_ROW) return db_->sqlite->error("read token uses");
  return static_cast<uint32_t>(stmt.columnInt(0));
}

Result<uint64_t> SqliteTokenUseStore::purgeExpired(int64_t before) {
  std::lock_guard<std::mutex> lock(db_->mutex);
  detail::Statement stmt(*db_->sqlite, "DELETE FROM enrollment_token_uses WHERE expires_at < ?1");
  if (!stmt.ok()) return db_->sqlite->error("purge expired tokens");
  stmt.bind(1, before);
  if (stmt.step() != SQLITE_DONE) return db_->sqlite->error("purge expired tokens");
  return static_cast<uint64_t>(sqlite3_changes(db_->sqlite->get()));
}

// ---- enrollment ------------------------------------------------------------------

Result<IssuedCertificate> enrollAgent(const TokenKey& key, TokenUseStore& uses,
                                      const CertificateAuthority& ca,
                                      const EnrollmentRequest& request, int64_t cert_days,
                                      int64_t now) {
  auto token = verifyEnrollmentToken(key, request.token, now);
  if (!token) return token.error();
  if (!request.required_tenant.empty()) EDGE_TRY(checkTokenTenant(*token, request.required_tenant));
  if (auto valid = validateAgentId(request.agent_id); !valid) {
    return makeError(ErrorCode::kInvalidArgument, "enrollment refused: " + valid.error().message);
  }
  if (auto csr = checkCsr(request.csr_pem); !csr) {
    return makeError(csr.error().code, "enrollment refused: " + csr.error().message);
  }
  ClientCertOptions options;
  options.agent_id = request.agent_id;
  options.tenant = token->tenant;
  options.validity = Validity::days(cert_days, now);
  auto issued = signAgentCsr(ca, request.csr_pem, options);
  if (!issued)
    return makeError(issued.error().code,
                     "enrollment failed on the gateway: " + issued.error().message);
  auto counted = uses.consume(*token, now);
  if (!counted) return counted.error();
  return issued;
}

}  // namespace edge::protocol
