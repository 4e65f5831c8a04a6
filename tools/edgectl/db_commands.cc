// edgectl db migrate / status (see db_commands.h).
#include "db_commands.h"

#include <cstdio>
#include <exception>
#include <pqxx/pqxx>
#include <string>

#include "edge/common/config.h"
#include "edge/sinks/postgres_schema.h"
#include "edge/sinks/postgres_sink.h"

namespace edge::ctl {

struct DbCommands::Options {
  CLI::App* migrate = nullptr;
  CLI::App* status = nullptr;
  std::string dsn;
  std::string config_path;
};

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "edgectl db: %s\n", message.c_str());
  return 1;
}

// The DSN from --dsn, or sinks.postgres.dsn of --config, or "" (PG*).
Result<std::string> resolveDsn(const DbCommands::Options& options) {
  if (options.config_path.empty()) return options.dsn;
  auto doc = ConfigDocument::loadFile(options.config_path);
  if (!doc) return doc.error();
  ConfigNode section = (*doc)->root()["sinks"]["postgres"];
  if (!section.exists()) {
    return makeError(ErrorCode::kConfig, options.config_path +
                                             ": no sinks.postgres section; add one or pass --dsn");
  }
  sinks::PostgresSinkOptions sink;
  (void)sinks::readPostgresSinkOptions(section, sink);
  EDGE_TRY((*doc)->finish());
  return sink.dsn;
}

Result<std::unique_ptr<pqxx::connection>> connect(const std::string& dsn) {
  try {
    return std::make_unique<pqxx::connection>(dsn);
  } catch (const std::exception& e) {
    std::string message = e.what();
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return makeError(ErrorCode::kIo, "cannot connect to " + sinks::describePostgresDsn(dsn) + ": " +
                                         message + " (check --dsn / sinks.postgres.dsn and PG*)");
  }
}

int runMigrate(const DbCommands::Options& options) {
  auto dsn = resolveDsn(options);
  if (!dsn) return fail(dsn.error().message);
  auto conn = connect(*dsn);
  if (!conn) return fail(conn.error().message);
  auto applied = sinks::applyPostgresMigrations(**conn);
  if (!applied) return fail(applied.error().message);
  const auto& all = sinks::postgresMigrations();
  for (int version : *applied) {
    for (const auto& m : all) {
      if (m.version == version) {
        std::printf("applied migration %d (%.*s) %s\n", version, static_cast<int>(m.name.size()),
                    m.name.data(), m.checksum.c_str());
      }
    }
  }
  if (applied->empty()) {
    std::printf("schema is up to date (version %d)\n", all.empty() ? 0 : all.back().version);
  }
  return 0;
}

int runStatus(const DbCommands::Options& options) {
  auto dsn = resolveDsn(options);
  if (!dsn) return fail(dsn.error().message);
  auto conn = connect(*dsn);
  if (!conn) return fail(conn.error().message);
  auto states = sinks::postgresMigrationStatus(**conn);
  if (!states) return fail(states.error().message);
  std::printf("database: %s\n", sinks::describePostgresDsn(*dsn).c_str());
  std::printf("%-8s %-16s %-16s %s\n", "version", "name", "state", "applied_at / checksum");
  int rc = 0;
  for (const auto& s : *states) {
    std::string state;
    std::string detail;
    if (!s.checksumMatches()) {
      state = "CHANGED";
      detail = "applied " + s.applied_checksum + ", this edgectl has " + s.checksum;
      rc = 1;
    } else if (!s.known()) {
      state = "unknown";
      detail = s.applied_at + " (applied by a newer version)";
    } else if (s.applied()) {
      state = "applied";
      detail = s.applied_at;
    } else {
      state = "pending";
      detail = s.checksum;
      if (rc == 0) rc = 3;
    }
    std::printf("%-8d %-16s %-16s %s\n", s.version, s.name.c_str(), state.c_str(), detail.c_str());
  }
  return rc;
}

}  // namespace

DbCommands::DbCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  auto* db = app.add_subcommand("db", "PostgreSQL sink schema: migrations");
  db->require_subcommand(1);
  o.migrate = db->add_subcommand("migrate", "Apply the PostgreSQL sink's pending migrations");
  o.status = db->add_subcommand("status", "List the PostgreSQL sink's migrations and their state");
  for (CLI::App* command : {o.migrate, o.status}) {
    auto* dsn = command->add_option("--dsn", o.dsn,
                                    "libpq connection string (default: the PG* environment)");
    command->add_option("--config", o.config_path, "A gateway config file (sinks.postgres.dsn)")
        ->check(CLI::ExistingFile)
        ->excludes(dsn);
  }
}

DbCommands::~DbCommands() = default;

std::optional<int> DbCommands::run() const {
  if (options_->migrate->parsed()) return runMigrate(*options_);
  if (options_->status->parsed()) return runStatus(*options_);
  return std::nullopt;
}

}  // namespace edge::ctl
