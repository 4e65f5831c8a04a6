// Private helpers shared by the TLS, PKI and token code (see pki_internal.h).
#include "pki_internal.h"

#include <arpa/inet.h>
#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace edge::protocol::detail {

std::string mbedErrorText(int ret) {
  char text[200];
  mbedtls_strerror(ret, text, sizeof(text));
  char code[24];
  std::snprintf(code, sizeof(code), "-0x%04x", static_cast<unsigned>(-ret));
  return std::string(text) + " (" + code + ")";
}

Error mbedError(ErrorCode code, std::string_view what, int ret) {
  return makeError(code, std::string(what) + ": " + mbedErrorText(ret));
}

Drbg::Drbg() {
  mbedtls_entropy_init(&entropy_);
  mbedtls_ctr_drbg_init(&drbg_);
}

Drbg::~Drbg() {
  mbedtls_ctr_drbg_free(&drbg_);
  mbedtls_entropy_free(&entropy_);
}

Result<void> Drbg::seed(std::string_view personalization) {
  int ret = mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_,
                                  reinterpret_cast<const unsigned char*>(personalization.data()),
                                  personalization.size());
  if (ret != 0)
    return mbedError(ErrorCode::kInternal,
                     "seeding the random generator from the OS entropy source", ret);
  return okResult();
}

Result<std::string> Drbg::bytes(size_t count) {
  std::string out(count, '\0');
  int ret =
      mbedtls_ctr_drbg_random(&drbg_, reinterpret_cast<unsigned char*>(out.data()), out.size());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "drawing random bytes", ret);
  return out;
}

namespace {

bool looksLikePem(std::string_view text) {
  return text.find("-----BEGIN ") != std::string_view::npos;
}

}  // namespace

Result<void> parseKey(std::string_view pem, Pk& pk, bool allow_public, std::string_view what) {
  if (pem.empty())
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " is empty: expected a PEM key");
  // mbedTLS wants PEM NUL-terminated, with the NUL counted in the length.
  std::string copy(pem);
  const bool is_pem = looksLikePem(pem);
  const size_t size = is_pem ? copy.size() + 1 : copy.size();
  auto* data = reinterpret_cast<const unsigned char*>(copy.c_str());
  int ret = mbedtls_pk_parse_key(pk.get(), data, size, nullptr, 0);
  if (ret == 0) {
    wipe(copy);
    return okResult();
  }
  wipe(copy);
  if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(what) +
                         " is encrypted; edge reads unencrypted keys protected by file mode 0600");
  }
  if (allow_public) {
    mbedtls_pk_free(pk.get());
    mbedtls_pk_init(pk.get());
    std::string pub(pem);
    int pub_ret =
        mbedtls_pk_parse_public_key(pk.get(), reinterpret_cast<const unsigned char*>(pub.c_str()),
                                    is_pem ? pub.size() + 1 : pub.size());
    if (pub_ret == 0) return okResult();
  }
  return mbedError(ErrorCode::kInvalidArgument, std::string(what) + " is not a valid private key",
                   ret);
}

Result<void> parseCertificates(std::string_view pem, Crt& crt, std::string_view what) {
  if (pem.empty()) {
    return makeError(ErrorCode::kInvalidArgument,
                     std::string(what) + " is empty: expected a PEM certificate");
  }
  std::string copy(pem);
  const size_t size = looksLikePem(pem) ? copy.size() + 1 : copy.size();
  int ret =
      mbedtls_x509_crt_parse(crt.get(), reinterpret_cast<const unsigned char*>(copy.c_str()), size);
  if (ret < 0)
    return mbedError(ErrorCode::kInvalidArgument, std::string(what) + " is not a valid certificate",
                     ret);
  if (ret > 0) {
    return makeError(ErrorCode::kInvalidArgument, std::string(what) + ": " + std::to_string(ret) +
                                                      " of its certificates could not be parsed");
  }
  return okResult();
}

std::string serialHex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  size_t start = 0;
  while (start < size && data[start] == 0) ++start;
  if (start == size) return "00";
  std::string out;
  out.reserve((size - start) * 2);
  for (size_t i = start; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0xf];
  }
  return out;
}

int64_t toUnix(const mbedtls_x509_time& time) {
  if (time.year == 0) return 0;
  std::tm tm{};
  tm.tm_year = time.year - 1900;
  tm.tm_mon = time.mon - 1;
  tm.tm_mday = time.day;
  tm.tm_hour = time.hour;
  tm.tm_min = time.min;
  tm.tm_sec = time.sec;
  return static_cast<int64_t>(timegm(&tm));
}

std::string x509TimeString(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%d%H%M%S", &tm);
  return text;
}

int64_t nowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

void readSubjectAltNames(const mbedtls_x509_crt& crt, std::vector<std::string>& dns,
                         std::vector<std::string>& ips) {
  if (crt.v3_ext.p == nullptr || crt.v3_ext.len == 0) return;
  unsigned char* p = crt.v3_ext.p;
  const unsigned char* end = p + crt.v3_ext.len;
  size_t len = 0;
  // Extensions ::= SEQUENCE OF Extension (mbedTLS points v3_ext at the SEQUENCE).
  if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
    return;
  end = p + len;
  while (p < end) {
    // Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
      return;
    const unsigned char* ext_end = p + len;
    mbedtls_x509_buf oid{};
    if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0) return;
    oid.p = p;
    p += oid.len;
    int critical = 0;
    if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
        mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
      return;
    if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0) return;
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
      unsigned char* q = p;
      const unsigned char* value_end = p + len;
      size_t seq_len = 0;
      if (mbedtls_asn1_get_tag(&q, value_end, &seq_len,
                               MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return;
      const unsigned char* names_end = q + seq_len;
      while (q < names_end) {
        const unsigned char tag = *q++;
        size_t name_len = 0;
        if (mbedtls_asn1_get_len(&q, names_end, &name_len) != 0) return;
        if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
          dns.emplace_back(reinterpret_cast<const char*>(q), name_len);
        } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
                   (name_len == 4 || name_len == 16)) {
          char text[INET6_ADDRSTRLEN];
          if (inet_ntop(name_len == 4 ? AF_INET : AF_INET6, q, text, sizeof(text)) != nullptr)
            ips.emplace_back(text);
        }
        q += name_len;
      }
    }
    p = const_cast<unsigned char*>(ext_end);
  }
}

CertificateInfo describeCertificate(const mbedtls_x509_crt& crt) {
  CertificateInfo info;
  char text[1024];
  if (mbedtls_x509_dn_gets(text, sizeof(text), &crt.subject) > 0) info.subject = text;
  if (mbedtls_x509_dn_gets(text, sizeof(text), &crt.issuer) > 0) info.issuer = text;
  for (const mbedtls_x509_name* name = &crt.subject; name != nullptr; name = name->next) {
    if (name->oid.p == nullptr) continue;
    std::string value(reinterpret_cast<const char*>(name->val.p), name->val.len);
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &name->oid) == 0 && info.common_name.empty()) {
      info.common_name = value;
    } else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORGANIZATION, &name->oid) == 0 &&
               info.organization.empty()) {
      info.organization = value;
    } else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORG_UNIT, &name->oid) == 0 &&
               info.organizational_unit.empty()) {
      info.organizational_unit = value;
    }
  }
  readSubjectAltNames(crt, info.dns_names, info.ip_addresses);
  info.serial_hex = serialHex(crt.serial.p, crt.serial.len);
  info.not_before = toUnix(crt.valid_from);
  info.not_after = toUnix(crt.valid_to);
  info.is_ca = crt.ca_istrue != 0;
  return info;
}

void wipe(std::string& text) {
  if (!text.empty()) mbedtls_platform_zeroize(text.data(), text.size());
  text.clear();
}

}  // namespace edge::protocol::detail
