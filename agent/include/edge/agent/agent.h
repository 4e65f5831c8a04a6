// The edge-agent program as an object: wires configuration, spool, inputs,
// the spool writer, the shipper, metrics and the optional admin HTTP server
// onto one libuv loop, and shuts them down cleanly on SIGINT/SIGTERM.
#pragma once

#include <memory>
#include <string>

#include "edge/agent/agent_config.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"

namespace edge::agent {

class Agent {
 public:
  // Opens the spool and builds every component; nothing runs yet. Errors
  // (unwritable data directory, foreign spool file, admin port in use) name
  // the thing and the fix.
  static Result<std::unique_ptr<Agent>> create(AgentConfig config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs the loop until SIGINT/SIGTERM or requestStop(); on the way out the
  // inputs stop, buffered events are flushed to the spool and every handle
  // is closed.
  Result<void> run();
  // Begins the shutdown; call on the loop thread.
  void requestStop();

  const std::string& agentId() const;
  MetricsRegistry& metrics();

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::agent
