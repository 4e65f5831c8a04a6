// Helpers for the edge_lua tests: a temporary rules directory, events built
// in one line, an engine over inline rule sources.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "edge/common/event.h"
#include "edge/lua/engine.h"

namespace edge::lua::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "edge-lua-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

  // Writes a file and gives it a modification time of its own (`age`
  // seconds in the past... or the future), so a rewrite within the same
  // clock tick is still seen as a change.
  std::string write(const std::string& name, const std::string& text, int mtime_offset = 0) {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
    static int counter = 0;
    struct timeval times[2];
    gettimeofday(&times[0], nullptr);
    times[0].tv_sec += mtime_offset + (++counter);
    times[1] = times[0];
    utimes(file.c_str(), times);
    return file;
  }
  void remove(const std::string& name) { std::filesystem::remove(path_ + "/" + name); }

 private:
  std::string path_;
};

inline Event makeEvent(std::string raw = "Failed password for root from 10.0.0.7 port 22",
                       int64_t ts_s = 1'700'000'000) {
  Event e;
  e.ts_ns = ts_s * 1'000'000'000LL;
  e.seq = 1;
  e.kind = "syslog";
  e.source = "/var/log/auth.log";
  e.host = "web-1";
  e.tenant = "acme";
  e.raw = std::move(raw);
  return e;
}

// A rule file with the usual metadata around `body` (the rest of the table).
inline std::string rule(const std::string& name, const std::string& body) {
  return "return {\n  name = \"" + name +
         "\",\n  description = \"test rule\",\n  severity = \"high\",\n  author = \"tests\",\n" +
         body + "\n}\n";
}

}  // namespace edge::lua::testing
