// Records the largest single operator-new allocation while a tracker is
// alive, so tests can prove a decoder never allocated a hostile size.
#pragma once

#include <cstddef>

namespace edge::protocol::test_support {

class AllocationTracker {
 public:
  AllocationTracker();
  ~AllocationTracker();
  AllocationTracker(const AllocationTracker&) = delete;
  AllocationTracker& operator=(const AllocationTracker&) = delete;

  size_t largest() const;
};

}  // namespace edge::protocol::test_support
