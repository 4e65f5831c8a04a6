// edgectl's dead-letter queue commands (see docs/gateway.md, "Dead-letter queue"):
//   edgectl dlq list   (--config GATEWAY.yaml | --dlq FILE) [--sink S] [--after ID] [--limit N]
//   edgectl dlq replay --config GATEWAY.yaml [--sink S] [--to SINK] [--limit N] [--dry-run]
// `list` prints one JSON object per dead-lettered event. `replay` sends the
// events to their sink again (or to --to) through the same sink code the
// gateway runs, built from the gateway's config, and removes each event the
// sink took; events it refuses again stay (re-dead-lettered with the new
// reason) and the command says so. Sinks are idempotent on (agent_id, seq),
// so replaying twice stores nothing twice.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

namespace edge::ctl {

class DlqCommands {
 public:
  // Registers the subcommands on `app`; keep this object alive until run().
  explicit DlqCommands(CLI::App& app);
  ~DlqCommands();
  DlqCommands(const DlqCommands&) = delete;
  DlqCommands& operator=(const DlqCommands&) = delete;

  // After parsing: the exit code of the command that ran, or nothing if the
  // command line was not one of these.
  std::optional<int> run() const;

  struct Options;

 private:
  std::unique_ptr<Options> options_;
};

}  // namespace edge::ctl
