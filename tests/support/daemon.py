"""`syncd run` as a subprocess, and the signed Cogny webhook events a test sends it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import yaml

from syncd.signatures import sign_headers
from syncd.store.database import create_engine
from syncd.store.inbox import Inbox
from tests.support.config import ENV
from tests.support.process import HANG_GUARD, wait_for

SECRET = "whsec_test_secret_123"  # webhook.secret of every daemon the tests start
ADMIN_TOKEN = "admin-token-for-e2e-tests"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # POST /-/reload needs it (issue 21, finding 10)


class Daemon:
    """`syncd run` as a subprocess, with its stdout and stderr in a log file."""

    def __init__(self, cfg: Path, port: int, log: Path, *, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), run_args: tuple[str, ...] = ()):
        self.cfg, self.port, self.log = cfg, port, log
        self.env = {**os.environ, **ENV, **(env or {})}
        self.args, self.run_args = args, run_args  # global options (before `run`), `run` options
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """The admin listener (console, /metrics, /-/reload): `admin.port` of the daemon's config."""
        doc = yaml.safe_load(self.cfg.read_text())
        return f"http://127.0.0.1:{doc['admin']['port']}"

    def start(self, timeout: float = HANG_GUARD) -> "Daemon":
        """Start it and wait until `/readyz` answers 200."""
        with open(self.log, "ab") as log:
            argv = [sys.executable, "-m", "syncd", *self.args, "run", "-c", str(self.cfg), *self.run_args]
            self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)
        wait_for(self._ready, timeout=timeout, what="daemon ready")
        return self

    def wait_first_cycle(self) -> "Daemon":
        """The daemon runs a cycle at start; tests that add tickets afterwards must not race it."""
        def ended() -> bool:
            text = httpx.get(f"{self.admin_url}/metrics", timeout=2).text
            return any(line.startswith("syncd_cycle_duration_seconds_count ") and float(line.split()[1]) >= 1
                       for line in text.splitlines())
        wait_for(ended, what="the first cycle")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log.read_text()[-3000:]}")
        return readyz(self) == 200

    def post(self, body: bytes, headers: dict[str, str] | None = None, timeout: float = 10) -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/cogny", content=body, headers=headers or {}, timeout=timeout)

    def send(self, payload: dict[str, Any], secret: str = SECRET, timeout: float = 10) -> httpx.Response:
        """POST a Cogny event signed with `secret`."""
        body = json.dumps(payload).encode()
        return self.post(body, sign_headers(body, secret), timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = HANG_GUARD) -> int | None:
        """Send `sig`, wait for the exit code; killed if it outlives `timeout` (a hang guard: a daemon
        that needs longer to finish its in-flight work on a loaded machine is not failed for it)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


def readyz(d: Daemon) -> int:
    """The status `/readyz` answers with, 0 when nothing answers."""
    try:
        return httpx.get(f"{d.url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def event(ticket_id: str, event_id: str | int, type_: str = "ticket.created") -> dict[str, Any]:
    """A Cogny event about `ticket_id`; a number `event_id` becomes `evt_<ticket id>_<n>`."""
    ident = f"evt_{ticket_id}_{event_id}" if isinstance(event_id, int) else event_id
    return {"id": ident, "type": type_, "created_at": "2025-02-07T10:30:00Z",
            "data": {"ticket_id": ticket_id, "warehouse_id": "wh_123abc"}}


def standard_headers(body: bytes, secret: str, msg_id: str, timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature v1)."""
    from syncd.signatures import _standard_keys, standard_signature

    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sig = standard_signature(msg_id, stamp, body, _standard_keys(secret)[0])
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{sig}",
            "Content-Type": "application/json"}


def daemon_config(w: SimpleNamespace, port: int, **extra: Any) -> Path:
    """Rewrite a world's config (tests.support.world) with a webhook receiver on `port` and a quick inbox."""
    cfg: Path = w.cfg
    doc = yaml.safe_load(cfg.read_text())
    doc["webhook"] = {"host": "127.0.0.1", "port": port, "secret": SECRET}
    doc["schedule"] = {"interval_seconds": 3600}
    doc["inbox"] = {"max_attempts": 20, "backoff_seconds": 0.05, "max_backoff_seconds": 0.5,
                    "lease_seconds": 2}
    for key, value in extra.items():
        doc.setdefault(key, {}).update(value)
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg


def inbox_of(db: Path) -> Inbox:
    """The inbox of an SQLite store, read from the test's process."""
    return Inbox(create_engine(f"sqlite:///{db}"))


def all_states(inbox: Inbox) -> dict[str, str]:
    """event id -> state, for every event in the inbox (bounded listing)."""
    return {e.event_id: e.state for e in inbox.list(limit=100_000)}
