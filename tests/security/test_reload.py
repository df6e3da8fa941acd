"""`POST /-/reload` is authenticated and reloads are coalesced (finding 10).

Before: any request reaching the port from the loopback (a reverse proxy on the same host, say)
could reload, and 100 reloads in 3 s grew the daemon from 8 to 109 threads and from 15 to 216
file descriptors for 30 s (one timer thread and one set of old clients per reload). Now a reload
needs the admin credentials (`admin.auth`, or the older `webhook.admin_token` as a bearer token) on the
admin listener, at most one runs at a time (those asked for
meanwhile share one follow-up), and a replaced App is closed as soon as nothing uses it.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from starlette.applications import Starlette

from syncd.console import Credentials
from syncd.console.access import allowed
from syncd.daemon.daemon import Coalesced
from syncd.daemon.webhook import Receiver
from syncd.http.server import Limits, ServerThread
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import jira_settings, write_config
from tests.support.daemon import ADMIN, ADMIN_TOKEN, SECRET, Daemon
from tests.support.process import free_port, wait_for

BURST, SENDERS = 100, 10
SETTLE = 15.0  # half the 30 s the old timers kept every replaced App open


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with CognySandbox([]) as cogny, JiraSandbox() as jira:
        port = free_port()
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)}, extra={
            "webhook": {"host": "127.0.0.1", "port": port, "secret": SECRET, "admin_token": ADMIN_TOKEN},
            "schedule": {"interval_seconds": 3600}})
        d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            yield d
        finally:
            d.stop(signal.SIGKILL)


def threads_and_fds(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    threads = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))
    return threads, len(os.listdir(f"/proc/{pid}/fd"))


def reloads_logged(d: Daemon) -> int:
    return d.log.read_text().count('"config reloaded"')


def reload(client: httpx.Client, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/-/reload", headers=headers or {})


def test_admin_endpoints_refuse_without_a_configured_token_or_from_behind_a_proxy() -> None:
    calls: list[int] = []

    async def reload() -> tuple[bool, list[str]]:
        calls.append(1)
        return True, []

    token: list[str | None] = [None]
    none: Any = None  # the admin paths touch neither the writer nor the inbox

    def admin_auth(request: Any) -> bool | None:
        creds = Credentials("bearer", token[0]) if token[0] else None
        return None if creds is None else allowed(request, creds)

    receiver = Receiver(writer=none, inbox=none, secrets=lambda: [], reload=reload, admin_auth=admin_auth)
    admin = Starlette(routes=receiver.admin_routes())
    with ServerThread(admin, limits=Limits(), name="admin-test") as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        disabled = client.post("/-/reload", headers=ADMIN)
        assert disabled.status_code == 403 and "admin.auth" in disabled.json()["error"]["message"]
        token[0] = ADMIN_TOKEN
        # A reverse proxy on this host forwards the client's address: not the loopback, even with the token.
        proxied = client.post("/-/reload", headers={**ADMIN, "X-Forwarded-For": "203.0.113.7"})
        assert proxied.status_code == 403
        assert client.post("/-/reload").status_code == 401 and calls == []
        assert client.post("/-/reload", headers=ADMIN).status_code == 200 and calls == [1]


@pytest.mark.e2e
def test_reload_needs_the_admin_token_even_from_the_loopback(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.url, timeout=10) as public:  # the webhook port has no admin path
        assert public.post("/-/reload", headers=ADMIN).status_code == 404
        assert public.get("/metrics").status_code == 404
    with httpx.Client(base_url=daemon.admin_url, timeout=10) as client:
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-some-length"},
                        {"Authorization": f"Basic {ADMIN_TOKEN}"}, {"Authorization": ADMIN_TOKEN},
                        {"Authorization": f"Bearer {ADMIN_TOKEN}x"}):
            answer = reload(client, headers)
            assert answer.status_code == 401, (headers, answer.text)
            assert answer.json()["error"]["code"] == "UNAUTHORIZED"
            assert answer.headers["www-authenticate"] == "Bearer"
        # The same refusal for the other admin endpoint.
        assert client.post("/-/webhooks/jira", json={"target": "http://x/y"}).status_code == 401
        assert reloads_logged(daemon) == 0
        assert reload(client, ADMIN).status_code == 200
        wait_for(lambda: reloads_logged(daemon) == 1, timeout=10)
    assert ADMIN_TOKEN not in daemon.log.read_text()


@pytest.mark.e2e
def test_a_burst_of_reloads_leaves_no_threads_or_fds_behind(daemon: Daemon) -> None:
    assert daemon.proc is not None
    pid = daemon.proc.pid
    with httpx.Client(base_url=daemon.admin_url, timeout=30) as client:
        assert reload(client, ADMIN).status_code == 200  # warm-up: whatever a first reload loads
    base_threads, base_fds = threads_and_fds(pid)
    answers: list[int] = []

    def sender() -> None:
        with httpx.Client(base_url=daemon.admin_url, timeout=60) as client:
            answers.extend(reload(client, ADMIN).status_code for _ in range(BURST // SENDERS))

    senders = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for s in senders:
        s.start()
    for s in senders:
        s.join(120)
    assert answers == [200] * BURST
    assert 2 <= reloads_logged(daemon) <= 1 + BURST

    def settled() -> bool:  # near the baseline: the reload thread and the replaced Apps are gone
        threads, fds = threads_and_fds(pid)
        return threads <= base_threads + 2 and fds <= base_fds + 4

    wait_for(settled, timeout=SETTLE)
    # SIGHUP still reloads, through the same coalescing.
    before = reloads_logged(daemon)
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: reloads_logged(daemon) == before + 1, timeout=15)
    assert httpx.get(f"{daemon.url}/healthz", timeout=10).status_code == 200


def test_reloads_run_one_at_a_time_and_requests_meanwhile_share_one_follow_up() -> None:
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def work() -> int:
        runs.append(len(runs) + 1)
        started.set()
        release.wait(30)
        return len(runs)

    coalesced: Coalesced[int] = Coalesced(work, "reload-test")
    first = coalesced.request()
    assert started.wait(30)
    meanwhile = [coalesced.request() for _ in range(50)]
    assert all(f is meanwhile[0] for f in meanwhile) and meanwhile[0] is not first
    assert not first.done() and len(runs) == 1  # the follow-up waits for the run under way
    release.set()
    assert first.result(30) == 1 and meanwhile[0].result(30) == 2
    assert coalesced.request().result(30) == 3 and len(runs) == 3
    wait_for(lambda: not any(t.name == "reload-test" for t in threading.enumerate()), timeout=10)
