#!/usr/bin/env python3
"""Agent -> gateway throughput with TLS vs plaintext, on the same data.

What it measures: how fast one edge-agent drains a spool of N events into
one edge-gateway over loopback, once over mutual TLS and once in plaintext.
The spool is filled once beforehand (the agent tails a generated log with no
gateway reachable), and every run starts from a copy of it, so both
transports send byte-identical batches and file reading is not part of the
measurement. A run is timed from the gateway's first committed event to its
N-th (edge_gateway_events_committed_total, polled every 20ms), so process
start and the handshake are left out; CPU seconds of both processes are
reported too. Runs alternate between the transports; medians are reported.

  tools/bench/tls_throughput.py --build build/release [--events 500000]
      [--line-bytes 200] [--runs 3] [--sink sqlite|discard] [--keep DIR]

--sink discard needs a gateway with the discarding sink
(sinks.discard.enabled); with sqlite the sink may be what limits both runs.
The issue's target: TLS loses at most 15% against plaintext.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        values = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


class Bench:
    def __init__(self, args, root):
        self.args = args
        self.root = root
        build = os.path.abspath(args.build)
        self.agent_bin = os.path.join(build, "agent", "edge-agent")
        self.gateway_bin = os.path.join(build, "gateway", "edge-gateway")
        self.edgectl = os.path.join(build, "tools", "edgectl", "edgectl")
        for path in (self.agent_bin, self.gateway_bin, self.edgectl):
            if not os.access(path, os.X_OK):
                raise SystemExit(f"{path} is missing: build edge-agent, edge-gateway and edgectl in "
                                 f"{args.build} first")
        self.ca = os.path.join(root, "ca")
        self.certs = os.path.join(root, "certs")

    def run(self, argv):
        subprocess.run(argv, check=True, capture_output=True)

    def make_pki(self):
        self.run([self.edgectl, "ca", "init", "--dir", self.ca, "--name", "bench CA"])
        self.run([self.edgectl, "cert", "issue", "--ca-dir", self.ca, "--cn", "gw-bench", "--san",
                  "IP:127.0.0.1", "--out-dir", self.certs])
        self.run([self.edgectl, "cert", "issue", "--ca-dir", self.ca, "--agent-id", "bench-agent",
                  "--tenant", "bench", "--out-dir", self.certs])

    def agent_yaml(self, data_dir, gateway_port, tls, admin_port, log_path=None):
        tls_yaml = (f"tls: {{ca: {self.ca}/ca.crt, cert: {self.certs}/bench-agent.crt, "
                    f"key: {self.certs}/bench-agent.key}}" if tls
                    else "tls: {enabled: false, allow_plaintext: true}")
        inputs = (f"inputs:\n  - {{type: file, name: bench, paths: [{log_path}], poll_interval: 50ms}}\n"
                  if log_path else "")
        return f"""agent: {{id: bench-agent, hostname: bench, data_dir: {data_dir}}}
log: {{level: info}}
admin: {{listen: "127.0.0.1:{admin_port}"}}
spool: {{max_bytes: 8GiB}}
{inputs}output:
  gateways: ["127.0.0.1:{gateway_port}"]
  reconnect_min: 50ms
  reconnect_max: 200ms
  {tls_yaml}
"""

    def fill_spool(self):
        """Tails a generated log into a spool with no gateway listening."""
        log_path = os.path.join(self.root, "bench.log")
        n, width = self.args.events, self.args.line_bytes
        # Log-like lines that compress about as well as real logs (zstd ~3-4x),
        # not a run of one character that would make every batch tiny.
        rng = random.Random(42)
        words = ["GET", "POST", "/api/v1/items", "/login", "200", "404", "500", "user", "session",
                 "timeout", "retry", "upstream", "cache", "miss", "hit", "ms", "bytes", "client"]
        with open(log_path, "w") as f:
            for i in range(n):
                line = f"2024-05-01T12:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}Z host-{i % 97} app[{i % 4096}]:"
                while len(line) < width:
                    line += " " + (rng.choice(words) if rng.random() < 0.6 else f"{rng.getrandbits(32):08x}")
                f.write(line[:width] + "\n")
        data_dir = os.path.join(self.root, "seed")
        admin = free_port()
        config = os.path.join(self.root, "seed.yaml")
        with open(config, "w") as f:
            f.write(self.agent_yaml(data_dir, free_port(), False, admin, log_path))
        log = open(os.path.join(self.root, "seed-agent.log"), "wb")
        proc = subprocess.Popen([self.agent_bin, "--config", config], stdout=log, stderr=subprocess.STDOUT)
        try:
            def read_all():
                try:
                    m = metrics(admin)
                except OSError:
                    return False
                read = m.get('edge_agent_events_read_total{input="bench"}', 0)
                spooled = m.get("edge_agent_spool_events", 0)
                return read >= n and spooled >= n
            wait_for(read_all, 600, f"{n} events in the seed spool")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            log.close()
        return data_dir

    def gateway_config(self, tls, port, admin, data_dir):
        tls_yaml = (f"""  tls:
    enabled: true
    cert: {self.certs}/gw-bench.crt
    key: {self.certs}/gw-bench.key
    ca: {self.ca}/ca.crt""" if tls else "  tls: {enabled: false, allow_plaintext: true}")
        sink = ("sinks:\n  discard: {enabled: true}\n" if self.args.sink == "discard"
                else "sinks:\n  sqlite: {synchronous: normal}\n")
        return f"""gateway:
  listen: 127.0.0.1:{port}
  data_dir: {data_dir}
{tls_yaml}
admin:
  listen: 127.0.0.1:{admin}
log: {{level: warn}}
{sink}"""

    def one_run(self, seed_dir, tls, index):
        name = f"{'tls' if tls else 'plain'}-{index}"
        work = os.path.join(self.root, name)
        os.makedirs(work)
        data_dir = os.path.join(work, "agent")
        shutil.copytree(seed_dir, data_dir)
        port, gw_admin, agent_admin = free_port(), free_port(), free_port()
        gw_config = os.path.join(work, "gateway.yaml")
        with open(gw_config, "w") as f:
            f.write(self.gateway_config(tls, port, gw_admin, os.path.join(work, "gateway-data")))
        agent_config = os.path.join(work, "agent.yaml")
        with open(agent_config, "w") as f:
            f.write(self.agent_yaml(data_dir, port, tls, agent_admin))
        gw_log = open(os.path.join(work, "gateway.log"), "wb")
        gateway = subprocess.Popen([self.gateway_bin, "--config", gw_config], stdout=gw_log,
                                   stderr=subprocess.STDOUT)
        agent = None
        agent_log = None
        try:
            wait_for(lambda: self.try_metrics(gw_admin) is not None, 30, "the gateway")
            agent_log = open(os.path.join(work, "agent.log"), "wb")
            started = time.monotonic()
            agent = subprocess.Popen([self.agent_bin, "--config", agent_config], stdout=agent_log,
                                     stderr=subprocess.STDOUT)

            # Timed from the first committed event to the last, so process
            # start, spool opening and the handshake are left out.
            first = {}

            def committed():
                m = self.try_metrics(gw_admin) or {}
                count = m.get("edge_gateway_events_committed_total", 0)
                if count > 0 and not first:
                    first.update(at=time.monotonic(), count=count)
                return count >= self.args.events

            wait_for(committed, 1800, f"{self.args.events} events committed ({name})")
            done = time.monotonic()
            startup = first["at"] - started
            elapsed = (done - first["at"]) * self.args.events / max(self.args.events - first["count"], 1)
            cpu = self.cpu_seconds(agent.pid), self.cpu_seconds(gateway.pid)
            print(f"    ({name}: first commit {startup:.2f}s after the agent started)", file=sys.stderr)
        finally:
            for proc in (agent, gateway):
                if proc is not None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(60)
            gw_log.close()
            if agent_log is not None:
                agent_log.close()
        if not self.args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return elapsed, cpu

    @staticmethod
    def try_metrics(port):
        try:
            return metrics(port)
        except OSError:
            return None

    @staticmethod
    def cpu_seconds(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default="build/release", help="build directory with the binaries")
    parser.add_argument("--events", type=int, default=500000)
    parser.add_argument("--line-bytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="runs per transport")
    parser.add_argument("--sink", choices=["sqlite", "discard"], default="sqlite")
    parser.add_argument("--keep", help="keep the work files in this directory")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="edge-tls-bench-")
    os.makedirs(root, exist_ok=True)
    bench = Bench(args, root)
    try:
        bench.make_pki()
        print(f"filling a spool with {args.events} events of {args.line_bytes} bytes ...", file=sys.stderr)
        seed = bench.fill_spool()
        results = {"plain": [], "tls": []}
        for i in range(args.runs):
            for tls in (False, True):
                elapsed, cpu = bench.one_run(seed, tls, i)
                key = "tls" if tls else "plain"
                results[key].append({"seconds": elapsed, "agent_cpu": cpu[0], "gateway_cpu": cpu[1]})
                print(f"  run {i + 1} {key:5}: {elapsed:7.2f}s  {args.events / elapsed:10.0f} events/s  "
                      f"agent cpu {cpu[0]:.2f}s  gateway cpu {cpu[1]:.2f}s", file=sys.stderr)
        summary = {}
        for key, runs in results.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            summary[key] = {
                "median_seconds": seconds,
                "events_per_second": args.events / seconds,
                "mib_per_second": args.events * args.line_bytes / seconds / (1 << 20),
                "agent_cpu_seconds": statistics.median(r["agent_cpu"] for r in runs),
                "gateway_cpu_seconds": statistics.median(r["gateway_cpu"] for r in runs),
            }
        loss = 1 - summary["tls"]["events_per_second"] / summary["plain"]["events_per_second"]
        summary["tls_loss_percent"] = 100 * loss
        summary["config"] = {"events": args.events, "line_bytes": args.line_bytes, "runs": args.runs,
                             "sink": args.sink}
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            for key in ("plain", "tls"):
                s = summary[key]
                print(f"{key:5}  {s['events_per_second']:10.0f} events/s  {s['mib_per_second']:7.1f} MiB/s "
                      f"(raw lines)  agent cpu {s['agent_cpu_seconds']:.2f}s  gateway cpu "
                      f"{s['gateway_cpu_seconds']:.2f}s")
            print(f"TLS throughput loss: {summary['tls_loss_percent']:.1f}% (target <= 15%)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
