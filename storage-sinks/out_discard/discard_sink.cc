#include "edge/sinks/discard_sink.h"

namespace edge::sinks {

DiscardSink::DiscardSink(DiscardSinkOptions options, MetricsRegistry& metrics)
    : QueuedSink("discard",
                 gateway::QueuedSinkOptions{.high_watermark = options.queue_max_batches,
                                            .max_group_batches = options.queue_max_batches},
                 metrics),
      discarded_(metrics.counter("edge_gateway_sink_discarded_events_total",
                                 "Events accepted and thrown away by the discard sink")) {}

DiscardSink::~DiscardSink() { stop(); }

std::vector<gateway::SinkResult> DiscardSink::commitGroup(
    std::span<const gateway::SinkBatchPtr> batches) {
  std::vector<gateway::SinkResult> results;
  results.reserve(batches.size());
  for (const gateway::SinkBatchPtr& batch : batches) {
    discarded_.inc(batch->events.size());
    gateway::SinkResult result;
    result.inserted = batch->events.size();
    results.push_back(std::move(result));
  }
  return results;
}

}  // namespace edge::sinks
