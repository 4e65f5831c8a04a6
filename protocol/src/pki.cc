// Keys, certificates, CSRs and identities of the built-in PKI (see pki.h),
// written with mbedTLS 2.28's x509write API. mbedTLS 2.28 has no helpers for
// the subjectAltName and extendedKeyUsage extensions, so those are encoded
// here with its ASN.1 writer.
#include "edge/protocol/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "pki_internal.h"

namespace edge::protocol {
namespace {

using detail::Crt;
using detail::Drbg;
using detail::mbedError;
using detail::Pk;

constexpr int64_t kBackdateSeconds = 300;
constexpr size_t kSerialBytes = 16;

using X509WriteCert = detail::MbedObject<mbedtls_x509write_cert, mbedtls_x509write_crt_init,
                                         mbedtls_x509write_crt_free>;
using Mpi = detail::MbedObject<mbedtls_mpi, mbedtls_mpi_init, mbedtls_mpi_free>;
using Csr = detail::MbedObject<mbedtls_x509_csr, mbedtls_x509_csr_init, mbedtls_x509_csr_free>;

// Characters that would need escaping in an mbedTLS DN string (and that no
// sane CA or gateway name contains) are refused instead of escaped.
Result<void> validateNameValue(std::string_view value, std::string_view what) {
  if (value.empty()) return makeError(ErrorCode::kInvalidArgument, std::string(what) + " is empty");
  if (value.size() > 64) {
    return makeError(ErrorCode::kInvalidArgument, std::string(what) + " \"" + std::string(value) +
                                                      "\" is longer than 64 characters");
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || std::strchr(",\\=+\"<>;#", c) != nullptr) {
      return makeError(ErrorCode::kInvalidArgument,
                       std::string(what) + " \"" + std::string(value) + "\" contains '" +
                           std::string(1, c) + "'; use letters, digits, spaces and -._:@()/");
    }
  }
  return okResult();
}

std::string dnString(std::string_view cn, std::string_view o, std::string_view ou) {
  std::string dn = "CN=" + std::string(cn);
  if (!o.empty()) dn += ",O=" + std::string(o);
  if (!ou.empty()) dn += ",OU=" + std::string(ou);
  return dn;
}

Result<void> validateIdentifier(std::string_view value, std::string_view what) {
  if (value.empty() || value.size() > 64) {
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " \"" + std::string(value) +
                         "\" must be 1-64 characters of [A-Za-z0-9._-]");
  }
  if (!std::isalnum(static_cast<unsigned char>(value[0]))) {
    return makeError(ErrorCode::kInvalidArgument, std::string(what) + " \"" + std::string(value) +
                                                      "\" must start with a letter or digit");
  }
  for (char c : value) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return makeError(ErrorCode::kInvalidArgument, std::string(what) + " \"" + std::string(value) +
                                                        "\" contains '" + std::string(1, c) +
                                                        "'; only [A-Za-z0-9._-] are allowed");
    }
  }
  return okResult();
}

Result<void> validateDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return makeError(ErrorCode::kInvalidArgument,
                     "DNS name \"" + std::string(name) + "\" must be 1-253 characters");
  }
  std::string_view rest = name;
  if (rest.substr(0, 2) == "*.")
    rest.remove_prefix(2);  // a wildcard is allowed as the whole first label
  size_t label = 0;
  for (char c : rest) {
    if (c == '.') {
      if (label == 0) break;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') {
      return makeError(ErrorCode::kInvalidArgument, "DNS name \"" + std::string(name) +
                                                        "\" contains '" + std::string(1, c) +
                                                        "'; use letters, digits, '-' and '.'");
    }
    ++label;
  }
  if (label == 0 || label > 63) {
    return makeError(ErrorCode::kInvalidArgument,
                     "DNS name \"" + std::string(name) + "\" has an empty or over-long label");
  }
  return okResult();
}

Result<std::string> ipBytes(std::string_view text) {
  std::string copy(text);
  unsigned char bytes[16];
  if (inet_pton(AF_INET, copy.c_str(), bytes) == 1)
    return std::string(reinterpret_cast<char*>(bytes), 4);
  if (inet_pton(AF_INET6, copy.c_str(), bytes) == 1)
    return std::string(reinterpret_cast<char*>(bytes), 16);
  return makeError(
      ErrorCode::kInvalidArgument,
      "\"" + copy + "\" is not an IPv4 or IPv6 address (SAN entries are DNS:name or IP:address)");
}

// GeneralNames ::= SEQUENCE OF GeneralName; dNSName [2] IA5String, iPAddress [7] OCTET STRING.
Result<std::vector<unsigned char>> encodeSubjectAltNames(const std::vector<std::string>& dns,
                                                         const std::vector<std::string>& ips) {
  struct Entry {
    unsigned char tag;
    std::string value;
  };
  std::vector<Entry> entries;
  for (const auto& name : dns) {
    EDGE_TRY(validateDnsName(name));
    entries.push_back({MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2, name});
  }
  for (const auto& ip : ips) {
    auto bytes = ipBytes(ip);
    if (!bytes) return bytes.error();
    entries.push_back({MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7, *bytes});
  }
  size_t capacity = 16;
  for (const auto& e : entries) capacity += e.value.size() + 8;
  std::vector<unsigned char> buf(capacity);
  unsigned char* start = buf.data();
  unsigned char* p = start + buf.size();
  size_t len = 0;
  int ret = 0;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    size_t entry_len = 0;
    if ((ret = mbedtls_asn1_write_raw_buffer(
             &p, start, reinterpret_cast<const unsigned char*>(it->value.data()),
             it->value.size())) < 0)
      break;
    entry_len += static_cast<size_t>(ret);
    if ((ret = mbedtls_asn1_write_len(&p, start, entry_len)) < 0) break;
    entry_len += static_cast<size_t>(ret);
    if ((ret = mbedtls_asn1_write_tag(&p, start, it->tag)) < 0) break;
    entry_len += static_cast<size_t>(ret);
    len += entry_len;
  }
  if (ret >= 0 && (ret = mbedtls_asn1_write_len(&p, start, len)) >= 0) {
    len += static_cast<size_t>(ret);
    if ((ret = mbedtls_asn1_write_tag(&p, start,
                                      MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) >= 0) {
      len += static_cast<size_t>(ret);
    }
  }
  if (ret < 0) return mbedError(ErrorCode::kInternal, "encoding subjectAltName", ret);
  return std::vector<unsigned char>(p, p + len);
}

// ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId
Result<std::vector<unsigned char>> encodeExtendedKeyUsage(const char* oid, size_t oid_len) {
  unsigned char buf[64];
  unsigned char* p = buf + sizeof(buf);
  size_t len = 0;
  int ret = mbedtls_asn1_write_oid(&p, buf, oid, oid_len);
  if (ret >= 0) {
    len += static_cast<size_t>(ret);
    ret = mbedtls_asn1_write_len(&p, buf, len);
  }
  if (ret >= 0) {
    len += static_cast<size_t>(ret);
    ret = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  }
  if (ret < 0) return mbedError(ErrorCode::kInternal, "encoding extendedKeyUsage", ret);
  len += static_cast<size_t>(ret);
  return std::vector<unsigned char>(p, p + len);
}

Result<std::string> randomSerial(Drbg& drbg, Mpi& serial) {
  auto bytes = drbg.bytes(kSerialBytes);
  if (!bytes) return bytes.error();
  // Positive, and always 16 bytes long: 127 random bits.
  (*bytes)[0] = static_cast<char>((static_cast<unsigned char>((*bytes)[0]) & 0x7f) | 0x40);
  int ret = mbedtls_mpi_read_binary(
      serial.get(), reinterpret_cast<const unsigned char*>(bytes->data()), bytes->size());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "creating a serial number", ret);
  return detail::serialHex(reinterpret_cast<const unsigned char*>(bytes->data()), bytes->size());
}

struct CertSpec {
  std::string subject;
  std::string issuer;
  Validity validity;
  bool is_ca = false;
  unsigned key_usage = 0;
  const char* eku_oid = nullptr;
  size_t eku_oid_len = 0;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

Result<IssuedCertificate> writeCertificate(mbedtls_pk_context* subject_key,
                                           mbedtls_pk_context* issuer_key, const CertSpec& spec,
                                           const mbedtls_x509_crt* issuer_cert) {
  if (spec.validity.not_after <= spec.validity.not_before) {
    return makeError(ErrorCode::kInvalidArgument, "certificate validity ends before it starts");
  }
  Drbg drbg;
  EDGE_TRY(drbg.seed("edge-pki-issue"));
  X509WriteCert crt;
  mbedtls_x509write_crt_set_version(crt.get(), MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(crt.get(), MBEDTLS_MD_SHA256);
  Mpi serial;
  auto serial_hex = randomSerial(drbg, serial);
  if (!serial_hex) return serial_hex.error();
  int ret = mbedtls_x509write_crt_set_serial(crt.get(), serial.get());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "setting the serial number", ret);
  const std::string not_before = detail::x509TimeString(spec.validity.not_before);
  const std::string not_after = detail::x509TimeString(spec.validity.not_after);
  if ((ret = mbedtls_x509write_crt_set_validity(crt.get(), not_before.c_str(),
                                                not_after.c_str())) != 0) {
    return mbedError(ErrorCode::kInvalidArgument,
                     "setting the validity " + not_before + ".." + not_after, ret);
  }
  if ((ret = mbedtls_x509write_crt_set_subject_name(crt.get(), spec.subject.c_str())) != 0) {
    return mbedError(ErrorCode::kInvalidArgument, "subject \"" + spec.subject + "\"", ret);
  }
  if ((ret = mbedtls_x509write_crt_set_issuer_name(crt.get(), spec.issuer.c_str())) != 0) {
    return mbedError(ErrorCode::kInvalidArgument, "issuer \"" + spec.issuer + "\"", ret);
  }
  mbedtls_x509write_crt_set_subject_key(crt.get(), subject_key);
  mbedtls_x509write_crt_set_issuer_key(crt.get(), issuer_key);
  if ((ret = mbedtls_x509write_crt_set_basic_constraints(crt.get(), spec.is_ca ? 1 : 0,
                                                         spec.is_ca ? 0 : -1)) != 0 ||
      (ret = mbedtls_x509write_crt_set_subject_key_identifier(crt.get())) != 0 ||
      (ret = mbedtls_x509write_crt_set_authority_key_identifier(crt.get())) != 0 ||
      (ret = mbedtls_x509write_crt_set_key_usage(crt.get(), spec.key_usage)) != 0) {
    return mbedError(ErrorCode::kInternal, "writing certificate extensions", ret);
  }
  if (spec.eku_oid != nullptr) {
    auto eku = encodeExtendedKeyUsage(spec.eku_oid, spec.eku_oid_len);
    if (!eku) return eku.error();
    ret = mbedtls_x509write_crt_set_extension(crt.get(), MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                              eku->data(), eku->size());
    if (ret != 0) return mbedError(ErrorCode::kInternal, "writing extendedKeyUsage", ret);
  }
  if (!spec.dns_names.empty() || !spec.ip_addresses.empty()) {
    auto san = encodeSubjectAltNames(spec.dns_names, spec.ip_addresses);
    if (!san) return san.error();
    ret = mbedtls_x509write_crt_set_extension(crt.get(), MBEDTLS_OID_SUBJECT_ALT_NAME,
                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                              san->data(), san->size());
    if (ret != 0) return mbedError(ErrorCode::kInternal, "writing subjectAltName", ret);
  }
  std::vector<unsigned char> pem(8192);
  ret = mbedtls_x509write_crt_pem(crt.get(), pem.data(), pem.size(), Drbg::random, drbg.get());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "signing the certificate", ret);

  IssuedCertificate issued;
  issued.cert_pem = reinterpret_cast<const char*>(pem.data());
  Crt parsed;
  EDGE_TRY(detail::parseCertificates(issued.cert_pem, parsed, "the certificate just issued"));
  issued.info = detail::describeCertificate(*parsed.get());
  if (issued.info.serial_hex != *serial_hex) {
    return makeError(ErrorCode::kInternal, "issued certificate has serial " +
                                               issued.info.serial_hex + ", not " + *serial_hex);
  }
  // Self-check: the certificate must chain to its issuer. Time is not the
  // point here (tests issue certificates that are already expired).
  if (issuer_cert != nullptr) {
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(parsed.get(), const_cast<mbedtls_x509_crt*>(issuer_cert), nullptr,
                            nullptr, &flags, nullptr, nullptr);
    flags &= ~static_cast<uint32_t>(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    if (flags != 0) {
      char info[512];
      mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
      return makeError(ErrorCode::kInternal,
                       std::string("issued certificate does not verify against its CA: ") + info);
    }
  }
  return issued;
}

// The CA's parsed certificate and key, checked to belong together.
struct LoadedCa {
  Crt cert;
  Pk key;
  std::string subject;
};

Result<void> loadCa(const CertificateAuthority& ca, LoadedCa& out) {
  EDGE_TRY(detail::parseCertificates(ca.cert_pem, out.cert, "CA certificate"));
  EDGE_TRY(detail::parseKey(ca.key_pem, out.key, false, "CA private key"));
  if (mbedtls_pk_check_pair(&out.cert.get()->pk, out.key.get()) != 0) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "the CA private key does not belong to the CA certificate; check ca.key and ca.crt");
  }
  if (out.cert.get()->ca_istrue == 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "the CA certificate is not a CA (basicConstraints CA:false)");
  }
  char text[1024];
  if (mbedtls_x509_dn_gets(text, sizeof(text), &out.cert.get()->subject) < 0) {
    return makeError(ErrorCode::kInvalidArgument, "cannot read the CA certificate's subject");
  }
  // dn_gets separates RDNs with ", "; mbedTLS's DN parser wants ",".
  std::string subject;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c == ',' && c[1] == ' ') {
      subject += ',';
      ++c;
    } else {
      subject += *c;
    }
  }
  out.subject = subject;
  return okResult();
}

Result<void> checkKeyStrength(mbedtls_pk_context* pk, std::string_view what) {
  const mbedtls_pk_type_t type = mbedtls_pk_get_type(pk);
  if (type == MBEDTLS_PK_ECKEY || type == MBEDTLS_PK_ECDSA) {
    const mbedtls_ecp_group_id group = mbedtls_pk_ec(*pk)->grp.id;
    if (group == MBEDTLS_ECP_DP_SECP256R1 || group == MBEDTLS_ECP_DP_SECP384R1) return okResult();
    return makeError(
        ErrorCode::kInvalidArgument,
        std::string(what) + " uses an EC curve other than P-256 or P-384; generate a P-256 key");
  }
  if (type == MBEDTLS_PK_RSA) {
    if (mbedtls_pk_get_bitlen(pk) >= 2048) return okResult();
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " is an RSA key shorter than 2048 bits");
  }
  return makeError(ErrorCode::kInvalidArgument,
                   std::string(what) + " is neither an EC nor an RSA key");
}

Result<IssuedCertificate> issueAgent(const CertificateAuthority& ca,
                                     mbedtls_pk_context* subject_key,
                                     const ClientCertOptions& options) {
  EDGE_TRY(validateAgentId(options.agent_id));
  EDGE_TRY(validateTenant(options.tenant));
  EDGE_TRY(checkKeyStrength(subject_key, "the agent's key"));
  LoadedCa loaded;
  EDGE_TRY(loadCa(ca, loaded));
  CertSpec spec;
  spec.subject = dnString(options.agent_id, options.tenant, kAgentOrganizationalUnit);
  spec.issuer = loaded.subject;
  spec.validity = options.validity;
  spec.key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  spec.eku_oid = MBEDTLS_OID_CLIENT_AUTH;
  spec.eku_oid_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
  return writeCertificate(subject_key, loaded.key.get(), spec, loaded.cert.get());
}

}  // namespace

Validity Validity::days(int64_t days, int64_t now) {
  return Validity{now - kBackdateSeconds, now + days * 86400};
}

Result<std::string> generatePrivateKeyPem() {
  Drbg drbg;
  EDGE_TRY(drbg.seed("edge-pki-keygen"));
  Pk pk;
  int ret = mbedtls_pk_setup(pk.get(), mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (ret == 0)
    ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk.get()), Drbg::random,
                              drbg.get());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "generating an EC P-256 key", ret);
  std::array<unsigned char, 1024> pem{};
  ret = mbedtls_pk_write_key_pem(pk.get(), pem.data(), pem.size());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "encoding the private key", ret);
  std::string out(reinterpret_cast<const char*>(pem.data()));
  mbedtls_platform_zeroize(pem.data(), pem.size());
  return out;
}

Result<std::string> publicKeyPem(std::string_view private_key_pem) {
  Pk pk;
  EDGE_TRY(detail::parseKey(private_key_pem, pk, true, "key"));
  std::array<unsigned char, 2048> pem{};
  int ret = mbedtls_pk_write_pubkey_pem(pk.get(), pem.data(), pem.size());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "encoding the public key", ret);
  return std::string(reinterpret_cast<const char*>(pem.data()));
}

Result<IssuedCertificate> createCaCertificate(std::string_view key_pem, const CaOptions& options) {
  EDGE_TRY(validateNameValue(options.name, "CA name"));
  if (options.days <= 0)
    return makeError(ErrorCode::kInvalidArgument, "CA validity must be at least 1 day");
  Pk key;
  EDGE_TRY(detail::parseKey(key_pem, key, false, "CA private key"));
  EDGE_TRY(checkKeyStrength(key.get(), "the CA key"));
  CertSpec spec;
  spec.subject = dnString(options.name, kEdgeOrganization, kCaOrganizationalUnit);
  spec.issuer = spec.subject;
  spec.validity = Validity::days(options.days, options.now != 0 ? options.now : detail::nowUnix());
  spec.is_ca = true;
  spec.key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
  return writeCertificate(key.get(), key.get(), spec, nullptr);
}

Result<IssuedCertificate> issueServerCertificate(const CertificateAuthority& ca,
                                                 std::string_view subject_key_pem,
                                                 const ServerCertOptions& options) {
  EDGE_TRY(validateNameValue(options.common_name, "server certificate CN"));
  if (options.dns_names.empty() && options.ip_addresses.empty()) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "a server certificate needs at least one SAN (DNS:name or IP:address): clients check the "
        "address they connect to against the SANs");
  }
  Pk subject_key;
  EDGE_TRY(detail::parseKey(subject_key_pem, subject_key, true, "server key"));
  EDGE_TRY(checkKeyStrength(subject_key.get(), "the server key"));
  LoadedCa loaded;
  EDGE_TRY(loadCa(ca, loaded));
  CertSpec spec;
  spec.subject = dnString(options.common_name, kEdgeOrganization, kGatewayOrganizationalUnit);
  spec.issuer = loaded.subject;
  spec.validity = options.validity;
  spec.key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE;
  spec.eku_oid = MBEDTLS_OID_SERVER_AUTH;
  spec.eku_oid_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
  spec.dns_names = options.dns_names;
  spec.ip_addresses = options.ip_addresses;
  return writeCertificate(subject_key.get(), loaded.key.get(), spec, loaded.cert.get());
}

Result<std::string> createCsr(std::string_view key_pem, std::string_view agent_id,
                              std::string_view tenant_hint) {
  EDGE_TRY(validateAgentId(agent_id));
  if (!tenant_hint.empty()) EDGE_TRY(validateTenant(tenant_hint));
  Pk key;
  EDGE_TRY(detail::parseKey(key_pem, key, false, "agent private key"));
  Drbg drbg;
  EDGE_TRY(drbg.seed("edge-pki-csr"));
  mbedtls_x509write_csr csr;
  mbedtls_x509write_csr_init(&csr);
  const std::string subject = dnString(agent_id, tenant_hint, kAgentOrganizationalUnit);
  int ret = mbedtls_x509write_csr_set_subject_name(&csr, subject.c_str());
  std::vector<unsigned char> pem(4096);
  if (ret == 0) {
    mbedtls_x509write_csr_set_key(&csr, key.get());
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    ret = mbedtls_x509write_csr_pem(&csr, pem.data(), pem.size(), Drbg::random, drbg.get());
  }
  mbedtls_x509write_csr_free(&csr);
  if (ret != 0) return mbedError(ErrorCode::kInternal, "writing the CSR", ret);
  return std::string(reinterpret_cast<const char*>(pem.data()));
}

namespace {

// Parses a CSR and checks proof of possession and key strength.
Result<void> parseCsr(std::string_view csr_pem, Csr& csr) {
  if (csr_pem.empty() || csr_pem.size() > 16384) {
    return makeError(ErrorCode::kInvalidArgument, "CSR is empty or larger than 16 KiB");
  }
  std::string copy(csr_pem);
  const bool is_pem = copy.find("-----BEGIN ") != std::string::npos;
  int ret = mbedtls_x509_csr_parse(csr.get(), reinterpret_cast<const unsigned char*>(copy.c_str()),
                                   is_pem ? copy.size() + 1 : copy.size());
  if (ret != 0)
    return mbedError(ErrorCode::kInvalidArgument, "CSR is not a valid PKCS#10 request", ret);
  // Proof of possession: the CSR must be signed by the key it carries.
  mbedtls_x509_csr* c = csr.get();
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(c->sig_md);
  if (md == nullptr || c->sig_md == MBEDTLS_MD_SHA1 || c->sig_md == MBEDTLS_MD_MD5) {
    return makeError(ErrorCode::kInvalidArgument,
                     "CSR is signed with an unsupported or weak hash; use SHA-256");
  }
  unsigned char hash[MBEDTLS_MD_MAX_SIZE];
  if ((ret = mbedtls_md(md, c->cri.p, c->cri.len, hash)) != 0)
    return mbedError(ErrorCode::kInternal, "hashing CSR", ret);
  ret = mbedtls_pk_verify_ext(c->sig_pk, c->sig_opts, &c->pk, c->sig_md, hash,
                              mbedtls_md_get_size(md), c->sig.p, c->sig.len);
  if (ret != 0) {
    return mbedError(
        ErrorCode::kInvalidArgument,
        "CSR signature does not verify with its own public key (corrupted or forged request)", ret);
  }
  return checkKeyStrength(&c->pk, "the CSR's key");
}

}  // namespace

Result<void> checkCsr(std::string_view csr_pem) {
  Csr csr;
  return parseCsr(csr_pem, csr);
}

Result<IssuedCertificate> signAgentCsr(const CertificateAuthority& ca, std::string_view csr_pem,
                                       const ClientCertOptions& options) {
  Csr csr;
  EDGE_TRY(parseCsr(csr_pem, csr));
  return issueAgent(ca, &csr.get()->pk, options);
}

Result<IssuedCertificate> issueAgentCertificate(const CertificateAuthority& ca,
                                                std::string_view subject_key_pem,
                                                const ClientCertOptions& options) {
  Pk key;
  EDGE_TRY(detail::parseKey(subject_key_pem, key, true, "agent key"));
  return issueAgent(ca, key.get(), options);
}

Result<CertificateInfo> inspectCertificate(std::string_view cert_pem) {
  Crt crt;
  EDGE_TRY(detail::parseCertificates(cert_pem, crt, "certificate"));
  return detail::describeCertificate(*crt.get());
}

Result<void> verifyCertificate(std::string_view cert_pem, std::string_view ca_cert_pem,
                               int64_t now) {
  Crt crt;
  Crt ca;
  EDGE_TRY(detail::parseCertificates(cert_pem, crt, "certificate"));
  EDGE_TRY(detail::parseCertificates(ca_cert_pem, ca, "CA certificate"));
  uint32_t flags = 0;
  mbedtls_x509_crt_verify(crt.get(), ca.get(), nullptr, nullptr, &flags, nullptr, nullptr);
  // mbedTLS checks time against the system clock; check against `now` instead.
  flags &= ~static_cast<uint32_t>(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
  if (flags != 0) {
    char info[512];
    mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
    return makeError(ErrorCode::kInvalidArgument,
                     std::string("certificate does not verify against the CA: ") + info);
  }
  const CertificateInfo info = detail::describeCertificate(*crt.get());
  const int64_t t = now != 0 ? now : detail::nowUnix();
  if (t > info.not_after) {
    return makeError(ErrorCode::kTimeout, "certificate " + info.subject + " expired at " +
                                              detail::x509TimeString(info.not_after) + "Z");
  }
  if (t < info.not_before) {
    return makeError(ErrorCode::kTimeout, "certificate " + info.subject + " is not valid before " +
                                              detail::x509TimeString(info.not_before) + "Z");
  }
  return okResult();
}

Result<AgentIdentity> agentIdentityOf(const CertificateInfo& cert) {
  if (cert.organizational_unit != kAgentOrganizationalUnit) {
    return makeError(ErrorCode::kInvalidArgument,
                     "certificate " + cert.subject + " is not an agent certificate (OU is \"" +
                         cert.organizational_unit + "\", expected \"edge-agent\")");
  }
  EDGE_TRY(validateAgentId(cert.common_name));
  EDGE_TRY(validateTenant(cert.organization));
  return AgentIdentity{cert.common_name, cert.organization};
}

Result<void> validateAgentId(std::string_view agent_id) {
  return validateIdentifier(agent_id, "agent id");
}

Result<void> validateTenant(std::string_view tenant) {
  return validateIdentifier(tenant, "tenant");
}

Result<std::string> normalizeSerialHex(std::string_view serial) {
  std::string hex;
  std::string_view rest = serial;
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front())))
    rest.remove_prefix(1);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back())))
    rest.remove_suffix(1);
  if (rest.size() > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X'))
    rest.remove_prefix(2);
  for (char c : rest) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return makeError(
          ErrorCode::kInvalidArgument,
          "serial \"" + std::string(serial) + "\" is not hexadecimal (e.g. 4f:1a:... or 4f1a...)");
    }
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (hex.empty() || hex.size() > 64) {
    return makeError(ErrorCode::kInvalidArgument,
                     "serial \"" + std::string(serial) + "\" is empty or too long");
  }
  size_t first = hex.find_first_not_of('0');
  hex = first == std::string::npos ? std::string() : hex.substr(first);
  if (hex.size() % 2 != 0) hex.insert(hex.begin(), '0');
  if (hex.empty()) hex = "00";
  return hex;
}

Result<void> writeFileSecurely(const std::string& path, std::string_view content, unsigned mode,
                               bool overwrite) {
  const auto file_mode = static_cast<mode_t>(mode);
  std::string target = path;
  std::string temp;
  int fd = -1;
  if (!overwrite) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file_mode);
    if (fd < 0 && errno == EEXIST) {
      return makeError(ErrorCode::kInvalidArgument,
                       path + " already exists; refusing to overwrite it");
    }
  } else {
    temp = path + ".tmp.XXXXXX";
    fd = ::mkstemp(temp.data());
  }
  if (fd < 0) return makeError(ErrorCode::kIo, path + ": cannot create: " + std::strerror(errno));
  auto fail = [&](const char* what) {
    const int saved = errno;
    ::close(fd);
    ::unlink(overwrite ? temp.c_str() : path.c_str());
    return makeError(ErrorCode::kIo, path + ": " + what + ": " + std::strerror(saved));
  };
  // The umask may have narrowed the mode; set exactly what was asked.
  if (::fchmod(fd, file_mode) != 0) return fail("cannot set the file mode");
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write failed");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync failed");
  if (::close(fd) != 0) {
    ::unlink(overwrite ? temp.c_str() : path.c_str());
    return makeError(ErrorCode::kIo, path + ": close failed: " + std::strerror(errno));
  }
  if (overwrite && ::rename(temp.c_str(), target.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    return makeError(ErrorCode::kIo, path + ": cannot replace: " + std::strerror(saved));
  }
  return okResult();
}

Result<std::string> readTextFile(const std::string& path) {
  constexpr size_t kMaxFile = 16u << 20;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return makeError(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                     path + ": cannot open: " + std::strerror(errno));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return makeError(ErrorCode::kIo, path + ": read failed: " + std::strerror(saved));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxFile) {
      ::close(fd);
      return makeError(ErrorCode::kTooLarge,
                       path + ": larger than 16 MiB; is this the right file?");
    }
  }
  ::close(fd);
  return out;
}

}  // namespace edge::protocol
