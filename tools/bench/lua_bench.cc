// Google Benchmark of the Lua rule stage (edge_lua's RuleEngine, the code
// the gateway's `lua` stage runs) on the standard workload
// (/work/shared/bench: sshd-like events), in batches of 1,000:
//   BM_ReferenceRule    the workload's reference rule: string.find on msg,
//                       set a field, drop the other half
//   BM_NoopRule         process = function(ev) end: the fixed cost per event
//   BM_PrefilterRejects a rule whose prefilter rejects every event (no Lua runs)
//   BM_CopyBatch        copying the batch alone, which every benchmark above
//                       also does per iteration (subtract it)
//
//   ninja -C build/<dir> bench_lua && build/<dir>/tools/bench/bench_lua
//   EDGE_BENCH_EVENTS=events.jsonl     use this file instead of generating one
//   EDGE_BENCH_GEN=path/gen_events.py  the generator (default: the shared one)
//
// items_per_second counts events: ns/event = 1e9 / items_per_second.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edge/lua/engine.h"

namespace {

using edge::Event;

constexpr size_t kBatch = 1000;

std::string envOr(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : def;
}

// Events as the gateway holds them after decode (as in bench_pipeline).
const std::vector<Event>& corpus() {
  static const std::vector<Event> kEvents = [] {
    std::string path = envOr("EDGE_BENCH_EVENTS", "");
    bool generated = false;
    if (path.empty()) {
      path = "/tmp/edge-bench-lua-" + std::to_string(::getpid()) + ".jsonl";
      const std::string cmd = "python3 '" +
                              envOr("EDGE_BENCH_GEN", "/work/shared/bench/gen_events.py") +
                              "' 20000 '" + path + "'";
      if (std::system(cmd.c_str()) != 0) {
        std::cerr << "bench_lua: `" << cmd << "` failed; set EDGE_BENCH_EVENTS to a JSON-lines file\n";
        std::exit(2);
      }
      generated = true;
    }
    std::vector<Event> events;
    std::ifstream in(path);
    size_t n = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line);
      Event e;
      e.ts_ns = 1'773'446'400'000'000'000 + static_cast<int64_t>(n) * 1000;
      e.seq = ++n;
      e.kind = "log";
      e.source = "/var/log/auth.log";
      e.host = j.value("host", "");
      e.tenant = "acme";
      e.raw = line;
      for (auto& [key, value] : j.items()) {
        if (key == "ts" || key == "host" || key == "level") continue;
        if (value.is_number_integer()) {
          e.fields.push_back(edge::Field{key, value.get<int64_t>()});
        } else if (value.is_string()) {
          e.fields.push_back(edge::Field{key, value.get<std::string>()});
        }
      }
      events.push_back(std::move(e));
    }
    if (generated) std::remove(path.c_str());
    if (events.size() < kBatch) {
      std::cerr << "bench_lua: need at least " << kBatch << " events\n";
      std::exit(2);
    }
    return events;
  }();
  return kEvents;
}

constexpr const char* kReferenceRule = R"(
local find = string.find
return {
  name = "reference",
  description = "the standard workload's reference rule",
  severity = "low",
  process = function(ev)
    local msg = ev.fields.msg
    if msg then
      if find(msg, "Failed password", 1, true) or find(msg, "Invalid user", 1, true) then
        ev.fields.alert = "ssh_auth_failure"
        return
      end
      if find(msg, "Accepted ", 1, true) then
        ev.fields.alert = "ssh_login"
        return
      end
    end
    ev:drop()
  end,
}
)";

constexpr const char* kNoopRule = R"(
return {name = "noop", description = "nothing", severity = "low", process = function(ev) end}
)";

constexpr const char* kRejectingRule = R"(
return {
  name = "rejecting", description = "prefilter rejects all", severity = "low",
  prefilter = {kind = "never", fields = {msg = {contains = "nothing like this"}}},
  process = function(ev) ev:drop() end,
}
)";

void runRule(benchmark::State& state, const char* source) {
  const std::string dir = "/tmp/edge-bench-lua-rules-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/rule.lua") << source;
  edge::lua::LuaStageConfig config;
  config.rules_dir = dir;
  config.reload_interval = std::chrono::milliseconds(0);
  auto engine = edge::lua::RuleEngine::create(config);
  std::filesystem::remove_all(dir);
  if (!engine) {
    state.SkipWithError(engine.error().message.c_str());
    return;
  }
  const std::vector<Event>& events = corpus();
  std::vector<Event> batch;
  edge::lua::ProcessResult result;
  size_t offset = 0;
  uint64_t kept = 0;
  for (auto _ : state) {
    batch.assign(events.begin() + static_cast<std::ptrdiff_t>(offset),
                 events.begin() + static_cast<std::ptrdiff_t>(offset + kBatch));
    (*engine)->process(batch, {"agent-1", "acme"}, result);
    kept += batch.size();
    benchmark::DoNotOptimize(batch.data());
    offset = offset + 2 * kBatch <= events.size() ? offset + kBatch : 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["kept_fraction"] =
      static_cast<double>(kept) / static_cast<double>(state.iterations() * kBatch);
}

void BM_ReferenceRule(benchmark::State& state) { runRule(state, kReferenceRule); }
void BM_NoopRule(benchmark::State& state) { runRule(state, kNoopRule); }
void BM_PrefilterRejects(benchmark::State& state) { runRule(state, kRejectingRule); }

void BM_CopyBatch(benchmark::State& state) {
  const std::vector<Event>& events = corpus();
  std::vector<Event> batch;
  size_t offset = 0;
  for (auto _ : state) {
    batch.assign(events.begin() + static_cast<std::ptrdiff_t>(offset),
                 events.begin() + static_cast<std::ptrdiff_t>(offset + kBatch));
    benchmark::DoNotOptimize(batch.data());
    offset = offset + 2 * kBatch <= events.size() ? offset + kBatch : 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}

BENCHMARK(BM_ReferenceRule)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_NoopRule)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PrefilterRejects)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CopyBatch)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
