// Sink status names and the edge-triggered watermark counter.
#include "edge/gateway/sink.h"

#include <algorithm>

namespace edge::gateway {

const char* sinkStatusName(SinkStatus status) {
  switch (status) {
    case SinkStatus::kOk:
      return "ok";
    case SinkStatus::kRetry:
      return "retry";
    case SinkStatus::kError:
      return "error";
  }
  return "unknown";
}

WatermarkCounter::WatermarkCounter(size_t high)
    : high_(std::max<size_t>(high, 1)), low_(high_ / 2) {}

WatermarkCounter::Crossing WatermarkCounter::add(size_t n) {
  value_ += n;
  if (!above_ && value_ >= high_) {
    above_ = true;
    return Crossing::kAboveHigh;
  }
  return Crossing::kNone;
}

WatermarkCounter::Crossing WatermarkCounter::sub(size_t n) {
  value_ -= std::min(n, value_);
  if (above_ && value_ <= low_) {
    above_ = false;
    return Crossing::kBelowLow;
  }
  return Crossing::kNone;
}

}  // namespace edge::gateway
