"""TLS interoperability: the `openssl` command-line tools as an independent
peer against edge's TLS stack (edge::protocol::TlsSession, through the small
edge_tls_echo binary), with certificates made by `edgectl ca/cert`.

Server side (openssl s_client -> edge_tls_echo server): a valid agent
certificate succeeds; no certificate, another CA's certificate, an expired
or a revoked certificate, TLS 1.0/1.1 and weak ciphers are all refused, and
the server names the reason. Client side (edge_tls_echo client -> openssl
s_server): a valid gateway certificate succeeds; another CA, an old protocol
and a wrong name are refused. Also checks what edgectl writes (files, modes,
no silent overwrite).

Binary paths come from the environment (set by CTest): EDGECTL, EDGE_TLS_ECHO.
"""
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from harness import binary, wait_for

OPENSSL = shutil.which("openssl")


def run(argv, timeout=60, **kwargs):
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kwargs)


def edgectl(*args):
    result = run([binary("EDGECTL"), *args])
    if result.returncode != 0:
        raise AssertionError(f"edgectl {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout.decode()}{result.stderr.decode()}")
    return result


class Pki:
    """Two CAs and the certificates the tests need, made with edgectl."""

    def __init__(self, root):
        self.root = root
        self.ca_dir = os.path.join(root, "ca")
        self.other_dir = os.path.join(root, "other-ca")
        self.certs = os.path.join(root, "certs")
        edgectl("ca", "init", "--dir", self.ca_dir, "--name", "interop CA")
        edgectl("ca", "init", "--dir", self.other_dir, "--name", "other CA")
        edgectl("cert", "issue", "--ca-dir", self.ca_dir, "--cn", "gw-1", "--san", "IP:127.0.0.1",
                "--san", "DNS:localhost", "--out-dir", self.certs)
        edgectl("cert", "issue", "--ca-dir", self.other_dir, "--cn", "rogue", "--san", "IP:127.0.0.1",
                "--out-dir", os.path.join(root, "other-certs"))
        for agent in ("agent-good", "agent-revoked"):
            edgectl("cert", "issue", "--ca-dir", self.ca_dir, "--agent-id", agent, "--tenant", "acme",
                    "--out-dir", self.certs)
        edgectl("cert", "issue", "--ca-dir", self.ca_dir, "--agent-id", "agent-expired", "--tenant", "acme",
                "--not-before", "2020-01-01", "--not-after", "2020-06-01", "--out-dir", self.certs)
        edgectl("cert", "issue", "--ca-dir", self.other_dir, "--agent-id", "agent-good", "--tenant", "acme",
                "--out-dir", os.path.join(root, "other-certs"))
        edgectl("cert", "revoke", "--ca-dir", self.ca_dir, "--cert", self.cert("agent-revoked"),
                "--reason", "interop test")

    @property
    def ca(self):
        return os.path.join(self.ca_dir, "ca.crt")

    @property
    def crl(self):
        return os.path.join(self.ca_dir, "revoked.crl")

    def cert(self, name, other=False):
        return os.path.join(self.root, "other-certs" if other else "certs", f"{name}.crt")

    def key(self, name, other=False):
        return os.path.join(self.root, "other-certs" if other else "certs", f"{name}.key")


@unittest.skipUnless(OPENSSL, "the openssl command-line tool is not installed (apt-get install openssl)")
class OpenSslClientAgainstEdgeServerTest(unittest.TestCase):
    """openssl s_client connects to edge_tls_echo's server."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="edge-tls-")
        cls.pki = Pki(cls.tmp.name)
        cls.out_path = os.path.join(cls.tmp.name, "server.out")
        port_file = os.path.join(cls.tmp.name, "server.port")
        cls.out = open(cls.out_path, "wb")
        cls.server = subprocess.Popen(
            [binary("EDGE_TLS_ECHO"), "server", "--listen", "127.0.0.1:0", "--port-file", port_file,
             "--ca", cls.pki.ca, "--cert", cls.pki.cert("gw-1"), "--key", cls.pki.key("gw-1"),
             "--crl", cls.pki.crl],
            stdout=cls.out, stderr=subprocess.STDOUT)

        def port():
            if cls.server.poll() is not None:
                raise AssertionError(f"edge_tls_echo exited with {cls.server.returncode}: {cls.server_log()}")
            if not os.path.exists(port_file):
                return None
            with open(port_file) as f:
                return int(f.read().strip() or 0) or None

        cls.port = wait_for(port, 30, "edge_tls_echo's port file", cls.server_log)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        try:
            code = cls.server.wait(30)
        except subprocess.TimeoutExpired:
            cls.server.kill()
            cls.server.wait()
            code = "a hang"
        log = cls.server_log()
        cls.out.close()
        cls.tmp.cleanup()
        # A crash (or a sanitizer report) in the server fails the suite.
        if code != 0:
            raise AssertionError(f"edge_tls_echo exited with {code} on SIGTERM:\n{log}")

    @classmethod
    def server_log(cls):
        with open(cls.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def verdicts(self):
        return [l for l in self.server_log().splitlines() if l.startswith(("ACCEPT", "REFUSE"))]

    def s_client(self, *args, cert=None, key=None):
        """Runs s_client, which also verifies our server certificate (chain
        and IP SAN); returns (result, the server's verdict line)."""
        before = len(self.verdicts())
        argv = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{self.port}", "-CAfile", self.pki.ca,
                "-verify_return_error", "-verify_ip", "127.0.0.1", "-brief", "-ign_eof", *args]
        if cert:
            argv += ["-cert", cert, "-key", key]
        result = run(argv, input=b"hello edge\nbye\n")
        wait_for(lambda: len(self.verdicts()) > before, 30, "the server's verdict", self.server_log)
        return result, self.verdicts()[before]

    def assertRefused(self, result, verdict, failure):
        output = result.stdout.decode() + result.stderr.decode()
        self.assertNotEqual(result.returncode, 0, f"openssl s_client succeeded:\n{output}")
        self.assertNotIn("hello edge", result.stdout.decode(), "data crossed a refused connection")
        self.assertTrue(verdict.startswith(f"REFUSE failure={failure} "), f"server verdict: {verdict}\n{output}")

    def test_valid_client_certificate_succeeds(self):
        result, verdict = self.s_client(cert=self.pki.cert("agent-good"), key=self.pki.key("agent-good"))
        err = result.stderr.decode()
        self.assertEqual(result.returncode, 0, err)
        self.assertIn("hello edge", result.stdout.decode(), "the echo came back")
        self.assertIn("Verification: OK", err, "OpenSSL accepted the gateway certificate")
        self.assertIn("Protocol version: TLSv1.2", err)
        self.assertRegex(err, r"Ciphersuite: ECDHE-ECDSA-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)")
        self.assertRegex(verdict, r"^ACCEPT cn=agent-good o=acme ou=edge-agent serial=[0-9a-f]{32} version=TLSv1\.2 ")

    def test_no_client_certificate_is_refused(self):
        result, verdict = self.s_client()
        self.assertRefused(result, verdict, "no_peer_certificate")
        self.assertIn("handshake failure", result.stderr.decode())

    def test_certificate_from_another_ca_is_refused(self):
        result, verdict = self.s_client(cert=self.pki.cert("agent-good", other=True),
                                        key=self.pki.key("agent-good", other=True))
        self.assertRefused(result, verdict, "untrusted_certificate")
        self.assertIn("unknown ca", result.stderr.decode())

    def test_expired_certificate_is_refused(self):
        result, verdict = self.s_client(cert=self.pki.cert("agent-expired"), key=self.pki.key("agent-expired"))
        self.assertRefused(result, verdict, "expired_certificate")
        self.assertIn("certificate expired", result.stderr.decode())

    def test_revoked_certificate_is_refused(self):
        result, verdict = self.s_client(cert=self.pki.cert("agent-revoked"), key=self.pki.key("agent-revoked"))
        self.assertRefused(result, verdict, "revoked_certificate")
        self.assertIn("certificate revoked", result.stderr.decode())

    def test_tls_1_0_and_1_1_are_refused(self):
        # SECLEVEL=0 lets OpenSSL 3 offer the old versions at all, so that it
        # is our server that refuses them.
        for flag in ("-tls1", "-tls1_1"):
            with self.subTest(flag=flag):
                result, verdict = self.s_client(flag, "-cipher", "DEFAULT@SECLEVEL=0",
                                                cert=self.pki.cert("agent-good"), key=self.pki.key("agent-good"))
                self.assertRefused(result, verdict, "protocol_version")

    def test_weak_ciphers_are_refused(self):
        for cipher in ("AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA",
                       "ECDHE-ECDSA-AES128-SHA256", "AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256"):
            with self.subTest(cipher=cipher):
                result, verdict = self.s_client("-tls1_2", "-cipher", f"{cipher}@SECLEVEL=0",
                                                cert=self.pki.cert("agent-good"), key=self.pki.key("agent-good"))
                self.assertRefused(result, verdict, "no_common_cipher")

    def test_every_aead_suite_negotiates(self):
        for cipher in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                       "ECDHE-ECDSA-CHACHA20-POLY1305"):
            with self.subTest(cipher=cipher):
                result, verdict = self.s_client("-tls1_2", "-cipher", cipher,
                                                cert=self.pki.cert("agent-good"), key=self.pki.key("agent-good"))
                self.assertEqual(result.returncode, 0, result.stderr.decode())
                self.assertIn(f"Ciphersuite: {cipher}", result.stderr.decode())
                self.assertTrue(verdict.startswith("ACCEPT "), verdict)


@unittest.skipUnless(OPENSSL, "the openssl command-line tool is not installed (apt-get install openssl)")
class EdgeClientAgainstOpenSslServerTest(unittest.TestCase):
    """edge_tls_echo's client connects to openssl s_server."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="edge-tls-")
        cls.pki = Pki(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for proc, out in self.servers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()

    def s_server(self, *args, cert="gw-1", other=False):
        """Starts s_server for one connection (-rev: answers each line reversed); returns (port, log path)."""
        log = os.path.join(self.tmp.name, f"s_server-{len(self.servers)}.out")
        out = open(log, "wb")
        proc = subprocess.Popen(
            [OPENSSL, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev",
             "-cert", self.pki.cert(cert, other), "-key", self.pki.key(cert, other),
             "-CAfile", self.pki.ca, "-Verify", "1", "-verify_return_error", *args],
            stdout=out, stderr=subprocess.STDOUT)
        self.servers.append((proc, out))

        def read_log():
            with open(log, "rb") as f:
                return f.read().decode("utf-8", "replace")

        def port():
            if proc.poll() is not None:
                raise AssertionError(f"openssl s_server exited with {proc.returncode}:\n{read_log()}")
            m = re.search(r"ACCEPT 127\.0\.0\.1:(\d+)", read_log())
            return int(m.group(1)) if m else None

        return wait_for(port, 30, "openssl s_server to listen", read_log), read_log

    def client(self, port, server_name="127.0.0.1", agent="agent-good"):
        return run([binary("EDGE_TLS_ECHO"), "client", "--connect", f"127.0.0.1:{port}",
                    "--server-name", server_name, "--ca", self.pki.ca,
                    "--cert", self.pki.cert(agent), "--key", self.pki.key(agent), "--send", "hello edge"])

    def test_valid_gateway_certificate_succeeds(self):
        port, log = self.s_server()
        result = self.client(port)
        out = result.stdout.decode()
        self.assertEqual(result.returncode, 0, out + result.stderr.decode())
        self.assertRegex(out, r"OK version=TLSv1\.2 cipher=TLS-ECDHE-ECDSA-WITH-(AES-128-GCM|AES-256-GCM|CHACHA20)")
        self.assertIn("RECEIVED egde olleh", out, "s_server's reversed echo came back")
        wait_for(lambda: "Peer certificate: CN = agent-good" in log() or "subject=CN = agent-good" in log(), 30,
                 "s_server to report our client certificate", log)

    def test_gateway_from_another_ca_is_refused(self):
        port, _ = self.s_server(cert="rogue", other=True)
        result = self.client(port)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("REFUSE failure=untrusted_certificate", result.stdout.decode())

    def test_wrong_server_name_is_refused(self):
        port, _ = self.s_server()
        result = self.client(port, server_name="10.0.0.99")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("REFUSE failure=name_mismatch", result.stdout.decode())

    def test_old_protocol_server_is_refused(self):
        port, _ = self.s_server("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
        result = self.client(port)
        out = result.stdout.decode()
        self.assertNotEqual(result.returncode, 0)
        # Our ClientHello offers only TLS 1.2 AEAD suites, none usable in
        # TLS 1.1, so OpenSSL usually aborts first (handshake_failure); if it
        # answered with TLS 1.1 our client would refuse the version.
        self.assertRegex(out, r"REFUSE failure=(protocol_version|peer_alert) ")
        self.assertNotIn("RECEIVED", out)

    def test_weak_cipher_server_is_refused(self):
        port, _ = self.s_server("-tls1_2", "-cipher", "AES128-SHA:ECDHE-ECDSA-AES128-SHA")
        result = self.client(port)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("REFUSE failure=", result.stdout.decode())
        self.assertNotIn("RECEIVED", result.stdout.decode())


class EdgectlCaTest(unittest.TestCase):
    """What the CA commands write: files, modes, and no silent overwrite."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="edge-ca-")
        self.ca_dir = os.path.join(self.tmp.name, "ca")

    def tearDown(self):
        self.tmp.cleanup()

    def mode(self, path):
        return stat.S_IMODE(os.stat(path).st_mode)

    def test_ca_init_writes_files_with_modes_and_refuses_to_overwrite(self):
        out = edgectl("ca", "init", "--dir", self.ca_dir).stdout.decode()
        expected = {"ca.key": 0o600, "ca.crt": 0o644, "token.key": 0o600, "serials.db": 0o600, "revoked.crl": 0o644}
        for name, mode in expected.items():
            path = os.path.join(self.ca_dir, name)
            self.assertEqual(self.mode(path), mode, name)
            self.assertRegex(out, re.escape(path) + r"\s+" + f"{mode:04o}", f"output lists {name} and its mode")
        self.assertEqual(self.mode(self.ca_dir), 0o700)
        with open(os.path.join(self.ca_dir, "ca.key"), "rb") as f:
            key = f.read()

        again = run([binary("EDGECTL"), "ca", "init", "--dir", self.ca_dir])
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("--force", again.stderr.decode())
        with open(os.path.join(self.ca_dir, "ca.key"), "rb") as f:
            self.assertEqual(f.read(), key, "the CA key was not replaced")

        edgectl("ca", "init", "--dir", self.ca_dir, "--force")
        with open(os.path.join(self.ca_dir, "ca.key"), "rb") as f:
            self.assertNotEqual(f.read(), key)
        self.assertEqual(self.mode(os.path.join(self.ca_dir, "ca.key")), 0o600)

    def test_cert_issue_and_revoke(self):
        edgectl("ca", "init", "--dir", self.ca_dir)
        out_dir = os.path.join(self.tmp.name, "gw")
        out = edgectl("cert", "issue", "--ca-dir", self.ca_dir, "--cn", "gw-1", "--san", "DNS:gw-1.example.com",
                      "--san", "IP:10.1.2.3", "--out-dir", out_dir, "--days", "30").stdout.decode()
        self.assertIn("SANs: DNS:gw-1.example.com, IP:10.1.2.3", out)
        self.assertEqual(self.mode(os.path.join(out_dir, "gw-1.key")), 0o600)
        self.assertEqual(self.mode(os.path.join(out_dir, "gw-1.crt")), 0o644)
        refused = run([binary("EDGECTL"), "cert", "issue", "--ca-dir", self.ca_dir, "--cn", "gw-1",
                       "--san", "DNS:x", "--out-dir", out_dir])
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("already exists", refused.stderr.decode())
        bad_san = run([binary("EDGECTL"), "cert", "issue", "--ca-dir", self.ca_dir, "--cn", "gw-2",
                       "--san", "URI:x", "--out-dir", out_dir])
        self.assertNotEqual(bad_san.returncode, 0)

        serial = re.search(r"serial ([0-9a-f]+)", out).group(1)
        if OPENSSL:
            verify = run([OPENSSL, "verify", "-CAfile", os.path.join(self.ca_dir, "ca.crt"),
                          os.path.join(out_dir, "gw-1.crt")])
            self.assertEqual(verify.returncode, 0, verify.stdout.decode() + verify.stderr.decode())
        colons = ":".join(serial[i:i + 2] for i in range(0, len(serial), 2)).upper()
        out = edgectl("cert", "revoke", "--ca-dir", self.ca_dir, "--serial", colons).stdout.decode()
        self.assertIn(f"Revoked serial {serial}", out)
        self.assertIn("1 serial(s)", out)
        if OPENSSL:
            crl = run([OPENSSL, "crl", "-in", os.path.join(self.ca_dir, "revoked.crl"), "-noout", "-text",
                       "-CAfile", os.path.join(self.ca_dir, "ca.crt")])
            text = crl.stdout.decode() + crl.stderr.decode()
            self.assertIn("verify OK", text, "the CRL's signature checks out with OpenSSL")
            self.assertIn(serial.upper(), text)
            check = run([OPENSSL, "verify", "-crl_check", "-CAfile", os.path.join(self.ca_dir, "ca.crt"),
                         "-CRLfile", os.path.join(self.ca_dir, "revoked.crl"), os.path.join(out_dir, "gw-1.crt")])
            self.assertNotEqual(check.returncode, 0)
            self.assertIn("certificate revoked", check.stdout.decode() + check.stderr.decode())

    def test_token_create_prints_only_the_token(self):
        edgectl("ca", "init", "--dir", self.ca_dir)
        result = edgectl("token", "create", "--ca-dir", self.ca_dir, "--tenant", "acme", "--ttl", "1h",
                         "--uses", "5")
        self.assertRegex(result.stdout.decode(), r"^edge1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}\n$")
        self.assertIn('tenant "acme": 5 use(s)', result.stderr.decode())
        for bad in (["--ttl", "90d"], ["--ttl", "1x"], ["--uses", "0"], ["--tenant", "bad tenant"]):
            args = {"--tenant": "acme", "--ttl": "1h", "--uses": "1"}
            args[bad[0]] = bad[1]
            argv = [binary("EDGECTL"), "token", "create", "--ca-dir", self.ca_dir]
            for k, v in args.items():
                argv += [k, v]
            refused = run(argv)
            self.assertNotEqual(refused.returncode, 0, bad)


if __name__ == "__main__":
    unittest.main()
