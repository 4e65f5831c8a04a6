// Reading the `lua:` stage settings (see stage_config.h).
#include "edge/lua/stage_config.h"

#include <string_view>

namespace edge::lua {

const char* failModeName(FailMode mode) { return mode == FailMode::kOpen ? "open" : "closed"; }

std::optional<LuaStageConfig> readLuaStageConfig(const ConfigNode& node,
                                                 const std::string& base_dir) {
  LuaStageConfig config;
  if (!node.isMap()) {
    node.addError("expected a map of Lua stage settings, e.g. {rules: /etc/edge/rules}");
    return std::nullopt;
  }
  // Type and range mistakes land in the document (the caller checks it);
  // `ok` only tracks what makes the stage unusable (no rules directory).
  bool ok = true;
  node.rejectUnknownKeys({"rules", "name", "fail", "budget_instructions", "memory_mb",
                          "reload_interval", "max_state_keys", "max_alerts_per_batch",
                          "max_errors_per_batch", "allow"});
  if (!node["rules"].exists()) {
    node.addError("rules", "missing required key: the directory of *.lua rule files, e.g. "
                           "rules: /etc/edge/rules");
    ok = false;
  } else {
    config.rules_dir = node.getString("rules", "");
    if (config.rules_dir.empty()) {
      node.addError("rules", "expected a directory of *.lua rule files, got an empty string");
      ok = false;
    } else if (config.rules_dir.front() != '/' && !base_dir.empty()) {
      config.rules_dir = base_dir + "/" + config.rules_dir;
    }
  }
  config.name = node.getString("name", "lua");
  if (config.name.empty()) {
    node.addError("name", "expected a non-empty stage name (the metrics label `stage`)");
    ok = false;
  }
  const std::string fail = node.getEnum("fail", "open", {"open", "closed"});
  config.fail = fail == "closed" ? FailMode::kClosed : FailMode::kOpen;
  config.budget_instructions = static_cast<uint64_t>(
      node.getInt("budget_instructions", 200000, 1000, 1000000000));
  config.memory_bytes =
      static_cast<uint64_t>(node.getInt("memory_mb", 64, 4, 65536)) << 20;
  config.reload_interval = node.getDuration("reload_interval", std::chrono::milliseconds(1000));
  config.max_state_keys =
      static_cast<uint64_t>(node.getInt("max_state_keys", 100000, 1, 100000000));
  config.max_alerts_per_batch =
      static_cast<uint64_t>(node.getInt("max_alerts_per_batch", 10000, 1, 10000000));
  config.max_errors_per_batch =
      static_cast<uint64_t>(node.getInt("max_errors_per_batch", 10, 1, 1000000));
  if (node["allow"].exists()) {
    for (const ConfigNode& item : node["allow"].elements()) {
      const std::string what = item.asString();
      if (what == "load") {
        config.allow_load = true;
      } else if (what == "os") {
        config.allow_os = true;
      } else if (what == "io") {
        config.allow_io = true;
      } else {
        item.addError("expected one of load, os, io (require, debug and bytecode are never "
                      "available to rules), got \"" + what + "\"");
        ok = false;
      }
    }
  }
  return ok ? std::optional<LuaStageConfig>(config) : std::nullopt;
}

}  // namespace edge::lua
