// Parses and validates the agent's YAML configuration with ConfigDocument,
// so every mistake is reported at once with file, line and key.
#include "edge/agent/agent_config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "edge/agent/parser.h"
#include "edge/common/config.h"
#include "inputs/in_file/file_input.h"

#ifndef EDGE_AGENT_VERSION
#error "EDGE_AGENT_VERSION must be defined by the build (the project version)"
#endif

namespace edge::agent {
namespace {

constexpr int64_t kMaxBatchEvents = 100000;
// Batches stay well below the 8 MiB frame limit even uncompressed.
constexpr uint64_t kMaxBatchBytes = 4ull << 20;

bool isIdentifier(std::string_view text) {
  return !text.empty() && text.size() <= 128 && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

// Mirrors the gateway's rule for plaintext listeners: only loopback.
bool isLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  return host.substr(0, 4) == "127.";
}

// "33%" of the certificate's lifetime, or a duration ("30d" is 30 days).
void parseRenewBefore(const ConfigNode& tls, TlsClientConfig& out) {
  if (!tls["renew_before"].exists()) return;
  std::string text = tls.getString("renew_before", "33%");
  const std::string expected =
      "expected a share of the certificate's lifetime such as 33% (1% to 90%), or a duration "
      "such as 30d, got \"" +
      text + "\"";
  if (!text.empty() && text.back() == '%') {
    std::string number = text.substr(0, text.size() - 1);
    char* end = nullptr;
    double percent = std::strtod(number.c_str(), &end);
    if (number.empty() || end == nullptr || *end != '\0' || !(percent >= 1 && percent <= 90)) {
      tls.addError("renew_before", expected);
      return;
    }
    out.renew_fraction = percent / 100.0;
    out.renew_before = std::chrono::seconds(0);
    return;
  }
  // Durations take s/m/h; days are the natural unit for certificates.
  std::chrono::seconds seconds{0};
  if (!text.empty() && text.back() == 'd') {
    std::string number = text.substr(0, text.size() - 1);
    char* end = nullptr;
    long days = std::strtol(number.c_str(), &end, 10);
    if (number.empty() || *end != '\0' || days < 1 || days > 3650) {
      tls.addError("renew_before", expected);
      return;
    }
    seconds = std::chrono::hours(24 * days);
  } else {
    auto duration = parseDuration(text);
    if (!duration || *duration < std::chrono::minutes(1)) {
      tls.addError("renew_before", expected);
      return;
    }
    seconds = std::chrono::duration_cast<std::chrono::seconds>(*duration);
  }
  out.renew_before = seconds;
}

void parseTls(ConfigNode output, OutputConfig& config) {
  ConfigNode tls = output["tls"];
  tls.rejectUnknownKeys({"enabled", "allow_plaintext", "ca", "cert", "key", "state_dir",
                         "server_name", "handshake_timeout", "renew_before"});
  TlsClientConfig& t = config.tls;
  t.enabled = tls.getBool("enabled", true);
  t.allow_plaintext = tls.getBool("allow_plaintext", false);
  t.ca = tls.getString("ca", "");
  t.cert = tls.getString("cert", "");
  t.key = tls.getString("key", "");
  t.state_dir = tls.getString("state_dir", "");
  t.server_name = tls.getString("server_name", "");
  t.handshake_timeout = tls.getDuration("handshake_timeout", std::chrono::seconds(10));
  if (t.handshake_timeout < std::chrono::milliseconds(100) ||
      t.handshake_timeout > std::chrono::minutes(10)) {
    tls.addError("handshake_timeout", "expected a duration between 100ms and 10m");
  }
  parseRenewBefore(tls, t);
  if (t.cert.empty() != t.key.empty()) {
    tls.addError(t.cert.empty() ? "cert" : "key",
                 "set both output.tls.cert and output.tls.key, or neither (then enrollment keeps "
                 "them in output.tls.state_dir)");
  }
  if (!t.enabled) {
    if (!t.allow_plaintext) {
      tls.addError("enabled",
                   "plaintext connections to gateways need output.tls.allow_plaintext: true (and "
                   "gateways on a loopback address); otherwise keep TLS on and set output.tls.ca");
    } else {
      for (const std::string& gateway : config.gateways) {
        auto hp = parseHostPort(gateway);
        if (hp && !isLoopbackHost(hp->host)) {
          tls.addError("allow_plaintext",
                       "plaintext is only allowed to gateways on a loopback address, but "
                       "output.gateways has " +
                           gateway + "; enable TLS (output.tls.enabled: true with ca) for it");
        }
      }
    }
  }

  ConfigNode en = output["enrollment"];
  en.rejectUnknownKeys({"token", "token_file", "tenant_hint", "retry_min", "retry_max"});
  EnrollmentConfig& e = config.enrollment;
  e.token = en.getString("token", "");
  e.token_file = en.getString("token_file", "");
  e.tenant_hint = en.getString("tenant_hint", "");
  e.retry_min = en.getDuration("retry_min", std::chrono::seconds(30));
  e.retry_max = en.getDuration("retry_max", std::chrono::hours(1));
  if (!e.token.empty() && !e.token_file.empty()) {
    en.addError("token", "set output.enrollment.token or token_file, not both");
  }
  // Never echo the token: it is a secret.
  if (!e.token.empty() && e.token.rfind("edge1.", 0) != 0) {
    en.addError("token",
                "expected an enrollment token as printed by `edgectl token create` (edge1....)");
  }
  if (!e.tenant_hint.empty() && !isIdentifier(e.tenant_hint)) {
    en.addError("tenant_hint",
                "expected letters, digits, '-', '_' or '.', got \"" + e.tenant_hint + "\"");
  }
  if (e.retry_min < std::chrono::milliseconds(100)) {
    en.addError("retry_min", "expected at least 100ms");
  }
  if (e.retry_max < e.retry_min) {
    en.addError("retry_max", "expected a duration no shorter than retry_min");
  }
  if (!t.enabled && (!e.token.empty() || !e.token_file.empty())) {
    en.addError(e.token.empty() ? "token_file" : "token",
                "enrollment sends a token and receives a certificate, so it needs "
                "output.tls.enabled: true");
  }
}

std::string knownInputTypes() {
  std::string out;
  for (const InputTypeInfo& info : inputTypes()) {
    if (!out.empty()) out += ", ";
    out += info.type;
  }
  return out;
}

// The keys every input has, then the type's own parser.
std::shared_ptr<const InputSpec> parseInput(const ConfigNode& node, size_t index) {
  std::string type = node.requireString("type");
  if (type.empty()) return nullptr;  // requireString recorded it
  const InputTypeInfo* info = findInputType(type);
  if (info == nullptr) {
    node.addError("type",
                  "unknown input type \"" + type + "\"; known types are " + knownInputTypes());
    return nullptr;
  }
  InputCommonConfig common;
  common.type = type;
  common.name = node.getString("name", type + "-" + std::to_string(index));
  if (!isIdentifier(common.name)) {
    node.addError("name", "expected letters, digits, '-', '_' or '.' (at most 128), got \"" +
                              common.name + "\"");
  }
  common.kind = node.getString("kind", info->default_kind);
  if (common.kind.empty()) node.addError("kind", "expected a non-empty event kind such as \"log\"");
  std::string when_full = node.getEnum("when_full", whenFullName(info->default_when_full),
                                       {"block", "drop_newest", "drop_oldest"});
  common.when_full = when_full == "drop_newest"   ? WhenFull::kDropNewest
                     : when_full == "drop_oldest" ? WhenFull::kDropOldest
                                                  : WhenFull::kBlock;
  common.parser = parseParserConfig(node);
  std::unique_ptr<InputSpec> spec = info->parse(node, std::move(common));
  return std::shared_ptr<const InputSpec>(std::move(spec));
}

Result<AgentConfig> parseDocument(ConfigDocument& doc) {
  AgentConfig config;
  config.source = doc.filename();
  ConfigNode root = doc.root();
  if (root.exists() && !root.isMap()) {
    root.addError("expected a map with the sections agent, log, admin, spool, inputs, output");
    EDGE_TRY(doc.finish());
  }
  root.rejectUnknownKeys({"agent", "log", "admin", "spool", "inputs", "output"});

  ConfigNode agent = root["agent"];
  agent.rejectUnknownKeys({"id", "hostname", "data_dir"});
  config.id = agent.getString("id", "");
  if (!config.id.empty() && !isIdentifier(config.id)) {
    agent.addError(
        "id", "expected letters, digits, '-', '_' or '.' (at most 128), got \"" + config.id + "\"");
  }
  config.hostname = agent.getString("hostname", "");
  config.data_dir = agent.getString("data_dir", "/var/lib/edge-agent");
  if (config.data_dir.empty()) agent.addError("data_dir", "expected a directory path");

  ConfigNode log = root["log"];
  log.rejectUnknownKeys({"level", "format"});
  config.log_level =
      log.getEnum("level", "info", {"trace", "debug", "info", "warn", "error", "critical", "off"});
  config.log_format = log.getEnum("format", "text", {"text", "json"}) == "json" ? LogFormat::kJson
                                                                                : LogFormat::kText;

  ConfigNode admin = root["admin"];
  admin.rejectUnknownKeys({"listen"});
  if (admin["listen"].exists() && admin.getString("listen", "").empty()) {
    config.admin_listen.clear();  // explicitly off
  } else {
    config.admin_listen = admin.getHostPort("listen", "");
  }

  ConfigNode spool = root["spool"];
  spool.rejectUnknownKeys({"path", "synchronous", "max_bytes", "batch_max_events",
                           "batch_max_bytes", "flush_interval"});
  config.spool.path = spool.getString("path", "");
  config.spool.synchronous_full =
      spool.getEnum("synchronous", "normal", {"normal", "full"}) == "full";
  config.spool.max_bytes = spool.getBytes("max_bytes", 1ull << 30);
  if (config.spool.max_bytes < (1u << 20)) spool.addError("max_bytes", "expected at least 1MiB");
  config.spool.batch_max_events =
      static_cast<uint32_t>(spool.getInt("batch_max_events", 500, 1, kMaxBatchEvents));
  config.spool.batch_max_bytes = spool.getBytes("batch_max_bytes", 1 << 20);
  if (config.spool.batch_max_bytes < 1024 || config.spool.batch_max_bytes > kMaxBatchBytes) {
    spool.addError("batch_max_bytes", "expected a size between 1KiB and 4MiB");
  }
  config.spool.flush_interval = spool.getDuration("flush_interval", std::chrono::milliseconds(200));
  if (config.spool.flush_interval < std::chrono::milliseconds(1) ||
      config.spool.flush_interval > std::chrono::minutes(10)) {
    spool.addError("flush_interval", "expected a duration between 1ms and 10m");
  }

  ConfigNode inputs = root["inputs"];
  if (inputs.exists()) {
    std::set<std::string> names;
    size_t index = 0;
    for (const ConfigNode& node : inputs.elements()) {
      if (!node.isMap()) {
        node.addError("expected a map with at least \"type\" (one of " + knownInputTypes() + ")");
        ++index;
        continue;
      }
      std::shared_ptr<const InputSpec> spec = parseInput(node, index);
      if (spec) {
        if (!names.insert(spec->name()).second) {
          node.addError("name",
                        "expected a unique input name, \"" + spec->name() + "\" is used twice");
        }
        config.inputs.push_back(std::move(spec));
      }
      ++index;
    }
  }

  ConfigNode output = root["output"];
  output.rejectUnknownKeys({"gateways", "compression_level", "max_in_flight_batches",
                            "reconnect_min", "reconnect_max", "heartbeat_interval",
                            "connection_ttl", "ack_timeout_warning", "drain_timeout", "tls",
                            "enrollment"});
  if (output["gateways"].exists()) {
    config.output.gateways.clear();
    for (const ConfigNode& node : output["gateways"].elements()) {
      std::string text = node.asString();
      if (auto hp = parseHostPort(text); !hp) {
        node.addError("expected host:port, got \"" + text + "\"");
      }
      config.output.gateways.push_back(text);
    }
    if (config.output.gateways.empty() && output["gateways"].isSequence()) {
      output.addError("gateways", "expected at least one gateway host:port");
    }
  }
  config.output.compression_level = static_cast<int>(output.getInt("compression_level", 1, 0, 19));
  config.output.max_in_flight_batches =
      static_cast<uint32_t>(output.getInt("max_in_flight_batches", 8, 1, 1024));
  config.output.reconnect_min = output.getDuration("reconnect_min", std::chrono::milliseconds(200));
  config.output.reconnect_max = output.getDuration("reconnect_max", std::chrono::seconds(30));
  if (config.output.reconnect_min < std::chrono::milliseconds(10)) {
    output.addError("reconnect_min", "expected at least 10ms");
  }
  if (config.output.reconnect_max < config.output.reconnect_min) {
    output.addError("reconnect_max", "expected a duration no shorter than reconnect_min");
  }
  config.output.heartbeat_interval =
      output.getDuration("heartbeat_interval", std::chrono::seconds(10));
  if (config.output.heartbeat_interval < std::chrono::milliseconds(100)) {
    output.addError("heartbeat_interval", "expected at least 100ms");
  }

  config.output.connection_ttl = output.getDuration("connection_ttl", std::chrono::milliseconds(0));
  if (config.output.connection_ttl.count() != 0 &&
      config.output.connection_ttl < std::chrono::seconds(1)) {
    output.addError("connection_ttl", "expected 0 (off) or at least 1s, e.g. 10m");
  }
  config.output.ack_timeout_warning =
      output.getDuration("ack_timeout_warning", std::chrono::seconds(60));
  config.output.drain_timeout = output.getDuration("drain_timeout", std::chrono::seconds(5));
  if (config.output.drain_timeout > std::chrono::minutes(10)) {
    output.addError("drain_timeout", "expected a duration up to 10m");
  }

  parseTls(output, config.output);

  EDGE_TRY(doc.finish());
  return config;
}

}  // namespace

std::string AgentConfig::spoolPath() const {
  if (!spool.path.empty()) return spool.path;
  std::string dir = data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + "/spool.db";
}

std::string AgentConfig::tlsStateDir() const {
  std::string dir = output.tls.state_dir;
  if (dir.empty()) {
    dir = data_dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    dir += "/tls";
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::string AgentConfig::tlsCaPath() const {
  return output.tls.ca.empty() ? tlsStateDir() + "/ca.crt" : output.tls.ca;
}

std::string AgentConfig::tlsCertPath() const {
  return output.tls.cert.empty() ? tlsStateDir() + "/agent.crt" : output.tls.cert;
}

std::string AgentConfig::tlsKeyPath() const {
  return output.tls.key.empty() ? tlsStateDir() + "/agent.key" : output.tls.key;
}

Result<AgentConfig> parseAgentConfig(std::string_view yaml, const std::string& filename) {
  auto doc = ConfigDocument::parse(yaml, filename);
  if (!doc) return doc.error();
  return parseDocument(**doc);
}

Result<AgentConfig> loadAgentConfigFile(const std::string& filename) {
  auto doc = ConfigDocument::loadFile(filename);
  if (!doc) return doc.error();
  return parseDocument(**doc);
}

void addTailInput(AgentConfig& config, const std::string& path) {
  size_t n = 1;
  auto taken = [&](const std::string& name) {
    return std::any_of(
        config.inputs.begin(), config.inputs.end(),
        [&](const std::shared_ptr<const InputSpec>& input) { return input->name() == name; });
  };
  while (taken("tail-" + std::to_string(n))) ++n;
  InputCommonConfig common;
  common.type = "file";
  common.name = "tail-" + std::to_string(n);
  common.kind = "log";
  common.when_full = WhenFull::kBlock;
  FileInputConfig input;
  input.name = common.name;
  input.kind = common.kind;
  input.paths = {path};
  input.start_at = StartAt::kBeginning;
  config.inputs.push_back(std::make_shared<FileInputSpec>(std::move(common), std::move(input)));
}

const char* agentVersion() { return EDGE_AGENT_VERSION; }

}  // namespace edge::agent
