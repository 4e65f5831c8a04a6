// libFuzzer target: the payload of a HELLO frame, handled as a gateway
// handles it. Protobuf parsing of edge.wire.Hello, the version and agent id
// checks of Connection::handleHello, then
//   - with a token: enrollAgent (token format, base64url, the payload JSON
//     that is read even when the HMAC fails, HMAC, expiry, tenant, agent id,
//     CSR parsing and proof of possession, signing, use counting);
//   - with a CSR only (renewal over mutual TLS): signAgentCsr for a fixed
//     identity.
// Invariants besides memory safety: a certificate is only issued for the
// agent id asked and the tenant the gateway decided, never the CSR's subject.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "edge/protocol/control.h"
#include "edge/protocol/enrollment_token.h"
#include "edge/protocol/frame.h"
#include "edge/protocol/pki.h"
#include "hello_fuzz_common.h"

namespace {

using namespace edge::protocol;

// Token uses in memory; cleared for every input so inputs stay independent.
class MemoryUseStore final : public TokenUseStore {
 public:
  edge::Result<uint32_t> consume(const EnrollmentToken& token, int64_t) override {
    uint32_t& used = uses_[token.id];
    if (used >= token.max_uses) {
      return edge::makeError(edge::ErrorCode::kTooLarge, "enrollment token used up");
    }
    return ++used;
  }
  edge::Result<uint32_t> uses(std::string_view token_id) override {
    auto it = uses_.find(std::string(token_id));
    return it == uses_.end() ? 0u : it->second;
  }
  edge::Result<uint64_t> purgeExpired(int64_t) override { return uint64_t{0}; }
  void clear() { uses_.clear(); }

 private:
  std::map<std::string, uint32_t> uses_;
};

struct Fixture {
  TokenKey key;
  CertificateAuthority ca;
  MemoryUseStore uses;
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto key = TokenKey::fromHex(edge::fuzz::kHelloFuzzTokenKeyHex);
    auto ca_key = generatePrivateKeyPem();
    if (!key.ok() || !ca_key.ok()) std::abort();
    CaOptions options;
    options.name = "fuzz CA";
    options.now = edge::fuzz::kHelloFuzzNow;
    auto ca = createCaCertificate(*ca_key, options);
    if (!ca.ok()) std::abort();
    return new Fixture{std::move(*key), CertificateAuthority{ca->cert_pem, *ca_key}, {}};
  }();
  return *f;
}

// The limit Connection::handleHello applies.
constexpr size_t kMaxAgentIdBytes = 256;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Frame frame;
  frame.type = FrameType::kHello;
  frame.payload.assign(reinterpret_cast<const char*>(data), size);
  edge::wire::Hello hello;
  if (!parseControl(frame, hello).ok()) return 0;
  if (hello.protocol_version() != 0 && hello.protocol_version() != kProtocolVersion) return 0;
  if (hello.agent_id().empty() || hello.agent_id().size() > kMaxAgentIdBytes) return 0;
  if (hello.enrollment_token().empty() && hello.csr_pem().empty()) return 0;

  Fixture& f = fixture();
  f.uses.clear();
  if (!hello.enrollment_token().empty()) {
    EnrollmentRequest request;
    request.token = hello.enrollment_token();
    request.csr_pem = hello.csr_pem();
    request.agent_id = hello.agent_id();
    request.required_tenant = edge::fuzz::kHelloFuzzTenant;
    auto issued = enrollAgent(f.key, f.uses, f.ca, request, 1, edge::fuzz::kHelloFuzzNow);
    if (issued.ok() && (issued->info.common_name != hello.agent_id() ||
                        issued->info.organization != edge::fuzz::kHelloFuzzTenant ||
                        issued->info.organizational_unit != kAgentOrganizationalUnit)) {
      std::abort();
    }
    return 0;
  }
  ClientCertOptions options;
  options.agent_id = "agent-1";
  options.tenant = edge::fuzz::kHelloFuzzTenant;
  options.validity = Validity::days(1, edge::fuzz::kHelloFuzzNow);
  auto renewed = signAgentCsr(f.ca, hello.csr_pem(), options);
  if (renewed.ok() && (renewed->info.common_name != "agent-1" ||
                       renewed->info.organization != edge::fuzz::kHelloFuzzTenant)) {
    std::abort();
  }
  return 0;
}
