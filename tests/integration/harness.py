"""Process harness for integration tests: runs the real edge-gateway and
edge-agent binaries on loopback with configs written to a temp dir, and reads
their SQLite files directly (the sink table and the agent's spool).

Binary paths come from the environment (set by CTest): EDGE_GATEWAY,
EDGE_AGENT, EDGECTL.
"""
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request


def binary(name):
    path = os.environ.get(name)
    if not path or not os.path.exists(path):
        raise RuntimeError(f"{name} is not set to a built binary; run this test through ctest")
    return path


def free_port():
    """A loopback port that was free a moment ago (for a process started later)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sink_rows(*gateways, columns="agent_id, seq, raw"):
    """Rows of several gateways' sinks together (the union, with duplicates)."""
    rows = []
    for gateway in gateways:
        rows += gateway.rows(columns)
    return rows


class LineWriter:
    """Appends numbered lines to a file from a thread at a steady rate, the way
    an application logs. pause()/resume() hold it between two writes (for
    rotation done "between writes"); reopen() makes it open the path again
    (an application reopening its log after rotation)."""

    def __init__(self, path, rate=1000, prefix="line", width=300):
        import threading
        self.path = path
        self.rate = rate
        self.prefix = prefix
        self.width = width
        self.written = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.reopen_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.file = None

    def line(self, i):
        text = f"{self.prefix} {i:08d} "
        return text + "x" * max(0, (i * 7919) % self.width)

    def start(self):
        self.file = open(self.path, "a", encoding="utf-8")
        self.thread.start()
        return self

    def reopen(self):
        with self.lock:
            self.file.close()
            self.file = open(self.path, "a", encoding="utf-8")

    def _run(self):
        i = 0
        period = 0.01  # write in small bursts every 10ms
        per_burst = max(1, int(self.rate * period))
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            with self.lock:
                lines = [self.line(i + k) for k in range(per_burst)]
                self.file.write("".join(l + "\n" for l in lines))
                self.file.flush()
                self.written += lines
            i += per_burst
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self):
        self.stop_event.set()
        self.thread.join()
        self.file.close()
        return self.written


def wait_for(predicate, timeout, what, on_timeout=None):
    """Polls predicate() until it returns a truthy value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.05)
    detail = on_timeout() if on_timeout else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})\n{detail}")


class Process:
    """A child process whose stderr goes to a log file kept for failure messages."""

    def __init__(self, workdir, name):
        self.workdir = workdir
        self.name = name
        self.proc = None
        self.log_path = os.path.join(workdir, f"{name}.log")

    def _spawn(self, argv):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code."""
        if not self.running():
            self._close_log()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM\n{self.log_tail()}")
        finally:
            self._close_log()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close_log()

    def _close_log(self):
        log = getattr(self, "log", None)
        if log is not None and not log.closed:
            log.close()

    def log_text(self):
        """The whole log of this process (all its restarts)."""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace").splitlines()
            return f"--- last lines of {self.log_path} ---\n" + "\n".join(text[-lines:])
        except OSError:
            return ""


class Gateway(Process):
    PLAINTEXT = "tls: {enabled: false, allow_plaintext: true}"

    def __init__(self, workdir, listen_port=0, extra_yaml="", name="gateway", tls_yaml=PLAINTEXT):
        """tls_yaml: gateway.tls / gateway.enrollment, plaintext on loopback by default."""
        super().__init__(workdir, name)
        self.tls_yaml = tls_yaml
        self.data_dir = os.path.join(workdir, f"{name}-data")
        self.config_path = os.path.join(workdir, f"{name}.yaml")
        self.ready_path = os.path.join(workdir, f"{name}.ready")
        self.listen_port = listen_port
        self.admin_port = None
        self.extra_yaml = extra_yaml

    @property
    def db_path(self):
        return os.path.join(self.data_dir, "events.db")

    def start(self):
        tls_yaml = "".join("  " + line + "\n" for line in self.tls_yaml.strip().splitlines())
        with open(self.config_path, "w") as f:
            f.write(f"""
gateway:
  listen: 127.0.0.1:{self.listen_port}
  data_dir: {self.data_dir}
  tenant: default
{tls_yaml}admin:
  listen: 127.0.0.1:0
log:
  level: debug
{self.extra_yaml}
""")
        if os.path.exists(self.ready_path):
            os.unlink(self.ready_path)
        self._spawn([binary("EDGE_GATEWAY"), "--config", self.config_path, "--ready-file", self.ready_path])

        def ready():
            if not self.running():
                raise AssertionError(f"gateway exited with {self.proc.returncode}\n{self.log_tail()}")
            if not os.path.exists(self.ready_path):
                return None
            with open(self.ready_path) as f:
                return json.load(f)

        info = wait_for(ready, 30, "the gateway's ready file", self.log_tail)
        self.listen_port = info["listen_port"]
        self.admin_port = info["admin_port"]
        return self

    def rows(self, columns="tenant, agent_id, seq, ts, kind, source, host, severity, fields, raw"):
        if not os.path.exists(self.db_path):
            return []
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(f"SELECT {columns} FROM events ORDER BY agent_id, seq").fetchall()
        except sqlite3.OperationalError:
            return []  # table not created yet
        finally:
            db.close()

    def row_count(self):
        return len(self.rows("seq"))

    def metrics(self):
        """Parses /metrics into {"name{labels}": value}."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values


class Agent(Process):
    """An edge-agent with one file input named e2e over `files`.

    gateway_port may be one port or a list (output.gateways); input_yaml adds
    keys to the file input (e.g. multiline); output_yaml and spool_yaml add
    keys to those sections; extra_yaml is appended as is. tls_yaml is the
    output.tls/output.enrollment part: by default plaintext, which the agent
    allows only because the gateways are on loopback."""

    PLAINTEXT = "tls: {enabled: false, allow_plaintext: true}"

    def __init__(self, workdir, gateway_port, files, start_at="beginning", hostname="e2e-host", extra_yaml="",
                 input_yaml="", output_yaml="", spool_yaml="", admin=False, tls_yaml=PLAINTEXT):
        super().__init__(workdir, "agent")
        self.data_dir = os.path.join(workdir, "agent-data")
        self.config_path = os.path.join(workdir, "agent.yaml")
        self.gateway_ports = list(gateway_port) if isinstance(gateway_port, (list, tuple)) else [gateway_port]
        self.files = files
        self.start_at = start_at
        self.hostname = hostname
        self.extra_yaml = extra_yaml
        self.input_yaml = input_yaml
        self.output_yaml = output_yaml
        self.spool_yaml = spool_yaml
        self.tls_yaml = tls_yaml
        self.admin_port = free_port() if admin else None

    @property
    def gateway_port(self):
        return self.gateway_ports[0]

    @property
    def spool_path(self):
        return os.path.join(self.data_dir, "spool.db")

    def start(self):
        paths = ", ".join(json.dumps(p) for p in self.files)
        gateways = ", ".join(f'"127.0.0.1:{p}"' for p in self.gateway_ports)
        indent = lambda text, n: "".join(" " * n + line + "\n" for line in text.strip().splitlines())
        admin = f"admin:\n  listen: 127.0.0.1:{self.admin_port}\n" if self.admin_port else ""
        with open(self.config_path, "w") as f:
            f.write(f"""
agent:
  hostname: {self.hostname}
  data_dir: {self.data_dir}
log:
  level: debug
{admin}spool:
  flush_interval: 50ms
  batch_max_events: 200
{indent(self.spool_yaml, 2)}inputs:
  - type: file
    name: e2e
    paths: [{paths}]
    start_at: {self.start_at}
    poll_interval: 50ms
{indent(self.input_yaml, 4)}output:
  gateways: [{gateways}]
  reconnect_min: 50ms
  reconnect_max: 500ms
{indent(self.tls_yaml, 2)}{indent(self.output_yaml, 2)}{self.extra_yaml}
""")
        self._spawn([binary("EDGE_AGENT"), "--config", self.config_path])
        return self

    def metrics(self):
        """Parses the agent's /metrics (needs admin=True) into {"name{labels}": value}."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                values[key] = float(value)
        return values

    def spool_batches(self):
        """Batches still waiting in the spool, or None before the spool exists."""
        if not os.path.exists(self.spool_path):
            return None
        db = sqlite3.connect(f"file:{self.spool_path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute("SELECT count(*) FROM batches").fetchone()[0]
        except sqlite3.OperationalError:
            return None
        finally:
            db.close()
