// Google Benchmark of the gateway's pipeline building blocks on the standard
// workload (/work/shared/bench/gen_events.py: sshd-like events), in batches
// of 1,000: match + route ns/event, single conditions, template rendering,
// and rate-limit ns/decision.
//
//   ninja -C build/<dir> bench_pipeline && build/<dir>/tools/bench/bench_pipeline
//   EDGE_BENCH_EVENTS=events.jsonl     use this file instead of generating one
//   EDGE_BENCH_GEN=path/gen_events.py  the generator (default: the shared one)
//   EDGE_BENCH_LINES=20000             how many lines to generate
//
// Every benchmark reports items_per_second with one item = one event, so
// ns/event = 1e9 / items_per_second.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edge/gateway/pipeline/pipeline_config.h"
#include "edge/gateway/pipeline/rate_limiter.h"
#include "edge/gateway/pipeline/router.h"
#include "edge/gateway/pipeline/template.h"

namespace {

using edge::Event;
using namespace edge::gateway::pipeline;

constexpr size_t kBatch = 1000;

std::string envOr(const char* name, const char* def) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : def;
}

std::vector<std::string> readLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

// Events as the gateway holds them after decode: typed fields from the JSON
// line, the line itself as raw, a tenant stamped (two tenants).
const std::vector<Event>& corpus() {
  static const std::vector<Event> kEvents = [] {
    std::string path = envOr("EDGE_BENCH_EVENTS", "");
    bool generated = false;
    if (path.empty()) {
      path = "/tmp/edge-bench-pipeline-" + std::to_string(::getpid()) + ".jsonl";
      std::string cmd = "python3 '" + envOr("EDGE_BENCH_GEN", "/work/shared/bench/gen_events.py") +
                        "' " + envOr("EDGE_BENCH_LINES", "20000") + " '" + path + "'";
      if (std::system(cmd.c_str()) != 0) {
        std::cerr << "bench_pipeline: `" << cmd
                  << "` failed; set EDGE_BENCH_EVENTS to a JSON-lines file\n";
        std::exit(2);
      }
      generated = true;
    }
    std::vector<Event> events;
    size_t n = 0;
    for (const std::string& line : readLines(path)) {
      auto j = nlohmann::json::parse(line);
      Event e;
      e.ts_ns = 1'773'446'400'000'000'000 + static_cast<int64_t>(n) * 1000;
      e.seq = ++n;
      e.kind = "log";
      e.source = "/var/log/auth.log";
      e.host = j.value("host", "");
      e.severity = edge::parseSeverity(j.value("level", "info")).value_or(edge::Severity::kInfo);
      e.tenant = n % 2 ? "acme" : "globex";
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
      std::cerr << "bench_pipeline: need at least " << kBatch << " events\n";
      std::exit(2);
    }
    return events;
  }();
  return kEvents;
}

constexpr std::string_view kRoutes = R"(pipeline:
  routes:
    - name: alerts
      match:
        any:
          - {field: fields.msg, contains: "Failed password"}
          - {field: fields.msg, contains: "Invalid user"}
      sinks: [kafka]
      topic: "edge.{tenant}.alerts"
      continue: true
    - name: logins
      match: {field: fields.event, equals: auth_success}
      sinks: [postgres]
      table: "logins_{tenant}"
    - name: warnings
      match:
        all:
          - {field: severity, le: warning}
          - {field: fields.src_port, gt: 1024}
      sinks: [kafka]
      topic: "edge.{tenant}.{fields.app}"
    - name: bastion
      match: {field: host, regex: '^bastion-\d+$'}
      sinks: [file]
    - name: privileged
      match: {field: fields.user, in: [root, admin, postgres, oracle]}
      sinks: [kafka]
      topic: priv
  default_route: {sinks: [sqlite], table: "events_{tenant}"}
)";

// Route one 1,000-event batch per iteration. Arg: how many different
// batches to cycle through: 1 keeps the batch in cache, as right after its
// decode in the gateway; 20 (20,000 events) reads from memory each time.
void BM_MatchAndRoute(benchmark::State& state) {
  auto loaded = parsePipelineConfig(kRoutes, "bench.yaml");
  if (!loaded) {
    state.SkipWithError(loaded.error().message.c_str());
    return;
  }
  auto router = Router::create(loaded->config.routing);
  if (!router) {
    state.SkipWithError(router.error().message.c_str());
    return;
  }
  const auto& events = corpus();
  const size_t batches = std::min(events.size() / kBatch, static_cast<size_t>(state.range(0)));
  RoutedBatch routed;
  size_t b = 0;
  uint64_t unmatched = 0;
  for (auto _ : state) {
    std::span<const Event> batch(events.data() + b * kBatch, kBatch);
    if (++b == batches) b = 0;
    (*router)->route(batch, EventContext{"agent-1"}, routed);
    unmatched += routed.unmatched;
    benchmark::DoNotOptimize(routed);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["unmatched_share"] =
      static_cast<double>(unmatched) / static_cast<double>(state.iterations() * kBatch);
}

void runCondition(benchmark::State& state, std::string_view yaml) {
  auto doc = edge::ConfigDocument::parse(yaml, "bench.yaml");
  auto spec = readCondition((*doc)->root()["match"]);
  if (!spec || !(*doc)->finish().ok()) {
    state.SkipWithError("bad condition");
    return;
  }
  auto condition = Condition::compile(*spec);
  const auto& events = corpus();
  size_t i = 0;
  uint64_t matched = 0;
  for (auto _ : state) {
    matched += condition->matches(events[i], {}) ? 1 : 0;
    if (++i == events.size()) i = 0;
  }
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_ConditionEquals(benchmark::State& state) {
  runCondition(state, "match: {field: fields.event, equals: auth_success}\n");
}
void BM_ConditionContains(benchmark::State& state) {
  runCondition(state, "match: {field: fields.msg, contains: 'Failed password'}\n");
}
void BM_ConditionRegex(benchmark::State& state) {
  runCondition(state, R"(match: {field: raw, regex: 'from \d+\.\d+\.\d+\.\d+ port'})"
                      "\n");
}
void BM_ConditionNumeric(benchmark::State& state) {
  runCondition(state, "match: {field: fields.src_port, gt: 30000}\n");
}

void BM_TemplateRender(benchmark::State& state) {
  auto t = Template::compile("edge.{tenant}.{fields.app}.{host}", TemplateMode::kTopic);
  const auto& events = corpus();
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    t->render(events[i], {}, out);
    benchmark::DoNotOptimize(out.data());
    if (++i == events.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// decideBatch on 1,000 events per iteration, keyed by {tenant}/{host}
// (about 20 keys), the clock advancing 1 ms per batch.
void BM_LimiterDecideBatch(benchmark::State& state) {
  int64_t now = 1'000'000'000;
  RateLimitConfig config;
  config.name = "bench";
  config.key = "{tenant}/{host}";
  config.rate_per_second = 20'000;
  config.burst = 1000;
  config.action = static_cast<RateLimitAction>(state.range(0));
  auto limiter = RateLimiter::create(config, [&] { return now; });
  const auto& events = corpus();
  const size_t batches = events.size() / kBatch;
  std::vector<RateDecision> decisions(kBatch);
  size_t b = 0;
  uint64_t kept = 0;
  for (auto _ : state) {
    now += 1'000'000;
    std::span<const Event> batch(events.data() + b * kBatch, kBatch);
    if (++b == batches) b = 0;
    kept += (*limiter)->decideBatch(batch, EventContext{"agent-1"}, decisions).kept();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["kept_share"] =
      static_cast<double>(kept) / static_cast<double>(state.iterations() * kBatch);
  state.SetLabel(rateLimitActionName(config.action));
}

// One decide() per event through the clock function, keyed by the agent.
void BM_LimiterDecideOne(benchmark::State& state) {
  int64_t now = 1'000'000'000;
  RateLimitConfig config;
  config.name = "bench";
  config.rate_per_second = 1e6;
  config.action = RateLimitAction::kThrottle;
  auto limiter = RateLimiter::create(config, [&] { return now += 1000; });
  const auto& events = corpus();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize((*limiter)->decide(events[i], EventContext{"agent-1"}));
    if (++i == events.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// Worst case for memory: a key per source IP (about one new key per event),
// capped at 10,000 keys, so most decisions insert and evict.
void BM_LimiterKeyChurn(benchmark::State& state) {
  int64_t now = 1'000'000'000;
  RateLimitConfig config;
  config.name = "bench";
  config.key = "{fields.src_ip}";
  config.rate_per_second = 10;
  config.max_keys = 10'000;
  config.action = RateLimitAction::kDrop;
  auto limiter = RateLimiter::create(config, [&] { return now; });
  const auto& events = corpus();
  const size_t batches = events.size() / kBatch;
  std::vector<RateDecision> decisions(kBatch);
  size_t b = 0;
  for (auto _ : state) {
    now += 1'000'000;
    std::span<const Event> batch(events.data() + b * kBatch, kBatch);
    if (++b == batches) b = 0;
    benchmark::DoNotOptimize((*limiter)->decideBatch(batch, {}, decisions));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["keys"] = static_cast<double>((*limiter)->trackedKeys());
}

BENCHMARK(BM_MatchAndRoute)->Arg(1)->Arg(20);
BENCHMARK(BM_ConditionEquals);
BENCHMARK(BM_ConditionContains);
BENCHMARK(BM_ConditionRegex);
BENCHMARK(BM_ConditionNumeric);
BENCHMARK(BM_TemplateRender);
BENCHMARK(BM_LimiterDecideBatch)
    ->Arg(static_cast<int>(RateLimitAction::kDrop))
    ->Arg(static_cast<int>(RateLimitAction::kSample))
    ->Arg(static_cast<int>(RateLimitAction::kThrottle));
BENCHMARK(BM_LimiterDecideOne);
BENCHMARK(BM_LimiterKeyChurn);

}  // namespace

BENCHMARK_MAIN();
