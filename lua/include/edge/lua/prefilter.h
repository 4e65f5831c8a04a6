// A rule's declarative prefilter, evaluated in C++ before any Lua runs: an
// event that fails it never reaches the rule (docs/lua.md, "Prefilter").
//
//   prefilter = {
//     kind = "syslog",                             -- equals
//     source = {contains = {"auth", "secure"}},    -- contains any of
//     fields = {
//       program = {"sshd", "sshd-session"},        -- equals any of
//       message = {contains = "Failed password"},
//       user = {exists = true},
//     },
//   }
//
// Every listed condition must hold. Values are compared as text: integer
// fields in decimal, booleans as true/false, floats in their shortest form.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "edge/common/event.h"

namespace edge::lua {

struct PrefilterMatch {
  enum class Target : uint8_t { kKind, kSource, kHost, kRaw, kField };
  Target target = Target::kKind;
  std::string field;                  // kField: the event field key
  std::vector<std::string> equals;    // the value equals one of these
  std::vector<std::string> contains;  // the value contains one of these
  std::optional<bool> exists;         // present (true) / absent (false); built-ins: non-empty
};

class Prefilter {
 public:
  Prefilter() = default;
  explicit Prefilter(std::vector<PrefilterMatch> matches) : matches_(std::move(matches)) {}

  bool matches(const Event& event) const;
  bool empty() const { return matches_.empty(); }
  const std::vector<PrefilterMatch>& conditions() const { return matches_; }
  // "kind equals syslog; fields.message contains Failed password", for lint output.
  std::string describe() const;

 private:
  std::vector<PrefilterMatch> matches_;
};

}  // namespace edge::lua
