"""The real CLI as a subprocess, free ports on 127.0.0.1, and waiting for a condition (bounded)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `syncd` CLI in a subprocess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)


def free_port() -> int:
    """A port nobody listens on right now (bound once, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1,
             what: str = "condition") -> Any:
    """`check()`'s first truthy value, asked every `interval` seconds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


def run_once(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`syncd run-once -c cfg` with the sandboxes' secrets in the environment."""
    from tests.support.config import ENV

    return run_cli("run-once", "-c", str(cfg), *args, env=env or ENV)
