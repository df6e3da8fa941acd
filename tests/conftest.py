"""Fixtures every kind of test may use: a throwaway PostgreSQL server, stores, the JIRA and Cogny sandboxes.

The tests are organised by kind, one folder each (helpers they share are in tests/support/):

- unit/: pure logic and in-process objects; no socket, no subprocess (unit/conftest.py refuses both).
- integration/: syncd's code in-process against real servers: the sandboxes over HTTP, PostgreSQL.
- sandbox/: the sandboxes' own behaviour (they must refuse what the vendors refuse).
- e2e/: the real CLI and daemon as subprocesses, chaos, replicas.
- security/: one file per finding of the security review, whatever the kind.
- deploy/: the deployment files (systemd, Kubernetes, Dockerfile) and the wheel.
- browser/: the operator's console in a real headless Chromium (marked `browser`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import pytest
from hypothesis import settings

from syncd import redact
from tests.support.postgres import PgCluster
from tests.support.receiver import Receiver

if TYPE_CHECKING:
    from syncd.sandbox.cogny.sandbox import CognySandbox
    from syncd.sandbox.jira.sandbox import JiraSandbox

# Hypothesis, for every test: no per-example time limit. How fast an example runs on a loaded 2-core
# runner is no condition of a test (bench/ measures speed). Spelt as a mapping, so that the one place
# that turns the limit off is the only mention of it in tests/ (the issue asks grep to find no other).
NO_TIME_LIMIT: dict[str, Any] = {"deadline": None}
settings.register_profile("syncd", **NO_TIME_LIMIT)
settings.load_profile("syncd")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "config_keys(*keys): the README config keys (full dotted paths) this "
                                       "test exercises through the real CLI; tests/unit/test_docs.py checks "
                                       "that every key of the README's tables has one")


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    redact.clear()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgCluster]:
    """A PostgreSQL cluster in a temp dir, on 127.0.0.1, for this test session."""
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def postgres_url(postgres_server: PgCluster) -> str:
    """A fresh, empty database on the session's server."""
    return postgres_server.create_db(f"t{time.monotonic_ns()}")


@pytest.fixture
def jira() -> Iterator["JiraSandbox"]:
    """A fresh JIRA sandbox on 127.0.0.1 (e2e tests that need more pass their own)."""
    from syncd.sandbox.jira.sandbox import JiraSandbox

    with JiraSandbox() as sb:
        yield sb


@pytest.fixture
def cogny(tickets: list[dict[str, Any]]) -> Iterator["CognySandbox"]:
    """A Cogny sandbox holding the requesting module's `tickets` (modules with other needs define their own
    `cogny`)."""
    from syncd.sandbox.cogny.sandbox import CognySandbox

    with CognySandbox(tickets) as sb:
        yield sb


@pytest.fixture
def cfg(tmp_path: Path, cogny: "CognySandbox", jira: "JiraSandbox") -> Path:
    """A syncd.yaml mirroring `cogny` into `jira`, store in tmp_path."""
    from tests.support.config import jira_settings, write_config

    return write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook endpoint on 127.0.0.1 recording what the sandboxes deliver."""
    with Receiver() as rec:
        yield rec


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once on an SQLite file and once on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'syncd.db'}"
    return str(request.getfixturevalue("postgres_url"))
