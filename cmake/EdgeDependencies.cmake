# Every dependency comes from Debian's packages. A missing one fails the
# configure step with the package to install.
find_package(PkgConfig REQUIRED)

macro(edge_require_pkg prefix module debian_package)
  pkg_check_modules(${prefix} IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${debian_package}")
  endif()
endmacro()

edge_require_pkg(LIBUV libuv libuv1-dev)
edge_require_pkg(LUAJIT luajit libluajit-5.1-dev)
# PCRE2 (8-bit) for the agent's multiline start patterns and regex parser.
if(NOT TARGET PkgConfig::PCRE2)
  edge_require_pkg(PCRE2 libpcre2-8 libpcre2-dev)
endif()

find_package(Protobuf REQUIRED)   # libprotobuf-dev, protobuf-compiler
find_package(FlatBuffers REQUIRED CONFIG)  # libflatbuffers-dev, flatbuffers-compiler
find_program(EDGE_FLATC flatc REQUIRED)
find_package(zstd REQUIRED CONFIG)        # libzstd-dev
find_package(SQLite3 REQUIRED)            # libsqlite3-dev
find_package(yaml-cpp REQUIRED CONFIG)    # libyaml-cpp-dev
find_package(spdlog REQUIRED CONFIG)      # libspdlog-dev
find_package(nlohmann_json REQUIRED CONFIG)  # nlohmann-json3-dev
find_package(CLI11 REQUIRED CONFIG)       # libcli11-dev
find_package(Threads REQUIRED)

# mbedTLS 2.28 ships neither pkg-config nor CMake files on Debian 12.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(MBEDTLS_LIB mbedtls)
find_library(MBEDX509_LIB mbedx509)
find_library(MBEDCRYPTO_LIB mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDTLS_LIB OR NOT MBEDX509_LIB OR NOT MBEDCRYPTO_LIB)
  message(FATAL_ERROR "mbedTLS not found: apt-get install libmbedtls-dev")
endif()
add_library(edge_mbedtls INTERFACE)
target_include_directories(edge_mbedtls SYSTEM INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(edge_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})

# http-parser (Node's original parser) for the small admin HTTP servers.
find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h)
find_library(HTTP_PARSER_LIB http_parser)
if(NOT HTTP_PARSER_INCLUDE_DIR OR NOT HTTP_PARSER_LIB)
  message(FATAL_ERROR "http-parser not found: apt-get install libhttp-parser-dev")
endif()
add_library(edge_http_parser INTERFACE)
target_include_directories(edge_http_parser SYSTEM INTERFACE ${HTTP_PARSER_INCLUDE_DIR})
target_link_libraries(edge_http_parser INTERFACE ${HTTP_PARSER_LIB})

if(NOT EDGE_AGENT_ONLY)
  edge_require_pkg(RDKAFKA rdkafka librdkafka-dev)
  edge_require_pkg(PQXX libpqxx libpqxx-dev)
endif()

if(EDGE_BUILD_TESTS)
  find_package(GTest REQUIRED)            # libgtest-dev, libgmock-dev
endif()
