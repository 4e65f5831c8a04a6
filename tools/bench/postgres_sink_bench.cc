// bench_postgres_sink: the PostgreSQL sink alone, fed SinkBatches in-process
// the way the gateway feeds it (at most --in-flight batches submitted and not
// yet completed), timed from the first submit to the last completion (every
// row COMMITted). Events come from an NDJSON file (the standard workload,
// ../shared/bench), decoded into fields before the clock starts; every event
// is distinct (the sink would count repeats as duplicates). Prints one JSON
// line with the figures.
//
//   bench_postgres_sink --dsn "host=... dbname=..." --input /tmp/events.ndjson --events 300000
//
// Driven by tools/bench/postgres_sink_bench.py, which also times psql \copy
// of the same rows into the same table.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edge/common/metrics.h"
#include "edge/sinks/postgres_sink.h"

namespace {

using edge::Event;
using edge::gateway::SinkBatch;
using edge::gateway::SinkResult;
using edge::gateway::SinkStatus;

// One workload line as the agent's json parser would make it: top-level
// scalars become typed fields, the line itself is the raw record.
Event eventFromLine(const std::string& line, uint64_t seq) {
  Event e;
  e.seq = seq;
  e.ts_ns = 1700000000000000000LL + static_cast<int64_t>(seq) * 1000;
  e.kind = "log";
  e.source = "/var/log/bench.log";
  e.host = "bench-host";
  e.tenant = "bench";
  e.raw = line;
  auto doc = nlohmann::json::parse(line, nullptr, false);
  if (doc.is_object()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it->is_string()) {
        e.fields.push_back({it.key(), it->get<std::string>()});
      } else if (it->is_number_integer()) {
        e.fields.push_back({it.key(), it->get<int64_t>()});
      } else if (it->is_number_float()) {
        e.fields.push_back({it.key(), it->get<double>()});
      } else if (it->is_boolean()) {
        e.fields.push_back({it.key(), it->get<bool>()});
      }
    }
  }
  return e;
}

double cpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

long peakRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_postgres_sink: PostgreSQL sink rows/s, in-process"};
  std::string dsn;
  std::string input;
  size_t events = 300'000;
  size_t batch_size = 500;
  size_t in_flight = 64;
  size_t pool_size = 2;
  size_t group = 64;
  app.add_option("--dsn", dsn, "libpq connection string (\"\" = PG* environment)");
  app.add_option("--input", input, "NDJSON workload (../shared/bench/gen_events.py)")->required();
  app.add_option("--events", events, "events to store (all distinct)");
  app.add_option("--batch", batch_size, "events per SinkBatch (the agent's batch size)");
  app.add_option("--in-flight", in_flight, "batches submitted and not completed (queue_max_batches)");
  app.add_option("--pool-size", pool_size, "sinks.postgres.pool_size");
  app.add_option("--group", group, "sinks.postgres.max_group_batches");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> lines;
  {
    std::ifstream in(input);
    if (!in) {
      std::cerr << "cannot read --input " << input << "\n";
      return 1;
    }
    for (std::string line; lines.size() < events && std::getline(in, line);) lines.push_back(line);
  }
  if (lines.empty()) {
    std::cerr << "--input " << input << " has no lines\n";
    return 1;
  }

  std::vector<std::shared_ptr<const SinkBatch>> batches;
  for (size_t seq = 0; seq < events;) {
    auto batch = std::make_shared<SinkBatch>();
    batch->agent_id = "bench-agent";
    batch->batch_id = batches.size() + 1;
    batch->received_at_ns = 1700000000000000000LL;
    for (size_t i = 0; i < batch_size && seq < events; ++i, ++seq) {
      batch->events.push_back(eventFromLine(lines[seq % lines.size()], seq + 1));
    }
    batches.push_back(std::move(batch));
  }

  edge::MetricsRegistry metrics;
  edge::sinks::PostgresSinkOptions options;
  options.dsn = dsn;
  options.queue_max_batches = in_flight;
  options.max_group_batches = group;
  options.pool_size = pool_size;
  edge::sinks::PostgresSink sink(options, metrics, nullptr);
  if (auto started = sink.start(); !started) {
    std::cerr << started.error().message << "\n";
    return 1;
  }

  std::mutex mutex;
  std::condition_variable cv;
  size_t outstanding = 0;
  size_t failed = 0;
  uint64_t inserted = 0;
  const double cpu_before = cpuSeconds();
  const auto started = std::chrono::steady_clock::now();
  for (const auto& batch : batches) {
    {
      std::unique_lock<std::mutex> lock(mutex);
      cv.wait(lock, [&] { return outstanding < in_flight; });
      ++outstanding;
    }
    sink.submit(batch, [&](SinkResult result) {
      std::lock_guard<std::mutex> lock(mutex);
      if (result.status != SinkStatus::kOk) {
        if (failed++ == 0) std::cerr << "batch failed: " << result.reason << "\n";
      }
      inserted += result.inserted;
      --outstanding;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    cv.wait(lock, [&] { return outstanding == 0; });
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  const double cpu = cpuSeconds() - cpu_before;
  sink.stop();

  nlohmann::json report = {{"events", events},
                           {"inserted", inserted},
                           {"batches", batches.size()},
                           {"failed_batches", failed},
                           {"seconds", took.count()},
                           {"rows_per_second", static_cast<double>(inserted) / took.count()},
                           {"cpu_seconds", cpu},
                           {"peak_rss_mib", static_cast<double>(peakRssKb()) / 1024.0}};
  std::cout << report.dump() << std::endl;
  return failed == 0 && inserted == events ? 0 : 1;
}
