// The fixture the tests of the inputs without positions (exec, stdin,
// syslog) share: a libuv loop of their own, a sink that records deliveries
// and checks the input contract, the metrics registry, and the teardown
// that requires the input to close every handle it opened.
#pragma once

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "edge/agent/input.h"
#include "edge/agent/input_registry.h"
#include "edge/common/event.h"
#include "edge/common/metrics.h"
#include "test_support.h"

namespace edge::agent::testing {

// A string field's value; "" when absent, "<not a string>" for another type.
inline std::string text(const Event& event, std::string_view key) {
  const FieldValue* value = event.findField(key);
  if (value == nullptr) return {};
  if (const auto* s = std::get_if<std::string>(value)) return *s;
  return "<not a string>";
}

// An integer field's value; -1 when absent or not an integer.
inline int64_t integer(const Event& event, std::string_view key) {
  const FieldValue* value = event.findField(key);
  if (value == nullptr || !std::holds_alternative<int64_t>(*value)) return -1;
  return std::get<int64_t>(*value);
}

// Records what an input delivers and checks each delivery: made under the
// input's name, without positions (these inputs have none), within the
// DeliveryLimits the input was given.
class RecordingSink final : public InputSink {
 public:
  RecordingSink(std::string input, const DeliveryLimits& limits)
      : input_(std::move(input)), limits_(limits) {}

  void deliver(std::string_view input, std::vector<Event>&& delivered,
               std::vector<InputPosition>&& positions) override {
    EXPECT_EQ(input, input_);
    EXPECT_TRUE(positions.empty()) << "this input has no positions";
    EXPECT_LE(delivered.size(), limits_.max_events);
    ++deliveries;
    for (Event& event : delivered) events.push_back(std::move(event));
    if (on_deliver) on_deliver();
  }

  std::vector<Event> events;
  int deliveries = 0;
  // Called after each delivery (tests pause the input from here, as the
  // core does when the spool fills).
  std::function<void()> on_deliver;

 private:
  std::string input_;
  const DeliveryLimits& limits_;
};

// Fixture for one input of type InputT (constructed as InputT(context,
// common, config...)), named `name`.
template <typename InputT>
class InputLoopTest : public ::testing::Test {
 protected:
  InputLoopTest(std::string type, std::string name)
      : type_(std::move(type)), name_(std::move(name)), sink_(name_, limits_) {}

  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    if (input_) input_->close();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (uv_loop_alive(&loop_) != 0 && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(uv_loop_alive(&loop_), 0) << "the input did not finish closing";
    input_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  // What the core hands an input: this loop, the sink, the metrics, limits_.
  InputContext context() {
    InputContext context;
    context.loop = &loop_;
    context.hostname = "agent-host";
    context.sink = &sink_;
    context.metrics = &metrics_;
    context.limits = limits_;
    return context;
  }

  InputCommonConfig common() const {
    InputCommonConfig common;
    common.type = type_;
    common.name = name_;
    return common;
  }

  // Creates the input (the test's one) and starts it; a failed start fails
  // the test.
  template <typename... Config>
  InputT& start(Config&&... config) {
    input_ = std::make_unique<InputT>(context(), common(), std::forward<Config>(config)...);
    auto started = input_->start({});
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().message);
    return *input_;
  }

  // Runs the loop until `done`; the limit is a failure guard, not a timing.
  bool runUntil(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    return testing::runUntil(&loop_, done, limit);
  }

  // Some loop turns with nothing expected to happen (never blocks: a
  // one-shot timer started from a stale loop time may already be due, and
  // UV_RUN_ONCE would then wait for I/O that never comes).
  void spin(int turns = 20) {
    for (int i = 0; i < turns; ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  std::string metricsText() const { return metrics_.renderPrometheus(); }

  // Whether the metrics hold exactly this line ("name{labels} value").
  bool hasMetric(const std::string& line) const {
    return ("\n" + metricsText()).find("\n" + line + "\n") != std::string::npos;
  }

  const std::string type_;
  const std::string name_;
  uv_loop_t loop_{};
  MetricsRegistry metrics_;
  DeliveryLimits limits_;
  RecordingSink sink_;
  std::unique_ptr<InputT> input_;
};

}  // namespace edge::agent::testing
