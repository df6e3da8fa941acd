"""Shared fixtures: a throwaway PostgreSQL server, SQLite stores, the CLI as a subprocess."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from syncd import redact

if TYPE_CHECKING:
    from syncd.sandbox.cogny.sandbox import CognySandbox
    from syncd.sandbox.jira.sandbox import JiraSandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    redact.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bindir() -> str | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL cluster in a temp dir, on 127.0.0.1, for this test session. Yields a base URL."""
    bindir = _pg_bindir()
    if bindir is None:
        if os.environ.get("SYNCD_REQUIRE_POSTGRES"):
            pytest.fail("SYNCD_REQUIRE_POSTGRES is set but no PostgreSQL server binaries were found")
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql); CI installs them")
    root = Path(tempfile.mkdtemp(prefix="syncd-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", str(data), "-U", "syncd", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*as_user, f"{bindir}/postgres", "-D", str(data), "-p", str(port),
                             "-h", "127.0.0.1", "-k", str(sock), "-c", "fsync=off"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"postgres did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
    time.sleep(0.3)
    try:
        yield f"postgresql+psycopg://syncd@127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's server."""
    import psycopg

    name = f"t{time.monotonic_ns()}"
    base = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


@pytest.fixture
def jira() -> Iterator["JiraSandbox"]:
    """A fresh JIRA sandbox on 127.0.0.1 (e2e tests that need more pass their own)."""
    from syncd.sandbox.jira.sandbox import JiraSandbox

    with JiraSandbox() as sb:
        yield sb


@pytest.fixture
def cogny(tickets: list[dict[str, Any]]) -> Iterator["CognySandbox"]:
    """A Cogny sandbox holding the requesting module's `tickets` (modules with other needs define their own)."""
    from syncd.sandbox.cogny.sandbox import CognySandbox

    with CognySandbox(tickets) as sb:
        yield sb


@pytest.fixture
def cfg(tmp_path: Path, cogny: "CognySandbox", jira: "JiraSandbox") -> Path:
    """A syncd.yaml mirroring `cogny` into `jira`, store in tmp_path."""
    from tests.helpers import jira_settings, write_config

    return write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once on an SQLite file and once on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'syncd.db'}"
    return request.getfixturevalue("postgres_url")


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `syncd` CLI in a subprocess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)
