// Writes the seed corpus of fuzz_hello: HELLO payloads that reach every
// branch of the enrollment checks (valid, expired, other tenant, tampered,
// other key, bad CSR), a renewal, and plain session HELLOs. Tokens are
// signed with the fuzz target's fixed key and valid at its fixed time.
//   ninja -C build/fuzz fuzz_regenerate_seeds
#include <cstdio>
#include <fstream>
#include <string>

#include "edge/protocol/control.h"
#include "edge/protocol/enrollment_token.h"
#include "edge/protocol/pki.h"
#include "hello_fuzz_common.h"

namespace {

using namespace edge::protocol;

template <typename T>
T must(edge::Result<T> result) {
  if (!result.ok()) {
    std::fprintf(stderr, "seed generation failed: %s\n", result.error().message.c_str());
    std::exit(1);
  }
  return std::move(*result);
}

std::string token(const TokenKey& key, const std::string& tenant, int64_t ttl, int64_t at) {
  return must(encodeEnrollmentToken(key, must(newEnrollmentToken(tenant, ttl, 5, at))));
}

void write(const std::string& dir, const std::string& name, const edge::wire::Hello& hello) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << hello.SerializeAsString();
}

edge::wire::Hello base(const std::string& agent_id) {
  edge::wire::Hello hello;
  hello.set_protocol_version(kProtocolVersion);
  hello.set_agent_id(agent_id);
  hello.set_agent_version("0.1.0");
  hello.set_hostname("seed-host");
  hello.add_capabilities("zstd");
  return hello;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const int64_t now = edge::fuzz::kHelloFuzzNow;
  const TokenKey key = must(TokenKey::fromHex(edge::fuzz::kHelloFuzzTokenKeyHex));
  const TokenKey other_key = must(TokenKey::generate());
  const std::string agent_key = must(generatePrivateKeyPem());
  const std::string csr = must(createCsr(agent_key, "agent-1", "acme"));

  auto enroll = [&](const std::string& name, const std::string& token_text,
                    const std::string& csr_pem) {
    edge::wire::Hello hello = base("agent-1");
    hello.set_enrollment_token(token_text);
    hello.set_csr_pem(csr_pem);
    hello.set_tenant_hint("acme");
    write(dir, name, hello);
  };
  const std::string good = token(key, edge::fuzz::kHelloFuzzTenant, 3600, now - 60);
  enroll("enroll_valid", good, csr);
  enroll("enroll_expired", token(key, edge::fuzz::kHelloFuzzTenant, 60, now - 3600), csr);
  enroll("enroll_other_tenant", token(key, "other", 3600, now - 60), csr);
  enroll("enroll_other_key", token(other_key, edge::fuzz::kHelloFuzzTenant, 3600, now - 60), csr);
  std::string tampered = good;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  enroll("enroll_tampered", tampered, csr);
  enroll("enroll_bad_csr", good,
         "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
  enroll("enroll_no_csr", good, "");

  edge::wire::Hello renew = base("agent-1");
  renew.set_csr_pem(csr);
  write(dir, "renew_valid", renew);

  write(dir, "session", base("agent-1"));
  edge::wire::Hello future = base("agent-1");
  future.set_protocol_version(kProtocolVersion + 1);
  write(dir, "future_version", future);
  std::printf("wrote the fuzz_hello seeds to %s\n", dir.c_str());
  return 0;
}
