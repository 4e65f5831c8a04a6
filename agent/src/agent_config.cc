// Parses and validates the agent's YAML configuration with ConfigDocument,
// so every mistake is reported at once with file, line and key.
#include "edge/agent/agent_config.h"

#include <algorithm>
#include <cctype>
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
    node.addError("type", "unknown input type \"" + type + "\"; known types are " +
                              knownInputTypes());
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
                            "connection_ttl", "ack_timeout_warning", "drain_timeout"});
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
  config.output.compression_level = static_cast<int>(output.getInt("compression_level", 3, 0, 19));
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
