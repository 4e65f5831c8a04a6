// The event view rules see: a userdata over an Event of the batch, read and
// written in place through __index/__newindex, so an event is never turned
// into a Lua table. Views (and their `fields` proxies) come from a pool and
// are rebound call after call; outside its call a view points at nothing
// and any use raises an error.
#include <cmath>
#include <cstring>

#include "engine_impl.h"

namespace edge::lua {
namespace {

constexpr const char* kViewName = "event view";


template <size_t N>
bool keyIs(const char* key, size_t len, const char (&name)[N]) {
  return len == N - 1 && std::memcmp(key, name, N - 1) == 0;
}

ViewData* checkView(lua_State* L, int index) {
  auto* view = static_cast<ViewData*>(lua_touserdata(L, index));
  if (view == nullptr || view->event == nullptr) {
    luaL_error(L, "event view used outside the process() call it was given to (views cannot be "
                  "kept: copy the values you need)");
    return nullptr;
  }
  return view;
}

// Reads a key argument; nullptr for non-string keys.
const char* keyArg(lua_State* L, int index, size_t* len) {
  if (lua_type(L, index) != LUA_TSTRING) return nullptr;
  return lua_tolstring(L, index, len);
}

int viewIndex(lua_State* L) {
  ViewData* view = checkView(L, 1);
  size_t len = 0;
  const char* key = keyArg(L, 2, &len);
  if (key == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  const Event& event = *view->event;
  switch (len) {
    case 2:
      if (keyIs(key, len, "ts")) {
        lua_pushnumber(L, static_cast<double>(event.ts_ns) / 1e9);
        return 1;
      }
      break;
    case 3:
      if (keyIs(key, len, "raw")) {
        lua_pushlstring(L, event.raw.data(), event.raw.size());
        return 1;
      }
      if (keyIs(key, len, "seq")) {
        lua_pushnumber(L, static_cast<double>(event.seq));
        return 1;
      }
      break;
    case 4:
      if (keyIs(key, len, "kind")) {
        lua_pushlstring(L, event.kind.data(), event.kind.size());
        return 1;
      }
      if (keyIs(key, len, "host")) {
        lua_pushlstring(L, event.host.data(), event.host.size());
        return 1;
      }
      break;
    case 6:
      if (keyIs(key, len, "fields")) {
        RuleEngine::Impl* impl = engineOf(L);
        lua_rawgeti(L, LUA_REGISTRYINDEX, impl->fields_refs[view->slot]);
        return 1;
      }
      if (keyIs(key, len, "source")) {
        lua_pushlstring(L, event.source.data(), event.source.size());
        return 1;
      }
      if (keyIs(key, len, "tenant")) {
        lua_pushlstring(L, event.tenant.data(), event.tenant.size());
        return 1;
      }
      break;
    case 8:
      if (keyIs(key, len, "severity")) {
        lua_pushstring(L, severityName(event.severity));
        return 1;
      }
      if (keyIs(key, len, "agent_id")) {
        RuleEngine::Impl* impl = engineOf(L);
        lua_pushlstring(L, impl->batch.agent_id.data(), impl->batch.agent_id.size());
        return 1;
      }
      break;
    default:
      break;
  }
  // Methods: upvalue 1 is the method table.
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

std::string* stringAttribute(Event& event, const char* key, size_t len) {
  if (keyIs(key, len, "kind")) return &event.kind;
  if (keyIs(key, len, "source")) return &event.source;
  if (keyIs(key, len, "host")) return &event.host;
  if (keyIs(key, len, "raw")) return &event.raw;
  return nullptr;
}

int viewNewIndex(lua_State* L) {
  ViewData* view = checkView(L, 1);
  size_t len = 0;
  const char* key = keyArg(L, 2, &len);
  if (key == nullptr) return luaL_error(L, "events have no numeric keys; fields go in ev.fields");
  Event& event = *view->event;
  if (std::string* target = stringAttribute(event, key, len)) {
    if (lua_type(L, 3) != LUA_TSTRING) {
      return luaL_error(L, "ev.%s must be a string, got %s", key, luaL_typename(L, 3));
    }
    size_t size = 0;
    const char* text = lua_tolstring(L, 3, &size);
    target->assign(text, size);
    return 0;
  }
  if (keyIs(key, len, "severity")) {
    if (lua_type(L, 3) == LUA_TNUMBER) {
      const lua_Number n = lua_tonumber(L, 3);
      if (n < 0 || n > 7 || n != std::floor(n)) {
        return luaL_error(L, "ev.severity: a number must be 0..7 (RFC 5424), got %f", n);
      }
      event.severity = static_cast<Severity>(static_cast<int>(n));
      return 0;
    }
    size_t size = 0;
    const char* text = lua_type(L, 3) == LUA_TSTRING ? lua_tolstring(L, 3, &size) : nullptr;
    auto severity = text ? parseSeverity(std::string_view(text, size)) : std::nullopt;
    if (!severity) {
      return luaL_error(L, "ev.severity: expected a name (emergency, alert, critical, error, "
                           "warning, notice, info, debug) or 0..7");
    }
    event.severity = *severity;
    return 0;
  }
  if (keyIs(key, len, "ts")) {
    if (lua_type(L, 3) != LUA_TNUMBER) {
      return luaL_error(L, "ev.ts must be a number of seconds since the epoch, got %s",
                        luaL_typename(L, 3));
    }
    event.ts_ns = std::llround(lua_tonumber(L, 3) * 1e9);
    return 0;
  }
  if (keyIs(key, len, "fields")) {
    return luaL_error(L, "assign to ev.fields.<key>, not to ev.fields itself");
  }
  if (keyIs(key, len, "tenant") || keyIs(key, len, "seq") || keyIs(key, len, "agent_id")) {
    return luaL_error(L, "ev.%s is read-only", key);
  }
  return luaL_error(L, "events have no attribute '%s' (fields go in ev.fields.%s)", key, key);
}

int viewToString(lua_State* L) {
  auto* view = static_cast<ViewData*>(lua_touserdata(L, 1));
  if (view == nullptr || view->event == nullptr) {
    lua_pushstring(L, "event view (expired)");
  } else {
    lua_pushfstring(L, "event view (%s from %s)", view->event->kind.c_str(),
                    view->event->source.c_str());
  }
  return 1;
}

int methodDrop(lua_State* L) {
  ViewData* view = checkView(L, 1);
  RuleEngine::Impl* impl = engineOf(L);
  if (!impl->dropped[view->index]) {
    impl->dropped[view->index] = 1;
    if (impl->current != nullptr) {
      ++impl->current->stats.dropped;
      impl->current->counters.dropped->inc();
    }
  }
  return 0;
}

int methodDropped(lua_State* L) {
  ViewData* view = checkView(L, 1);
  lua_pushboolean(L, engineOf(L)->dropped[view->index] != 0);
  return 1;
}

int methodRoute(lua_State* L) {
  ViewData* view = checkView(L, 1);
  size_t size = 0;
  const char* name = luaL_checklstring(L, 2, &size);
  // The router matches conditions, not names: the route's condition reads
  // this field (docs/lua.md, "Routing").
  view->event->setField("edge_route", std::string(name, size));
  return 0;
}

int methodFieldsTable(lua_State* L) {
  ViewData* view = checkView(L, 1);
  const Event& event = *view->event;
  lua_createtable(L, 0, static_cast<int>(event.fields.size()));
  for (const Field& field : event.fields) {
    lua_pushlstring(L, field.key.data(), field.key.size());
    pushFieldValue(L, field.value);
    lua_rawset(L, -3);
  }
  return 1;
}

int methodFieldType(lua_State* L) {
  ViewData* view = checkView(L, 1);
  size_t size = 0;
  const char* key = luaL_checklstring(L, 2, &size);
  const FieldValue* value = view->event->findField(std::string_view(key, size));
  if (value == nullptr) {
    lua_pushnil(L);
  } else {
    static constexpr const char* kNames[] = {"string", "integer", "number", "boolean"};
    lua_pushstring(L, kNames[value->index()]);
  }
  return 1;
}

ViewData* fieldsView(lua_State* L) {
  auto* fields = static_cast<FieldsData*>(lua_touserdata(L, 1));
  if (fields == nullptr || fields->view == nullptr || fields->view->event == nullptr) {
    luaL_error(L, "event view used outside the process() call it was given to (views cannot be "
                  "kept: copy the values you need)");
    return nullptr;
  }
  return fields->view;
}

int fieldsIndex(lua_State* L) {
  ViewData* view = fieldsView(L);
  size_t len = 0;
  const char* key = keyArg(L, 2, &len);
  if (key == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  const FieldValue* value = view->event->findField(std::string_view(key, len));
  if (value == nullptr) {
    lua_pushnil(L);
  } else {
    pushFieldValue(L, *value);
  }
  return 1;
}

int fieldsNewIndex(lua_State* L) {
  ViewData* view = fieldsView(L);
  size_t len = 0;
  const char* key = keyArg(L, 2, &len);
  if (key == nullptr) return luaL_error(L, "field keys are strings");
  Event& event = *view->event;
  const std::string_view name(key, len);
  if (lua_isnil(L, 3)) {
    event.removeField(name);
    return 0;
  }
  FieldValue value;
  if (!toFieldValue(L, 3, event.findField(name), value)) {
    return luaL_error(L, "ev.fields.%s: fields hold strings, numbers and booleans, got %s", key,
                      luaL_typename(L, 3));
  }
  event.setField(name, std::move(value));
  return 0;
}

}  // namespace

void pushFieldValue(lua_State* L, const FieldValue& value) {
  switch (value.index()) {
    case 0: {
      const auto& text = std::get<std::string>(value);
      lua_pushlstring(L, text.data(), text.size());
      break;
    }
    case 1:
      lua_pushnumber(L, static_cast<lua_Number>(std::get<int64_t>(value)));
      break;
    case 2:
      lua_pushnumber(L, std::get<double>(value));
      break;
    default:
      lua_pushboolean(L, std::get<bool>(value) ? 1 : 0);
      break;
  }
}

bool toFieldValue(lua_State* L, int index, const FieldValue* existing, FieldValue& out) {
  switch (lua_type(L, index)) {
    case LUA_TSTRING: {
      size_t size = 0;
      const char* text = lua_tolstring(L, index, &size);
      out = std::string(text, size);
      return true;
    }
    case LUA_TBOOLEAN:
      out = lua_toboolean(L, index) != 0;
      return true;
    case LUA_TNUMBER: {
      const double x = lua_tonumber(L, index);
      // Lua 5.1 has one number type: a float field stays a float, any other
      // whole number within the exact range of a double becomes an integer.
      const bool keep_float = existing != nullptr && std::holds_alternative<double>(*existing);
      if (!keep_float && std::isfinite(x) && x == std::floor(x) && std::fabs(x) <= 9007199254740992.0) {
        out = static_cast<int64_t>(x);
      } else {
        out = x;
      }
      return true;
    }
    default:
      return false;
  }
}

void RuleEngine::Impl::installViews() {
  // Event view metatable: __index with the method table as upvalue.
  lua_newtable(L);
  lua_newtable(L);  // methods
  const luaL_Reg methods[] = {{"drop", methodDrop},
                              {"dropped", methodDropped},
                              {"route", methodRoute},
                              {"fields_table", methodFieldsTable},
                              {"field_type", methodFieldType},
                              {nullptr, nullptr}};
  for (const luaL_Reg* m = methods; m->name != nullptr; ++m) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pushcclosure(L, viewIndex, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, viewNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, viewToString);
  lua_setfield(L, -2, "__tostring");
  lua_pushstring(L, kViewName);
  lua_setfield(L, -2, "__metatable");  // getmetatable(ev) gives this string, not the table
  view_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  lua_newtable(L);
  lua_pushcfunction(L, fieldsIndex);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, fieldsNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_pushstring(L, "event fields");
  lua_setfield(L, -2, "__metatable");
  fields_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

ViewData* RuleEngine::Impl::viewSlot(size_t i) {
  while (views.size() <= i) {
    auto* view = static_cast<ViewData*>(lua_newuserdata(L, sizeof(ViewData)));
    *view = ViewData{};
    view->slot = static_cast<uint32_t>(views.size());
    lua_rawgeti(L, LUA_REGISTRYINDEX, view_mt_ref);
    lua_setmetatable(L, -2);
    const int view_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    auto* fields = static_cast<FieldsData*>(lua_newuserdata(L, sizeof(FieldsData)));
    fields->view = view;
    lua_rawgeti(L, LUA_REGISTRYINDEX, fields_mt_ref);
    lua_setmetatable(L, -2);
    const int fields_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    views.push_back(view);
    view_refs.push_back(view_ref);
    fields_refs.push_back(fields_ref);
  }
  return views[i];
}

void RuleEngine::Impl::pushView(size_t i) { lua_rawgeti(L, LUA_REGISTRYINDEX, view_refs[i]); }

}  // namespace edge::lua
