// Internals of RuleEngine shared by its source files: the engine state,
// compiled rules, the event view pool. Not a public header.
#pragma once

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
}

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "edge/common/log.h"
#include "edge/lua/engine.h"
#include "edge/lua/lookup.h"
#include "edge/lua/prefilter.h"
#include "edge/lua/rule_state.h"
#include "regex_cache.h"

namespace edge::lua {

enum class ErrorReason : uint8_t { kError, kBudget, kMemory, kSkipped };
constexpr size_t kErrorReasons = 4;
const char* errorReasonName(ErrorReason reason);

struct RuleCounters {
  Counter* events = nullptr;
  Counter* matched = nullptr;
  Counter* dropped = nullptr;
  Counter* alerts = nullptr;
  Counter* errors[kErrorReasons] = {};
  Counter* run_ns = nullptr;
  Gauge* state_keys = nullptr;
  Counter* evictions = nullptr;
  uint64_t evictions_reported = 0;
};

struct CompiledRule {
  RuleInfo info;
  Prefilter prefilter;
  Severity severity = Severity::kWarning;
  int env_ref = LUA_NOREF;
  int fn_ref = LUA_NOREF;
  std::shared_ptr<RuleState> state;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  RuleCounters counters;
  RuleStats stats;
};

// Payload of an event view userdata. `event` is null outside the call that
// was handed the view, so a view kept in a global fails cleanly.
struct ViewData {
  Event* event = nullptr;
  uint32_t index = 0;  // position in the batch (drop flags)
  uint32_t slot = 0;   // position in the pool
};
// Payload of the `ev.fields` proxy: its view.
struct FieldsData {
  ViewData* view = nullptr;
};
// Payload of a lookup table handle.
struct LookupHandle {
  std::shared_ptr<LookupTable>* table = nullptr;  // owned by Impl::lookups
};

struct RuleEngine::Impl {
  LuaStageConfig config;
  EngineOptions options;
  lua_State* L = nullptr;
  bool custom_allocator = false;
  size_t memory_used = 0;
  size_t memory_limit = 0;
  bool limit_enabled = false;  // off while building the state

  std::vector<std::unique_ptr<CompiledRule>> rules;
  // What the Lua API functions act on during a call.
  CompiledRule* current = nullptr;
  Event* trigger = nullptr;      // per-event calls: the event; batch calls: null
  int64_t now_ns = 0;            // the rule's clock: the event's time
  BatchContext batch;
  std::vector<uint8_t> dropped;  // per event of the batch
  std::vector<Event> pending_alerts;
  std::vector<uint32_t> pending_alert_rules;  // parallel: index into rules
  uint64_t alert_sequence = 0;  // per batch, mixes into alert seq
  bool overrun = false;
  bool processing = false;  // inside process(): alert() is allowed

  // Pool of event views (and their fields proxies) reused call after call.
  std::vector<ViewData*> views;
  std::vector<int> view_refs;
  std::vector<int> fields_refs;
  int view_mt_ref = LUA_NOREF;
  int fields_mt_ref = LUA_NOREF;
  int lookup_mt_ref = LUA_NOREF;
  int json_null_ref = LUA_NOREF;
  int pass_fn_ref = LUA_NOREF;
  std::vector<uint32_t> batch_indices;  // process_batch: events passed to the rule

  RegexCache regex;
  std::unordered_map<std::string, std::shared_ptr<LookupTable>> lookups;

  MetricsRegistry* metrics = nullptr;
  std::unique_ptr<MetricsRegistry> own_metrics;
  Counter* alerts_dropped = nullptr;
  Counter* reloads_ok = nullptr;
  Counter* reloads_error = nullptr;
  Gauge* memory_gauge = nullptr;
  LogRateLimiter error_log{10, std::chrono::seconds(10)};
  int64_t last_reload_check = 0;

  ~Impl();

  // engine.cc
  Result<void> openState();
  int64_t wallNow() const;
  int64_t monotonicNow() const;
  void registerRuleCounters(CompiledRule& rule);
  void countError(CompiledRule& rule, ErrorReason reason, const char* message);
  void armBudget(uint64_t instructions);
  ViewData* viewSlot(size_t i);  // grows the pool (protected mode only)
  void pushView(size_t i);
  void runRule(CompiledRule& rule, std::vector<Event>& events, ProcessResult& out);

  // rule_loader.cc: compiles one file into a rule (not yet in `rules`).
  Result<std::unique_ptr<CompiledRule>> loadRule(const std::string& path);
  void releaseRule(CompiledRule& rule);
  std::vector<std::string> ruleFiles(std::string* error) const;

  // lua_api.cc: the rule-facing globals, and a fresh sandbox environment.
  void installApi();
  void newRuleEnv();  // pushes the table
  void reloadLookups();

  // event_view.cc
  void installViews();
};

// The engine owning a state (stored in its registry).
RuleEngine::Impl* engineOf(lua_State* L);
// Pushes a field value.
void pushFieldValue(lua_State* L, const FieldValue& value);
// Converts the Lua value at `index` into a field value; false with an
// error message for tables, functions and other types.
bool toFieldValue(lua_State* L, int index, const FieldValue* existing, FieldValue& out);
// low/medium/high/critical/informational, or a syslog severity name.
bool parseRuleSeverity(std::string_view name, Severity& out);
// Instruction budget hook: raises "instruction budget ... exceeded".
void budgetHook(lua_State* L, lua_Debug* ar);

}  // namespace edge::lua
