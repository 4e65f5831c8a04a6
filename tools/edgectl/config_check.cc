// Gateway config validation for edgectl, shared with edge-gateway's parser.
#include "config_check.h"

#include <cstdio>

#include "edge/gateway/config.h"

namespace edge::ctl {

int runGatewayConfigCheck(const std::string& path) {
  auto config = gateway::loadGatewayConfigFile(path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  std::printf("config OK\n");
  return 0;
}

}  // namespace edge::ctl
