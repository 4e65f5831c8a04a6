#!/usr/bin/env bash
# Prepares a Debian 12 (amd64) machine to cross-build edge-agent for ARM and
# to run the ARM binaries under qemu-user. Safe to run again: it only adds
# what is missing.
#
#   cross/setup.sh                 both targets (aarch64 and armhf)
#   cross/setup.sh aarch64         one target (aarch64 | armhf)
#
# What it does, per target (see docs/cross-compiling.md):
#   1. dpkg --add-architecture arm64|armhf (Debian multiarch)
#   2. apt-get install crossbuild-essential-<arch>, qemu-user, the native
#      code generators (protoc, flatc: amd64 binaries, they run on the build
#      machine) and the <pkg>:<arch> -dev packages the agent links
#   3. stages the two -dev packages Debian 12 does not mark Multi-Arch
#      (libyaml-cpp-dev, libhttp-parser-dev) under /opt/edge-cross/<triple>:
#      installing their :arm64 variant would remove the :amd64 one the native
#      build needs, so they are unpacked beside the system instead. Their
#      runtime libraries are Multi-Arch and installed normally.
set -euo pipefail

STAGE_ROOT=${EDGE_CROSS_STAGE_ROOT:-/opt/edge-cross}

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "cross/setup.sh: $*" >&2; exit 1; }

# Libraries the agent build needs for the target: everything
# cmake/EdgeDependencies.cmake looks for with EDGE_AGENT_ONLY=ON, plus
# GoogleTest for the unit tests. Header-only packages that are Multi-Arch:
# foreign (nlohmann-json3-dev, libcli11-dev) serve every architecture from the
# native install.
TARGET_DEV=(
  libc6
  libuv1-dev libluajit-5.1-dev libpcre2-dev libprotobuf-dev libflatbuffers-dev
  libzstd-dev libsqlite3-dev libspdlog-dev libfmt-dev libmbedtls-dev
  libgtest-dev libgmock-dev
  libyaml-cpp0.7 libhttp-parser2.9
)
# -dev packages without Multi-Arch: same, staged (name:runtime package).
STAGED_DEV=(libyaml-cpp-dev:libyaml-cpp0.7 libhttp-parser-dev:libhttp-parser2.9)
NATIVE=(
  cmake ninja-build pkg-config file binutils python3 procps
  protobuf-compiler flatbuffers-compiler nlohmann-json3-dev libcli11-dev
  libyaml-cpp-dev libhttp-parser-dev qemu-user dpkg-dev
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "run as root (it installs Debian packages)"
  sudo=sudo
fi
apt_get() {
  # Another apt run (another shell, unattended upgrades) holds the lock for a
  # while at most; wait for it rather than failing.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 "$@"
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

update_indexes() {
  log "apt-get update"
  # One failing index (a mirror mid-sync, a third-party source without ARM
  # indexes) must not stop the setup when the others are there: the install
  # after it fails clearly if something it needs has no candidate.
  if ! apt_get update -qq; then
    sleep 5
    apt_get update -qq || echo "cross/setup.sh: warning: apt-get update reported errors (above); going on" >&2
  fi
}

install_missing() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$updated" -eq 1 ] || { update_indexes; updated=1; }
  log "installing ${#missing[@]} packages: ${missing[*]}"
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Sets arch, triple, qemu and cxx for a target name.
target_names() {
  case "$1" in
    aarch64) arch=arm64 triple=aarch64-linux-gnu qemu=qemu-aarch64 ;;
    armhf) arch=armhf triple=arm-linux-gnueabihf qemu=qemu-arm ;;
    *) die "unknown target '$1': use aarch64 or armhf" ;;
  esac
  cxx=$triple-g++
}

setup_target() {
  local t=$1 added=0 p
  target_names "$t"
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    log "enabling multiarch: dpkg --add-architecture $arch"
    $sudo dpkg --add-architecture "$arch"
    added=1 updated=0
  fi
  local wanted=("crossbuild-essential-$arch")
  for p in "${TARGET_DEV[@]}"; do wanted+=("$p:$arch"); done
  if ! install_missing "${wanted[@]}"; then
    # Leave no half-enabled architecture behind: with it, every later plain
    # 'apt-get update' on this machine would keep failing on its indexes.
    if [ "$added" -eq 1 ] && ! dpkg-query -W -f='${Package}:${Architecture}\n' 2>/dev/null | grep -q ":$arch$"; then
      $sudo dpkg --remove-architecture "$arch" || true
    fi
    echo "cross/setup.sh: $t: could not install the $arch packages (apt's messages above)." >&2
    echo "  A 'File has unexpected size' error on a $arch index is the mirror mid-sync: run again later." >&2
    return 1
  fi

  # Stage the non-multiarch -dev packages. The stamp records the exact
  # versions so an upgrade of the runtime library re-stages its headers.
  local stage="$STAGE_ROOT/$triple" want_stamp="" pair dev runtime version tmp deb
  for pair in "${STAGED_DEV[@]}"; do
    dev=${pair%%:*} runtime=${pair##*:}
    version=$(dpkg-query -W -f='${Version}' "$runtime:$arch")
    want_stamp+="$dev=$version "
  done
  if ! [ -f "$stage/.stamp" ] || [ "$(cat "$stage/.stamp")" != "$want_stamp" ]; then
    log "staging $want_stamp($arch) into $stage"
    tmp=$(mktemp -d)
    chmod 755 "$tmp"  # apt-get download runs as _apt and writes here
    for pair in "${STAGED_DEV[@]}"; do
      dev=${pair%%:*} runtime=${pair##*:}
      version=$(dpkg-query -W -f='${Version}' "$runtime:$arch")
      # The -dev package's .so symlink points at the runtime library's file,
      # so both are unpacked; the runtime one is also installed, for qemu.
      (cd "$tmp" && apt-get download -qq "$dev:$arch=$version" "$runtime:$arch=$version") \
        || { rm -rf "$tmp"; echo "cross/setup.sh: apt-get download $dev:$arch=$version failed" >&2; return 1; }
    done
    $sudo rm -rf "$stage"
    $sudo mkdir -p "$stage"
    for deb in "$tmp"/*.deb; do $sudo dpkg-deb -x "$deb" "$stage"; done
    echo "$want_stamp" | $sudo tee "$stage/.stamp" >/dev/null
    rm -rf "$tmp"
  fi

  command -v "$qemu" >/dev/null || { echo "cross/setup.sh: $qemu missing (package qemu-user)" >&2; return 1; }
  command -v "$cxx" >/dev/null || { echo "cross/setup.sh: $cxx missing (crossbuild-essential-$arch)" >&2; return 1; }
  log "$t ready: $cxx, $qemu, $arch libraries, staged $stage"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64 armhf)
for t in "${targets[@]}"; do target_names "$t"; done  # reject typos before installing

updated=0
install_missing "${NATIVE[@]}" || die "could not install the native tools: ${NATIVE[*]}"
failed=()
for t in "${targets[@]}"; do setup_target "$t" || failed+=("$t"); done
[ ${#failed[@]} -eq 0 ] || die "setup failed for: ${failed[*]}"
log "cross setup done for: ${targets[*]}"
