// TLS for agent <-> gateway connections on mbedTLS 2.28, as a transport-
// agnostic engine: the caller moves bytes between the socket and the session,
// so the same code serves a libuv stream, a blocking socket or a test that
// pumps two sessions in memory.
//
// Protocol: TLS 1.2 only. mbedTLS 2.28 ships TLS 1.3 only as an incomplete
// experimental option (MBEDTLS_SSL_PROTO_TLS1_3_EXPERIMENTAL, disabled in
// Debian's build), so TLS 1.3 is not offered. Ciphersuites: ECDHE key
// exchange with AEAD ciphers only (AES-GCM, ChaCha20-Poly1305); ECDSA
// certificates preferred, RSA ones accepted. Curves X25519, P-256, P-384.
// No renegotiation, no compression, SHA-1 nowhere.
//
// Driving a session from a libuv connection:
//
//   on connect:  session = TlsSession::create(ctx, options);  // options.server_name = "gw.example"
//                write(session->takeCiphertext());            // client: ClientHello
//   on read:     if (!session->feedCiphertext(bytes)) fail;   // handshake progresses here
//                session->readPlaintext(app_bytes);           // decrypted data, if any
//                write(session->takeCiphertext());            // always flush after any call
//   to send:     session->writePlaintext(frame);              // buffered until the handshake is
//   done
//                write(session->takeCiphertext());
//   on error:    write(session->takeCiphertext()) then close  // the alert tells the peer why
//
// The session owns no timers: the connection enforces the handshake and idle
// timeouts (handshakeDone() says which one applies).
//
// Threading: a TlsContext is immutable after create() and may be shared by
// sessions on any thread (Debian builds mbedTLS with MBEDTLS_THREADING_PTHREAD;
// the context's CTR-DRBG and ticket keys take a mutex). For per-core scaling
// create one context per worker thread so workers do not contend on that
// mutex. A TlsSession is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "edge/common/result.h"
#include "edge/protocol/pki.h"

namespace edge::protocol {

// The verified certificate of the peer: for an agent, CN = agent id,
// O = tenant, OU = edge-agent (agentIdentityOf() reads them).
using PeerIdentity = CertificateInfo;

enum class TlsRole { kClient, kServer };

// Whether a server asks for and checks client certificates.
enum class ClientAuth {
  kRequired,  // mutual TLS: no certificate or an invalid one fails the handshake
  kOptional,  // enrollment listener: no certificate is allowed (peerIdentity() is empty);
              // a presented certificate must still verify, or the handshake fails
  kNone,      // no client certificates (e.g. an HTTPS admin port)
};

// Returns true if the serial (canonical lowercase hex) is revoked. Called on
// the session's thread during handshakes; must be thread-safe.
using RevocationCheck = std::function<bool(std::string_view serial_hex)>;

struct TlsContextOptions {
  TlsRole role = TlsRole::kServer;
  std::string ca_cert_pem;  // trust anchors for the peer's certificate (required)
  std::string cert_pem;     // own certificate (server: required; client: required for mTLS,
                            // empty while enrolling)
  std::string key_pem;      // own private key, matching cert_pem
  ClientAuth client_auth = ClientAuth::kRequired;  // server only
  std::string crl_pem;         // optional CRL from the CA (pki.h writeCrlPem), fixed for the
                               // context's life; verified against ca_cert_pem at create()
  RevocationCheck revocation;  // optional, consulted too; use it for reloadable lists
                               // (RevocationStore)
  // Server: RFC 5077 session tickets so reconnecting clients skip the full
  // handshake. Keys are per context and rotate every ticket_lifetime_s, so a
  // ticket is only good on the gateway process that issued it.
  bool session_tickets = false;
  uint32_t ticket_lifetime_s = 3600;
};

class TlsContext {
 public:
  // Parses and checks everything up front (key matches certificate, CRL
  // signed by the CA, ...) so that a bad file fails at startup, not on the
  // first connection.
  static Result<std::shared_ptr<TlsContext>> create(const TlsContextOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  TlsRole role() const;
  // The own certificate, e.g. to schedule renewal before not_after.
  const std::optional<CertificateInfo>& ownCertificate() const;
  // Whether `serial_hex` is revoked by crl_pem or the revocation callback.
  bool isRevoked(std::string_view serial_hex) const;

  struct Impl;

 private:
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class TlsSession;
};

// Why a session failed, for logs and for metric labels (tlsFailureName()).
enum class TlsFailure {
  kNone,
  kNoPeerCertificate,     // mutual TLS and the client sent no certificate
  kUntrustedCertificate,  // not issued by the configured CA
  kExpiredCertificate,    // outside its validity (expired or not yet valid)
  kRevokedCertificate,    // on the CRL / revocation callback
  kNameMismatch,          // client: server certificate lacks the expected DNS/IP SAN
  kBadCertificate,        // other verification failure (key usage, weak key, ...)
  kUnsupportedVersion,    // peer offered only TLS < 1.2 (metric label "protocol_version")
  kNoCommonCipher,        // peer offered no ECDHE+AEAD suite or no common curve
  kPeerAlert,             // the peer aborted with a fatal alert
  kMalformed,             // not TLS, or corrupt records
  kBufferLimit,           // a TlsSessionOptions limit was exceeded
  kInternal,
};
const char* tlsFailureName(TlsFailure failure);  // "no_peer_certificate", ...

// A client's resumable session (RFC 5077 ticket), from saveSession().
class TlsSavedSession;

struct TlsSessionOptions {
  // Client: the name the server's certificate must carry as a SAN, a DNS
  // name (also sent as SNI) or an IP literal. Required for clients.
  std::string server_name;
  // Ciphertext buffered from the peer and not yet consumed by
  // readPlaintext(); feedCiphertext() fails beyond it.
  size_t max_buffered_ciphertext = 1u << 20;
  // Plaintext queued with writePlaintext() before the handshake finished.
  size_t max_pending_plaintext = 1u << 20;
  // Client: try to resume this session (abbreviated handshake). The server
  // falls back to a full handshake if it does not accept the ticket.
  std::shared_ptr<const TlsSavedSession> resume;
};

class TlsSession {
 public:
  // A client session queues its ClientHello immediately: flush
  // takeCiphertext() after create().
  static Result<std::unique_ptr<TlsSession>> create(std::shared_ptr<const TlsContext> context,
                                                    const TlsSessionOptions& options = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Bytes read from the socket. Advances the handshake. After the first
  // error every call returns that error; flush takeCiphertext() once more
  // so the peer receives the alert, then close.
  Result<void> feedCiphertext(std::string_view bytes);

  // Appends up to `max_bytes` decrypted bytes to `out`; returns how many.
  // 0 with ok() means "need more ciphertext" (or the peer closed: see
  // peerClosed()).
  Result<size_t> readPlaintext(std::string& out, size_t max_bytes = SIZE_MAX);

  // Encrypts `bytes` for the peer, or queues them until the handshake is done.
  Result<void> writePlaintext(std::string_view bytes);

  // Ciphertext to write to the socket (moves it out; empty if none).
  std::string takeCiphertext();
  size_t pendingCiphertextBytes() const;

  // Queues a close_notify alert; no plaintext can be written afterwards.
  Result<void> close();

  bool handshakeDone() const;
  bool failed() const;
  bool peerClosed() const;     // the peer sent close_notify
  const Error& error() const;  // valid when failed()
  TlsFailure failure() const;  // kNone unless failed()
  // The fatal alert the peer sent (RFC 5246 AlertDescription, e.g. 44 =
  // certificate_revoked), or -1. With kPeerAlert it tells a client whether
  // the server refused its certificate.
  int peerAlert() const;

  // The verified peer certificate; empty before the handshake is done, and
  // on a server with ClientAuth::kOptional/kNone when the client sent none.
  const std::optional<PeerIdentity>& peerIdentity() const;

  std::string protocolVersion() const;  // "TLSv1.2"
  std::string cipherSuite()
      const;             // IANA-style name, e.g. "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"
  bool resumed() const;  // the handshake resumed a session (ticket)

  // Client, after the handshake: the session to pass as
  // TlsSessionOptions::resume on the next connection to the same server.
  Result<std::shared_ptr<const TlsSavedSession>> saveSession() const;

  struct Impl;

 private:
  explicit TlsSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::protocol
