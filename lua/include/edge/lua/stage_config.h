// Settings of one Lua rule stage, as written in the gateway's pipeline
// (docs/lua.md, "The lua stage") and given to edgectl rules test:
//
//   - lua:
//       rules: /etc/edge/rules        # directory of *.lua rule files (required)
//       name: detect                  # metrics label `stage`; default "lua"
//       fail: open                    # open | closed: what an erroring rule does to the event
//       budget_instructions: 200000   # Lua VM instructions per process() call
//       memory_mb: 64                 # cap on the Lua state's memory
//       reload_interval: 1s           # how often rule and lookup files are checked; 0 = never
//       max_state_keys: 100000        # per rule: window/counter keys before LRU eviction
//       max_alerts_per_batch: 10000   # per stage and batch; more are dropped (counted)
//       allow: [load]                 # sandbox exceptions: load, os, io
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "edge/common/config.h"

namespace edge::lua {

enum class FailMode : uint8_t {
  kOpen,    // the event goes on as the rule left it
  kClosed,  // the event is dropped (counted)
};
const char* failModeName(FailMode mode);

struct LuaStageConfig {
  std::string rules_dir;
  std::string name = "lua";
  FailMode fail = FailMode::kOpen;
  uint64_t budget_instructions = 200000;
  uint64_t memory_bytes = 64ull << 20;
  std::chrono::milliseconds reload_interval{1000};
  uint64_t max_state_keys = 100000;
  uint64_t max_alerts_per_batch = 10000;
  // After this many errors of one rule in one batch, the rule is skipped for
  // the rest of the batch (each skipped event counted with reason "skipped"),
  // so a rule that loops on every event costs at most this many budgets.
  uint64_t max_errors_per_batch = 10;
  // Sandbox exceptions (`allow:`): load/loadstring of source text (never
  // bytecode), the whole os library, the io library.
  bool allow_load = false;
  bool allow_os = false;
  bool allow_io = false;
};

// Reads the map under `- lua:`. Mistakes are recorded in the node's document
// (file:line, key, what was expected; check ConfigDocument::finish()).
// Returns nullopt when the stage cannot be built at all (not a map, no
// rules directory, an unknown `allow` entry).
// A relative `rules` directory is taken relative to `base_dir` when given.
std::optional<LuaStageConfig> readLuaStageConfig(const ConfigNode& node,
                                                 const std::string& base_dir = "");

}  // namespace edge::lua
