// The globals rules see (docs/lua.md, "API"): alert, window, counter,
// lookup, re, json, print, and the sandbox environment that holds them with
// the safe parts of the standard library.
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine_impl.h"

namespace edge::lua {
namespace {

RuleEngine::Impl* impl(lua_State* L) { return engineOf(L); }

CompiledRule& currentRule(lua_State* L) {
  RuleEngine::Impl* engine = impl(L);
  if (engine->current == nullptr) luaL_error(L, "no rule is running");
  return *engine->current;
}

int64_t secondsToNs(double seconds) { return std::llround(seconds * 1e9); }

int64_t spanArg(lua_State* L, int index, const char* what) {
  const lua_Number span = luaL_checknumber(L, index);
  if (!(span > 0) || !std::isfinite(span)) {
    luaL_error(L, "%s must be a positive number of seconds, got %f", what, span);
  }
  return secondsToNs(span);
}

// The optional explicit time argument (seconds); default the event's time.
int64_t timeArg(lua_State* L, int index) {
  if (lua_isnoneornil(L, index)) return impl(L)->now_ns;
  return secondsToNs(luaL_checknumber(L, index));
}

std::string_view checkText(lua_State* L, int index) {
  size_t size = 0;
  const char* text = luaL_checklstring(L, index, &size);
  return std::string_view(text, size);
}

// ---- window / counter ----

int windowAdd(lua_State* L) {
  RuleState& state = *currentRule(L).state;
  const std::string_view key = checkText(L, 1);
  const int64_t span = spanArg(L, 2, "window.add: span");
  const double value = lua_isnoneornil(L, 3) ? 1.0 : luaL_checknumber(L, 3);
  const auto totals = state.windowAdd(key, span, value, timeArg(L, 4));
  lua_pushnumber(L, static_cast<lua_Number>(totals.count));
  lua_pushnumber(L, totals.sum);
  return 2;
}

int windowCount(lua_State* L) {
  RuleState& state = *currentRule(L).state;
  const std::string_view key = checkText(L, 1);
  const int64_t span = spanArg(L, 2, "window.count: span");
  const auto totals = state.windowGet(key, span, timeArg(L, 3));
  lua_pushnumber(L, static_cast<lua_Number>(totals.count));
  lua_pushnumber(L, totals.sum);
  return 2;
}

int windowDistinct(lua_State* L) {
  RuleState& state = *currentRule(L).state;
  const std::string_view key = checkText(L, 1);
  const std::string_view value = checkText(L, 2);
  const int64_t span = spanArg(L, 3, "window.distinct: span");
  lua_pushnumber(L, static_cast<lua_Number>(state.distinctAdd(key, value, span, timeArg(L, 4))));
  return 1;
}

int windowDistinctCount(lua_State* L) {
  RuleState& state = *currentRule(L).state;
  const std::string_view key = checkText(L, 1);
  const int64_t span = spanArg(L, 2, "window.distinct_count: span");
  lua_pushnumber(L, static_cast<lua_Number>(state.distinctGet(key, span, timeArg(L, 3))));
  return 1;
}

int stateReset(lua_State* L) {
  currentRule(L).state->reset(checkText(L, 1));
  return 0;
}

int counterIncr(lua_State* L) {
  RuleState& state = *currentRule(L).state;
  const std::string_view key = checkText(L, 1);
  const double delta = lua_isnoneornil(L, 2) ? 1.0 : luaL_checknumber(L, 2);
  const int64_t ttl = lua_isnoneornil(L, 3) ? secondsToNs(3600) : spanArg(L, 3, "counter.incr: ttl");
  lua_pushnumber(L, state.counterAdd(key, delta, ttl, timeArg(L, 4)));
  return 1;
}

int counterGet(lua_State* L) {
  RuleState& state = *currentRule(L).state;
  const std::string_view key = checkText(L, 1);
  lua_pushnumber(L, state.counterGet(key, timeArg(L, 2)));
  return 1;
}

// ---- alert ----

bool ruleSeverity(std::string_view name, Severity& out) {
  // Sigma's levels, then the syslog names.
  if (name == "low") {
    out = Severity::kNotice;
  } else if (name == "medium") {
    out = Severity::kWarning;
  } else if (name == "high") {
    out = Severity::kError;
  } else if (name == "critical") {
    out = Severity::kCritical;
  } else if (name == "informational") {
    out = Severity::kInfo;
  } else if (auto severity = parseSeverity(name)) {
    out = *severity;
  } else {
    return false;
  }
  return true;
}

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h;
}

std::string joinStrings(lua_State* L, int index, const char* what) {
  std::string out;
  if (lua_type(L, index) == LUA_TSTRING) return lua_tostring(L, index);
  if (!lua_istable(L, index)) luaL_error(L, "alert: %s must be a string or a list of strings", what);
  const size_t n = lua_objlen(L, index);
  for (size_t i = 1; i <= n; ++i) {
    lua_rawgeti(L, index, static_cast<int>(i));
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "alert: %s[%d] must be a string", what, static_cast<int>(i));
    if (!out.empty()) out += ",";
    out += lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  return out;
}

int apiAlert(lua_State* L) {
  RuleEngine::Impl* engine = impl(L);
  CompiledRule& rule = currentRule(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!engine->processing) {
    return luaL_error(L, "alert() can only be called while the rule processes events");
  }

  // The triggering event: `event = ev`, else the event of a per-event call.
  const Event* trigger = engine->trigger;
  lua_getfield(L, 1, "event");
  if (!lua_isnil(L, -1)) {
    auto* view = static_cast<ViewData*>(lua_touserdata(L, -1));
    bool is_view = false;
    if (view != nullptr && lua_getmetatable(L, -1)) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, engine->view_mt_ref);
      is_view = lua_rawequal(L, -1, -2) != 0;
      lua_pop(L, 2);
    }
    if (!is_view || view->event == nullptr) {
      return luaL_error(L, "alert: event must be an event view of the current call");
    }
    trigger = view->event;
  }
  lua_pop(L, 1);

  std::string name = rule.info.name;
  lua_getfield(L, 1, "rule");
  if (lua_type(L, -1) == LUA_TSTRING) name = lua_tostring(L, -1);
  lua_pop(L, 1);

  std::string title = rule.info.name;
  lua_getfield(L, 1, "title");
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "alert: title must be a string");
    title = lua_tostring(L, -1);
  }
  lua_pop(L, 1);

  std::string level = rule.info.severity;
  Severity severity = rule.severity;
  lua_getfield(L, 1, "severity");
  if (!lua_isnil(L, -1)) {
    const char* text = lua_tostring(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING || !ruleSeverity(text, severity)) {
      return luaL_error(L, "alert: severity must be low, medium, high, critical, informational "
                           "or a syslog severity name");
    }
    level = text;
  }
  lua_pop(L, 1);

  std::string attack;
  for (const std::string& id : rule.info.attack) attack += (attack.empty() ? "" : ",") + id;
  lua_getfield(L, 1, "attack");
  if (!lua_isnil(L, -1)) attack = joinStrings(L, lua_gettop(L), "attack");
  lua_pop(L, 1);

  if (engine->pending_alerts.size() >= engine->config.max_alerts_per_batch) {
    engine->alerts_dropped->inc();
    return 0;
  }

  Event alert;
  alert.kind = "alert";
  alert.source = "lua:" + name;
  alert.severity = severity;
  alert.raw = title;
  if (trigger != nullptr) {
    alert.ts_ns = trigger->ts_ns;
    alert.host = trigger->host;
    alert.tenant = trigger->tenant;
  } else {
    alert.ts_ns = engine->wallNow();
  }
  if (alert.tenant.empty()) alert.tenant = std::string(engine->batch.tenant);
  // An id of its own that is the same when the same batch is processed
  // again, so idempotent sinks store a redelivered alert once; the top
  // bit keeps it apart from agents' sequence numbers.
  uint64_t h = 1469598103934665603ull;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  h = mix(h, trigger ? trigger->seq : 0);
  h = mix(h, engine->alert_sequence++);
  alert.seq = (1ull << 63) | (h & ((1ull << 63) - 1));

  alert.fields.reserve(12);
  alert.fields.push_back(Field{"rule", name});
  alert.fields.push_back(Field{"title", title});
  alert.fields.push_back(Field{"level", level});
  if (!attack.empty()) alert.fields.push_back(Field{"attack", attack});
  if (trigger != nullptr) {
    alert.fields.push_back(Field{"trigger_agent_id", std::string(engine->batch.agent_id)});
    alert.fields.push_back(Field{"trigger_seq", static_cast<int64_t>(trigger->seq)});
    alert.fields.push_back(Field{"trigger_kind", trigger->kind});
    alert.fields.push_back(Field{"trigger_source", trigger->source});
  }
  lua_getfield(L, 1, "fields");
  if (!lua_isnil(L, -1)) {
    if (!lua_istable(L, -1)) return luaL_error(L, "alert: fields must be a table of key = value");
    const int table = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, table) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING) {
        return luaL_error(L, "alert: fields keys must be strings");
      }
      FieldValue value;
      if (!toFieldValue(L, -1, nullptr, value)) {
        return luaL_error(L, "alert: fields.%s must be a string, number or boolean, got %s",
                          lua_tostring(L, -2), luaL_typename(L, -1));
      }
      alert.setField(lua_tostring(L, -2), std::move(value));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  engine->pending_alerts.push_back(std::move(alert));
  ++rule.stats.alerts;
  rule.counters.alerts->inc();
  return 0;
}

// ---- lookup ----

LookupTable& checkLookup(lua_State* L) {
  auto* handle = static_cast<LookupHandle*>(luaL_checkudata(L, 1, "edge.lookup"));
  return **handle->table;
}

int lookupHas(lua_State* L) {
  LookupTable& table = checkLookup(L);
  size_t size = 0;
  const char* key = lua_tolstring(L, 2, &size);
  lua_pushboolean(L, key != nullptr && table.contains(std::string_view(key, size)));
  return 1;
}

int lookupGet(lua_State* L) {
  LookupTable& table = checkLookup(L);
  size_t size = 0;
  const char* key = lua_tolstring(L, 2, &size);
  const std::vector<std::string>* row = key ? table.row(std::string_view(key, size)) : nullptr;
  if (row == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  const auto data = table.data();
  if (!lua_isnoneornil(L, 3)) {
    const std::string_view column = checkText(L, 3);
    for (size_t i = 0; i < data->columns.size(); ++i) {
      if (data->columns[i] == column) {
        lua_pushlstring(L, (*row)[i].data(), (*row)[i].size());
        return 1;
      }
    }
    return luaL_error(L, "lookup %s has no column '%s'", table.path().c_str(),
                      std::string(column).c_str());
  }
  lua_createtable(L, 0, static_cast<int>(data->columns.size()));
  for (size_t i = 0; i < data->columns.size() && i < row->size(); ++i) {
    lua_pushlstring(L, (*row)[i].data(), (*row)[i].size());
    lua_setfield(L, -2, data->columns[i].c_str());
  }
  return 1;
}

int lookupSize(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(checkLookup(L).size()));
  return 1;
}

int openLookup(lua_State* L, LookupFormat format) {
  RuleEngine::Impl* engine = impl(L);
  std::string path = std::string(checkText(L, 1));
  std::string key_column = lua_isnoneornil(L, 2) ? "" : std::string(checkText(L, 2));
  if (path.empty()) return luaL_error(L, "lookup: empty path");
  if (path.front() != '/') path = engine->config.rules_dir + "/" + path;
  const std::string cache_key =
      std::string(format == LookupFormat::kCsv ? "csv:" : "lines:") + key_column + ":" + path;
  auto it = engine->lookups.find(cache_key);
  if (it == engine->lookups.end()) {
    auto table = LookupTable::load(path, format, key_column);
    if (!table) return luaL_error(L, "%s", table.error().message.c_str());
    it = engine->lookups.emplace(cache_key, std::move(*table)).first;
  }
  auto* handle = static_cast<LookupHandle*>(lua_newuserdata(L, sizeof(LookupHandle)));
  handle->table = &it->second;
  lua_rawgeti(L, LUA_REGISTRYINDEX, engine->lookup_mt_ref);
  lua_setmetatable(L, -2);
  return 1;
}

int lookupSet(lua_State* L) { return openLookup(L, LookupFormat::kLines); }
int lookupCsv(lua_State* L) { return openLookup(L, LookupFormat::kCsv); }

// ---- re ----

int reRun(lua_State* L, int mode) {  // 0 test, 1 match, 2 find
  RuleEngine::Impl* engine = impl(L);
  const std::string_view subject = checkText(L, 1);
  const std::string_view pattern = checkText(L, 2);
  const std::string_view flags = lua_isnoneornil(L, 3) ? std::string_view() : checkText(L, 3);
  RegexCache::Match match;
  auto matched = engine->regex.match(subject, pattern, flags, mode == 0 ? nullptr : &match);
  if (!matched) return luaL_error(L, "%s", matched.error().message.c_str());
  if (mode == 0) {
    lua_pushboolean(L, *matched ? 1 : 0);
    return 1;
  }
  if (!*matched) {
    lua_pushnil(L);
    return 1;
  }
  int pushed = 0;
  if (mode == 2) {
    lua_pushnumber(L, static_cast<lua_Number>(match.groups[0].first + 1));
    lua_pushnumber(L, static_cast<lua_Number>(match.groups[0].first + match.groups[0].second));
    pushed = 2;
  }
  const size_t first = match.groups.size() > 1 ? 1 : 0;
  if (mode == 2 && first == 0) return pushed;
  for (size_t i = first; i < match.groups.size(); ++i) {
    if (match.groups[i].first == SIZE_MAX) {
      lua_pushnil(L);
    } else {
      lua_pushlstring(L, subject.data() + match.groups[i].first, match.groups[i].second);
    }
    ++pushed;
  }
  return pushed;
}

int reTest(lua_State* L) { return reRun(L, 0); }
int reMatch(lua_State* L) { return reRun(L, 1); }
int reFind(lua_State* L) { return reRun(L, 2); }

// ---- json ----

constexpr int kMaxJsonDepth = 64;

void pushJson(lua_State* L, const nlohmann::json& value, int depth) {
  if (depth > kMaxJsonDepth) luaL_error(L, "json.decode: nested deeper than %d", kMaxJsonDepth);
  switch (value.type()) {
    case nlohmann::json::value_t::null:
      lua_rawgeti(L, LUA_REGISTRYINDEX, impl(L)->json_null_ref);
      break;
    case nlohmann::json::value_t::boolean:
      lua_pushboolean(L, value.get<bool>() ? 1 : 0);
      break;
    case nlohmann::json::value_t::number_integer:
      lua_pushnumber(L, static_cast<lua_Number>(value.get<int64_t>()));
      break;
    case nlohmann::json::value_t::number_unsigned:
      lua_pushnumber(L, static_cast<lua_Number>(value.get<uint64_t>()));
      break;
    case nlohmann::json::value_t::number_float:
      lua_pushnumber(L, value.get<double>());
      break;
    case nlohmann::json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      lua_pushlstring(L, text.data(), text.size());
      break;
    }
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(value.size()), 0);
      int i = 1;
      for (const auto& item : value) {
        pushJson(L, item, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      break;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(value.size()));
      for (auto it = value.begin(); it != value.end(); ++it) {
        lua_pushlstring(L, it.key().data(), it.key().size());
        pushJson(L, it.value(), depth + 1);
        lua_rawset(L, -3);
      }
      break;
    }
    default:
      lua_pushnil(L);
      break;
  }
}

int jsonDecode(lua_State* L) {
  const std::string_view text = checkText(L, 1);
  nlohmann::json value;
  {
    // Parse errors come back as (nil, message): bad JSON in an event is
    // data, not a bug in the rule.
    std::string error;
    try {
      value = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) {
      lua_pushnil(L);
      lua_pushstring(L, error.c_str());
      return 2;
    }
  }
  pushJson(L, value, 0);
  return 1;
}

void encodeJson(lua_State* L, int index, std::string& out, int depth) {
  if (depth > kMaxJsonDepth) luaL_error(L, "json.encode: nested deeper than %d", kMaxJsonDepth);
  switch (lua_type(L, index)) {
    case LUA_TNIL:
      out += "null";
      return;
    case LUA_TBOOLEAN:
      out += lua_toboolean(L, index) ? "true" : "false";
      return;
    case LUA_TNUMBER: {
      const double x = lua_tonumber(L, index);
      if (!std::isfinite(x)) {
        out += "null";
      } else {
        out += nlohmann::json(x == std::floor(x) && std::fabs(x) < 9.007199254740992e15
                                  ? nlohmann::json(static_cast<int64_t>(x))
                                  : nlohmann::json(x))
                   .dump();
      }
      return;
    }
    case LUA_TSTRING: {
      size_t size = 0;
      const char* text = lua_tolstring(L, index, &size);
      out += nlohmann::json(std::string(text, size))
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
    case LUA_TLIGHTUSERDATA:
      out += "null";  // json.null
      return;
    case LUA_TTABLE:
      break;
    default:
      luaL_error(L, "json.encode: cannot encode a %s", luaL_typename(L, index));
      return;
  }
  if (index < 0) index = lua_gettop(L) + index + 1;
  const size_t n = lua_objlen(L, index);
  if (n > 0) {
    out += '[';
    for (size_t i = 1; i <= n; ++i) {
      if (i > 1) out += ',';
      lua_rawgeti(L, index, static_cast<int>(i));
      encodeJson(L, lua_gettop(L), out, depth + 1);
      lua_pop(L, 1);
    }
    out += ']';
    return;
  }
  out += '{';
  bool first = true;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "json.encode: object keys must be strings");
    if (!first) out += ',';
    first = false;
    size_t size = 0;
    const char* key = lua_tolstring(L, -2, &size);
    out += nlohmann::json(std::string(key, size))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += ':';
    encodeJson(L, lua_gettop(L), out, depth + 1);
    lua_pop(L, 1);
  }
  out += '}';
}

int jsonEncode(lua_State* L) {
  luaL_checkany(L, 1);
  std::string out;
  encodeJson(L, 1, out, 0);
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}

// ---- print / load ----

int apiPrint(lua_State* L) {
  RuleEngine::Impl* engine = impl(L);
  std::string line;
  const int n = lua_gettop(L);
  lua_getglobal(L, "tostring");
  for (int i = 1; i <= n; ++i) {
    lua_pushvalue(L, -1);
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    const char* text = lua_tostring(L, -1);
    if (i > 1) line += '\t';
    line += text ? text : "?";
    lua_pop(L, 1);
  }
  static LogRateLimiter limiter(20, std::chrono::seconds(10));
  if (limiter.allow() > 0) {
    spdlog::info("lua rule {}: {}", engine->current ? engine->current->info.name : "?", line);
  }
  return 0;
}

// load/loadstring for `allow: [load]`: source text only, in the rule's own
// environment (upvalue 1).
int safeLoad(lua_State* L) {
  size_t size = 0;
  const char* text = luaL_checklstring(L, 1, &size);
  if (size > 0 && text[0] == '\033') {
    lua_pushnil(L);
    lua_pushstring(L, "load: precompiled bytecode is never loaded by rules");
    return 2;
  }
  const char* name = luaL_optstring(L, 2, "=(load)");
  if (luaL_loadbuffer(L, text, size, name) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setfenv(L, -2);
  return 1;
}

void setFunctions(lua_State* L, const luaL_Reg* functions) {
  for (const luaL_Reg* f = functions; f->name != nullptr; ++f) {
    lua_pushcfunction(L, f->func);
    lua_setfield(L, -2, f->name);
  }
}

// Copies the global table `name` into a new table (so a rule that changes
// string.find changes only its own copy).
void copyGlobalTable(lua_State* L, const char* name, std::initializer_list<const char*> only = {},
                     std::initializer_list<const char*> except = {}) {
  lua_newtable(L);
  lua_getglobal(L, name);
  if (only.size() > 0) {
    for (const char* key : only) {
      lua_getfield(L, -1, key);
      lua_setfield(L, -3, key);
    }
  } else {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      bool skip = false;
      for (const char* key : except) {
        skip = skip || (lua_type(L, -2) == LUA_TSTRING && std::strcmp(lua_tostring(L, -2), key) == 0);
      }
      if (!skip) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -5);
      } else {
        lua_pop(L, 1);
      }
    }
  }
  lua_pop(L, 1);
}

}  // namespace

void RuleEngine::Impl::installApi() {
  luaL_newmetatable(L, "edge.lookup");
  lua_newtable(L);
  const luaL_Reg lookup_methods[] = {
      {"has", lookupHas}, {"get", lookupGet}, {"size", lookupSize}, {nullptr, nullptr}};
  setFunctions(L, lookup_methods);
  lua_setfield(L, -2, "__index");
  lua_pushstring(L, "lookup table");
  lua_setfield(L, -2, "__metatable");
  lookup_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  lua_pushlightuserdata(L, nullptr);
  json_null_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void RuleEngine::Impl::newRuleEnv() {
  lua_newtable(L);
  const int env = lua_gettop(L);
  static constexpr const char* kBase[] = {"assert",   "error",    "ipairs",       "next",
                                          "pairs",    "pcall",    "select",       "tonumber",
                                          "tostring", "type",     "unpack",       "xpcall",
                                          "rawequal", "rawget",   "rawset",       "setmetatable",
                                          "getmetatable", "_VERSION"};
  for (const char* name : kBase) {
    lua_getglobal(L, name);
    lua_setfield(L, env, name);
  }
  copyGlobalTable(L, "string", {}, {"dump"});
  lua_setfield(L, env, "string");
  copyGlobalTable(L, "table");
  lua_setfield(L, env, "table");
  copyGlobalTable(L, "math");
  lua_setfield(L, env, "math");
  copyGlobalTable(L, "bit");
  lua_setfield(L, env, "bit");
  copyGlobalTable(L, "coroutine");
  lua_setfield(L, env, "coroutine");
  if (config.allow_os) {
    copyGlobalTable(L, "os");
  } else {
    copyGlobalTable(L, "os", {"time", "clock", "date", "difftime"});
  }
  lua_setfield(L, env, "os");
  if (config.allow_io) {
    copyGlobalTable(L, "io");
    lua_setfield(L, env, "io");
  }
  if (config.allow_load) {
    lua_pushvalue(L, env);
    lua_pushcclosure(L, safeLoad, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, env, "load");
    lua_setfield(L, env, "loadstring");
  }

  lua_pushcfunction(L, apiAlert);
  lua_setfield(L, env, "alert");
  lua_pushcfunction(L, apiPrint);
  lua_setfield(L, env, "print");

  lua_newtable(L);
  const luaL_Reg window[] = {{"add", windowAdd},
                             {"count", windowCount},
                             {"distinct", windowDistinct},
                             {"distinct_count", windowDistinctCount},
                             {"reset", stateReset},
                             {nullptr, nullptr}};
  setFunctions(L, window);
  lua_setfield(L, env, "window");

  lua_newtable(L);
  const luaL_Reg counter[] = {
      {"incr", counterIncr}, {"get", counterGet}, {"reset", stateReset}, {nullptr, nullptr}};
  setFunctions(L, counter);
  lua_setfield(L, env, "counter");

  lua_newtable(L);
  const luaL_Reg lookup[] = {{"set", lookupSet}, {"csv", lookupCsv}, {nullptr, nullptr}};
  setFunctions(L, lookup);
  lua_setfield(L, env, "lookup");

  lua_newtable(L);
  const luaL_Reg re[] = {{"test", reTest}, {"match", reMatch}, {"find", reFind}, {nullptr, nullptr}};
  setFunctions(L, re);
  lua_setfield(L, env, "re");

  lua_newtable(L);
  const luaL_Reg json[] = {{"decode", jsonDecode}, {"encode", jsonEncode}, {nullptr, nullptr}};
  setFunctions(L, json);
  lua_rawgeti(L, LUA_REGISTRYINDEX, json_null_ref);
  lua_setfield(L, -2, "null");
  lua_setfield(L, env, "json");

  lua_pushvalue(L, env);
  lua_setfield(L, env, "_G");
}

void RuleEngine::Impl::reloadLookups() {
  for (auto& [key, table] : lookups) {
    auto reloaded = table->reloadIfChanged();
    if (!reloaded) {
      spdlog::warn("lua stage {}: {}", config.name, reloaded.error().message);
    } else if (*reloaded) {
      spdlog::info("lua stage {}: reloaded lookup {} ({} entries)", config.name, table->path(),
                   table->size());
    }
  }
}

// Exposed for the loader: alert severities are checked at load time.
bool parseRuleSeverity(std::string_view name, Severity& out) { return ruleSeverity(name, out); }

}  // namespace edge::lua
