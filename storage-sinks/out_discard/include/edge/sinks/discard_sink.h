// out_discard: accepts every batch and stores nothing. For benchmarks (the
// agent → gateway path without a store's cost: "events discarded after
// decode") and for smoke tests of a tier. It runs on the same QueuedSink
// thread and watermarks as a real sink, so flow control and acks behave as
// they do in production; only the commit is free.
//
// Counts what it threw away in edge_gateway_sink_discarded_events_total.
#pragma once

#include <span>
#include <vector>

#include "edge/common/metrics.h"
#include "edge/gateway/queued_sink.h"

namespace edge::sinks {

struct DiscardSinkOptions {
  size_t queue_max_batches = 64;  // high watermark; low = high / 2
};

class DiscardSink final : public gateway::QueuedSink {
 public:
  DiscardSink(DiscardSinkOptions options, MetricsRegistry& metrics);
  ~DiscardSink() override;

 protected:
  Result<void> openStore() override { return {}; }
  std::vector<gateway::SinkResult> commitGroup(
      std::span<const gateway::SinkBatchPtr> batches) override;
  void closeStore() override {}

 private:
  Counter& discarded_;
};

}  // namespace edge::sinks
