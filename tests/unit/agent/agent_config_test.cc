// Tests of the agent configuration: the embedded default, defaults for
// omitted keys, validation errors that name file, line and key, and --tail.
#include "edge/agent/agent_config.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "inputs/in_file/file_input.h"

namespace edge::agent {
namespace {

Result<AgentConfig> parse(const std::string& yaml) { return parseAgentConfig(yaml, "agent.yaml"); }

const FileInputConfig& fileConfig(const AgentConfig& config, size_t i) {
  return dynamic_cast<const FileInputSpec&>(*config.inputs.at(i)).config();
}

TEST(AgentConfigTest, EmbeddedDefaultIsValid) {
  auto config = parseAgentConfig(defaultAgentConfigYaml(), std::string(kEmbeddedConfigName));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->data_dir, "/var/lib/edge-agent");
  EXPECT_EQ(config->spoolPath(), "/var/lib/edge-agent/spool.db");
  ASSERT_EQ(config->inputs.size(), 1u);
  const FileInputConfig& input = fileConfig(*config, 0);
  EXPECT_EQ(input.name, "host-logs");
  EXPECT_EQ(config->inputs[0]->common().when_full, WhenFull::kBlock);
  EXPECT_EQ(input.paths, (std::vector<std::string>{"/var/log/*.log", "/var/log/syslog",
                                                   "/var/log/messages", "/var/log/auth.log"}));
  EXPECT_EQ(input.start_at, StartAt::kBeginning);
  EXPECT_EQ(config->output.gateways, (std::vector<std::string>{"127.0.0.1:7400"}));
  EXPECT_TRUE(config->admin_listen.empty());
  EXPECT_TRUE(config->id.empty());
}

TEST(AgentConfigTest, OmittedKeysTakeTheirDefaults) {
  auto config = parse("inputs:\n  - type: file\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->log_format, LogFormat::kText);
  EXPECT_FALSE(config->spool.synchronous_full);
  EXPECT_EQ(config->spool.max_bytes, 1ull << 30);
  EXPECT_EQ(config->spool.batch_max_events, 500u);
  EXPECT_EQ(config->spool.batch_max_bytes, 1u << 20);
  EXPECT_EQ(config->spool.flush_interval, std::chrono::milliseconds(200));
  ASSERT_EQ(config->inputs.size(), 1u);
  EXPECT_EQ(config->inputs[0]->name(), "file-0");
  EXPECT_EQ(config->inputs[0]->type(), "file");
  EXPECT_EQ(config->inputs[0]->common().kind, "log");
  EXPECT_EQ(config->inputs[0]->common().when_full, WhenFull::kBlock);
  EXPECT_EQ(config->inputs[0]->common().parser.type, ParserType::kNone);
  const FileInputConfig& file = fileConfig(*config, 0);
  EXPECT_EQ(file.name, "file-0");
  EXPECT_EQ(file.paths, std::vector<std::string>{"/var/log/*.log"});
  EXPECT_EQ(file.kind, "log");
  EXPECT_EQ(file.max_line_bytes, 64u * 1024);
  EXPECT_EQ(file.poll_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(file.partial_line_timeout, std::chrono::seconds(5));
  EXPECT_EQ(file.rotate_wait, std::chrono::seconds(5));
  EXPECT_TRUE(file.multiline.start_pattern.empty());
  EXPECT_EQ(config->output.compression_level, 1);
  EXPECT_EQ(config->output.max_in_flight_batches, 8u);
  EXPECT_EQ(config->output.reconnect_min, std::chrono::milliseconds(200));
  EXPECT_EQ(config->output.reconnect_max, std::chrono::seconds(30));
  EXPECT_EQ(config->output.heartbeat_interval, std::chrono::seconds(10));
  EXPECT_EQ(config->output.connection_ttl, std::chrono::milliseconds(0));
  EXPECT_EQ(config->output.ack_timeout_warning, std::chrono::seconds(60));
  EXPECT_EQ(config->output.drain_timeout, std::chrono::seconds(5));
}

TEST(AgentConfigTest, ReadsEverySection) {
  auto config = parse(R"(
agent: {id: edge-7, hostname: box, data_dir: /tmp/edge/}
log: {level: debug, format: json}
admin: {listen: "127.0.0.1:7402"}
spool: {path: /tmp/s.db, synchronous: full, max_bytes: 10MiB, batch_max_events: 50, batch_max_bytes: 64KiB, flush_interval: 1s}
inputs:
  - {type: file, name: app, paths: [/a/*.log], start_at: end, kind: app, max_line_bytes: 1KiB, poll_interval: 50ms,
     when_full: drop_oldest, partial_line_timeout: 0, rotate_wait: 1s,
     multiline: {start_pattern: '^\S', max_lines: 20, max_bytes: 8KiB, timeout: 300ms}}
output: {gateways: ["gw1:7400", "[::1]:7401"], compression_level: 0, max_in_flight_batches: 2, reconnect_min: 1s, reconnect_max: 5s, heartbeat_interval: 2s,
         connection_ttl: 10m, ack_timeout_warning: 30s, drain_timeout: 2s}
)");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->id, "edge-7");
  EXPECT_EQ(config->hostname, "box");
  EXPECT_EQ(config->log_format, LogFormat::kJson);
  EXPECT_EQ(config->admin_listen, "127.0.0.1:7402");
  EXPECT_EQ(config->spoolPath(), "/tmp/s.db");
  EXPECT_TRUE(config->spool.synchronous_full);
  EXPECT_EQ(config->spool.max_bytes, 10u << 20);
  const FileInputConfig& file = fileConfig(*config, 0);
  EXPECT_EQ(file.start_at, StartAt::kEnd);
  EXPECT_EQ(file.max_line_bytes, 1024u);
  EXPECT_EQ(file.kind, "app");
  EXPECT_EQ(config->inputs[0]->common().kind, "app");
  EXPECT_EQ(config->inputs[0]->common().when_full, WhenFull::kDropOldest);
  EXPECT_EQ(file.partial_line_timeout, std::chrono::milliseconds(0));
  EXPECT_EQ(file.rotate_wait, std::chrono::seconds(1));
  EXPECT_EQ(file.multiline.start_pattern, "^\\S");
  EXPECT_EQ(file.multiline.max_lines, 20u);
  EXPECT_EQ(file.multiline.max_bytes, 8192u);
  EXPECT_EQ(file.multiline.timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(config->output.connection_ttl, std::chrono::minutes(10));
  EXPECT_EQ(config->output.ack_timeout_warning, std::chrono::seconds(30));
  EXPECT_EQ(config->output.drain_timeout, std::chrono::seconds(2));
  EXPECT_EQ(config->output.gateways.size(), 2u);
  EXPECT_EQ(config->output.compression_level, 0);
  config->spool.path.clear();
  EXPECT_EQ(config->spoolPath(), "/tmp/edge/spool.db");
}

TEST(AgentConfigTest, UnknownKeysAreRejectedWithASuggestion) {
  auto config = parse("spool:\n  max_byte: 1GiB\n");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kConfig);
  EXPECT_NE(config.error().message.find("agent.yaml:2"), std::string::npos)
      << config.error().message;
  EXPECT_NE(config.error().message.find("spool.max_byte"), std::string::npos)
      << config.error().message;
  EXPECT_NE(config.error().message.find("max_bytes"), std::string::npos) << config.error().message;
}

TEST(AgentConfigTest, EveryMistakeIsReportedAtOnce) {
  auto config = parse(R"(output:
  gateways: [localhost]
  compression_level: 99
inputs:
  - type: file
    name: same
  - type: file
    name: same
    start_at: middle
)");
  ASSERT_FALSE(config.ok());
  const std::string& message = config.error().message;
  EXPECT_NE(message.find("output.gateways[0]"), std::string::npos) << message;
  EXPECT_NE(message.find("localhost"), std::string::npos) << message;
  EXPECT_NE(message.find("output.compression_level"), std::string::npos) << message;
  EXPECT_NE(message.find("inputs[1].name"), std::string::npos) << message;
  EXPECT_NE(message.find("inputs[1].start_at"), std::string::npos) << message;
  EXPECT_NE(message.find("agent.yaml:9"), std::string::npos) << message;
}

TEST(AgentConfigTest, RejectsInconsistentValues) {
  auto config =
      parse("output: {reconnect_min: 5s, reconnect_max: 1s}\nagent: {id: \"has space\"}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("output.reconnect_max"), std::string::npos)
      << config.error().message;
  EXPECT_NE(config.error().message.find("agent.id"), std::string::npos) << config.error().message;
}

TEST(AgentConfigTest, TailAddsAFileInputFromTheBeginning) {
  auto config = parse("inputs:\n  - {type: file, name: tail-1, paths: [/x]}\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  addTailInput(*config, "/tmp/demo.log");
  addTailInput(*config, "/tmp/other.log");
  ASSERT_EQ(config->inputs.size(), 3u);
  EXPECT_EQ(config->inputs[1]->name(), "tail-2");
  EXPECT_EQ(fileConfig(*config, 1).paths, std::vector<std::string>{"/tmp/demo.log"});
  EXPECT_EQ(fileConfig(*config, 1).start_at, StartAt::kBeginning);
  EXPECT_EQ(config->inputs[2]->name(), "tail-3");
}

TEST(AgentConfigTest, UnknownInputTypeListsTheKnownTypes) {
  auto config = parse("inputs:\n  - {type: fiel, paths: [/x]}\n");
  ASSERT_FALSE(config.ok());
  const std::string& message = config.error().message;
  EXPECT_NE(message.find("inputs[0].type"), std::string::npos) << message;
  EXPECT_NE(message.find("\"fiel\""), std::string::npos) << message;
  EXPECT_NE(message.find("known types are file"), std::string::npos) << message;
}

TEST(AgentConfigTest, InputKeysAreCheckedAgainstCommonAndTypeKeys) {
  auto config = parse(
      "inputs:\n  - {type: file, paths: [/x], when_ful: block, multiline: {start_pattern: '(', "
      "max_line: 3}}\n");
  ASSERT_FALSE(config.ok());
  const std::string& message = config.error().message;
  EXPECT_NE(message.find("inputs[0].when_ful"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'when_full'"), std::string::npos) << message;
  EXPECT_NE(message.find("inputs[0].multiline.start_pattern"), std::string::npos) << message;
  EXPECT_NE(message.find("missing closing parenthesis"), std::string::npos) << message;
  EXPECT_NE(message.find("inputs[0].multiline.max_line"), std::string::npos) << message;
}

TEST(AgentConfigTest, TypeIsRequiredAndNamesDefaultToTypeAndIndex) {
  auto missing = parse("inputs:\n  - {paths: [/x]}\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("inputs[0].type"), std::string::npos)
      << missing.error().message;
  auto config = parse("inputs:\n  - {type: file, name: a}\n  - {type: file}\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->inputs[1]->name(), "file-1");
}

TEST(AgentConfigTest, WhenFullAcceptsOnlyThePolicies) {
  auto config = parse("inputs:\n  - {type: file, when_full: wait}\n");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("inputs[0].when_full"), std::string::npos)
      << config.error().message;
  auto ok = parse("inputs:\n  - {type: file, when_full: drop_newest}\n");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->inputs[0]->common().when_full, WhenFull::kDropNewest);
}

TEST(AgentConfigTest, VersionIsTheProjectVersion) {
  std::string version = agentVersion();
  EXPECT_EQ(std::count(version.begin(), version.end(), '.'), 2)
      << version;  // PROJECT_VERSION, e.g. 0.1.0
}

}  // namespace
}  // namespace edge::agent
