// The list of built-in input types and the helpers their config parsers
// share. Adding an input type: create agent/src/inputs/in_<name>/ defining
// `const InputTypeInfo& <name>InputType()` in edge::agent, add its
// add_subdirectory() line to agent/CMakeLists.txt, and add one X(<name>)
// line below.
#include <algorithm>
#include <vector>

#include "edge/agent/input_registry.h"

// One line per input type; keep the trailing backslashes.
#define EDGE_AGENT_INPUT_TYPES(X) \
  X(file)                         \
  X(syslog)                       \
  X(exec)                         \
  X(stdin)                        \
  X(metrics)                      \
  X(process)                      \
  /* end of the list */

namespace edge::agent {

#define EDGE_DECLARE_INPUT_TYPE(name) const InputTypeInfo& name##InputType();
EDGE_AGENT_INPUT_TYPES(EDGE_DECLARE_INPUT_TYPE)
#undef EDGE_DECLARE_INPUT_TYPE

std::span<const InputTypeInfo> inputTypes() {
#define EDGE_LIST_INPUT_TYPE(name) name##InputType(),
  static const std::vector<InputTypeInfo> kTypes{EDGE_AGENT_INPUT_TYPES(EDGE_LIST_INPUT_TYPE)};
#undef EDGE_LIST_INPUT_TYPE
  return kTypes;
}

const InputTypeInfo* findInputType(std::string_view type) {
  for (const InputTypeInfo& info : inputTypes()) {
    if (info.type == type) return &info;
  }
  return nullptr;
}

const char* whenFullName(WhenFull policy) {
  switch (policy) {
    case WhenFull::kBlock:
      return "block";
    case WhenFull::kDropNewest:
      return "drop_newest";
    case WhenFull::kDropOldest:
      return "drop_oldest";
  }
  return "block";
}

void rejectUnknownInputKeys(const ConfigNode& node, std::initializer_list<std::string_view> own) {
  std::vector<std::string_view> known(std::begin(kCommonInputKeys), std::end(kCommonInputKeys));
  known.insert(known.end(), own.begin(), own.end());
  node.rejectUnknownKeys(std::span<const std::string_view>(known));
}

}  // namespace edge::agent
