// Google Benchmark of the agent's per-input parsers: ns per line for json,
// logfmt, regex and syslog on sshd-like events from
// /work/shared/bench/gen_events.py (250-byte JSON lines; the logfmt and
// syslog-text forms are derived from the same events).
//
//   ninja -C build/<dir> bench_parsers && build/<dir>/tools/bench/bench_parsers
//   EDGE_BENCH_EVENTS=events.jsonl   use this file instead of generating one
//   EDGE_BENCH_GEN=path/gen_events.py  the generator (default: the shared one)
//   EDGE_BENCH_LINES=20000           how many lines to generate
//
// Each iteration does what an input does per line: copy the line into an
// Event, then parse it; the Time column is ns per line. BM_NoParser measures
// that copy alone.
//
// BM_Syslog reads the RFC 3164 timestamps (no zone) as local time, as the
// agent does by default: run it with TZ unset, as the agent usually runs, to
// see the zone conversion's cost; BM_SyslogUtc (timezone: utc) has none.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edge/agent/parser.h"
#include "parsers/json_parser.h"
#include "parsers/syslog_parser.h"

namespace {

using edge::Event;
using edge::agent::makeParser;
using edge::agent::Parser;
using edge::agent::ParserConfig;
using edge::agent::ParserType;

struct Corpus {
  std::vector<std::string> json;
  std::vector<std::string> logfmt;
  std::vector<std::string> syslog;  // "<38>Mar 14 00:00:00 web-07 sshd[28540]: Failed ..."
};

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

std::vector<std::string> generate() {
  std::string path = envOr("EDGE_BENCH_EVENTS", "");
  if (path.empty()) {
    path = "/tmp/edge-bench-parsers-" + std::to_string(::getpid()) + ".jsonl";
    std::string cmd = "python3 '" + envOr("EDGE_BENCH_GEN", "/work/shared/bench/gen_events.py") +
                      "' " + envOr("EDGE_BENCH_LINES", "20000") + " '" + path + "'";
    if (std::system(cmd.c_str()) != 0) {
      std::cerr << "bench_parsers: `" << cmd
                << "` failed; set EDGE_BENCH_EVENTS to a JSON-lines file or EDGE_BENCH_GEN to "
                   "gen_events.py\n";
      std::exit(2);
    }
    auto lines = readLines(path);
    std::remove(path.c_str());
    return lines;
  }
  return readLines(path);
}

bool needsQuotes(const std::string& v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\') return true;
  }
  return false;
}

const Corpus& corpus() {
  static const Corpus kCorpus = [] {
    Corpus c;
    c.json = generate();
    static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (const std::string& line : c.json) {
      auto j = nlohmann::json::parse(line);
      std::string lf;
      for (auto& [key, value] : j.items()) {
        if (!lf.empty()) lf += ' ';
        lf += key;
        lf += '=';
        std::string text = value.is_string() ? value.get<std::string>() : value.dump();
        lf += needsQuotes(text) ? nlohmann::json(text).dump() : text;
      }
      c.logfmt.push_back(std::move(lf));
      // 2026-03-14T00:00:00.000533Z -> "Mar 14 00:00:00"
      std::string ts = j.value("ts", "2026-03-14T00:00:00Z");
      int month = std::atoi(ts.substr(5, 2).c_str());
      std::string bsd =
          std::string(kMonths[(month + 11) % 12]) + " " + ts.substr(8, 2) + " " + ts.substr(11, 8);
      int severity = j.value("level", "info") == "warn" ? 4 : 6;
      c.syslog.push_back("<" + std::to_string(32 + severity) + ">" + bsd + " " +
                         j.value("host", "h") + " " + j.value("app", "a") + "[" +
                         std::to_string(j.value("pid", 0)) + "]: " + j.value("msg", ""));
    }
    size_t bytes = 0;
    for (const auto& l : c.json) bytes += l.size();
    std::cerr << "bench_parsers: " << c.json.size() << " lines, "
              << (c.json.empty() ? 0 : bytes / c.json.size()) << " bytes/line (json); e.g.\n  "
              << c.json.front() << "\n  " << c.logfmt.front() << "\n  " << c.syslog.front() << "\n";
    return c;
  }();
  return kCorpus;
}

void runParser(benchmark::State& state, const std::vector<std::string>& lines,
               const ParserConfig& config) {
  std::unique_ptr<Parser> parser;
  if (config.type != ParserType::kNone) {
    auto made = makeParser(config);
    if (!made.ok()) {
      state.SkipWithError(made.error().message.c_str());
      return;
    }
    parser = std::move(made.value());
  }
  size_t i = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string& line = lines[i];
    if (++i == lines.size()) i = 0;
    Event event;
    event.raw = line;
    event.fields.push_back(edge::Field{"path", std::string("/var/log/app.log")});
    if (parser) benchmark::DoNotOptimize(parser->parse(event));
    benchmark::DoNotOptimize(event);
    bytes += line.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  if (parser) {
    auto stats = parser->stats();
    state.counters["parse_errors"] = static_cast<double>(stats.parse_errors);
  }
}

// runParser's loop for a parse step that is not a Parser from makeParser.
template <typename Parse>
void runEach(benchmark::State& state, const std::vector<std::string>& lines, Parse&& parse) {
  size_t i = 0;
  for (auto _ : state) {
    Event event;
    event.raw = lines[i];
    if (++i == lines.size()) i = 0;
    event.fields.push_back(edge::Field{"path", std::string("/var/log/app.log")});
    benchmark::DoNotOptimize(parse(event));
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The JSON parser without its flat-object fast path: nlohmann-json's SAX
// parser for every line (what the fast path saves).
void BM_JsonNlohmannOnly(benchmark::State& state) {
  edge::agent::JsonParser parser(edge::agent::ParserOptions{}, false);
  runEach(state, corpus().json, [&](Event& event) { return parser.parse(event); });
}

ParserConfig config(ParserType type) {
  ParserConfig c;
  c.type = type;
  return c;
}

void BM_NoParser(benchmark::State& state) {
  runParser(state, corpus().json, config(ParserType::kNone));
}

void BM_Json(benchmark::State& state) {
  runParser(state, corpus().json, config(ParserType::kJson));
}

void BM_JsonTimeTypes(benchmark::State& state) {
  ParserConfig c = config(ParserType::kJson);
  c.time_key = "ts";
  c.types = {{"pid", "string"}, {"src_port", "int"}};
  runParser(state, corpus().json, c);
}

void BM_Logfmt(benchmark::State& state) {
  runParser(state, corpus().logfmt, config(ParserType::kLogfmt));
}

void BM_LogfmtTimeTypes(benchmark::State& state) {
  ParserConfig c = config(ParserType::kLogfmt);
  c.time_key = "ts";
  c.types = {{"pid", "int"}, {"src_port", "int"}};
  runParser(state, corpus().logfmt, c);
}

void BM_Regex(benchmark::State& state) {
  ParserConfig c = config(ParserType::kRegex);
  c.pattern = R"(^<(?<pri>\d+)>(?<time>\w{3} [ \d]\d \d\d:\d\d:\d\d) (?<host>\S+) )"
              R"((?<app>[^\[:\s]+)(?:\[(?<pid>\d+)\])?: (?<msg>.*)$)";
  c.types = {{"pid", "int"}};
  runParser(state, corpus().syslog, c);
}

void BM_RegexMessage(benchmark::State& state) {
  // An unanchored search that fails on half the lines (the other event kinds).
  ParserConfig c = config(ParserType::kRegex);
  c.pattern = R"((?:Failed password|Accepted \w+) for (?:invalid user )?(?<user>\S+) from )"
              R"((?<ip>[\d.]+) port (?<port>\d+))";
  runParser(state, corpus().json, c);
}

void BM_Syslog(benchmark::State& state) {
  runParser(state, corpus().syslog, config(ParserType::kSyslog));
}

// The syslog parser with timezone: utc, as the syslog input calls it: no
// local time conversion at all.
void BM_SyslogUtc(benchmark::State& state) {
  edge::agent::SyslogParseOptions options;
  options.utc = true;
  runEach(state, corpus().syslog,
          [&](Event& event) { return edge::agent::parseSyslogRecord(event.raw, event, options); });
}

BENCHMARK(BM_NoParser);
BENCHMARK(BM_Json);
BENCHMARK(BM_JsonNlohmannOnly);
BENCHMARK(BM_JsonTimeTypes);
BENCHMARK(BM_Logfmt);
BENCHMARK(BM_LogfmtTimeTypes);
BENCHMARK(BM_Regex);
BENCHMARK(BM_RegexMessage);
BENCHMARK(BM_Syslog);
BENCHMARK(BM_SyslogUtc);

}  // namespace

BENCHMARK_MAIN();
