// The edge-agent configuration: typed settings, YAML parsing and validation
// (every mistake reported at once as "file:line: key: expected ..."), and the
// default configuration compiled into the binary. docs/agent.md is the
// reference for every key.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edge/agent/input_registry.h"
#include "edge/common/log.h"
#include "edge/common/result.h"

namespace edge::agent {

struct SpoolConfig {
  std::string path;               // empty: <data_dir>/spool.db
  bool synchronous_full = false;  // PRAGMA synchronous=FULL instead of NORMAL
  // Spooled payload bytes at which each input's when_full policy applies.
  uint64_t max_bytes = 1ull << 30;
  uint32_t batch_max_events = 500;
  uint64_t batch_max_bytes = 1 << 20;
  std::chrono::milliseconds flush_interval{200};
};

// output.tls: how the agent authenticates gateways and itself (docs/agent.md,
// docs/security.md). TLS is the default; plaintext needs enabled: false,
// allow_plaintext: true and loopback gateways, like the gateway's own rule.
struct TlsClientConfig {
  bool enabled = true;
  bool allow_plaintext = false;
  std::string ca;         // the edge CA certificate; empty: <state_dir>/ca.crt
  std::string cert;       // the agent's certificate; empty: <state_dir>/agent.crt
  std::string key;        // its private key; empty: <state_dir>/agent.key
  std::string state_dir;  // empty: <data_dir>/tls
  // The name checked against the gateway certificate's SANs; empty: the
  // host of each output.gateways entry, as dialed.
  std::string server_name;
  // From TCP connect to the end of the TLS handshake.
  std::chrono::milliseconds handshake_timeout{10000};
  // Renew once less than renew_fraction of the certificate's lifetime is
  // left, or, when renew_before is set, once less than that much time is.
  double renew_fraction = 1.0 / 3.0;
  std::chrono::seconds renew_before{0};
};

// output.enrollment: getting the first certificate with a token.
struct EnrollmentConfig {
  std::string token;       // an edgectl token create token
  std::string token_file;  // or a file holding it (read again before every attempt)
  std::string tenant_hint;
  // After a refusal, the first wait before trying again; doubles up to retry_max.
  std::chrono::milliseconds retry_min{30000};
  std::chrono::milliseconds retry_max{3600000};
};

struct OutputConfig {
  std::vector<std::string> gateways{"127.0.0.1:7400"};
  int compression_level = 1;  // zstd level; 0 sends uncompressed batches
  uint32_t max_in_flight_batches = 8;
  std::chrono::milliseconds reconnect_min{200};
  std::chrono::milliseconds reconnect_max{30000};
  std::chrono::milliseconds heartbeat_interval{10000};
  // Reconnect (gracefully) after a connection has lasted this long, so a
  // tier behind a load balancer rebalances; 0 = never.
  std::chrono::milliseconds connection_ttl{0};
  // Warn when batches are in flight and no ack arrived for this long; 0 = off.
  std::chrono::milliseconds ack_timeout_warning{60000};
  // After GOAWAY or a ttl reconnect: how long to wait for outstanding acks
  // before closing the connection anyway (the rest is resent elsewhere).
  std::chrono::milliseconds drain_timeout{5000};
  TlsClientConfig tls;
  EnrollmentConfig enrollment;
};

struct AgentConfig {
  std::string source;    // file name the config came from, or "<embedded>"
  std::string id;        // empty: generated once and kept in the spool
  std::string hostname;  // empty: gethostname()
  std::string data_dir = "/var/lib/edge-agent";
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
  std::string admin_listen;  // host:port for /metrics and /healthz; empty = off
  SpoolConfig spool;
  // Validated input settings, in configuration order; each creates its
  // Input through the type registry (edge/agent/input_registry.h).
  std::vector<std::shared_ptr<const InputSpec>> inputs;
  OutputConfig output;

  // spool.path, or <data_dir>/spool.db when it is empty.
  std::string spoolPath() const;
  // output.tls.state_dir, or <data_dir>/tls; and the files in it unless set.
  std::string tlsStateDir() const;
  std::string tlsCaPath() const;
  std::string tlsCertPath() const;
  std::string tlsKeyPath() const;
};

// Parses and validates YAML text; `filename` is used in error messages.
// On failure the error (kConfig) lists every problem, one per line.
Result<AgentConfig> parseAgentConfig(std::string_view yaml, const std::string& filename);
Result<AgentConfig> loadAgentConfigFile(const std::string& filename);

// The configuration used when no --config is given (also --print-default-config).
std::string_view defaultAgentConfigYaml();
inline constexpr std::string_view kEmbeddedConfigName = "<embedded>";

// Adds a file input for `path` (the --tail option): read from the beginning,
// named "tail-<n>" so it cannot collide with configured inputs.
void addTailInput(AgentConfig& config, const std::string& path);

// "edge-agent 0.1.0" comes from the project version.
const char* agentVersion();

}  // namespace edge::agent
