// How input types plug into the agent. Each agent/src/inputs/in_<type>/
// folder provides one InputTypeInfo: a parser from its YAML section to an
// InputSpec (validated settings), which later creates the Input on the
// agent's loop. The list of built-in types is in input_registry.cc; adding an
// input type is one line there plus its folder.
//
// Keys every input accepts (parsed by the core before the type's parser):
//   type, name, kind, parser (see edge/agent/parser.h), when_full
#pragma once

#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "edge/agent/input.h"
#include "edge/agent/parser.h"
#include "edge/common/config.h"
#include "edge/common/metrics.h"
#include "edge/common/result.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;

namespace edge::agent {

// What an input does with new events while the spool is at spool.max_bytes.
enum class WhenFull {
  kBlock,       // stop reading; resume when acks free space (sources that can wait: files)
  kDropNewest,  // discard the new events, counted
  kDropOldest,  // delete the oldest spooled batches to make room, counted
};

struct InputCommonConfig {
  std::string type;
  std::string name;   // unique among inputs; metrics label and position key
  std::string kind;   // Event::kind of what it produces; default per type
  WhenFull when_full = WhenFull::kBlock;  // default per type (InputTypeInfo)
  ParserConfig parser;                    // applied by the core before spooling
};

const char* whenFullName(WhenFull policy);

// Everything an input needs from the agent at creation.
struct InputContext {
  uv_loop_t* loop = nullptr;
  std::string hostname;
  DeliveryLimits limits;
  InputSink* sink = nullptr;
  MetricsRegistry* metrics = nullptr;
};

// The validated configuration of one input.
class InputSpec {
 public:
  explicit InputSpec(InputCommonConfig common) : common_(std::move(common)) {}
  virtual ~InputSpec() = default;
  const InputCommonConfig& common() const { return common_; }
  const std::string& name() const { return common_.name; }
  const std::string& type() const { return common_.type; }

  virtual Result<std::unique_ptr<Input>> create(const InputContext& context) const = 0;

 private:
  InputCommonConfig common_;
};

// The spec of an input type whose Input is built as InputT(context, common,
// config): the common case, so each type only writes its config parser.
template <typename InputT, typename ConfigT>
class BasicInputSpec final : public InputSpec {
 public:
  BasicInputSpec(InputCommonConfig common, ConfigT config)
      : InputSpec(std::move(common)), config_(std::move(config)) {}
  Result<std::unique_ptr<Input>> create(const InputContext& context) const override {
    return std::unique_ptr<Input>(std::make_unique<InputT>(context, common(), config_));
  }

 private:
  ConfigT config_;
};

struct InputTypeInfo {
  std::string_view type;           // the value of "type:" in the config
  std::string_view default_kind;   // Event::kind when the config sets none
  // Reads the type's own keys from `node` (an element of `inputs:`), records
  // any problem in the node's document (ConfigNode::addError etc.) and
  // returns the spec; it must reject unknown keys, listing its own keys plus
  // the common ones (kCommonInputKeys).
  std::unique_ptr<InputSpec> (*parse)(const ConfigNode& node, InputCommonConfig common);
  // when_full when the config sets none: kBlock for sources that keep their
  // data while paused (files, a command's pipe), kDropNewest for senders
  // that cannot be made to wait (UDP syslog).
  WhenFull default_when_full = WhenFull::kBlock;
};

inline constexpr std::string_view kCommonInputKeys[] = {"type", "name", "kind", "parser", "when_full"};

// For a type's parse(): records an error for every key of `node` that is
// neither in `own` nor a common key (with a "did you mean" suggestion).
void rejectUnknownInputKeys(const ConfigNode& node, std::initializer_list<std::string_view> own);

// All built-in input types.
std::span<const InputTypeInfo> inputTypes();
const InputTypeInfo* findInputType(std::string_view type);

}  // namespace edge::agent
