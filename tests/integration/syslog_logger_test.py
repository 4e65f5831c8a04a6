"""Syslog, stdin and exec inputs end to end: a real sender (util-linux
`logger`) talks to the edge-agent's syslog input over UDP and TCP (RFC 3164
and RFC 5424, octet-counting and newline framing); the agent ships to a real
edge-gateway whose SQLite sink is checked field by field. Also the stdin
input with the agent's standard input as a pipe, and the exec input.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Agent, Gateway, binary, wait_for

LOGGER = shutil.which("logger") or "/usr/bin/logger"


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class InputsAgent(Agent):
    """An edge-agent whose inputs section is given as YAML text; everything
    else is the harness's agent configuration (so output and TLS settings
    follow it). With stdin=subprocess.PIPE its standard input is a pipe."""

    def __init__(self, workdir, gateway_port, inputs_yaml, stdin=None):
        super().__init__(workdir, gateway_port, ["unused"], hostname="itest-agent", admin=True)
        self.inputs_yaml = inputs_yaml
        self.stdin = stdin

    def start(self):
        argv = []
        self._spawn = argv.extend  # let the harness write its config, start nothing
        try:
            super().start()
        finally:
            del self._spawn
        with open(self.config_path) as f:
            text = f.read()
        head, rest = text.split("\ninputs:\n", 1)
        _, tail = rest.split("\noutput:\n", 1)
        with open(self.config_path, "w") as f:
            f.write(head + "\ninputs:\n" + self.inputs_yaml.strip("\n") + "\noutput:\n" + tail)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=self.stdin, stdout=self.log, stderr=subprocess.STDOUT)
        return self


class SyslogLoggerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-syslog-")
        self.workdir = self.tmp.name
        self.processes = []

    def tearDown(self):
        for p in self.processes:
            if p.running():
                p.kill9()
        self.tmp.cleanup()

    def start(self, process):
        self.processes.append(process)
        return process.start()

    def diagnostics(self):
        return "\n".join(p.log_tail() for p in self.processes)

    def rows_by_message(self, gateway):
        out = {}
        for tenant, agent_id, seq, ts, kind, source, host, severity, fields, raw in gateway.rows():
            f = json.loads(fields)
            out.setdefault(f.get("message", raw), []).append(
                {"ts": ts, "kind": kind, "source": source, "host": host, "severity": severity,
                 "fields": f, "raw": raw})
        return out

    def logger(self, *args):
        subprocess.run([LOGGER, *args], check=True, timeout=30)

    def test_logger_over_udp_and_tcp_reaches_the_sink_with_parsed_fields(self):
        if not os.path.exists(LOGGER):
            self.skipTest("util-linux logger is not installed")
        gateway = self.start(Gateway(self.workdir))
        udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
        agent = self.start(InputsAgent(self.workdir, gateway.listen_port, f"""
  - type: syslog
    name: syslog
    listen_udp: 127.0.0.1:{udp}
    listen_tcp: 127.0.0.1:{tcp}
"""))

        def listening():
            if not agent.running():
                raise AssertionError(f"agent exited\n{agent.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(listening, 30, "the agent's syslog TCP port", self.diagnostics)
        sent_at = time.time()
        server = ["--server", "127.0.0.1"]
        self.logger(*server, "--port", str(udp), "--udp", "--rfc5424", "-t", "app5424",
                    "-p", "local3.warning", "--msgid", "ID7", "--sd-id", "meta@32473",
                    "--sd-param", 'k="v \\"quoted\\" \\]"', "-i", "hello udp 5424")
        self.logger(*server, "--port", str(udp), "--udp", "--rfc3164", "-t", "app3164",
                    "-p", "user.err", "hello udp 3164 grüße")
        self.logger(*server, "--port", str(tcp), "--tcp", "--octet-count", "--rfc5424",
                    "-t", "tcpoctet", "-p", "daemon.info", "hello tcp octet-counted")
        self.logger(*server, "--port", str(tcp), "--tcp", "--rfc3164", "-t", "tcpnl",
                    "-p", "auth.notice", "hello tcp newline")
        # Many messages over one connection, octet-counted.
        bulk = os.path.join(self.workdir, "bulk.txt")
        with open(bulk, "w") as f:
            f.write("".join(f"bulk message {i}\n" for i in range(200)))
        self.logger(*server, "--port", str(tcp), "--tcp", "--octet-count", "--rfc5424",
                    "-t", "bulk", "-f", bulk)
        expected = 4 + 200

        wait_for(lambda: gateway.row_count() >= expected, 90, f"{expected} rows in the sink",
                 self.diagnostics)
        time.sleep(0.3)
        self.assertEqual(gateway.row_count(), expected)
        rows = self.rows_by_message(gateway)
        hostname = socket.gethostname()

        def one(message):
            self.assertIn(message, rows, sorted(rows)[:10])
            self.assertEqual(len(rows[message]), 1, message)
            row = rows[message][0]
            self.assertEqual(row["kind"], "syslog")
            self.assertEqual(row["host"], hostname, "the sender's HOSTNAME")
            self.assertLess(abs(row["ts"] / 1e9 - sent_at), 120, "the message's own timestamp")
            self.assertTrue(row["fields"]["sender"].startswith("127.0.0.1:"), row["fields"])
            return row

        r = one("hello udp 5424")
        self.assertEqual(r["source"], f"udp:127.0.0.1:{udp}")
        self.assertEqual(r["severity"], 4)
        self.assertEqual(r["fields"]["facility"], "local3")
        self.assertEqual(r["fields"]["facility_code"], 19)
        self.assertEqual(r["fields"]["app_name"], "app5424")
        self.assertEqual(r["fields"]["msgid"], "ID7")
        self.assertTrue(r["fields"]["procid"].isdigit(), r["fields"])
        self.assertEqual(r["fields"]["sd.meta@32473.k"], 'v "quoted" ]')
        self.assertEqual(r["fields"]["sd.timeQuality.tzKnown"], "1")
        self.assertTrue(r["raw"].startswith("<156>1 "), r["raw"])

        r = one("hello udp 3164 grüße")
        self.assertEqual(r["severity"], 3)
        self.assertEqual(r["fields"]["facility"], "user")
        self.assertEqual(r["fields"]["app_name"], "app3164")
        self.assertNotIn("msgid", r["fields"])

        r = one("hello tcp octet-counted")
        self.assertEqual(r["source"], f"tcp:127.0.0.1:{tcp}")
        self.assertEqual(r["severity"], 6)
        self.assertEqual(r["fields"]["facility"], "daemon")
        self.assertEqual(r["fields"]["app_name"], "tcpoctet")
        self.assertFalse(r["raw"][0].isdigit(), "the octet count is framing, not the message")

        r = one("hello tcp newline")
        self.assertEqual(r["severity"], 5)
        self.assertEqual(r["fields"]["facility"], "auth")
        self.assertEqual(r["fields"]["app_name"], "tcpnl")
        self.assertFalse(r["raw"].endswith("\n"))

        bulk_rows = [rows[f"bulk message {i}"][0] for i in range(200)]
        self.assertTrue(all(r["fields"]["app_name"] == "bulk" for r in bulk_rows))
        seqs = [r for r in gateway.rows("seq, fields") if "bulk message" in r[1]]
        order = [int(json.loads(f)["message"].split()[-1]) for _, f in sorted(seqs)]
        self.assertEqual(order, list(range(200)), "one connection's messages keep their order")

        metrics = agent.metrics()
        self.assertEqual(metrics.get('edge_agent_events_read_total{input="syslog"}'), expected)
        self.assertEqual(metrics.get('edge_agent_input_dropped_total{input="syslog",reason="paused"}', 0), 0)
        self.assertEqual(agent.stop(), 0, agent.log_tail())
        self.assertEqual(gateway.stop(), 0, gateway.log_tail())

    def test_stdin_pipe_lines_reach_the_sink_and_the_agent_keeps_running(self):
        gateway = self.start(Gateway(self.workdir))
        agent = self.start(InputsAgent(self.workdir, gateway.listen_port, """
  - type: stdin
    name: in
""", stdin=subprocess.PIPE))
        lines = [f"stdin line {i} \u00e9" for i in range(500)]
        agent.proc.stdin.write("".join(l + "\n" for l in lines[:-1]).encode())
        agent.proc.stdin.write(lines[-1].encode())  # no final newline
        agent.proc.stdin.close()
        wait_for(lambda: gateway.row_count() >= len(lines), 90, "the stdin lines in the sink",
                 self.diagnostics)
        rows = gateway.rows()
        self.assertEqual([r[9] for r in rows], lines)
        self.assertTrue(all(r[4] == "log" and r[5] == "stdin" and r[6] == "itest-agent" for r in rows))
        wait_for(lambda: "standard input ended" in agent.log_tail(200), 30, "the end-of-input log line",
                 self.diagnostics)
        self.assertTrue(agent.running(), "the agent keeps running after stdin ends")
        self.assertEqual(agent.stop(), 0, agent.log_tail())

    def test_exec_lines_and_status_reach_the_sink(self):
        gateway = self.start(Gateway(self.workdir))
        agent = self.start(InputsAgent(self.workdir, gateway.listen_port, """
  - type: exec
    name: probe
    command: "echo exec-line-1; echo exec-line-2; exit 4"
    shell: true
    interval: 200ms
"""))
        wait_for(lambda: gateway.row_count() >= 6, 90, "two runs in the sink", self.diagnostics)
        self.assertEqual(agent.stop(), 0, agent.log_tail())
        rows = gateway.rows()
        first_run = [r for r in rows if json.loads(r[8]).get("run") == 1]
        self.assertEqual([r[9] for r in first_run[:2]], ["exec-line-1", "exec-line-2"])
        status = json.loads(first_run[2][8])
        self.assertEqual(status["exec_status"], "exited")
        self.assertEqual(status["exit_code"], 4)
        self.assertEqual(status["lines"], 2)
        self.assertTrue(all(r[4] == "exec" for r in rows))


if __name__ == "__main__":
    unittest.main()
