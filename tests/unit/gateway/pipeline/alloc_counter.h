// Counts global operator new calls while a counter is alive, so tests can
// show the per-event paths allocate nothing once warm.
#pragma once

#include <cstddef>

namespace edge::gateway::pipeline::testing {

class AllocationCounter {
 public:
  AllocationCounter();
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;

  size_t count() const;
};

}  // namespace edge::gateway::pipeline::testing
