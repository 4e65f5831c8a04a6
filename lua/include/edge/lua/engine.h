// RuleEngine: one LuaJIT state running a directory of rule files over
// batches of events (docs/lua.md is the reference for rule authors). The
// gateway's Lua stage holds one per pipeline runner, that is per worker,
// used on that worker's loop thread only; `edgectl rules test` runs the
// very same class offline.
//
//   auto engine = RuleEngine::create(config, {&registry});   // compiles every rule
//   if (!engine) fail(engine.error().message);                // all file:line errors
//   ProcessResult result;
//   (*engine)->process(batch.events, {agent_id, tenant}, result);
//   // dropped events were removed (order kept), alerts appended at the end
//
// Per batch, each rule (in file-name order) sees the events still in the
// batch that pass its prefilter, one call per event (`process`) or one call
// for all of them (`process_batch`). Alerts raised during the batch are
// appended after every rule ran, so rules of the same stage do not see each
// other's alerts; later stages and the router do.
//
// Sandbox and limits: see docs/lua.md. The JIT compiler is off in these
// states: LuaJIT does not run count hooks inside compiled traces (unless
// built with LUAJIT_ENABLE_CHECKHOOK, which Debian's is not), so only the
// interpreter can bound `while true do end` by the instruction budget.
//
// Metrics (prefix default edge_gateway_lua; labels stage, rule):
//   <prefix>_rule_events_total         events the rule was offered
//   <prefix>_rule_matched_total        ... that passed its prefilter (ran Lua)
//   <prefix>_rule_dropped_total        events the rule dropped (fail-closed drops included)
//   <prefix>_rule_alerts_total         alerts raised
//   <prefix>_rule_errors_total{reason} error, budget, memory, skipped
//   <prefix>_rule_run_ns_total         time spent in the rule (prefilter + Lua)
//   <prefix>_rule_state_keys           window/counter keys held (gauge)
//   <prefix>_rule_state_evictions_total keys evicted by max_state_keys
//   <prefix>_alerts_dropped_total{stage}  alerts past max_alerts_per_batch
//   <prefix>_reloads_total{stage,result}  rule file reloads: ok / error
//   <prefix>_memory_bytes{stage}       the Lua state's memory (gauge)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edge/common/event.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/lua/stage_config.h"

namespace edge::lua {

struct EngineOptions {
  MetricsRegistry* metrics = nullptr;  // null: private counters
  std::string metric_prefix = "edge_gateway_lua";
  // ns since the epoch; default edge::nowNs. Used for alerts without a
  // triggering event and for windows of events without a timestamp.
  std::function<int64_t()> wall_clock;
  // Monotonic ns for the reload interval; default the steady clock.
  std::function<int64_t()> monotonic_clock;
  // Rule errors are logged (rate-limited) through spdlog; tools that report
  // errors themselves turn this off.
  bool log_errors = true;
};

// What a batch knows that its events do not carry.
struct BatchContext {
  std::string_view agent_id;
  std::string_view tenant;  // for alerts when the trigger has none
};

struct ProcessResult {
  uint64_t dropped = 0;  // events removed (rule drops and fail-closed errors)
  uint64_t alerts = 0;   // alert events appended
  uint64_t errors = 0;   // rule calls that failed (any reason)
  void clear() { *this = ProcessResult{}; }
};

struct RuleInfo {
  std::string name;
  std::string file;
  std::string description;
  std::string severity;  // as written: low, medium, high, critical, or a syslog name
  std::vector<std::string> attack;
  std::vector<std::string> references;
  std::string author;
  std::string prefilter;  // Prefilter::describe()
  bool batch = false;     // process_batch instead of process
  uint64_t source_hash = 0;
};

struct RuleStats {
  uint64_t events = 0;
  uint64_t matched = 0;
  uint64_t dropped = 0;
  uint64_t alerts = 0;
  uint64_t errors = 0;
  uint64_t run_ns = 0;
  size_t state_keys = 0;
};

struct ReloadReport {
  std::vector<std::string> loaded;   // new or changed rules now running
  std::vector<std::string> removed;  // rules whose file is gone
  std::vector<std::string> errors;   // file:line: message; the previous version keeps running
  bool changed() const { return !loaded.empty() || !removed.empty(); }
};

class RuleEngine {
 public:
  // Loads and compiles every *.lua file of config.rules_dir. Any file that
  // fails is an error; the message lists every failure, one per line, as
  // file:line: message.
  static Result<std::unique_ptr<RuleEngine>> create(const LuaStageConfig& config,
                                                    EngineOptions options = {});
  ~RuleEngine();
  RuleEngine(const RuleEngine&) = delete;
  RuleEngine& operator=(const RuleEngine&) = delete;

  // Runs every rule over `events` in place (see above); `out` is cleared
  // first. Checks the rule directory and lookup files first when
  // reload_interval has passed since the last check.
  void process(std::vector<Event>& events, const BatchContext& context, ProcessResult& out);

  // Checks the rule directory and lookup files now: changed files are
  // recompiled, a file that fails keeps its previous version running, the
  // state of unchanged rules is kept.
  ReloadReport reload();

  // Takes the window/counter state of every rule of `previous` whose name
  // and source are unchanged (a pipeline reload builds a new engine).
  // Returns how many rules kept their state.
  size_t adoptState(RuleEngine& previous);

  std::vector<RuleInfo> rules() const;
  RuleStats stats(std::string_view rule) const;
  size_t memoryBytes() const;
  const LuaStageConfig& config() const;

  struct Impl;  // opaque: lua/src/engine_impl.h

 private:
  explicit RuleEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::lua
