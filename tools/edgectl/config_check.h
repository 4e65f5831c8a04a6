// `edgectl --config FILE --check-config`: validates a gateway configuration
// the same way edge-gateway does at start-up.
#pragma once

#include <string>

namespace edge::ctl {

// Prints "config OK" (exit 0) or every error as file:line: key: ... (exit 1).
int runGatewayConfigCheck(const std::string& path);

}  // namespace edge::ctl
