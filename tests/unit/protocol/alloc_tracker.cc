// Replaces global operator new/delete for the test binary that links this
// file (kept in its own translation unit so the compiler never sees the
// replacement and its callers together).
#include "alloc_tracker.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> g_tracking{false};
std::atomic<size_t> g_largest{0};
}  // namespace

void* operator new(size_t size) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    size_t seen = g_largest.load(std::memory_order_relaxed);
    while (size > seen && !g_largest.compare_exchange_weak(seen, size)) {
    }
  }
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace edge::protocol::test_support {

AllocationTracker::AllocationTracker() {
  g_largest = 0;
  g_tracking = true;
}

AllocationTracker::~AllocationTracker() { g_tracking = false; }

size_t AllocationTracker::largest() const { return g_largest.load(); }

}  // namespace edge::protocol::test_support
