// edgectl: the operator's toolkit. First cut: inspect a gateway's SQLite sink
// and an agent's spool, and validate configuration files.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "ca_commands.h"
#include "commands.h"
#include "config_check.h"
#include "db_commands.h"
#include "dlq_commands.h"
#include "rules_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"edgectl: operate edge agents and gateways"};
  app.set_version_flag("--version", std::string("edgectl ") + EDGE_VERSION);
  app.require_subcommand(0, 1);

  std::string config_path;
  bool check_only = false;
  app.add_option("--config", config_path, "A gateway config file (YAML)")->check(CLI::ExistingFile);
  app.add_flag("--check-config", check_only, "Validate --config as a gateway config and exit (0 = valid)");

  auto* sink = app.add_subcommand("sink", "Inspect a sink");
  sink->require_subcommand(1);
  std::string db_path;
  int latest = 5;
  auto* summary = sink->add_subcommand("summary", "Summarise what arrived in a SQLite sink database");
  summary->add_option("--db", db_path, "Path of the SQLite sink database (sinks.sqlite.path)")->required();
  summary->add_option("--latest", latest, "How many of the latest events to show")->check(CLI::Range(0, 1000));

  auto* spool = app.add_subcommand("spool", "Inspect an agent's spool");
  spool->require_subcommand(1);
  std::string spool_path;
  auto* stats = spool->add_subcommand("stats", "Show pending batches and committed input positions");
  stats->add_option("--spool", spool_path, "Path of the spool database (<agent.data_dir>/spool.db)")->required();

  edge::ctl::CaCommands ca_commands(app);
  edge::ctl::RulesCommands rules_commands(app);
  edge::ctl::DlqCommands dlq_commands(app);
  edge::ctl::DbCommands db_commands(app);

  CLI11_PARSE(app, argc, argv);

  if (auto rc = ca_commands.run()) return *rc;
  if (auto rc = rules_commands.run()) return *rc;
  if (auto rc = dlq_commands.run()) return *rc;
  if (auto rc = db_commands.run()) return *rc;

  if (check_only) {
    if (config_path.empty()) {
      std::fprintf(stderr, "edgectl: --check-config needs --config FILE\n");
      return 2;
    }
    return edge::ctl::runGatewayConfigCheck(config_path);
  }
  if (summary->parsed()) return edge::ctl::runSinkSummary(db_path, latest);
  if (stats->parsed()) return edge::ctl::runSpoolStats(spool_path);
  std::printf("%s", app.help().c_str());
  return 0;
}
