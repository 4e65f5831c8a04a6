// Reads and validates the gateway configuration (see config.h, docs/gateway.md).
#include "edge/gateway/config.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <thread>
#include <utility>

#include "edge/gateway/sink_catalog.h"

namespace edge::gateway {
namespace {

constexpr std::string_view kDefaultConfig =
    R"yaml(# edge-gateway configuration (the built-in default; see docs/gateway.md).
gateway:
  id: ""                       # default: hostname
  listen: 127.0.0.1:7400       # port 0 = pick a free one (reported in the ready file and log)
  data_dir: /var/lib/edge-gateway
  tenant: default              # events of plaintext connections; over TLS the certificate's tenant
  workers: 0                   # event loops on the agent port (SO_REUSEPORT); 0 = one per CPU core
  credit_batches: 32           # initial + replenished credit per connection
  credit_bytes: 32MiB
  max_frame_bytes: 8MiB
  max_decompressed_bytes: 64MiB
  max_connections: 10000
  max_buffered_bytes_per_connection: 16MiB
  max_in_flight_bytes: 256MiB  # all decoded batches inside sinks; above it credit is withheld
  hello_timeout: 10s
  idle_timeout: 120s
  heartbeat_interval: 10s      # told to agents in WELCOME
  drain_timeout: 10s           # on SIGTERM: wait this long for in-flight commits and their acks
  # The demo runs agent and gateway on loopback without certificates, so the
  # built-in default is plaintext, explicitly allowed (loopback only). For
  # anything else: enabled: true with cert, key and ca (docs/security.md).
  tls:
    enabled: false
    allow_plaintext: true      # only honoured when listen is a loopback address
    cert: ""                   # gateway certificate (edgectl cert issue)
    key: ""
    ca: ""                     # CA of the agent certificates
    crl: ""                    # optional; reloaded on change and on SIGHUP
    require_client_cert: true
    handshake_timeout: 10s
  enrollment:
    enabled: false             # needs tls.enabled; signs agent CSRs for enrollment tokens
  plugin_dir: ""               # processor plugins for pipeline stages, e.g. /usr/lib/edge/plugins
admin:
  listen: 127.0.0.1:7401       # "" = off; serves /metrics, /healthz and /readyz
log: {level: info, format: text}
sinks:
  sqlite:
    # enabled: true            # default; false when only discard is enabled
    path: ""                   # default <data_dir>/events.db
    synchronous: normal        # normal | full
    queue_max_batches: 64      # high watermark; low = high/2
  discard:
    enabled: false             # true = ack and throw events away instead (benchmarks)
  # file: {directory: "", rotate_bytes: 128MiB, rotate_interval: 1h, keep: 24, fsync: true}
dlq:                           # events a sink refuses permanently (edgectl dlq list|replay)
  path: ""                     # default <data_dir>/dlq.db
  max_bytes: 1GiB              # beyond it the sink retries instead (events wait in the agent's spool)
  synchronous: normal          # normal | full
# pipeline:                    # stages, routes, rate limits: docs/pipeline.md
#   stages: []
#   routes: []
#   default_route: {sinks: [sqlite]}
)yaml";

constexpr uint64_t kMinFrameBytes = 1024;

// "host:port" or "[v6]:port" with port 0..65535 (0 = any free port), which
// edge::parseHostPort does not allow. Empty on success, else what is wrong.
std::string parseListen(std::string_view text, ListenAddress& out) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return "expected [ipv6]:port";
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return "expected host:port";
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return "expected host:port (write IPv6 as [addr]:port)";
  }
  if (host.empty()) return "expected host:port with a host, e.g. 0.0.0.0:7400";
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return "expected host:port with port 0..65535 (0 = any free port)";
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(value);
  return {};
}

void readListen(const ConfigNode& section, std::string_view key, ListenAddress& out, bool allow_off,
                bool* enabled) {
  if (!section[key].exists()) return;
  const std::string text = section.getString(key, out.toString());
  if (allow_off && text.empty()) {
    *enabled = false;
    return;
  }
  ListenAddress parsed;
  if (std::string problem = parseListen(text, parsed); !problem.empty()) {
    section.addError(key, problem + ", got \"" + text + "\"");
    return;
  }
  out = parsed;
  if (enabled != nullptr) *enabled = true;
}

uint64_t readBytes(const ConfigNode& section, std::string_view key, uint64_t def, uint64_t min,
                   uint64_t max) {
  const uint64_t value = section.getBytes(key, def);
  if (value < min || value > max) {
    section.addError(key, "expected a size between " + std::to_string(min) + " and " +
                              std::to_string(max) + " bytes, got " + std::to_string(value));
    return def;
  }
  return value;
}

std::chrono::milliseconds readPositiveDuration(const ConfigNode& section, std::string_view key,
                                               std::chrono::milliseconds def) {
  const auto value = section.getDuration(key, def);
  if (value.count() <= 0 || value.count() > std::numeric_limits<uint32_t>::max()) {
    section.addError(key, "expected a duration above zero (e.g. 10s), got " +
                              std::to_string(value.count()) + "ms");
    return def;
  }
  return value;
}

void readTls(ConfigNode gw, GatewayConfig& config) {
  ConfigNode tls = gw["tls"];
  tls.rejectUnknownKeys({"enabled", "cert", "key", "ca", "crl", "require_client_cert",
                         "handshake_timeout", "allow_plaintext", "crl_check_interval"});
  TlsConfig& t = config.tls;
  t.enabled = tls.getBool("enabled", t.enabled);
  t.cert = tls.getString("cert", t.cert);
  t.key = tls.getString("key", t.key);
  t.ca = tls.getString("ca", t.ca);
  t.crl = tls.getString("crl", t.crl);
  t.require_client_cert = tls.getBool("require_client_cert", t.require_client_cert);
  t.handshake_timeout = readPositiveDuration(tls, "handshake_timeout", t.handshake_timeout);
  t.allow_plaintext = tls.getBool("allow_plaintext", t.allow_plaintext);
  t.crl_check_interval = readPositiveDuration(tls, "crl_check_interval", t.crl_check_interval);
  if (t.enabled) {
    const char* hint = " (e.g. written by edgectl cert issue / edgectl ca init)";
    if (t.cert.empty())
      tls.addError("cert", std::string("TLS is enabled and needs the gateway certificate file") +
                               hint + ", or set gateway.tls.enabled: false on loopback");
    if (t.key.empty())
      tls.addError("key",
                   std::string("TLS is enabled and needs the gateway's private key file") + hint);
    if (t.ca.empty())
      tls.addError("ca", std::string("TLS is enabled and needs the CA certificate that signs "
                                     "agent certificates") +
                             hint);
    if (!t.require_client_cert) {
      tls.addError("require_client_cert",
                   "false is not supported: an agent's tenant comes from its client certificate; "
                   "agents without one can only enroll (gateway.enrollment)");
    }
  } else if (!t.allow_plaintext) {
    tls.addError("enabled",
                 "plaintext agent connections need gateway.tls.allow_plaintext: true (and a "
                 "loopback listen address); otherwise enable TLS with cert, key and ca");
  } else if (!isLoopbackHost(config.listen.host)) {
    tls.addError("allow_plaintext",
                 "plaintext is only allowed on a loopback listen address, but gateway.listen is " +
                     config.listen.toString() +
                     "; enable TLS (gateway.tls.enabled: true with cert, key, ca) to listen there");
  }

  ConfigNode en = gw["enrollment"];
  en.rejectUnknownKeys({"enabled", "ca_key", "token_secret", "token_store", "tenant", "cert_days"});
  EnrollmentConfig& e = config.enrollment;
  e.enabled = en.getBool("enabled", e.enabled);
  e.ca_key = en.getString("ca_key", e.ca_key);
  e.token_secret = en.getString("token_secret", e.token_secret);
  e.token_store = en.getString("token_store", e.token_store);
  e.tenant = en.getString("tenant", e.tenant);
  e.cert_days = en.getInt("cert_days", e.cert_days, 1, 3650);
  if (e.enabled) {
    if (!t.enabled)
      en.addError(
          "enabled",
          "enrollment sends tokens and certificates, so it needs gateway.tls.enabled: true");
    if (e.ca_key.empty())
      en.addError("ca_key",
                  "enrollment needs the private key of gateway.tls.ca to sign agent "
                  "certificates (<ca-dir>/ca.key)");
    if (e.token_secret.empty())
      en.addError("token_secret",
                  "enrollment needs the token HMAC key file (<ca-dir>/token.key from edgectl ca "
                  "init)");
  }
}

}  // namespace

bool isLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  return host.substr(0, 4) == "127.";
}

std::string ListenAddress::toString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::vector<std::string> GatewayConfig::enabledSinks() const {
  std::vector<std::string> names;
  if (sqlite_enabled) names.emplace_back("sqlite");
  if (discard_events) names.emplace_back("discard");
  for (const auto& [name, factory] : pluggable_sinks) names.push_back(name);
  return names;
}

GatewayConfig readGatewayConfig(ConfigDocument& doc, std::shared_ptr<ConfigDocument> owner) {
  GatewayConfig config;
  ConfigNode root = doc.root();
  root.rejectUnknownKeys({"gateway", "admin", "log", "sinks", "dlq", "pipeline"});

  ConfigNode gw = root["gateway"];
  gw.rejectUnknownKeys({"id", "listen", "data_dir", "tenant", "credit_batches", "credit_bytes",
                        "max_frame_bytes", "max_decompressed_bytes", "max_connections",
                        "max_buffered_bytes_per_connection", "max_in_flight_bytes", "hello_timeout",
                        "idle_timeout", "heartbeat_interval", "drain_timeout", "tls", "enrollment",
                        "plugin_dir", "workers"});
  config.id = gw.getString("id", config.id);
  readListen(gw, "listen", config.listen, false, nullptr);
  config.data_dir = gw.getString("data_dir", config.data_dir);
  if (config.data_dir.empty()) gw.addError("data_dir", "expected a directory, got \"\"");
  config.tenant = gw.getString("tenant", config.tenant);
  config.workers = static_cast<uint32_t>(gw.getInt("workers", config.workers, 0, 256));
  if (config.tenant.empty()) gw.addError("tenant", "expected a tenant name, got \"\"");
  config.credit_batches =
      static_cast<uint32_t>(gw.getInt("credit_batches", config.credit_batches, 1, 1'000'000));
  config.max_frame_bytes =
      static_cast<uint32_t>(readBytes(gw, "max_frame_bytes", config.max_frame_bytes, kMinFrameBytes,
                                      std::numeric_limits<uint32_t>::max()));
  config.credit_bytes =
      readBytes(gw, "credit_bytes", config.credit_bytes, kMinFrameBytes, 1ull << 40);
  if (config.credit_bytes < config.max_frame_bytes) {
    gw.addError("credit_bytes", "must be at least gateway.max_frame_bytes (" +
                                    std::to_string(config.max_frame_bytes) +
                                    " bytes), or a full-size batch could never be sent");
  }
  config.max_decompressed_bytes = readBytes(
      gw, "max_decompressed_bytes", config.max_decompressed_bytes, kMinFrameBytes, 1ull << 32);
  config.max_connections =
      static_cast<uint32_t>(gw.getInt("max_connections", config.max_connections, 1, 1'000'000));
  config.max_buffered_bytes_per_connection =
      readBytes(gw, "max_buffered_bytes_per_connection", config.max_buffered_bytes_per_connection,
                kMinFrameBytes, 1ull << 40);
  config.max_in_flight_bytes =
      readBytes(gw, "max_in_flight_bytes", config.max_in_flight_bytes, kMinFrameBytes, 1ull << 40);
  config.hello_timeout = readPositiveDuration(gw, "hello_timeout", config.hello_timeout);
  config.idle_timeout = readPositiveDuration(gw, "idle_timeout", config.idle_timeout);
  config.heartbeat_interval =
      readPositiveDuration(gw, "heartbeat_interval", config.heartbeat_interval);
  config.drain_timeout = readPositiveDuration(gw, "drain_timeout", config.drain_timeout);
  if (config.heartbeat_interval >= config.idle_timeout) {
    gw.addError("heartbeat_interval", "must be shorter than gateway.idle_timeout (" +
                                          std::to_string(config.idle_timeout.count()) +
                                          "ms), or agents are closed as idle between heartbeats");
  }

  config.plugin_dir = gw.getString("plugin_dir", config.plugin_dir);

  readTls(gw, config);

  ConfigNode admin = root["admin"];
  admin.rejectUnknownKeys({"listen"});
  readListen(admin, "listen", config.admin, true, &config.admin_enabled);

  ConfigNode log = root["log"];
  log.rejectUnknownKeys({"level", "format"});
  config.log.level = log.getEnum("level", config.log.level,
                                 {"trace", "debug", "info", "warn", "error", "critical", "off"});
  config.log.format = log.getEnum("format", "text", {"text", "json"}) == "json" ? LogFormat::kJson
                                                                                : LogFormat::kText;

  ConfigNode sinks_node = root["sinks"];
  std::vector<std::string_view> sink_keys = {"sqlite", "discard"};
  for (const SinkType& type : pluggableSinkTypes()) sink_keys.push_back(type.name);
  sinks_node.rejectUnknownKeys(sink_keys);
  for (const SinkType& type : pluggableSinkTypes()) {
    ConfigNode section = sinks_node[type.name];
    if (!section.exists()) continue;
    if (SinkFactory factory = type.read(section)) {
      config.pluggable_sinks.emplace(std::string(type.name), std::move(factory));
    }
  }
  ConfigNode discard = sinks_node["discard"];
  discard.rejectUnknownKeys({"enabled"});
  config.discard_events = discard.getBool("enabled", false);
  ConfigNode sqlite = sinks_node["sqlite"];
  sqlite.rejectUnknownKeys({"enabled", "path", "synchronous", "queue_max_batches"});
  // SQLite is the embedded default: it runs unless another sink is enabled
  // (then only when enabled explicitly).
  config.sqlite_enabled =
      sqlite.getBool("enabled", !config.discard_events && config.pluggable_sinks.empty());
  if (!config.sqlite_enabled && !config.discard_events && config.pluggable_sinks.empty()) {
    sqlite.addError("enabled",
                    "no sink is enabled; enable sinks.sqlite or another sink, or the gateway "
                    "would have nowhere to commit events");
  }
  config.sqlite.path = sqlite.getString("path", "");
  config.sqlite.synchronous = sqlite.getEnum("synchronous", "normal", {"normal", "full"}) == "full"
                                  ? sinks::SqliteSynchronous::kFull
                                  : sinks::SqliteSynchronous::kNormal;
  config.sqlite.queue_max_batches =
      static_cast<size_t>(sqlite.getInt("queue_max_batches", 64, 1, 1'000'000));

  ConfigNode dlq = root["dlq"];
  dlq.rejectUnknownKeys({"path", "max_bytes", "synchronous"});
  config.dlq.path = dlq.getString("path", "");
  config.dlq.max_bytes = dlq.getBytes("max_bytes", config.dlq.max_bytes);
  config.dlq.synchronous_full =
      dlq.getEnum("synchronous", "normal", {"normal", "full"}) == "full";

  // Last: it needs the enabled sinks and the plugin directory, and its
  // errors join the others in the same report.
  config.pipeline =
      readPipelineSpec(doc, {config.enabledSinks(), config.plugin_dir}, std::move(owner));
  return config;
}

Result<GatewayConfig> parseGatewayConfig(std::string_view yaml, std::string filename) {
  auto parsed = ConfigDocument::parse(yaml, std::move(filename));
  if (!parsed) return parsed.error();
  std::shared_ptr<ConfigDocument> doc = std::move(*parsed);
  GatewayConfig config = readGatewayConfig(*doc, doc);
  EDGE_TRY(doc->finish());
  return config;
}

Result<GatewayConfig> loadGatewayConfigFile(const std::string& filename) {
  auto loaded = ConfigDocument::loadFile(filename);
  if (!loaded) return loaded.error();
  std::shared_ptr<ConfigDocument> doc = std::move(*loaded);
  GatewayConfig config = readGatewayConfig(*doc, doc);
  EDGE_TRY(doc->finish());
  return config;
}

Result<PipelineSpecPtr> loadPipelineForReload(const std::string& filename,
                                              const std::vector<std::string>& running_sinks) {
  auto config = loadGatewayConfigFile(filename);
  if (!config) return config.error();
  std::string not_running;
  for (const std::string& sink : config->pipeline->config.routing.sinkNames()) {
    if (std::find(running_sinks.begin(), running_sinks.end(), sink) == running_sinks.end()) {
      not_running += (not_running.empty() ? "" : ", ") + sink;
    }
  }
  if (!not_running.empty()) {
    std::string running;
    for (const std::string& sink : running_sinks) running += (running.empty() ? "" : ", ") + sink;
    return makeError(ErrorCode::kConfig,
                     filename + ": pipeline: routes to sink(s) " + not_running +
                         ", which this gateway did not start with (running: " + running +
                         "); sinks are fixed at start-up, restart the gateway to add one");
  }
  return config->pipeline;
}

void resolveDefaults(GatewayConfig& config) {
  if (config.id.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0') {
      config.id = name;
    } else {
      config.id = "edge-gateway";
    }
  }
  if (config.sqlite.path.empty()) {
    config.sqlite.path = config.data_dir + "/events.db";
  }
  if (config.workers == 0) {
    config.workers = std::max(1u, std::thread::hardware_concurrency());
  }
  if (config.dlq.path.empty()) {
    config.dlq.path = config.data_dir + "/dlq.db";
  }
  if (config.enrollment.token_store.empty()) {
    config.enrollment.token_store = config.data_dir + "/enrollment.db";
  }
  config.log.component = "gateway";
}

std::string_view defaultConfigYaml() { return kDefaultConfig; }

const char* gatewayVersion() { return EDGE_GATEWAY_VERSION; }

}  // namespace edge::gateway
