"""The PostgreSQL sink against a real server (pg_harness.py), with real
edge-agent and edge-gateway processes on loopback, checked from outside with
psql and edgectl:

- every line written to a tailed file is in PostgreSQL exactly once, with its
  content; ALERT lines routed to the alerts table;
- redelivery (the agent's spool restored after the ack) stores nothing twice;
- PostgreSQL restarted twice mid-stream: nothing lost, nothing twice;
- a line PostgreSQL refuses (a NUL byte, invalid UTF-8) goes to the
  dead-letter queue alone (`edgectl dlq list`), the rest is stored;
- `edgectl db migrate` / `db status`, migrations recorded, a changed
  migration refused; retention drops an old partition;
- the sink's unit tests that need a server (sinks_postgres_test with
  EDGE_TEST_PG_DSN).

Skips with the reason when PostgreSQL's server package is not installed.
"""
import json
import os
import subprocess
import tempfile
import unittest

from harness import Agent, Gateway, LineWriter, binary, wait_for
from pg_harness import PostgresServer, skip_unless_postgres

ROUTES = """
pipeline:
  routes:
    - name: alerts
      match: {field: raw, prefix: ALERT}
      sinks: [postgres]
      table: alerts
  default_route: {sinks: [postgres]}
"""


class PostgresSinkTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_postgres()
        # fsync off: what is tested is the sink's protocol with the server
        # (commit before ack, reconnects), not the disk.
        cls.pg = PostgresServer(settings={"fsync": "off"}).start()
        cls.db_counter = 0

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-pg-it-")
        self.dir = self.tmp.name
        self.procs = []
        PostgresSinkTest.db_counter += 1
        self.db = f"it{os.getpid()}_{PostgresSinkTest.db_counter}"
        self.pg.psql(f"CREATE DATABASE {self.db}", database="postgres")
        self.dsn = self.pg.dsn.replace(f"dbname={self.pg.database}", f"dbname={self.db}")

    def tearDown(self):
        for proc in reversed(self.procs):
            if proc.running():
                proc.stop()
        self.tmp.cleanup()

    # helpers -----------------------------------------------------------------
    def sql(self, query):
        return self.pg.psql(query, database=self.db)

    def gateway(self, sink_yaml="", routes=ROUTES):
        yaml = f"""
sinks:
  postgres:
    dsn: "{self.dsn}"
{sink_yaml}{routes}"""
        gw = Gateway(self.dir, extra_yaml=yaml)
        self.procs.append(gw)
        return gw.start()

    def agent(self, port, files, **kw):
        agent = Agent(self.dir, port, files, **kw)
        self.procs.append(agent)
        return agent.start()

    def stored(self):
        """(table, seq, raw) of every stored event, from outside with psql."""
        rows = self.sql("SELECT 'events', seq, raw FROM events UNION ALL SELECT 'alerts', seq, raw FROM alerts "
                        "ORDER BY 2")
        return [(t, int(s), r) for t, s, r in rows]

    def count(self):
        return int(self.sql("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM alerts)")[0][0])

    def edgectl(self, *args):
        return subprocess.run([binary("EDGECTL"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=120)

    def write_lines(self, name, lines, mode="w"):
        path = os.path.join(self.dir, name)
        with open(path, mode + "b") as f:
            for line in lines:
                f.write(line if isinstance(line, bytes) else line.encode())
                f.write(b"\n")
        return path

    # tests -------------------------------------------------------------------
    def test_unit_tests_against_the_server(self):
        test_binary = os.environ.get("EDGE_SINKS_POSTGRES_TEST")
        if not test_binary or not os.path.exists(test_binary):
            self.skipTest("EDGE_SINKS_POSTGRES_TEST is not set to the built sinks_postgres_test; run through ctest")
        result = subprocess.run([test_binary, "--gtest_filter=PostgresSinkServerTest.*"],
                                env=dict(os.environ, EDGE_TEST_PG_DSN=self.dsn),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stdout[-6000:])
        self.assertNotIn("SKIPPED", result.stdout.split("Global test environment tear-down")[-1])

    def test_every_event_once_with_its_content_and_redelivery_stores_nothing_twice(self):
        lines = [f"{'ALERT' if i % 10 == 0 else 'INFO'} line {i:05d} " + "x" * (i % 50) for i in range(3000)]
        path = self.write_lines("app.log", lines)

        # Spool everything while no gateway listens, and keep a copy of the
        # spool: restoring it later makes the agent send every batch again.
        gw_port = __import__("harness").free_port()
        agent = self.agent(gw_port, [path])
        wait_for(lambda: agent.spool_batches() and sum_spooled(agent) >= len(lines), 60,
                 "the agent to spool every line", agent.log_tail)
        agent.stop()
        backup = os.path.join(self.dir, "agent-data.bak")
        subprocess.run(["cp", "-a", agent.data_dir, backup], check=True)

        gw = Gateway(self.dir, listen_port=gw_port, extra_yaml=f"""
sinks:
  postgres:
    dsn: "{self.dsn}"
{ROUTES}""")
        self.procs.append(gw)
        gw.start()
        agent.start()
        wait_for(lambda: self.count() >= len(lines), 90, "every line in PostgreSQL", gw.log_tail)
        wait_for(lambda: agent.spool_batches() == 0, 60, "the agent's spool to empty", agent.log_tail)

        stored = self.stored()
        self.assertEqual(len(stored), len(lines))
        self.assertEqual(sorted(r for _, _, r in stored), sorted(lines))
        self.assertEqual(len({s for _, s, _ in stored}), len(lines), "a seq stored twice")
        for table, _, raw in stored:
            self.assertEqual(table, "alerts" if raw.startswith("ALERT") else "events", raw)
        row = self.sql("SELECT tenant, kind, host, source, severity, fields::text FROM events "
                       "WHERE raw = 'INFO line 00001 x'")
        self.assertEqual(row, [["default", "log", "e2e-host", path, "6", row[0][5]]])
        json.loads(row[0][5])
        agents = self.sql("SELECT tenant, host, first_seen <= last_seen FROM agents")
        self.assertEqual(agents, [["default", "e2e-host", "t"]])

        # Redelivery: the same spooled batches again.
        agent.stop()
        subprocess.run(["rm", "-rf", agent.data_dir], check=True)
        subprocess.run(["cp", "-a", backup, agent.data_dir], check=True)
        agent.start()
        wait_for(lambda: agent.spool_batches() == 0, 90, "the redelivered spool to empty", agent.log_tail)
        self.assertEqual(self.count(), len(lines))
        metrics = gw.metrics()
        self.assertEqual(metrics["edge_gateway_postgres_rows_inserted_total"], len(lines))
        self.assertEqual(metrics["edge_gateway_postgres_duplicates_total"], len(lines))
        self.assertEqual(metrics["edge_gateway_postgres_dead_lettered_total"], 0)

    def test_postgres_restarted_mid_stream_loses_nothing_and_stores_nothing_twice(self):
        path = os.path.join(self.dir, "stream.log")
        writer = LineWriter(path, rate=2000, prefix="stream").start()
        gw = self.gateway()
        agent = self.agent(gw.listen_port, [path])
        wait_for(lambda: self.count() > 500, 60, "the first rows", gw.log_tail)
        self.pg.restart()
        wait_for(lambda: self.count() > 3000, 90, "rows after the first restart", gw.log_tail)
        self.pg.restart()
        wait_for(lambda: self.count() > 5000, 90, "rows after the second restart", gw.log_tail)
        written = writer.stop()
        wait_for(lambda: self.count() >= len(written), 120, "every written line", gw.log_tail)
        wait_for(lambda: agent.spool_batches() == 0, 60, "the agent's spool to empty", agent.log_tail)
        stored = self.stored()
        self.assertEqual(len(stored), len(written), "lost or duplicated rows")
        self.assertEqual(sorted(r for _, _, r in stored), sorted(written))
        metrics = gw.metrics()
        self.assertGreaterEqual(metrics["edge_gateway_postgres_reconnects_total"], 1)

    def test_a_refused_line_goes_alone_to_the_dead_letter_queue(self):
        lines = [f"INFO good {i:04d}".encode() for i in range(400)]
        lines[100] = b"INFO has a NUL \x00 byte"
        lines[300] = b"INFO not utf-8 \xff\xfe here"
        path = self.write_lines("bad.log", lines)
        gw = self.gateway()
        agent = self.agent(gw.listen_port, [path])
        wait_for(lambda: agent.spool_batches() == 0 and self.count() >= 398, 60,
                 "the good lines stored and the spool empty", gw.log_tail)
        self.assertEqual(self.count(), 398)
        self.assertEqual(sorted(r for _, _, r in self.stored()),
                         sorted(l.decode() for i, l in enumerate(lines) if i not in (100, 300)))
        listing = self.edgectl("dlq", "list", "--config", gw.config_path)
        self.assertEqual(listing.returncode, 0, listing.stderr)
        letters = [json.loads(line) for line in listing.stdout.splitlines() if line.strip()]
        self.assertEqual(len(letters), 2, listing.stdout)
        reasons = sorted(letter["reason"] for letter in letters)
        self.assertTrue(all(letter["sink"] == "postgres" for letter in letters))
        self.assertIn("0x00", reasons[0] + reasons[1])
        self.assertIn("0xff", reasons[0] + reasons[1])
        self.assertEqual(gw.metrics()["edge_gateway_postgres_dead_lettered_total"], 2)

    def test_edgectl_db_migrate_status_and_retention(self):
        status = self.edgectl("db", "status", "--dsn", self.dsn)
        self.assertEqual(status.returncode, 3, status.stdout + status.stderr)
        self.assertIn("pending", status.stdout)
        migrate = self.edgectl("db", "migrate", "--dsn", self.dsn)
        self.assertEqual(migrate.returncode, 0, migrate.stderr)
        self.assertIn("applied migration 1 (event tables)", migrate.stdout)
        self.assertIn("applied migration 2 (agents)", migrate.stdout)
        again = self.edgectl("db", "migrate", "--dsn", self.dsn)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("up to date", again.stdout)
        self.assertEqual(self.sql("SELECT version, name, checksum LIKE 'sha256:%' FROM edge_schema_migrations "
                                  "ORDER BY version"), [["1", "event tables", "t"], ["2", "agents", "t"]])

        # An old partition with a row in it; the gateway starts with a 30 day
        # retention, and its first maintenance pass drops it.
        self.sql("SELECT edge_ensure_partition('events', '2020-01-01')")
        self.sql("INSERT INTO events VALUES ('t', 'old-agent', 1, '2020-01-01 10:00+00', 'log', 's', 'h', 6, "
                 "'{}', 'old', now())")
        gw = self.gateway(sink_yaml="    migrate: false\n    retention_days: 30\n")
        wait_for(lambda: self.sql("SELECT to_regclass('events_p20200101') IS NULL") == [["t"]], 30,
                 "retention to drop events_p20200101", gw.log_tail)
        self.assertIn("dropped events_p20200101", gw.log_text())
        today = self.sql("SELECT to_regclass('events_p' || to_char((now() AT TIME ZONE 'UTC')::date + 1, "
                         "'YYYYMMDD')) IS NOT NULL")
        self.assertEqual(today, [["t"]], "tomorrow's partition made ahead")
        status = self.edgectl("db", "status", "--config", gw.config_path)
        self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
        self.assertEqual(status.stdout.count(" applied "), 2, status.stdout)
        gw.stop()

        # A migration whose text changed after it was applied is refused.
        self.sql("UPDATE edge_schema_migrations SET checksum = 'sha256:feed' WHERE version = 2")
        status = self.edgectl("db", "status", "--dsn", self.dsn)
        self.assertEqual(status.returncode, 1)
        self.assertIn("CHANGED", status.stdout)
        migrate = self.edgectl("db", "migrate", "--dsn", self.dsn)
        self.assertEqual(migrate.returncode, 1)
        self.assertIn("migration 2 (agents) was applied with checksum sha256:feed", migrate.stderr)
        refused = Gateway(self.dir, name="gateway2", extra_yaml=f"""
sinks:
  postgres:
    dsn: "{self.dsn}"
""")
        with self.assertRaises(AssertionError) as failed:
            refused.start()
        refused.stop()
        self.assertIn("checksum", str(failed.exception))

    def test_bad_config_is_refused_with_its_line(self):
        config = os.path.join(self.dir, "bad.yaml")
        with open(config, "w") as f:
            f.write("gateway:\n  listen: 127.0.0.1:0\n  tls: {enabled: false, allow_plaintext: true}\n"
                    "sinks:\n  postgres:\n    dsn: \"host=x port\"\n    pool_size: 0\n")
        result = subprocess.run([binary("EDGE_GATEWAY"), "--config", config, "--check-config"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("bad.yaml:6: sinks.postgres.dsn", result.stdout)
        self.assertIn("bad.yaml:7: sinks.postgres.pool_size", result.stdout)


def sum_spooled(agent):
    """Events waiting in the agent's spool (0 before the spool exists)."""
    import sqlite3
    if not os.path.exists(agent.spool_path):
        return 0
    db = sqlite3.connect(f"file:{agent.spool_path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT coalesce(sum(event_count), 0) FROM batches").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


if __name__ == "__main__":
    unittest.main()
