// edge-agent: command line, configuration loading and logging setup; the
// work happens in edge::agent::Agent.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "edge/agent/agent.h"
#include "edge/agent/agent_config.h"
#include "edge/common/log.h"

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "edge-agent: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace edge::agent;

  CLI::App app{
      "edge-agent: tails local logs, spools them durably and ships them to an edge gateway"};
  std::string config_file;
  std::string data_dir;
  std::vector<std::string> tails;
  std::string log_level;
  std::string log_format;
  bool check_config = false;
  bool print_default = false;
  app.add_option("--config,-c", config_file,
                 "YAML configuration file (default: the embedded configuration)")
      ->check(CLI::ExistingFile);
  app.add_option("--data-dir", data_dir, "Overrides agent.data_dir");
  app.add_option("--tail", tails, "Also tail this file (or glob) from the beginning; repeatable")
      ->allow_extra_args(false);
  app.add_option("--log-level", log_level, "Overrides log.level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", log_format, "Overrides log.format")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_flag("--check-config", check_config,
               "Validate the configuration, print \"config OK\" or the errors, exit");
  app.add_flag("--print-default-config", print_default,
               "Print the embedded default configuration and exit");
  app.set_version_flag("--version", std::string("edge-agent ") + agentVersion());
  CLI11_PARSE(app, argc, argv);

  if (print_default) {
    std::fwrite(defaultAgentConfigYaml().data(), 1, defaultAgentConfigYaml().size(), stdout);
    return 0;
  }

  auto loaded = config_file.empty()
                    ? parseAgentConfig(defaultAgentConfigYaml(), std::string(kEmbeddedConfigName))
                    : loadAgentConfigFile(config_file);
  if (check_config) {
    if (!loaded) {
      std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
      return 1;
    }
    std::printf("config OK\n");
    return 0;
  }
  if (!loaded) return fail("invalid configuration:\n" + loaded.error().message);
  AgentConfig config = std::move(*loaded);

  if (!data_dir.empty()) config.data_dir = data_dir;
  for (const std::string& path : tails) {
    std::error_code ec;
    // Positions are keyed by path, so a relative --tail must not depend on
    // the directory the agent happens to start in.
    std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    addTailInput(config, ec ? path : absolute.string());
  }
  if (!log_level.empty()) config.log_level = log_level;
  if (!log_format.empty())
    config.log_format = log_format == "json" ? edge::LogFormat::kJson : edge::LogFormat::kText;

  edge::LogOptions log_options;
  log_options.level = config.log_level;
  log_options.format = config.log_format;
  log_options.component = "agent";
  if (auto st = edge::setupLogging(log_options); !st) return fail(st.error().message);

  // A gateway closing its end must not kill the agent in the middle of a write.
  ::signal(SIGPIPE, SIG_IGN);

  auto agent = Agent::create(std::move(config));
  if (!agent) {
    spdlog::critical("{}", agent.error().message);
    return 1;
  }
  if (auto ran = (*agent)->run(); !ran) {
    spdlog::critical("{}", ran.error().message);
    return 1;
  }
  return 0;
}
