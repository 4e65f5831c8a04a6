// Loading plugin shared objects: file safety checks before any plugin code
// runs, then dlopen, the entry symbol, and every descriptor check, each
// refusal naming the file, the reason and the fix.
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "internal.h"

namespace edge::plugins {
namespace {

constexpr size_t kMaxOptions = 256;
constexpr size_t kMaxNameLength = 64;

std::string octalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Only root or the gateway's own user may own what the gateway runs: anyone
// else who owns the file can change its mode and contents.
bool trustedOwner(uid_t uid) { return uid == 0 || uid == geteuid(); }

Error refuse(const std::string& path, const std::string& reason,
             ErrorCode code = ErrorCode::kConfig) {
  return makeError(code, path + ": " + reason);
}

Result<void> checkFileSafety(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    return refuse(path, std::string("cannot read plugin file: ") + std::strerror(err),
                  err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo);
  }
  if (!S_ISREG(st.st_mode))
    return refuse(path, "not a regular file; a plugin is a shared object (.so)");
  if (!trustedOwner(st.st_uid)) {
    return refuse(path, "refusing to load a plugin owned by uid " + std::to_string(st.st_uid) +
                            " (only root or the gateway's user, uid " + std::to_string(geteuid()) +
                            ", may own plugins, since the owner can change its code); fix: chown " +
                            std::to_string(geteuid()) + " " + path);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return refuse(path, "refusing to load a plugin writable by group or others (mode " +
                            octalMode(st.st_mode) +
                            "): they could change the code the gateway runs; fix: chmod go-w " +
                            path);
  }

  // Whoever can write the directory can swap the file for another; with the
  // directory locked down too, the file cannot change between this check and
  // dlopen() except by its (trusted) owner.
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) {
    return refuse(path, std::string("cannot resolve path: ") + std::strerror(errno),
                  ErrorCode::kIo);
  }
  std::string dir(resolved);
  size_t slash = dir.rfind('/');
  dir = slash == 0 ? "/" : dir.substr(0, slash);
  struct stat dst {};
  if (::stat(dir.c_str(), &dst) != 0) {
    return refuse(path, "cannot read plugin directory " + dir + ": " + std::strerror(errno),
                  ErrorCode::kIo);
  }
  if (!trustedOwner(dst.st_uid)) {
    return refuse(path, "refusing to load from directory " + dir + " owned by uid " +
                            std::to_string(dst.st_uid) +
                            " (only root or the gateway's user may own "
                            "the plugin directory); fix: chown " +
                            std::to_string(geteuid()) + " " + dir);
  }
  if ((dst.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return refuse(path, "refusing to load from directory " + dir +
                            " writable by group or others (mode " + octalMode(dst.st_mode) +
                            "): they could replace the plugin; fix: chmod go-w " + dir);
  }
  return okResult();
}

std::string signatureText(const uint8_t* sig) {
  std::string out;
  char buf[160];
  std::snprintf(buf, sizeof(buf),
                "pointer=%u size_t=%u long=%u time_t=%u double=%u int=%u byte_order=%c", sig[1],
                sig[2], sig[3], sig[4], sig[5], sig[6],
                sig[7] >= 32 && sig[7] < 127 ? static_cast<char>(sig[7]) : '?');
  out = buf;
  return out;
}

Result<void> checkSignature(const std::string& path, const uint8_t* plugin_sig) {
  static constexpr uint8_t kHostSignature[EDGE_PLUGIN_SIGNATURE_SIZE] =
      EDGE_PLUGIN_BUILD_SIGNATURE_INIT;
  if (std::memcmp(plugin_sig, kHostSignature, EDGE_PLUGIN_SIGNATURE_SIZE) == 0) return okResult();
  static constexpr const char* kFields[] = {"marker",       "sizeof(void*)",  "sizeof(size_t)",
                                            "sizeof(long)", "sizeof(time_t)", "sizeof(double)",
                                            "sizeof(int)",  "byte order"};
  std::string first;
  for (size_t i = 0; i < EDGE_PLUGIN_SIGNATURE_SIZE; ++i) {
    if (plugin_sig[i] == kHostSignature[i]) continue;
    first = i < std::size(kFields) ? kFields[i] : "reserved byte " + std::to_string(i);
    break;
  }
  return refuse(path,
                "build signature mismatch (" + first + " differs): plugin has " +
                    signatureText(plugin_sig) + ", gateway has " + signatureText(kHostSignature) +
                    "; rebuild the plugin for this platform with this gateway's edge/plugin_abi.h");
}

Result<void> checkOptionTable(const std::string& path, const edge_plugin_descriptor& d,
                              std::vector<OptionSpec>& out) {
  if (d.option_count > 0 && d.options == nullptr) {
    return refuse(path, "invalid option table: option_count is " + std::to_string(d.option_count) +
                            " but options is NULL");
  }
  if (d.option_count > kMaxOptions) {
    return refuse(path, "invalid option table: " + std::to_string(d.option_count) +
                            " options (at most " + std::to_string(kMaxOptions) + ")");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < d.option_count; ++i) {
    const edge_plugin_option& o = d.options[i];
    std::string where = "invalid option table: option " + std::to_string(i);
    if (o.name == nullptr || !isIdentifier(o.name)) {
      return refuse(path, where + ": name " + (o.name ? "'" + std::string(o.name) + "'" : "NULL") +
                              " must match [a-z][a-z0-9_]*");
    }
    where += " (" + std::string(o.name) + ")";
    if (!seen.insert(o.name).second) return refuse(path, where + ": declared twice");
    if (o.type < EDGE_OPT_STRING || o.type > EDGE_OPT_STRING_LIST) {
      return refuse(path,
                    where + ": unknown type " + std::to_string(o.type) + " (expected EDGE_OPT_*)");
    }
    if ((o.flags & ~EDGE_OPT_REQUIRED) != 0) {
      return refuse(path, where + ": unknown flags " + std::to_string(o.flags));
    }
    if (o.help == nullptr || o.help[0] == '\0') {
      return refuse(path, where + ": no help text; every option needs one for the reference");
    }
    OptionSpec spec;
    spec.name = o.name;
    spec.type = static_cast<OptionType>(o.type);
    spec.required = (o.flags & EDGE_OPT_REQUIRED) != 0;
    spec.help = o.help;
    if (o.default_value != nullptr) {
      if (spec.required) {
        return refuse(path,
                      where + ": required options cannot have a default; drop one of the two");
      }
      auto parsed = parseOptionText(spec.type, o.default_value);
      if (!parsed) return refuse(path, where + ": default value: " + parsed.error().message);
      spec.default_value = std::string(o.default_value);
    }
    out.push_back(std::move(spec));
  }
  return okResult();
}

// Everything after the fixed header fields. The entry point already answered.
Result<void> checkDescriptor(const std::string& path, const edge_plugin_descriptor& d,
                             Plugin& plugin) {
  if (d.abi_major != EDGE_PLUGIN_ABI_MAJOR) {
    return refuse(path,
                  "ABI major version mismatch: plugin was built for ABI " +
                      std::to_string(d.abi_major) + "." + std::to_string(d.abi_minor) +
                      " but this gateway implements ABI " + std::to_string(EDGE_PLUGIN_ABI_MAJOR) +
                      "." + std::to_string(EDGE_PLUGIN_ABI_MINOR) +
                      "; rebuild the plugin against this gateway's edge/plugin_abi.h",
                  ErrorCode::kUnsupportedVersion);
  }
  if (d.abi_minor > EDGE_PLUGIN_ABI_MINOR) {
    return refuse(path,
                  "ABI minor version too new: plugin needs ABI " + std::to_string(d.abi_major) +
                      "." + std::to_string(d.abi_minor) + " but this gateway implements ABI " +
                      std::to_string(EDGE_PLUGIN_ABI_MAJOR) + "." +
                      std::to_string(EDGE_PLUGIN_ABI_MINOR) +
                      "; upgrade the gateway or rebuild the plugin against this gateway's headers",
                  ErrorCode::kUnsupportedVersion);
  }
  if (d.struct_size < sizeof(edge_plugin_descriptor)) {
    return refuse(path,
                  "descriptor struct_size is " + std::to_string(d.struct_size) +
                      " bytes, smaller than the " + std::to_string(sizeof(edge_plugin_descriptor)) +
                      " bytes of an ABI " + std::to_string(EDGE_PLUGIN_ABI_MAJOR) + "." +
                      std::to_string(d.abi_minor) +
                      " descriptor; set struct_size = sizeof(edge_plugin_descriptor) and rebuild");
  }
  EDGE_TRY(checkSignature(path, d.build_signature));

  if (d.name == nullptr || !isIdentifier(d.name) || std::strlen(d.name) > kMaxNameLength) {
    return refuse(path, "invalid plugin name " +
                            (d.name ? "'" + std::string(d.name) + "'" : std::string("NULL")) +
                            ": use [a-z][a-z0-9_]*, at most " + std::to_string(kMaxNameLength) +
                            " characters (e.g. filter_geoip)");
  }
  std::string name = d.name;
  if (d.version == nullptr || d.version[0] == '\0') {
    return refuse(
        path, "plugin " + name + ": no version string; set descriptor.version (e.g. \"1.0.0\")");
  }
  PluginKind kind;
  if (d.kind == EDGE_PLUGIN_PROCESSOR) {
    kind = PluginKind::kProcessor;
  } else if (d.kind == EDGE_PLUGIN_SINK) {
    kind = PluginKind::kSink;
  } else {
    return refuse(path, "plugin " + name + ": unknown kind " + std::to_string(d.kind) +
                            " (expected EDGE_PLUGIN_PROCESSOR or EDGE_PLUGIN_SINK)");
  }
  if (d.edge_plugin_on_create == nullptr || d.edge_plugin_on_destroy == nullptr) {
    return refuse(
        path, "plugin " + name + ": edge_plugin_on_create and edge_plugin_on_destroy are required");
  }
  if (kind == PluginKind::kProcessor && d.edge_plugin_on_process == nullptr) {
    return refuse(path, "plugin " + name + ": a processor must implement edge_plugin_on_process");
  }
  if (kind == PluginKind::kSink && d.edge_plugin_on_write == nullptr) {
    return refuse(path, "plugin " + name + ": a sink must implement edge_plugin_on_write");
  }
  std::vector<OptionSpec> options;
  EDGE_TRY(checkOptionTable(path, d, options));

  PluginAccess::name(plugin) = name;
  PluginAccess::version(plugin) = d.version;
  PluginAccess::description(plugin) = d.description ? d.description : "";
  PluginAccess::kind(plugin) = kind;
  PluginAccess::options(plugin) = std::move(options);
  return okResult();
}

}  // namespace

bool isIdentifier(std::string_view name) {
  if (name.empty() || name.front() < 'a' || name.front() > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

const char* pluginKindName(PluginKind kind) {
  return kind == PluginKind::kProcessor ? "processor" : "sink";
}

Plugin::~Plugin() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

const OptionSpec* Plugin::findOption(std::string_view name) const {
  for (const OptionSpec& spec : options_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

Result<PluginPtr> loadPlugin(const std::string& path) {
  EDGE_TRY(checkFileSafety(path));

  // RTLD_NOW: an unresolved symbol fails here, not in the middle of a batch.
  // RTLD_LOCAL: plugins cannot see (or clash with) each other's symbols.
  ::dlerror();
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = ::dlerror();
    return refuse(path, std::string("cannot load shared object: ") +
                            (reason ? reason : "unknown error") +
                            "; check its dependencies with: ldd -r " + path);
  }
  std::shared_ptr<Plugin> plugin = PluginAccess::make();
  PluginAccess::handle(*plugin) = handle;  // closed by ~Plugin on any refusal below
  PluginAccess::path(*plugin) = path;

  ::dlerror();
  void* symbol = ::dlsym(handle, EDGE_PLUGIN_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    return refuse(path,
                  "not an edge plugin: missing entry symbol " EDGE_PLUGIN_ENTRY_SYMBOL
                  "; define it with EDGE_PROCESSOR_PLUGIN / EDGE_SINK_PLUGIN (edge/plugin_sdk.hpp) "
                  "or export it with EDGE_PLUGIN_EXPORT");
  }
  // dlsym hands back an object pointer; POSIX guarantees it converts to a
  // function pointer.
  edge_plugin_entry_fn entry;
  static_assert(sizeof(entry) == sizeof(symbol));
  std::memcpy(&entry, &symbol, sizeof(entry));
  const edge_plugin_descriptor* descriptor = entry();
  if (descriptor == nullptr) {
    return refuse(
        path, EDGE_PLUGIN_ENTRY_SYMBOL "() returned NULL; it must return its static descriptor");
  }
  PluginAccess::descriptor(*plugin) = descriptor;
  EDGE_TRY(checkDescriptor(path, *descriptor, *plugin));
  return PluginPtr(std::move(plugin));
}

Result<void> PluginCatalog::add(PluginPtr plugin) {
  auto pos = std::lower_bound(
      plugins_.begin(), plugins_.end(), plugin->name(),
      [](const PluginPtr& p, const std::string& name) { return p->name() < name; });
  if (pos != plugins_.end() && (*pos)->name() == plugin->name()) {
    return makeError(ErrorCode::kConfig, plugin->path() + ": duplicate plugin name '" +
                                             plugin->name() + "': already provided by " +
                                             (*pos)->path() + "; remove one of the two files");
  }
  plugins_.insert(pos, std::move(plugin));
  return okResult();
}

PluginPtr PluginCatalog::find(std::string_view name) const {
  auto pos = std::lower_bound(plugins_.begin(), plugins_.end(), name,
                              [](const PluginPtr& p, std::string_view n) { return p->name() < n; });
  if (pos != plugins_.end() && (*pos)->name() == name) return *pos;
  return nullptr;
}

std::string DirectoryLoad::errorText() const {
  std::string text;
  for (const Error& error : errors) {
    if (!text.empty()) text += '\n';
    text += error.message;
  }
  return text;
}

Result<void> DirectoryLoad::status() const {
  if (errors.empty()) return okResult();
  return makeError(ErrorCode::kConfig, errorText());
}

DirectoryLoad loadPluginDirectory(const std::string& dir) {
  DirectoryLoad result;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    int err = errno;
    result.errors.push_back(
        makeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                  dir + ": cannot read plugin directory: " + std::strerror(err)));
    return result;
  }
  std::vector<std::string> files;
  while (struct dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    // Hidden files are in-progress copies (copy to .x.so.tmp, then rename).
    if (name.empty() || name.front() == '.') continue;
    if (name.size() <= 3 || name.substr(name.size() - 3) != ".so") continue;
    files.emplace_back(name);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  std::string prefix = dir;
  if (!prefix.empty() && prefix.back() != '/') prefix += '/';
  for (const std::string& file : files) {
    auto plugin = loadPlugin(prefix + file);
    if (!plugin) {
      result.errors.push_back(plugin.error());
      continue;
    }
    if (auto added = result.catalog.add(*plugin); !added) result.errors.push_back(added.error());
  }
  return result;
}

}  // namespace edge::plugins
