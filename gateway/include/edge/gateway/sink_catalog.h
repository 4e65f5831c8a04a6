// The sink types this gateway knows and how its configured sinks are built.
// sqlite and discard are built in; the others (kafka, postgres, file) come
// from storage-sinks/out_<name> through their SinkType (sink_factory.h),
// listed once in gateway/src/sink_catalog.cc.
#pragma once

#include <span>

#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/config.h"
#include "edge/gateway/sink.h"
#include "edge/gateway/sink_factory.h"

namespace edge::gateway {

// The types configured under sinks.<name> besides sqlite and discard.
std::span<const SinkType> pluggableSinkTypes();

// Every sink the config enables, by the name routes use; not started.
// `dlq` is handed to the sinks that dead-letter refused events.
Result<SinkMap> createSinks(const GatewayConfig& config, MetricsRegistry& metrics,
                            DeadLetterQueuePtr dlq);

// "sqlite /var/lib/edge-gateway/events.db, kafka" for the start-up log line.
std::string describeSinks(const GatewayConfig& config);

}  // namespace edge::gateway
