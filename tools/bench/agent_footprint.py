#!/usr/bin/env python3
"""Footprint of edge-agent: idle RSS and CPU time per 1,000 events, for a
native binary or an ARM one under qemu-user (picked from its ELF header).

  tools/bench/agent_footprint.py --gateway build/ci/gateway/edge-gateway \\
      --agent build/agent-lean-aarch64/agent/edge-agent [--agent build/agent-lean/agent/edge-agent]

For each agent: start a native gateway (SQLite sink) and the agent with one
file input on loopback; wait until it is connected and idle, then sample the
process's VmRSS for --idle-seconds (idle RSS, and idle CPU ticks); append
--events syslog-like lines (~120 bytes each), wait until the gateway has
committed all of them and the agent's spool is empty, and take the agent
process's utime+stime delta (clock ticks, /proc/PID/stat) over that window.
CPU per 1,000 events is that delta scaled, with the idle rate over the same
wall time subtracted. Under qemu the process is the emulator: its RSS includes
qemu's own code cache and its CPU time is the emulation's, so the native
numbers of the same code are printed beside them for scale; --qemu-baseline
also measures a trivial dynamically linked ARM program under qemu.

Counts are bounded (default 20,000 events) and everything is on 127.0.0.1.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "integration"))
from harness import Agent, Gateway, wait_for  # noqa: E402

_EMULATORS = {183: ("qemu-aarch64", "aarch64-linux-gnu-gcc"), 40: ("qemu-arm", "arm-linux-gnueabihf-gcc")}
_TICKS = os.sysconf("SC_CLK_TCK")


def elf_machine(path):
    with open(path, "rb") as f:
        header = f.read(20)
    if header[:4] != b"\x7fELF":
        raise SystemExit(f"{path}: not an ELF binary")
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class BenchAgent(Agent):
    """harness.Agent with the production defaults (info logging, the default
    batch size and flush/poll intervals) instead of the tests' fast debug
    settings, optionally under an emulator."""

    def __init__(self, *args, argv_prefix, binary, **kwargs):
        super().__init__(*args, **kwargs)
        self.argv_prefix = argv_prefix
        self.agent_binary = binary

    def start(self):
        with open(self.config_path, "w") as f:
            f.write(f"""
agent:
  hostname: bench-host
  data_dir: {self.data_dir}
log:
  level: info
inputs:
  - type: file
    name: bench
    paths: ["{self.files[0]}"]
    start_at: beginning
output:
  gateways: ["127.0.0.1:{self.gateway_port}"]
  tls: {{enabled: false, allow_plaintext: true}}  # loopback only
""")
        self._spawn(self.argv_prefix + [self.agent_binary, "--config", self.config_path])
        return self


def measure(agent_path, gateway_path, events, idle_seconds):
    machine = elf_machine(agent_path)
    prefix = []
    if machine in _EMULATORS:
        emulator = shutil.which(_EMULATORS[machine][0])
        if not emulator:
            raise SystemExit(f"{_EMULATORS[machine][0]} not found: run cross/setup.sh")
        prefix = [emulator]
    os.environ["EDGE_GATEWAY"] = gateway_path
    os.environ["EDGE_AGENT"] = agent_path
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as workdir:
        log_file = os.path.join(workdir, "app.log")
        open(log_file, "w").close()
        gateway = Gateway(workdir).start()
        agent = BenchAgent(workdir, gateway.listen_port, [log_file], binary=agent_path, argv_prefix=prefix)
        agent.start()
        try:
            pid = agent.proc.pid
            # Connected and settled: one line through, then quiet.
            with open(log_file, "a") as f:
                f.write("warm-up line\n")
            def warmed_up():
                if not agent.running():
                    raise SystemExit(f"the agent exited with {agent.proc.returncode}\n{agent.log_tail()}")
                return gateway.row_count() == 1
            wait_for(warmed_up, 240, "the warm-up line at the gateway", agent.log_tail)
            time.sleep(2)
            t0, c0 = time.monotonic(), cpu_ticks(pid)
            rss, anon = [], []
            while time.monotonic() - t0 < idle_seconds:
                rss.append(status_kib(pid, "VmRSS"))
                anon.append(status_kib(pid, "RssAnon"))
                time.sleep(0.5)
            idle_wall = time.monotonic() - t0
            idle_rate = (cpu_ticks(pid) - c0) / idle_wall  # ticks per second while idle

            line = "<34>Nov  2 08:00:{:02d} web-01 sshd[{}]: Failed password for root from 10.0.0.{} port {} ssh2\n"
            t1, c1 = time.monotonic(), cpu_ticks(pid)
            with open(log_file, "a") as f:
                for i in range(events):
                    f.write(line.format(i % 60, 1000 + i % 30000, i % 250, 1024 + i))
            wait_for(lambda: gateway.row_count() == events + 1, 900, f"{events} events at the gateway",
                     agent.log_tail)
            wait_for(lambda: agent.spool_batches() == 0, 300, "the spool to drain", agent.log_tail)
            load_wall = time.monotonic() - t1
            load_ticks = cpu_ticks(pid) - c1
            hwm = status_kib(pid, "VmHWM")
            exit_code = agent.stop(120)
        finally:
            if agent.running():
                agent.kill9()
            gateway.stop()
    net_ticks = max(0.0, load_ticks - idle_rate * load_wall)
    return {
        "agent": agent_path,
        "emulated": bool(prefix),
        "idle_rss_kib": sorted(rss)[len(rss) // 2],
        "idle_anon_kib": sorted(anon)[len(anon) // 2],
        "idle_cpu_pct": 100.0 * idle_rate / _TICKS,
        "events": events,
        "load_wall_s": load_wall,
        "cpu_ms_per_1000": 1000.0 * load_ticks / _TICKS / events * 1000,
        "cpu_ms_per_1000_net": 1000.0 * net_ticks / _TICKS / events * 1000,
        "peak_rss_kib": hwm,
        "exit_code": exit_code,
    }


def qemu_baseline(machine, seconds=3):
    """RSS of a trivial dynamically linked ARM program sleeping under qemu."""
    emulator, cc = _EMULATORS[machine]
    if not shutil.which(cc) or not shutil.which(emulator):
        return None
    with tempfile.TemporaryDirectory() as d:
        src, exe = os.path.join(d, "idle.c"), os.path.join(d, "idle")
        with open(src, "w") as f:
            f.write("#include <unistd.h>\nint main(void) { sleep(%d); return 0; }\n" % (seconds + 5))
        subprocess.run([cc, "-Os", "-o", exe, src], check=True)
        proc = subprocess.Popen([shutil.which(emulator), exe])
        try:
            time.sleep(seconds)
            return status_kib(proc.pid, "VmRSS")
        finally:
            proc.kill()
            proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", action="append", required=True, help="edge-agent binary (repeatable)")
    parser.add_argument("--gateway", required=True, help="native edge-gateway binary")
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement (fresh processes)")
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--qemu-baseline", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.events <= 1_000_000:
        parser.error("--events must be between 1 and 1000000")
    runs = max(1, min(args.runs, 10))
    for path in args.agent:
        for _ in range(runs):
            report(path, measure(os.path.abspath(path), os.path.abspath(args.gateway), args.events,
                                 args.idle_seconds))
        if elf_machine(path) in _EMULATORS and args.qemu_baseline:
            base = qemu_baseline(elf_machine(path))
            if base is not None:
                print(f"  qemu baseline (idle C program under the same emulator): RSS {base / 1024:.1f} MiB")


def report(path, r):
    kind = "qemu" if r["emulated"] else "native"
    print(f"{path} ({kind}): idle RSS {r['idle_rss_kib'] / 1024:.1f} MiB "
          f"(anonymous {r['idle_anon_kib'] / 1024:.1f} MiB), idle CPU {r['idle_cpu_pct']:.2f}%, "
          f"{r['events']} events in {r['load_wall_s']:.1f} s, CPU {r['cpu_ms_per_1000']:.1f} ms per 1000 events "
          f"({r['cpu_ms_per_1000_net']:.1f} ms without the idle rate), peak RSS {r['peak_rss_kib'] / 1024:.1f} MiB, "
          f"exit {r['exit_code']}", flush=True)


if __name__ == "__main__":
    main()
