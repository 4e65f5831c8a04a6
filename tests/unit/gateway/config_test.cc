// Gateway configuration: defaults, validation errors located by file:line:
// key, and the binary's --check-config / --version / --print-default-config.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "test_support.h"

namespace edge::gateway::testing {
namespace {

std::string errorsOf(std::string_view yaml) {
  auto parsed = parseGatewayConfig(yaml, "bad.yaml");
  EXPECT_FALSE(parsed.ok()) << "expected errors in:\n" << yaml;
  return parsed.ok() ? std::string() : parsed.error().message;
}

TEST(GatewayConfigTest, BuiltInDefaultParsesToTheDocumentedDefaults) {
  auto parsed = parseGatewayConfig(defaultConfigYaml(), "<built-in>");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const GatewayConfig& c = *parsed;
  const GatewayConfig d;
  EXPECT_EQ(c.listen.toString(), "127.0.0.1:7400");
  EXPECT_EQ(c.data_dir, d.data_dir);
  EXPECT_EQ(c.tenant, "default");
  EXPECT_EQ(c.credit_batches, 32u);
  EXPECT_EQ(c.credit_bytes, 32u << 20);
  EXPECT_EQ(c.max_frame_bytes, 8u << 20);
  EXPECT_EQ(c.max_decompressed_bytes, 64u << 20);
  EXPECT_EQ(c.max_connections, 10000u);
  EXPECT_EQ(c.max_buffered_bytes_per_connection, 16u << 20);
  EXPECT_EQ(c.hello_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c.idle_timeout, std::chrono::seconds(120));
  EXPECT_EQ(c.heartbeat_interval, std::chrono::seconds(10));
  EXPECT_EQ(c.drain_timeout, std::chrono::seconds(10));
  EXPECT_TRUE(c.admin_enabled);
  EXPECT_EQ(c.admin.toString(), "127.0.0.1:7401");
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, LogFormat::kText);
  EXPECT_EQ(c.sqlite.synchronous, sinks::SqliteSynchronous::kNormal);
  EXPECT_EQ(c.sqlite.queue_max_batches, 64u);
  EXPECT_TRUE(c.sqlite.path.empty());
  EXPECT_FALSE(c.discard_events);
  EXPECT_TRUE(c.sqlite_enabled);
  EXPECT_EQ(c.enabledSinks(), std::vector<std::string>{"sqlite"});
  EXPECT_TRUE(c.plugin_dir.empty());
  EXPECT_EQ(c.max_in_flight_bytes, 256u << 20);
  ASSERT_NE(c.pipeline, nullptr);
  EXPECT_FALSE(c.pipeline->hasRouting());  // everything to the one sink
  EXPECT_TRUE(c.pipeline->config.stages.empty());
  // The demo's loopback plaintext, explicitly allowed.
  EXPECT_FALSE(c.tls.enabled);
  EXPECT_TRUE(c.tls.allow_plaintext);
  EXPECT_TRUE(c.tls.require_client_cert);
  EXPECT_EQ(c.tls.handshake_timeout, std::chrono::seconds(10));
  EXPECT_FALSE(c.enrollment.enabled);

  GatewayConfig resolved = c;
  resolveDefaults(resolved);
  EXPECT_EQ(resolved.sqlite.path, "/var/lib/edge-gateway/events.db");
  EXPECT_FALSE(resolved.id.empty());  // the hostname
}

TEST(GatewayConfigTest, EmptyDocumentMeansTlsWhichNeedsCertificates) {
  // Without the built-in file's explicit plaintext, TLS is on and its files
  // are required: a forgotten tls section fails loudly instead of going plaintext.
  const std::string errors = errorsOf("{}\n");
  EXPECT_NE(errors.find("gateway.tls.cert:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("gateway.tls.key:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("gateway.tls.ca:"), std::string::npos) << errors;
  auto parsed = parseGatewayConfig(
      "gateway:\n  tls: {cert: /etc/gw.crt, key: /etc/gw.key, ca: /etc/ca.crt}\n", "tls.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->listen.port, 7400);
  EXPECT_TRUE(parsed->tls.enabled);
  EXPECT_EQ(parsed->tls.cert, "/etc/gw.crt");
}

TEST(GatewayConfigTest, PlaintextNeedsTheFlagAndALoopbackAddress) {
  std::string errors = errorsOf("gateway:\n  tls: {enabled: false}\n");
  EXPECT_NE(errors.find("gateway.tls.enabled: plaintext agent connections need "
                        "gateway.tls.allow_plaintext: true"),
            std::string::npos)
      << errors;
  errors = errorsOf(
      "gateway:\n  listen: 0.0.0.0:7400\n  tls: {enabled: false, allow_plaintext: true}\n");
  EXPECT_NE(errors.find("gateway.tls.allow_plaintext: plaintext is only allowed on a loopback "
                        "listen address, but gateway.listen is 0.0.0.0:7400"),
            std::string::npos)
      << errors;
  errors = errorsOf(
      "gateway:\n  tls: {cert: a, key: b, ca: c, require_client_cert: false}\n"
      "  enrollment: {enabled: true}\n");
  EXPECT_NE(errors.find("gateway.tls.require_client_cert:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("gateway.enrollment.ca_key:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("gateway.enrollment.token_secret:"), std::string::npos) << errors;
  errors = errorsOf(
      "gateway:\n  tls: {enabled: false, allow_plaintext: true}\n"
      "  enrollment: {enabled: true, ca_key: k, token_secret: t}\n");
  EXPECT_NE(errors.find("gateway.enrollment.enabled: enrollment sends tokens"), std::string::npos)
      << errors;
  EXPECT_TRUE(parseGatewayConfig(
                  "gateway:\n  listen: localhost:1\n  tls: {enabled: false, allow_plaintext: "
                  "true}\n",
                  "ok.yaml")
                  .ok());
}

TEST(GatewayConfigTest, PortZeroAndAdminOffAreAccepted) {
  auto parsed = parseGatewayConfig(
      "gateway:\n  listen: \"[::1]:0\"\n  tls: {enabled: false, allow_plaintext: true}\nadmin:\n  "
      "listen: \"\"\nsinks:\n  sqlite:\n    "
      "synchronous: full\n"
      "    path: /tmp/x.db\n    queue_max_batches: 8\n  discard: {enabled: true}\n"
      "log: {level: debug, format: json}\n",
      "ok.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->listen.host, "::1");
  EXPECT_EQ(parsed->listen.port, 0);
  EXPECT_FALSE(parsed->admin_enabled);
  EXPECT_EQ(parsed->sqlite.synchronous, sinks::SqliteSynchronous::kFull);
  EXPECT_EQ(parsed->sqlite.path, "/tmp/x.db");
  EXPECT_EQ(parsed->sqlite.queue_max_batches, 8u);
  EXPECT_TRUE(parsed->discard_events);
  EXPECT_EQ(parsed->log.level, "debug");
  EXPECT_EQ(parsed->log.format, LogFormat::kJson);
}

TEST(GatewayConfigTest, EveryMistakeIsReportedWithFileLineAndKey) {
  const std::string errors = errorsOf(
      "gateway:\n"                   // 1
      "  listen: nohost\n"           // 2
      "  credit_batches: lots\n"     // 3
      "  tenantt: x\n"               // 4
      "admin:\n"                     // 5
      "  listen: 127.0.0.1:99999\n"  // 6
      "sinks:\n"                     // 7
      "  sqlite:\n"                  // 8
      "    synchronous: maybe\n"     // 9
      "logs: {}\n");                 // 10
  EXPECT_NE(errors.find("bad.yaml:2: gateway.listen: expected host:port"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("bad.yaml:3: gateway.credit_batches:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("bad.yaml:4:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("tenantt"), std::string::npos) << errors;
  EXPECT_NE(errors.find("bad.yaml:6: admin.listen:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("bad.yaml:9: sinks.sqlite.synchronous:"), std::string::npos) << errors;
  EXPECT_NE(errors.find("bad.yaml:10:"), std::string::npos) << errors;
}

TEST(GatewayConfigTest, CrossKeyRulesAreChecked) {
  std::string errors = errorsOf("gateway:\n  max_frame_bytes: 8MiB\n  credit_bytes: 1MiB\n");
  EXPECT_NE(
      errors.find("bad.yaml:3: gateway.credit_bytes: must be at least gateway.max_frame_bytes"),
      std::string::npos)
      << errors;
  errors = errorsOf("gateway:\n  idle_timeout: 5s\n  heartbeat_interval: 10s\n");
  EXPECT_NE(errors.find("bad.yaml:3: gateway.heartbeat_interval:"), std::string::npos) << errors;
  errors = errorsOf("gateway:\n  tenant: \"\"\n");
  EXPECT_NE(errors.find("bad.yaml:2: gateway.tenant:"), std::string::npos) << errors;
  errors = errorsOf("gateway:\n  max_frame_bytes: 10\n");
  EXPECT_NE(errors.find("bad.yaml:2: gateway.max_frame_bytes:"), std::string::npos) << errors;
}

// ---------------------------------------------------------------------------
// The binary.

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

RunResult run(const std::string& args) {
  const std::string command =
      std::string(EDGE_BINARY_DIR) + "/gateway/edge-gateway " + args + " 2>&1";
  RunResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(GatewayCliTest, CheckConfigPrintsEveryErrorAndFails) {
  TempDir dir;
  const std::string path = dir.file("bad.yaml");
  std::ofstream(path) << "gateway:\n  listen: nohost\n  max_connections: 0\nsinks:\n  sqlite:\n    "
                         "synchronous: maybe\n";
  RunResult result = run("--check-config --config " + path);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find(path + ":2: gateway.listen:"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(path + ":3: gateway.max_connections:"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find(path + ":6: sinks.sqlite.synchronous:"), std::string::npos)
      << result.output;
  EXPECT_EQ(result.output.find("config OK"), std::string::npos);
}

TEST(GatewayCliTest, CheckConfigReportsPipelineErrorsWithTheOthers) {
  TempDir dir;
  const std::string path = dir.file("bad.yaml");
  std::ofstream(path)
      << "gateway:\n  listen: nohost\n  tls: {enabled: false, allow_plaintext: true}\n"
         "pipeline:\n  routes:\n    - name: r\n      sinkz: [sqlite]\n"
         "  default_route: {sinks: [kafka]}\n";
  RunResult result = run("--check-config --config " + path);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find(path + ":2: gateway.listen:"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(path + ":7: pipeline.routes[0].sinkz: unknown key, did you mean "
                                      "'sinks'?"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find(path + ":8: pipeline.default_route.sinks[0]: unknown sink "
                                      "\"kafka\"; configured sinks are sqlite"),
            std::string::npos)
      << result.output;

  // A good pipeline passes.
  std::ofstream(path, std::ios::trunc)
      << testConfigYaml(dir.path(), "", "    enabled: true\n  discard: {enabled: true}\n")
      << "pipeline:\n  routes:\n    - {name: e, match: {field: raw, prefix: ERROR}, sinks: "
         "[sqlite]}\n  default_route: {sinks: [discard]}\n";
  result = run("--check-config --config " + path);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("config OK"), std::string::npos) << result.output;
}

TEST(GatewayCliTest, CheckConfigAcceptsAGoodFileAndTheBuiltInDefault) {
  TempDir dir;
  const std::string path = dir.file("good.yaml");
  std::ofstream(path) << testConfigYaml(dir.path());
  RunResult result = run("--check-config --config " + path);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("config OK"), std::string::npos) << result.output;

  result = run("--check-config");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("config OK"), std::string::npos) << result.output;
}

TEST(GatewayCliTest, MissingConfigFileIsNamed) {
  RunResult result = run("--check-config --config /nonexistent/gw.yaml");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("/nonexistent/gw.yaml"), std::string::npos) << result.output;
}

TEST(GatewayCliTest, VersionAndDefaultConfig) {
  RunResult version = run("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.output, std::string("edge-gateway ") + gatewayVersion() + "\n");

  RunResult printed = run("--print-default-config");
  EXPECT_EQ(printed.exit_code, 0);
  EXPECT_EQ(printed.output, std::string(defaultConfigYaml()));
}

}  // namespace
}  // namespace edge::gateway::testing
