// edgectl's Lua rule commands (docs/lua.md, "Testing rules offline"):
//   edgectl rules test --rules DIR --events FILE.ndjson [--expect FILE] [--alerts-only]
//                      [--batch-size N] [--fail open|closed] [--budget N] [--memory-mb N]
//                      [--allow load,os,io] [--agent-id ID] [--stats]
//   edgectl rules lint --rules DIR
// Both run edge::lua::RuleEngine, the code the gateway's Lua stage runs.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

namespace edge::ctl {

class RulesCommands {
 public:
  // Registers the subcommands on `app`; keep this object alive until run().
  explicit RulesCommands(CLI::App& app);
  ~RulesCommands();
  RulesCommands(const RulesCommands&) = delete;
  RulesCommands& operator=(const RulesCommands&) = delete;

  // After parsing: the exit code of the command that ran (0 ok, 1
  // expectations not met or lint findings that fail, 2 bad input), or
  // nothing if the command line was not one of these.
  std::optional<int> run() const;

  struct Options;

 private:
  std::unique_ptr<Options> options_;
};

}  // namespace edge::ctl
