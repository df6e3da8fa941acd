"""The listener holds its ground against slow and greedy clients (finding 9).

Before: a body was read in full before its signature was looked at, with no header or body
deadline: 100 slow connections declaring 1 MB each took the daemon from 88 to 182 MB, and no
connection was ever timed out. Now the signature header is checked first (401 without reading),
a declared size over the cap is 413 without reading, a body must arrive within
`webhook.read_timeout_seconds` (408), so must a request's headers (closed), and there are caps on
connections in all (503) and on requests in flight per client address (429).

The daemon listens on 127.0.0.1; a "second client" is the same loopback reached from source
address 127.0.0.2, so its requests count against another per-client budget.
"""

from __future__ import annotations

import select
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import jira_settings, write_config
from tests.support.daemon import SECRET, Daemon
from tests.support.process import free_port, wait_for

pytestmark = [pytest.mark.e2e]
READ_TIMEOUT = 2         # webhook.read_timeout_seconds in these tests
MAX_CONNECTIONS = 120
PER_CLIENT = 8
SLOW_CLIENTS = 100
DECLARED = 1_000_000     # what each slow client promises (under the 1 MiB cap)
SENT = 900_000           # what it sends at once, before it trickles
FORGED = {"X-Cogny-Signature": "ab" * 32}  # well-formed, so only the body can prove it wrong
GIVE_UP = 60.0           # a hang guard for the clients, far beyond any deadline the daemon keeps


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with CognySandbox([]) as cogny, JiraSandbox() as jira:
        port = free_port()
        jira_entry = jira_settings(jira.url, sync_back=True, webhook_secret="jira-hook-secret-limits")
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_entry}, extra={
            "webhook": {"host": "127.0.0.1", "port": port, "secret": SECRET,
                        "read_timeout_seconds": READ_TIMEOUT, "max_connections": MAX_CONNECTIONS,
                        "max_requests_per_client": PER_CLIENT},
            "schedule": {"interval_seconds": 3600}, "sync_back": {"interval_seconds": 3600}})
        d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            yield d
        finally:
            d.stop(signal.SIGKILL)


def head(path: str, length: int, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}",
             "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def other_client(d: Daemon) -> httpx.Client:
    """A client on another source address than the test's raw sockets (127.0.0.1)."""
    return httpx.Client(base_url=d.url, timeout=10, transport=httpx.HTTPTransport(local_address="127.0.0.2"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def answered_before_the_body(port: int, path: str, length: int, headers: dict[str, str]) -> int:
    """Send only the head of a request that declares `length` body bytes; the status answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP) as s:
        s.sendall(head(path, length, headers))
        return status_of(s.recv(4096))  # not one body byte was sent


def test_headers_alone_decide_unsigned_and_oversize_requests(daemon: Daemon) -> None:
    port = daemon.port
    assert answered_before_the_body(port, "/webhooks/cogny", DECLARED, {}) == 401
    assert answered_before_the_body(port, "/webhooks/cogny", DECLARED, {"X-Cogny-Signature": "x"}) == 401
    assert answered_before_the_body(port, "/webhooks/cogny", 50_000_000, FORGED) == 413
    assert answered_before_the_body(port, "/webhooks/jira", DECLARED, {}) == 401
    assert answered_before_the_body(port, "/webhooks/jira", DECLARED, {"X-Hub-Signature": "sha1=00"}) == 401
    signed = {"X-Hub-Signature": "sha256=" + "0" * 64}
    assert answered_before_the_body(port, "/webhooks/jira", 50_000_000, signed) == 413


class SlowClient(threading.Thread):
    """Declares DECLARED bytes, sends SENT at once, then one byte at a time until the daemon cuts it off."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.outcome: str | None = None  # "408", "429", ... "closed" or "reset"; None: never cut off
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=GIVE_UP) as s:
                s.sendall(head("/webhooks/cogny", DECLARED, FORGED) + b"x" * SENT)
                while not self.stop.is_set():
                    if select.select([s], [], [], 0.2)[0]:
                        answer = s.recv(4096)
                        self.outcome = str(status_of(answer)) if answer else "closed"
                        return
                    s.send(b"x")
        except OSError:
            self.outcome = "reset"


@pytest.mark.config_keys("webhook.read_timeout_seconds")
def test_slow_bodies_are_cut_off_and_cost_no_lasting_memory(daemon: Daemon) -> None:
    assert daemon.proc is not None
    baseline = rss_kib(daemon.proc.pid)
    clients = [SlowClient(daemon.port) for _ in range(SLOW_CLIENTS)]
    for c in clients:
        c.start()
    peak, health = baseline, []
    deadline = time.monotonic() + GIVE_UP
    with other_client(daemon) as other:
        while any(c.is_alive() for c in clients) and time.monotonic() < deadline:
            peak = max(peak, rss_kib(daemon.proc.pid))
            health.append(other.get("/healthz").status_code)  # the daemon keeps answering others
            time.sleep(0.1)
        for c in clients:
            c.stop.set()
            c.join(5)
        assert other.get("/healthz").status_code == 200
    outcomes = [c.outcome for c in clients]
    assert None not in outcomes, f"{outcomes.count(None)} of {SLOW_CLIENTS} slow clients were never cut off"
    assert "408" in outcomes and "429" in outcomes, outcomes  # deadline, and the per-client cap
    assert health and set(health) == {200}, health
    grown_mib = (peak - baseline) / 1024
    # Unbounded, 100 buffered bodies of 0.9 MB would be ~90 MB; the cap admits 8 at a time.
    assert grown_mib < 40, f"resident memory grew by {grown_mib:.0f} MiB under {SLOW_CLIENTS} slow clients"


@pytest.mark.config_keys("webhook.read_timeout_seconds", "webhook.max_connections",
                         "webhook.max_requests_per_client")
def test_slow_headers_are_cut_off_and_connections_are_capped_in_all(daemon: Daemon) -> None:
    socks = []
    for _ in range(MAX_CONNECTIONS):
        s = socket.create_connection(("127.0.0.1", daemon.port), timeout=GIVE_UP)
        s.sendall(b"POST /webhooks/cogny HTT")  # a request line that never ends (slowloris)
        socks.append(s)
    with other_client(daemon) as other:
        try:
            wait_for(lambda: other.get("/healthz").status_code == 503, timeout=10)  # the cap holds
            open_ = set(socks)
            deadline = time.monotonic() + GIVE_UP
            while open_ and time.monotonic() < deadline:
                for s in list(open_):
                    try:
                        if select.select([s], [], [], 0)[0] and not s.recv(4096):
                            open_.discard(s)  # closed by the daemon
                        else:
                            s.send(b"P")  # trickling: a byte now and then does not buy more time
                    except OSError:
                        open_.discard(s)
                time.sleep(0.2)
            assert not open_, f"{len(open_)} of {MAX_CONNECTIONS} connections never timed out"
            wait_for(lambda: other.get("/healthz").status_code == 200, timeout=10)  # room again
        finally:
            for s in socks:
                s.close()
