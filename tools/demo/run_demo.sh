#!/usr/bin/env bash
# The demo: a gateway with the SQLite sink and an agent, both on their
# embedded default configs, on loopback. The agent tails the host's own logs
# (/var/log/*.log, syslog, messages, auth.log) plus a file of realistic sshd,
# sudo, cron, firewall and nginx lines this script generates and keeps
# appending to. Then it prints what arrived and where to look.
#   usage: tools/demo/run_demo.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build/release}
cd "$(dirname "$0")/../.."
DEMO=$(pwd)/demo-data
GATEWAY=$BUILD/gateway/edge-gateway
AGENT=$BUILD/agent/edge-agent
EDGECTL=$BUILD/tools/edgectl/edgectl

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

for port in 7400 7401; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port on 127.0.0.1 is in use; the demo's gateway needs 7400 (agents) and 7401 (admin)." >&2
    echo "stop whatever listens there (ss -ltnp 'sport = :$port') and run the demo again." >&2
    exit 1
  fi
done

rm -rf "$DEMO"
mkdir -p "$DEMO/logs"
step "generating 20000 realistic log lines into $DEMO/logs/demo-auth.log"
python3 tools/demo/generate_logs.py "$DEMO/logs/demo-auth.log" 20000

step "starting edge-gateway (embedded defaults: agents on 127.0.0.1:7400, admin on 127.0.0.1:7401, SQLite sink)"
"$GATEWAY" --data-dir "$DEMO/gateway" --ready-file "$DEMO/gateway.ready" >"$DEMO/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$DEMO/gateway.ready" ] && break; sleep 0.1; done
[ -s "$DEMO/gateway.ready" ] || { echo "gateway did not start:"; tail "$DEMO/gateway.log"; exit 1; }

step "starting edge-agent (embedded defaults: tails host logs; plus --tail $DEMO/logs/demo-auth.log)"
"$AGENT" --data-dir "$DEMO/agent" --tail "$DEMO/logs/demo-auth.log" >"$DEMO/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")

step "appending 3000 more lines while the agent follows the file"
for i in 1 2 3 4 5 6; do
  python3 tools/demo/generate_logs.py "$DEMO/logs/demo-auth.log" 500 --append --seed "$((100 + i))"
  sleep 0.5
done

spooled() { sqlite3 -readonly "$DEMO/agent/spool.db" "SELECT count(*) FROM batches" 2>/dev/null || echo "?"; }
arrived() { sqlite3 -readonly "$DEMO/gateway/events.db" "SELECT count(*) FROM events" 2>/dev/null || echo 0; }
step "waiting for the agent's spool to drain"
previous=-1
for _ in $(seq 600); do
  now=$(arrived)
  if [ "$(spooled)" = "0" ] && [ "$now" = "$previous" ]; then break; fi
  previous=$now
  sleep 0.5
done

step "gateway metrics (http://127.0.0.1:7401/metrics)"
python3 - <<'PY' || true
import urllib.request
text = urllib.request.urlopen("http://127.0.0.1:7401/metrics", timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith(("edge_gateway_events_", "edge_gateway_batches_", "edge_gateway_connections ")):
        print("   ", line)
PY

step "stopping agent and gateway"
kill -TERM "${pids[@]}" 2>/dev/null || true
wait || true
pids=()

step "what arrived"
"$EDGECTL" sink summary --db "$DEMO/gateway/events.db" --latest 5
echo
"$EDGECTL" spool stats --spool "$DEMO/agent/spool.db"
cat <<EOT

Where to look:
  events (SQLite sink)   sqlite3 $DEMO/gateway/events.db "SELECT datetime(ts/1e9,'unixepoch'), host, source, raw FROM events LIMIT 10"
  agent spool            $DEMO/agent/spool.db   (edgectl spool stats --spool ...)
  process logs           $DEMO/gateway.log  $DEMO/agent.log
  default configs        $GATEWAY --print-default-config ; $AGENT --print-default-config
  docs                   docs/agent.md docs/gateway.md docs/protocol.md docs/spool.md
EOT
