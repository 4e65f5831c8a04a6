#!/bin/sh
# Builds plugins/examples/filter_example with its own cmake invocation,
# against the in-tree headers only (as a plugin author outside the tree
# would), checks it exports just the entry symbol, drops it into a fresh
# plugin directory and loads it with edge_plugin_docs, i.e. the gateway's loader.
#   build_example_out_of_tree.sh <edge source dir> <scratch build dir> <edge_plugin_docs>
set -eu
src=$1
build=$2
docs=$3

rm -rf "$build"
generator=""
if command -v ninja >/dev/null 2>&1; then generator="-G Ninja"; fi
# Plain environment: the example must not depend on the parent build's flags.
# shellcheck disable=SC2086
env -u CXXFLAGS -u LDFLAGS cmake $generator -S "$src/plugins/examples/filter_example" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release -DEDGE_SOURCE_DIR="$src"
cmake --build "$build" --parallel 2

so="$build/filter_example.so"
exports=$(nm -D --defined-only "$so" | awk '{print $3}')
if [ "$exports" != "edge_plugin_entry" ]; then
  echo "FAIL: $so must export only edge_plugin_entry, it exports:" >&2
  echo "$exports" >&2
  exit 1
fi

plugin_dir=$(mktemp -d)
trap 'rm -rf "$plugin_dir"' EXIT
install -m 0755 "$so" "$plugin_dir/"
"$docs" "$plugin_dir" > "$build/reference.md"
if ! grep -q '^### filter_example$' "$build/reference.md" ||
   ! grep -q '| `max_severity` | string | `info` |' "$build/reference.md"; then
  echo "FAIL: edge_plugin_docs did not describe filter_example:" >&2
  cat "$build/reference.md" >&2
  exit 1
fi
echo "OK: filter_example built out of tree and loaded"
