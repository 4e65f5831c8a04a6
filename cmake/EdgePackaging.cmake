# CPack: a .deb of edge-agent for the architecture being built (amd64 natively,
# arm64/armhf with the cross toolchains in cross/). Only agent-only builds
# (EDGE_AGENT_ONLY=ON, e.g. the agent-lean* presets) package, so the .deb
# never picks up the gateway's or the tools' install rules.
#   cmake --preset agent-lean-aarch64 && cmake --build --preset agent-lean-aarch64
#   cpack --config build/agent-lean-aarch64/CPackConfig.cmake -B build/agent-lean-aarch64/packages
# See docs/cross-compiling.md.
if(NOT EDGE_AGENT_ONLY)
  return()
endif()

# Debian architecture names for the multiarch triples we build for.
set(_edge_deb_arch_x86_64-linux-gnu amd64)
set(_edge_deb_arch_aarch64-linux-gnu arm64)
set(_edge_deb_arch_arm-linux-gnueabihf armhf)
set(_edge_deb_arch_i386-linux-gnu i386)
set(_edge_deb_arch "${_edge_deb_arch_${CMAKE_LIBRARY_ARCHITECTURE}}")
if(NOT _edge_deb_arch AND NOT CMAKE_CROSSCOMPILING)
  execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE _edge_deb_arch
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
set(EDGE_DEB_ARCHITECTURE "${_edge_deb_arch}" CACHE STRING
    "Debian architecture of the edge-agent .deb (amd64, arm64, armhf, ...)")
if(NOT EDGE_DEB_ARCHITECTURE)
  message(STATUS "edge-agent .deb: unknown Debian architecture for '${CMAKE_LIBRARY_ARCHITECTURE}'; "
                 "set -DEDGE_DEB_ARCHITECTURE=<arch> to package")
  return()
endif()

# What the package adds beside the binary: a systemd unit running the agent
# on /etc/edge-agent/agent.yaml, which postinst writes from the binary's own
# embedded defaults (edge-agent --print-default-config) when it is missing, so
# the file always matches the installed version's keys.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/packaging/edge-agent.service
        DESTINATION lib/systemd/system)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME edge-agent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "edge agent: tails local logs, spools them durably and ships them to edge gateways")
set(CPACK_PACKAGE_CONTACT "edge developers" CACHE STRING "Maintainer field of the .deb")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${EDGE_DEB_ARCHITECTURE})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # edge-agent_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: computed by dpkg-shlibdeps from the binary's NEEDED libraries. For
# a cross build it must read the target's libraries (installed by
# cross/setup.sh) with the target's objdump: DEB_HOST_ARCH tells it so, set in
# cpack's own environment by this project config file, which cpack loads.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
file(WRITE ${CMAKE_BINARY_DIR}/EdgeCPackProject.cmake
     "set(ENV{DEB_HOST_ARCH} \"${EDGE_DEB_ARCHITECTURE}\")\n")
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_BINARY_DIR}/EdgeCPackProject.cmake)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/packaging/postinst
    ${CMAKE_CURRENT_LIST_DIR}/packaging/prerm
    ${CMAKE_CURRENT_LIST_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
