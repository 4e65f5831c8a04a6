// `edgectl sink summary`: what arrived in a gateway's SQLite sink.
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "sqlite_reader.h"

namespace edge::ctl {
namespace {

std::string truncateForDisplay(std::string text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return text.substr(0, cut) + "...";
}

void printTop(SqliteReader& db, const char* title, const char* column) {
  std::printf("  by %s:\n", title);
  std::string sql = std::string("SELECT ") + column + ", count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC LIMIT 10";
  auto result = db.query(sql, [](const std::vector<std::string>& row) {
    std::printf("    %10s  %s\n", row[1].c_str(), truncateForDisplay(row[0], 90).c_str());
  });
  if (!result) std::fprintf(stderr, "edgectl: %s\n", result.error().message.c_str());
}

}  // namespace

int runSinkSummary(const std::string& db_path, int latest) {
  auto db = SqliteReader::open(db_path);
  if (!db) {
    std::fprintf(stderr, "edgectl: %s (is this the gateway's sinks.sqlite.path?)\n", db.error().message.c_str());
    return 1;
  }
  auto total = db->scalar("SELECT count(*) FROM events");
  if (!total) {
    std::fprintf(stderr, "edgectl: %s: %s\n", db_path.c_str(), total.error().message.c_str());
    return 1;
  }
  std::printf("Sink database %s\n", db_path.c_str());
  std::printf("  events: %lld\n", static_cast<long long>(*total));
  if (*total == 0) return 0;

  auto range = db->query(
      "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', min(ts) / 1000000000, 'unixepoch'),"
      "       strftime('%Y-%m-%dT%H:%M:%SZ', max(ts) / 1000000000, 'unixepoch') FROM events",
      [](const std::vector<std::string>& row) {
        std::printf("  event time: %s .. %s\n", row[0].c_str(), row[1].c_str());
      });
  if (!range) std::fprintf(stderr, "edgectl: %s\n", range.error().message.c_str());

  std::printf("  by agent:\n");
  auto agents = db->query(
      "SELECT agent_id, tenant, count(*), min(seq), max(seq) FROM events GROUP BY agent_id, tenant ORDER BY 3 DESC",
      [](const std::vector<std::string>& row) {
        std::printf("    %10s  agent %s (tenant %s), seq %s..%s\n", row[2].c_str(), row[0].c_str(), row[1].c_str(),
                    row[3].c_str(), row[4].c_str());
      });
  if (!agents) std::fprintf(stderr, "edgectl: %s\n", agents.error().message.c_str());
  printTop(*db, "kind", "kind");
  printTop(*db, "host", "host");
  printTop(*db, "source", "source");

  std::printf("  latest %d events:\n", latest);
  auto rows = db->query(
      "SELECT strftime('%H:%M:%S', ts / 1000000000, 'unixepoch'), host, raw FROM events ORDER BY id DESC LIMIT " +
          std::to_string(latest),
      [](const std::vector<std::string>& row) {
        std::printf("    %s %s  %s\n", row[0].c_str(), row[1].c_str(), truncateForDisplay(row[2], 110).c_str());
      });
  if (!rows) std::fprintf(stderr, "edgectl: %s\n", rows.error().message.c_str());
  return 0;
}

}  // namespace edge::ctl
