# CMake toolchain for 32-bit ARM with hardware floating point (armhf: ARMv7,
# Raspberry Pi 2 and 32-bit OS images, older boards) with Debian's
# arm-linux-gnueabihf-gcc.
#   cmake --preset cross-armhf     (or -DCMAKE_TOOLCHAIN_FILE=cross/arm-linux-gnueabihf.cmake)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(EDGE_CROSS_TRIPLE arm-linux-gnueabihf)
set(EDGE_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
