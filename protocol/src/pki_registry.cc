// The CA's registry of issued and revoked serials in SQLite (see pki.h).
#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edge/protocol/pki.h"
#include "pki_internal.h"

namespace edge::protocol {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS certificates(
  serial        TEXT PRIMARY KEY,   -- canonical lowercase hex
  kind          TEXT NOT NULL,      -- ca, gateway, agent, unknown
  subject       TEXT NOT NULL,
  not_before    INTEGER NOT NULL,
  not_after     INTEGER NOT NULL,
  issued_at     INTEGER NOT NULL,
  revoked_at    INTEGER,
  revoke_reason TEXT
);
CREATE TABLE IF NOT EXISTS registry_meta(
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
)sql";

}  // namespace

struct CertificateRegistry::Db {
  std::unique_ptr<detail::Sqlite> sqlite;
};

CertificateRegistry::CertificateRegistry(std::unique_ptr<Db> db) : db_(std::move(db)) {}
CertificateRegistry::~CertificateRegistry() = default;

Result<std::unique_ptr<CertificateRegistry>> CertificateRegistry::open(const std::string& path,
                                                                       bool create) {
  auto sqlite = detail::Sqlite::open(path, create, "the certificate registry");
  if (!sqlite) {
    if (!create && sqlite.error().code == ErrorCode::kNotFound) {
      return makeError(ErrorCode::kNotFound,
                       sqlite.error().message + " (create the CA with `edgectl ca init`)");
    }
    return sqlite.error();
  }
  EDGE_TRY((*sqlite)->exec(kSchema, "create the registry schema"));
  auto db = std::make_unique<Db>();
  db->sqlite = std::move(*sqlite);
  return std::unique_ptr<CertificateRegistry>(new CertificateRegistry(std::move(db)));
}

Result<void> CertificateRegistry::recordIssued(const CertificateInfo& cert, std::string_view kind,
                                               int64_t issued_at) {
  detail::Statement stmt(
      *db_->sqlite,
      "INSERT INTO certificates(serial, kind, subject, not_before, not_after, issued_at) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!stmt.ok()) return db_->sqlite->error("record an issued certificate");
  stmt.bind(1, cert.serial_hex);
  stmt.bind(2, kind);
  stmt.bind(3, cert.subject);
  stmt.bind(4, cert.not_before);
  stmt.bind(5, cert.not_after);
  stmt.bind(6, issued_at);
  const int rc = stmt.step();
  if (rc == SQLITE_CONSTRAINT) {
    return makeError(
        ErrorCode::kInvalidArgument,
        "serial " + cert.serial_hex + " is already in the registry (was the database copied?)");
  }
  if (rc != SQLITE_DONE) return db_->sqlite->error("record serial " + cert.serial_hex);
  return okResult();
}

Result<bool> CertificateRegistry::revoke(std::string_view serial_hex, std::string_view reason,
                                         int64_t revoked_at) {
  auto serial = normalizeSerialHex(serial_hex);
  if (!serial) return serial.error();
  EDGE_TRY(db_->sqlite->exec("BEGIN IMMEDIATE", "start a transaction"));
  auto run = [&]() -> Result<bool> {
    detail::Statement find(*db_->sqlite, "SELECT revoked_at FROM certificates WHERE serial = ?1");
    if (!find.ok()) return db_->sqlite->error("look up serial " + *serial);
    find.bind(1, *serial);
    const int rc = find.step();
    if (rc == SQLITE_ROW) {
      if (!find.columnIsNull(0)) return false;
      detail::Statement update(
          *db_->sqlite,
          "UPDATE certificates SET revoked_at = ?2, revoke_reason = ?3 WHERE serial = ?1");
      if (!update.ok()) return db_->sqlite->error("revoke serial " + *serial);
      update.bind(1, *serial);
      update.bind(2, revoked_at);
      update.bind(3, reason);
      if (update.step() != SQLITE_DONE) return db_->sqlite->error("revoke serial " + *serial);
      return true;
    }
    if (rc != SQLITE_DONE) return db_->sqlite->error("look up serial " + *serial);
    detail::Statement insert(
        *db_->sqlite,
        "INSERT INTO certificates(serial, kind, subject, not_before, not_after, issued_at, "
        "revoked_at, revoke_reason) VALUES(?1, 'unknown', '', 0, 0, 0, ?2, ?3)");
    if (!insert.ok()) return db_->sqlite->error("revoke serial " + *serial);
    insert.bind(1, *serial);
    insert.bind(2, revoked_at);
    insert.bind(3, reason);
    if (insert.step() != SQLITE_DONE) return db_->sqlite->error("revoke serial " + *serial);
    return true;
  };
  auto result = run();
  if (!result) {
    (void)db_->sqlite->exec("ROLLBACK", "roll back");
    return result;
  }
  EDGE_TRY(db_->sqlite->exec("COMMIT", "commit the revocation"));
  return result;
}

Result<std::optional<RegistryEntry>> CertificateRegistry::find(std::string_view serial_hex) {
  auto serial = normalizeSerialHex(serial_hex);
  if (!serial) return serial.error();
  detail::Statement stmt(
      *db_->sqlite,
      "SELECT serial, kind, subject, not_before, not_after, issued_at, revoked_at, "
      "coalesce(revoke_reason, '') FROM certificates WHERE serial = ?1");
  if (!stmt.ok()) return db_->sqlite->error("look up serial " + *serial);
  stmt.bind(1, *serial);
  const int rc = stmt.step();
  if (rc == SQLITE_DONE) return std::optional<RegistryEntry>();
  if (rc != SQLITE_ROW) return db_->sqlite->error("look up serial " + *serial);
  RegistryEntry entry;
  entry.serial_hex = stmt.columnText(0);
  entry.kind = stmt.columnText(1);
  entry.subject = stmt.columnText(2);
  entry.not_before = stmt.columnInt(3);
  entry.not_after = stmt.columnInt(4);
  entry.issued_at = stmt.columnInt(5);
  if (!stmt.columnIsNull(6)) entry.revoked_at = stmt.columnInt(6);
  entry.revoke_reason = stmt.columnText(7);
  return std::optional<RegistryEntry>(std::move(entry));
}

Result<std::vector<RevokedSerial>> CertificateRegistry::revoked() {
  detail::Statement stmt(
      *db_->sqlite,
      "SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL ORDER BY serial");
  if (!stmt.ok()) return db_->sqlite->error("list revoked serials");
  std::vector<RevokedSerial> out;
  int rc;
  while ((rc = stmt.step()) == SQLITE_ROW) out.push_back({stmt.columnText(0), stmt.columnInt(1)});
  if (rc != SQLITE_DONE) return db_->sqlite->error("list revoked serials");
  return out;
}

Result<uint64_t> CertificateRegistry::nextCrlNumber() {
  detail::Statement stmt(*db_->sqlite,
                         "INSERT INTO registry_meta(key, value) VALUES('crl_number', 1) "
                         "ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value");
  if (!stmt.ok()) return db_->sqlite->error("allocate a CRL number");
  if (stmt.step() != SQLITE_ROW) return db_->sqlite->error("allocate a CRL number");
  const auto value = static_cast<uint64_t>(stmt.columnInt(0));
  if (stmt.step() != SQLITE_DONE) return db_->sqlite->error("allocate a CRL number");
  return value;
}

}  // namespace edge::protocol
