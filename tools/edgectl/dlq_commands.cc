// edgectl dlq list / replay (see dlq_commands.h).
#include "dlq_commands.h"

#include <cstdio>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "edge/common/event_json.h"
#include "edge/common/log.h"
#include "edge/common/metrics.h"
#include "edge/gateway/config.h"
#include "edge/gateway/dead_letter_queue.h"
#include "edge/gateway/sink_catalog.h"

namespace edge::ctl {

struct DlqCommands::Options {
  CLI::App* list = nullptr;
  CLI::App* replay = nullptr;
  std::string config_path;
  std::string dlq_path;
  std::string sink;
  std::string to;
  int64_t after = 0;
  size_t limit = 1000;
  bool dry_run = false;
};

namespace {

using gateway::DeadLetter;
using gateway::DeadLetterQueue;
using gateway::DeadLetterQueuePtr;

Result<gateway::GatewayConfig> loadConfig(const std::string& path) {
  auto config = gateway::loadGatewayConfigFile(path);
  if (!config) return config.error();
  gateway::resolveDefaults(*config);
  return config;
}

Result<DeadLetterQueuePtr> openDlq(const DlqCommands::Options& options,
                                   const gateway::GatewayConfig* config) {
  gateway::DeadLetterOptions dlq;
  if (config != nullptr) dlq = config->dlq;
  if (!options.dlq_path.empty()) dlq.path = options.dlq_path;
  return DeadLetterQueue::open(dlq);
}

int fail(const std::string& message) {
  std::fprintf(stderr, "edgectl dlq: %s\n", message.c_str());
  return 1;
}

int runList(const DlqCommands::Options& options) {
  std::optional<gateway::GatewayConfig> config;
  if (!options.config_path.empty()) {
    auto loaded = loadConfig(options.config_path);
    if (!loaded) return fail(loaded.error().message);
    config = std::move(*loaded);
  } else if (options.dlq_path.empty()) {
    return fail("say which dead-letter queue: --config GATEWAY.yaml or --dlq FILE");
  }
  auto dlq = openDlq(options, config ? &*config : nullptr);
  if (!dlq) return fail(dlq.error().message);
  auto letters = (*dlq)->list({options.sink, options.after, options.limit});
  if (!letters) return fail(letters.error().message);
  for (const DeadLetter& letter : *letters) {
    nlohmann::json line = {{"id", letter.id},
                           {"at", formatRfc3339Nanos(letter.at_ns)},
                           {"sink", letter.sink},
                           {"reason", letter.reason},
                           {"agent_id", letter.agent_id},
                           {"batch_id", letter.batch_id},
                           {"topic", letter.topic},
                           {"table", letter.table},
                           {"event", nlohmann::json::parse(eventToJson(letter.event))}};
    std::printf("%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  auto total = (*dlq)->count();
  std::fprintf(stderr, "%zu shown, %llu in %s\n", letters->size(),
               static_cast<unsigned long long>(total ? *total : 0), (*dlq)->path().c_str());
  return 0;
}

// Dead letters that can go back in one SinkBatch: same destination, same
// origin batch.
using GroupKey = std::tuple<std::string, std::string, uint64_t, std::string, std::string>;

struct ReplayGroup {
  gateway::SinkBatch batch;
  std::vector<int64_t> ids;
};

int runReplay(const DlqCommands::Options& options) {
  if (options.config_path.empty()) {
    return fail("replay needs --config GATEWAY.yaml: the sinks are built from it");
  }
  auto config = loadConfig(options.config_path);
  if (!config) return fail(config.error().message);
  auto dlq = openDlq(options, &*config);
  if (!dlq) return fail(dlq.error().message);
  auto letters = (*dlq)->list({options.sink, options.after, options.limit});
  if (!letters) return fail(letters.error().message);
  if (letters->empty()) {
    std::fprintf(stderr, "nothing to replay in %s\n", (*dlq)->path().c_str());
    return 0;
  }

  std::map<GroupKey, ReplayGroup> groups;
  for (DeadLetter& letter : *letters) {
    const std::string sink = options.to.empty() ? letter.sink : options.to;
    ReplayGroup& group =
        groups[{sink, letter.agent_id, letter.batch_id, letter.topic, letter.table}];
    group.batch.agent_id = letter.agent_id;
    group.batch.batch_id = letter.batch_id;
    group.batch.received_at_ns = nowNs();
    group.batch.topic = letter.topic;
    group.batch.table = letter.table;
    group.batch.events.push_back(std::move(letter.event));
    group.ids.push_back(letter.id);
  }

  MetricsRegistry metrics;
  auto sinks = gateway::createSinks(*config, metrics, *dlq);
  if (!sinks) return fail(sinks.error().message);
  // Only the sinks something goes back to are started.
  std::map<std::string, std::shared_ptr<gateway::Sink>> needed;
  for (const auto& [key, group] : groups) {
    const std::string& name = std::get<0>(key);
    auto it = sinks->find(name);
    if (it == sinks->end()) {
      return fail("sink '" + name + "' is not enabled in " + options.config_path +
                  "; enable it there or choose another with --to");
    }
    needed.emplace(name, it->second);
  }
  if (options.dry_run) {
    for (const auto& [key, group] : groups) {
      std::printf("would replay %zu event(s) of agent %s batch %llu to %s\n",
                  group.batch.events.size(), group.batch.agent_id.c_str(),
                  static_cast<unsigned long long>(group.batch.batch_id),
                  std::get<0>(key).c_str());
    }
    return 0;
  }
  for (auto& [name, sink] : needed) {
    if (auto started = sink->start(); !started) return fail(name + ": " + started.error().message);
  }

  struct Submitted {
    const ReplayGroup* group;
    std::string sink;
    std::future<gateway::SinkResult> result;
  };
  std::vector<Submitted> submitted;
  for (auto& [key, group] : groups) {
    auto promise = std::make_shared<std::promise<gateway::SinkResult>>();
    submitted.push_back({&group, std::get<0>(key), promise->get_future()});
    auto batch = std::make_shared<const gateway::SinkBatch>(group.batch);
    needed[std::get<0>(key)]->submit(
        batch, [promise](gateway::SinkResult result) { promise->set_value(std::move(result)); });
  }

  uint64_t stored = 0, again = 0, failed = 0;
  std::vector<int64_t> done_ids;
  for (Submitted& one : submitted) {
    gateway::SinkResult result = one.result.get();
    if (result.status != gateway::SinkStatus::kOk) {
      failed += one.group->ids.size();
      std::fprintf(stderr, "%s refused agent %s batch %llu (%s): %s; left in the queue\n",
                   one.sink.c_str(), one.group->batch.agent_id.c_str(),
                   static_cast<unsigned long long>(one.group->batch.batch_id),
                   gateway::sinkStatusName(result.status), result.reason.c_str());
      continue;
    }
    stored += result.inserted + result.duplicates;
    again += result.dead_lettered;
    done_ids.insert(done_ids.end(), one.group->ids.begin(), one.group->ids.end());
  }
  for (auto& [name, sink] : needed) sink->stop();
  auto removed = (*dlq)->remove(done_ids);
  if (!removed) return fail(removed.error().message);
  std::printf(
      "replayed %zu event(s): %llu stored, %llu refused again (back in the queue with the new "
      "reason), %llu not taken (sink retry or error, still queued)\n",
      letters->size(), static_cast<unsigned long long>(stored),
      static_cast<unsigned long long>(again), static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace

DlqCommands::DlqCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  auto* dlq = app.add_subcommand("dlq", "Inspect and replay a gateway's dead-letter queue");
  dlq->require_subcommand(1);
  o.list = dlq->add_subcommand("list", "Print dead-lettered events as NDJSON (oldest first)");
  o.replay = dlq->add_subcommand(
      "replay", "Send dead-lettered events to their sink again; remove what it stores");
  for (CLI::App* command : {o.list, o.replay}) {
    command->add_option("--config", o.config_path, "The gateway's config file (dlq.path, sinks)")
        ->check(CLI::ExistingFile);
    command->add_option("--dlq", o.dlq_path, "The dead-letter queue file (default: dlq.path)");
    command->add_option("--sink", o.sink, "Only events this sink refused");
    command->add_option("--after", o.after, "Only entries with an id above this");
    command->add_option("--limit", o.limit, "At most this many entries")
        ->check(CLI::Range(1, 1'000'000));
  }
  o.replay->add_option("--to", o.to, "Send to this sink instead of the one that refused them");
  o.replay->add_flag("--dry-run", o.dry_run, "Say what would be replayed, change nothing");
}

DlqCommands::~DlqCommands() = default;

std::optional<int> DlqCommands::run() const {
  if (options_->list->parsed()) return runList(*options_);
  if (options_->replay->parsed()) {
    // Sinks log what they do (opening stores, errors): to stderr, plainly.
    (void)setupLogging(LogOptions{"warn", LogFormat::kText, "edgectl"});
    return runReplay(*options_);
  }
  return std::nullopt;
}

}  // namespace edge::ctl
