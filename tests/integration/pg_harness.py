"""A throwaway PostgreSQL server for integration tests and benchmarks.

Runs Debian's postgresql package (/usr/lib/postgresql/<v>/bin) in a temporary
directory: initdb, then pg_ctl start listening on a unix socket inside that
directory and on a free TCP port on 127.0.0.1, trust authentication (local
tests only), one database created for the caller. Both initdb and pg_ctl
refuse to run as root, so as root they run as the `postgres` system user
(`runuser -u postgres --`). stop() (also registered with atexit) stops the
server and removes the directory.

    from pg_harness import PostgresServer, skip_unless_postgres

    class MyTest(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            skip_unless_postgres()
            cls.pg = PostgresServer().start()
        @classmethod
        def tearDownClass(cls):
            cls.pg.stop()
        def test_x(self):
            self.pg.psql("SELECT 1")        # -> [["1"]]
            self.pg.dsn                      # libpq connection string (TCP)

Nothing here depends on the edge binaries, so other tests (token stores,
benchmarks) can import it on its own.
"""
import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import unittest


def _bin_dir():
    """Newest installed server's bin directory, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(candidates[-1]) if candidates else None


def missing_reason():
    """Why a server cannot be started here, or None when it can."""
    bindir = _bin_dir()
    if bindir is None:
        return ("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/pg_ctl); "
                "install them with: apt-get install postgresql")
    if shutil.which("psql") is None and not os.path.exists(os.path.join(bindir, "psql")):
        return "psql not found; install it with: apt-get install postgresql-client"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root needs runuser (util-linux) to start PostgreSQL as the postgres user"
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            return ("running as root needs the `postgres` system user (created by Debian's postgresql "
                    "package) because initdb and pg_ctl refuse to run as root")
    return None


def skip_unless_postgres():
    """Raises unittest.SkipTest with the reason when no server can be started."""
    reason = missing_reason()
    if reason:
        raise unittest.SkipTest(reason)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server in its own temporary directory.

    database: created at start (the dsn points at it). settings: extra
    postgresql.conf parameters, e.g. {"fsync": "off"} for speed where
    durability across a power cut is not what is tested.
    """

    def __init__(self, database="edge", settings=None, keep=False):
        reason = missing_reason()
        if reason:
            raise RuntimeError(reason)
        self.bindir = _bin_dir()
        self.database = database
        self.settings = dict(settings or {})
        self.keep = keep
        self.dir = None
        self.port = None
        self.running = False
        self._as_postgres = os.geteuid() == 0

    # Paths ---------------------------------------------------------------
    @property
    def data_dir(self):
        return os.path.join(self.dir, "data")

    @property
    def socket_dir(self):
        return os.path.join(self.dir, "sock")

    @property
    def log_path(self):
        return os.path.join(self.dir, "server.log")

    @property
    def dsn(self):
        """libpq connection string over TCP on 127.0.0.1."""
        return f"host=127.0.0.1 port={self.port} dbname={self.database} user=postgres"

    @property
    def socket_dsn(self):
        """libpq connection string over the unix socket."""
        return f"host={self.socket_dir} port={self.port} dbname={self.database} user=postgres"

    def env(self):
        """PG* environment variables that point libpq at this server."""
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGDATABASE": self.database,
                "PGUSER": "postgres"}

    # Lifecycle -----------------------------------------------------------
    def _run(self, argv, check=True, timeout=120):
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                                cwd=self.dir)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed with {result.returncode}:\n"
                               f"{result.stdout.decode(errors='replace')}\n{self.log_tail()}")
        return result

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="edge-pg-")
        os.makedirs(self.socket_dir)
        if self._as_postgres:
            import pwd
            pw = pwd.getpwnam("postgres")
            for path in (self.dir, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        atexit.register(self.stop)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data_dir, "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        conf = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{self.socket_dir}'",
                "max_connections": "50", "shared_buffers": "128MB", "log_min_messages": "warning"}
        conf.update({k: str(v) for k, v in self.settings.items()})
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")
        self.port = free_port()
        self._ctl_start()
        self.psql(f"CREATE DATABASE {self.database}", database="postgres")
        return self

    def _ctl_start(self):
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir, "-l", self.log_path,
                   "-o", f"-p {self.port}", "-w", "-t", "60", "start"])
        self.running = True

    def restart(self, mode="fast"):
        """pg_ctl restart: every client connection is cut (fast mode terminates them)."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir, "-l", self.log_path,
                   "-o", f"-p {self.port}", "-m", mode, "-w", "-t", "60", "restart"])
        self.running = True

    def stop_server(self, mode="fast"):
        """Stops the server but keeps its directory (start_server() brings it back)."""
        if self.running:
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir, "-m", mode, "-w",
                       "-t", "60", "stop"], check=False)
            self.running = False

    def start_server(self):
        self._ctl_start()

    def stop(self):
        """Stops the server and removes its directory; safe to call twice."""
        if self.dir is None:
            return
        self.stop_server(mode="immediate")
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # Queries -------------------------------------------------------------
    def psql_command(self, database=None):
        psql = os.path.join(self.bindir, "psql")
        if not os.path.exists(psql):
            psql = shutil.which("psql")
        dsn = self.dsn if database is None else self.dsn.replace(f"dbname={self.database}", f"dbname={database}")
        return [psql, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1"]

    def psql(self, sql, database=None, input=None):
        """Runs SQL with psql (as a separate client, from outside the code under
        test); returns the rows of the last statement as lists of strings
        (NULL as None)."""
        argv = self.psql_command(database) + ["-A", "-t", "-F", "\x1f", "-R", "\x1d", "-P", "null=\x1e",
                                             "-c", sql]
        result = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {sql}\n{result.stderr.decode(errors='replace')}")
        rows = []
        out = result.stdout.decode()
        if out.endswith("\n"):
            out = out[:-1]
        for line in out.split("\x1d"):
            if line == "":
                continue
            rows.append([None if v == "\x1e" else v for v in line.split("\x1f")])
        return rows

    def scalar(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace").splitlines()
            return f"--- last lines of {self.log_path} ---\n" + "\n".join(text[-lines:])
        except (OSError, TypeError):
            return ""
