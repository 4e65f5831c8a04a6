// edgectl's PostgreSQL schema commands (docs/sinks.md, "postgres"):
//   edgectl db migrate [--dsn DSN | --config GATEWAY.yaml]
//   edgectl db status  [--dsn DSN | --config GATEWAY.yaml]
// `migrate` applies the sink's pending migrations (the same code the gateway
// runs with sinks.postgres.migrate: true) and refuses when an applied
// migration's checksum changed. `status` lists every migration: applied (and
// when), pending, changed, or unknown to this edgectl. Without --dsn or
// --config, libpq's PG* environment variables say where to connect.
// Exit codes: 0 up to date (or migrated), 1 error or checksum mismatch,
// 3 (status only) migrations pending.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

namespace edge::ctl {

class DbCommands {
 public:
  // Registers the subcommands on `app`; keep this object alive until run().
  explicit DbCommands(CLI::App& app);
  ~DbCommands();
  DbCommands(const DbCommands&) = delete;
  DbCommands& operator=(const DbCommands&) = delete;

  // After parsing: the exit code of the command that ran, or nothing if the
  // command line was not one of these.
  std::optional<int> run() const;

  struct Options;

 private:
  std::unique_ptr<Options> options_;
};

}  // namespace edge::ctl
