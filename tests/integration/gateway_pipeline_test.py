"""The gateway pipeline with real processes: an edge-agent tails a file and
ships to an edge-gateway that runs a processor plugin (filter_fields, from
the build's plugin directory), a rate limit and routes, with the sqlite and
discard sinks both enabled. Lines matching a condition must land in SQLite
(with the plugin's field), the rest go to discard, the limiter drops what
exceeds it, and /metrics must count every event exactly. Then SIGHUP: a
broken pipeline is refused (the log says why) and the old one keeps
working; a good one takes effect on the same agent connection.

EDGE_PLUGIN_DIR (set by CTest) is where the first-party plugins were built.
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from harness import Agent, Gateway, binary, wait_for

PIPELINE_V1 = """
sinks:
  sqlite: {enabled: true}
  discard: {enabled: true}
pipeline:
  stages:
    - plugin: {name: filter_fields, options: {set: ["pipeline=v1"]}}
    - rate_limit:
        name: debug_cap
        key: agent
        rate: 1/h
        burst: 5
        action: drop
        match: {field: raw, prefix: DEBUG}
  routes:
    - name: errors
      match: {field: raw, prefix: ERROR}
      sinks: [sqlite]
  default_route: {sinks: [discard]}
"""

# Broken twice over: a regex that does not compile and a sink that does not run.
PIPELINE_BROKEN = """
sinks:
  sqlite: {enabled: true}
  discard: {enabled: true}
pipeline:
  stages:
    - plugin: {name: filter_fields, options: {set: ["pipeline=broken"]}}
  routes:
    - name: errors
      match: {field: raw, regex: "(ERROR"}
      sinks: [kafka]
"""

PIPELINE_V2 = """
sinks:
  sqlite: {enabled: true}
  discard: {enabled: true}
pipeline:
  stages:
    - plugin: {name: filter_fields, options: {set: ["pipeline=v2"]}}
  routes:
    - name: infos
      match: {field: raw, prefix: INFO}
      sinks: [sqlite]
  default_route: {sinks: [discard]}
"""


def plugin_dir():
    path = os.environ.get("EDGE_PLUGIN_DIR")
    if not path or not os.path.exists(os.path.join(path, "filter_fields.so")):
        raise RuntimeError("EDGE_PLUGIN_DIR does not hold filter_fields.so; build edge_first_party_plugins "
                           "and run this test through ctest")
    return path


class GatewayPipelineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-pipeline-")
        self.workdir = self.tmp.name
        self.log_file = os.path.join(self.workdir, "app.log")
        open(self.log_file, "w").close()
        self.processes = []
        self.counter = 0

    def tearDown(self):
        for p in self.processes:
            if p.running():
                p.kill9()
        self.tmp.cleanup()

    def start(self, process):
        self.processes.append(process)
        return process.start()

    def diagnostics(self):
        return "\n".join(p.log_tail(60) for p in self.processes)

    def lines(self, level, count):
        out = []
        for _ in range(count):
            self.counter += 1
            out.append(f"{level} event {self.counter:05d} from the pipeline test")
        return out

    def append(self, lines):
        with open(self.log_file, "a", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))

    def sqlite_rows(self, gateway):
        """(raw, fields.pipeline) of every stored event, in seq order."""
        if not os.path.exists(gateway.db_path):
            return []
        db = sqlite3.connect(f"file:{gateway.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT raw, json_extract(fields, '$.pipeline') FROM events ORDER BY seq").fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()

    def rewrite_pipeline(self, gateway, section):
        """Replaces everything after the log section of the gateway's config
        file (sinks and pipeline) atomically, as an operator's deploy would."""
        with open(gateway.config_path) as f:
            text = f.read()
        head = text[: text.index("\nsinks:")] if "\nsinks:" in text else text
        tmp = gateway.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(head + "\n" + section.lstrip("\n"))
        os.rename(tmp, gateway.config_path)

    def wait_delivered(self, gateway, agent, received, sqlite_rows):
        wait_for(lambda: gateway.metrics().get("edge_gateway_events_received_total") == received, 60,
                 f"{received} events received", self.diagnostics)
        wait_for(lambda: agent.spool_batches() == 0, 60, "the agent's spool to drain", self.diagnostics)
        wait_for(lambda: len(self.sqlite_rows(gateway)) == sqlite_rows, 30, f"{sqlite_rows} rows in sqlite",
                 self.diagnostics)

    def test_routes_rate_limit_plugin_and_sighup_reload(self):
        gateway = self.start(Gateway(
            self.workdir,
            tls_yaml=f"{Gateway.PLAINTEXT}\nplugin_dir: {plugin_dir()}",
            extra_yaml=PIPELINE_V1))
        agent = self.start(Agent(self.workdir, gateway.listen_port, [self.log_file]))

        # Phase 1: 30 ERROR lines to sqlite, 20 INFO to discard, 12 DEBUG of
        # which the limiter lets 5 through (to discard) and drops 7.
        errors, infos, debugs = self.lines("ERROR", 30), self.lines("INFO", 20), self.lines("DEBUG", 12)
        mixed = []
        for i in range(30):
            mixed.append(errors[i])
            if i < 20:
                mixed.append(infos[i])
            if i < 12:
                mixed.append(debugs[i])
        self.append(mixed)
        self.wait_delivered(gateway, agent, 62, 30)
        self.assertEqual(self.sqlite_rows(gateway), [(line, "v1") for line in errors])
        m = gateway.metrics()
        expect = {
            "edge_gateway_events_received_total": 62,
            'edge_gateway_pipeline_events_dropped_total{stage="debug_cap"}': 7,
            'edge_gateway_ratelimit_events_total{limiter="debug_cap",decision="dropped"}': 7,
            'edge_gateway_ratelimit_events_total{limiter="debug_cap",decision="allowed"}': 5,
            'edge_gateway_route_events_total{route="errors"}': 30,
            'edge_gateway_route_events_total{route="default"}': 25,
            "edge_gateway_route_unmatched_total": 25,
            "edge_gateway_route_dropped_total": 0,
            'edge_gateway_sink_events_total{sink="sqlite",status="ok"}': 30,
            'edge_gateway_sink_events_total{sink="discard",status="ok"}': 25,
            'edge_gateway_sink_discarded_events_total': 25,
            "edge_gateway_events_committed_total": 55,
            "edge_gateway_batches_retried_total": 0,
        }
        for key, want in expect.items():
            self.assertEqual(m.get(key), want, key)

        # Phase 2: a broken pipeline is refused with its reasons; the old one stays.
        self.rewrite_pipeline(gateway, PIPELINE_BROKEN)
        check = subprocess.run([binary("EDGE_GATEWAY"), "--check-config", "--config", gateway.config_path],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        self.assertIn("pipeline.routes[0].match.regex", check.stdout + check.stderr)
        gateway.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: gateway.metrics().get('edge_gateway_pipeline_reloads_total{result="failed"}') == 1, 30,
                 "the failed reload to be counted", self.diagnostics)
        log = gateway.log_text()
        self.assertIn("the running pipeline stays in force", log)
        self.assertIn(f"{gateway.config_path}:", log)
        self.assertIn("pipeline.routes[0].match.regex", log)
        self.assertIn('unknown sink "kafka"', log)
        more_errors, more_infos = self.lines("ERROR", 5), self.lines("INFO", 3)
        self.append(more_errors + more_infos)
        self.wait_delivered(gateway, agent, 70, 35)
        self.assertEqual(self.sqlite_rows(gateway), [(line, "v1") for line in errors + more_errors])

        # Phase 3: a good pipeline takes effect without a reconnect.
        self.rewrite_pipeline(gateway, PIPELINE_V2)
        gateway.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: gateway.metrics().get('edge_gateway_pipeline_reloads_total{result="ok"}') == 1, 30,
                 "the reload to take effect", self.diagnostics)
        self.assertIn("pipeline reloaded from", gateway.log_text())
        last_errors, last_infos = self.lines("ERROR", 4), self.lines("INFO", 6)
        self.append(last_errors + last_infos)
        self.wait_delivered(gateway, agent, 80, 41)
        self.assertEqual(self.sqlite_rows(gateway),
                         [(line, "v1") for line in errors + more_errors] + [(line, "v2") for line in last_infos])
        m = gateway.metrics()
        expect = {
            "edge_gateway_events_received_total": 80,
            'edge_gateway_route_events_total{route="errors"}': 35,
            'edge_gateway_route_events_total{route="infos"}': 6,
            'edge_gateway_route_events_total{route="default"}': 25 + 3 + 4,
            'edge_gateway_sink_events_total{sink="sqlite",status="ok"}': 41,
            'edge_gateway_sink_events_total{sink="discard",status="ok"}': 32,
            'edge_gateway_pipeline_events_dropped_total{stage="debug_cap"}': 7,
            "edge_gateway_events_committed_total": 73,
            'edge_gateway_pipeline_reloads_total{result="ok"}': 1,
            'edge_gateway_pipeline_reloads_total{result="failed"}': 1,
            # The agent's connection survived both reloads.
            "edge_gateway_connections_total": 1,
            "edge_gateway_connections": 1,
        }
        for key, want in expect.items():
            self.assertEqual(m.get(key), want, key)
        self.assertEqual(agent.stop(), 0, agent.log_tail())
        self.assertEqual(gateway.stop(), 0, gateway.log_tail())

    def test_a_plugin_dropped_into_plugin_dir_reloads_the_pipeline(self):
        """An operator deploys a config that needs filter_dedup before the
        plugin is there: nothing changes until the .so lands in
        gateway.plugin_dir, then the pipeline reloads by itself (no SIGHUP)."""
        plugins = os.path.join(self.workdir, "plugins")
        os.mkdir(plugins)
        shutil.copy(os.path.join(plugin_dir(), "filter_fields.so"), plugins)
        gateway = self.start(Gateway(
            self.workdir, tls_yaml=f"{Gateway.PLAINTEXT}\nplugin_dir: {plugins}",
            extra_yaml="""
sinks:
  sqlite: {enabled: true}
pipeline:
  stages:
    - plugin: {name: filter_fields, options: {set: ["pipeline=v1"]}}
"""))
        agent = self.start(Agent(self.workdir, gateway.listen_port, [self.log_file]))
        first = self.lines("INFO", 5)
        self.append(first)
        self.wait_delivered(gateway, agent, 5, 5)

        self.rewrite_pipeline(gateway, """
sinks:
  sqlite: {enabled: true}
pipeline:
  stages:
    - plugin: {name: filter_fields, options: {set: ["pipeline=v2"]}}
    - plugin: {name: filter_dedup, options: {key: "{raw}", window: 1m}}
""")
        # Copied in two steps, as a slow deploy would: the half-written file
        # may be seen and refused; the finished one is loaded.
        with open(os.path.join(plugin_dir(), "filter_dedup.so"), "rb") as f:
            data = f.read()
        target = os.path.join(plugins, "filter_dedup.so")
        with open(target, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(0.1)
            f.write(data[len(data) // 2:])
        wait_for(lambda: gateway.metrics().get('edge_gateway_pipeline_reloads_total{result="ok"}') == 1, 30,
                 "the reload after the plugin arrived", self.diagnostics)
        self.assertIn("plugins changed in gateway.plugin_dir", gateway.log_text())
        second = self.lines("INFO", 3)
        self.append(second + second[:1])  # one duplicate line for filter_dedup to drop
        self.wait_delivered(gateway, agent, 9, 8)
        self.assertEqual(self.sqlite_rows(gateway),
                         [(line, "v1") for line in first] + [(line, "v2") for line in second])
        self.assertEqual(agent.stop(), 0, agent.log_tail())
        self.assertEqual(gateway.stop(), 0, gateway.log_tail())


if __name__ == "__main__":
    unittest.main()
