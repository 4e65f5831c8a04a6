"""The agent's side of secure transport, with real processes: a CA made by
`edgectl ca init`, a gateway certificate from `edgectl cert issue`, tokens
from `edgectl token create`, and edge-gateway with TLS and enrollment.

- An agent with a valid token enrolls (its key made locally, mode 0600),
  reconnects with mutual TLS and delivers every line exactly once under the
  token's tenant; restarted, it reuses its stored certificate (a second
  enrollment would be refused: the token had one use); restarted with a
  renew_before longer than the certificate's lifetime, it renews it over
  mutual TLS and keeps delivering.
- Expired, exhausted (--uses 1 used twice), tampered and wrong-tenant tokens
  are each refused, the agent logs the gateway's reason, nothing is
  delivered, and it waits between attempts instead of spinning.
- A TLS agent names a gateway whose certificate lacks the dialed name.

Binary paths come from the environment (set by CTest): EDGE_AGENT,
EDGE_GATEWAY, EDGECTL.
"""
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from harness import Agent, Gateway, binary, wait_for


def edgectl(*args):
    result = subprocess.run([binary("EDGECTL"), *args], capture_output=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"edgectl {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout.decode()}{result.stderr.decode()}")
    return result.stdout.decode().strip()


class Pki:
    def __init__(self, root):
        self.ca_dir = os.path.join(root, "ca")
        self.gw_dir = os.path.join(root, "gw")
        edgectl("ca", "init", "--dir", self.ca_dir, "--name", "agent TLS test CA")
        edgectl("cert", "issue", "--ca-dir", self.ca_dir, "--cn", "gw-1", "--san", "IP:127.0.0.1",
                "--san", "DNS:localhost", "--out-dir", self.gw_dir)

    @property
    def ca(self):
        return os.path.join(self.ca_dir, "ca.crt")

    def token(self, tenant="acme", ttl="1h", uses=1):
        return edgectl("token", "create", "--ca-dir", self.ca_dir, "--tenant", tenant, "--ttl", ttl,
                       "--uses", str(uses))

    def gateway_tls_yaml(self, cert_days=90):
        return f"""
tls:
  enabled: true
  cert: {self.gw_dir}/gw-1.crt
  key: {self.gw_dir}/gw-1.key
  ca: {self.ca}
  crl: {self.ca_dir}/revoked.crl
enrollment:
  enabled: true
  ca_key: {self.ca_dir}/ca.key
  token_secret: {self.ca_dir}/token.key
  tenant: acme
  cert_days: {cert_days}
"""


def agent_tls_yaml(pki, token, extra_tls=""):
    return f"""
tls: {{ca: {pki.ca}{extra_tls}}}
enrollment: {{token: "{token}", retry_min: 1s, retry_max: 4s}}
"""


class AgentTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="edge-agent-tls-")
        cls.pki = Pki(cls.root)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="case-", dir=self.root)
        self.processes = []

    def tearDown(self):
        for p in reversed(self.processes):
            try:
                p.stop()
            except AssertionError:
                pass

    def start(self, process):
        self.processes.append(process)
        return process.start()

    def logs(self):
        return "\n".join(p.log_tail(40) for p in self.processes)

    def start_gateway(self, **kwargs):
        return self.start(Gateway(self.workdir, tls_yaml=self.pki.gateway_tls_yaml(**kwargs)))

    def agent(self, gateway, name, token, lines=(), extra_tls=""):
        """An agent in its own directory (they can run side by side)."""
        workdir = os.path.join(self.workdir, name)
        os.makedirs(workdir, exist_ok=True)
        log_file = os.path.join(workdir, "app.log")
        with open(log_file, "a") as f:
            f.writelines(line + "\n" for line in lines)
        agent = Agent(workdir, gateway.listen_port, [log_file],
                      tls_yaml=agent_tls_yaml(self.pki, token, extra_tls))
        agent.log_file = log_file
        return agent

    def wait_rows(self, gateway, expected, timeout=90):
        wait_for(lambda: gateway.row_count() >= expected, timeout, f"{expected} rows in the sink",
                 self.logs)
        time.sleep(0.5)  # anything extra (a duplicate) would show up now
        return gateway.rows("tenant, agent_id, seq, raw")

    def test_enrolls_delivers_exactly_once_restarts_and_renews(self):
        gateway = self.start_gateway(cert_days=1)
        first = [f"tls line {i:05d}" for i in range(300)]
        agent = self.agent(gateway, "a1", self.pki.token(uses=1), first)
        self.start(agent)
        rows = self.wait_rows(gateway, len(first))
        self.assertEqual(sorted(r[3] for r in rows), first, "each line exactly once")
        self.assertEqual({r[0] for r in rows}, {"acme"}, "tenant from the certificate")
        agent_ids = {r[1] for r in rows}
        self.assertEqual(len(agent_ids), 1)
        log = agent.log_text()
        self.assertIn("generated the agent's private key", log)
        self.assertIn("enrolled at gateway", log)
        tls_dir = os.path.join(agent.data_dir, "tls")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(tls_dir, "agent.key")).st_mode), 0o600)
        cert_path = os.path.join(tls_dir, "agent.crt")
        with open(cert_path) as f:
            cert_before = f.read()
        if shutil.which("openssl"):
            subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253"],
                                     input=cert_before.encode(), capture_output=True).stdout.decode()
            self.assertIn(f"CN={agent_ids.pop()}", subject)
            self.assertIn("O=acme", subject)
        metrics = gateway.metrics()
        self.assertEqual(metrics.get('edge_gateway_enrollments_total{result="ok"}'), 1.0)

        # Restart: the stored certificate is used; the token (one use, spent)
        # is not presented again.
        self.assertEqual(agent.stop(), 0, agent.log_tail())
        more = [f"tls line {i:05d}" for i in range(300, 400)]
        with open(agent.log_file, "a") as f:
            f.writelines(line + "\n" for line in more)
        self.start(agent)
        rows = self.wait_rows(gateway, len(first) + len(more))
        self.assertEqual(sorted(r[3] for r in rows), first + more, "each line exactly once")
        self.assertEqual(agent.log_text().count("enrolled at gateway"), 1, agent.log_tail())
        self.assertEqual(gateway.metrics().get('edge_gateway_enrollments_total{result="ok"}'), 1.0)
        self.assertEqual(gateway.metrics().get('edge_gateway_enrollments_total{result="refused"}', 0.0),
                         0.0)

        # Restart with renew_before longer than the 1-day certificates: the
        # agent renews over mutual TLS (same identity, new serial) at once.
        self.assertEqual(agent.stop(), 0, agent.log_tail())
        agent.tls_yaml = f"tls: {{ca: {self.pki.ca}, renew_before: 2d}}"
        last = [f"tls line {i:05d}" for i in range(400, 450)]
        with open(agent.log_file, "a") as f:
            f.writelines(line + "\n" for line in last)
        self.start(agent)
        rows = self.wait_rows(gateway, len(first) + len(more) + len(last))
        self.assertEqual(sorted(r[3] for r in rows), first + more + last, "each line exactly once")
        wait_for(lambda: "renewed the agent certificate" in agent.log_text(), 30, "the renewal",
                 self.logs)
        self.assertIn("renewed the certificate of agent", gateway.log_text())
        self.assertIn("already due for renewal", agent.log_text(), "no renewal loop")
        with open(cert_path) as f:
            self.assertNotEqual(f.read(), cert_before)
        self.assertEqual(agent.log_text().count("renewed the agent certificate"), 1)

    def expect_refusal(self, gateway, name, token, reason_pattern):
        agent = self.agent(gateway, name, token, ["never delivered"])
        self.start(agent)
        started = time.monotonic()
        wait_for(lambda: re.search(r"enrollment refused by gateway \S+: .*" + reason_pattern, agent.log_text()),
                 60, f"the refusal ({reason_pattern}) in {name}'s log", self.logs)
        return agent, started

    def test_bad_tokens_are_refused_with_the_gateways_reason(self):
        gateway = self.start_gateway()
        expired = self.pki.token(ttl="1s")
        exhausted = self.pki.token(uses=1)
        wrong_tenant = self.pki.token(tenant="other")
        good = self.pki.token()
        # Flip one character of the payload: the HMAC no longer matches.
        prefix, payload, signature = good.split(".")
        flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
        tampered = ".".join([prefix, flipped, signature])
        time.sleep(2)  # the 1s token has expired

        # The exhausted token's one use goes to another agent first.
        user = self.agent(gateway, "first-user", exhausted, ["from the first user"])
        self.start(user)
        self.wait_rows(gateway, 1)

        cases = [
            ("expired", expired, r"enrollment token \w+ expired at"),
            ("exhausted", exhausted, r"has already been used 1 time"),
            ("tampered", tampered, r"signature is invalid"),
            ("wrong-tenant", wrong_tenant, r'is for tenant "other", not "acme"'),
        ]
        agents = []
        for name, token, pattern in cases:
            agents.append((name, pattern) + self.expect_refusal(gateway, name, token, pattern))
        for name, pattern, agent, started in agents:
            log = agent.log_text()
            self.assertIn("never becomes valid", log, f"{name}: the agent says the token is dead")
            self.assertNotIn("enrolled at gateway", log)
            # Waiting between attempts: retry_min 1s doubling, so over any
            # stretch there are at most 1 + elapsed seconds attempts.
            elapsed = time.monotonic() - started
            attempts = len(re.findall(r"enrollment refused by gateway", log))
            self.assertLessEqual(attempts, 2 + elapsed, f"{name}: {attempts} attempts in {elapsed:.1f}s")
            self.assertFalse(os.path.exists(os.path.join(agent.data_dir, "tls", "agent.crt")))
            self.assertTrue(agent.running(), f"{name}: the agent keeps running\n{agent.log_tail()}")
        self.assertEqual([r[3] for r in gateway.rows("tenant, agent_id, seq, raw")], ["from the first user"])
        metrics = gateway.metrics()
        self.assertGreaterEqual(metrics.get('edge_gateway_enrollments_total{result="refused"}', 0), 4)

    def test_a_gateway_without_the_dialed_name_is_refused(self):
        gateway = self.start_gateway()
        agent = self.agent(gateway, "named", self.pki.token(), ["x"],
                           extra_tls=", server_name: gw.elsewhere.example")
        self.start(agent)
        wait_for(lambda: "do not include \"gw.elsewhere.example\"" in agent.log_text(), 60,
                 "the name mismatch in the agent's log", self.logs)
        self.assertEqual(gateway.row_count(), 0)


if __name__ == "__main__":
    unittest.main()
