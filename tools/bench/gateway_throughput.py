#!/usr/bin/env python3
"""Gateway throughput and idle-connection memory, the gateway alone.

Starts edge-gateway (discard sink, plaintext on loopback) and drives it with
gateway_loadgen: pre-encoded batches over several connections within the
gateway's credit (no agent cost), once per `--workers` value, then N idle
connections. Reports events/s acked, the gateway's CPU seconds (from
/proc/<pid>/stat, so the figure does not depend on the load generator
sharing the machine) and events per gateway core-second, and the gateway's
RSS per idle connection.

    ninja -C build/release edge-gateway gateway_loadgen
    python3 tools/bench/gateway_throughput.py --build build/release

The raw lines come from the standard workload (../shared/bench/gen_events.py)
when it is there, else gateway_loadgen's synthetic 236-byte JSON lines.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GEN_EVENTS = os.path.join(ROOT, "..", "shared", "bench", "gen_events.py")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class GatewayProcess:
    def __init__(self, build, workdir, workers, max_connections=20000):
        self.config = os.path.join(workdir, f"gw-{workers}.yaml")
        self.ready = os.path.join(workdir, f"gw-{workers}.ready")
        with open(self.config, "w") as f:
            f.write(f"""
gateway:
  listen: 127.0.0.1:0
  data_dir: {workdir}/data-{workers}
  workers: {workers}
  max_connections: {max_connections}
  tls: {{enabled: false, allow_plaintext: true}}
admin: {{listen: ""}}
log: {{level: warn}}
sinks:
  discard: {{enabled: true}}
""")
        self.log = open(os.path.join(workdir, f"gw-{workers}.log"), "wb")
        self.proc = subprocess.Popen([os.path.join(build, "gateway", "edge-gateway"), "--config", self.config,
                                      "--ready-file", self.ready], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.time() > deadline:
                sys.exit(f"edge-gateway did not start; see {self.log.name}")
            time.sleep(0.05)
        time.sleep(0.05)
        with open(self.ready) as f:
            self.port = json.load(f)["listen_port"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def loadgen(build, *args):
    out = subprocess.run([os.path.join(build, "tools", "bench", "gateway_loadgen"), *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    if not out.stdout.strip():
        sys.exit(f"gateway_loadgen failed: {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    parser.add_argument("--workers", default="1,2", help="comma-separated gateway.workers values")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch-events", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=10000, help="idle connections (0 = skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="edge-gw-bench-") as workdir:
        lines = []
        if os.path.exists(GEN_EVENTS):
            lines_file = os.path.join(workdir, "events.ndjson")
            subprocess.run([sys.executable, GEN_EVENTS, "100000", lines_file], check=True,
                           stdout=subprocess.DEVNULL)
            lines = ["--lines", lines_file]
            print(f"workload: standard ({GEN_EVENTS}, 100,000 distinct lines)")
        else:
            print("workload: synthetic lines (../shared/bench/gen_events.py not found)")

        results = []
        for workers in [int(w) for w in args.workers.split(",")]:
            gateway = GatewayProcess(args.build, workdir, workers)
            try:
                before = cpu_seconds(gateway.proc.pid)
                run = loadgen(args.build, "--port", gateway.port, "--connections", args.connections,
                              "--seconds", args.seconds, "--batch-events", args.batch_events, *lines)
                cpu = cpu_seconds(gateway.proc.pid) - before
            finally:
                gateway.stop()
            per_core = run["events_acked"] / cpu if cpu > 0 else 0
            results.append((workers, run, cpu, per_core))
            print(f"workers={workers}: {run['events_per_second']:,.0f} events/s acked "
                  f"({run['events_acked']:,} in {run['seconds']:.1f} s, {args.connections} connections, "
                  f"{args.batch_events} events/batch); gateway CPU {cpu:.2f} s = "
                  f"{cpu / max(run['events_acked'], 1) * 1e9:.0f} ns/event = {per_core:,.0f} events per core-second")

        if args.idle:
            gateway = GatewayProcess(args.build, workdir, 1, max_connections=args.idle + 100)
            try:
                base = rss_bytes(gateway.proc.pid)
                holder = subprocess.Popen([os.path.join(args.build, "tools", "bench", "gateway_loadgen"),
                                           "--port", str(gateway.port), "--idle", str(args.idle),
                                           "--hold-seconds", "30"], stdout=subprocess.PIPE, text=True)
                report = json.loads(holder.stdout.readline())
                time.sleep(1)
                loaded = rss_bytes(gateway.proc.pid)
                holder.terminate()
                holder.wait()
            finally:
                gateway.stop()
            per = (loaded - base) / max(report["connected"], 1)
            print(f"idle: {report['connected']:,} connections (failed {report['failed']}) in "
                  f"{report['connect_seconds']:.1f} s; gateway RSS {base / 2**20:.1f} MiB -> "
                  f"{loaded / 2**20:.1f} MiB = {per / 1024:.1f} KiB per idle connection "
                  f"(projected 10k: {(base + per * 10000) / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
