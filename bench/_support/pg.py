"""A throwaway PostgreSQL server for a benchmark: initdb in a temp dir, 127.0.0.1 only, removed after.

The start logic of `tests/support/postgres.py`, copied rather than imported: that module imports
pytest (it skips a test when no server is installed), and a benchmark is no test. Unlike the
tests' cluster this one keeps `fsync` on (a benchmark measures what a deployment would pay) unless
asked otherwise, and reports a database's size on disk.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from _support.common import free_port


def bindir() -> str | None:
    """The newest installed PostgreSQL server's bin folder (Debian's layout), if any."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    return None


class PgServer:
    """initdb + pg_ctl start in a temp dir; `url(db)` is a SQLAlchemy URL. Use as a context manager."""

    def __init__(self, *, fsync: bool = True) -> None:
        found = bindir()
        if found is None:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.bin, self.port, self.fsync = found, free_port(), fsync
        self.root = Path(tempfile.mkdtemp(prefix="syncd-bench-pg-"))
        self.data, self.sock, self.logfile = self.root / "data", self.root / "sock", self.root / "pg.log"
        self.sock.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self.as_user, f"{self.bin}/initdb", "-D", str(self.data), "-U", "syncd",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, timeout=60)

    def start(self) -> "PgServer":
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.sock} -c fsync={'on' if self.fsync else 'off'}"
        self._ctl("-o", opts, "-l", str(self.logfile), "-w", "-t", "30", "start")
        return self

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://syncd@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_db(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def size(self, name: str) -> int:
        """Bytes on disk of one database (tables, indexes, TOAST), as PostgreSQL counts them."""
        rows = self.admin("SELECT pg_database_size(%s)", (name,))
        return int(str(rows[0][0]))

    def admin(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(f"postgresql://syncd@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            cur = conn.execute(sql.encode(), params or None)  # bytes: a literal query, no template
            return cur.fetchall() if cur.description else []

    def destroy(self) -> None:
        try:
            self._ctl("-m", "fast", "-w", "-t", "30", "stop")
        except Exception:  # already stopped, or never started: only the files are left
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def _ctl(self, *args: str) -> None:
        try:
            subprocess.run([*self.as_user, f"{self.bin}/pg_ctl", "-D", str(self.data), *args], check=True,
                           capture_output=True, timeout=45)
        except subprocess.CalledProcessError as exc:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise RuntimeError(f"pg_ctl {args[-1]} failed: {exc.stderr!r}\n{log[-2000:]}") from None
