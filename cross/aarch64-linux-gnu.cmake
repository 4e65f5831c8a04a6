# CMake toolchain for 64-bit ARM (arm64: Raspberry Pi 3/4/5 on a 64-bit OS,
# most ARM gateways and routers) with Debian's aarch64-linux-gnu-gcc.
#   cmake --preset cross-aarch64     (or -DCMAKE_TOOLCHAIN_FILE=cross/aarch64-linux-gnu.cmake)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(EDGE_CROSS_TRIPLE aarch64-linux-gnu)
set(EDGE_CROSS_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
