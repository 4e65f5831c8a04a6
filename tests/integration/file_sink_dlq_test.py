"""The file sink and the dead-letter queue with real processes.

1. edge-agent tails a file and ships to edge-gateway running the file sink
   next to SQLite: lines routed by a rule land in alerts.ndjson, the rest in
   events.ndjson, each exactly once, with agent_id and seq on every line.
2. edgectl dlq list / replay: dead letters written into the gateway's DLQ
   file go back into the SQLite sink through the same sink code the gateway
   runs, are removed from the queue, and a second replay stores nothing
   twice.
"""
import glob
import json
import os
import sqlite3
import subprocess
import tempfile
import unittest

from harness import Agent, Gateway, binary, wait_for

ROUTED_TO_FILES = """
sinks:
  sqlite: {enabled: true}
  file: {rotate_bytes: 16KiB, keep: 1000}
pipeline:
  routes:
    - name: alerts
      match: {field: raw, prefix: ALERT}
      sinks: [file]
      table: alerts
  default_route: {sinks: [file, sqlite]}
"""


def ndjson_lines(directory, stem):
    """Every line of <stem>.ndjson and its rotations, oldest first."""
    files = sorted(glob.glob(os.path.join(directory, f"{stem}-*.ndjson")))
    files.append(os.path.join(directory, f"{stem}.ndjson"))
    lines = []
    for path in files:
        if os.path.exists(path):
            with open(path) as f:
                lines += [json.loads(line) for line in f]
    return lines


class FileSinkTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-file-sink-")
        self.dir = self.tmp.name
        self.gateway = Gateway(self.dir, extra_yaml=ROUTED_TO_FILES)
        self.agent = None

    def tearDown(self):
        if self.agent:
            self.agent.stop()
        self.gateway.stop()
        self.tmp.cleanup()

    def test_routed_lines_land_in_their_file_exactly_once(self):
        log = os.path.join(self.dir, "app.log")
        total = 3000
        with open(log, "w") as f:
            for i in range(total):
                prefix = "ALERT" if i % 10 == 0 else "INFO"
                f.write(f"{prefix} line {i:05d} " + "x" * 60 + "\n")
        self.gateway.start()
        self.agent = Agent(self.dir, self.gateway.listen_port, [log]).start()
        wait_for(lambda: self.agent.spool_batches() == 0 and self.gateway.row_count() == total * 9 // 10,
                 60, "the agent's spool to drain", self.gateway.log_tail)

        out = os.path.join(self.gateway.data_dir, "ndjson")
        alerts = ndjson_lines(out, "alerts")
        events = ndjson_lines(out, "events")
        self.assertEqual(len(alerts), total // 10)
        self.assertEqual(len(events), total * 9 // 10)
        for line in alerts:
            self.assertTrue(line["raw"].startswith("ALERT"), line)
        for line in events:
            self.assertTrue(line["raw"].startswith("INFO"), line)
        agents = {line["agent_id"] for line in alerts + events}
        self.assertEqual(len(agents), 1)
        seqs = sorted(line["seq"] for line in alerts + events)
        self.assertEqual(len(seqs), len(set(seqs)), "a line was written twice")
        self.assertEqual(len(seqs), total)
        # Rotation happens between commit groups, so how many files there are
        # depends on timing; what matters is that no line was cut (json.loads
        # above parsed every one) and none is missing or doubled.
        metrics = self.gateway.metrics()
        self.assertEqual(metrics["edge_gateway_file_sink_lines_total"], total)


class DeadLetterReplayTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-dlq-")
        self.dir = self.tmp.name
        self.data_dir = os.path.join(self.dir, "gw-data")
        self.config = os.path.join(self.dir, "gw.yaml")
        with open(self.config, "w") as f:
            f.write(f"""
gateway:
  data_dir: {self.data_dir}
  tls: {{enabled: false, allow_plaintext: true}}
sinks:
  sqlite: {{enabled: true}}
""")
        self.dlq = os.path.join(self.data_dir, "dlq.db")

    def tearDown(self):
        self.tmp.cleanup()

    def edgectl(self, *args, check=True):
        run = subprocess.run([binary("EDGECTL"), *args], capture_output=True, text=True, timeout=60)
        if check and run.returncode != 0:
            self.fail(f"edgectl {' '.join(args)} exited {run.returncode}\n{run.stdout}\n{run.stderr}")
        return run

    def dead_letter(self, rows):
        db = sqlite3.connect(self.dlq)
        with db:
            db.executemany(
                "INSERT INTO dead_letters(at, sink, reason, agent_id, batch_id, topic, tbl, tenant, seq, ts, "
                "kind, source, host, severity, fields, raw) VALUES(1, ?, ?, ?, 7, '', '', 'acme', ?, ?, 'log', "
                "'/var/log/app.log', 'web-1', 4, ?, ?)", rows)
        db.close()

    def test_list_then_replay_moves_events_into_the_sink_once(self):
        # list creates the queue file when it is missing (as the gateway would).
        self.assertEqual(self.edgectl("dlq", "list", "--config", self.config).stdout, "")
        self.dead_letter([
            ("sqlite", "database is locked for too long", "agent-1", seq, 1_700_000_000_000_000_000 + seq,
             json.dumps({"user": "alice", "n": seq}), f"line {seq}")
            for seq in range(1, 6)
        ] + [("kafka", "message too large", "agent-2", 99, 1, "{}", "big")])

        listed = [json.loads(line) for line in self.edgectl("dlq", "list", "--config", self.config,
                                                            "--sink", "sqlite").stdout.splitlines()]
        self.assertEqual(len(listed), 5)
        self.assertEqual(listed[0]["reason"], "database is locked for too long")
        self.assertEqual(listed[0]["event"]["fields"], {"user": "alice", "n": 1})
        self.assertEqual(listed[0]["event"]["tenant"], "acme")

        # The kafka entry names a sink this gateway does not run: refused, nothing changes.
        refused = self.edgectl("dlq", "replay", "--config", self.config, check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("'kafka' is not enabled", refused.stderr)

        dry = self.edgectl("dlq", "replay", "--config", self.config, "--sink", "sqlite", "--dry-run")
        self.assertIn("would replay 5 event(s) of agent agent-1", dry.stdout)

        done = self.edgectl("dlq", "replay", "--config", self.config, "--sink", "sqlite")
        self.assertIn("5 stored", done.stdout)
        db = sqlite3.connect(os.path.join(self.data_dir, "events.db"))
        rows = db.execute("SELECT agent_id, seq, tenant, raw, fields FROM events ORDER BY seq").fetchall()
        db.close()
        self.assertEqual([r[1] for r in rows], [1, 2, 3, 4, 5])
        self.assertEqual(rows[0][:4], ("agent-1", 1, "acme", "line 1"))
        self.assertEqual(json.loads(rows[0][4]), {"user": "alice", "n": 1})

        left = [json.loads(line) for line in self.edgectl("dlq", "list", "--config", self.config).stdout.splitlines()]
        self.assertEqual([entry["sink"] for entry in left], ["kafka"])

        # The same events dead-lettered again and replayed: the sink keeps one copy.
        self.dead_letter([("sqlite", "again", "agent-1", 3, 1_700_000_000_000_000_003, "{}", "line 3")])
        again = self.edgectl("dlq", "replay", "--config", self.config, "--sink", "sqlite")
        self.assertIn("1 stored", again.stdout)
        db = sqlite3.connect(os.path.join(self.data_dir, "events.db"))
        self.assertEqual(db.execute("SELECT count(*) FROM events").fetchone()[0], 5)
        db.close()

        # --to sends the kafka entry to sqlite instead.
        self.edgectl("dlq", "replay", "--config", self.config, "--to", "sqlite")
        self.assertEqual(self.edgectl("dlq", "list", "--config", self.config).stdout, "")


if __name__ == "__main__":
    unittest.main()
