// Tests of the process input: /proc reading (the real one and a fixture
// with an awkward comm), polling mode against a real child, the kernel's
// proc connector when permitted (skipped with a reason otherwise), the
// automatic fallback when it is refused, and the configuration.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <filesystem>

#include "edge/common/config.h"
#include "edge/common/metrics.h"
#include "inputs/in_process/proc_connector.h"
#include "inputs/in_process/proc_reader.h"
#include "inputs/in_process/process_input.h"
#include "test_support.h"

extern char** environ;

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string field(const Event& event, std::string_view key) {
  const FieldValue* v = event.findField(key);
  if (v == nullptr) return "<absent>";
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  if (const auto* i = std::get_if<int64_t>(v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(v)) return *b ? "true" : "false";
  return "<float>";
}

pid_t spawn(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
  EXPECT_EQ(rc, 0) << "posix_spawn " << args[0];
  return pid;
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

class CollectingSink : public InputSink {
 public:
  void deliver(std::string_view /*input*/, std::vector<Event>&& delivered,
               std::vector<InputPosition>&& positions) override {
    EXPECT_TRUE(positions.empty());
    for (Event& e : delivered) events.push_back(std::move(e));
  }
  // The first event with this action for this pid, or nullptr.
  const Event* find(const std::string& action, pid_t pid) const {
    for (const Event& e : events) {
      if (field(e, "action") == action && field(e, "pid") == std::to_string(pid)) return &e;
    }
    return nullptr;
  }
  std::vector<Event> events;
};

// --- /proc reading ----------------------------------------------------------

TEST(ProcReaderTest, ReadsItself) {
  auto info = readProcess("/proc", ::getpid(), 4096);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->pid, ::getpid());
  EXPECT_EQ(info->ppid, ::getppid());
  EXPECT_EQ(info->uid, static_cast<int64_t>(::getuid()));
  EXPECT_EQ(info->exe, fs::read_symlink("/proc/self/exe").string());
  EXPECT_EQ(info->cwd, fs::current_path().string());
  EXPECT_NE(info->cmdline.find("agent_in_process_test"), std::string::npos) << info->cmdline;
  EXPECT_FALSE(info->kernel_thread);
  EXPECT_GT(info->start_ticks, 0u);

  auto small = readProcess("/proc", ::getpid(), 16);
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->cmdline.size(), 16u);
  EXPECT_TRUE(small->cmdline_truncated);

  auto kthreadd = readProcess("/proc", 2, 4096);
  if (kthreadd) {
    EXPECT_TRUE(kthreadd->kernel_thread);
    EXPECT_EQ(kthreadd->exe, "");
  }

  std::vector<int> pids;
  ASSERT_TRUE(listPids("/proc", pids));
  EXPECT_NE(std::find(pids.begin(), pids.end(), ::getpid()), pids.end());
  EXPECT_TRUE(std::is_sorted(pids.begin(), pids.end()));
}

TEST(ProcReaderTest, MissingPartsAreAbsentNotErrors) {
  TempDir dir;
  fs::create_directories(dir.file("4242"));
  // A comm with spaces and parentheses; no status, exe, cwd or cmdline.
  testing::writeFile(dir.file("4242/stat"),
                     "4242 (my (odd) name) S 77 4242 4242 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 "
                     "0 123456 1000 10 18446744073709551615\n");
  fs::create_directories(dir.file("17"));
  auto info = readProcess(dir.path(), 4242, 4096);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->comm, "my (odd) name");
  EXPECT_EQ(info->ppid, 77);
  EXPECT_EQ(info->start_ticks, 123456u);
  EXPECT_EQ(info->uid, -1);
  EXPECT_EQ(info->exe, "");
  EXPECT_EQ(info->cmdline, "");
  EXPECT_FALSE(readProcess(dir.path(), 17, 4096).has_value());   // no stat: gone
  EXPECT_FALSE(readProcess(dir.path(), 999, 4096).has_value());  // no such pid

  std::vector<int> pids;
  fs::create_directories(dir.file("self"));
  ASSERT_TRUE(listPids(dir.path(), pids));
  EXPECT_EQ(pids, (std::vector<int>{17, 4242}));
  EXPECT_FALSE(listPids(dir.file("nope"), pids));
}

// --- the input ----------------------------------------------------------------

class ProcessInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    context_.loop = &loop_;
    context_.hostname = "host-a";
    context_.sink = &sink_;
    context_.metrics = &registry_;
    common_.type = "process";
    common_.name = "procs";
  }
  void TearDown() override {
    if (input_) input_->close();
    testing::closeLoop(&loop_);
  }
  std::unique_ptr<ProcessInput> makeInput(ProcessInputConfig config) {
    return std::make_unique<ProcessInput>(context_, common_, std::move(config));
  }

  uv_loop_t loop_{};
  MetricsRegistry registry_;
  CollectingSink sink_;
  InputContext context_;
  InputCommonConfig common_;
  std::unique_ptr<ProcessInput> input_;
};

TEST_F(ProcessInputTest, PollingSeesAChildStartAndExit) {
  ProcessInputConfig config;
  config.mode = ProcessInputConfig::Mode::kPoll;
  config.interval = std::chrono::milliseconds(50);
  input_ = makeInput(config);
  ASSERT_TRUE(input_->start({}).ok());
  EXPECT_EQ(input_->mode(), "poll");
  EXPECT_TRUE(sink_.events.empty()) << "existing processes are not reported by default";

  pid_t child = spawn({"/bin/sleep", "1"});
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return sink_.find("start", child) != nullptr; }));
  const Event& start = *sink_.find("start", child);
  EXPECT_EQ(start.source, "process:poll");
  EXPECT_EQ(start.kind, "process");
  EXPECT_EQ(start.host, "host-a");
  EXPECT_EQ(field(start, "ppid"), std::to_string(::getpid()));
  EXPECT_EQ(field(start, "uid"), std::to_string(::getuid()));
  EXPECT_EQ(field(start, "cmdline"), "/bin/sleep 1");
  EXPECT_EQ(field(start, "exe"), fs::canonical("/bin/sleep").string());
  EXPECT_EQ(field(start, "comm"), "sleep");
  EXPECT_EQ(field(start, "cwd"), fs::current_path().string());
  EXPECT_EQ(start.raw, fieldsToJson(start.fields));

  // A zombie is still in /proc: the exit shows once the child is reaped.
  int status = reap(child);
  EXPECT_TRUE(WIFEXITED(status));
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return sink_.find("exit", child) != nullptr; }));
  const Event& exit = *sink_.find("exit", child);
  EXPECT_EQ(field(exit, "exe"), fs::canonical("/bin/sleep").string());
  EXPECT_EQ(field(exit, "cmdline"), "/bin/sleep 1");
  EXPECT_EQ(field(exit, "exit_code"), "<absent>");  // polling cannot know it
  EXPECT_NE(field(exit, "runtime_ms"), "<absent>");
  EXPECT_EQ(sink_.find("exec", child), nullptr);
  EXPECT_GE(input_->stats().events_read, 2u);
}

TEST_F(ProcessInputTest, ReportExistingAndActionsFilter) {
  ProcessInputConfig config;
  config.mode = ProcessInputConfig::Mode::kPoll;
  config.interval = std::chrono::milliseconds(50);
  config.report_existing = true;
  config.report_start = false;  // only exits... and existing ones are starts: none
  input_ = makeInput(config);
  ASSERT_TRUE(input_->start({}).ok());
  EXPECT_TRUE(sink_.events.empty());
  input_->close();
  input_.reset();
  testing::closeLoop(&loop_);
  uv_loop_init(&loop_);

  config.report_start = true;
  input_ = makeInput(config);
  ASSERT_TRUE(input_->start({}).ok());
  const Event* self = sink_.find("start", ::getpid());
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(field(*self, "existing"), "true");
  for (const Event& e : sink_.events) {
    EXPECT_NE(field(e, "kernel_thread"), "true") << "kernel threads are excluded by default";
  }
}

// Skips unless this process may subscribe to the kernel's process events.
bool connectorPermitted(std::string& why) {
  ProcConnector probe;
  auto opened = probe.open();
  if (!opened.ok()) why = opened.error().message;
  return opened.ok();
}

TEST_F(ProcessInputTest, ConnectorSeesForkExecAndExitCodes) {
  std::string why;
  if (!connectorPermitted(why)) {
    GTEST_SKIP() << "the proc connector is not available to this test (" << why
                 << "); run as root / with CAP_NET_ADMIN in the host's namespaces to cover it";
  }
  ProcessInputConfig config;
  config.mode = ProcessInputConfig::Mode::kConnector;
  input_ = makeInput(config);
  ASSERT_TRUE(input_->start({}).ok());
  EXPECT_EQ(input_->mode(), "connector");

  pid_t exits3 = spawn({"/bin/sh", "-c", "exit 3"});
  pid_t killed = spawn({"/bin/sleep", "30"});
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return sink_.find("exit", exits3) != nullptr; }));
  ::kill(killed, SIGTERM);
  ASSERT_TRUE(testing::runUntil(&loop_, [&] { return sink_.find("exit", killed) != nullptr; }));
  EXPECT_EQ(reap(exits3) >> 8, 3);
  reap(killed);

  const Event* start = sink_.find("start", exits3);
  ASSERT_NE(start, nullptr) << "no fork event for " << exits3;
  EXPECT_EQ(start->source, "process:connector");
  EXPECT_EQ(field(*start, "ppid"), std::to_string(::getpid()));
  const Event* exec = sink_.find("exec", exits3);
  ASSERT_NE(exec, nullptr) << "no exec event for " << exits3;
  // The program may already be gone when /proc is read: then exe is absent.
  std::string exe = field(*exec, "exe");
  if (exe != "<absent>") {
    EXPECT_EQ(exe, fs::canonical("/bin/sh").string());
  }
  const Event& exit3 = *sink_.find("exit", exits3);
  EXPECT_EQ(field(exit3, "exit_code"), "3");
  EXPECT_EQ(field(exit3, "signal"), "<absent>");
  EXPECT_EQ(field(exit3, "ppid"), std::to_string(::getpid()));

  const Event* exec_sleep = sink_.find("exec", killed);
  ASSERT_NE(exec_sleep, nullptr);
  EXPECT_EQ(field(*exec_sleep, "cmdline"), "/bin/sleep 30");
  EXPECT_EQ(field(*exec_sleep, "exe"), fs::canonical("/bin/sleep").string());
  const Event& exit_killed = *sink_.find("exit", killed);
  EXPECT_EQ(field(exit_killed, "signal"), std::to_string(SIGTERM));
  EXPECT_EQ(field(exit_killed, "exit_code"), "<absent>");
  EXPECT_EQ(field(exit_killed, "cmdline"), "/bin/sleep 30");  // remembered from its exec
}

// In a new user namespace the kernel refuses the connector: mode auto must
// fall back to polling, mode connector must fail with the reason.
TEST(ProcessInputFallbackTest, RefusedConnectorFallsBackToPolling) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::unshare(CLONE_NEWUSER) != 0) ::_exit(77);
    uv_loop_t loop;
    uv_loop_init(&loop);
    MetricsRegistry registry;
    CollectingSink sink;
    InputContext context;
    context.loop = &loop;
    context.sink = &sink;
    context.metrics = &registry;
    InputCommonConfig common;
    common.name = "procs";
    int code = 0;
    {
      ProcessInputConfig config;
      ProcessInput input(context, common, config);
      if (!input.start({}).ok()) code |= 2;
      if (input.mode() != "poll") code |= 4;
      input.close();
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    {
      ProcessInputConfig config;
      config.mode = ProcessInputConfig::Mode::kConnector;
      ProcessInput input(context, common, config);
      auto started = input.start({});
      if (started.ok() || started.error().message.find("CAP_NET_ADMIN") == std::string::npos)
        code |= 8;
      input.close();
      uv_run(&loop, UV_RUN_DEFAULT);
    }
    ::_exit(code);
  }
  int status = reap(child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot create a user namespace here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 2 start failed, 4 not polling, 8 connector mode "
                                       "did not fail with the reason";
}

// --- configuration -------------------------------------------------------------

TEST(ProcessConfigTest, DefaultsAndErrors) {
  EXPECT_EQ(processInputType().type, "process");
  EXPECT_EQ(processInputType().default_kind, "process");
  EXPECT_EQ(processInputType().default_when_full, WhenFull::kDropNewest);
  auto parse = [](const std::string& yaml) {
    auto doc = ConfigDocument::parse(yaml, "agent.yaml");
    EXPECT_TRUE(doc.ok());
    InputCommonConfig common;
    common.name = "p";
    auto spec = processInputType().parse((*doc)->root(), common);
    EXPECT_NE(spec, nullptr);
    return (*doc)->errors();
  };
  EXPECT_TRUE(parse("type: process\nmode: poll\ninterval: 2s\nactions: [start, exit]\n").empty());
  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"type: process\nmode: netlink\n", "one of auto, connector, poll"},
      {"type: process\nactions: [start, fork]\n", "unknown action \"fork\""},
      {"type: process\ninterval: 1ms\n", "between 10ms and 1h"},
      {"type: process\ncmdline: 1\n", "cmdline"},
  };
  for (const Case& c : cases) {
    auto errors = parse(c.yaml);
    ASSERT_FALSE(errors.empty()) << c.yaml;
    EXPECT_NE(errors[0].find(c.expected), std::string::npos) << c.yaml << " -> " << errors[0];
  }
}

}  // namespace
}  // namespace edge::agent
