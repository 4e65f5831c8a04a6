// Shared helpers for the pipeline unit tests: events built in one line, and
// conditions compiled from inline YAML.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "edge/common/config.h"
#include "edge/common/event.h"
#include "edge/gateway/pipeline/condition.h"

namespace edge::gateway::pipeline::testing {

inline Event makeEvent(std::string kind = "log", std::string host = "web-1",
                       Severity severity = Severity::kInfo) {
  Event e;
  e.ts_ns = 1'700'000'000'000'000'000;
  e.seq = 42;
  e.kind = std::move(kind);
  e.source = "/var/log/auth.log";
  e.host = std::move(host);
  e.severity = severity;
  e.tenant = "acme";
  e.raw = "Failed password for root from 10.0.0.7 port 22";
  return e;
}

// The errors readCondition recorded for `match:` in `yaml` (empty if none).
inline std::string conditionErrors(std::string_view yaml) {
  auto doc = ConfigDocument::parse(yaml, "match.yaml");
  if (!doc) return doc.error().message;
  auto spec = readCondition((*doc)->root()["match"]);
  auto finished = (*doc)->finish();
  if (finished.ok()) {
    EXPECT_TRUE(spec.has_value());
    return {};
  }
  EXPECT_FALSE(spec.has_value()) << "errors recorded but a spec returned";
  return finished.error().message;
}

// Reads `match:` from `yaml` and compiles it; fails the test on any error.
inline std::unique_ptr<Condition> compileYaml(std::string_view yaml) {
  auto doc = ConfigDocument::parse(yaml, "match.yaml");
  if (!doc) {
    ADD_FAILURE() << doc.error().message;
    return nullptr;
  }
  auto spec = readCondition((*doc)->root()["match"]);
  auto finished = (*doc)->finish();
  if (!finished.ok() || !spec) {
    ADD_FAILURE() << "in:\n"
                  << yaml << "\n"
                  << (finished.ok() ? "no spec" : finished.error().message);
    return nullptr;
  }
  auto compiled = Condition::compile(*spec);
  if (!compiled) {
    ADD_FAILURE() << compiled.error().message;
    return nullptr;
  }
  return std::make_unique<Condition>(std::move(*compiled));
}

}  // namespace edge::gateway::pipeline::testing
