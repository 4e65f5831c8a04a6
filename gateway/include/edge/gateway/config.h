// The gateway's configuration: YAML read through edge::ConfigDocument, every
// key typed and range-checked, unknown keys rejected, all mistakes reported
// at once as "file:line: key: expected ...". docs/gateway.md lists every key.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "edge/common/config.h"
#include "edge/common/log.h"
#include "edge/common/result.h"
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
  uint32_t credit_batches = 32;
  uint64_t credit_bytes = 32ull << 20;
  uint32_t max_frame_bytes = 8u << 20;
  uint64_t max_decompressed_bytes = 64ull << 20;
  uint32_t max_connections = 10000;
  uint64_t max_buffered_bytes_per_connection = 16ull << 20;
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
  // sinks.discard.enabled: ack and throw events away instead of storing them
  // (storage-sinks/out_discard; benchmarks and smoke tests only).
  bool discard_events = false;
};

// Reads the document into a config; errors are recorded in the document
// (check doc.finish()). Exposed for tools that embed gateway sections.
GatewayConfig readGatewayConfig(ConfigDocument& doc);

// Parses and validates YAML text; on failure kConfig with every error, one
// per line, each "filename:line: key: message".
Result<GatewayConfig> parseGatewayConfig(std::string_view yaml, std::string filename);
Result<GatewayConfig> loadGatewayConfigFile(const std::string& filename);

// Fills what depends on other settings or the machine: id (hostname) and
// sinks.sqlite.path (<data_dir>/events.db). Call after command-line overrides.
void resolveDefaults(GatewayConfig& config);

// The configuration compiled into the binary, used without --config and
// printed by --print-default-config. It parses to the defaults above.
std::string_view defaultConfigYaml();

// Whether a listen host is a loopback address (127.0.0.0/8, ::1, localhost).
bool isLoopbackHost(std::string_view host);

// "0.1.0", the project version.
const char* gatewayVersion();

}  // namespace edge::gateway
