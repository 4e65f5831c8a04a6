// `edgectl spool stats`: what an agent still holds in its spool (see docs/spool.md).
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "sqlite_reader.h"

namespace edge::ctl {

int runSpoolStats(const std::string& spool_path) {
  auto db = SqliteReader::open(spool_path);
  if (!db) {
    std::fprintf(stderr, "edgectl: %s (the spool is <agent.data_dir>/spool.db by default)\n",
                 db.error().message.c_str());
    return 1;
  }
  std::printf("Spool %s\n", spool_path.c_str());
  auto meta = db->query("SELECT key, value FROM meta ORDER BY key", [](const std::vector<std::string>& row) {
    std::printf("  %-16s %s\n", row[0].c_str(), row[1].c_str());
  });
  if (!meta) {
    std::fprintf(stderr, "edgectl: %s: not an edge-agent spool? %s\n", spool_path.c_str(),
                 meta.error().message.c_str());
    return 1;
  }
  auto pending = db->query(
      "SELECT count(*), coalesce(sum(event_count), 0), coalesce(sum(payload_bytes), 0),"
      "       coalesce(strftime('%Y-%m-%dT%H:%M:%SZ', min(created_ns) / 1000000000, 'unixepoch'), '-') FROM batches",
      [](const std::vector<std::string>& row) {
        std::printf("  pending batches  %s (%s events, %s bytes compressed), oldest %s\n", row[0].c_str(),
                    row[1].c_str(), row[2].c_str(), row[3].c_str());
      });
  if (!pending) std::fprintf(stderr, "edgectl: %s\n", pending.error().message.c_str());
  std::printf("  committed input positions:\n");
  auto positions = db->query("SELECT input, path, inode, offset FROM positions ORDER BY input, path",
                             [](const std::vector<std::string>& row) {
                               std::printf("    %-12s %s  inode %s offset %s\n", row[0].c_str(), row[1].c_str(),
                                           row[2].c_str(), row[3].c_str());
                             });
  if (!positions) std::fprintf(stderr, "edgectl: %s\n", positions.error().message.c_str());
  return 0;
}

}  // namespace edge::ctl
