"""A real PostgreSQL server for tests: Debian's ``postgresql`` binaries, started on 127.0.0.1.

Tests that read from or export to PostgreSQL use the ``postgres_server`` fixture
(import it in the test module: ``from tests.postgres import postgres_server``).
The server runs in a temporary folder on a free port, with a password for its
user (so tests can check that the password never leaks) and is stopped at the end
of the session. ``initdb`` refuses to run as root, so as root the server runs as
the ``postgres`` user that Debian's package creates. Without the binaries the
tests skip, naming the package to install.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "segkit_test"
PASSWORD = "s3cret-Passw0rd-for-tests"  # searched for in outputs by the leak test


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where it listens and who may log in."""

    host: str
    port: int
    user: str
    password: str
    database: str
    bindir: Path

    @property
    def url(self) -> str:
        """The connection URL without the password (it comes from ``PGPASSWORD``)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """The environment a client needs: libpq's ``PGPASSWORD``."""
        return {**os.environ, "PGPASSWORD": self.password}

    def psql(self, sql: str) -> str:
        """Run SQL with ``psql`` (stops at the first error); its unaligned output."""
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.host,
             "-p", str(self.port), "-U", self.user, "-d", self.database, "-c", sql],
            env=self.env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout


def _bindir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """As root, run as ``postgres``; otherwise as ourselves."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on 127.0.0.1 for the test session (skips without the binaries)."""
    bindir = _bindir()
    if bindir is None or shutil.which("psql") is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root needs the 'postgres' user of Debian's postgresql package")
    folder = Path(tempfile.mkdtemp(prefix="segkit-pg-"))
    data, socket_dir = folder / "data", folder / "socket"
    socket_dir.mkdir()
    pwfile = folder / "pwfile"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    if os.geteuid() == 0:
        for path in (folder, socket_dir, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    log = folder / "server.log"
    try:
        subprocess.run(_as_server_user([
            str(bindir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
            "--locale=C.UTF-8"]), check=True, capture_output=True, text=True)
        subprocess.run(_as_server_user([
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start"]), check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr}\n{text}") from exc
    server = PostgresServer(host="127.0.0.1", port=port, user=USER, password=PASSWORD,
                            database="postgres", bindir=bindir)
    try:
        yield server
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m",
                                        "immediate", "stop"]), capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)
