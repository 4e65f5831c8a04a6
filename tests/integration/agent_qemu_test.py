"""End-to-end across architectures: an ARM edge-agent (aarch64 or armhf,
cross-compiled) runs under qemu-user against the native x86-64 edge-gateway
(SQLite sink). Every line appended to a file must arrive exactly once, with the
same bytes, in seq order, and the agent's spool must drain; a kill -9 of the
emulated agent must lose and duplicate nothing.

It needs an ARM build, so it skips unless EDGE_CROSS_AGENT names one:
  EDGE_CROSS_AGENT=build/agent-lean-aarch64/agent/edge-agent \\
  EDGE_GATEWAY=build/ci/gateway/edge-gateway python3 -m unittest -v agent_qemu_test
(./dev.sh cross does this.) The emulator is picked from the binary's ELF
header (qemu-aarch64 or qemu-arm); EDGE_CROSS_EMULATOR overrides it.
"""
import os
import shutil
import struct
import tempfile
import time
import unittest

import e2e_agent_gateway_test as e2e
from harness import Agent, Gateway, wait_for

# ELF e_machine values of the targets we build for.
_EMULATORS = {183: "qemu-aarch64", 40: "qemu-arm"}


def elf_machine(path):
    """e_machine of an ELF file, or None when it is not one."""
    with open(path, "rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    little = header[5] == 1
    return struct.unpack("<H" if little else ">H", header[18:20])[0]


def cross_agent():
    """(binary, emulator argv) for EDGE_CROSS_AGENT; raises SkipTest without it."""
    path = os.environ.get("EDGE_CROSS_AGENT")
    if not path:
        raise unittest.SkipTest(
            "EDGE_CROSS_AGENT is not set: this test needs an ARM build of edge-agent "
            "(./dev.sh cross, or cmake --preset agent-lean-aarch64; see docs/cross-compiling.md)")
    if not os.path.isfile(path):
        raise AssertionError(f"EDGE_CROSS_AGENT={path}: no such file; build it with "
                             "cmake --build --preset agent-lean-aarch64")
    machine = elf_machine(path)
    if machine not in _EMULATORS:
        raise AssertionError(f"EDGE_CROSS_AGENT={path} is not an aarch64 or armhf ELF binary "
                             f"(e_machine {machine}); point it at a cross-compiled edge-agent")
    emulator = os.environ.get("EDGE_CROSS_EMULATOR") or _EMULATORS[machine]
    found = shutil.which(emulator)
    if not found:
        raise AssertionError(f"{emulator} not found: run cross/setup.sh (installs qemu-user)")
    return os.path.abspath(path), [found]


class EmulatedAgent(Agent):
    """harness.Agent, with the ARM binary started under qemu-user."""

    def __init__(self, *args, binary, emulator, **kwargs):
        super().__init__(*args, **kwargs)
        self.cross_binary = binary
        self.emulator = emulator

    def _spawn(self, argv):
        # argv[0] is the native EDGE_AGENT that harness.Agent names; the rest
        # (--config ...) is kept.
        super()._spawn(self.emulator + [self.cross_binary] + argv[1:])


class AgentUnderQemuTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary, cls.emulator = cross_agent()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-qemu-")
        self.workdir = self.tmp.name
        self.log_file = os.path.join(self.workdir, "app.log")
        self.processes = []
        # harness.Agent checks EDGE_AGENT names a file before _spawn replaces
        # it; the ARM binary is one.
        self._saved_agent_env = os.environ.get("EDGE_AGENT")
        os.environ["EDGE_AGENT"] = self.binary

    def tearDown(self):
        for p in self.processes:
            if p.running():
                p.kill9()
        if self._saved_agent_env is None:
            os.environ.pop("EDGE_AGENT", None)
        else:
            os.environ["EDGE_AGENT"] = self._saved_agent_env
        self.tmp.cleanup()

    def start(self, process):
        self.processes.append(process)
        return process.start()

    def agent(self, gateway):
        return self.start(EmulatedAgent(self.workdir, gateway.listen_port, [self.log_file],
                                        binary=self.binary, emulator=self.emulator))

    def append(self, lines):
        with open(self.log_file, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))

    def diagnostics(self):
        return "\n".join(p.log_tail() for p in self.processes)

    def assert_exactly(self, gateway, agent, expected):
        # Emulation is 5-20x slower than native: generous limits, no timing assertions.
        wait_for(lambda: gateway.row_count() >= len(expected), 240,
                 f"{len(expected)} rows in the sink", self.diagnostics)
        wait_for(lambda: agent.spool_batches() == 0, 120, "the agent's spool to drain", self.diagnostics)
        rows = gateway.rows()
        self.assertEqual(len(rows), len(expected), "row count in the sink")
        self.assertEqual([r[9] for r in rows], expected, "raw lines in seq order")
        seqs = [r[2] for r in rows]
        self.assertEqual(len(set(seqs)), len(seqs), "duplicate seq")
        self.assertEqual(seqs, sorted(seqs))
        for tenant, agent_id, _, ts, kind, source, host, _, _, _ in rows:
            self.assertEqual(tenant, "default")
            self.assertTrue(agent_id)
            # Nanosecond timestamps are 64-bit on every target (armhf's long is 32-bit).
            self.assertGreater(ts, 1_600_000_000 * 10**9)
            self.assertLess(ts, (int(time.time()) + 3600) * 10**9)
            self.assertEqual(kind, "log")
            self.assertEqual(source, self.log_file)
            self.assertEqual(host, "e2e-host")
        self.assertEqual(len({r[1] for r in rows}), 1, "one agent id")

    def assert_emulated(self, agent):
        """The agent process really is qemu running the ARM binary (read once
        the child has exec'd: right after fork its cmdline is still empty)."""
        def cmdline():
            with open(f"/proc/{agent.proc.pid}/cmdline", "rb") as f:
                return [arg for arg in f.read().split(b"\0") if arg]
        wait_for(cmdline, 30, "the agent process to exec", self.diagnostics)
        self.assertIn(self.binary.encode(), cmdline())
        exe = os.readlink(f"/proc/{agent.proc.pid}/exe")
        self.assertEqual(os.path.realpath(exe), os.path.realpath(self.emulator[0]))

    def test_every_event_arrives_exactly_once_and_spool_drains(self):
        gateway = self.start(Gateway(self.workdir))
        expected = e2e.make_lines(0, 1000)
        self.append(expected)
        agent = self.agent(gateway)
        self.assert_emulated(agent)
        for chunk in range(10):
            lines = e2e.make_lines(1000 + chunk * 100, 100)
            self.append(lines)
            expected += lines
        self.assert_exactly(gateway, agent, expected)
        metrics = gateway.metrics()
        self.assertEqual(metrics.get("edge_gateway_events_committed_total"), len(expected))
        self.assertEqual(metrics.get("edge_gateway_events_received_total"), len(expected))
        # SIGTERM reaches the emulated agent through qemu and it exits cleanly.
        self.assertEqual(agent.stop(60), 0, agent.log_tail())
        self.assertEqual(gateway.stop(), 0, gateway.log_tail())

    def test_kill9_of_emulated_agent_loses_and_duplicates_nothing(self):
        gateway = self.start(Gateway(self.workdir))
        agent = self.agent(gateway)
        expected = []
        for round_ in range(2):
            lines = e2e.make_lines(round_ * 1500, 1500)
            self.append(lines)
            expected += lines
            wait_for(lambda: gateway.row_count() > round_ * 1500 + 100, 180, "some rows of this round",
                     self.diagnostics)
            agent.kill9()  # wherever it is: mid-read, mid-spool or mid-flight
            agent = self.agent(gateway)
        self.assert_exactly(gateway, agent, expected)


if __name__ == "__main__":
    unittest.main()
