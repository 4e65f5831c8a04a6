// RuleEngine: the Lua state, the per-batch loop over rules and events,
// error accounting, reloads (see engine.h).
#include "edge/lua/engine.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <unordered_set>

#include "engine_impl.h"

namespace edge::lua {
namespace {

char kEngineKey = 0;

void* trackingAlloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* impl = static_cast<RuleEngine::Impl*>(ud);
  if (nsize == 0) {
    std::free(ptr);
    impl->memory_used -= osize;
    return nullptr;
  }
  const size_t old_size = ptr == nullptr ? 0 : osize;
  if (nsize > old_size && impl->limit_enabled &&
      impl->memory_used + (nsize - old_size) > impl->memory_limit) {
    return nullptr;  // LuaJIT raises "not enough memory" in the running call
  }
  void* out = std::realloc(ptr, nsize);
  if (out == nullptr) return nullptr;
  impl->memory_used = impl->memory_used - old_size + nsize;
  return out;
}

int panic(lua_State* L) {
  const char* message = lua_tostring(L, -1);
  spdlog::critical("unprotected Lua error in the rule engine: {}", message ? message : "?");
  std::abort();
}

struct Pass {
  RuleEngine::Impl* impl;
  CompiledRule* rule;
  std::vector<Event>* events;
  ProcessResult* out;
  std::vector<uint32_t>* indices;
};

// The rule over the whole batch, as one protected call: anything that can
// raise (allocation in the glue included) lands in the caller's pcall, and
// each call into the rule has a pcall of its own so one event's error stays
// with that event.
int runPass(lua_State* L) {
  auto* pass = static_cast<Pass*>(lua_touserdata(L, 1));
  RuleEngine::Impl& impl = *pass->impl;
  CompiledRule& rule = *pass->rule;
  std::vector<Event>& events = *pass->events;
  const LuaStageConfig& config = impl.config;
  uint64_t errors = 0;
  auto failed = [&](int rc, size_t first, size_t count) {
    const ErrorReason reason = impl.overrun          ? ErrorReason::kBudget
                               : rc == LUA_ERRMEM    ? ErrorReason::kMemory
                                                     : ErrorReason::kError;
    const char* message = lua_tostring(L, -1);
    impl.countError(rule, reason, message ? message : "error object is not a string");
    lua_pop(L, 1);
    ++errors;
    ++pass->out->errors;
    if (reason == ErrorReason::kMemory) lua_gc(L, LUA_GCCOLLECT, 0);
    if (config.fail == FailMode::kClosed) {
      for (size_t k = first; k < first + count; ++k) {
        const uint32_t i = pass->rule->info.batch ? (*pass->indices)[k] : static_cast<uint32_t>(k);
        if (!impl.dropped[i]) {
          impl.dropped[i] = 1;
          ++rule.stats.dropped;
          rule.counters.dropped->inc();
        }
      }
    }
  };

  if (!rule.info.batch) {
    ViewData* view = impl.viewSlot(0);
    for (size_t i = 0; i < events.size(); ++i) {
      if (impl.dropped[i]) continue;
      Event& event = events[i];
      ++rule.stats.events;
      if (!rule.prefilter.matches(event)) continue;
      ++rule.stats.matched;
      if (errors >= config.max_errors_per_batch) {
        impl.countError(rule, ErrorReason::kSkipped, nullptr);
        ++pass->out->errors;
        if (config.fail == FailMode::kClosed) {
          impl.dropped[i] = 1;
          ++rule.stats.dropped;
          rule.counters.dropped->inc();
        }
        continue;
      }
      view->event = &event;
      view->index = static_cast<uint32_t>(i);
      impl.trigger = &event;
      impl.now_ns = event.ts_ns > 0 ? event.ts_ns : impl.wallNow();
      lua_rawgeti(L, LUA_REGISTRYINDEX, rule.fn_ref);
      impl.pushView(0);
      impl.overrun = false;
      impl.armBudget(config.budget_instructions);
      const int rc = lua_pcall(L, 1, 0, 0);
      view->event = nullptr;
      if (rc != 0) failed(rc, i, 1);
    }
    impl.trigger = nullptr;
    return 0;
  }

  std::vector<uint32_t>& indices = *pass->indices;
  indices.clear();
  int64_t latest = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (impl.dropped[i]) continue;
    ++rule.stats.events;
    if (!rule.prefilter.matches(events[i])) continue;
    ++rule.stats.matched;
    indices.push_back(static_cast<uint32_t>(i));
    latest = std::max(latest, events[i].ts_ns);
  }
  if (indices.empty()) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rule.fn_ref);
  lua_createtable(L, static_cast<int>(indices.size()), 0);
  for (size_t k = 0; k < indices.size(); ++k) {
    ViewData* view = impl.viewSlot(k);
    view->event = &events[indices[k]];
    view->index = indices[k];
    impl.pushView(k);
    lua_rawseti(L, -2, static_cast<int>(k + 1));
  }
  impl.trigger = nullptr;
  impl.now_ns = latest > 0 ? latest : impl.wallNow();
  impl.overrun = false;
  const uint64_t budget = config.budget_instructions * indices.size();
  impl.armBudget(budget);
  const int rc = lua_pcall(L, 1, 0, 0);
  for (size_t k = 0; k < indices.size(); ++k) impl.views[k]->event = nullptr;
  if (rc != 0) failed(rc, 0, indices.size());
  return 0;
}

}  // namespace

void budgetHook(lua_State* L, lua_Debug* /*ar*/) {
  RuleEngine::Impl* impl = engineOf(L);
  impl->overrun = true;
  // From now on every instruction raises again, so a rule that catches the
  // error with pcall cannot go on looping; the next call re-arms the budget.
  lua_sethook(L, budgetHook, LUA_MASKCOUNT, 1);
  // Level 0 inside a hook is the running Lua function: its file:line.
  luaL_where(L, 0);
  lua_pushstring(L, "instruction budget exceeded (budget_instructions)");
  lua_concat(L, 2);
  lua_error(L);
}

const char* errorReasonName(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kError:
      return "error";
    case ErrorReason::kBudget:
      return "budget";
    case ErrorReason::kMemory:
      return "memory";
    case ErrorReason::kSkipped:
      return "skipped";
  }
  return "error";
}

RuleEngine::Impl* engineOf(lua_State* L) {
  void* ud = nullptr;
  if (lua_getallocf(L, &ud) == trackingAlloc) return static_cast<RuleEngine::Impl*>(ud);
  lua_pushlightuserdata(L, &kEngineKey);
  lua_rawget(L, LUA_REGISTRYINDEX);
  auto* impl = static_cast<RuleEngine::Impl*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  return impl;
}

RuleEngine::Impl::~Impl() {
  if (L != nullptr) lua_close(L);
}

int64_t RuleEngine::Impl::wallNow() const {
  return options.wall_clock ? options.wall_clock() : nowNs();
}

int64_t RuleEngine::Impl::monotonicNow() const {
  if (options.monotonic_clock) return options.monotonic_clock();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RuleEngine::Impl::armBudget(uint64_t instructions) {
  // The count hook is exact in the interpreter (the JIT is off: compiled
  // traces would never call it).
  const uint64_t capped = std::min<uint64_t>(instructions, 0x7fffffff);
  lua_sethook(L, budgetHook, LUA_MASKCOUNT, static_cast<int>(capped));
}

Result<void> RuleEngine::Impl::openState() {
  memory_limit = config.memory_bytes;
  L = lua_newstate(trackingAlloc, this);
  if (L != nullptr) {
    custom_allocator = true;
  } else {
    // LuaJIT builds without GC64 refuse custom allocators on 64-bit hosts;
    // then the cap is checked after each batch instead (docs/lua.md).
    L = luaL_newstate();
    if (L == nullptr) return makeError(ErrorCode::kInternal, "cannot create a Lua state");
  }
  lua_atpanic(L, panic);
  lua_pushlightuserdata(L, &kEngineKey);
  lua_pushlightuserdata(L, this);
  lua_rawset(L, LUA_REGISTRYINDEX);
  // Interpreter only: see engine.h (count hooks and compiled traces).
  luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);

  const lua_CFunction libs[] = {luaopen_base, luaopen_string, luaopen_table, luaopen_math,
                                luaopen_bit,  luaopen_os,     luaopen_io};
  for (lua_CFunction open : libs) {
    lua_pushcfunction(L, open);
    lua_call(L, 0, 0);
  }
  // coroutine comes with luaopen_base in 5.1. string.dump makes bytecode:
  // gone, also from the string metatable rules reach through ("").
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  lua_pushstring(L, "");
  lua_getmetatable(L, -1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");  // getmetatable("") is false
  lua_pop(L, 2);

  installViews();
  installApi();
  lua_pushcfunction(L, runPass);
  pass_fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  limit_enabled = custom_allocator;
  return okResult();
}

void RuleEngine::Impl::registerRuleCounters(CompiledRule& rule) {
  const std::string& prefix = options.metric_prefix;
  const MetricLabels labels{{"stage", config.name}, {"rule", rule.info.name}};
  RuleCounters& c = rule.counters;
  c.events = &metrics->counter(prefix + "_rule_events_total", "Events a Lua rule was offered", labels);
  c.matched = &metrics->counter(prefix + "_rule_matched_total",
                                "Events that passed a Lua rule's prefilter", labels);
  c.dropped = &metrics->counter(prefix + "_rule_dropped_total", "Events a Lua rule dropped", labels);
  c.alerts = &metrics->counter(prefix + "_rule_alerts_total", "Alerts a Lua rule raised", labels);
  for (size_t r = 0; r < kErrorReasons; ++r) {
    MetricLabels with_reason = labels;
    with_reason.emplace_back("reason", errorReasonName(static_cast<ErrorReason>(r)));
    c.errors[r] = &metrics->counter(prefix + "_rule_errors_total",
                                    "Lua rule calls that failed, by reason", with_reason);
  }
  c.run_ns = &metrics->counter(prefix + "_rule_run_ns_total",
                               "Nanoseconds spent in a Lua rule (prefilter and Lua)", labels);
  c.state_keys = &metrics->gauge(prefix + "_rule_state_keys", "Window and counter keys a Lua rule holds",
                                 labels);
  c.evictions = &metrics->counter(prefix + "_rule_state_evictions_total",
                                  "Window and counter keys evicted by max_state_keys", labels);
  c.evictions_reported = rule.state ? rule.state->evictions() : 0;
}

void RuleEngine::Impl::countError(CompiledRule& rule, ErrorReason reason, const char* message) {
  rule.counters.errors[static_cast<size_t>(reason)]->inc();
  ++rule.stats.errors;
  if (!options.log_errors || reason == ErrorReason::kSkipped) return;
  if (const uint64_t n = error_log.allow(); n > 0) {
    spdlog::warn("lua stage {}: rule {} failed ({}): {}; {}{}", config.name, rule.info.name,
                 errorReasonName(reason), message ? message : "",
                 config.fail == FailMode::kOpen ? "the event goes on (fail: open)"
                                                : "the event is dropped (fail: closed)",
                 n > 1 ? " (" + std::to_string(n - 1) + " similar messages suppressed)"
                       : std::string());
  }
}

void RuleEngine::Impl::runRule(CompiledRule& rule, std::vector<Event>& events, ProcessResult& out) {
  const auto start = std::chrono::steady_clock::now();
  const RuleStats before = rule.stats;
  Pass pass{this, &rule, &events, &out, &batch_indices};
  current = &rule;
  lua_rawgeti(L, LUA_REGISTRYINDEX, pass_fn_ref);  // made once: no allocation here
  lua_pushlightuserdata(L, &pass);
  overrun = false;
  const int rc = lua_pcall(L, 1, 0, 0);
  current = nullptr;
  if (rc != 0) {
    // Only the glue can get here (rule calls have their own pcall): memory.
    const char* message = lua_tostring(L, -1);
    countError(rule, rc == LUA_ERRMEM ? ErrorReason::kMemory : ErrorReason::kError, message);
    ++out.errors;
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT, 0);
  }
  rule.counters.events->inc(rule.stats.events - before.events);
  rule.counters.matched->inc(rule.stats.matched - before.matched);
  const uint64_t ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now() - start)
                                                .count());
  rule.stats.run_ns += ns;
  rule.counters.run_ns->inc(ns);
}

RuleEngine::RuleEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RuleEngine::~RuleEngine() = default;

Result<std::unique_ptr<RuleEngine>> RuleEngine::create(const LuaStageConfig& config,
                                                       EngineOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->options = std::move(options);
  impl->metrics = impl->options.metrics;
  if (impl->metrics == nullptr) {
    impl->own_metrics = std::make_unique<MetricsRegistry>();
    impl->metrics = impl->own_metrics.get();
  }
  EDGE_TRY(impl->openState());
  const std::string& prefix = impl->options.metric_prefix;
  const MetricLabels stage{{"stage", config.name}};
  impl->alerts_dropped = &impl->metrics->counter(
      prefix + "_alerts_dropped_total", "Alerts past max_alerts_per_batch, not emitted", stage);
  impl->reloads_ok = &impl->metrics->counter(prefix + "_reloads_total", "Rule file (re)loads",
                                             {{"stage", config.name}, {"result", "ok"}});
  impl->reloads_error = &impl->metrics->counter(prefix + "_reloads_total", "Rule file (re)loads",
                                                {{"stage", config.name}, {"result", "error"}});
  impl->memory_gauge =
      &impl->metrics->gauge(prefix + "_memory_bytes", "Memory of the Lua state", stage);

  std::string dir_error;
  const std::vector<std::string> files = impl->ruleFiles(&dir_error);
  if (!dir_error.empty()) return makeError(ErrorCode::kConfig, dir_error);
  std::string errors;
  std::unordered_set<std::string> names;
  for (const std::string& file : files) {
    auto rule = impl->loadRule(file);
    if (!rule) {
      errors += (errors.empty() ? "" : "\n") + rule.error().message;
      continue;
    }
    if (!names.insert((*rule)->info.name).second) {
      errors += (errors.empty() ? "" : "\n") + file + ": rule name \"" + (*rule)->info.name +
                "\" is already used by another file of " + config.rules_dir;
      impl->releaseRule(**rule);
      continue;
    }
    impl->registerRuleCounters(**rule);
    impl->rules.push_back(std::move(*rule));
  }
  if (!errors.empty()) return makeError(ErrorCode::kConfig, errors);
  impl->last_reload_check = impl->monotonicNow();
  impl->memory_gauge->set(static_cast<int64_t>(impl->memory_used));
  return std::unique_ptr<RuleEngine>(new RuleEngine(std::move(impl)));
}

void RuleEngine::process(std::vector<Event>& events, const BatchContext& context,
                         ProcessResult& out) {
  out.clear();
  Impl& s = *impl_;
  if (s.config.reload_interval.count() > 0) {
    const int64_t now = s.monotonicNow();
    if (now - s.last_reload_check >=
        std::chrono::duration_cast<std::chrono::nanoseconds>(s.config.reload_interval).count()) {
      (void)reload();
    }
  }
  if (events.empty() || s.rules.empty()) return;
  s.batch = context;
  s.dropped.assign(events.size(), 0);
  s.pending_alerts.clear();
  s.alert_sequence = 0;
  s.processing = true;
  for (auto& rule : s.rules) s.runRule(*rule, events, out);
  s.processing = false;

  size_t kept = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    if (s.dropped[i]) continue;
    if (kept != i) events[kept] = std::move(events[i]);
    ++kept;
  }
  out.dropped = events.size() - kept;
  events.erase(events.begin() + static_cast<std::ptrdiff_t>(kept), events.end());
  out.alerts = s.pending_alerts.size();
  for (Event& alert : s.pending_alerts) events.push_back(std::move(alert));
  s.pending_alerts.clear();

  for (auto& rule : s.rules) {
    rule->counters.state_keys->set(static_cast<int64_t>(rule->state->keys()));
    const uint64_t evictions = rule->state->evictions();
    if (evictions > rule->counters.evictions_reported) {
      rule->counters.evictions->inc(evictions - rule->counters.evictions_reported);
      rule->counters.evictions_reported = evictions;
    }
  }
  size_t memory = s.custom_allocator ? s.memory_used
                                     : static_cast<size_t>(lua_gc(s.L, LUA_GCCOUNT, 0)) * 1024;
  if (memory > s.memory_limit / 2) {
    // Garbage counts against the cap: collect before it turns into errors.
    lua_gc(s.L, LUA_GCCOLLECT, 0);
    memory = s.custom_allocator ? s.memory_used
                                : static_cast<size_t>(lua_gc(s.L, LUA_GCCOUNT, 0)) * 1024;
    if (!s.custom_allocator && memory > s.memory_limit) {
      if (const uint64_t n = s.error_log.allow(); n > 0) {
        spdlog::error("lua stage {}: the Lua state holds {} bytes, above memory_mb; this LuaJIT "
                      "build cannot cap allocations, so only this report enforces it",
                      s.config.name, memory);
      }
    }
  }
  s.memory_gauge->set(static_cast<int64_t>(memory));
}

ReloadReport RuleEngine::reload() {
  Impl& s = *impl_;
  ReloadReport report;
  s.last_reload_check = s.monotonicNow();
  s.reloadLookups();
  std::string dir_error;
  const std::vector<std::string> files = s.ruleFiles(&dir_error);
  if (!dir_error.empty()) {
    // A directory that vanished (a deploy swapping it) keeps the rules running.
    report.errors.push_back(dir_error);
    return report;
  }
  std::vector<std::unique_ptr<CompiledRule>> next;
  std::unordered_set<std::string> seen_files(files.begin(), files.end());
  for (const std::string& file : files) {
    auto existing = std::find_if(s.rules.begin(), s.rules.end(),
                                 [&](const auto& rule) { return rule && rule->info.file == file; });
    struct stat st {};
    const bool have_stat = ::stat(file.c_str(), &st) == 0;
    const int64_t mtime =
        have_stat ? static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec : 0;
    const int64_t size = have_stat ? static_cast<int64_t>(st.st_size) : 0;
    if (existing != s.rules.end() && (*existing)->mtime_ns == mtime && (*existing)->size == size) {
      next.push_back(std::move(*existing));
      continue;
    }
    auto loaded = s.loadRule(file);
    if (!loaded) {
      report.errors.push_back(loaded.error().message);
      s.reloads_error->inc();
      if (existing != s.rules.end()) {
        // Refused: the previous version keeps running (and is not retried
        // until the file changes again).
        (*existing)->mtime_ns = mtime;
        (*existing)->size = size;
        next.push_back(std::move(*existing));
      }
      continue;
    }
    std::unique_ptr<CompiledRule> rule = std::move(*loaded);
    if (existing != s.rules.end() && (*existing)->info.source_hash == rule->info.source_hash) {
      // Touched but identical: keep the running one and its state.
      s.releaseRule(*rule);
      (*existing)->mtime_ns = mtime;
      (*existing)->size = size;
      next.push_back(std::move(*existing));
      continue;
    }
    const bool duplicate = std::any_of(next.begin(), next.end(), [&](const auto& other) {
      return other->info.name == rule->info.name;
    }) || std::any_of(s.rules.begin(), s.rules.end(), [&](const auto& other) {
      return other && other->info.file != file && other->info.name == rule->info.name &&
             seen_files.count(other->info.file) > 0;
    });
    if (duplicate) {
      report.errors.push_back(file + ": rule name \"" + rule->info.name +
                              "\" is already used by another file of " + s.config.rules_dir);
      s.reloads_error->inc();
      s.releaseRule(*rule);
      if (existing != s.rules.end()) next.push_back(std::move(*existing));
      continue;
    }
    if (existing != s.rules.end()) {
      s.releaseRule(**existing);
      existing->reset();
    }
    s.registerRuleCounters(*rule);
    s.reloads_ok->inc();
    report.loaded.push_back(rule->info.name);
    next.push_back(std::move(rule));
  }
  for (auto& rule : s.rules) {
    if (!rule) continue;
    report.removed.push_back(rule->info.name);
    s.releaseRule(*rule);
  }
  s.rules = std::move(next);
  for (const std::string& error : report.errors) {
    spdlog::error("lua stage {}: {}; the previous version keeps running", s.config.name, error);
  }
  if (report.changed()) {
    std::string loaded;
    for (const auto& name : report.loaded) loaded += (loaded.empty() ? "" : ", ") + name;
    std::string removed;
    for (const auto& name : report.removed) removed += (removed.empty() ? "" : ", ") + name;
    spdlog::info("lua stage {}: rules reloaded (loaded: {}; removed: {})", s.config.name,
                 loaded.empty() ? "none" : loaded, removed.empty() ? "none" : removed);
  }
  return report;
}

size_t RuleEngine::adoptState(RuleEngine& previous) {
  size_t adopted = 0;
  for (auto& rule : impl_->rules) {
    for (auto& old : previous.impl_->rules) {
      if (old->info.name == rule->info.name && old->info.source_hash == rule->info.source_hash) {
        rule->state = old->state;
        rule->counters.evictions_reported = rule->state->evictions();
        ++adopted;
        break;
      }
    }
  }
  return adopted;
}

std::vector<RuleInfo> RuleEngine::rules() const {
  std::vector<RuleInfo> out;
  for (const auto& rule : impl_->rules) out.push_back(rule->info);
  return out;
}

RuleStats RuleEngine::stats(std::string_view name) const {
  for (const auto& rule : impl_->rules) {
    if (rule->info.name == name) {
      RuleStats stats = rule->stats;
      stats.state_keys = rule->state->keys();
      return stats;
    }
  }
  return {};
}

size_t RuleEngine::memoryBytes() const {
  return impl_->custom_allocator ? impl_->memory_used
                                 : static_cast<size_t>(lua_gc(impl_->L, LUA_GCCOUNT, 0)) * 1024;
}

const LuaStageConfig& RuleEngine::config() const { return impl_->config; }

}  // namespace edge::lua
