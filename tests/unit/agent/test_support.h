// Helpers shared by the agent's unit tests: temporary directories, running a
// libuv loop until a condition holds (with a generous timeout as a failure
// guard only), and building events.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "edge/common/event.h"

namespace edge::agent::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "edge-agent-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
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

inline void writeFile(const std::string& path, const std::string& text, bool append = true) {
  std::ofstream out(path,
                    append ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc);
  out << text;
}

// Runs the loop until done() is true; false if `timeout` passed first. A
// short repeating timer makes sure done() is re-checked even when the loop
// would otherwise block.
inline bool runUntil(uv_loop_t* loop, const std::function<bool()>& done,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 5, 5);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool ok = done();
  while (!ok && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
    ok = done();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

// Runs the loop for `duration` (to observe that something does NOT happen).
inline void runFor(uv_loop_t* loop, std::chrono::milliseconds duration) {
  auto until = std::chrono::steady_clock::now() + duration;
  runUntil(
      loop, [&] { return std::chrono::steady_clock::now() >= until; }, duration * 2);
}

// Finishes pending closes and closes the loop; fails if handles leaked.
inline void closeLoop(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(loop), 0) << "handles still open on the loop";
}

inline Event makeEvent(const std::string& raw, const std::string& source = "/var/log/test.log") {
  Event event;
  event.ts_ns = 1700000000000000000;
  event.kind = "log";
  event.source = source;
  event.host = "test-host";
  event.raw = raw;
  event.fields.push_back(Field{"path", source});
  return event;
}

}  // namespace edge::agent::testing
