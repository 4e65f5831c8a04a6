# Shared part of the ARM toolchain files (aarch64-linux-gnu.cmake,
# arm-linux-gnueabihf.cmake): Debian's cross compilers with Debian multiarch
# libraries (<pkg>:arm64 / <pkg>:armhf, installed by cross/setup.sh) as the
# target's libraries. The caller sets EDGE_CROSS_TRIPLE, EDGE_CROSS_QEMU,
# CMAKE_SYSTEM_PROCESSOR. See docs/cross-compiling.md.
set(CMAKE_SYSTEM_NAME Linux)

set(CMAKE_C_COMPILER ${EDGE_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${EDGE_CROSS_TRIPLE}-g++)
# LTO needs the cross gcc's archiver and ranlib (the plain ones cannot read
# its GIMPLE objects through the LTO plugin of another gcc).
set(CMAKE_AR ${EDGE_CROSS_TRIPLE}-gcc-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${EDGE_CROSS_TRIPLE}-gcc-ranlib CACHE FILEPATH "")
set(CMAKE_C_COMPILER_AR ${EDGE_CROSS_TRIPLE}-gcc-ar CACHE FILEPATH "")
set(CMAKE_CXX_COMPILER_AR ${EDGE_CROSS_TRIPLE}-gcc-ar CACHE FILEPATH "")
set(CMAKE_C_COMPILER_RANLIB ${EDGE_CROSS_TRIPLE}-gcc-ranlib CACHE FILEPATH "")
set(CMAKE_CXX_COMPILER_RANLIB ${EDGE_CROSS_TRIPLE}-gcc-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${EDGE_CROSS_TRIPLE}-strip CACHE FILEPATH "")

# Multiarch: the target's libraries are in /usr/lib/<triple> and its
# CMake/pkg-config files under it; find_* look there because of this.
set(CMAKE_LIBRARY_ARCHITECTURE ${EDGE_CROSS_TRIPLE})

# Two roots: the system (multiarch) and the staging dir where cross/setup.sh
# unpacks the -dev packages Debian 12 does not mark Multi-Arch
# (libyaml-cpp-dev, libhttp-parser-dev), whose :arm64 variant cannot be
# installed beside the :amd64 one the native build needs.
set(EDGE_CROSS_STAGE "/opt/edge-cross/${EDGE_CROSS_TRIPLE}" CACHE PATH
    "Staged -dev packages for ${EDGE_CROSS_TRIPLE} (written by cross/setup.sh)")
# try_compile projects read this file again; hand them the same stage.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EDGE_CROSS_STAGE)
if(NOT EXISTS "${EDGE_CROSS_STAGE}/.stamp")
  message(FATAL_ERROR "${EDGE_CROSS_STAGE} is missing: run cross/setup.sh first "
                      "(it installs the ${EDGE_CROSS_TRIPLE} compiler and libraries)")
endif()
set(CMAKE_FIND_ROOT_PATH "${EDGE_CROSS_STAGE}" /)

# Programs (protoc, flatc, python) are the build machine's; libraries,
# headers and packages only the target's.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must read the target's .pc files, never the build machine's
# (the staging dir's too, for a stage that holds more than the two packages
# above; the library paths are re-rooted by find_library either way).
set(ENV{PKG_CONFIG_LIBDIR}
    "/usr/lib/${EDGE_CROSS_TRIPLE}/pkgconfig:${EDGE_CROSS_STAGE}/usr/lib/${EDGE_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries run under qemu-user (ctest, and gtest_discover_tests at build
# time). The target's dynamic loader and libraries are the multiarch ones in
# /lib and /usr/lib/<triple>, so qemu needs no -L.
find_program(EDGE_CROSS_QEMU_PATH ${EDGE_CROSS_QEMU} NO_CMAKE_FIND_ROOT_PATH)
if(EDGE_CROSS_QEMU_PATH)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${EDGE_CROSS_QEMU_PATH}")
endif()

# No build-tree RPATH: it would point at the staging dir above, while the
# same libraries are installed in /usr/lib/<triple> (where qemu and the
# device find them). Installed binaries never get one anyway.
set(CMAKE_SKIP_BUILD_RPATH ON)
