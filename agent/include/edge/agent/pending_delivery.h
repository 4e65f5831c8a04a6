// The events an input has read but not yet handed to the core, collected
// into deliveries that respect the core's DeliveryLimits. For inputs whose
// deliveries carry no positions (exec, stdin, syslog, metrics, process); the file input
// batches together with its file positions and does its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "edge/agent/input.h"

namespace edge::agent {

class PendingDelivery {
 public:
  // `sink` must outlive this; `input` is the name deliveries are made under.
  PendingDelivery(InputSink& sink, std::string input, DeliveryLimits limits)
      : sink_(sink), input_(std::move(input)), limits_(limits) {
    if (limits_.max_events == 0) limits_.max_events = 1;
  }

  // Queues `event`; first delivers what is pending if the event would take
  // the delivery past a limit (an event larger than max_bytes travels alone).
  void add(Event&& event) {
    const uint64_t bytes = estimateEventBytes(event);
    if (!events_.empty() &&
        (events_.size() >= limits_.max_events || bytes_ + bytes > limits_.max_bytes)) {
      flush();
    }
    events_.push_back(std::move(event));
    bytes_ += bytes;
  }

  // Delivers what is pending, if anything. The sink may call back into the
  // input (pause it); the queue is empty by then.
  void flush() {
    if (events_.empty()) return;
    std::vector<Event> events = std::move(events_);
    events_.clear();
    bytes_ = 0;
    sink_.deliver(input_, std::move(events), {});
  }

  bool empty() const { return events_.empty(); }
  size_t size() const { return events_.size(); }

 private:
  InputSink& sink_;
  std::string input_;
  DeliveryLimits limits_;
  std::vector<Event> events_;
  uint64_t bytes_ = 0;
};

}  // namespace edge::agent
