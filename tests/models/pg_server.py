"""A throw-away PostgreSQL server on loopback for tests: initdb into a temp dir, start, drop.

Uses the Debian `postgresql` package's binaries (``/usr/lib/postgresql/<v>/bin``) or whatever
``pg_ctl`` is on PATH. PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user (created by the Debian package) via ``runuser``.

``PostgresUnavailable`` says why no server could be had; tests turn it into a skip (or, with
``REQUIRE_POSTGRES=1`` as CI sets it, into a failure, so a broken install cannot hide as a skip).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "apt-get update && apt-get install -y --no-install-recommends postgresql"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why and how to fix it."""


def find_bindir() -> Path:
    """The folder holding initdb/pg_ctl: newest Debian version first, then PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
                        reverse=True)
    for path in candidates:
        if os.access(path, os.X_OK):
            return Path(path).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found; "
                              f"install them with: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` -> ``postgresql+psycopg2://postgres@127.0.0.1:P/optuna``."""

    def __init__(self, database: str = "optuna") -> None:
        self.database = database
        self.bindir = find_bindir()
        self.port = 0
        self.root: Path | None = None
        self._run_as: list[str] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{self.database}"

    def _cmd(self, tool: str, *args: str) -> list[str]:
        return [*self._run_as, str(self.bindir / tool), *args]

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run(self._cmd(tool, *args), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            log = ""
            if self.root and (self.root / "server.log").exists():
                log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise PostgresUnavailable(f"{tool} failed (exit {proc.returncode}): "
                                      f"{proc.stderr.strip() or proc.stdout.strip()}\n{log}")

    def start(self) -> PostgresServer:
        # /tmp rather than pytest's tmp_path: the postgres user must be able to reach the folder,
        # and pytest's base temp dir is private to the user running the tests.
        self.root = Path(tempfile.mkdtemp(prefix="optuna-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as err:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run "
                                          f"the server as (PostgreSQL refuses root); {INSTALL_HINT} "
                                          "creates it") from err
            runuser = shutil.which("runuser")
            if not runuser:
                raise PostgresUnavailable("running as root but `runuser` is missing to drop to the postgres user")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._run_as = [runuser, "-u", "postgres", "--"]
        data, sock = self.root / "data", self.root
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync", timeout=120)
        # Retry on a port race: another process may grab the free port between probe and bind.
        last: Exception | None = None
        for _ in range(3):
            self.port = free_port()
            opts = (f"-p {self.port} -k {sock} -c listen_addresses=127.0.0.1 "
                    # A test database: durability is not needed, speed is.
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                    "-c max_connections=50")
            try:
                self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"),
                          "-o", opts, "-w", "-t", "60", "start", timeout=90)
                break
            except PostgresUnavailable as err:
                last = err
        else:
            raise PostgresUnavailable(f"PostgreSQL did not start: {last}")
        self._create_database()
        return self

    def _create_database(self) -> None:
        try:
            # Imported here so that a missing driver becomes a skip with a reason, not an error.
            import psycopg2  # noqa: PLC0415
        except ImportError as err:  # pragma: no cover - psycopg2-binary is pinned
            raise PostgresUnavailable("psycopg2 is not installed (pip install psycopg2-binary)") from err
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", timeout=60)
            except (PostgresUnavailable, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
