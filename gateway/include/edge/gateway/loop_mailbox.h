// LoopMailbox: how other threads (sink threads) hand work back to a worker's
// libuv loop. post() is thread-safe and wakes the loop through one uv_async;
// the loop runs the posted tasks in order, then an optional after-drain hook
// (the worker flushes coalesced ACK/CREDIT frames there). uv_async may merge
// wake-ups, never tasks: every posted task runs, unless close() discards it.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "edge/common/result.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;
struct uv_async_s;
typedef struct uv_async_s uv_async_t;

namespace edge::gateway {

class LoopMailbox {
 public:
  using Task = std::function<void()>;

  // Loop thread. `after_drain` runs on the loop after each batch of tasks.
  static Result<std::shared_ptr<LoopMailbox>> create(uv_loop_t* loop, Task after_drain = {});
  ~LoopMailbox();
  LoopMailbox(const LoopMailbox&) = delete;
  LoopMailbox& operator=(const LoopMailbox&) = delete;

  // Any thread. False (and the task is dropped) once the mailbox is closed.
  bool post(Task task);

  // Loop thread. Closes the uv_async; tasks not yet run are discarded. The
  // loop finishes the close; the object may outlive it (other threads can
  // still hold it and post, which then fails).
  void close();

 private:
  LoopMailbox() = default;
  static void onAsync(uv_async_t* handle);
  void drain();

  std::mutex mutex_;
  std::vector<Task> tasks_;
  uv_async_t* async_ = nullptr;  // null once closed
  Task after_drain_;
};

}  // namespace edge::gateway
