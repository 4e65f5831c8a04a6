"""edgectl rules test / lint as a real process on a temp dir of rules and
NDJSON events: output format, expectations (pass and fail exit codes),
compile errors with file:line, and a run over the real OpenSSH sample log
compared with counts computed here from the raw file.
"""
import json
import os
import re
import subprocess
import tempfile
import unittest

from harness import binary

BRUTE = r'''
return {
  name = "ssh_brute_force",
  description = "failed logins from one address",
  severity = "high",
  attack = {"T1110"},
  author = "tests",
  references = {"https://attack.mitre.org/techniques/T1110/"},
  prefilter = {raw = {contains = "Failed password"}},
  process = function(ev)
    local ip = re.match(ev.raw, [[from (\d+\.\d+\.\d+\.\d+)]])
    if not ip then return end
    local n = window.add(ip, 60)
    if n == 3 then alert{title = "brute force from " .. ip, fields = {src_ip = ip}} end
  end,
}
'''

DROP = r'''
return {
  name = "drop_debug",
  description = "drops debug events",
  severity = "low",
  prefilter = {fields = {level = "debug"}},
  process = function(ev) ev:drop() end,
}
'''

FAILED_LINE = r'''
return {
  name = "failed_line",
  description = "one alert per failed password line",
  severity = "low",
  author = "tests",
  attack = {"T1110"},
  references = {"https://attack.mitre.org/techniques/T1110/"},
  prefilter = {raw = {contains = "Failed password"}},
  process = function(ev) alert{title = "failed"} end,
}
'''


def event(ts, raw, **fields):
    return json.dumps({"ts": ts, "kind": "syslog", "source": "/var/log/auth.log",
                       "host": "h1", "fields": fields, "raw": raw})


class RulesCliTest(unittest.TestCase):
    def setUp(self):
        self.edgectl = binary("EDGECTL")
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.rules = os.path.join(self.dir, "rules")
        os.mkdir(self.rules)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_ctl(self, *args):
        return subprocess.run([self.edgectl, *args], capture_output=True, text=True, timeout=120)

    def events_file(self):
        lines = []
        # 4 failures from 10.0.0.1 within a minute (alert at the 3rd), 2 from
        # 10.0.0.2, one debug event that is dropped, one unrelated line.
        for i in range(4):
            lines.append(event(f"2015-12-10T06:55:{10 + i:02d}Z",
                               f"Failed password for root from 10.0.0.1 port 22 ssh2"))
        for i in range(2):
            lines.append(event(f"2015-12-10T06:56:{10 + i:02d}Z",
                               f"Failed password for admin from 10.0.0.2 port 22 ssh2"))
        lines.append(event("2015-12-10T06:57:00Z", "debug noise", level="debug"))
        lines.append(event("2015-12-10T06:57:01Z", "Accepted password for bob"))
        return self.write("events.ndjson", "\n".join(lines) + "\n")

    def test_prints_events_and_alerts_and_meets_expectations(self):
        self.write("rules/brute.lua", BRUTE)
        self.write("rules/drop.lua", DROP)
        events = self.events_file()
        expect = self.write("expect.ndjson", "\n".join([
            "# comments are allowed",
            '{"rule": "ssh_brute_force", "alerts": 1}',
            '{"rule": "ssh_brute_force", "alerts": 1, "where": {"src_ip": "10.0.0.1"}}',
            '{"rule": "drop_debug", "dropped": 1}',
            '{"rule": "ssh_brute_force", "errors": 0}',
            '{"events": 7}',
            '{"alerts": 1}',
        ]) + "\n")
        result = self.run_ctl("rules", "test", "--rules", self.rules, "--events", events,
                              "--expect", expect)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertEqual(len(out), 8)  # 8 in, 1 dropped, 1 alert
        alerts = [e for e in out if e["kind"] == "alert"]
        self.assertEqual(len(alerts), 1)
        alert = alerts[0]
        self.assertEqual(alert["fields"]["rule"], "ssh_brute_force")
        self.assertEqual(alert["fields"]["src_ip"], "10.0.0.1")
        self.assertEqual(alert["fields"]["trigger_seq"], 3)  # the third line
        self.assertEqual(alert["fields"]["attack"], "T1110")
        self.assertEqual(alert["severity"], "error")
        self.assertEqual(alert["ts"], "2015-12-10T06:55:12.000000000Z")
        self.assertIn("6 expectation(s), 0 failed", result.stderr)

        only = self.run_ctl("rules", "test", "--rules", self.rules, "--events", events,
                            "--alerts-only")
        self.assertEqual(only.returncode, 0, only.stderr)
        self.assertEqual(len(only.stdout.splitlines()), 1)

    def test_unmet_expectation_exits_one(self):
        self.write("rules/brute.lua", BRUTE)
        events = self.events_file()
        expect = self.write("expect.ndjson", '{"rule": "ssh_brute_force", "alerts": 2}\n')
        result = self.run_ctl("rules", "test", "--rules", self.rules, "--events", events,
                              "--expect", expect)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn('FAIL ' + expect + ':1: {"rule": "ssh_brute_force", "alerts": 2}: got 1',
                      result.stderr)

    def test_unknown_rule_in_expectations_is_bad_input(self):
        self.write("rules/brute.lua", BRUTE)
        events = self.events_file()
        expect = self.write("expect.ndjson", '{"rule": "ssh_brute", "alerts": 1}\n')
        result = self.run_ctl("rules", "test", "--rules", self.rules, "--events", events,
                              "--expect", expect)
        self.assertEqual(result.returncode, 2)
        self.assertIn('no rule named "ssh_brute"', result.stderr)

    def test_bad_event_line_names_file_and_line(self):
        self.write("rules/brute.lua", BRUTE)
        events = self.write("events.ndjson", event("2015-12-10T06:55:10Z", "x") + "\n{\"ts\": true}\n")
        result = self.run_ctl("rules", "test", "--rules", self.rules, "--events", events)
        self.assertEqual(result.returncode, 2)
        self.assertIn(events + ":2: ts: expected", result.stderr)

    def test_compile_errors_and_lint(self):
        self.write("rules/brute.lua", BRUTE)
        self.write("rules/drop.lua", DROP)
        lint = self.run_ctl("rules", "lint", "--rules", self.rules)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        self.assertIn("2 rule(s) compiled", lint.stdout)
        self.assertIn("drop_debug: no author", lint.stdout)

        self.write("rules/broken.lua", "return {\n  name = 'broken',\n  process = function(ev)\n    if then end\n  end,\n}\n")
        lint = self.run_ctl("rules", "lint", "--rules", self.rules)
        self.assertEqual(lint.returncode, 1)
        self.assertRegex(lint.stdout, re.escape(os.path.join(self.rules, "broken.lua")) + r":4:")
        events = self.events_file()
        test = self.run_ctl("rules", "test", "--rules", self.rules, "--events", events)
        self.assertEqual(test.returncode, 2)
        self.assertIn("broken.lua:4:", test.stderr)

    def test_real_openssh_log(self):
        data = os.environ.get("EDGE_SHARED_DATA",
                              os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
        log = os.path.join(data, "loghub", "OpenSSH_2k.log")
        if not os.path.exists(log):
            self.skipTest(f"{log} not found (set EDGE_SHARED_DATA to the shared data directory)")
        self.write("rules/failed.lua", FAILED_LINE)
        with open(log, errors="replace") as f:
            raw_lines = [line.rstrip("\n") for line in f if line.strip()]
        expected = sum(1 for line in raw_lines if "Failed password" in line)
        self.assertGreater(expected, 0)
        events = self.write("openssh.ndjson", "\n".join(
            json.dumps({"kind": "syslog", "source": log, "raw": line}) for line in raw_lines) + "\n")
        expect = self.write("expect.ndjson", json.dumps({"rule": "failed_line", "alerts": expected}) + "\n")
        result = self.run_ctl("rules", "test", "--rules", self.rules, "--events", events,
                              "--expect", expect, "--alerts-only")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(result.stdout.splitlines()), expected)


if __name__ == "__main__":
    unittest.main()
