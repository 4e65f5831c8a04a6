// Replaces global operator new/delete for the one test binary that links
// this file (its own translation unit, so the compiler never sees the
// replacement together with its callers).
#include "alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_count{0};

void* allocate(size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_count.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(size_t size) { return allocate(size); }
void* operator new[](size_t size) { return allocate(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace edge::gateway::pipeline::testing {

AllocationCounter::AllocationCounter() {
  g_count = 0;
  g_counting = true;
}

AllocationCounter::~AllocationCounter() { g_counting = false; }

size_t AllocationCounter::count() const { return g_count.load(); }

}  // namespace edge::gateway::pipeline::testing
