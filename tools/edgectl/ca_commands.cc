// edgectl ca / cert / token: the built-in certificate authority on top of
// edge_security's PKI helpers. Every command says which files it wrote,
// their mode and what they are for, and never replaces a file without
// --force. Layout of a CA directory (see docs/security.md):
//   ca.key (0600)  ca.crt (0644)  token.key (0600)  serials.db (0600)  revoked.crl (0644)
#include "ca_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "edge/protocol/enrollment_token.h"
#include "edge/common/time_format.h"
#include "edge/protocol/pki.h"

namespace edge::ctl {

namespace pki = edge::protocol;

struct CaCommands::Options {
  CLI::App* ca_init = nullptr;
  CLI::App* cert_issue = nullptr;
  CLI::App* cert_revoke = nullptr;
  CLI::App* token_create = nullptr;

  std::string dir;
  std::string name = "edge CA";
  int64_t days = 0;
  int64_t crl_days = 365;
  bool force = false;
  std::string cn;
  std::vector<std::string> sans;
  std::string agent_id;
  std::string tenant;
  std::string out_dir;
  std::string not_before;
  std::string not_after;
  std::string serial;
  std::string cert_file;
  std::string reason = "unspecified";
  std::string ttl = "1h";
  uint32_t uses = 1;
};

namespace {

constexpr const char* kCaKey = "ca.key";
constexpr const char* kCaCert = "ca.crt";
constexpr const char* kTokenKey = "token.key";
constexpr const char* kSerials = "serials.db";
constexpr const char* kCrl = "revoked.crl";
constexpr int64_t kMaxTokenTtl = 30 * 86400;

std::string join(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string modeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "????";
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return text;
}

int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

int fail(const std::string& message) {
  std::fprintf(stderr, "edgectl: %s\n", message.c_str());
  return 1;
}

// One line per file written: path, actual mode on disk, purpose.
struct Written {
  std::string path;
  std::string purpose;
};

void printWritten(const std::vector<Written>& files) {
  size_t width = 0;
  for (const auto& f : files) width = std::max(width, f.path.size());
  for (const auto& f : files) {
    std::printf("  %-*s  %s  %s\n", static_cast<int>(width), f.path.c_str(), modeOf(f.path).c_str(),
                f.purpose.c_str());
  }
}

// Creates `dir` (mode 0700) and any missing parents.
Result<void> ensureDir(const std::string& dir) {
  std::error_code ec;
  const auto parent = std::filesystem::path(dir).lexically_normal().parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return okResult();
    return makeError(ErrorCode::kInvalidArgument, dir + " exists and is not a directory");
  }
  return makeError(ErrorCode::kIo, dir + ": cannot create directory: " + std::strerror(errno));
}

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ", UTC.
Result<int64_t> parseTime(const std::string& text, const char* flag) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') {
    tm = std::tm{};
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  }
  if (end == nullptr || *end != '\0') {
    return makeError(
        ErrorCode::kInvalidArgument,
        std::string(flag) + " \"" + text + "\": expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)");
  }
  return static_cast<int64_t>(timegm(&tm));
}

// "90s", "30m", "1h", "7d".
Result<int64_t> parseDuration(const std::string& text) {
  if (text.size() < 2)
    return makeError(ErrorCode::kInvalidArgument,
                     "--ttl \"" + text + "\": expected e.g. 30m, 1h, 7d");
  const char unit = text.back();
  const std::string number = text.substr(0, text.size() - 1);
  if (number.find_first_not_of("0123456789") != std::string::npos || number.size() > 9) {
    return makeError(ErrorCode::kInvalidArgument,
                     "--ttl \"" + text + "\": expected e.g. 30m, 1h, 7d");
  }
  const int64_t n = std::stoll(number);
  switch (unit) {
    case 's':
      return n;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    default:
      return makeError(ErrorCode::kInvalidArgument,
                       "--ttl \"" + text + "\": the unit must be s, m, h or d");
  }
}

struct LoadedCa {
  pki::CertificateAuthority ca;
  pki::CertificateInfo info;
  std::unique_ptr<pki::CertificateRegistry> registry;
};

Result<LoadedCa> loadCa(const std::string& dir) {
  LoadedCa out;
  auto cert = pki::readTextFile(join(dir, kCaCert));
  if (!cert)
    return makeError(
        cert.error().code,
        cert.error().message + " (is --ca-dir a directory made by `edgectl ca init`?)");
  auto key = pki::readTextFile(join(dir, kCaKey));
  if (!key) return key.error();
  out.ca.cert_pem = std::move(*cert);
  out.ca.key_pem = std::move(*key);
  auto info = pki::inspectCertificate(out.ca.cert_pem);
  if (!info) return makeError(info.error().code, join(dir, kCaCert) + ": " + info.error().message);
  out.info = std::move(*info);
  auto registry = pki::CertificateRegistry::open(join(dir, kSerials), false);
  if (!registry) return registry.error();
  out.registry = std::move(*registry);
  return out;
}

// Rewrites the CA's CRL from the registry.
Result<pki::RevocationList> writeCrl(LoadedCa& loaded, const std::string& dir, int64_t crl_days) {
  auto revoked = loaded.registry->revoked();
  if (!revoked) return revoked.error();
  auto number = loaded.registry->nextCrlNumber();
  if (!number) return number.error();
  pki::CrlOptions options;
  options.this_update = now();
  options.next_update = options.this_update + crl_days * 86400;
  options.crl_number = *number;
  auto pem = pki::writeCrlPem(loaded.ca, *revoked, options);
  if (!pem) return pem.error();
  EDGE_TRY(pki::writeFileSecurely(join(dir, kCrl), *pem, 0644, true));
  return pki::RevocationList::fromCrl(*pem, loaded.ca.cert_pem);
}

int runCaInit(const CaCommands::Options& o) {
  const int64_t days = o.days > 0 ? o.days : 3650;
  const std::vector<std::string> names = {kCaKey, kCaCert, kTokenKey, kSerials, kCrl};
  if (!o.force) {
    for (const auto& name : names) {
      const std::string path = join(o.dir, name);
      if (exists(path)) {
        return fail(
            path +
            " already exists; refusing to replace an existing CA. Pass --force to create a new CA "
            "(every certificate and token the old one issued stops working)");
      }
    }
  }
  if (auto r = ensureDir(o.dir); !r) return fail(r.error().message);

  auto key = pki::generatePrivateKeyPem();
  if (!key) return fail(key.error().message);
  pki::CaOptions ca_options;
  ca_options.name = o.name;
  ca_options.days = days;
  auto ca_cert = pki::createCaCertificate(*key, ca_options);
  if (!ca_cert) return fail(ca_cert.error().message);
  auto token_key = pki::TokenKey::generate();
  if (!token_key) return fail(token_key.error().message);

  // Key first: if anything after it fails, no certificate exists without its key.
  if (auto r = pki::writeFileSecurely(join(o.dir, kCaKey), *key, 0600, o.force); !r)
    return fail(r.error().message);
  if (auto r = pki::writeFileSecurely(join(o.dir, kCaCert), ca_cert->cert_pem, 0644, o.force); !r) {
    return fail(r.error().message);
  }
  if (auto r = token_key->saveFile(join(o.dir, kTokenKey), o.force); !r)
    return fail(r.error().message);
  if (o.force) ::unlink(join(o.dir, kSerials).c_str());  // a new CA starts a new registry
  auto registry = pki::CertificateRegistry::open(join(o.dir, kSerials), true);
  if (!registry) return fail(registry.error().message);
  if (auto r = (*registry)->recordIssued(ca_cert->info, "ca", now()); !r)
    return fail(r.error().message);

  LoadedCa loaded;
  loaded.ca.cert_pem = ca_cert->cert_pem;
  loaded.ca.key_pem = *key;
  loaded.info = ca_cert->info;
  loaded.registry = std::move(*registry);
  auto crl = writeCrl(loaded, o.dir, o.crl_days);
  if (!crl) return fail(crl.error().message);

  std::printf("Created CA \"%s\" in %s, valid until %s, serial %s\n", o.name.c_str(), o.dir.c_str(),
              formatUtcTime(ca_cert->info.not_after).c_str(), ca_cert->info.serial_hex.c_str());
  printWritten({
      {join(o.dir, kCaKey),
       "CA private key (EC P-256): signs certificates and CRLs; only gateways that sign "
       "enrollments get a copy"},
      {join(o.dir, kCaCert),
       "CA certificate: install on every agent and gateway as the trust anchor"},
      {join(o.dir, kTokenKey),
       "enrollment token secret: copy to every gateway (private, keep 0600)"},
      {join(o.dir, kSerials), "registry of issued and revoked serials (SQLite)"},
      {join(o.dir, kCrl), "revocation list (empty), next update " + formatUtcTime(crl->nextUpdate()) +
                              ": copy to every gateway"},
  });
  std::printf(
      "Next: edgectl cert issue --ca-dir %s --cn gw-1 --san DNS:gw-1.example.com --san IP:10.0.0.1 "
      "--out-dir <dir>\n",
      o.dir.c_str());
  return 0;
}

int runCertIssue(const CaCommands::Options& o) {
  const bool agent = !o.agent_id.empty();
  if (agent == !o.cn.empty()) {
    return fail(
        "cert issue: give either --cn (a gateway server certificate) or --agent-id with --tenant "
        "(an agent client certificate)");
  }
  if (agent && o.tenant.empty()) return fail("cert issue: --agent-id needs --tenant");
  if (!agent && !o.tenant.empty())
    return fail("cert issue: --tenant only applies to agent certificates (--agent-id)");
  if (agent && !o.sans.empty())
    return fail("cert issue: --san only applies to gateway certificates (--cn)");

  pki::Validity validity = pki::Validity::days(o.days > 0 ? o.days : 365, now());
  if (!o.not_before.empty()) {
    auto t = parseTime(o.not_before, "--not-before");
    if (!t) return fail(t.error().message);
    validity.not_before = *t;
  }
  if (!o.not_after.empty()) {
    auto t = parseTime(o.not_after, "--not-after");
    if (!t) return fail(t.error().message);
    validity.not_after = *t;
  }
  if (validity.not_after <= validity.not_before)
    return fail("cert issue: the validity ends before it starts");

  auto loaded = loadCa(o.dir);
  if (!loaded) return fail(loaded.error().message);
  const std::string name = agent ? o.agent_id : o.cn;
  const std::string key_path = join(o.out_dir, name + ".key");
  const std::string cert_path = join(o.out_dir, name + ".crt");
  if (!o.force) {
    for (const auto& path : {key_path, cert_path}) {
      if (exists(path)) return fail(path + " already exists; pass --force to replace it");
    }
  }

  auto key = pki::generatePrivateKeyPem();
  if (!key) return fail(key.error().message);
  Result<pki::IssuedCertificate> issued = makeError(ErrorCode::kInternal, "not issued");
  if (agent) {
    pki::ClientCertOptions options;
    options.agent_id = o.agent_id;
    options.tenant = o.tenant;
    options.validity = validity;
    issued = pki::issueAgentCertificate(loaded->ca, *key, options);
  } else {
    pki::ServerCertOptions options;
    options.common_name = o.cn;
    options.validity = validity;
    for (const auto& san : o.sans) {
      if (san.rfind("DNS:", 0) == 0) {
        options.dns_names.push_back(san.substr(4));
      } else if (san.rfind("IP:", 0) == 0) {
        options.ip_addresses.push_back(san.substr(3));
      } else {
        return fail("--san \"" + san + "\": write DNS:name or IP:address");
      }
    }
    issued = pki::issueServerCertificate(loaded->ca, *key, options);
  }
  if (!issued) return fail(issued.error().message);

  if (auto r = ensureDir(o.out_dir); !r) return fail(r.error().message);
  if (auto r = pki::writeFileSecurely(key_path, *key, 0600, o.force); !r)
    return fail(r.error().message);
  if (auto r = pki::writeFileSecurely(cert_path, issued->cert_pem, 0644, o.force); !r)
    return fail(r.error().message);
  if (auto r = loaded->registry->recordIssued(issued->info, agent ? "agent" : "gateway", now());
      !r) {
    return fail(r.error().message);
  }

  const auto& info = issued->info;
  std::printf("Issued %s certificate %s\n  serial %s, valid %s .. %s\n",
              agent ? "agent" : "gateway", info.subject.c_str(), info.serial_hex.c_str(),
              formatUtcTime(info.not_before).c_str(), formatUtcTime(info.not_after).c_str());
  if (!agent) {
    std::string sans;
    for (const auto& d : info.dns_names)
      sans += (sans.empty() ? "" : ", ") + std::string("DNS:") + d;
    for (const auto& ip : info.ip_addresses)
      sans += (sans.empty() ? "" : ", ") + std::string("IP:") + ip;
    std::printf("  SANs: %s\n", sans.c_str());
  }
  if (info.not_after < now()) {
    std::fprintf(stderr,
                 "edgectl: warning: this certificate expired at %s (as --not-after asked)\n",
                 formatUtcTime(info.not_after).c_str());
  }
  printWritten({
      {key_path, agent ? "agent private key: install on that agent only"
                       : "gateway private key: install on that "
                         "gateway only (tls.key)"},
      {cert_path, agent ? "agent certificate (CN=agent id, O=tenant)"
                        : "gateway server certificate (tls.cert)"},
  });
  std::printf("Peers verify it against %s\n", join(o.dir, kCaCert).c_str());
  return 0;
}

int runCertRevoke(const CaCommands::Options& o) {
  if (o.serial.empty() == o.cert_file.empty())
    return fail("cert revoke: give exactly one of --serial and --cert");
  auto loaded = loadCa(o.dir);
  if (!loaded) return fail(loaded.error().message);
  std::string serial;
  std::string subject;
  if (!o.cert_file.empty()) {
    auto pem = pki::readTextFile(o.cert_file);
    if (!pem) return fail(pem.error().message);
    auto info = pki::inspectCertificate(*pem);
    if (!info) return fail(o.cert_file + ": " + info.error().message);
    // Chain check at a moment inside its validity: an expired certificate can still be revoked.
    if (auto r = pki::verifyCertificate(*pem, loaded->ca.cert_pem, info->not_before + 1); !r) {
      return fail(o.cert_file + " was not issued by the CA in " + o.dir + ": " + r.error().message);
    }
    serial = info->serial_hex;
    subject = info->subject;
  } else {
    auto normalized = pki::normalizeSerialHex(o.serial);
    if (!normalized) return fail(normalized.error().message);
    serial = *normalized;
  }
  if (serial == loaded->info.serial_hex)
    return fail("refusing to revoke the CA's own certificate; create a new CA");

  auto known = loaded->registry->find(serial);
  if (!known) return fail(known.error().message);
  auto revoked = loaded->registry->revoke(serial, o.reason, now());
  if (!revoked) return fail(revoked.error().message);
  auto crl = writeCrl(*loaded, o.dir, o.crl_days);
  if (!crl) return fail(crl.error().message);

  if (subject.empty() && known->has_value()) subject = (*known)->subject;
  if (*revoked) {
    std::printf("Revoked serial %s%s\n", serial.c_str(),
                subject.empty() ? "" : (" (" + subject + ")").c_str());
  } else {
    std::printf("Serial %s was already revoked; the CRL was rewritten anyway\n", serial.c_str());
  }
  if (!known->has_value()) {
    std::printf(
        "  note: this CA's registry has no record of the serial (issued by a gateway during "
        "enrollment, "
        "or a typo?); it is on the CRL regardless\n");
  }
  printWritten(
      {{join(o.dir, kCrl), "revocation list: " + std::to_string(crl->size()) +
                               " serial(s), CRL number " + std::to_string(crl->crlNumber()) +
                               ", next update " + formatUtcTime(crl->nextUpdate())}});
  std::printf(
      "Copy %s to every gateway; they reload it without a restart and disconnect the revoked "
      "agent.\n",
      join(o.dir, kCrl).c_str());
  return 0;
}

int runTokenCreate(const CaCommands::Options& o) {
  auto ttl = parseDuration(o.ttl);
  if (!ttl) return fail(ttl.error().message);
  if (*ttl <= 0 || *ttl > kMaxTokenTtl) {
    return fail("--ttl " + o.ttl + ": enrollment tokens are short-lived; use at most 30d");
  }
  if (o.uses == 0) return fail("--uses must be at least 1");
  auto key = pki::TokenKey::loadFile(join(o.dir, kTokenKey));
  if (!key) return fail(key.error().message);
  auto token = pki::newEnrollmentToken(o.tenant, *ttl, o.uses, now());
  if (!token) return fail(token.error().message);
  auto text = pki::encodeEnrollmentToken(*key, *token);
  if (!text) return fail(text.error().message);
  // The token alone on stdout, so that scripts can capture it; the rest on stderr.
  std::printf("%s\n", text->c_str());
  std::fflush(stdout);
  std::fprintf(stderr,
               "Enrollment token %s for tenant \"%s\": %u use(s), expires %s (token key %s).\n"
               "No file was written. Give it to the agent (enrollment.token); it is a secret until "
               "it expires.\n",
               token->id.substr(0, 8).c_str(), token->tenant.c_str(), token->max_uses,
               formatUtcTime(token->expires_at).c_str(), key->fingerprint().c_str());
  return 0;
}

}  // namespace

CaCommands::CaCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  auto* ca = app.add_subcommand("ca", "The built-in certificate authority");
  ca->require_subcommand(1);
  o.ca_init = ca->add_subcommand(
      "init", "Create a CA: key, certificate, token secret, serial registry, CRL");
  o.ca_init->add_option("--dir", o.dir, "Directory for the CA files (created with mode 0700)")
      ->required();
  o.ca_init->add_option("--name", o.name, "The CA's common name");
  o.ca_init->add_option("--days", o.days, "Validity of the CA certificate in days (default 3650)")
      ->check(CLI::Range(1, 36500));
  o.ca_init->add_option("--crl-days", o.crl_days, "Days until the CRL's next update")
      ->check(CLI::Range(1, 3650));
  o.ca_init->add_flag("--force", o.force, "Replace an existing CA in --dir");

  auto* cert = app.add_subcommand("cert", "Issue and revoke certificates");
  cert->require_subcommand(1);
  o.cert_issue =
      cert->add_subcommand("issue", "Issue a gateway server certificate (or an agent certificate)");
  o.cert_issue->add_option("--ca-dir", o.dir, "The CA directory")->required();
  o.cert_issue->add_option("--cn", o.cn, "Gateway name (subject CN)");
  o.cert_issue->add_option("--san", o.sans,
                           "DNS:name or IP:address the gateway is reached at (repeatable)");
  o.cert_issue->add_option("--agent-id", o.agent_id,
                           "Issue an agent client certificate for this agent id");
  o.cert_issue->add_option("--tenant", o.tenant, "The agent's tenant (with --agent-id)");
  o.cert_issue->add_option("--out-dir", o.out_dir, "Where to write <name>.key and <name>.crt")
      ->required();
  o.cert_issue->add_option("--days", o.days, "Validity in days (default 365)")
      ->check(CLI::Range(1, 3650));
  o.cert_issue->add_option("--not-before", o.not_before,
                           "Start of validity, YYYY-MM-DD[THH:MM:SSZ] (UTC)");
  o.cert_issue->add_option("--not-after", o.not_after,
                           "End of validity, YYYY-MM-DD[THH:MM:SSZ] (UTC)");
  o.cert_issue->add_flag("--force", o.force, "Replace existing files");

  o.cert_revoke = cert->add_subcommand("revoke", "Revoke a certificate and rewrite the CRL");
  o.cert_revoke->add_option("--ca-dir", o.dir, "The CA directory")->required();
  o.cert_revoke->add_option("--serial", o.serial, "Serial number in hex (colons allowed)");
  o.cert_revoke->add_option("--cert", o.cert_file, "The certificate file to revoke");
  o.cert_revoke->add_option("--reason", o.reason, "Why (kept in the registry)");
  o.cert_revoke->add_option("--crl-days", o.crl_days, "Days until the CRL's next update")
      ->check(CLI::Range(1, 3650));

  auto* token = app.add_subcommand("token", "Enrollment tokens");
  token->require_subcommand(1);
  o.token_create =
      token->add_subcommand("create", "Create a signed, tenant-bound, expiring enrollment token");
  o.token_create->add_option("--ca-dir", o.dir, "The CA directory (reads token.key)")->required();
  o.token_create->add_option("--tenant", o.tenant, "Tenant the enrolled agents belong to")
      ->required();
  o.token_create->add_option("--ttl", o.ttl, "Lifetime: 30m, 1h, 7d (at most 30d)");
  o.token_create->add_option("--uses", o.uses, "How many agents may enroll with it")
      ->check(CLI::Range(1, 1000000));
}

CaCommands::~CaCommands() = default;

std::optional<int> CaCommands::run() const {
  const Options& o = *options_;
  if (o.ca_init->parsed()) return runCaInit(o);
  if (o.cert_issue->parsed()) return runCertIssue(o);
  if (o.cert_revoke->parsed()) return runCertRevoke(o);
  if (o.token_create->parsed()) return runTokenCreate(o);
  return std::nullopt;
}

}  // namespace edge::ctl
