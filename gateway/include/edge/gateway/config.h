// The gateway's configuration: YAML read through edge::ConfigDocument, every
// key typed and range-checked, unknown keys rejected, all mistakes reported
// at once as "file:line: key: expected ...". docs/gateway.md lists every key.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/config.h"
#include "edge/common/log.h"
#include "edge/common/result.h"
#include "edge/gateway/dead_letter_queue.h"
#include "edge/gateway/pipeline_spec.h"
#include "edge/gateway/sink_factory.h"
#include "edge/sinks/sqlite_sink.h"

namespace edge::gateway {

struct ListenAddress {
  std::string host;
  uint16_t port = 0;             // 0 = pick a free port
  std::string toString() const;  // "host:port", IPv6 in brackets
};

// gateway.tls: TLS on the agent listener (see docs/security.md).
struct TlsConfig {
  bool enabled = true;
  std::string cert;  // gateway server certificate (PEM), SANs matching what agents dial
  std::string key;   // its private key
  std::string ca;    // CA that signs agent certificates
  std::string crl;   // optional CRL file, reloaded when it changes and on SIGHUP
  // Must stay true: tenancy comes from the client certificate. Agents
  // without one may only enroll (gateway.enrollment).
  bool require_client_cert = true;
  std::chrono::milliseconds handshake_timeout{10'000};
  // Plaintext needs enabled: false AND this AND a loopback listen address.
  bool allow_plaintext = false;
  std::chrono::milliseconds crl_check_interval{5'000};
};

// gateway.enrollment: signing agent certificates for enrollment tokens.
struct EnrollmentConfig {
  bool enabled = false;
  std::string ca_key;        // private key of gateway.tls.ca, to sign agent CSRs
  std::string token_secret;  // HMAC key file (edgectl ca init writes <ca-dir>/token.key)
  std::string token_store;   // SQLite file counting token uses; "" = <data_dir>/enrollment.db
  std::string tenant;        // "" = any tenant; else tokens for other tenants are refused
  int64_t cert_days = 90;
};

struct GatewayConfig {
  std::string id;  // "" until resolveDefaults(): the hostname
  ListenAddress listen{"127.0.0.1", 7400};
  std::string data_dir = "/var/lib/edge-gateway";
  // Stamped on events of plaintext connections; over TLS the client
  // certificate's tenant is used. Never taken from the agent.
  std::string tenant = "default";
  // Event loops serving the agent port, each on its own thread with its own
  // listener (SO_REUSEPORT: the kernel spreads connections), connections and
  // pipeline; sinks are shared. 0 until resolveDefaults(): one per CPU core.
  uint32_t workers = 0;
  uint32_t credit_batches = 32;
  uint64_t credit_bytes = 32ull << 20;
  uint32_t max_frame_bytes = 8u << 20;
  uint64_t max_decompressed_bytes = 64ull << 20;
  uint32_t max_connections = 10000;
  uint64_t max_buffered_bytes_per_connection = 16ull << 20;
  // Global budget for decoded batches inside sinks (all connections). Above
  // it credit is withheld until the total falls to half; /readyz says 503.
  uint64_t max_in_flight_bytes = 256ull << 20;
  std::chrono::milliseconds hello_timeout{10'000};
  std::chrono::milliseconds idle_timeout{120'000};
  std::chrono::milliseconds heartbeat_interval{10'000};
  // On SIGTERM: how long to wait for in-flight commits and their acks.
  std::chrono::milliseconds drain_timeout{10'000};

  TlsConfig tls;
  EnrollmentConfig enrollment;

  bool admin_enabled = true;
  ListenAddress admin{"127.0.0.1", 7401};

  LogOptions log{"info", LogFormat::kText, "gateway"};

  // sinks.sqlite; path "" until resolveDefaults(): <data_dir>/events.db.
  sinks::SqliteSinkOptions sqlite;
  // sinks.sqlite.enabled: default true, except when sinks.discard.enabled is
  // true (then only discard runs unless sqlite is enabled explicitly).
  bool sqlite_enabled = true;
  // sinks.discard.enabled: ack and throw events away (storage-sinks/out_discard;
  // benchmarks and smoke tests, or a route's "keep nothing" destination).
  bool discard_events = false;

  // sinks.<name> of the types listed in sink_catalog.cc (kafka, postgres,
  // file, ...): the enabled ones, by name.
  std::map<std::string, SinkFactory, std::less<>> pluggable_sinks;

  // dlq: where sinks put the events they refuse permanently; path "" until
  // resolveDefaults(): <data_dir>/dlq.db.
  DeadLetterOptions dlq;

  // gateway.plugin_dir: where plugin stages' .so files are loaded from.
  std::string plugin_dir;
  // The `pipeline:` section, validated (plugins loaded, options checked).
  // Never null after readGatewayConfig; an empty spec sends every event to
  // the one enabled sink.
  PipelineSpecPtr pipeline;

  // Names of the enabled sinks ("sqlite", "discard", "kafka", ...), the
  // names routes use.
  std::vector<std::string> enabledSinks() const;
};

// Reads the document into a config; errors are recorded in the document
// (check doc.finish()). Exposed for tools that embed gateway sections. The
// pipeline's ConfigNodes point into `doc`, so keep it alive as long as the
// config, or pass it as `owner` to have config.pipeline hold it.
GatewayConfig readGatewayConfig(ConfigDocument& doc,
                                std::shared_ptr<ConfigDocument> owner = nullptr);

// Parses and validates YAML text; on failure kConfig with every error, one
// per line, each "filename:line: key: message".
Result<GatewayConfig> parseGatewayConfig(std::string_view yaml, std::string filename);
Result<GatewayConfig> loadGatewayConfigFile(const std::string& filename);

// For a pipeline reload (SIGHUP): reads the whole file with every check of
// start-up (a typo anywhere is reported, not half-applied), then returns its
// pipeline, which also loaded gateway.plugin_dir. Only the pipeline takes
// effect; the sinks are fixed at start-up, so a route to a sink that is not
// in `running_sinks` is refused. On any error: kConfig with every message,
// one per line, file:line first.
Result<PipelineSpecPtr> loadPipelineForReload(const std::string& filename,
                                              const std::vector<std::string>& running_sinks);

// Fills what depends on other settings or the machine: id (hostname), workers,
// sinks.sqlite.path (<data_dir>/events.db) and dlq.path (<data_dir>/dlq.db).
// Call after command-line overrides.
void resolveDefaults(GatewayConfig& config);

// The configuration compiled into the binary, used without --config and
// printed by --print-default-config. It parses to the defaults above.
std::string_view defaultConfigYaml();

// Whether a listen host is a loopback address (127.0.0.0/8, ::1, localhost).
bool isLoopbackHost(std::string_view host);

// "0.1.0", the project version.
const char* gatewayVersion();

}  // namespace edge::gateway
