// LoopMailbox: thread-safe task hand-off into a libuv loop via uv_async.
#include "edge/gateway/loop_mailbox.h"

#include <uv.h>

#include <string>
#include <utility>

namespace edge::gateway {

Result<std::shared_ptr<LoopMailbox>> LoopMailbox::create(uv_loop_t* loop, Task after_drain) {
  std::shared_ptr<LoopMailbox> mailbox(new LoopMailbox());
  auto* async = new uv_async_t;
  if (int rc = uv_async_init(loop, async, &LoopMailbox::onAsync); rc != 0) {
    delete async;
    return makeError(ErrorCode::kInternal, std::string("uv_async_init failed: ") + uv_strerror(rc));
  }
  // The handle points at the mailbox only while open; close() clears it
  // before the loop can call onAsync again.
  async->data = mailbox.get();
  mailbox->async_ = async;
  mailbox->after_drain_ = std::move(after_drain);
  return mailbox;
}

LoopMailbox::~LoopMailbox() {
  // Closing must happen on the loop thread; an open handle here is a
  // lifecycle bug in the owner, so detach it rather than touch the loop.
  if (async_ != nullptr) async_->data = nullptr;
}

bool LoopMailbox::post(Task task) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (async_ == nullptr) return false;
  tasks_.push_back(std::move(task));
  // Under the lock so close() cannot free the handle in between.
  uv_async_send(async_);
  return true;
}

void LoopMailbox::close() {
  std::vector<Task> discarded;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (async_ == nullptr) return;
    async_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(async_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
    async_ = nullptr;
    discarded.swap(tasks_);
  }
  // Destroyed outside the lock: a task's captures may post again.
  discarded.clear();
}

void LoopMailbox::onAsync(uv_async_t* handle) {
  auto* self = static_cast<LoopMailbox*>(handle->data);
  if (self != nullptr) self->drain();
}

void LoopMailbox::drain() {
  std::vector<Task> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks.swap(tasks_);
  }
  for (Task& task : tasks) {
    task();
    // A task may close the mailbox (shutdown); the rest are discarded then.
    std::lock_guard<std::mutex> lock(mutex_);
    if (async_ == nullptr) return;
  }
  if (after_drain_) after_drain_();
}

}  // namespace edge::gateway
