#include "edge/gateway/sink_catalog.h"

#include <array>
#include <string>

#include "edge/sinks/discard_sink.h"
#include "edge/sinks/file_sink.h"
#include "edge/sinks/postgres_sink.h"
#include "edge/sinks/sqlite_sink.h"

namespace edge::gateway {
namespace {

// One line per sink type: the key under sinks: and its config reader.
const std::array<SinkType, 2> kPluggableSinkTypes = {{
    {"file", sinks::readFileSink},
    {"postgres", sinks::readPostgresSink},
}};

}  // namespace

std::span<const SinkType> pluggableSinkTypes() { return kPluggableSinkTypes; }

Result<SinkMap> createSinks(const GatewayConfig& config, MetricsRegistry& metrics,
                            DeadLetterQueuePtr dlq) {
  SinkMap sinks;
  if (config.sqlite_enabled) {
    sinks.emplace("sqlite", std::make_shared<sinks::SqliteSink>(config.sqlite, metrics));
  }
  if (config.discard_events) {
    sinks.emplace("discard",
                  std::make_shared<sinks::DiscardSink>(
                      sinks::DiscardSinkOptions{.queue_max_batches = config.sqlite.queue_max_batches},
                      metrics));
  }
  const SinkContext context{metrics, std::move(dlq), config.data_dir, config.id};
  for (const auto& [name, factory] : config.pluggable_sinks) {
    auto sink = factory(context);
    if (!sink) {
      return makeError(sink.error().code, "sinks." + name + ": " + sink.error().message);
    }
    sinks.emplace(name, std::move(*sink));
  }
  return sinks;
}

std::string describeSinks(const GatewayConfig& config) {
  std::string out;
  auto add = [&out](const std::string& text) { out += (out.empty() ? "" : ", ") + text; };
  if (config.sqlite_enabled) add("sqlite " + config.sqlite.path);
  if (config.discard_events) add("discard (events routed there are thrown away)");
  for (const auto& [name, factory] : config.pluggable_sinks) add(name);
  return out;
}

}  // namespace edge::gateway
