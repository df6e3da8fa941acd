"""Unit tests stay in-process: a socket connection, a listening socket or a subprocess fails the test.

That keeps them fast and independent of the machine, and keeps the folders honest: a test that
needs a sandbox or PostgreSQL belongs in tests/integration/, one that runs the CLI in tests/e2e/.
"""

from __future__ import annotations

import socket
import subprocess
from typing import Any, Iterator

import pytest


def _refuse(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a unit test may not {what}: move it to tests/integration or tests/e2e")
    return refuse


@pytest.fixture(autouse=True)
def _in_process_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _refuse("open a network connection"))
    monkeypatch.setattr(socket.socket, "bind", _refuse("listen on a socket"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a process"))
    yield
