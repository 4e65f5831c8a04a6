#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   ./dev.sh demo   install what is missing, build (release), run the demo
#   ./dev.sh test   install what is missing, build (ci preset), run every test
#                   and the fuzz targets (frame, batch, HELLO; 60 s each)
# Other verbs: deps, build [preset], fuzz [seconds].
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git python3 sqlite3 procps openssl
  clang libclang-rt-14-dev
  libuv1-dev libprotobuf-dev protobuf-compiler libmbedtls-dev librdkafka-dev libpqxx-dev
  libflatbuffers-dev flatbuffers-compiler libzstd-dev libsqlite3-dev libluajit-5.1-dev
  libyaml-cpp-dev libspdlog-dev nlohmann-json3-dev libcli11-dev libhttp-parser-dev
  libpcre2-dev libgtest-dev libgmock-dev bsdutils
)

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "all ${#PACKAGES[@]} Debian packages present"; return; fi
  log "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "run as root or install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() {
  local preset=$1; shift
  log "configure + build (preset $preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -- -j"$(nproc)" "$@"
}

run_fuzz() {
  local seconds=${1:-60}
  build fuzz fuzz_frame_decoder fuzz_batch_decoder fuzz_hello
  for target in frame_decoder batch_decoder hello; do
    log "fuzz $target for ${seconds}s"
    local corpus
    corpus=$(mktemp -d)  # work on a copy: the committed seed corpus stays as it is
    cp tests/fuzz/"$target"/corpus/* "$corpus"/
    build/fuzz/tests/fuzz/fuzz_"$target" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix=build/fuzz/"$target"- "$corpus" 2>&1 | tail -n 12
    rm -rf "$corpus"
  done
}

case "${1:-}" in
  deps) install_deps ;;
  build) install_deps; build "${2:-release}" ;;
  demo) install_deps; build release edge-agent edge-gateway edgectl; exec tools/demo/run_demo.sh build/release ;;
  test)
    install_deps
    build ci
    log "unit + integration tests"
    EDGE_SHARED_DATA="${EDGE_SHARED_DATA:-$(pwd)/../shared/data}" ctest --preset ci
    run_fuzz "${EDGE_FUZZ_SECONDS:-60}"
    log "all tests passed"
    ;;
  fuzz) install_deps; run_fuzz "${2:-60}" ;;
  *) echo "usage: $0 demo|test|deps|build [preset]|fuzz [seconds]" >&2; exit 2 ;;
esac
