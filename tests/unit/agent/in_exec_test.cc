// Tests of the exec input with real commands: interval runs with their
// status event, timeouts that kill the whole process group, streaming with
// restarts, spawn failures, environment and working directory, stderr,
// long lines, backpressure, and configuration.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "edge/common/config.h"
#include "input_test_support.h"
#include "inputs/in_exec/exec_input.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using testing::integer;
using testing::text;

const FieldValue* find(const Event& event, std::string_view key) { return event.findField(key); }

bool isStatus(const Event& event) { return find(event, "exec_status") != nullptr; }

class ExecInputTest : public testing::InputLoopTest<ExecInput> {
 protected:
  ExecInputTest() : InputLoopTest("exec", "cmd") { limits_.max_events = 100; }

  static ExecInputConfig shell(const std::string& script) {
    ExecInputConfig config;
    config.command = {script};
    config.shell = true;
    config.interval = 1h;  // one run unless a test wants more
    config.timeout = 30s;
    return config;
  }

  std::vector<const Event*> statuses() const {
    std::vector<const Event*> out;
    for (const Event& event : sink_.events) {
      if (isStatus(event)) out.push_back(&event);
    }
    return out;
  }

  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const Event& event : sink_.events) {
      if (!isStatus(event)) out.push_back(event.raw);
    }
    return out;
  }

  testing::TempDir dir_;
};

TEST_F(ExecInputTest, LinesThenAStatusEventWithTheExitCode) {
  ExecInput& input = start(shell("echo one; printf 'two\\r\\n'; printf three; exit 3"));
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  EXPECT_EQ(lines(), (std::vector<std::string>{"one", "two", "three"}));
  ASSERT_EQ(sink_.events.size(), 4u);
  const Event& status = sink_.events.back();
  EXPECT_TRUE(isStatus(status)) << "the status comes after the run's lines";
  EXPECT_EQ(text(status, "exec_status"), "exited");
  EXPECT_EQ(integer(status, "exit_code"), 3);
  EXPECT_EQ(integer(status, "lines"), 3);
  EXPECT_GE(integer(status, "duration_ms"), 0);
  EXPECT_EQ(status.severity, Severity::kWarning);
  for (const Event& event : sink_.events) {
    EXPECT_EQ(event.kind, "exec");
    EXPECT_EQ(event.host, "agent-host");
    EXPECT_EQ(event.source, "echo one; printf 'two\\r\\n'; printf three; exit 3");
    EXPECT_EQ(integer(event, "run"), 1);
  }
  EXPECT_EQ(input.stats().events_read, 4u);
  EXPECT_EQ(input.stats().errors, 1u) << "a non-zero exit counts as an error";
  EXPECT_NE(metricsText().find("edge_agent_exec_failures_total{input=\"cmd\"} 1"),
            std::string::npos);
  EXPECT_NE(metricsText().find("edge_agent_events_read_total{input=\"cmd\"} 4"), std::string::npos);
}

TEST_F(ExecInputTest, ArgvRunsWithoutAShell) {
  ExecInputConfig config;
  config.command = {"/bin/echo", "$HOME", "a  b"};
  config.interval = 1h;
  start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  EXPECT_EQ(lines(), (std::vector<std::string>{"$HOME a  b"})) << "no expansion, no splitting";
  EXPECT_EQ(integer(*statuses()[0], "exit_code"), 0);
  EXPECT_EQ(statuses()[0]->severity, Severity::kInfo);
}

TEST_F(ExecInputTest, RunsEveryIntervalNeverTwoAtATime) {
  ExecInputConfig config = shell("echo tick");
  config.interval = 50ms;
  config.timeout = 10s;
  ExecInput& input = start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() >= 3; }));
  std::vector<const Event*> done = statuses();
  for (size_t i = 0; i < done.size(); ++i)
    EXPECT_EQ(integer(*done[i], "run"), static_cast<int64_t>(i + 1));
  EXPECT_GE(input.runs(), 3u);
}

TEST_F(ExecInputTest, TimeoutKillsTheWholeProcessGroup) {
  const std::string pid_file = dir_.file("bg.pid");
  ExecInputConfig config =
      shell("echo started; sleep 60 & echo $! > " + pid_file + "; sleep 60; echo never");
  config.timeout = 300ms;
  ExecInput& input = start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  const Event& status = *statuses()[0];
  EXPECT_EQ(text(status, "exec_status"), "timeout");
  EXPECT_EQ(text(status, "signal"), "SIGKILL");
  EXPECT_EQ(find(status, "exit_code"), nullptr);
  EXPECT_EQ(status.severity, Severity::kError);
  EXPECT_EQ(lines(), (std::vector<std::string>{"started"}));
  EXPECT_FALSE(input.running());
  // The background sleep was in the group and died too (a zombie waiting
  // for a reaper counts as dead).
  std::ifstream pid_in(pid_file);
  pid_t bg = 0;
  ASSERT_TRUE(pid_in >> bg);
  auto alive = [bg] {
    std::ifstream stat("/proc/" + std::to_string(bg) + "/stat");
    std::string pid, comm, state;
    if (!(stat >> pid >> comm >> state)) return false;
    return state != "Z" && state != "X";
  };
  ASSERT_TRUE(runUntil([&] { return !alive(); }, 10s)) << "pid " << bg << " survived the timeout";
}

TEST_F(ExecInputTest, StreamModeStreamsAndRestartsWithBackoff) {
  ExecInputConfig config;
  config.command = {"i=0; while [ $i -lt 3 ]; do echo line $i; i=$((i+1)); done; exit 2"};
  config.shell = true;
  config.mode = ExecInputConfig::Mode::kStream;
  config.restart_delay = 20ms;
  config.restart_delay_max = 80ms;
  ExecInput& input = start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() >= 3; }));
  std::vector<std::string> got = lines();
  ASSERT_GE(got.size(), 9u);
  for (size_t i = 0; i < 9; ++i) EXPECT_EQ(got[i], "line " + std::to_string(i % 3));
  for (const Event* status : statuses()) EXPECT_EQ(integer(*status, "exit_code"), 2);
  EXPECT_GE(input.runs(), 3u);
  EXPECT_NE(metricsText().find("edge_agent_exec_runs_total{input=\"cmd\"}"), std::string::npos);
}

TEST_F(ExecInputTest, StreamingCommandIsStoppedOnClose) {
  ExecInputConfig config;
  config.command = {"while true; do echo tick; sleep 0.02; done"};
  config.shell = true;
  config.mode = ExecInputConfig::Mode::kStream;
  ExecInput& input = start(config);
  ASSERT_TRUE(runUntil([&] { return lines().size() >= 5; }));
  EXPECT_TRUE(input.running());
  EXPECT_TRUE(statuses().empty());
  // TearDown closes the input and requires the loop to finish: the command
  // must be gone (SIGTERM to its group).
}

TEST_F(ExecInputTest, AMissingProgramIsReportedNotFatal) {
  ExecInputConfig config;
  config.command = {"/nonexistent/program", "x"};
  config.interval = 1h;
  ExecInput& input = start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  const Event& status = *statuses()[0];
  EXPECT_EQ(text(status, "exec_status"), "failed_to_start");
  EXPECT_NE(text(status, "error").find("no such file"), std::string::npos) << text(status, "error");
  EXPECT_EQ(input.stats().errors, 1u);
  EXPECT_FALSE(input.running());
}

TEST_F(ExecInputTest, EnvironmentAndWorkingDirectory) {
  ExecInputConfig config = shell("echo \"$EDGE_TEST_VAR\"; echo \"${HOME:-unset}\"; pwd");
  config.env = {{"EDGE_TEST_VAR", "from config"}};
  config.cwd = dir_.path();
  start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  std::vector<std::string> got = lines();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "from config");
  EXPECT_NE(got[1], "unset") << "the agent's environment is inherited";
  EXPECT_EQ(fs::canonical(got[2]), fs::canonical(dir_.path()));
}

TEST_F(ExecInputTest, ClearEnvStartsFromNothing) {
  ExecInputConfig config = shell("echo \"${HOME:-unset}\" \"$ONLY\"");
  config.clear_env = true;
  config.env = {{"ONLY", "this"}};
  start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  EXPECT_EQ(lines(), (std::vector<std::string>{"unset this"}));
}

TEST_F(ExecInputTest, StderrGoesToTheLogNotToEvents) {
  start(shell("echo oops >&2; echo out; echo again >&2"));
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  EXPECT_EQ(lines(), (std::vector<std::string>{"out"}));
  EXPECT_NE(metricsText().find("edge_agent_exec_stderr_lines_total{input=\"cmd\"} 2"),
            std::string::npos)
      << metricsText();
}

TEST_F(ExecInputTest, LongLinesAreTruncatedAndCounted) {
  ExecInputConfig config = shell("head -c 100000 /dev/zero | tr '\\0' x; echo; echo short");
  config.max_line_bytes = 16;
  ExecInput& input = start(config);
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  std::vector<std::string> got = lines();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], std::string(16, 'x'));
  EXPECT_NE(find(sink_.events[0], "truncated"), nullptr);
  EXPECT_EQ(got[1], "short");
  EXPECT_EQ(input.stats().lines_truncated, 1u);
}

// Paused, the input stops reading the pipe, so the command blocks instead of
// its output being lost; on resume every line arrives in order.
TEST_F(ExecInputTest, PauseBlocksTheCommandAndLosesNothing) {
  ExecInputConfig config = shell("seq 1 100000");
  ExecInput* input = nullptr;
  sink_.on_deliver = [&] { input->pause(); };
  input = &start(config);
  ASSERT_TRUE(runUntil([&] { return !sink_.events.empty(); }));
  spin(50);  // loop turns while paused
  size_t while_paused = sink_.events.size();
  EXPECT_LT(while_paused, 100000u);
  EXPECT_TRUE(input->running()) << "seq is blocked on the full pipe";
  sink_.on_deliver = nullptr;
  input->resume();
  ASSERT_TRUE(runUntil([&] { return statuses().size() == 1; }));
  std::vector<std::string> got = lines();
  ASSERT_EQ(got.size(), 100000u);
  for (size_t i = 0; i < got.size(); i += 9973) EXPECT_EQ(got[i], std::to_string(i + 1));
  EXPECT_EQ(integer(*statuses()[0], "exit_code"), 0);
}

// --- configuration -------------------------------------------------------------

std::string parseErrors(const std::string& yaml, std::unique_ptr<InputSpec>* spec = nullptr) {
  auto doc = ConfigDocument::parse(yaml, "agent.yaml");
  EXPECT_TRUE(doc.ok());
  ConfigNode node = (*doc)->root()["inputs"].elements().at(0);
  InputCommonConfig common;
  common.type = "exec";
  common.name = "cmd";
  auto parsed = execInputType().parse(node, common);
  if (spec != nullptr) *spec = std::move(parsed);
  auto finished = (*doc)->finish();
  return finished.ok() ? std::string() : finished.error().message;
}

TEST(ExecInputConfig, ValidConfigs) {
  EXPECT_EQ(execInputType().type, "exec");
  EXPECT_EQ(execInputType().default_when_full, WhenFull::kBlock);
  std::unique_ptr<InputSpec> spec;
  EXPECT_EQ(parseErrors(R"(
inputs:
  - type: exec
    command: [/usr/bin/uptime]
    interval: 30s
    timeout: 10s
    env: {LC_ALL: C}
    cwd: /tmp
    max_line_bytes: 1KiB
)",
                        &spec),
            "");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(parseErrors(R"(
inputs:
  - type: exec
    command: "journalctl -f -o json | grep -v DEBUG"
    shell: true
    mode: stream
    restart_delay: 500ms
    restart_delay_max: 1m
)"),
            "");
}

TEST(ExecInputConfig, MistakesNameTheKeyAndTheFix) {
  std::string errors = parseErrors("inputs:\n  - type: exec\n    command: uptime -p\n");
  EXPECT_NE(errors.find("inputs[0].command: expected a list"), std::string::npos) << errors;
  EXPECT_NE(errors.find("shell: true"), std::string::npos) << errors;
  errors = parseErrors("inputs:\n  - type: exec\n    interval: 5s\n");
  EXPECT_NE(errors.find("command: missing required key"), std::string::npos) << errors;
  errors = parseErrors(
      "inputs:\n  - type: exec\n    command: [x]\n    mode: stream\n    interval: 5s\n"
      "    env: [A]\n    restart_delay: 2s\n    restart_delay_max: 1s\n");
  EXPECT_NE(errors.find("inputs[0].interval: applies to mode: interval only"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("inputs[0].env: expected a map"), std::string::npos) << errors;
  EXPECT_NE(errors.find("restart_delay_max: expected a duration no shorter than restart_delay"),
            std::string::npos)
      << errors;
}

}  // namespace
}  // namespace edge::agent
