"""End-to-end: a real edge-gateway (SQLite sink) and a real edge-agent as
processes on loopback. Lines appended to a file must arrive in the sink
exactly once, with the right content, and the agent's spool must drain.
"""
import json
import os
import socket
import tempfile
import time
import unittest

from harness import Agent, Gateway, wait_for


def make_lines(start, count):
    """Realistic lines with characters that break naive encoders."""
    lines = []
    for i in range(start, start + count):
        variant = i % 5
        if variant == 0:
            lines.append(f"Nov  2 08:00:{i % 60:02d} web-01 sshd[{1000 + i}]: Failed password for root from 10.0.0.{i % 250} port {1024 + i} ssh2")
        elif variant == 1:
            lines.append(json.dumps({"i": i, "msg": "quote \" backslash \\ tab \t end", "ok": True}))
        elif variant == 2:
            lines.append(f"line {i}: unicode \u00e9\u00e8 \u4e2d\u6587 \U0001F600")
        elif variant == 3:
            lines.append(f"line {i}: " + "x" * (i % 700))
        else:
            lines.append(f"line {i}: plain")
    return lines


class EndToEndTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-e2e-")
        self.workdir = self.tmp.name
        self.log_file = os.path.join(self.workdir, "app.log")
        self.processes = []

    def tearDown(self):
        for p in self.processes:
            if p.running():
                p.kill9()
        self.tmp.cleanup()

    def start(self, process):
        self.processes.append(process)
        return process.start()

    def append(self, lines, split_last=False):
        """Appends lines; with split_last the final line is written in two
        writes with a pause, so the agent sees a partial line first."""
        with open(self.log_file, "a", encoding="utf-8") as f:
            if not split_last:
                f.write("".join(l + "\n" for l in lines))
                return
            f.write("".join(l + "\n" for l in lines[:-1]))
            half = len(lines[-1]) // 2
            f.write(lines[-1][:half])
            f.flush()
            time.sleep(0.2)
            f.write(lines[-1][half:] + "\n")

    def diagnostics(self):
        return "\n".join(p.log_tail() for p in self.processes)

    def assert_exactly(self, gateway, agent, expected):
        wait_for(lambda: gateway.row_count() >= len(expected), 90,
                 f"{len(expected)} rows in the sink", self.diagnostics)
        wait_for(lambda: agent.spool_batches() == 0, 60, "the agent's spool to drain", self.diagnostics)
        rows = gateway.rows()
        self.assertEqual(len(rows), len(expected), "row count in the sink")
        self.assertEqual([r[9] for r in rows], expected, "raw lines in seq order")
        seqs = [r[2] for r in rows]
        self.assertEqual(len(set(seqs)), len(seqs), "duplicate seq")
        self.assertEqual(seqs, sorted(seqs))
        for tenant, agent_id, _, ts, kind, source, host, severity, fields, _ in rows:
            self.assertEqual(tenant, "default")
            self.assertTrue(agent_id)
            self.assertGreater(ts, 1_600_000_000 * 10**9)
            self.assertEqual(kind, "log")
            self.assertEqual(source, self.log_file)
            self.assertEqual(host, "e2e-host")
            self.assertIsInstance(json.loads(fields), dict)
        self.assertEqual(len({r[1] for r in rows}), 1, "one agent id")
        return rows

    def test_appended_lines_arrive_exactly_once_and_spool_drains(self):
        gateway = self.start(Gateway(self.workdir))
        expected = make_lines(0, 1000)
        self.append(expected)
        agent = self.start(Agent(self.workdir, gateway.listen_port, [self.log_file]))
        for chunk in range(20):
            lines = make_lines(1000 + chunk * 100, 100)
            self.append(lines, split_last=(chunk % 5 == 0))
            expected += lines
            time.sleep(0.02)
        self.assert_exactly(gateway, agent, expected)
        metrics = gateway.metrics()
        self.assertEqual(metrics.get("edge_gateway_events_committed_total"), len(expected))
        self.assertEqual(metrics.get("edge_gateway_events_received_total"), len(expected))
        self.assertEqual(agent.stop(), 0, agent.log_tail())
        self.assertEqual(gateway.stop(), 0, gateway.log_tail())

    def test_agent_waits_for_gateway_and_survives_its_restart(self):
        # Reserve a port for the gateway so the agent can be started first.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        expected = make_lines(0, 500)
        self.append(expected)
        agent = self.start(Agent(self.workdir, port, [self.log_file]))
        wait_for(lambda: agent.spool_batches(), 30, "batches spooled while no gateway runs", self.diagnostics)
        gateway = self.start(Gateway(self.workdir, listen_port=port))
        wait_for(lambda: gateway.row_count() == 500, 60, "first 500 rows", self.diagnostics)
        self.assertEqual(gateway.stop(), 0, gateway.log_tail())
        more = make_lines(500, 1500)
        self.append(more)
        expected += more
        time.sleep(0.5)  # the agent spools while the gateway is down
        gateway = self.start(Gateway(self.workdir, listen_port=port))
        self.assert_exactly(gateway, agent, expected)

    def test_agent_kill9_and_restart_loses_and_duplicates_nothing(self):
        gateway = self.start(Gateway(self.workdir))
        agent = self.start(Agent(self.workdir, gateway.listen_port, [self.log_file]))
        expected = []
        for round_ in range(3):
            lines = make_lines(round_ * 2000, 2000)
            self.append(lines)
            expected += lines
            wait_for(lambda: gateway.row_count() > round_ * 2000 + 100, 60, "some rows of this round",
                     self.diagnostics)
            agent.kill9()  # at an arbitrary point: mid-read, mid-spool or mid-flight
            agent = self.start(Agent(self.workdir, gateway.listen_port, [self.log_file]))
        self.assert_exactly(gateway, agent, expected)

    def test_malformed_peer_is_dropped_and_others_keep_flowing(self):
        gateway = self.start(Gateway(self.workdir))
        agent = self.start(Agent(self.workdir, gateway.listen_port, [self.log_file]))
        expected = make_lines(0, 300)
        self.append(expected)
        with socket.create_connection(("127.0.0.1", gateway.listen_port), timeout=10) as bad:
            bad.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            bad.settimeout(10)
            data = b""
            while True:  # the gateway answers with an ERROR frame (or nothing) and closes
                chunk = bad.recv(4096)
                if not chunk:
                    break
                data += chunk
        more = make_lines(300, 300)
        self.append(more)
        self.assert_exactly(gateway, agent, expected + more)
        errors = {k: v for k, v in gateway.metrics().items() if k.startswith("edge_gateway_protocol_errors_total")}
        self.assertGreaterEqual(sum(errors.values()), 1, errors)


if __name__ == "__main__":
    unittest.main()
