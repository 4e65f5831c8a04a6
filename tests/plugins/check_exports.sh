#!/bin/sh
# Fails unless every given plugin .so exports exactly one symbol,
# edge_plugin_entry (-fvisibility=hidden plus the version script).
#   check_exports.sh <plugin.so>...
set -eu
status=0
for so in "$@"; do
  exports=$(nm -D --defined-only "$so" | awk '{print $3}')
  if [ "$exports" != "edge_plugin_entry" ]; then
    echo "FAIL: $so must export only edge_plugin_entry, it exports:" >&2
    echo "$exports" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "OK: $# plugins export only edge_plugin_entry"
exit $status
