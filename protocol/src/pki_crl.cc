// Revocation for the built-in PKI: a CRL writer (mbedTLS 2.28 can parse
// CRLs but has no writer, so the X.509 v2 CertificateList is assembled here
// with its ASN.1 writer and signed with the CA key), and the verified,
// swappable revocation lists that TLS contexts consult (see pki.h).
//
//   CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
//   TBSCertList ::= SEQUENCE {
//     version INTEGER (v2 = 1), signature AlgorithmIdentifier, issuer Name,
//     thisUpdate Time, nextUpdate Time,
//     revokedCertificates SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time }
//     OPTIONAL, crlExtensions [0] EXPLICIT SEQUENCE OF Extension  -- cRLNumber }
#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/x509_crl.h>

#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "edge/protocol/pki.h"
#include "pki_internal.h"

namespace edge::protocol {
namespace {

using detail::Crt;
using detail::Drbg;
using detail::mbedError;
using detail::Pk;

constexpr int64_t kDefaultCrlDays = 30;

using CrlHolder =
    detail::MbedObject<mbedtls_x509_crl, mbedtls_x509_crl_init, mbedtls_x509_crl_free>;

// Writes DER backwards into a buffer, the way mbedTLS's ASN.1 writer works.
// Sticky error: after the first failure every call is a no-op.
class DerWriter {
 public:
  explicit DerWriter(size_t capacity) : buf_(capacity) { p_ = buf_.data() + buf_.size(); }

  size_t raw(const unsigned char* data, size_t size) {
    return add(mbedtls_asn1_write_raw_buffer(&p_, buf_.data(), data, size));
  }
  // Wraps the last `content_len` bytes written in a tag + length header.
  size_t wrap(size_t content_len, unsigned char tag) {
    size_t n = add(mbedtls_asn1_write_len(&p_, buf_.data(), content_len));
    return n + add(mbedtls_asn1_write_tag(&p_, buf_.data(), tag));
  }
  size_t oid(const char* oid, size_t size) {
    return add(mbedtls_asn1_write_oid(&p_, buf_.data(), oid, size));
  }
  size_t integerBytes(std::string bytes) {
    if (bytes.empty() || (static_cast<unsigned char>(bytes[0]) & 0x80) != 0)
      bytes.insert(bytes.begin(), '\0');
    size_t n = raw(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    return n + wrap(n, MBEDTLS_ASN1_INTEGER);
  }
  size_t smallInt(int value) { return add(mbedtls_asn1_write_int(&p_, buf_.data(), value)); }
  // UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
  size_t time(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    const bool utc = tm.tm_year + 1900 < 2050;
    std::strftime(text, sizeof(text), utc ? "%y%m%d%H%M%SZ" : "%Y%m%d%H%M%SZ", &tm);
    return add(mbedtls_asn1_write_tagged_string(
        &p_, buf_.data(), utc ? MBEDTLS_ASN1_UTC_TIME : MBEDTLS_ASN1_GENERALIZED_TIME, text,
        std::strlen(text)));
  }
  size_t bitString(const unsigned char* data, size_t size) {
    return add(mbedtls_asn1_write_bitstring(&p_, buf_.data(), data, size * 8));
  }

  int error() const { return error_; }
  std::vector<unsigned char> take(size_t len) const {
    return std::vector<unsigned char>(p_, p_ + len);
  }

 private:
  size_t add(int ret) {
    if (error_ != 0) return 0;
    if (ret < 0) {
      error_ = ret;
      return 0;
    }
    return static_cast<size_t>(ret);
  }

  std::vector<unsigned char> buf_;
  unsigned char* p_;
  int error_ = 0;
};

// AlgorithmIdentifier for SHA-256 with the CA key's algorithm. ECDSA has no
// parameters (RFC 5758); RSA has NULL.
size_t writeSignatureAlgorithm(DerWriter& w, mbedtls_pk_type_t pk_type, const char* oid,
                               size_t oid_len) {
  size_t len = 0;
  if (pk_type == MBEDTLS_PK_RSA) {
    static const unsigned char kNull[] = {MBEDTLS_ASN1_NULL, 0x00};
    len += w.raw(kNull, sizeof(kNull));
  }
  len += w.oid(oid, oid_len);
  return len + w.wrap(len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
}

// `hex` is already normalized (even length, lowercase hex digits).
std::string hexToBytes(const std::string& hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>((nibble(hex[i]) << 4) | nibble(hex[i + 1]));
  return out;
}

std::string uint64Bytes(uint64_t value) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const auto byte = static_cast<char>((value >> shift) & 0xff);
    if (out.empty() && byte == 0 && shift != 0) continue;
    out += byte;
  }
  return out;
}

// The cRLNumber extension value, if present.
uint64_t readCrlNumber(const mbedtls_x509_buf& extensions) {
  if (extensions.p == nullptr || extensions.len == 0) return 0;
  unsigned char* p = extensions.p;
  const unsigned char* end = p + extensions.len;
  size_t len = 0;
  if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
    return 0;
  end = p + len;
  while (p < end) {
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
      return 0;
    const unsigned char* ext_end = p + len;
    mbedtls_x509_buf oid{};
    if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0) return 0;
    oid.p = p;
    p += oid.len;
    int critical = 0;
    if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
        mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
      return 0;
    if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0) return 0;
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_CRL_NUMBER, &oid) == 0) {
      size_t int_len = 0;
      if (mbedtls_asn1_get_tag(&p, ext_end, &int_len, MBEDTLS_ASN1_INTEGER) != 0 || int_len > 9)
        return 0;
      uint64_t value = 0;
      for (size_t i = 0; i < int_len; ++i) value = (value << 8) | p[i];
      return value;
    }
    p = const_cast<unsigned char*>(ext_end);
  }
  return 0;
}

}  // namespace

Result<std::string> writeCrlPem(const CertificateAuthority& ca,
                                const std::vector<RevokedSerial>& revoked,
                                const CrlOptions& options) {
  Crt ca_cert;
  Pk ca_key;
  EDGE_TRY(detail::parseCertificates(ca.cert_pem, ca_cert, "CA certificate"));
  EDGE_TRY(detail::parseKey(ca.key_pem, ca_key, false, "CA private key"));
  if (mbedtls_pk_check_pair(&ca_cert.get()->pk, ca_key.get()) != 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "the CA private key does not belong to the CA certificate");
  }
  const int64_t this_update = options.this_update != 0 ? options.this_update : detail::nowUnix();
  const int64_t next_update =
      options.next_update != 0 ? options.next_update : this_update + kDefaultCrlDays * 86400;
  if (next_update <= this_update)
    return makeError(ErrorCode::kInvalidArgument, "CRL nextUpdate must follow thisUpdate");

  const mbedtls_pk_type_t pk_type =
      mbedtls_pk_get_type(ca_key.get()) == MBEDTLS_PK_RSA ? MBEDTLS_PK_RSA : MBEDTLS_PK_ECDSA;
  const char* sig_oid = nullptr;
  size_t sig_oid_len = 0;
  int ret = mbedtls_oid_get_oid_by_sig_alg(pk_type, MBEDTLS_MD_SHA256, &sig_oid, &sig_oid_len);
  if (ret != 0)
    return mbedError(ErrorCode::kInternal, "looking up the CRL signature algorithm", ret);

  // tbsCertList, written back to front.
  DerWriter tbs(4096 + revoked.size() * 64);
  size_t len = 0;
  {
    size_t ext = tbs.integerBytes(uint64Bytes(options.crl_number));
    ext += tbs.wrap(ext, MBEDTLS_ASN1_OCTET_STRING);
    ext += tbs.oid(MBEDTLS_OID_CRL_NUMBER, MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER));
    ext += tbs.wrap(ext, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);  // Extension
    ext += tbs.wrap(ext, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);  // Extensions
    ext += tbs.wrap(ext, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0);
    len += ext;
  }
  if (!revoked.empty()) {
    size_t list = 0;
    for (auto it = revoked.rbegin(); it != revoked.rend(); ++it) {
      auto serial = normalizeSerialHex(it->serial_hex);
      if (!serial) return serial.error();
      size_t entry = tbs.time(it->revoked_at != 0 ? it->revoked_at : this_update);
      entry += tbs.integerBytes(hexToBytes(*serial));
      entry += tbs.wrap(entry, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
      list += entry;
    }
    list += tbs.wrap(list, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    len += list;
  }
  len += tbs.time(next_update);
  len += tbs.time(this_update);
  const mbedtls_x509_buf& issuer = ca_cert.get()->subject_raw;  // the DER Name, tag included
  len += tbs.raw(issuer.p, issuer.len);
  len += writeSignatureAlgorithm(tbs, pk_type, sig_oid, sig_oid_len);
  len += tbs.smallInt(1);  // v2
  len += tbs.wrap(len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  if (tbs.error() != 0) return mbedError(ErrorCode::kInternal, "encoding the CRL", tbs.error());
  const std::vector<unsigned char> tbs_der = tbs.take(len);

  Drbg drbg;
  EDGE_TRY(drbg.seed("edge-pki-crl"));
  unsigned char hash[32];
  ret = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), tbs_der.data(), tbs_der.size(),
                   hash);
  if (ret != 0) return mbedError(ErrorCode::kInternal, "hashing the CRL", ret);
  unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
  size_t sig_len = 0;
  ret = mbedtls_pk_sign(ca_key.get(), MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, &sig_len,
                        Drbg::random, drbg.get());
  if (ret != 0) return mbedError(ErrorCode::kInternal, "signing the CRL with the CA key", ret);

  DerWriter crl(tbs_der.size() + sig_len + 256);
  size_t total = crl.bitString(sig, sig_len);
  total += writeSignatureAlgorithm(crl, pk_type, sig_oid, sig_oid_len);
  total += crl.raw(tbs_der.data(), tbs_der.size());
  total += crl.wrap(total, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
  if (crl.error() != 0) return mbedError(ErrorCode::kInternal, "encoding the CRL", crl.error());
  const std::vector<unsigned char> der = crl.take(total);

  std::vector<unsigned char> pem(der.size() * 2 + 128);
  size_t pem_len = 0;
  ret = mbedtls_pem_write_buffer("-----BEGIN X509 CRL-----\n", "-----END X509 CRL-----\n",
                                 der.data(), der.size(), pem.data(), pem.size(), &pem_len);
  if (ret != 0) return mbedError(ErrorCode::kInternal, "encoding the CRL as PEM", ret);
  return std::string(reinterpret_cast<const char*>(pem.data()));
}

Result<RevocationList> RevocationList::fromCrl(std::string_view crl_text,
                                               std::string_view ca_cert_pem) {
  Crt ca;
  EDGE_TRY(detail::parseCertificates(ca_cert_pem, ca, "CA certificate"));
  CrlHolder crl;
  std::string copy(crl_text);
  const bool is_pem = copy.find("-----BEGIN ") != std::string::npos;
  int ret = mbedtls_x509_crl_parse(crl.get(), reinterpret_cast<const unsigned char*>(copy.c_str()),
                                   is_pem ? copy.size() + 1 : copy.size());
  if (ret != 0) return mbedError(ErrorCode::kInvalidArgument, "not a valid X.509 CRL", ret);
  mbedtls_x509_crl* c = crl.get();
  if (c->next != nullptr && c->next->version != 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "the file holds more than one CRL; expected the one from the edge CA");
  }
  const mbedtls_x509_buf& subject = ca.get()->subject_raw;
  if (c->issuer_raw.len != subject.len ||
      std::memcmp(c->issuer_raw.p, subject.p, subject.len) != 0) {
    char issuer[512];
    mbedtls_x509_dn_gets(issuer, sizeof(issuer), &c->issuer);
    return makeError(ErrorCode::kInvalidArgument,
                     std::string("CRL was issued by \"") + issuer +
                         "\", not by this CA; use the CRL written by edgectl for this CA");
  }
  if (mbedtls_x509_crt_check_key_usage(ca.get(), MBEDTLS_X509_KU_CRL_SIGN) != 0) {
    return makeError(ErrorCode::kInvalidArgument,
                     "the CA certificate may not sign CRLs (no cRLSign key usage)");
  }
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(c->sig_md);
  if (md == nullptr)
    return makeError(ErrorCode::kInvalidArgument, "CRL uses an unsupported signature hash");
  unsigned char hash[MBEDTLS_MD_MAX_SIZE];
  if ((ret = mbedtls_md(md, c->tbs.p, c->tbs.len, hash)) != 0)
    return mbedError(ErrorCode::kInternal, "hashing CRL", ret);
  ret = mbedtls_pk_verify_ext(c->sig_pk, c->sig_opts, &ca.get()->pk, c->sig_md, hash,
                              mbedtls_md_get_size(md), c->sig.p, c->sig.len);
  if (ret != 0) {
    return mbedError(ErrorCode::kCorrupt,
                     "CRL signature does not verify with the CA key (tampered or another CA's)",
                     ret);
  }
  RevocationList list;
  for (const mbedtls_x509_crl_entry* e = &c->entry; e != nullptr; e = e->next) {
    if (e->serial.p == nullptr || e->serial.len == 0) continue;
    list.serials_.insert(detail::serialHex(e->serial.p, e->serial.len));
  }
  list.this_update_ = detail::toUnix(c->this_update);
  list.next_update_ = detail::toUnix(c->next_update);
  list.crl_number_ = readCrlNumber(c->crl_ext);
  return list;
}

RevocationStore::RevocationStore(std::string ca_cert_pem) : ca_cert_pem_(std::move(ca_cert_pem)) {}

Result<void> RevocationStore::reloadFile(const std::string& crl_path) {
  auto text = readTextFile(crl_path);
  if (!text) return text.error();
  auto list = RevocationList::fromCrl(*text, ca_cert_pem_);
  if (!list) return makeError(list.error().code, crl_path + ": " + list.error().message);
  set(std::make_shared<const RevocationList>(std::move(*list)));
  return okResult();
}

void RevocationStore::set(std::shared_ptr<const RevocationList> list) {
  std::lock_guard<std::mutex> lock(mutex_);
  list_ = std::move(list);
}

std::shared_ptr<const RevocationList> RevocationStore::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return list_;
}

bool RevocationStore::isRevoked(std::string_view serial_hex) const {
  auto list = current();
  return list != nullptr && list->isRevoked(serial_hex);
}

}  // namespace edge::protocol
