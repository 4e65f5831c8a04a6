"""Delivery under faults, with real processes on loopback: an application
writes lines at a steady rate while the agent is killed with SIGKILL again
and again and the gateway is stopped and restarted; gateways die or drain
(GOAWAY) while the agent streams to them; the spool file is garbage at
start. At the end every written line is in the sink(s) exactly once.

Set EDGE_FAULT_SEED to replay a run's random kill times (printed on failure).
"""
import collections
import os
import random
import signal
import tempfile
import time
import unittest

from harness import Agent, Gateway, LineWriter, free_port, sink_rows, wait_for


class DeliveryTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-delivery-")
        self.workdir = self.tmp.name
        self.log_file = os.path.join(self.workdir, "app.log")
        self.processes = []
        self.writer = None

    def tearDown(self):
        if self.writer is not None and not self.writer.stop_event.is_set():
            self.writer.stop()
        for p in self.processes:
            if p.running():
                p.kill9()
        self.tmp.cleanup()

    def start(self, process):
        self.processes.append(process)
        return process.start()

    def diagnostics(self):
        seen = {}
        for p in self.processes:  # the latest process object per log file
            seen[p.log_path] = p
        return "\n".join(p.log_tail(60) for p in seen.values())

    def assert_each_line_once(self, gateways, written, dedupe_by_seq=False):
        """Waits until the sinks hold every written line, then checks that
        each is there exactly once. With dedupe_by_seq, rows of several sinks
        with the same (agent_id, seq) count once (a batch committed by a
        gateway that died before acking is legitimately resent elsewhere)."""
        expected = collections.Counter(written)
        self.assertEqual(len(expected), len(written), "the writer's lines are unique")

        def rows():
            all_rows = sink_rows(*gateways)
            if dedupe_by_seq:
                by_key = {}
                for agent_id, seq, raw in all_rows:
                    previous = by_key.setdefault((agent_id, seq), raw)
                    self.assertEqual(previous, raw, f"seq {seq} holds two different lines")
                return list(by_key.values())
            return [raw for _, _, raw in all_rows]

        wait_for(lambda: len(rows()) >= len(written), 120, f"{len(written)} lines in the sink",
                 self.diagnostics)
        time.sleep(0.5)  # anything extra (a duplicate) would arrive now
        got = collections.Counter(rows())
        missing = expected - got
        duplicated = {line: n for line, n in got.items() if n > 1}
        unexpected = got - expected
        self.assertFalse(missing, f"{len(missing)} lines never arrived, e.g. {sorted(missing)[:3]}")
        self.assertFalse(duplicated, f"{len(duplicated)} lines arrived twice, e.g. {list(duplicated)[:3]}")
        self.assertFalse(unexpected, f"lines nobody wrote: {list(unexpected)[:3]}")


class FaultTest(DeliveryTestCase):
    def test_kill9_agent_repeatedly_and_restart_gateway_under_steady_writes(self):
        seed = int(os.environ.get("EDGE_FAULT_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        port = free_port()
        gateway = self.start(Gateway(self.workdir, listen_port=port))
        self.writer = LineWriter(self.log_file, rate=2000).start()
        agent = self.start(Agent(self.workdir, port, [self.log_file]))
        kills = 0
        for round_ in range(12):
            time.sleep(rng.uniform(0.1, 1.2))
            agent.kill9()  # mid-read, mid-commit, mid-flight: wherever it is
            kills += 1
            if round_ == 3:
                self.assertEqual(gateway.stop(), 0, gateway.log_tail())  # graceful: GOAWAY
            if round_ == 7:
                gateway.kill9()
            agent = self.start(Agent(self.workdir, port, [self.log_file]))
            if round_ in (3, 7):
                time.sleep(rng.uniform(0.2, 1.0))  # the agent spools meanwhile
                gateway = self.start(Gateway(self.workdir, listen_port=port))
        written = self.writer.stop()
        self.assertGreaterEqual(kills, 10)
        try:
            self.assert_each_line_once([gateway], written)
        except AssertionError as e:
            raise AssertionError(f"{e}\n(EDGE_FAULT_SEED={seed})") from None
        wait_for(lambda: agent.spool_batches() == 0, 60, "the agent's spool to drain", self.diagnostics)
        self.assertEqual(agent.stop(), 0, agent.log_tail())


class FailoverTest(DeliveryTestCase):
    def two_gateways(self):
        gw_a = self.start(Gateway(self.workdir, name="gw-a"))
        gw_b = self.start(Gateway(self.workdir, name="gw-b"))
        return gw_a, gw_b

    def active(self, gateways):
        """The gateway the agent streams to: the one whose sink grows."""
        def growing():
            before = [g.row_count() for g in gateways]
            time.sleep(0.3)
            after = [g.row_count() for g in gateways]
            grew = [g for g, b, a in zip(gateways, before, after) if a > b]
            return grew[0] if len(grew) == 1 else None
        return wait_for(growing, 30, "one gateway receiving the stream", self.diagnostics)

    def test_killing_the_active_gateway_fails_over_without_loss(self):
        gw_a, gw_b = self.two_gateways()
        self.writer = LineWriter(self.log_file, rate=2000).start()
        agent = self.start(Agent(self.workdir, [gw_a.listen_port, gw_b.listen_port], [self.log_file]))
        first = self.active([gw_a, gw_b])
        second = gw_b if first is gw_a else gw_a
        time.sleep(0.5)
        first.kill9()
        rows_at_kill = first.row_count()
        wait_for(lambda: second.row_count() > 0, 30, "the other gateway to receive", self.diagnostics)
        time.sleep(1.0)
        written = self.writer.stop()
        self.assert_each_line_once([first, second], written, dedupe_by_seq=True)
        self.assertGreater(rows_at_kill, 0)
        self.assertIn("lost the connection to gateway", agent.log_text())

    def test_goaway_drains_and_moves_to_the_other_gateway(self):
        gw_a, gw_b = self.two_gateways()
        self.writer = LineWriter(self.log_file, rate=2000).start()
        agent = self.start(Agent(self.workdir, [gw_a.listen_port, gw_b.listen_port], [self.log_file]))
        first = self.active([gw_a, gw_b])
        second = gw_b if first is gw_a else gw_a
        time.sleep(0.5)
        self.assertEqual(first.stop(), 0, first.log_tail())  # SIGTERM: GOAWAY, drain, exit
        wait_for(lambda: second.row_count() > 0, 30, "the other gateway to receive", self.diagnostics)
        time.sleep(1.0)
        written = self.writer.stop()
        # A drained gateway acked what it committed: nothing is sent twice.
        self.assert_each_line_once([first, second], written)
        log = agent.log_text()
        self.assertIn("sent GOAWAY", log)
        self.assertIn("drained the connection", log)


class SpoolLimitTest(DeliveryTestCase):
    """spool.max_bytes with the gateway down: block pauses the file input and
    loses nothing; drop_newest keeps reading and counts what it drops."""

    def fill_while_gateway_down(self, when_full):
        port = free_port()
        lines = [f"limit {i:07d} " + "z" * 200 for i in range(30000)]  # ~6.5 MB, ~1.2 MB compressed
        with open(self.log_file, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        agent = self.start(Agent(self.workdir, port, [self.log_file], admin=True,
                                 input_yaml=f"when_full: {when_full}",
                                 spool_yaml="max_bytes: 1MiB",
                                 output_yaml="compression_level: 0"))
        wait_for(lambda: self.metric(agent, "edge_agent_input_paused_total") >= 1, 30,
                 "the spool to reach max_bytes", self.diagnostics)
        return agent, port, lines

    @staticmethod
    def metric(agent, name):
        try:
            return agent.metrics().get(name, 0)
        except OSError:
            return 0

    def test_block_pauses_the_input_and_loses_nothing(self):
        agent, port, lines = self.fill_while_gateway_down("block")
        time.sleep(0.5)
        read = self.metric(agent, 'edge_agent_events_read_total{input="e2e"}')
        self.assertLess(read, len(lines), "the input paused before reading the whole file")
        spooled = self.metric(agent, "edge_agent_spool_bytes")
        self.assertLess(spooled, 2 * 1024 * 1024, "the limit holds (within a batch)")
        gateway = self.start(Gateway(self.workdir, listen_port=port))
        self.assert_each_line_once([gateway], lines)
        self.assertEqual(self.metric(agent, 'edge_agent_events_dropped_total{input="e2e",reason="drop_newest"}'), 0)

    def test_drop_newest_counts_what_it_drops(self):
        agent, port, lines = self.fill_while_gateway_down("drop_newest")
        wait_for(lambda: self.metric(agent, 'edge_agent_events_read_total{input="e2e"}') == len(lines), 30,
                 "the input to read the whole file while dropping", self.diagnostics)
        dropped = lambda: self.metric(agent, 'edge_agent_events_dropped_total{input="e2e",reason="drop_newest"}')
        spooled = lambda: self.metric(agent, "edge_agent_spool_events")
        # Every line is either spooled or counted as dropped (once the last
        # buffered batch is committed).
        wait_for(lambda: dropped() + spooled() == len(lines), 30, "spooled + dropped == written",
                 lambda: f"dropped {dropped()}, spooled {spooled()}\n" + self.diagnostics())
        self.assertGreater(dropped(), 0)
        spooled = spooled()
        self.assertIn("dropped", agent.log_text())
        gateway = self.start(Gateway(self.workdir, listen_port=port))
        wait_for(lambda: gateway.row_count() == spooled, 60, "the spooled lines", self.diagnostics)
        rows = [r[0] for r in gateway.rows("raw")]
        self.assertEqual(rows, lines[:len(rows)], "the oldest lines were kept, in order")


class MultilineTest(DeliveryTestCase):
    def test_java_stack_traces_arrive_as_one_event_each(self):
        gateway = self.start(Gateway(self.workdir))
        records = []
        for i in range(50):
            head = f"2024-05-01 10:00:{i % 60:02d} ERROR request {i} failed"
            trace = [f"java.lang.IllegalStateException: boom {i}"] + \
                    [f"\tat com.example.Layer{k}.call(Layer{k}.java:{k + 10})" for k in range(i % 7 + 1)] + \
                    ["Caused by: java.io.IOException: disk", "\t... 3 more"]
            records.append("\n".join([head] + trace) if i % 3 else head)
        # CRLF line ends in every other record; the last record has no final
        # newline (it is emitted after partial_line_timeout + multiline.timeout).
        chunks = []
        for i, record in enumerate(records):
            eol = "\r\n" if i % 2 else "\n"
            chunks.append(record.replace("\n", eol) + (eol if i < len(records) - 1 else ""))
        with open(self.log_file, "w", newline="") as f:
            f.write("".join(chunks))
        self.start(Agent(self.workdir, gateway.listen_port, [self.log_file],
                         input_yaml="multiline: {start_pattern: '^\\d{4}-', timeout: 300ms}\n"
                                    "partial_line_timeout: 300ms"))
        self.assert_each_line_once([gateway], records)


class SpoolRecoveryTest(DeliveryTestCase):
    def test_agent_starts_over_a_garbage_spool_and_delivers(self):
        gateway = self.start(Gateway(self.workdir))
        agent = Agent(self.workdir, gateway.listen_port, [self.log_file])
        os.makedirs(agent.data_dir)
        with open(agent.spool_path, "wb") as f:
            f.write(os.urandom(8192))
        lines = [f"after garbage {i}" for i in range(500)]
        with open(self.log_file, "w") as f:
            f.write("".join(l + "\n" for l in lines))
        self.start(agent)
        self.assert_each_line_once([gateway], lines)
        aside = [n for n in os.listdir(agent.data_dir) if n.startswith("spool.db.corrupt-")]
        self.assertEqual(len(aside), 1, os.listdir(agent.data_dir))
        self.assertIn("moved it aside", agent.log_text())


if __name__ == "__main__":
    unittest.main()
