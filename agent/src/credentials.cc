// The agent's TLS identity (see credentials.h): loading and checking the CA,
// key and certificate, generating the key and CSR for enrollment, and
// storing what a gateway signed.
#include "edge/agent/credentials.h"
#include "edge/common/time_format.h"

#include <fcntl.h>
#include <mbedtls/sha256.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>

#include "edge/protocol/tls.h"

namespace edge::agent {
namespace {

int64_t currentTime(int64_t now) {
  return now != 0 ? now : static_cast<int64_t>(std::time(nullptr));
}

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string parentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string trim(std::string text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

// Creates `dir` and missing parents with mode 0700 (they hold a private key).
Result<void> makeDirs(const std::string& dir) {
  if (dir.empty() || fileExists(dir)) return okResult();
  std::string parent = parentDir(dir);
  if (parent != dir) EDGE_TRY(makeDirs(parent));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return makeError(ErrorCode::kIo, "cannot create directory " + dir + ": " +
                                         std::strerror(errno) +
                                         "; create it or point output.tls.state_dir elsewhere");
  }
  return okResult();
}

// After a rename, the directory entry must reach the disk too, or a power
// loss could bring back the old file.
void syncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

Result<void> writeAtomically(const std::string& path, std::string_view content, unsigned mode) {
  EDGE_TRY(makeDirs(parentDir(path)));
  EDGE_TRY(protocol::writeFileSecurely(path, content, mode, /*overwrite=*/true));
  syncDir(parentDir(path));
  return okResult();
}

constexpr const char* kTokenMarker = "enrolled-token.sha256";

}  // namespace

std::string tokenFingerprint(std::string_view token) {
  unsigned char digest[32];
  mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest, 0);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
  }
  return hex;
}

AgentCredentials::AgentCredentials(CredentialsOptions options) : options_(std::move(options)) {}
AgentCredentials::~AgentCredentials() = default;

Result<std::unique_ptr<AgentCredentials>> AgentCredentials::load(CredentialsOptions options,
                                                                 int64_t now_in) {
  const int64_t now = currentTime(now_in);
  std::unique_ptr<AgentCredentials> self(new AgentCredentials(std::move(options)));
  const CredentialsOptions& o = self->options_;

  auto ca = protocol::readTextFile(o.ca_path);
  if (!ca) {
    return makeError(ErrorCode::kConfig,
                     "output.tls.ca: cannot read the edge CA certificate " + o.ca_path + ": " +
                         ca.error().message +
                         "; copy ca.crt (written by `edgectl ca init`) to the agent, or set "
                         "output.tls.ca to where it is");
  }
  self->ca_pem_ = std::move(*ca);
  protocol::TlsContextOptions enroll_options;
  enroll_options.role = protocol::TlsRole::kClient;
  enroll_options.ca_cert_pem = self->ca_pem_;
  auto enroll_context = protocol::TlsContext::create(enroll_options);
  if (!enroll_context) {
    return makeError(ErrorCode::kConfig,
                     "output.tls.ca " + o.ca_path + ": " + enroll_context.error().message);
  }
  self->enrollment_context_ = std::move(*enroll_context);

  const bool have_key = fileExists(o.key_path);
  const bool have_cert = fileExists(o.cert_path);
  if (have_cert && !have_key) {
    return makeError(ErrorCode::kConfig,
                     "output.tls.cert " + o.cert_path + " exists but its private key " +
                         o.key_path +
                         " does not; install the key next to it (output.tls.key), or remove the "
                         "certificate to enroll again with a token");
  }
  if (have_key) {
    auto key = protocol::readTextFile(o.key_path);
    if (!key) {
      return makeError(ErrorCode::kConfig,
                       "output.tls.key: cannot read " + o.key_path + ": " + key.error().message);
    }
    self->key_pem_ = std::move(*key);
    struct stat st {};
    if (::stat(o.key_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      spdlog::warn("private key {} is readable by others (mode {:o}); chmod 600 it", o.key_path,
                   st.st_mode & 0777);
    }
  }
  if (have_cert) {
    auto cert = protocol::readTextFile(o.cert_path);
    if (!cert) {
      return makeError(ErrorCode::kConfig,
                       "output.tls.cert: cannot read " + o.cert_path + ": " + cert.error().message);
    }
    auto info = protocol::inspectCertificate(*cert);
    if (!info) {
      return makeError(ErrorCode::kConfig, "output.tls.cert " + o.cert_path + ": " +
                                               info.error().message +
                                               "; remove it to enroll again with a token");
    }
    if (auto identity = protocol::agentIdentityOf(*info); !identity) {
      return makeError(ErrorCode::kConfig, "output.tls.cert " + o.cert_path + ": " +
                                               identity.error().message +
                                               " (issue agent certificates with `edgectl cert "
                                               "issue --agent-id`, or enroll)");
    }
    // The chain is checked at a time inside the validity so that an expired
    // certificate is told apart from a foreign one.
    const int64_t check_at = std::clamp(now, info->not_before, info->not_after);
    if (auto verified = protocol::verifyCertificate(*cert, self->ca_pem_, check_at); !verified) {
      return makeError(ErrorCode::kConfig,
                       "output.tls.cert " + o.cert_path + " (" + info->subject +
                           ") does not chain to the CA in " + o.ca_path + ": " +
                           verified.error().message +
                           "; install the matching ca.crt, or remove the certificate and enroll");
    }
    protocol::TlsContextOptions session_options = enroll_options;
    session_options.cert_pem = *cert;
    session_options.key_pem = self->key_pem_;
    auto session_context = protocol::TlsContext::create(session_options);
    if (!session_context) {
      return makeError(ErrorCode::kConfig, "output.tls.cert " + o.cert_path + " and key " +
                                               o.key_path + ": " + session_context.error().message);
    }
    self->session_context_ = std::move(*session_context);
    self->cert_ = std::move(*info);
    if (now > self->cert_->not_after) {
      spdlog::warn(
          "the agent certificate {} ({}) expired at {}; the agent enrolls again if it has a new "
          "enrollment token",
          o.cert_path, self->cert_->subject, formatUtcTime(self->cert_->not_after));
    }
    auto marker = protocol::readTextFile(o.state_dir + "/" + kTokenMarker);
    if (marker) self->enrolled_token_hash_ = trim(*marker);
  }

  if (!self->usable(now)) {
    auto token = self->readToken();
    if (!token) return makeError(ErrorCode::kConfig, token.error().message);
    if (token->empty()) {
      return makeError(
          ErrorCode::kConfig,
          std::string(have_cert ? "the agent certificate " + o.cert_path + " has expired"
                                : "there is no agent certificate at " + o.cert_path) +
              " and no enrollment token is configured; set output.enrollment.token (or "
              "token_file) to a token from `edgectl token create`, or install a certificate from "
              "`edgectl cert issue --agent-id` as output.tls.cert/key");
    }
  }
  return self;
}

std::shared_ptr<const protocol::TlsContext> AgentCredentials::sessionContext() const {
  return session_context_;
}

std::shared_ptr<const protocol::TlsContext> AgentCredentials::enrollmentContext() const {
  return enrollment_context_;
}

const std::optional<protocol::CertificateInfo>& AgentCredentials::certificate() const {
  return cert_;
}

bool AgentCredentials::usable(int64_t now) const {
  now = currentTime(now);
  return cert_.has_value() && session_context_ != nullptr && !refused_ && now <= cert_->not_after &&
         now >= cert_->not_before;
}

int64_t AgentCredentials::renewAt() const {
  if (!cert_) return 0;
  const int64_t lifetime = std::max<int64_t>(cert_->not_after - cert_->not_before, 0);
  if (options_.renew_before_s > 0) {
    // A renew_before longer than the lifetime means "renew as soon as possible".
    return std::max(cert_->not_before, cert_->not_after - options_.renew_before_s);
  }
  const double keep = std::clamp(1.0 - options_.renew_fraction, 0.0, 1.0);
  return cert_->not_before + static_cast<int64_t>(std::floor(static_cast<double>(lifetime) * keep));
}

Result<std::string> AgentCredentials::readToken() const {
  if (!options_.token.empty()) return trim(options_.token);
  if (options_.token_file.empty()) return std::string();
  auto text = protocol::readTextFile(options_.token_file);
  if (!text) {
    return makeError(ErrorCode::kConfig, "output.enrollment.token_file: cannot read " +
                                             options_.token_file + ": " + text.error().message +
                                             "; write the token from `edgectl token create` "
                                             "there");
  }
  return trim(std::move(*text));
}

bool AgentCredentials::enrolledWith(std::string_view token) const {
  return !enrolled_token_hash_.empty() && enrolled_token_hash_ == tokenFingerprint(token);
}

Result<std::string> AgentCredentials::createCsr(const std::string& agent_id) {
  if (auto valid = protocol::validateAgentId(agent_id); !valid) {
    return makeError(ErrorCode::kConfig,
                     "cannot enroll with agent id \"" + agent_id + "\": " + valid.error().message +
                         "; set agent.id to at most 64 letters, digits, '.', '_' or '-'");
  }
  if (key_pem_.empty()) {
    auto key = protocol::generatePrivateKeyPem();
    if (!key) return key.error();
    EDGE_TRY(writeAtomically(options_.key_path, *key, 0600));
    key_pem_ = std::move(*key);
    spdlog::info(
        "generated the agent's private key {} (EC P-256, mode 0600; it never leaves "
        "this host)",
        options_.key_path);
  }
  return protocol::createCsr(key_pem_, agent_id, options_.tenant_hint);
}

Result<protocol::CertificateInfo> AgentCredentials::install(std::string_view cert_pem,
                                                            std::string_view ca_cert_pem,
                                                            const std::string& agent_id,
                                                            std::string_view token,
                                                            int64_t now_in) {
  const int64_t now = currentTime(now_in);
  auto info = protocol::inspectCertificate(cert_pem);
  if (!info) {
    return makeError(ErrorCode::kProtocol,
                     "the gateway returned an unreadable certificate: " + info.error().message);
  }
  auto identity = protocol::agentIdentityOf(*info);
  if (!identity) {
    return makeError(ErrorCode::kProtocol,
                     "the gateway returned a certificate that is not an "
                     "agent certificate: " +
                         identity.error().message);
  }
  if (identity->agent_id != agent_id) {
    return makeError(ErrorCode::kProtocol, "the gateway returned a certificate for agent \"" +
                                               identity->agent_id + "\", not for \"" + agent_id +
                                               "\"");
  }
  if (auto verified = protocol::verifyCertificate(cert_pem, ca_pem_, now); !verified) {
    std::string hint;
    if (!ca_cert_pem.empty()) {
      auto theirs = protocol::inspectCertificate(ca_cert_pem);
      if (theirs) hint = " (the gateway signs with CA " + theirs->subject + ")";
    }
    return makeError(ErrorCode::kProtocol,
                     "the certificate the gateway returned does not verify against the CA in " +
                         options_.ca_path + hint + ": " + verified.error().message +
                         "; the gateway's gateway.tls.ca and enrollment.ca_key must be this CA");
  }
  protocol::TlsContextOptions session_options;
  session_options.role = protocol::TlsRole::kClient;
  session_options.ca_cert_pem = ca_pem_;
  session_options.cert_pem = std::string(cert_pem);
  session_options.key_pem = key_pem_;
  auto context = protocol::TlsContext::create(session_options);
  if (!context) {
    return makeError(ErrorCode::kProtocol,
                     "the certificate the gateway returned does not fit the agent's key: " +
                         context.error().message);
  }
  EDGE_TRY(writeAtomically(options_.cert_path, cert_pem, 0644));
  if (!token.empty()) {
    const std::string marker = options_.state_dir + "/" + kTokenMarker;
    std::string hash = tokenFingerprint(token);
    if (auto written = writeAtomically(marker, hash + "\n", 0600); !written) {
      // The certificate is stored; only the re-enrollment guard is missing.
      spdlog::warn("cannot record which token the certificate came from: {}",
                   written.error().message);
    }
    enrolled_token_hash_ = std::move(hash);
  }
  session_context_ = std::move(*context);
  cert_ = *info;
  refused_ = false;
  return std::move(*info);
}

}  // namespace edge::agent
