// edgectl rules test / lint (see rules_commands.h and docs/lua.md).
#include "rules_commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edge/common/event_json.h"
#include "edge/common/log.h"
#include "edge/lua/engine.h"

namespace edge::ctl {

struct RulesCommands::Options {
  CLI::App* test = nullptr;
  CLI::App* lint = nullptr;
  std::string rules_dir;
  std::string events_path;
  std::string expect_path;
  std::string fail = "open";
  std::string agent_id = "edgectl";
  std::vector<std::string> allow;
  uint64_t budget = 200000;
  uint64_t memory_mb = 64;
  size_t batch_size = 512;
  bool alerts_only = false;
  bool stats = false;
};

namespace {

struct Expectation {
  int line = 0;
  std::string text;  // the line as written, for messages
  std::string rule;  // "" = every rule / the whole output
  std::string what;  // alerts, min_alerts, max_alerts, errors, dropped, events
  uint64_t value = 0;
  std::map<std::string, std::string> where;  // alert field (or host/raw/severity) -> text
};

std::string valueText(const FieldValue& value) {
  switch (value.index()) {
    case 0:
      return std::get<std::string>(value);
    case 1:
      return std::to_string(std::get<int64_t>(value));
    case 2: {
      nlohmann::json j = std::get<double>(value);
      return j.dump();
    }
    default:
      return std::get<bool>(value) ? "true" : "false";
  }
}

std::string jsonText(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

Result<std::vector<Expectation>> readExpectations(const std::string& path) {
  std::ifstream in(path);
  if (!in) return makeError(ErrorCode::kIo, path + ": cannot read the expectations file");
  std::vector<Expectation> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      return makeError(ErrorCode::kInvalidArgument, where + "not valid JSON: " + e.what());
    }
    if (!j.is_object()) return makeError(ErrorCode::kInvalidArgument, where + "expected an object");
    Expectation expectation;
    expectation.line = number;
    expectation.text = line.substr(first);
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      if (key == "rule") {
        if (!it->is_string()) return makeError(ErrorCode::kInvalidArgument, where + "rule: expected a string");
        expectation.rule = it->get<std::string>();
      } else if (key == "alerts" || key == "min_alerts" || key == "max_alerts" ||
                 key == "errors" || key == "dropped" || key == "events") {
        if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
          return makeError(ErrorCode::kInvalidArgument, where + key + ": expected a count (0 or more)");
        }
        if (!expectation.what.empty()) {
          return makeError(ErrorCode::kInvalidArgument,
                           where + "one count per line (" + expectation.what + " and " + key + ")");
        }
        expectation.what = key;
        expectation.value = it->get<uint64_t>();
      } else if (key == "where") {
        if (!it->is_object()) {
          return makeError(ErrorCode::kInvalidArgument, where + "where: expected an object of field: value");
        }
        for (auto w = it->begin(); w != it->end(); ++w) expectation.where[w.key()] = jsonText(*w);
      } else {
        return makeError(ErrorCode::kInvalidArgument,
                         where + "unknown key \"" + key +
                             "\" (rule, alerts, min_alerts, max_alerts, errors, dropped, events, where)");
      }
    }
    if (expectation.what.empty()) {
      return makeError(ErrorCode::kInvalidArgument,
                       where + "needs one of alerts, min_alerts, max_alerts, errors, dropped, events");
    }
    if (expectation.what == "events" && !expectation.rule.empty()) {
      return makeError(ErrorCode::kInvalidArgument, where + "events counts the whole output; drop rule");
    }
    if ((expectation.what == "errors" || expectation.what == "dropped") && expectation.rule.empty()) {
      return makeError(ErrorCode::kInvalidArgument, where + expectation.what + " needs a rule");
    }
    if (!expectation.where.empty() && expectation.what.find("alerts") == std::string::npos) {
      return makeError(ErrorCode::kInvalidArgument, where + "where applies to alert counts only");
    }
    out.push_back(std::move(expectation));
  }
  return out;
}

bool alertMatches(const Event& alert, const Expectation& expectation) {
  if (!expectation.rule.empty()) {
    const FieldValue* rule = alert.findField("rule");
    if (rule == nullptr || valueText(*rule) != expectation.rule) return false;
  }
  for (const auto& [key, wanted] : expectation.where) {
    std::string actual;
    if (key == "host") {
      actual = alert.host;
    } else if (key == "raw" || key == "title_raw") {
      actual = alert.raw;
    } else if (key == "severity") {
      actual = severityName(alert.severity);
    } else if (const FieldValue* value = alert.findField(key)) {
      actual = valueText(*value);
    } else {
      return false;
    }
    if (actual != wanted) return false;
  }
  return true;
}

lua::LuaStageConfig stageConfig(const RulesCommands::Options& o, std::string& error) {
  lua::LuaStageConfig config;
  config.rules_dir = o.rules_dir;
  config.name = "edgectl";
  config.fail = o.fail == "closed" ? lua::FailMode::kClosed : lua::FailMode::kOpen;
  config.budget_instructions = o.budget;
  config.memory_bytes = o.memory_mb << 20;
  config.reload_interval = std::chrono::milliseconds(0);
  for (const std::string& what : o.allow) {
    if (what == "load") {
      config.allow_load = true;
    } else if (what == "os") {
      config.allow_os = true;
    } else if (what == "io") {
      config.allow_io = true;
    } else {
      error = "--allow: expected load, os or io, got " + what;
    }
  }
  return config;
}

int runTest(const RulesCommands::Options& o) {
  std::string config_error;
  const lua::LuaStageConfig config = stageConfig(o, config_error);
  if (!config_error.empty()) {
    std::fprintf(stderr, "edgectl rules test: %s\n", config_error.c_str());
    return 2;
  }
  std::vector<Expectation> expectations;
  if (!o.expect_path.empty()) {
    auto read = readExpectations(o.expect_path);
    if (!read) {
      std::fprintf(stderr, "edgectl rules test: %s\n", read.error().message.c_str());
      return 2;
    }
    expectations = std::move(*read);
  }
  MetricsRegistry metrics;
  lua::EngineOptions options;
  options.metrics = &metrics;
  options.metric_prefix = "edgectl_lua";
  auto engine = lua::RuleEngine::create(config, options);
  if (!engine) {
    std::fprintf(stderr, "edgectl rules test: rules in %s do not compile:\n%s\n", o.rules_dir.c_str(),
                 engine.error().message.c_str());
    return 2;
  }
  std::vector<std::string> names;
  for (const lua::RuleInfo& info : (*engine)->rules()) names.push_back(info.name);
  for (const Expectation& e : expectations) {
    if (!e.rule.empty() && std::find(names.begin(), names.end(), e.rule) == names.end()) {
      std::fprintf(stderr, "edgectl rules test: %s:%d: no rule named \"%s\" in %s\n",
                   o.expect_path.c_str(), e.line, e.rule.c_str(), o.rules_dir.c_str());
      return 2;
    }
  }

  std::istream* in = &std::cin;
  std::ifstream file;
  if (o.events_path != "-") {
    file.open(o.events_path, std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "edgectl rules test: cannot read %s\n", o.events_path.c_str());
      return 2;
    }
    in = &file;
  }

  // Alerts are kept for the expectations; everything is printed as it comes.
  std::vector<Event> alerts;
  uint64_t events_out = 0;
  uint64_t events_in = 0;
  std::vector<Event> batch;
  batch.reserve(o.batch_size);
  lua::ProcessResult result;
  std::string out_line;
  auto flush = [&]() {
    if (batch.empty()) return;
    (*engine)->process(batch, {o.agent_id, ""}, result);
    for (Event& event : batch) {
      const bool is_alert = event.kind == "alert" && event.source.rfind("lua:", 0) == 0;
      if (is_alert) {
        alerts.push_back(event);
      } else {
        ++events_out;
      }
      if (o.alerts_only && !is_alert) continue;
      out_line = eventToJson(event);
      out_line += '\n';
      std::fwrite(out_line.data(), 1, out_line.size(), stdout);
    }
    batch.clear();
  };
  std::string line;
  uint64_t line_number = 0;
  while (std::getline(*in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto event = eventFromJson(line);
    if (!event) {
      std::fprintf(stderr, "edgectl rules test: %s:%llu: %s\n", o.events_path.c_str(),
                   static_cast<unsigned long long>(line_number), event.error().message.c_str());
      return 2;
    }
    // Events without a sequence number get their line number, so alerts
    // point back at the line that triggered them.
    if (event->seq == 0) event->seq = line_number;
    batch.push_back(std::move(*event));
    ++events_in;
    if (batch.size() >= o.batch_size) flush();
  }
  flush();
  std::fflush(stdout);

  if (o.stats || !expectations.empty()) {
    std::fprintf(stderr, "%llu events in, %llu out, %zu alerts\n",
                 static_cast<unsigned long long>(events_in),
                 static_cast<unsigned long long>(events_out), alerts.size());
    std::fprintf(stderr, "%-32s %10s %10s %10s %8s %8s %12s\n", "rule", "events", "matched",
                 "dropped", "alerts", "errors", "ns/event");
    for (const std::string& name : names) {
      const lua::RuleStats s = (*engine)->stats(name);
      std::fprintf(stderr, "%-32s %10llu %10llu %10llu %8llu %8llu %12.0f\n", name.c_str(),
                   static_cast<unsigned long long>(s.events), static_cast<unsigned long long>(s.matched),
                   static_cast<unsigned long long>(s.dropped), static_cast<unsigned long long>(s.alerts),
                   static_cast<unsigned long long>(s.errors),
                   s.events ? static_cast<double>(s.run_ns) / static_cast<double>(s.events) : 0.0);
    }
  }

  int failures = 0;
  for (const Expectation& e : expectations) {
    uint64_t actual = 0;
    if (e.what == "events") {
      actual = events_out;
    } else if (e.what == "errors") {
      actual = (*engine)->stats(e.rule).errors;
    } else if (e.what == "dropped") {
      actual = (*engine)->stats(e.rule).dropped;
    } else {
      for (const Event& alert : alerts) actual += alertMatches(alert, e) ? 1 : 0;
    }
    const bool ok = e.what == "min_alerts"   ? actual >= e.value
                    : e.what == "max_alerts" ? actual <= e.value
                                             : actual == e.value;
    if (!ok) {
      ++failures;
      std::fprintf(stderr, "FAIL %s:%d: %s: got %llu\n", o.expect_path.c_str(), e.line, e.text.c_str(),
                   static_cast<unsigned long long>(actual));
    }
  }
  if (!expectations.empty()) {
    std::fprintf(stderr, "%zu expectation(s), %d failed\n", expectations.size(), failures);
  }
  return failures > 0 ? 1 : 0;
}

int runLint(const RulesCommands::Options& o) {
  std::string config_error;
  const lua::LuaStageConfig config = stageConfig(o, config_error);
  lua::EngineOptions options;
  options.log_errors = false;
  auto engine = lua::RuleEngine::create(config, options);
  if (!engine) {
    std::printf("%s\n", engine.error().message.c_str());
    return 1;
  }
  int warnings = 0;
  for (const lua::RuleInfo& info : (*engine)->rules()) {
    std::printf("ok   %s (%s): %s, severity %s, %s, prefilter: %s\n", info.name.c_str(),
                info.file.c_str(), info.batch ? "process_batch" : "process", info.severity.c_str(),
                info.attack.empty() ? "no ATT&CK ids" : ("ATT&CK " + [&] {
                  std::string ids;
                  for (const auto& id : info.attack) ids += (ids.empty() ? "" : ",") + id;
                  return ids;
                }()).c_str(),
                info.prefilter.c_str());
    auto warn = [&](const std::string& what) {
      std::printf("warn %s: %s: %s\n", info.file.c_str(), info.name.c_str(), what.c_str());
      ++warnings;
    };
    if (info.author.empty()) warn("no author");
    if (info.attack.empty()) warn("no ATT&CK ids (attack = {\"T1110\"})");
    if (info.references.empty()) warn("no references");
    if (info.prefilter.rfind("none", 0) == 0) {
      warn("no prefilter: every event runs Lua (add prefilter = {kind = ...} if it can)");
    }
  }
  std::printf("%zu rule(s) compiled, %d warning(s)\n", (*engine)->rules().size(), warnings);
  return 0;
}

}  // namespace

RulesCommands::RulesCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  auto* rules = app.add_subcommand("rules", "Test and check Lua detection rules (docs/lua.md)");
  rules->require_subcommand(1);
  o.test = rules->add_subcommand(
      "test", "Run rules over NDJSON events exactly as the gateway does; print events and alerts");
  o.test->add_option("--rules", o.rules_dir, "Directory of *.lua rule files")->required();
  o.test->add_option("--events", o.events_path, "NDJSON events (docs/lua.md), - for stdin")->required();
  o.test->add_option("--expect", o.expect_path,
                     "NDJSON expectations ({\"rule\": NAME, \"alerts\": N}, ...); exit 1 if one fails");
  o.test->add_flag("--alerts-only", o.alerts_only, "Print only the alerts");
  o.test->add_flag("--stats", o.stats, "Print per-rule counts to stderr");
  o.test->add_option("--batch-size", o.batch_size, "Events per batch (as agents send them)")
      ->check(CLI::Range(1, 1000000));
  o.test->add_option("--fail", o.fail, "What an erroring rule does to the event")
      ->check(CLI::IsMember({"open", "closed"}));
  o.test->add_option("--budget", o.budget, "budget_instructions")->check(CLI::Range(1000, 1000000000));
  o.test->add_option("--memory-mb", o.memory_mb, "memory_mb")->check(CLI::Range(4, 65536));
  o.test->add_option("--allow", o.allow, "Sandbox exceptions: load, os, io")->delimiter(',');
  o.test->add_option("--agent-id", o.agent_id, "Agent id the batches come from");
  o.lint = rules->add_subcommand("lint", "Compile every rule and check its metadata and prefilter");
  o.lint->add_option("--rules", o.rules_dir, "Directory of *.lua rule files")->required();
}

RulesCommands::~RulesCommands() = default;

std::optional<int> RulesCommands::run() const {
  const Options& o = *options_;
  if (!o.test->parsed() && !o.lint->parsed()) return std::nullopt;
  LogOptions log;
  log.level = "warn";
  log.component = "edgectl";
  (void)setupLogging(log);
  return o.test->parsed() ? runTest(o) : runLint(o);
}

}  // namespace edge::ctl
