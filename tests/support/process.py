"""The real CLI as a subprocess, free ports on 127.0.0.1, and waiting for a condition (bounded)."""

from __future__ import annotations

import os
import signal
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


# The ceiling of every wait: long enough that only a hung test reaches it, on a loaded 2-core runner too.
HANG_GUARD = 60.0


def wait_for(check: Callable[[], Any], timeout: float = HANG_GUARD, interval: float = 0.1,
             what: str = "condition") -> Any:
    """`check()`'s first truthy value, asked every `interval` seconds.

    The ceiling stops a hung test and nothing else: it is never below `HANG_GUARD`, whatever a caller
    asks for, so how fast something happens is never a condition of a test (bench/ measures speed).
    """
    within = max(timeout, HANG_GUARD)
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within:g}s")
        time.sleep(interval)


def run_once(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`syncd run-once -c cfg` with the sandboxes' secrets in the environment."""
    from tests.support.config import ENV

    return run_cli("run-once", "-c", str(cfg), *args, env=env or ENV)


def kill_mid_run(cfg: Path, writes: Callable[[], int], after: int, *,
                 env: dict[str, str] | None = None) -> bool:
    """Start `syncd run-once -c cfg`, SIGKILL it once it has made `after` writes; True if the kill landed.

    `writes()` counts the write requests the sandboxes have served so far. A kill *landed* when the
    process was still running at the kill and had written at least once since it started: a run that
    finished first, or never wrote, tested nothing, and the caller says so.
    """
    from tests.support.config import ENV

    before = writes()
    proc = subprocess.Popen([sys.executable, "-m", "syncd", "run-once", "-c", str(cfg)],
                            env={**os.environ, **(env or ENV)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: proc.poll() is not None or writes() - before >= after, interval=0.005,
                 what=f"run-once making {after} write(s) or exiting")
        landed = proc.poll() is None and writes() - before >= 1
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=HANG_GUARD)
    return landed
