// How a sink type plugs into the gateway's configuration: each type under
// storage-sinks/out_<name>/ exposes one reader for its `sinks.<name>:`
// section, listed once in gateway/src/sink_catalog.cc. The reader checks
// the section (errors with file:line through ConfigNode) and returns a
// factory the gateway calls at start-up — and `edgectl dlq replay` too,
// so a replay writes through exactly the code the gateway runs.
//
//   SinkFactory readKafkaSink(ConfigNode& section);   // out_kafka
//   constexpr SinkType kSinkTypes[] = {{"kafka", readKafkaSink}, ...};
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "edge/common/config.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"
#include "edge/gateway/dead_letter_queue.h"
#include "edge/gateway/sink.h"

namespace edge::gateway {

// What a sink may use when it is created.
struct SinkContext {
  MetricsRegistry& metrics;
  // Where refused events go (never null in the gateway; tests may pass null
  // to make a sink report kError instead).
  DeadLetterQueuePtr dlq;
  std::string data_dir;    // gateway.data_dir, for default file locations
  std::string gateway_id;  // gateway.id, e.g. for a Kafka client.id
};

// Creates the configured sink; not started yet (the gateway calls start()).
using SinkFactory = std::function<Result<std::shared_ptr<Sink>>(const SinkContext&)>;

struct SinkType {
  std::string_view name;  // the key under sinks:, and the name routes use
  // Reads sinks.<name> (called only when the section exists). Records every
  // mistake in the section; returns an empty factory when the section says
  // `enabled: false`.
  SinkFactory (*read)(ConfigNode& section);
};

}  // namespace edge::gateway
