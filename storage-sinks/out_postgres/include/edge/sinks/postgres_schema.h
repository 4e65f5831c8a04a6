// The PostgreSQL sink's schema: versioned SQL migrations compiled into the
// binary, each with a SHA-256 checksum of its text, applied in order and
// recorded in edge_schema_migrations(version, name, checksum, applied_at).
// A migration that was applied and whose text changed since is refused: the
// database no longer matches what the code expects, and a person decides.
//
// Used by the sink at start-up (sinks.postgres.migrate) and by
// `edgectl db migrate` / `edgectl db status`. The tables are described in
// docs/sinks.md ("postgres").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "edge/common/result.h"

namespace pqxx {
class connection_base;
}

namespace edge::sinks {

struct PostgresMigration {
  int version = 0;
  std::string_view name;
  std::string_view sql;
  std::string checksum;  // "sha256:<hex>" of sql
};

// Every migration this binary knows, in version order.
const std::vector<PostgresMigration>& postgresMigrations();

struct PostgresMigrationState {
  int version = 0;
  std::string name;
  std::string checksum;          // this binary's, "" for versions it does not know
  std::string applied_checksum;  // the database's, "" when not applied
  std::string applied_at;        // as PostgreSQL prints it, "" when not applied
  bool applied() const { return !applied_checksum.empty(); }
  bool known() const { return !checksum.empty(); }
  bool checksumMatches() const { return !applied() || !known() || checksum == applied_checksum; }
};

// Known and applied migrations, by version (creates nothing).
Result<std::vector<PostgresMigrationState>> postgresMigrationStatus(pqxx::connection_base& conn);

// Applies the pending migrations, one transaction each, serialised across
// gateways by an advisory lock. Refuses (kConfig, naming the version) when
// an applied migration's checksum differs. Returns the versions applied now.
Result<std::vector<int>> applyPostgresMigrations(pqxx::connection_base& conn);

// Checks that every known migration is applied with the right checksum
// (for sinks.postgres.migrate: false).
Result<void> checkPostgresSchema(pqxx::connection_base& conn);

// "host=db port=5432 dbname=edge user=edge" with the password and other
// secrets left out, for logs and error messages. "" means the environment.
std::string describePostgresDsn(const std::string& dsn);

// Checks the syntax of a libpq connection string ("" is valid: PG* variables
// and defaults). Returns libpq's complaint on error.
Result<void> validatePostgresDsn(const std::string& dsn);

}  // namespace edge::sinks
