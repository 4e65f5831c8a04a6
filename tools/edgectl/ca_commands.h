// edgectl's certificate authority commands (see docs/security.md):
//   edgectl ca init     --dir DIR [--name NAME] [--days N] [--force]
//   edgectl cert issue  --ca-dir DIR --cn NAME --san DNS:x --san IP:a.b.c.d --out-dir DIR [--days
//   N] edgectl cert issue  --ca-dir DIR --agent-id ID --tenant T --out-dir DIR     (pre-provisioned
//   agent) edgectl cert revoke --ca-dir DIR --serial HEX | --cert FILE [--reason TEXT] edgectl
//   token create --ca-dir DIR --tenant T --ttl 1h --uses N
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

namespace edge::ctl {

class CaCommands {
 public:
  // Registers the subcommands on `app`; keep this object alive until run().
  explicit CaCommands(CLI::App& app);
  ~CaCommands();
  CaCommands(const CaCommands&) = delete;
  CaCommands& operator=(const CaCommands&) = delete;

  // After parsing: the exit code of the command that ran, or nothing if the
  // command line was not one of these.
  std::optional<int> run() const;

  struct Options;

 private:
  std::unique_ptr<Options> options_;
};

}  // namespace edge::ctl
