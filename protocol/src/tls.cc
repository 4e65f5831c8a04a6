// The TLS engine (see tls.h): mbedTLS 2.28 driven through custom BIO
// callbacks over in-memory buffers, so it never touches a socket and never
// blocks. The hardening choices (TLS 1.2 only, ECDHE+AEAD suites, curves,
// hashes, certificate profile) are fixed here, not configurable: there is
// nothing weaker that edge peers need to talk.
#include "edge/protocol/tls.h"

#include <arpa/inet.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h>  // handshake->resume; mbedTLS 2.28 has no accessor for it
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "pki_internal.h"

namespace edge::protocol {

// Defined here so that the public header stays free of mbedTLS types.
class TlsSavedSession {
 public:
  TlsSavedSession() { mbedtls_ssl_session_init(&session); }
  ~TlsSavedSession() { mbedtls_ssl_session_free(&session); }
  TlsSavedSession(const TlsSavedSession&) = delete;
  TlsSavedSession& operator=(const TlsSavedSession&) = delete;
  mbedtls_ssl_session session;
};

namespace {

// Server preference order. AES-128-GCM first: with AES-NI it is the
// cheapest and its margin is ample; ChaCha20-Poly1305 serves CPUs without
// AES instructions (small ARM boxes). RSA variants only for operators who
// bring RSA certificates; edgectl issues ECDSA P-256.
const int kCiphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

const mbedtls_ecp_group_id kCurves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

const int kSignatureHashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA512,
                                MBEDTLS_MD_NONE};

// Certificates in a chain: SHA-2 signatures, EC P-256/P-384 or RSA >= 2048.
const mbedtls_x509_crt_profile kCertProfile = {
    MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256) | MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA384) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA512),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECKEY) | MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECDSA) |
        MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_RSA),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP256R1) | MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP384R1),
    2048,
};

// A full record plus headroom: anything smaller could not hold one record.
constexpr size_t kMinBufferLimit = 32u << 10;
// Consumed input is dropped from the front of the buffer past this much.
constexpr size_t kCompactThreshold = 64u << 10;

const char* alertName(unsigned char alert) {
  switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_CLOSE_NOTIFY:
      return "close_notify";
    case MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE:
      return "unexpected_message";
    case MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC:
      return "bad_record_mac";
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
      return "handshake_failure";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
      return "bad_certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
      return "unsupported_certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
      return "certificate_revoked";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
      return "certificate_expired";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
      return "certificate_unknown";
    case MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER:
      return "illegal_parameter";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
      return "unknown_ca";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
      return "access_denied";
    case MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR:
      return "decode_error";
    case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR:
      return "decrypt_error";
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
      return "protocol_version";
    case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
      return "insufficient_security";
    case MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR:
      return "internal_error";
    case MBEDTLS_SSL_ALERT_MSG_NO_RENEGOTIATION:
      return "no_renegotiation";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_EXT:
      return "unsupported_extension";
    case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME:
      return "unrecognized_name";
    default:
      return "unknown";
  }
}

// Hints for the alerts a refused peer most often gets.
const char* alertHint(unsigned char alert) {
  switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
      return ": the peer does not accept our certificate (issued by another CA, or not an "
             "agent/gateway "
             "certificate?)";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
      return ": our certificate has been revoked; re-enroll with a new token";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
      return ": our certificate has expired (or is not yet valid); renew it or check the clock";
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
      return ": no common ciphersuite, or the peer wanted a client certificate we do not have";
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
      return ": the peer does not accept TLS 1.2";
    default:
      return "";
  }
}

std::string verifyInfo(uint32_t flags) {
  char text[1024];
  const int n = mbedtls_x509_crt_verify_info(text, sizeof(text), "", flags);
  std::string out =
      n > 0 ? std::string(text, static_cast<size_t>(n)) : std::string("verification failed");
  // One line per reason; join them.
  std::string joined;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (end > start) {
      if (!joined.empty()) joined += "; ";
      joined += out.substr(start, end - start);
    }
    start = end + 1;
  }
  return joined;
}

TlsFailure classifyFlags(uint32_t flags) {
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) return TlsFailure::kUntrustedCertificate;
  if (flags & MBEDTLS_X509_BADCERT_REVOKED) return TlsFailure::kRevokedCertificate;
  if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE))
    return TlsFailure::kExpiredCertificate;
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) return TlsFailure::kNameMismatch;
  if (flags & MBEDTLS_X509_BADCERT_MISSING) return TlsFailure::kNoPeerCertificate;
  return TlsFailure::kBadCertificate;
}

}  // namespace

const char* tlsFailureName(TlsFailure failure) {
  switch (failure) {
    case TlsFailure::kNone:
      return "none";
    case TlsFailure::kNoPeerCertificate:
      return "no_peer_certificate";
    case TlsFailure::kUntrustedCertificate:
      return "untrusted_certificate";
    case TlsFailure::kExpiredCertificate:
      return "expired_certificate";
    case TlsFailure::kRevokedCertificate:
      return "revoked_certificate";
    case TlsFailure::kNameMismatch:
      return "name_mismatch";
    case TlsFailure::kBadCertificate:
      return "bad_certificate";
    case TlsFailure::kUnsupportedVersion:
      return "protocol_version";
    case TlsFailure::kNoCommonCipher:
      return "no_common_cipher";
    case TlsFailure::kPeerAlert:
      return "peer_alert";
    case TlsFailure::kMalformed:
      return "malformed";
    case TlsFailure::kBufferLimit:
      return "buffer_limit";
    case TlsFailure::kInternal:
      return "internal";
  }
  return "unknown";
}

// ---- TlsContext -------------------------------------------------------------------

struct TlsContext::Impl {
  Impl() {
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_ticket_init(&ticket);
  }
  ~Impl() {
    mbedtls_ssl_config_free(&conf);
    mbedtls_ssl_ticket_free(&ticket);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  bool isRevoked(std::string_view serial) const {
    return (crl.has_value() && crl->isRevoked(serial)) || (revocation && revocation(serial));
  }

  TlsRole role = TlsRole::kServer;
  ClientAuth client_auth = ClientAuth::kRequired;
  detail::Drbg drbg;
  detail::Crt ca;
  detail::Crt own_cert;
  detail::Pk own_key;
  mbedtls_ssl_config conf;
  mbedtls_ssl_ticket_context ticket;
  std::optional<RevocationList> crl;
  RevocationCheck revocation;
  std::optional<CertificateInfo> own_info;
};

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

TlsRole TlsContext::role() const { return impl_->role; }
const std::optional<CertificateInfo>& TlsContext::ownCertificate() const { return impl_->own_info; }
bool TlsContext::isRevoked(std::string_view serial_hex) const {
  return impl_->isRevoked(serial_hex);
}

Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsContextOptions& options) {
  const bool server = options.role == TlsRole::kServer;
  const char* side = server ? "TLS server" : "TLS client";
  auto config_error = [&](const std::string& message) {
    return makeError(ErrorCode::kConfig, std::string(side) + ": " + message);
  };
  if (options.ca_cert_pem.empty()) {
    return config_error(
        "no CA certificate; set the edge CA's ca.crt (written by `edgectl ca init`)");
  }
  if (options.cert_pem.empty() != options.key_pem.empty()) {
    return config_error(
        "a certificate needs its private key and the other way round; set both or neither");
  }
  if (server && options.cert_pem.empty()) {
    return config_error(
        "a server needs its certificate and key; issue them with `edgectl cert issue`");
  }

  auto impl = std::make_unique<Impl>();
  impl->role = options.role;
  impl->client_auth = options.client_auth;
  impl->revocation = options.revocation;
  EDGE_TRY(impl->drbg.seed(server ? "edge-tls-server" : "edge-tls-client"));
  if (auto r = detail::parseCertificates(options.ca_cert_pem, impl->ca, "CA certificate"); !r) {
    return config_error(r.error().message);
  }
  if (!options.cert_pem.empty()) {
    if (auto r = detail::parseCertificates(options.cert_pem, impl->own_cert, "own certificate");
        !r) {
      return config_error(r.error().message);
    }
    if (auto r = detail::parseKey(options.key_pem, impl->own_key, false, "own private key"); !r) {
      return config_error(r.error().message);
    }
    if (mbedtls_pk_check_pair(&impl->own_cert.get()->pk, impl->own_key.get()) != 0) {
      return config_error("the private key does not belong to the certificate (" +
                          detail::describeCertificate(*impl->own_cert.get()).subject +
                          "); check the file pair");
    }
    impl->own_info = detail::describeCertificate(*impl->own_cert.get());
  }
  if (!options.crl_pem.empty()) {
    auto list = RevocationList::fromCrl(options.crl_pem, options.ca_cert_pem);
    if (!list) return config_error("CRL: " + list.error().message);
    impl->crl = std::move(*list);
  }

  mbedtls_ssl_config* conf = &impl->conf;
  int ret =
      mbedtls_ssl_config_defaults(conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                  MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0)
    return detail::mbedError(ErrorCode::kInternal, std::string(side) + ": config defaults", ret);
  mbedtls_ssl_conf_rng(conf, detail::Drbg::random, impl->drbg.get());
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(conf, kCiphersuites);
  mbedtls_ssl_conf_curves(conf, kCurves);
  mbedtls_ssl_conf_sig_hashes(conf, kSignatureHashes);
  mbedtls_ssl_conf_cert_profile(conf, &kCertProfile);
  mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  mbedtls_ssl_conf_ca_chain(conf, impl->ca.get(), nullptr);
  if (impl->own_info) {
    ret = mbedtls_ssl_conf_own_cert(conf, impl->own_cert.get(), impl->own_key.get());
    if (ret != 0)
      return detail::mbedError(ErrorCode::kInternal, std::string(side) + ": own certificate", ret);
  }
  int authmode = MBEDTLS_SSL_VERIFY_REQUIRED;
  if (server && options.client_auth == ClientAuth::kOptional)
    authmode = MBEDTLS_SSL_VERIFY_OPTIONAL;
  if (server && options.client_auth == ClientAuth::kNone) authmode = MBEDTLS_SSL_VERIFY_NONE;
  mbedtls_ssl_conf_authmode(conf, authmode);
  if (server) {
    if (options.session_tickets) {
      ret = mbedtls_ssl_ticket_setup(&impl->ticket, detail::Drbg::random, impl->drbg.get(),
                                     MBEDTLS_CIPHER_AES_256_GCM, options.ticket_lifetime_s);
      if (ret != 0)
        return detail::mbedError(ErrorCode::kInternal, "TLS server: session ticket keys", ret);
      mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
                                          &impl->ticket);
    }
  } else {
    mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
  }
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

// ---- TlsSession -------------------------------------------------------------------

struct TlsSession::Impl {
  Impl() { mbedtls_ssl_init(&ssl); }
  ~Impl() { mbedtls_ssl_free(&ssl); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  bool isClient() const { return ctx->role == TlsRole::kClient; }
  const char* peerRole() const { return isClient() ? "server" : "client"; }

  Error fail(TlsFailure why, ErrorCode code, std::string message) {
    if (!failed) {
      failed = true;
      failure = why;
      error = makeError(code, std::move(message));
    }
    return error;
  }

  // Sends a fatal alert (into `out`) for a refusal decided after mbedTLS
  // itself finished the handshake.
  void sendAlert(unsigned char alert) {
    (void)mbedtls_ssl_send_alert_message(&ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, alert);
  }

  Error failHandshake(int ret);
  Error failIo(int ret, const char* doing);
  Result<void> stepHandshake();
  Result<void> finishHandshake();
  Result<void> encrypt(std::string_view data);

  std::shared_ptr<const TlsContext> context;  // keeps ctx (and the mbedTLS config) alive
  const TlsContext::Impl* ctx = nullptr;
  TlsSessionOptions options;
  mbedtls_ssl_context ssl;
  std::string in;  // ciphertext from the peer; bytes before in_pos are consumed
  size_t in_pos = 0;
  std::string out;          // ciphertext for the peer
  std::string pending;      // plaintext written before the handshake finished
  std::string expected_ip;  // client: the server's IP literal, when it connects by IP
  bool handshake_done = false;
  bool failed = false;
  bool peer_closed = false;
  bool closed = false;
  bool resumed = false;
  uint32_t chain_flags = 0;      // verification flags seen in the verify callback
  bool verify_aborted = false;   // the verify callback refused (ClientAuth::kOptional)
  std::string peer_description;  // subject and serial of the certificate being verified
  TlsFailure failure = TlsFailure::kNone;
  int peer_alert = -1;  // the peer's fatal alert, if it sent one
  Error error;
  std::optional<PeerIdentity> peer;
};

namespace {

int bioSend(void* data, const unsigned char* buf, size_t len) {
  auto* s = static_cast<TlsSession::Impl*>(data);
  s->out.append(reinterpret_cast<const char*>(buf), len);
  return static_cast<int>(len);
}

int bioRecv(void* data, unsigned char* buf, size_t len) {
  auto* s = static_cast<TlsSession::Impl*>(data);
  const size_t available = s->in.size() - s->in_pos;
  if (available == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  const size_t n = std::min(available, len);
  std::memcpy(buf, s->in.data() + s->in_pos, n);
  s->in_pos += n;
  if (s->in_pos == s->in.size()) {
    s->in.clear();
    s->in_pos = 0;
  } else if (s->in_pos >= kCompactThreshold) {
    s->in.erase(0, s->in_pos);
    s->in_pos = 0;
  }
  return static_cast<int>(n);
}

// Runs for every certificate of the peer's chain, leaf (depth 0) last.
// Adds what mbedTLS does not check itself: revocation, and the IP SAN when
// a client connects to an IP address.
int verifyPeer(void* data, mbedtls_x509_crt* crt, int depth, uint32_t* flags) {
  auto* s = static_cast<TlsSession::Impl*>(data);
  if (depth == 0) {
    const CertificateInfo info = detail::describeCertificate(*crt);
    s->peer_description = info.subject + " (serial " + info.serial_hex + ")";
    if (s->ctx->isRevoked(info.serial_hex)) *flags |= MBEDTLS_X509_BADCERT_REVOKED;
    if (!s->expected_ip.empty() && std::find(info.ip_addresses.begin(), info.ip_addresses.end(),
                                             s->expected_ip) == info.ip_addresses.end()) {
      *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
  }
  s->chain_flags |= *flags;
  // With VERIFY_OPTIONAL mbedTLS would finish the handshake despite a bad
  // certificate; a certificate that is presented must be valid, so abort.
  if (depth == 0 && s->chain_flags != 0 && s->ctx->role == TlsRole::kServer &&
      s->ctx->client_auth == ClientAuth::kOptional) {
    s->verify_aborted = true;
    return MBEDTLS_ERR_X509_FATAL_ERROR;
  }
  return 0;
}

}  // namespace

Error TlsSession::Impl::failHandshake(int ret) {
  const std::string prefix = "TLS handshake failed: ";
  if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
      (ret == MBEDTLS_ERR_X509_FATAL_ERROR && verify_aborted)) {
    const uint32_t flags = verify_aborted ? chain_flags : mbedtls_ssl_get_verify_result(&ssl);
    const TlsFailure why = classifyFlags(flags);
    std::string message = prefix + "the " + peerRole() + " certificate " + peer_description +
                          " was refused: " + verifyInfo(flags);
    if (why == TlsFailure::kUntrustedCertificate)
      message += " (it was not issued by the configured edge CA)";
    if (why == TlsFailure::kNameMismatch) {
      message += " (the certificate's SANs do not include \"" + options.server_name + "\")";
    }
    return fail(why, ErrorCode::kProtocol, message);
  }
  switch (ret) {
    case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
      // mbedTLS 2.28 aborts here without telling the client; RFC 5246 7.4.6
      // names handshake_failure for this case.
      sendAlert(MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
      return fail(
          TlsFailure::kNoPeerCertificate, ErrorCode::kProtocol,
          prefix +
              "the client sent no certificate; agents authenticate with a client certificate from "
              "the edge CA (enroll with a token to get one)");
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: {
      const unsigned char alert = ssl.in_msg != nullptr ? ssl.in_msg[1] : 0;
      if (!failed) peer_alert = alert;
      return fail(TlsFailure::kPeerAlert, ErrorCode::kProtocol,
                  prefix + "the " + peerRole() + " aborted with alert " + alertName(alert) + " (" +
                      std::to_string(alert) + ")" + alertHint(alert));
    }
    case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
      return fail(TlsFailure::kUnsupportedVersion, ErrorCode::kProtocol,
                  prefix + "the " + peerRole() +
                      " offered only TLS versions older than 1.2; edge requires TLS 1.2");
    case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
    case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
      return fail(
          TlsFailure::kNoCommonCipher, ErrorCode::kProtocol,
          prefix + "no ciphersuite in common with the " + peerRole() +
              ": edge accepts only ECDHE key exchange (X25519, P-256, P-384) with AES-GCM or "
              "ChaCha20-Poly1305");
    case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
    case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
    case MBEDTLS_ERR_SSL_INVALID_RECORD:
    case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
    case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
    case MBEDTLS_ERR_SSL_INVALID_MAC:
      return fail(TlsFailure::kMalformed, ErrorCode::kProtocol,
                  prefix + "malformed TLS from the " + peerRole() + ": " +
                      detail::mbedErrorText(ret) +
                      " (is the peer speaking TLS? a plaintext agent talking to a TLS gateway "
                      "fails like this)");
    default:
      return fail(TlsFailure::kInternal, ErrorCode::kProtocol, prefix + detail::mbedErrorText(ret));
  }
}

Error TlsSession::Impl::failIo(int ret, const char* doing) {
  if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
    const unsigned char alert = ssl.in_msg != nullptr ? ssl.in_msg[1] : 0;
    if (!failed) peer_alert = alert;
    return fail(TlsFailure::kPeerAlert, ErrorCode::kClosed,
                std::string("TLS: the ") + peerRole() + " closed the connection with alert " +
                    alertName(alert) + " (" + std::to_string(alert) + ")" + alertHint(alert));
  }
  if (ret == MBEDTLS_ERR_SSL_INVALID_MAC || ret == MBEDTLS_ERR_SSL_INVALID_RECORD ||
      ret == MBEDTLS_ERR_SSL_UNEXPECTED_RECORD || ret == MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE) {
    return fail(TlsFailure::kMalformed, ErrorCode::kCorrupt,
                std::string("TLS: corrupt or unexpected record from the ") + peerRole() +
                    " while " + doing + ": " + detail::mbedErrorText(ret));
  }
  return fail(TlsFailure::kInternal, ErrorCode::kProtocol,
              std::string("TLS: ") + doing + " failed: " + detail::mbedErrorText(ret));
}

Result<void> TlsSession::Impl::stepHandshake() {
  if (failed) return error;
  while (ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
    const int ret = mbedtls_ssl_handshake_step(&ssl);
    if (ssl.handshake != nullptr && ssl.handshake->resume != 0) resumed = true;
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) return okResult();
    if (ret != 0) return failHandshake(ret);
  }
  return finishHandshake();
}

Result<void> TlsSession::Impl::finishHandshake() {
  handshake_done = true;
  const mbedtls_x509_crt* cert = mbedtls_ssl_get_peer_cert(&ssl);
  if (cert != nullptr) {
    CertificateInfo info = detail::describeCertificate(*cert);
    // A resumed session skips certificate verification, and the revocation
    // list may have changed since the ticket was issued: check again.
    if (ctx->isRevoked(info.serial_hex)) {
      sendAlert(MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED);
      return fail(TlsFailure::kRevokedCertificate, ErrorCode::kProtocol,
                  std::string("TLS handshake failed: the ") + peerRole() + " certificate " +
                      info.subject + " (serial " + info.serial_hex + ") has been revoked");
    }
    const int64_t now = detail::nowUnix();
    if (now > info.not_after || now < info.not_before) {
      sendAlert(MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED);
      return fail(TlsFailure::kExpiredCertificate, ErrorCode::kProtocol,
                  std::string("TLS handshake failed: the ") + peerRole() + " certificate " +
                      info.subject + " is outside its validity");
    }
    peer = std::move(info);
  } else if (isClient() || ctx->client_auth == ClientAuth::kRequired) {
    sendAlert(MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
    return fail(
        TlsFailure::kNoPeerCertificate, ErrorCode::kProtocol,
        std::string("TLS handshake failed: the ") + peerRole() + " presented no certificate");
  }
  if (!pending.empty()) {
    std::string queued = std::move(pending);
    pending.clear();
    EDGE_TRY(encrypt(queued));
  }
  return okResult();
}

Result<void> TlsSession::Impl::encrypt(std::string_view data) {
  while (!data.empty()) {
    const int ret =
        mbedtls_ssl_write(&ssl, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    if (ret > 0) {
      data.remove_prefix(static_cast<size_t>(ret));
      continue;
    }
    // The BIO accepts every byte, so mbedTLS never has to wait here.
    return failIo(ret, "encrypting");
  }
  return okResult();
}

TlsSession::TlsSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsSession::~TlsSession() = default;

Result<std::unique_ptr<TlsSession>> TlsSession::create(std::shared_ptr<const TlsContext> context,
                                                       const TlsSessionOptions& options) {
  if (!context) return makeError(ErrorCode::kInvalidArgument, "TlsSession::create: no TlsContext");
  if (options.max_buffered_ciphertext < kMinBufferLimit) {
    return makeError(ErrorCode::kInvalidArgument,
                     "TlsSessionOptions.max_buffered_ciphertext must be at least 32 KiB "
                     "(one TLS record is up to 16.5 KiB)");
  }
  auto impl = std::make_unique<Impl>();
  impl->ctx = context->impl_.get();
  impl->context = std::move(context);
  impl->options = options;
  int ret = mbedtls_ssl_setup(&impl->ssl, &impl->ctx->conf);
  if (ret != 0) return detail::mbedError(ErrorCode::kInternal, "TLS session setup", ret);
  if (impl->isClient()) {
    const std::string& name = options.server_name;
    if (name.empty()) {
      return makeError(ErrorCode::kInvalidArgument,
                       "TLS client: server_name is empty; set the gateway's DNS name or IP address "
                       "as it appears "
                       "in the gateway certificate's SANs");
    }
    unsigned char ip[16];
    char text[INET6_ADDRSTRLEN];
    const int family = inet_pton(AF_INET, name.c_str(), ip) == 1    ? AF_INET
                       : inet_pton(AF_INET6, name.c_str(), ip) == 1 ? AF_INET6
                                                                    : 0;
    if (family != 0) {
      // mbedTLS 2.28 matches only DNS SANs; IP SANs are checked in verifyPeer.
      inet_ntop(family, ip, text, sizeof(text));
      impl->expected_ip = text;
    } else if ((ret = mbedtls_ssl_set_hostname(&impl->ssl, name.c_str())) != 0) {
      return detail::mbedError(ErrorCode::kInvalidArgument,
                               "TLS client: server name \"" + name + "\"", ret);
    }
    if (options.resume &&
        (ret = mbedtls_ssl_set_session(&impl->ssl, &options.resume->session)) != 0) {
      return detail::mbedError(ErrorCode::kInvalidArgument, "TLS client: saved session", ret);
    }
  }
  mbedtls_ssl_set_bio(&impl->ssl, impl.get(), bioSend, bioRecv, nullptr);
  mbedtls_ssl_set_verify(&impl->ssl, verifyPeer, impl.get());
  std::unique_ptr<TlsSession> session(new TlsSession(std::move(impl)));
  if (session->impl_->isClient())
    EDGE_TRY(session->impl_->stepHandshake());  // queues the ClientHello
  return session;
}

Result<void> TlsSession::feedCiphertext(std::string_view bytes) {
  Impl& s = *impl_;
  if (s.failed) return s.error;
  if (s.in.size() - s.in_pos + bytes.size() > s.options.max_buffered_ciphertext) {
    return s.fail(
        TlsFailure::kBufferLimit, ErrorCode::kTooLarge,
        "TLS: more than " + std::to_string(s.options.max_buffered_ciphertext) +
            " bytes of ciphertext from the " + s.peerRole() +
            " are waiting to be read; stop reading the socket while the application is behind");
  }
  s.in.append(bytes.data(), bytes.size());
  if (!s.handshake_done) return s.stepHandshake();
  return okResult();
}

Result<size_t> TlsSession::readPlaintext(std::string& out, size_t max_bytes) {
  Impl& s = *impl_;
  if (s.failed) return s.error;
  if (!s.handshake_done) {
    EDGE_TRY(s.stepHandshake());
    if (!s.handshake_done) return size_t{0};
  }
  size_t total = 0;
  unsigned char buf[16384];
  while (total < max_bytes && !s.peer_closed) {
    const size_t want = std::min(sizeof(buf), max_bytes - total);
    const int ret = mbedtls_ssl_read(&s.ssl, buf, want);
    if (ret > 0) {
      out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(ret));
      total += static_cast<size_t>(ret);
      continue;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) break;
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == 0) {
      s.peer_closed = true;
      break;
    }
    return s.failIo(ret, "decrypting");
  }
  return total;
}

Result<void> TlsSession::writePlaintext(std::string_view bytes) {
  Impl& s = *impl_;
  if (s.failed) return s.error;
  if (s.closed) return makeError(ErrorCode::kClosed, "TLS: write after close()");
  if (!s.handshake_done) {
    if (s.pending.size() + bytes.size() > s.options.max_pending_plaintext) {
      return makeError(ErrorCode::kBusy,
                       "TLS: more than " + std::to_string(s.options.max_pending_plaintext) +
                           " bytes queued before the handshake finished; wait for it");
    }
    s.pending.append(bytes.data(), bytes.size());
    return okResult();
  }
  return s.encrypt(bytes);
}

std::string TlsSession::takeCiphertext() {
  std::string out;
  out.swap(impl_->out);
  return out;
}

size_t TlsSession::pendingCiphertextBytes() const { return impl_->out.size(); }

Result<void> TlsSession::close() {
  Impl& s = *impl_;
  if (s.closed || s.failed) return okResult();
  s.closed = true;
  if (!s.handshake_done) return okResult();
  const int ret = mbedtls_ssl_close_notify(&s.ssl);
  if (ret != 0 && ret != MBEDTLS_ERR_SSL_WANT_WRITE) return s.failIo(ret, "sending close_notify");
  return okResult();
}

bool TlsSession::handshakeDone() const { return impl_->handshake_done && !impl_->failed; }
bool TlsSession::failed() const { return impl_->failed; }
bool TlsSession::peerClosed() const { return impl_->peer_closed; }
const Error& TlsSession::error() const { return impl_->error; }
TlsFailure TlsSession::failure() const { return impl_->failure; }
int TlsSession::peerAlert() const { return impl_->peer_alert; }
const std::optional<PeerIdentity>& TlsSession::peerIdentity() const { return impl_->peer; }
bool TlsSession::resumed() const { return impl_->resumed; }

std::string TlsSession::protocolVersion() const {
  return impl_->handshake_done ? mbedtls_ssl_get_version(&impl_->ssl) : "";
}

std::string TlsSession::cipherSuite() const {
  const char* name = impl_->handshake_done ? mbedtls_ssl_get_ciphersuite(&impl_->ssl) : nullptr;
  return name != nullptr ? name : "";
}

Result<std::shared_ptr<const TlsSavedSession>> TlsSession::saveSession() const {
  const Impl& s = *impl_;
  if (!s.isClient() || !handshakeDone()) {
    return makeError(ErrorCode::kInvalidArgument,
                     "TLS: saveSession() needs a client session after its handshake");
  }
  auto saved = std::make_shared<TlsSavedSession>();
  const int ret = mbedtls_ssl_get_session(&s.ssl, &saved->session);
  if (ret != 0) return detail::mbedError(ErrorCode::kInternal, "TLS: saving the session", ret);
  return std::shared_ptr<const TlsSavedSession>(std::move(saved));
}

}  // namespace edge::protocol
