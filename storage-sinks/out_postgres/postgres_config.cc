// sinks.postgres: the config reader and the gateway's factory for the
// PostgreSQL sink (keys documented in docs/sinks.md, "postgres").
#include <memory>
#include <string>

#include "edge/sinks/postgres_schema.h"
#include "edge/sinks/postgres_sink.h"

namespace edge::sinks {

bool readPostgresSinkOptions(const ConfigNode& section, PostgresSinkOptions& out) {
  section.rejectUnknownKeys({"enabled", "dsn", "pool_size", "migrate", "table", "retention_days",
                             "maintenance_interval", "row_level_security", "queue_max_batches",
                             "max_group_batches"});
  const bool enabled = section.getBool("enabled", true);
  out.dsn = section.getString("dsn", "");
  if (auto valid = validatePostgresDsn(out.dsn); !valid) {
    section.addError("dsn", "expected a libpq connection string such as \"host=db port=5432 "
                            "dbname=edge user=edge\" or \"postgresql://edge@db/edge\" (" +
                                valid.error().message + ")");
  }
  out.pool_size = static_cast<size_t>(section.getInt("pool_size", 2, 1, 64));
  out.migrate = section.getBool("migrate", true);
  out.table = section.getString("table", "events");
  if (!isValidPostgresEventTable(out.table)) {
    section.addError("table", "expected a table name of a-z, 0-9 and _ (not starting with a "
                              "digit, at most 53 bytes, not agents or edge_*), got \"" +
                                  out.table + "\"");
  }
  out.retention_days = static_cast<uint32_t>(section.getInt("retention_days", 0, 0, 36500));
  out.maintenance_interval = section.getDuration("maintenance_interval", std::chrono::hours(1));
  if (out.maintenance_interval.count() <= 0) {
    section.addError("maintenance_interval", "expected a positive duration such as \"1h\"");
  }
  out.row_level_security = section.getBool("row_level_security", false);
  out.queue_max_batches = static_cast<size_t>(section.getInt("queue_max_batches", 64, 1, 1'000'000));
  out.max_group_batches = static_cast<size_t>(section.getInt("max_group_batches", 64, 1, 10'000));
  return enabled;
}

gateway::SinkFactory readPostgresSink(ConfigNode& section) {
  PostgresSinkOptions options;
  if (!readPostgresSinkOptions(section, options)) return {};
  return [options](const gateway::SinkContext& context) -> Result<std::shared_ptr<gateway::Sink>> {
    return std::shared_ptr<gateway::Sink>(
        std::make_shared<PostgresSink>(options, context.metrics, context.dlq));
  };
}

}  // namespace edge::sinks
