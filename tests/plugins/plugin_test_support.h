// Shared helpers for the plugin tests: private temp directories with the
// modes the loader demands, copying built plugins into them (as an operator
// drops a .so in), option documents from inline YAML, and a fake clock.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "edge/common/config.h"
#include "edge/plugins/host.h"

namespace edge::plugins::testing {

// A fresh directory (mode 0700, ours), removed with its contents.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "edge-plugin-test-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string firstPartyPath(const std::string& name) {
  return std::string(EDGE_PLUGIN_DIR) + "/" + name + ".so";
}

inline std::string testPluginPath(const std::string& name) {
  return std::string(EDGE_TEST_PLUGIN_DIR) + "/" + name + ".so";
}

// Copies a built plugin into `dir` as `as`, mode 0755 (what an operator's
// install step does), and returns the new path.
inline std::string dropIn(const std::string& built, const TempDir& dir, const std::string& as,
                          mode_t mode = 0755) {
  std::string target = dir.file(as);
  std::filesystem::copy_file(built, target, std::filesystem::copy_options::overwrite_existing);
  ::chmod(target.c_str(), mode);
  return target;
}

// Loads a first-party plugin the way the gateway would: from a plugin
// directory holding a copy. The directory lives as long as the test binary.
inline PluginPtr loadFirstParty(const std::string& name) {
  static TempDir* dir = new TempDir();  // leaked on purpose: plugins stay mapped until exit
  std::string path = dropIn(firstPartyPath(name), *dir, name + ".so");
  auto plugin = loadPlugin(path);
  if (!plugin) {
    ADD_FAILURE() << "cannot load " << name << ": " << plugin.error().message;
    return nullptr;
  }
  return *plugin;
}

// Options from inline YAML (the `options:` map of a pipeline stage).
inline Result<OptionValues> optionsFromYaml(const Plugin& plugin, const std::string& yaml) {
  auto doc = ConfigDocument::parse(yaml, "test.yaml");
  if (!doc) return doc.error();
  return validateOptions(plugin, (*doc)->root());
}

inline void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A clock the test moves by hand.
struct FakeClock {
  int64_t now_ns = 1'700'000'000'000'000'000;
  void advanceMs(int64_t ms) { now_ns += ms * 1'000'000; }
  std::function<int64_t()> fn() {
    return [this] { return now_ns; };
  }
};

struct CapturedLog {
  std::vector<std::string> lines;
  std::function<void(LogLevel, std::string_view, std::string_view, std::string_view)> fn() {
    return [this](LogLevel, std::string_view plugin, std::string_view instance,
                  std::string_view message) {
      lines.push_back(std::string(plugin) + "/" + std::string(instance) + ": " +
                      std::string(message));
    };
  }
  bool contains(const std::string& needle) const {
    for (const std::string& line : lines) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

inline Event makeEvent(std::string kind, std::vector<Field> fields = {},
                       std::string host = "web-1") {
  Event e;
  e.ts_ns = 1'700'000'000'000'000'000;
  e.kind = std::move(kind);
  e.host = std::move(host);
  e.source = "/var/log/app.log";
  e.tenant = "acme";
  e.fields = std::move(fields);
  return e;
}

inline const FieldValue* field(const Event& e, std::string_view key) { return e.findField(key); }

inline std::string stringField(const Event& e, std::string_view key) {
  const FieldValue* v = e.findField(key);
  if (v == nullptr || !std::holds_alternative<std::string>(*v)) return "<missing>";
  return std::get<std::string>(*v);
}

}  // namespace edge::plugins::testing
