"""Asana's handshake is syncd's to ask for (finding 6): a stranger's `X-Hook-Secret` is refused.

Before: `POST /webhooks/asana` with `X-Hook-Secret: ", "` was answered 200 echoing it, the value
was stored and registered for redaction, and every JSON log line after it was broken
(`{"connector": "asana***event": …`). Now a handshake is accepted only while syncd itself creates
the webhook (`POST /-/webhooks/NAME`), and only configured or legitimately handed-over secrets are
ever registered for redaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import httpx
import pytest

from syncd import redact
from syncd.cli.sandboxes import KINDS
from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.cogny.sandbox import CognySandbox
from tests.support.config import write_config
from tests.support.daemon import ADMIN, ADMIN_TOKEN, Daemon
from tests.support.process import free_port, wait_for

pytestmark = [pytest.mark.e2e]
HOSTILE = '", "'  # masking this would break the syntax of every JSON log line


@pytest.fixture
def live(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """A daemon with an Asana connector syncing back; no webhook registered yet."""
    with CognySandbox([]) as cogny, AsanaSandbox() as asana:
        port = free_port()
        webhook = {"host": "127.0.0.1", "port": port, "secret": "whsec_unused_here",
                   "admin_token": ADMIN_TOKEN}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url,
                           {"asana": {**KINDS["asana"].connector(asana), "sync_back": True}},
                           extra={"webhook": webhook, "schedule": {"interval_seconds": 3600},
                                  "sync_back": {"interval_seconds": 3600}})
        daemon = Daemon(cfg, port, tmp_path / "daemon.log").start()
        try:
            yield SimpleNamespace(daemon=daemon, asana=asana, db=tmp_path / "syncd.db",
                                  log=tmp_path / "daemon.log")
        finally:
            daemon.stop(signal.SIGTERM)


def stored_secrets(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT secret FROM hook_secrets")]


def json_lines(log: Path) -> list[dict[str, object]]:
    """Every JSON log line (uvicorn's own stdlib lines are plain text); fails on a broken one."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def refusals(log: Path) -> int:
    return sum("handshake refused" in str(line.get("event")) for line in json_lines(log))


def test_a_value_a_caller_could_send_is_never_registered_for_redaction() -> None:
    line = json.dumps({"connector": "asana", "event": "webhook handshake refused", "n": "1234567"})
    redact.register(HOSTILE, "1234567", "        ", None, "")
    assert redact.redact(line) == line and json.loads(redact.redact(line))["connector"] == "asana"
    redact.register("a-real-secret-value")
    assert redact.redact("token=a-real-secret-value") == "token=***"


def test_an_unsolicited_handshake_is_403_stored_nowhere_and_logs_stay_json(live: SimpleNamespace) -> None:
    url = f"{live.daemon.url}/webhooks/asana"
    for value in (HOSTILE, "f" * 64):  # junk, and a value shaped like a real secret
        answer = httpx.post(url, content=b"", headers={"X-Hook-Secret": value}, timeout=10)
        assert answer.status_code == 403, answer.text
        assert "x-hook-secret" not in answer.headers and value not in answer.text
        assert answer.json()["success"] is False
        assert answer.json()["error"]["code"] == "HANDSHAKE_NOT_EXPECTED"
    wait_for(lambda: refusals(live.log) == 2, timeout=10)  # one line per refused request
    assert stored_secrets(live.db) == []
    # A line logged afterwards (a refused reload) is still valid JSON, with its keys intact.
    assert httpx.post(f"{live.daemon.admin_url}/-/reload", timeout=10).status_code == 401
    wait_for(lambda: any(line.get("event") == "admin request refused" for line in json_lines(live.log)),
             timeout=10)
    assert all("connector" in line for line in json_lines(live.log) if "handshake refused" in str(line))
    assert "f" * 64 not in live.log.read_text()


def test_syncd_creating_the_webhook_accepts_that_handshake_only(live: SimpleNamespace) -> None:
    admin = f"{live.daemon.admin_url}/-/webhooks/asana"
    target = {"target": f"{live.daemon.url}/webhooks/asana"}
    assert httpx.post(admin, json=target, timeout=10).status_code == 401  # admin endpoint: token needed
    made = httpx.post(admin, json=target, headers=ADMIN, timeout=10)
    assert made.status_code == 201, made.text
    [secret] = stored_secrets(live.db)
    assert len(secret) >= 16 and secret not in made.text and secret not in live.log.read_text()
    assert [w["target"] for w in live.asana.events.webhooks.values()] == [target["target"]]
    # The window closed with the creation: another handshake, even the same value, is refused.
    again = httpx.post(f"{live.daemon.url}/webhooks/asana", content=b"", headers={"X-Hook-Secret": secret},
                       timeout=10)
    assert again.status_code == 403 and "x-hook-secret" not in again.headers
    # Deliveries signed with the handed-over secret are accepted; others are not.
    body = b'{"events": []}'
    good = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    url = f"{live.daemon.url}/webhooks/asana"
    ok = httpx.post(url, content=body, headers={"X-Hook-Signature": good}, timeout=10)
    assert ok.status_code == 202, ok.text
    forged = httpx.post(url, content=body, headers={"X-Hook-Signature": "0" * 64}, timeout=10)
    assert forged.status_code == 401
    assert secret not in live.log.read_text()
