// edgectl subcommands; each returns the process exit code.
#pragma once

#include <string>

namespace edge::ctl {

// Summarises a gateway SQLite sink database: counts by kind, host, source and
// agent, the time range and the latest events, plus how to query it.
int runSinkSummary(const std::string& db_path, int latest);

// Shows an agent spool: pending batches/events/bytes, oldest batch, agent id,
// next seq, and each input's committed file positions.
int runSpoolStats(const std::string& spool_path);

}  // namespace edge::ctl
