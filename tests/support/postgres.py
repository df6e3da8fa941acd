"""A throwaway PostgreSQL cluster in a temp dir on 127.0.0.1, that a test can stop and start again."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.process import free_port


def pg_bindir() -> str | None:
    """The newest installed PostgreSQL server's bin folder (Debian's layout), if any."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    return None


class PgCluster:
    """initdb in a temp dir; `start` and `stop` keep the port, so clients can reconnect after a restart.

    Without server binaries the test is skipped, or fails when SYNCD_REQUIRE_POSTGRES is set (CI).
    """

    def __init__(self, port: int | None = None) -> None:
        bindir = pg_bindir()
        if bindir is None:
            if os.environ.get("SYNCD_REQUIRE_POSTGRES"):
                pytest.fail("SYNCD_REQUIRE_POSTGRES is set but no PostgreSQL server binaries were found")
            pytest.skip("no PostgreSQL server binaries (apt-get install postgresql); CI installs them")
        self.bindir, self.port = bindir, port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
        self.data, self.sock, self.logfile = self.root / "data", self.root / "sock", self.root / "pg.log"
        self.sock.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self.as_user, f"{bindir}/initdb", "-D", str(self.data), "-U", "syncd",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, timeout=60)

    @property
    def url(self) -> str:
        """The server's SQLAlchemy URL, without a database."""
        return f"postgresql+psycopg://syncd@127.0.0.1:{self.port}"

    def start(self) -> "PgCluster":
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.sock} -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.logfile), "-w", "-t", "30", "start")
        return self

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "-t", "30", "stop")

    def create_db(self, name: str) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"postgresql://syncd@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"{self.url}/{name}"

    def destroy(self) -> None:
        try:
            self.stop()
        except Exception:  # already stopped (or never started): only the files are left
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def _ctl(self, *args: str) -> None:
        try:
            subprocess.run([*self.as_user, f"{self.bindir}/pg_ctl", "-D", str(self.data), *args], check=True,
                           capture_output=True, timeout=45)
        except subprocess.CalledProcessError as exc:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise AssertionError(f"pg_ctl {args[-1]} failed: {exc.stderr!r}\n{log[-2000:]}") from None
