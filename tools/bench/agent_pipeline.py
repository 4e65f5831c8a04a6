#!/usr/bin/env python3
"""Benchmark of the agent path: file -> edge-agent (durable SQLite spool in its
default mode) -> edge-gateway (events acked and discarded after decode).

Measures, as issue 3 asks (compare with ../shared/bench/README.md):
  throughput  lines/s from agent start until the gateway has received every
              line (acks flow back; the spool is durable, synchronous=normal)
  load RSS    agent peak RSS during that run (VmHWM)
  CPU         CPU seconds of the agent and of the gateway per run
  idle RSS    a fresh agent tailing a quiet file, after it settled
  1k lines/s  agent CPU share while a writer appends 1,000 lines/s

Every figure is the median of --runs runs. Nothing here is a pass/fail test;
the numbers go into notes and docs.

The workload is the standard one (../shared/bench/gen_events.py: JSON lines of
about 236 bytes shaped like sshd events) when that script is found (or
EDGE_SHARED_DIR points at the shared folder); otherwise, or with
--synthetic, lines of --line-bytes generated here.

  python3 tools/bench/agent_pipeline.py --build build/release
  python3 tools/bench/agent_pipeline.py --build build/release --events /tmp/events-2m.ndjson
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

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_kib(pid):
    """(current RSS, peak RSS) in KiB from /proc/PID/status."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def memory_breakdown_kib(pid):
    """{"Pss", "Pss_Anon", "Rss"} in KiB from /proc/PID/smaps_rollup: PSS
    charges each shared-library page to all processes mapping it, so it
    says what the agent itself costs a host."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Pss_Anon"):
                values[key] = int(rest.split()[0])
    return values


def scrape(port):
    """/metrics as {"name{labels}": value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values


def shared_generator():
    """Path of the standard workload generator, or None."""
    root = os.environ.get("EDGE_SHARED_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared")
    path = os.path.join(root, "bench", "gen_events.py")
    return path if os.path.exists(path) else None


def write_lines(path, count, line_bytes, seed=1, mode="w"):
    """Deterministic auth-log-like lines of exactly line_bytes (newline included)."""
    rng = random.Random(seed)
    users = ["root", "admin", "alice", "bob", "deploy", "postgres", "ubuntu", "git"]
    with open(path, mode) as f:
        chunk = []
        for i in range(count):
            head = (f"2026-11-23T10:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z host-{i % 97:02d} "
                    f"sshd[{1000 + i % 5000}]: Failed password for {rng.choice(users)} from "
                    f"10.{i % 256}.{(i // 256) % 256}.{rng.randrange(256)} port {1024 + i % 60000} ssh2 seq={i} ")
            chunk.append(head.ljust(line_bytes - 1, "x")[: line_bytes - 1] + "\n")
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


class Bench:
    def __init__(self, build, workdir, output_yaml=""):
        self.gateway_bin = os.path.join(build, "gateway", "edge-gateway")
        self.agent_bin = os.path.join(build, "agent", "edge-agent")
        for path in (self.gateway_bin, self.agent_bin):
            if not os.access(path, os.X_OK):
                sys.exit(f"{path} is missing: build it first (cmake --preset release && "
                         f"cmake --build --preset release) or pass --build")
        self.workdir = workdir
        self.output_yaml = output_yaml  # extra keys for the agent's output section
        self.procs = []

    def start_gateway(self, name):
        data = os.path.join(self.workdir, name)
        os.makedirs(data, exist_ok=True)
        config = os.path.join(data, "gateway.yaml")
        ready = os.path.join(data, "ready.json")
        with open(config, "w") as f:
            f.write(f"""
gateway:
  listen: 127.0.0.1:0
  data_dir: {data}
  tls: {{enabled: false, allow_plaintext: true}}
admin:
  listen: 127.0.0.1:0
log: {{level: warn}}
sinks:
  discard: {{enabled: true}}
""")
        proc = subprocess.Popen([self.gateway_bin, "--config", config, "--ready-file", ready],
                                stdout=open(os.path.join(data, "gateway.log"), "w"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        deadline = time.monotonic() + 30
        while not os.path.exists(ready) or os.path.getsize(ready) == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gateway did not start; see {data}/gateway.log")
            time.sleep(0.05)
        time.sleep(0.05)
        with open(ready) as f:
            info = json.load(f)
        return proc, info["listen_port"], info["admin_port"]

    def start_agent(self, name, gateway_port, log_path, start_at="beginning"):
        data = os.path.join(self.workdir, name)
        shutil.rmtree(data, ignore_errors=True)
        os.makedirs(data)
        admin_port = free_port()
        config = os.path.join(data, "agent.yaml")
        # The embedded defaults except where a benchmark must differ: one
        # input on the workload file, this gateway, an admin port to scrape.
        with open(config, "w") as f:
            f.write(f"""
agent:
  data_dir: {data}
log: {{level: warn}}
admin:
  listen: 127.0.0.1:{admin_port}
inputs:
  - type: file
    name: bench
    paths: [{json.dumps(log_path)}]
    start_at: {start_at}
output:
  gateways: ["127.0.0.1:{gateway_port}"]
  tls: {{enabled: false, allow_plaintext: true}}  # loopback; tools/bench/tls_throughput.py measures TLS
{self.output_yaml}""")
        proc = subprocess.Popen([self.agent_bin, "--config", config],
                                stdout=open(os.path.join(data, "agent.log"), "w"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc, admin_port

    def stop(self, proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self):
        for proc in self.procs:
            self.stop(proc)
        self.procs.clear()

    def throughput_run(self, run, log_path, lines):
        gateway, port, gw_admin = self.start_gateway(f"gw-{run}")
        gw_cpu0 = cpu_seconds(gateway.pid)
        start = time.monotonic()
        agent, _ = self.start_agent(f"agent-{run}", port, log_path)
        peak_rss = 0
        received = 0
        deadline = start + 600
        while received < lines:
            if agent.poll() is not None:
                sys.exit(f"agent exited with {agent.returncode}; see {self.workdir}/agent-{run}/agent.log")
            if time.monotonic() > deadline:
                sys.exit(f"only {received} of {lines} lines arrived in 600 s")
            time.sleep(0.05)
            peak_rss = max(peak_rss, memory_kib(agent.pid)[1])
            received = scrape(gw_admin).get("edge_gateway_events_received_total", 0)
        elapsed = time.monotonic() - start
        result = {
            "lines_per_s": lines / elapsed,
            "seconds": elapsed,
            "agent_cpu_s": cpu_seconds(agent.pid),
            "gateway_cpu_s": cpu_seconds(gateway.pid) - gw_cpu0,
            "agent_peak_rss_mib": max(peak_rss, memory_kib(agent.pid)[1]) / 1024,
        }
        self.stop(agent)
        self.stop(gateway)
        self.procs.clear()
        return result

    def idle_and_trickle_run(self, run, rate, seconds, settle):
        """A fresh agent on a quiet file: idle RSS and CPU; then `rate` lines/s."""
        gateway, port, _ = self.start_gateway(f"gw-idle-{run}")
        log_path = os.path.join(self.workdir, f"trickle-{run}.log")
        write_lines(log_path, 100, 250, seed=run)
        agent, _ = self.start_agent(f"agent-idle-{run}", port, log_path)
        time.sleep(settle)
        cpu0, t0 = cpu_seconds(agent.pid), time.monotonic()
        time.sleep(seconds)
        idle_cpu = (cpu_seconds(agent.pid) - cpu0) / (time.monotonic() - t0)
        idle_rss = memory_kib(agent.pid)[0] / 1024
        breakdown = memory_breakdown_kib(agent.pid)
        # The writer appends every 100 ms, the way a busy service logs.
        cpu0, t0 = cpu_seconds(agent.pid), time.monotonic()
        written = 0
        next_tick = t0
        while time.monotonic() - t0 < seconds:
            write_lines(log_path, rate // 10, 250, seed=written, mode="a")
            written += rate // 10
            next_tick += 0.1
            time.sleep(max(0.0, next_tick - time.monotonic()))
        trickle_cpu = (cpu_seconds(agent.pid) - cpu0) / (time.monotonic() - t0)
        trickle_rss = memory_kib(agent.pid)[0] / 1024
        self.stop(agent)
        self.stop(gateway)
        self.procs.clear()
        return {"idle_rss_mib": idle_rss, "idle_pss_mib": breakdown.get("Pss", 0) / 1024,
                "idle_anon_mib": breakdown.get("Pss_Anon", 0) / 1024, "idle_cpu_pct": idle_cpu * 100,
                "trickle_cpu_pct": trickle_cpu * 100, "trickle_rss_mib": trickle_rss,
                "trickle_lines_per_s": written / seconds}


def median_table(results):
    keys = results[0].keys()
    return {key: statistics.median(r[key] for r in results) for key in keys}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build/release", help="build directory with agent/ and gateway/")
    parser.add_argument("--lines", type=int, default=2_000_000, help="lines in the generated workload")
    parser.add_argument("--line-bytes", type=int, default=250, help="bytes per generated line, newline included")
    parser.add_argument("--events", help="use this file (e.g. shared/bench gen_events.py output) instead")
    parser.add_argument("--synthetic", action="store_true", help="generated lines even if the shared workload exists")
    parser.add_argument("--compression-level", type=int, help="output.compression_level (default: the agent's)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trickle-rate", type=int, default=1000, help="lines/s for the CPU-at-low-rate run")
    parser.add_argument("--trickle-seconds", type=int, default=20)
    parser.add_argument("--skip-idle", action="store_true", help="only the throughput runs")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="edge-bench-")
    output_yaml = ""
    if args.compression_level is not None:
        output_yaml += f"  compression_level: {args.compression_level}\n"
    bench = Bench(args.build, workdir, output_yaml)
    try:
        if args.events:
            log_path = os.path.abspath(args.events)
            with open(log_path, "rb") as f:
                lines = sum(1 for _ in f)
        elif shared_generator() and not args.synthetic:
            log_path = os.path.join(workdir, "events.ndjson")
            lines = args.lines
            subprocess.run([sys.executable, shared_generator(), str(lines), log_path], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            log_path = os.path.join(workdir, "workload.log")
            lines = args.lines
            write_lines(log_path, lines, args.line_bytes)
        size_mib = os.path.getsize(log_path) / (1 << 20)
        print(f"workload: {lines:,} lines, {size_mib:.0f} MiB ({log_path})", file=sys.stderr)

        runs = []
        for run in range(args.runs):
            result = bench.throughput_run(run, log_path, lines)
            print(f"run {run + 1}: " + ", ".join(f"{k}={v:,.2f}" for k, v in result.items()), file=sys.stderr)
            runs.append(result)
        report = {"workload_lines": lines, "throughput": median_table(runs), "throughput_runs": runs}

        if not args.skip_idle:
            idle = []
            for run in range(args.runs):
                result = bench.idle_and_trickle_run(run, args.trickle_rate, args.trickle_seconds, settle=3)
                print(f"idle/trickle run {run + 1}: " + ", ".join(f"{k}={v:,.2f}" for k, v in result.items()),
                      file=sys.stderr)
                idle.append(result)
            report["idle"] = median_table(idle)
            report["idle_runs"] = idle

        if args.json:
            print(json.dumps(report, indent=2))
        else:
            t = report["throughput"]
            print(f"\nfile -> agent -> gateway (discard), median of {args.runs}:")
            print(f"  throughput        {t['lines_per_s']:>12,.0f} lines/s   (target >= 900,000; Fluent Bit ~600,000)")
            print(f"  agent CPU         {t['agent_cpu_s']:>12.2f} s per {lines:,} lines")
            print(f"  gateway CPU       {t['gateway_cpu_s']:>12.2f} s")
            print(f"  agent peak RSS    {t['agent_peak_rss_mib']:>12.1f} MiB      (target <= 64; Fluent Bit ~160)")
            if "idle" in report:
                i = report["idle"]
                print(f"  idle agent RSS    {i['idle_rss_mib']:>12.1f} MiB      (target <= 8; Fluent Bit ~15)")
                print(f"    of which PSS    {i['idle_pss_mib']:>12.1f} MiB      (shared library pages split among their users)")
                print(f"    anonymous       {i['idle_anon_mib']:>12.1f} MiB      (the agent's own heap and stacks)")
                print(f"  idle agent CPU    {i['idle_cpu_pct']:>12.2f} %")
                print(f"  CPU at {i['trickle_lines_per_s']:,.0f} lines/s {i['trickle_cpu_pct']:>6.2f} % of a core (target <= 1)")
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
