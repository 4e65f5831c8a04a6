// Compiling one rule file: source only (never bytecode), run in a fresh
// sandbox environment under the instruction budget; the table it returns
// is checked (metadata, prefilter, process or process_batch) and every
// mistake reported as file:line.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine_impl.h"

namespace edge::lua {
namespace {

constexpr const char* kRuleKeys[] = {"name",   "description", "severity", "attack",
                                     "references", "author",  "tags",     "prefilter",
                                     "process", "process_batch"};

struct LoadJob {
  RuleEngine::Impl* impl = nullptr;
  const std::string* path = nullptr;
  const std::string* source = nullptr;
  CompiledRule* rule = nullptr;
  std::vector<std::string> errors;
};

// The line where `key =` is first written, for messages about metadata
// (the returned table itself carries no line numbers); 0 if not found.
int lineOf(const std::string& source, std::string_view key) {
  int line = 1;
  size_t start = 0;
  while (start <= source.size()) {
    size_t end = source.find('\n', start);
    if (end == std::string::npos) end = source.size();
    std::string_view text(source.data() + start, end - start);
    const size_t first = text.find_first_not_of(" \t");
    if (first != std::string_view::npos && text.substr(first).substr(0, key.size()) == key) {
      std::string_view rest = text.substr(first + key.size());
      const size_t next = rest.find_first_not_of(" \t");
      if (next != std::string_view::npos && rest[next] == '=' &&
          (next + 1 >= rest.size() || rest[next + 1] != '=')) {
        return line;
      }
    }
    if (end == source.size()) break;
    start = end + 1;
    ++line;
  }
  return 0;
}

void addError(LoadJob& job, std::string_view key, const std::string& message) {
  const int line = key.empty() ? 0 : lineOf(*job.source, key);
  job.errors.push_back(*job.path + (line > 0 ? ":" + std::to_string(line) : std::string()) +
                       ": " + message);
}

// Reads an optional string field of the table at `table`.
bool stringField(lua_State* L, LoadJob& job, int table, const char* key, bool required,
                 std::string& out) {
  lua_getfield(L, table, key);
  bool ok = true;
  if (lua_isnil(L, -1)) {
    if (required) {
      addError(job, "", std::string("rule metadata: missing ") + key + " (a string)");
      ok = false;
    }
  } else if (lua_type(L, -1) != LUA_TSTRING) {
    addError(job, key, std::string(key) + ": expected a string, got " + luaL_typename(L, -1));
    ok = false;
  } else {
    out = lua_tostring(L, -1);
    if (required && out.empty()) {
      addError(job, key, std::string(key) + ": must not be empty");
      ok = false;
    }
  }
  lua_pop(L, 1);
  return ok;
}

// A string or a list of strings at `index`.
bool stringList(lua_State* L, int index, std::vector<std::string>& out) {
  if (lua_type(L, index) == LUA_TSTRING) {
    out.emplace_back(lua_tostring(L, index));
    return true;
  }
  if (!lua_istable(L, index)) return false;
  const size_t n = lua_objlen(L, index);
  for (size_t i = 1; i <= n; ++i) {
    lua_rawgeti(L, index, static_cast<int>(i));
    const int type = lua_type(L, -1);
    if (type != LUA_TSTRING && type != LUA_TNUMBER && type != LUA_TBOOLEAN) {
      lua_pop(L, 1);
      return false;
    }
    if (type == LUA_TBOOLEAN) {
      out.emplace_back(lua_toboolean(L, -1) ? "true" : "false");
    } else {
      // Numbers as the prefilter compares them: integers without ".0".
      lua_pushvalue(L, -1);
      const double x = lua_tonumber(L, -1);
      if (type == LUA_TNUMBER && x == static_cast<double>(static_cast<int64_t>(x))) {
        out.push_back(std::to_string(static_cast<int64_t>(x)));
      } else {
        out.emplace_back(lua_tostring(L, -1));
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  // A table with other keys is a condition map, not a list.
  lua_pushnil(L);
  size_t keys = 0;
  while (lua_next(L, index) != 0) {
    ++keys;
    lua_pop(L, 1);
  }
  return keys == n;
}

bool isAttackId(const std::string& id) {
  // T1234, T1234.001, TA0001
  size_t pos = 1;
  if (id.size() < 5 || id[0] != 'T') return false;
  if (id[1] == 'A') pos = 2;
  for (size_t i = 0; i < 4; ++i) {
    if (pos + i >= id.size() || id[pos + i] < '0' || id[pos + i] > '9') return false;
  }
  pos += 4;
  if (pos == id.size()) return true;
  if (id[pos] != '.' || id.size() != pos + 4 || id[1] == 'A') return false;
  for (size_t i = pos + 1; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return false;
  }
  return true;
}

// One prefilter condition value: "x", {"x", "y"} or {equals=..., contains=..., exists=...}.
bool readCondition(lua_State* L, LoadJob& job, int index, const std::string& what,
                   PrefilterMatch& match) {
  if (lua_type(L, index) == LUA_TSTRING || lua_type(L, index) == LUA_TNUMBER ||
      lua_type(L, index) == LUA_TBOOLEAN) {
    lua_newtable(L);
    lua_pushvalue(L, index);
    lua_rawseti(L, -2, 1);
    const bool ok = stringList(L, lua_gettop(L), match.equals);
    lua_pop(L, 1);
    return ok;
  }
  if (!lua_istable(L, index)) {
    addError(job, "prefilter", "prefilter " + what +
                                   ": expected a string, a list of strings or {equals=..., "
                                   "contains=..., exists=...}, got " + luaL_typename(L, index));
    return false;
  }
  if (lua_objlen(L, index) > 0) {
    if (!stringList(L, index, match.equals)) {
      addError(job, "prefilter", "prefilter " + what + ": a list must hold only strings");
      return false;
    }
    return true;
  }
  bool ok = true;
  bool any = false;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    const char* key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
    const int value = lua_gettop(L);
    if (key != nullptr && std::strcmp(key, "equals") == 0) {
      if (!stringList(L, value, match.equals)) {
        addError(job, "prefilter", "prefilter " + what + ".equals: expected a string or a list");
        ok = false;
      }
      any = true;
    } else if (key != nullptr && std::strcmp(key, "contains") == 0) {
      if (!stringList(L, value, match.contains)) {
        addError(job, "prefilter", "prefilter " + what + ".contains: expected a string or a list");
        ok = false;
      }
      any = true;
    } else if (key != nullptr && std::strcmp(key, "exists") == 0) {
      if (lua_type(L, value) != LUA_TBOOLEAN) {
        addError(job, "prefilter", "prefilter " + what + ".exists: expected true or false");
        ok = false;
      } else {
        match.exists = lua_toboolean(L, value) != 0;
      }
      any = true;
    } else {
      addError(job, "prefilter",
               "prefilter " + what + ": unknown operator " + (key ? std::string(key) : "?") +
                   " (equals, contains, exists)");
      ok = false;
    }
    lua_pop(L, 1);
  }
  if (!any && ok) {
    addError(job, "prefilter", "prefilter " + what + ": empty condition");
    ok = false;
  }
  return ok;
}

void readPrefilter(lua_State* L, LoadJob& job, int table, std::vector<PrefilterMatch>& out) {
  lua_getfield(L, table, "prefilter");
  const int prefilter = lua_gettop(L);
  if (lua_isnil(L, prefilter)) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, prefilter)) {
    addError(job, "prefilter", "prefilter: expected a table, got " +
                                   std::string(luaL_typename(L, prefilter)));
    lua_pop(L, 1);
    return;
  }
  lua_pushnil(L);
  while (lua_next(L, prefilter) != 0) {
    const std::string key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
    const int value = lua_gettop(L);
    PrefilterMatch match;
    if (key == "kind" || key == "source" || key == "host" || key == "raw") {
      match.target = key == "kind"     ? PrefilterMatch::Target::kKind
                     : key == "source" ? PrefilterMatch::Target::kSource
                     : key == "host"   ? PrefilterMatch::Target::kHost
                                       : PrefilterMatch::Target::kRaw;
      if (readCondition(L, job, value, key, match)) out.push_back(std::move(match));
    } else if (key == "fields") {
      if (!lua_istable(L, value)) {
        addError(job, "prefilter", "prefilter fields: expected a table of field = condition");
      } else {
        lua_pushnil(L);
        while (lua_next(L, value) != 0) {
          if (lua_type(L, -2) != LUA_TSTRING) {
            addError(job, "prefilter", "prefilter fields: keys must be field names");
          } else {
            PrefilterMatch field;
            field.target = PrefilterMatch::Target::kField;
            field.field = lua_tostring(L, -2);
            if (readCondition(L, job, lua_gettop(L), "fields." + field.field, field)) {
              out.push_back(std::move(field));
            }
          }
          lua_pop(L, 1);
        }
      }
    } else {
      addError(job, "prefilter", "prefilter: unknown key " + key +
                                     " (kind, source, host, raw, fields)");
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

int loadProtected(lua_State* L) {
  auto* job = static_cast<LoadJob*>(lua_touserdata(L, 1));
  RuleEngine::Impl& impl = *job->impl;
  CompiledRule& rule = *job->rule;
  const std::string chunk = "@" + *job->path;
  if (luaL_loadbuffer(L, job->source->data(), job->source->size(), chunk.c_str()) != 0) {
    return lua_error(L);
  }
  impl.newRuleEnv();
  lua_pushvalue(L, -1);
  rule.env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfenv(L, -2);
  impl.current = &rule;
  impl.armBudget(impl.config.budget_instructions);
  lua_call(L, 0, 1);
  const int table = lua_gettop(L);
  if (!lua_istable(L, table)) {
    addError(*job, "", std::string("a rule file must return a table {name = ..., description = "
                                   "..., severity = ..., process = function(ev) ... end}, got ") +
                           luaL_typename(L, table));
    return 0;
  }

  lua_pushnil(L);
  while (lua_next(L, table) != 0) {
    const char* key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : nullptr;
    bool known = false;
    for (const char* k : kRuleKeys) known = known || (key && std::strcmp(k, key) == 0);
    if (!known) {
      std::string list;
      for (const char* k : kRuleKeys) list += (list.empty() ? "" : ", ") + std::string(k);
      addError(*job, key ? key : "", "unknown rule key " + std::string(key ? key : "(not a name)") +
                                         " (known: " + list + ")");
    }
    lua_pop(L, 1);
  }

  RuleInfo& info = rule.info;
  if (stringField(L, *job, table, "name", true, info.name)) {
    const bool valid = std::all_of(info.name.begin(), info.name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    });
    if (!valid) {
      addError(*job, "name", "name: use letters, digits, _ . - only (it is a metrics label), got \"" +
                                 info.name + "\"");
    }
  }
  (void)stringField(L, *job, table, "description", true, info.description);
  if (stringField(L, *job, table, "severity", true, info.severity) && !info.severity.empty() &&
      !parseRuleSeverity(info.severity, rule.severity)) {
    addError(*job, "severity", "severity: expected low, medium, high, critical, informational or "
                               "a syslog name, got \"" + info.severity + "\"");
  }
  (void)stringField(L, *job, table, "author", false, info.author);
  for (const char* key : {"attack", "references", "tags"}) {
    lua_getfield(L, table, key);
    std::vector<std::string> values;
    if (!lua_isnil(L, -1) && !stringList(L, lua_gettop(L), values)) {
      addError(*job, key, std::string(key) + ": expected a list of strings");
    }
    lua_pop(L, 1);
    if (std::strcmp(key, "attack") == 0) {
      for (const std::string& id : values) {
        if (!isAttackId(id)) {
          addError(*job, key, "attack: \"" + id + "\" is not an ATT&CK id (T1110, T1110.001, TA0006)");
        }
      }
      info.attack = std::move(values);
    } else if (std::strcmp(key, "references") == 0) {
      info.references = std::move(values);
    }
  }

  std::vector<PrefilterMatch> matches;
  readPrefilter(L, *job, table, matches);
  rule.prefilter = Prefilter(std::move(matches));
  info.prefilter = rule.prefilter.describe();

  lua_getfield(L, table, "process");
  lua_getfield(L, table, "process_batch");
  const bool per_event = lua_isfunction(L, -2);
  const bool per_batch = lua_isfunction(L, -1);
  if (per_event == per_batch) {
    addError(*job, per_event ? "process_batch" : "",
             per_event ? "a rule has process or process_batch, not both"
                       : "a rule needs process = function(ev) ... end or process_batch = "
                         "function(events) ... end");
    lua_pop(L, 2);
  } else {
    info.batch = per_batch;
    if (per_batch) {
      rule.fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_pop(L, 1);
    } else {
      lua_pop(L, 1);
      rule.fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
  }
  for (const char* key : {"process", "process_batch"}) {
    lua_getfield(L, table, key);
    if (!lua_isnil(L, -1) && !lua_isfunction(L, -1)) {
      addError(*job, key, std::string(key) + ": expected a function");
    }
    lua_pop(L, 1);
  }
  return 0;
}

}  // namespace

void RuleEngine::Impl::releaseRule(CompiledRule& rule) {
  luaL_unref(L, LUA_REGISTRYINDEX, rule.env_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, rule.fn_ref);
  rule.env_ref = LUA_NOREF;
  rule.fn_ref = LUA_NOREF;
}

Result<std::unique_ptr<CompiledRule>> RuleEngine::Impl::loadRule(const std::string& path) {
  std::string source;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return makeError(ErrorCode::kIo, path + ": cannot read the rule file");
    std::ostringstream text;
    text << in.rdbuf();
    source = text.str();
  }
  if (!source.empty() && source.front() == '\033') {
    return makeError(ErrorCode::kInvalidArgument,
                     path + ": precompiled Lua bytecode; rules are loaded from source only");
  }
  auto rule = std::make_unique<CompiledRule>();
  rule->info.file = path;
  uint64_t hash = 1469598103934665603ull;
  for (char c : source) hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  rule->info.source_hash = hash;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    rule->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    rule->size = static_cast<int64_t>(st.st_size);
  }
  rule->state = std::make_shared<RuleState>(config.max_state_keys);

  LoadJob job;
  job.impl = this;
  job.path = &path;
  job.source = &source;
  job.rule = rule.get();
  lua_pushcfunction(L, loadProtected);
  lua_pushlightuserdata(L, &job);
  overrun = false;
  const int rc = lua_pcall(L, 1, 0, 0);
  current = nullptr;
  if (rc != 0) {
    std::string message = lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error";
    lua_pop(L, 1);
    releaseRule(*rule);
    if (overrun) message += " (while loading the rule file)";
    if (rc == LUA_ERRMEM) message = path + ": out of memory while loading (memory_mb)";
    // Syntax and runtime errors already read "path:line: ..." (chunk name "@path").
    return makeError(ErrorCode::kInvalidArgument, message);
  }
  if (!job.errors.empty()) {
    releaseRule(*rule);
    std::string message;
    for (const std::string& error : job.errors) message += (message.empty() ? "" : "\n") + error;
    return makeError(ErrorCode::kInvalidArgument, message);
  }
  return rule;
}

std::vector<std::string> RuleEngine::Impl::ruleFiles(std::string* error) const {
  std::vector<std::string> files;
  DIR* dir = ::opendir(config.rules_dir.c_str());
  if (dir == nullptr) {
    if (error) {
      *error = config.rules_dir + ": cannot open the rules directory (" + std::strerror(errno) +
               "); set `rules:` to a directory of *.lua files";
    }
    return files;
  }
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.size() < 5 || name.front() == '.' || name.compare(name.size() - 4, 4, ".lua") != 0) {
      continue;
    }
    const std::string path = config.rules_dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) files.push_back(path);
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace edge::lua
