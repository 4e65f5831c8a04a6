// Private helpers shared by the TLS, PKI and token code: RAII wrappers for
// mbedTLS objects, a seeded DRBG, mbedTLS error text, certificate parsing.
// Not part of the public API (lives in src/, not include/).
#pragma once

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "edge/common/result.h"
#include "edge/protocol/pki.h"

namespace edge::protocol::detail {

// "<what>: <mbedTLS error text> (-0x2700)".
std::string mbedErrorText(int ret);
Error mbedError(ErrorCode code, std::string_view what, int ret);

// An entropy source plus CTR-DRBG, seeded on construction. mbedTLS locks the
// DRBG's mutex on every call, so one instance may serve several threads.
class Drbg {
 public:
  Drbg();
  ~Drbg();
  Drbg(const Drbg&) = delete;
  Drbg& operator=(const Drbg&) = delete;

  Result<void> seed(std::string_view personalization);
  mbedtls_ctr_drbg_context* get() { return &drbg_; }
  static int random(void* drbg, unsigned char* out, size_t len) {
    return mbedtls_ctr_drbg_random(drbg, out, len);
  }
  Result<std::string> bytes(size_t count);

 private:
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
};

// Owns one mbedTLS object whose life is an init()/free() pair; every mbedTLS
// type the PKI and TLS code holds is one of these.
template <typename T, void (*Init)(T*), void (*Free)(T*)>
class MbedObject {
 public:
  MbedObject() { Init(&object_); }
  ~MbedObject() { Free(&object_); }
  MbedObject(const MbedObject&) = delete;
  MbedObject& operator=(const MbedObject&) = delete;
  T* get() { return &object_; }
  const T* get() const { return &object_; }

 private:
  T object_;
};

using Pk = MbedObject<mbedtls_pk_context, mbedtls_pk_init, mbedtls_pk_free>;
using Crt = MbedObject<mbedtls_x509_crt, mbedtls_x509_crt_init, mbedtls_x509_crt_free>;

// Parses a private key (PEM or DER), or failing that a public key, into `pk`.
Result<void> parseKey(std::string_view pem, Pk& pk, bool allow_public, std::string_view what);
// Parses one or more certificates (PEM or DER) into `crt`.
Result<void> parseCertificates(std::string_view pem, Crt& crt, std::string_view what);

// Canonical serial: lowercase hex of the INTEGER's bytes without leading zeros.
std::string serialHex(const unsigned char* data, size_t size);
// Unix seconds of an mbedTLS time (UTC).
int64_t toUnix(const mbedtls_x509_time& time);
// "YYYYMMDDhhmmss" in UTC, the format x509write_crt_set_validity wants.
std::string x509TimeString(int64_t unix_seconds);
int64_t nowUnix();

CertificateInfo describeCertificate(const mbedtls_x509_crt& crt);

// The certificate's subject-alternative names (mbedTLS 2.28 keeps only
// dNSName entries itself; this walks the raw extension for IPs too).
void readSubjectAltNames(const mbedtls_x509_crt& crt, std::vector<std::string>& dns,
                         std::vector<std::string>& ips);

// Overwrites `text` with zeros before releasing it (private key PEM).
void wipe(std::string& text);

}  // namespace edge::protocol::detail

struct sqlite3;
struct sqlite3_stmt;

namespace edge::protocol::detail {

// A SQLite connection for the CA registry and the token use store.
class Sqlite {
 public:
  // Opens `path`; with `create`, a missing file is created with mode 0600
  // first (SQLite would use 0644 minus the umask).
  static Result<std::unique_ptr<Sqlite>> open(const std::string& path, bool create,
                                              std::string_view what);
  ~Sqlite();
  Sqlite(const Sqlite&) = delete;
  Sqlite& operator=(const Sqlite&) = delete;

  Result<void> exec(const char* sql, std::string_view doing);
  Error error(std::string_view doing) const;
  sqlite3* get() const { return db_; }

 private:
  Sqlite(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// A prepared statement, finalized on destruction.
class Statement {
 public:
  Statement(Sqlite& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  void bind(int index, std::string_view text);
  void bind(int index, int64_t value);
  void bindNull(int index);
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  int64_t columnInt(int index) const;
  bool columnIsNull(int index) const;
  std::string columnText(int index) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace edge::protocol::detail
