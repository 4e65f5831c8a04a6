// Tests for enrollment tokens: signing and verification (valid, expired,
// tampered payload and signature, wrong key, malformed, wrong tenant), the
// key file, and use counting in the SQLite TokenUseStore, including
// concurrent consumers on one database file.
#include "edge/protocol/enrollment_token.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "edge/protocol/pki.h"
#include "test_pki.h"

namespace edge::protocol {
namespace {

using testing::must;
using testing::TempDir;

constexpr int64_t kNow = 1'700'000'000;

// base64url without padding, to forge payloads in tests.
std::string base64Url(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

struct Parts {
  std::string payload;
  std::string signature;
};

Parts split(const std::string& token) {
  const size_t dot = token.rfind('.');
  return {token.substr(6, dot - 6), token.substr(dot + 1)};
}

class EnrollmentTokenTest : public ::testing::Test {
 protected:
  TokenKey key_ = must(TokenKey::generate(), "key");
  EnrollmentToken token_ = must(newEnrollmentToken("acme", 3600, 3, kNow), "token");
  std::string text_ = must(encodeEnrollmentToken(key_, token_), "encode");
};

TEST_F(EnrollmentTokenTest, ValidTokenVerifies) {
  EXPECT_EQ(text_.rfind("edge1.", 0), 0u);
  EXPECT_EQ(token_.id.size(), 32u);
  auto verified = verifyEnrollmentToken(key_, text_, kNow + 60);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->id, token_.id);
  EXPECT_EQ(verified->tenant, "acme");
  EXPECT_EQ(verified->expires_at, kNow + 3600);
  EXPECT_EQ(verified->issued_at, kNow);
  EXPECT_EQ(verified->max_uses, 3u);
  EXPECT_TRUE(checkTokenTenant(*verified, "acme").ok());
  // Two tokens never share an id.
  EXPECT_NE(must(newEnrollmentToken("acme", 60, 1, kNow), "other").id, token_.id);
}

TEST_F(EnrollmentTokenTest, ExpiredTokenIsRefused) {
  auto r = verifyEnrollmentToken(key_, text_, kNow + 3600);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_NE(r.error().message.find("expired"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("edgectl token create"), std::string::npos) << r.error().message;
}

TEST_F(EnrollmentTokenTest, TokenFromTheFutureIsRefused) {
  auto r = verifyEnrollmentToken(key_, text_, kNow - 3600);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kTimeout);
  EXPECT_NE(r.error().message.find("clocks"), std::string::npos) << r.error().message;
  // Small skew is tolerated.
  EXPECT_TRUE(verifyEnrollmentToken(key_, text_, kNow - 60).ok());
}

TEST_F(EnrollmentTokenTest, TamperedPayloadIsRefused) {
  const Parts parts = split(text_);
  // A forged payload for another tenant with more uses, under the old signature.
  const std::string forged_payload =
      base64Url(R"({"id":")" + token_.id +
                R"(","tenant":"victim","iat":1700000000,"exp":1800000000,"uses":1000})");
  auto r = verifyEnrollmentToken(key_, "edge1." + forged_payload + "." + parts.signature, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(r.error().message.find("signature is invalid"), std::string::npos) << r.error().message;

  // One character of the original payload changed.
  std::string payload = parts.payload;
  payload[payload.size() / 2] = payload[payload.size() / 2] == 'A' ? 'B' : 'A';
  r = verifyEnrollmentToken(key_, "edge1." + payload + "." + parts.signature, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
}

TEST_F(EnrollmentTokenTest, TamperedSignatureIsRefused) {
  const Parts parts = split(text_);
  std::string signature = parts.signature;
  signature[3] = signature[3] == 'A' ? 'B' : 'A';
  auto r = verifyEnrollmentToken(key_, "edge1." + parts.payload + "." + signature, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  // Truncated signature.
  r = verifyEnrollmentToken(key_, text_.substr(0, text_.size() - 2), kNow);
  EXPECT_FALSE(r.ok());
}

TEST_F(EnrollmentTokenTest, TokenFromAnotherKeyIsRefusedNamingTheKeys) {
  const TokenKey other = must(TokenKey::generate(), "other key");
  auto r = verifyEnrollmentToken(other, text_, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_NE(r.error().message.find(key_.fingerprint()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(other.fingerprint()), std::string::npos) << r.error().message;
}

TEST_F(EnrollmentTokenTest, MalformedTokensAreRefused) {
  for (const std::string& bad :
       {std::string(""), std::string("edge1."), std::string("edge2.") + text_.substr(6),
        std::string("edge1.abc"), std::string("edge1.a.b.c"), std::string("edge1.!!!.abc"),
        std::string(2000, 'a'), text_ + "x"}) {
    auto r = verifyEnrollmentToken(key_, bad, kNow);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST_F(EnrollmentTokenTest, WrongTenantIsRefusedByTheHelper) {
  auto verified = must(verifyEnrollmentToken(key_, text_, kNow), "verify");
  auto r = checkTokenTenant(verified, "globex");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("acme"), std::string::npos);
  EXPECT_NE(r.error().message.find("globex"), std::string::npos);
}

TEST(EnrollmentTokenCreateTest, ValidatesInputs) {
  EXPECT_FALSE(newEnrollmentToken("", 60, 1, kNow).ok());
  EXPECT_FALSE(newEnrollmentToken("bad tenant", 60, 1, kNow).ok());
  EXPECT_FALSE(newEnrollmentToken("acme", 0, 1, kNow).ok());
  EXPECT_FALSE(newEnrollmentToken("acme", 60, 0, kNow).ok());
}

TEST(TokenKeyTest, FileRoundTripWithMode0600) {
  TempDir dir;
  const std::string path = dir.file("token.key");
  const TokenKey key = must(TokenKey::generate(), "key");
  ASSERT_TRUE(key.saveFile(path, false).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(key.saveFile(path, false).ok()) << "never overwritten silently";
  const TokenKey loaded = must(TokenKey::loadFile(path), "load");
  EXPECT_EQ(loaded.bytes(), key.bytes());
  EXPECT_EQ(loaded.fingerprint(), key.fingerprint());
  EXPECT_EQ(key.fingerprint().size(), 8u);

  EXPECT_FALSE(TokenKey::fromHex("abcd").ok());
  EXPECT_FALSE(TokenKey::fromHex(std::string(64, 'g')).ok());
  EXPECT_FALSE(TokenKey::loadFile(dir.file("missing.key")).ok());
}

TEST(TokenUseStoreTest, CountsUsesAndRefusesWhenExhausted) {
  TempDir dir;
  auto store = must(SqliteTokenUseStore::open(dir.file("state.db")), "open");
  const EnrollmentToken token = must(newEnrollmentToken("acme", 3600, 2, kNow), "token");
  const EnrollmentToken other = must(newEnrollmentToken("acme", 3600, 1, kNow), "other");
  EXPECT_EQ(must(store->uses(token.id), "uses"), 0u);
  EXPECT_EQ(must(store->consume(token, kNow), "use 1"), 1u);
  EXPECT_EQ(must(store->consume(token, kNow + 1), "use 2"), 2u);
  auto third = store->consume(token, kNow + 2);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(third.error().message.find("already been used 2 time(s)"), std::string::npos)
      << third.error().message;
  EXPECT_EQ(must(store->uses(token.id), "uses"), 2u) << "a refused use is not counted";
  // Tokens are counted independently.
  EXPECT_EQ(must(store->consume(other, kNow), "other use"), 1u);

  // Counts survive a restart.
  store.reset();
  auto reopened = must(SqliteTokenUseStore::open(dir.file("state.db")), "reopen");
  EXPECT_FALSE(reopened->consume(token, kNow + 3).ok());
  EXPECT_FALSE(reopened->consume(other, kNow + 3).ok());

  // Purging forgets only expired tokens.
  const EnrollmentToken later = must(newEnrollmentToken("acme", 7200, 5, kNow), "later");
  ASSERT_TRUE(reopened->consume(later, kNow).ok());
  EXPECT_EQ(must(reopened->purgeExpired(kNow + 5000), "purge"), 2u);
  EXPECT_EQ(must(reopened->uses(later.id), "uses"), 1u);
}

TEST(TokenUseStoreTest, ConcurrentConsumersNeverExceedTheLimit) {
  TempDir dir;
  const std::string path = dir.file("state.db");
  const EnrollmentToken token = must(newEnrollmentToken("acme", 3600, 30, kNow), "token");
  // Two stores on one file stand for two gateway processes; each is also
  // used from two threads.
  auto a = must(SqliteTokenUseStore::open(path), "store a");
  auto b = must(SqliteTokenUseStore::open(path), "store b");
  std::atomic<int> granted{0};
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    SqliteTokenUseStore* store = (t % 2 == 0) ? a.get() : b.get();
    threads.emplace_back([&, store] {
      for (int i = 0; i < 25; ++i) {
        auto r = store->consume(token, kNow);
        if (r.ok()) {
          ++granted;
        } else if (r.error().code == ErrorCode::kTooLarge) {
          ++refused;
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(granted.load(), 30);
  EXPECT_EQ(refused.load(), 70);
  EXPECT_EQ(must(a->uses(token.id), "uses"), 30u);
}

// The gateway's enrollment check end to end: only a valid request gets a
// certificate, every refusal says why, and refusals do not spend uses.
class EnrollAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = testing::makeCa("enrollment CA");
    store_ = must(SqliteTokenUseStore::open(dir_.file("state.db")), "store");
    agent_key_ = must(generatePrivateKeyPem(), "agent key");
    csr_ = must(createCsr(agent_key_, "web-01", "acme"), "CSR");
  }

  EnrollmentRequest request(const std::string& token) {
    EnrollmentRequest r;
    r.token = token;
    r.csr_pem = csr_;
    r.agent_id = "web-01";
    return r;
  }

  std::string token(const std::string& tenant, int64_t ttl, uint32_t uses, int64_t now = kNow) {
    return must(
        encodeEnrollmentToken(key_, must(newEnrollmentToken(tenant, ttl, uses, now), "token")),
        "encode");
  }

  Result<IssuedCertificate> enroll(const EnrollmentRequest& r, int64_t now = kNow + 10) {
    return enrollAgent(key_, *store_, ca_, r, 90, now);
  }

  TempDir dir_;
  TokenKey key_ = must(TokenKey::generate(), "key");
  CertificateAuthority ca_;
  std::unique_ptr<SqliteTokenUseStore> store_;
  std::string agent_key_;
  std::string csr_;
};

TEST_F(EnrollAgentTest, ValidRequestGetsACertificateForTheTokensTenant) {
  auto issued = enroll(request(token("acme", 3600, 1)));
  ASSERT_TRUE(issued.ok()) << issued.error().message;
  EXPECT_EQ(issued->info.common_name, "web-01");
  EXPECT_EQ(issued->info.organization, "acme");
  EXPECT_EQ(issued->info.organizational_unit, "edge-agent");
  EXPECT_EQ(issued->info.not_after, kNow + 90 * 86400 + 10);
  EXPECT_TRUE(verifyCertificate(issued->cert_pem, ca_.cert_pem, kNow + 100).ok());
}

TEST_F(EnrollAgentTest, TheTenantComesFromTheTokenNotTheCsr) {
  csr_ = must(createCsr(agent_key_, "web-01", "victim"), "CSR asking for another tenant");
  auto issued = enroll(request(token("acme", 3600, 1)));
  ASSERT_TRUE(issued.ok()) << issued.error().message;
  EXPECT_EQ(issued->info.organization, "acme");
}

TEST_F(EnrollAgentTest, ExpiredTokenIsRefused) {
  auto r = enroll(request(token("acme", 60, 1)), kNow + 61);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expired"), std::string::npos) << r.error().message;
}

TEST_F(EnrollAgentTest, ExhaustedTokenIsRefused) {
  const std::string t = token("acme", 3600, 1);
  ASSERT_TRUE(enroll(request(t)).ok());
  auto again = enroll(request(t));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kTooLarge);
  EXPECT_NE(again.error().message.find("already been used 1 time(s)"), std::string::npos)
      << again.error().message;
}

TEST_F(EnrollAgentTest, TamperedTokenIsRefused) {
  std::string t = token("acme", 3600, 1);
  t[10] = t[10] == 'A' ? 'B' : 'A';
  auto r = enroll(request(t));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << r.error().message;
}

TEST_F(EnrollAgentTest, WrongTenantIsRefused) {
  auto r = request(token("globex", 3600, 1));
  r.required_tenant = "acme";
  auto result = enroll(r);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("is for tenant \"globex\", not \"acme\""),
            std::string::npos)
      << result.error().message;
}

TEST_F(EnrollAgentTest, RefusalsForOtherReasonsDoNotSpendUses) {
  const std::string t = token("acme", 3600, 1);
  const EnrollmentToken parsed = must(verifyEnrollmentToken(key_, t, kNow), "verify");
  auto bad_csr = request(t);
  bad_csr.csr_pem =
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
  auto r = enroll(bad_csr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("CSR"), std::string::npos) << r.error().message;
  auto bad_id = request(t);
  bad_id.agent_id = "web 01";
  EXPECT_FALSE(enroll(bad_id).ok());
  EXPECT_EQ(must(store_->uses(parsed.id), "uses"), 0u);
  EXPECT_TRUE(enroll(request(t)).ok()) << "the single use is still available";
}

}  // namespace
}  // namespace edge::protocol
