// Migrations of the PostgreSQL sink's schema (see postgres_schema.h).
#include "edge/sinks/postgres_schema.h"

#include <libpq-fe.h>
#include <mbedtls/sha256.h>

#include <array>
#include <cstdio>
#include <exception>
#include <map>
#include <pqxx/pqxx>
#include <set>

namespace edge::sinks {
namespace {

// NEVER edit a migration once it has shipped: the checksum of its text is
// recorded where it was applied and a changed text is refused. Add a new
// version instead.
//
// 1: event tables. Every event table (events, alerts, and any table a route
// names) has the same shape and is partitioned by day on ts. PostgreSQL
// requires a unique key on a partitioned table to include the partition key,
// so identity is (agent_id, seq, ts): an agent resends an event with the
// same ts it first sent (ts is stored with the event in its spool), so a
// redelivery always hits the same key and the same partition.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE edge_event_tables (
  name text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION edge_ensure_event_table(tbl text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  IF tbl !~ '^[a-z_][a-z0-9_]{0,52}$' THEN
    RAISE EXCEPTION 'edge: "%" is not a valid event table name (a-z, 0-9, _; at most 53 bytes)', tbl
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('edge_event_tables'));
  IF EXISTS (SELECT 1 FROM edge_event_tables WHERE name = tbl) THEN
    RETURN;
  END IF;
  EXECUTE format($sql$
    CREATE TABLE %I (
      tenant      text        NOT NULL,
      agent_id    text        NOT NULL,
      seq         bigint      NOT NULL,
      ts          timestamptz NOT NULL,
      kind        text        NOT NULL,
      source      text        NOT NULL,
      host        text        NOT NULL,
      severity    smallint    NOT NULL CHECK (severity BETWEEN 0 AND 7),
      fields      jsonb       NOT NULL,
      raw         text        NOT NULL,
      received_at timestamptz NOT NULL,
      CONSTRAINT %I UNIQUE (agent_id, seq, ts)
    ) PARTITION BY RANGE (ts)$sql$, tbl, tbl || '_identity');
  INSERT INTO edge_event_tables(name) VALUES (tbl);
END
$fn$;

CREATE FUNCTION edge_ensure_partition(tbl text, day date) RETURNS boolean
LANGUAGE plpgsql AS $fn$
DECLARE
  part text := tbl || '_p' || to_char(day, 'YYYYMMDD');
BEGIN
  IF to_regclass(quote_ident(part)) IS NOT NULL THEN
    RETURN false;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('edge_partitions'));
  IF to_regclass(quote_ident(part)) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, tbl,
                 (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
  RETURN true;
END
$fn$;

CREATE FUNCTION edge_drop_partitions_before(cutoff date) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
  r record;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('edge_partitions'));
  FOR r IN
    SELECT c.relname AS part
      FROM edge_event_tables t
      JOIN pg_inherits i ON i.inhparent = to_regclass(quote_ident(t.name))
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE CASE WHEN c.relname ~ ('^' || t.name || '_p[0-9]{8}$')
                THEN to_date(right(c.relname, 8), 'YYYYMMDD') < cutoff
                ELSE false END
     ORDER BY 1
  LOOP
    EXECUTE format('DROP TABLE %I', r.part);
    RETURN NEXT r.part;
  END LOOP;
END
$fn$;

CREATE FUNCTION edge_enable_row_level_security(tbl text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
  EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tbl);
  IF NOT EXISTS (SELECT 1 FROM pg_policy
                  WHERE polrelid = to_regclass(quote_ident(tbl)) AND polname = 'edge_tenant_isolation') THEN
    EXECUTE format($sql$CREATE POLICY edge_tenant_isolation ON %I
                         USING (tenant = current_setting('edge.tenant', true))$sql$, tbl);
  END IF;
END
$fn$;

SELECT edge_ensure_event_table('events');
SELECT edge_ensure_event_table('alerts');
)sql";

// 2: agents, kept up to date from the batches the sink commits. version and
// counters stay NULL until heartbeats reach sinks.
constexpr std::string_view kMigration2 = R"sql(
CREATE TABLE agents (
  id           text PRIMARY KEY,
  tenant       text NOT NULL,
  version      text,
  host         text,
  first_seen   timestamptz NOT NULL,
  last_seen    timestamptz NOT NULL,
  counters     jsonb
);
)sql";

constexpr std::string_view kBootstrapSql = R"sql(
CREATE TABLE IF NOT EXISTS edge_schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

// Serialises migrations across gateways and edgectl (any constant works;
// this one spells "edgemig").
constexpr const char* kMigrationLockSql = "SELECT pg_advisory_xact_lock(6423760549603943)";

std::string sha256Hex(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data(),
                     0);
  std::string out = "sha256:";
  char buf[3];
  for (unsigned char byte : digest) {
    std::snprintf(buf, sizeof buf, "%02x", byte);
    out += buf;
  }
  return out;
}

Error failure(const std::exception& e, const std::string& what) {
  return makeError(ErrorCode::kIo, "postgres: " + what + ": " + e.what());
}

// The applied rows, or an empty map when the table does not exist yet.
std::map<int, PostgresMigrationState> appliedMigrations(pqxx::transaction_base& tx) {
  std::map<int, PostgresMigrationState> applied;
  const pqxx::result exists =
      tx.exec("SELECT to_regclass('edge_schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return applied;
  const pqxx::result rows = tx.exec(
      "SELECT version, name, checksum, applied_at::text FROM edge_schema_migrations ORDER BY version");
  for (const auto& row : rows) {
    PostgresMigrationState state;
    state.version = row[0].as<int>();
    state.name = row[1].as<std::string>();
    state.applied_checksum = row[2].as<std::string>();
    state.applied_at = row[3].as<std::string>();
    applied.emplace(state.version, std::move(state));
  }
  return applied;
}

std::vector<PostgresMigrationState> merge(std::map<int, PostgresMigrationState> applied) {
  for (const PostgresMigration& m : postgresMigrations()) {
    PostgresMigrationState& state = applied[m.version];
    state.version = m.version;
    state.name = std::string(m.name);
    state.checksum = m.checksum;
  }
  std::vector<PostgresMigrationState> out;
  for (auto& [version, state] : applied) out.push_back(std::move(state));
  return out;
}

Error checksumError(const PostgresMigrationState& state) {
  return makeError(ErrorCode::kConfig,
                   "postgres: migration " + std::to_string(state.version) + " (" + state.name +
                       ") was applied with checksum " + state.applied_checksum +
                       " but this binary's text has " + state.checksum +
                       "; its SQL changed after it was applied. Install the build that applied "
                       "it, or have a DBA reconcile the schema and update "
                       "edge_schema_migrations.checksum");
}

}  // namespace

const std::vector<PostgresMigration>& postgresMigrations() {
  static const std::vector<PostgresMigration> kMigrations = [] {
    std::vector<PostgresMigration> all = {
        {1, "event tables", kMigration1, {}},
        {2, "agents", kMigration2, {}},
    };
    for (PostgresMigration& m : all) m.checksum = sha256Hex(m.sql);
    return all;
  }();
  return kMigrations;
}

Result<std::vector<PostgresMigrationState>> postgresMigrationStatus(pqxx::connection_base& conn) {
  try {
    pqxx::read_transaction tx(conn);
    return merge(appliedMigrations(tx));
  } catch (const std::exception& e) {
    return failure(e, "reading edge_schema_migrations");
  }
}

Result<std::vector<int>> applyPostgresMigrations(pqxx::connection_base& conn) {
  std::vector<int> done;
  for (const PostgresMigration& m : postgresMigrations()) {
    try {
      pqxx::work tx(conn);
      tx.exec(std::string(kBootstrapSql));
      tx.exec(kMigrationLockSql);
      // Read under the lock: another gateway may have applied it meanwhile.
      std::vector<PostgresMigrationState> states = merge(appliedMigrations(tx));
      bool applied = false;
      for (const PostgresMigrationState& state : states) {
        if (!state.checksumMatches()) return checksumError(state);
        if (state.version == m.version && state.applied()) applied = true;
      }
      if (applied) continue;
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO edge_schema_migrations(version, name, checksum) VALUES ($1, $2, $3)",
                     m.version, std::string(m.name), m.checksum);
      tx.commit();
      done.push_back(m.version);
    } catch (const std::exception& e) {
      return failure(e, "applying migration " + std::to_string(m.version) + " (" +
                            std::string(m.name) + ")");
    }
  }
  return done;
}

Result<void> checkPostgresSchema(pqxx::connection_base& conn) {
  auto states = postgresMigrationStatus(conn);
  if (!states) return states.error();
  for (const PostgresMigrationState& state : *states) {
    if (!state.checksumMatches()) return checksumError(state);
    if (state.known() && !state.applied()) {
      return makeError(ErrorCode::kConfig,
                       "postgres: migration " + std::to_string(state.version) + " (" + state.name +
                           ") is not applied; run `edgectl db migrate` or set "
                           "sinks.postgres.migrate: true");
    }
  }
  return okResult();
}

std::string describePostgresDsn(const std::string& dsn) {
  if (dsn.empty()) return "(PG* environment)";
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &err);
  if (options == nullptr) {
    PQfreemem(err);
    return "(invalid connection string)";
  }
  static const std::set<std::string> kShown = {"host", "hostaddr", "port", "dbname", "user"};
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || kShown.count(o->keyword) == 0) continue;
    if (!out.empty()) out += ' ';
    out += std::string(o->keyword) + "=" + o->val;
  }
  PQconninfoFree(options);
  return out.empty() ? "(defaults)" : out;
}

Result<void> validatePostgresDsn(const std::string& dsn) {
  if (dsn.empty()) return okResult();
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &err);
  if (options == nullptr) {
    std::string message = err != nullptr ? err : "out of memory";
    PQfreemem(err);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    return makeError(ErrorCode::kConfig, message);
  }
  PQconninfoFree(options);
  return okResult();
}

}  // namespace edge::sinks
