"""Chaos: syncd's promises hold while every service misbehaves and syncd itself is killed.

Faults come from the sandboxes' seeded knobs (`sb.faults`: 5xx, 429 + Retry-After, answers slower
than the client timeout, connections dropped without an answer). After the storm, a clean run
must leave every routed ticket mirrored exactly once, every action item exactly once, and one
notes line per connector; a webhook answered 2xx must end processed; the store must survive.
Every loop here is bounded in count and time; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator

import httpx
import pytest

from syncd.store.inbox import Inbox
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sandbox._common.tickets import generate_tickets
from syncd.cli.sandboxes import KINDS
from syncd.signatures import sign_headers
from syncd.store.database import create_engine
from tests.conftest import _pg_bindir, free_port, run_cli
from tests.helpers import ENV, jira_issues, marker_of, write_config

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

HOOK_SECRET = "whsec_chaos_secret_123"
LABELS = {"jira": "JIRA", "slack": "Slack", "linear": "Linear", "asana": "Asana"}
CHANNEL = "C0GROWTH"
FAST_RETRIES = {"concurrency": 4, "max_attempts": 5, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}


# -- shared helpers (also used by test_bad_input and test_secrets) ---------------------------------

def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


def sandbox_class(name: str) -> Any:
    import importlib

    kind = KINDS[name]
    return getattr(importlib.import_module(kind.module), kind.cls)


@contextmanager
def world(tmp_path: Path, tickets: list[dict[str, Any]], targets: Iterable[str], *,
          routes: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None,
          sandbox_kw: dict[str, dict[str, Any]] | None = None,
          connector_kw: dict[str, dict[str, Any]] | None = None) -> Iterator[SimpleNamespace]:
    """Cogny plus the named target sandboxes, and a syncd.yaml pointing at them."""
    sandbox_kw, connector_kw = sandbox_kw or {}, connector_kw or {}
    with ExitStack() as stack:
        cogny = stack.enter_context(CognySandbox(tickets, **sandbox_kw.get("cogny", {})))
        sbs = {name: stack.enter_context(sandbox_class(name)(**sandbox_kw.get(name, {}))) for name in targets}
        connectors = {name: {**KINDS[name].connector(sb), **connector_kw.get(name, {})} for name, sb in sbs.items()}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, connectors, routes=routes, extra=extra)
        yield SimpleNamespace(cfg=cfg, cogny=cogny, targets=sbs, tmp=tmp_path, **sbs)


def records(w: SimpleNamespace, *, settled: bool = True) -> dict[str, dict[str, list[str]]]:
    """target -> ticket id -> sorted child titles; fails on a second parent record for one ticket.

    `settled`: every record also carries its marker (mid-storm a Linear issue may still lack its
    marker attachment; it is then known by its derived id).
    """
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    parents: Counter[tuple[str, str | None]] = Counter()
    sbs = w.targets
    if "jira" in sbs:
        subs = jira_issues(sbs["jira"], subtasks=True)
        for issue in jira_issues(sbs["jira"], subtasks=False):
            tid = marker_of(issue)
            parents[("jira", tid)] += 1
            out["jira"][tid] = sorted(s["summary"] for s in subs if s["parent"] == issue["key"])
    if "slack" in sbs:
        for msg in sbs["slack"].messages(CHANNEL):
            tid = ((msg.get("metadata") or {}).get("event_payload") or {}).get("ticket_id")
            parents[("slack", tid)] += 1
            out["slack"][tid] = []
    if "linear" in sbs:
        linear = sbs["linear"]
        with linear.lock:
            by_issue = {a["issueId"]: a["url"].rsplit("/", 1)[-1] for a in linear.attachments.values()}
            tops = [dict(i) for i in linear.issues.values() if i["parentId"] is None]
        from connectors.linear.connector import issue_id

        derived = {issue_id(team, tid): tid for team in list(linear.teams) for tid in list(w.cogny.tickets)}
        for issue in tops:
            tid = by_issue.get(issue["id"])
            assert tid is not None or not settled, f"linear issue {issue['identifier']} has no marker attachment"
            tid = tid or derived.get(issue["id"])
            parents[("linear", tid)] += 1
            out["linear"][tid] = sorted(c["title"] for c in linear.children(issue["id"]))
    if "asana" in sbs:
        asana = sbs["asana"]
        for task in asana.top_level():
            tid = (task.get("external") or {}).get("gid", "").removeprefix("cogny:") or \
                task["notes"].rstrip().rsplit("cogny:", 1)[-1]
            parents[("asana", tid)] += 1
            out["asana"][tid] = sorted(s["name"] for s in asana.subtasks(task["gid"]))
    dupes = {k: n for k, n in parents.items() if n > 1}
    assert not dupes, f"duplicate records: {dupes}"
    return out


def expected(cogny: CognySandbox, route: Callable[[dict[str, Any]], Iterable[str]],
             only: Iterable[str] | None = None) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    with cogny.lock:
        tickets = {tid: json.loads(json.dumps(t)) for tid, t in cogny.tickets.items()}
    wanted = set(only) if only is not None else set(tickets)
    for tid, t in tickets.items():
        if tid not in wanted:
            continue
        items = sorted(a["title"] for a in t["action_items"])
        for target in route(t):
            out[target][tid] = [] if target == "slack" else items
    return out


def assert_notes(cogny: CognySandbox, route: Callable[[dict[str, Any]], Iterable[str]],
                 only: Iterable[str] | None = None) -> None:
    """Each synced ticket's notes hold exactly one `Synced to X:` line per routed connector."""
    with cogny.lock:
        tickets = {tid: dict(t) for tid, t in cogny.tickets.items()}
    wanted = set(only) if only is not None else set(tickets)
    for tid in wanted:
        lines = [ln for ln in (tickets[tid].get("notes") or "").splitlines() if ln.startswith("Synced to ")]
        got = sorted(ln.split(":")[0] for ln in lines)
        assert got == sorted(f"Synced to {LABELS[n]}" for n in route(tickets[tid])), (tid, tickets[tid]["notes"])


def run_until_clean(cfg: Path, *args: str, attempts: int = 5, env: dict[str, str] | None = None,
                    timeout: float = 120) -> list[subprocess.CompletedProcess[str]]:
    """`syncd run-once` until it exits 0, at most `attempts` times."""
    runs = []
    for _ in range(attempts):
        result = run_cli("run-once", "-c", str(cfg), *args, env=env or ENV, timeout=timeout)
        runs.append(result)
        assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        if result.returncode == 0:
            break
    return runs


def standard_headers(body: bytes, secret: str, msg_id: str, timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature v1)."""
    from syncd.signatures import _standard_keys, standard_signature

    stamp = str(int(time.time()) if timestamp is None else timestamp)
    sig = standard_signature(msg_id, stamp, body, _standard_keys(secret)[0])
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{sig}",
            "Content-Type": "application/json"}


def event(ticket_id: str, event_id: str, type_: str = "ticket.created") -> dict[str, Any]:
    return {"id": event_id, "type": type_, "created_at": "2025-02-07T10:30:00Z",
            "data": {"ticket_id": ticket_id, "warehouse_id": "wh_123abc"}}


class Daemon:
    """`syncd run` as a subprocess, with its stderr in a log file."""

    def __init__(self, cfg: Path, port: int, log: Path, *, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), run_args: tuple[str, ...] = ()):
        self.cfg, self.port, self.log = cfg, port, log
        self.env = {**os.environ, **ENV, **(env or {})}
        self.args, self.run_args = args, run_args  # global options (before `run`), `run` options
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "Daemon":
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "syncd", *self.args, "run", "-c", str(self.cfg),
                                          *self.run_args], env=self.env, stdout=log, stderr=log)
        wait_for(self._ready, timeout=timeout, what="daemon ready")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, body: bytes, headers: dict[str, str] | None = None, timeout: float = 10) -> httpx.Response:
        return httpx.post(f"{self.url}/webhooks/cogny", content=body, headers=headers or {}, timeout=timeout)

    def send(self, payload: dict[str, Any], secret: str = HOOK_SECRET, timeout: float = 10) -> httpx.Response:
        body = json.dumps(payload).encode()
        return self.post(body, sign_headers(body, secret), timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


def daemon_config(w: SimpleNamespace, port: int, **extra: Any) -> Path:
    """Rewrite the world's config with a webhook receiver on `port` and a quick inbox."""
    import yaml

    doc = yaml.safe_load(w.cfg.read_text())
    doc["webhook"] = {"host": "127.0.0.1", "port": port, "secret": HOOK_SECRET}
    doc["schedule"] = {"interval_seconds": 3600}
    doc["inbox"] = {"max_attempts": 20, "backoff_seconds": 0.05, "max_backoff_seconds": 0.5, "lease_seconds": 2}
    for key, value in extra.items():
        doc.setdefault(key, {}).update(value)
    w.cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return w.cfg


def inbox_of(db: Path) -> Inbox:
    return Inbox(create_engine(f"sqlite:///{db}"))


def all_states(inbox: Inbox) -> dict[str, str]:
    """event id -> state, for every event in the inbox (bounded listing)."""
    return {e.event_id: e.state for e in inbox.list(limit=100_000)}


# -- 0. the knobs themselves -------------------------------------------------------------------------

def test_fault_knobs_are_seeded_and_do_what_they_say() -> None:
    from syncd.sandbox._common.base import Faults

    def fates(seed: int) -> list[str | None]:
        f = Faults(error_rate=0.2, throttle_rate=0.1, slow_rate=0.05, drop_rate=0.05, seed=seed)
        return [f.pick() for _ in range(400)]

    assert fates(1) == fates(1) != fates(2)  # deterministic per seed
    counts = Counter(fates(1))
    assert 50 <= counts["error"] <= 110 and 20 <= counts["throttle"] <= 65 and counts["slow"] and counts["drop"]

    [ticket] = generate_tickets(1, seed=1)
    with CognySandbox([ticket]) as cogny, httpx.Client(base_url=cogny.url, timeout=5,
                                                     headers={"Authorization": "Bearer sk_test_sandbox"}) as client:
        path = f"/v1/tickets/{ticket['id']}"
        cogny.faults.set(fail_next=2, fail_status=503)
        assert [client.get(path).status_code for _ in range(3)] == [503, 503, 200]
        cogny.faults.set(throttle_rate=1.0, retry_after=7)
        throttled = client.get(path)
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
        cogny.faults.clear().set(drop_next=1)
        with pytest.raises(httpx.RemoteProtocolError):  # closed without a byte of an answer
            client.patch(path, json={"notes": "never applied"})
        assert cogny.ticket(ticket["id"])["notes"] != "never applied"
        cogny.faults.set(drop_next=1, drop_after_apply=True)
        with pytest.raises(httpx.RemoteProtocolError):
            client.patch(path, json={"notes": "applied, answer lost"})
        assert cogny.ticket(ticket["id"])["notes"] == "applied, answer lost"
        cogny.faults.set(slow_rate=1.0, slow_seconds=0.6)
        with pytest.raises(httpx.ReadTimeout):
            client.get(path, timeout=0.2)
        cogny.faults.clear()
        assert client.get(path).status_code == 200
        assert dict(cogny.faults.injected) == {"fail": 2, "throttle": 1, "drop": 2, "slow": 1}
        assert [r.status for r in cogny.log.all() if r.method == "PATCH"] == [0, 0]  # logged as unanswered


# -- 1. every service flaky: converge to exactly once ------------------------------------------------

def critical_to_slack(t: dict[str, Any]) -> list[str]:
    return ["jira", "linear", "asana"] + (["slack"] if t["priority"] == "critical" else [])


STORM = dict(error_rate=0.20, throttle_rate=0.10, slow_rate=0.05, slow_seconds=1.4, retry_after=1,
             drop_rate=0.03, drop_after_apply=True)


def test_flaky_services_converge_to_exactly_once(tmp_path: Path) -> None:
    """20 % 5xx, 10 % 429, 5 % slower than the 1 s timeout, 3 % answers lost after the write, everywhere.

    Two run-once cycles in the storm, then calm runs until exit 0 (four runs at most): creates
    are never retried blindly, so the storm leaves failures behind — but never a duplicate.
    """
    tickets = generate_tickets(20, seed=5)
    routes = [{"connectors": ["jira", "linear", "asana"]},
              {"match": {"priority": ["critical"]}, "connectors": ["slack"]}]
    assert 1 <= sum(t["priority"] == "critical" for t in tickets) <= 4  # Slack paces ~1 post/s
    extra = {"sync": FAST_RETRIES, "cogny": {"timeout_seconds": 1}}
    with world(tmp_path, tickets, ("jira", "slack", "linear", "asana"), routes=routes, extra=extra) as w:
        services = {"cogny": w.cogny, **w.targets}
        for i, sb in enumerate(services.values()):
            sb.faults.set(**STORM, seed=100 + i)
        codes = []
        for _ in range(2):
            result = run_cli("run-once", "-c", str(w.cfg), "--concurrency", "8", env=ENV, timeout=120)
            assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr[-3000:]
            codes.append(result.returncode)
            records(w, settled=False)  # no duplicate at any point, not only at the end
        for name, sb in services.items():  # the storm really happened, on every service
            assert sb.faults.injected["error"], (name, sb.faults.injected)
            sb.faults.clear()
        assert sum(sb.faults.injected[f] for sb in services.values() for f in ("throttle", "slow", "drop")) >= 30
        if codes[-1] != 0:
            runs = run_until_clean(w.cfg, "--concurrency", "8", attempts=2)  # calm: one run should do
            assert runs[-1].returncode == 0, runs[-1].stdout[-3000:]
        assert records(w) == expected(w.cogny, critical_to_slack)
        assert_notes(w.cogny, critical_to_slack)

        for sb in services.values():  # settled: a calm run changes nothing anywhere
            sb.log.clear()
        calm = run_cli("run-once", "-c", str(w.cfg), env=ENV)
        assert calm.returncode == 0, calm.stdout[-2000:]
        assert [(n, r.method, r.path) for n, sb in services.items() for r in sb.log.writes()] == []


# -- 2. run-once killed at random moments ---------------------------------------------------------

def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_run_once_sigkilled_ten_times_then_completes_exactly_once(tmp_path: Path) -> None:
    tickets = generate_tickets(200, seed=21)
    both = ("jira", "linear")
    with world(tmp_path, tickets, both, extra={"sync": {**FAST_RETRIES, "concurrency": 8}}) as w:
        rng = random.Random(2024)
        env = {**os.environ, **ENV}
        kills = 0
        for _ in range(10):
            heard = len(w.cogny.log)
            proc = subprocess.Popen([sys.executable, "-m", "syncd", "run-once", "-c", str(w.cfg)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # the random moment counts from the run's first Cogny call, not from the process start,
            # so a slow machine's start-up does not make every kill land before any work
            deadline = time.monotonic() + 30
            while len(w.cogny.log) == heard and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.05, 1.2))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=10)
            records(w, settled=False)
        assert kills >= 5, "the runs should mostly die mid-way"
        assert sum(len(v) for v in records(w, settled=False).values()) > 0, "killed runs still make progress"
        runs = run_until_clean(w.cfg, attempts=3)
        assert runs[-1].returncode == 0, runs[-1].stdout[-3000:]
        assert records(w) == expected(w.cogny, lambda t: both)
        assert_notes(w.cogny, lambda t: both)
        assert integrity(tmp_path / "syncd.db") == "ok"
        for sb in (w.cogny, *w.targets.values()):
            sb.log.clear()
        calm = run_cli("run-once", "-c", str(w.cfg), env=ENV)
        assert calm.returncode == 0
        assert [r.path for sb in (w.cogny, *w.targets.values()) for r in sb.log.writes()] == []


# -- 3. the daemon killed while webhooks pour in -----------------------------------------------------

def test_daemon_sigkilled_under_webhook_traffic_processes_every_accepted_event(tmp_path: Path) -> None:
    tickets = generate_tickets(40, seed=12)
    with world(tmp_path, [], ("jira",), extra={"sync": FAST_RETRIES}) as w:
        port = free_port()
        d = Daemon(daemon_config(w, port), port, tmp_path / "daemon.log").start()
        accepted: list[str] = []
        answers: Counter[str] = Counter()
        done = threading.Event()

        def sender() -> None:  # like Cogny: retry each delivery until 2xx (bounded)
            try:
                for t in tickets:
                    w.cogny.add_ticket(t)  # no subscription: Cogny itself delivers nothing
                    for n, type_ in enumerate(("ticket.created", "ticket.updated")):
                        eid = f"evt_{t['id']}_{n}"
                        deadline = time.monotonic() + 30
                        while time.monotonic() < deadline:
                            try:
                                answer = str(d.send(event(t["id"], eid, type_), timeout=5).status_code)
                            except httpx.HTTPError as exc:  # the daemon is down: try again shortly
                                answer = type(exc).__name__
                            answers[answer] += 1
                            if answer.startswith("2"):
                                accepted.append(eid)
                                break
                            time.sleep(0.05)
                    time.sleep(0.03)
            finally:
                done.set()

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        rng = random.Random(99)
        try:
            for _ in range(3):
                time.sleep(rng.uniform(0.4, 1.2))
                d.stop(signal.SIGKILL)
                d.start()
            assert done.wait(90), "sender did not finish"
            assert len(accepted) == 2 * len(tickets), answers  # every event eventually got through
            assert sum(n for a, n in answers.items() if not a.startswith("2")), "no delivery met a dead daemon"
            inbox = inbox_of(tmp_path / "syncd.db")

            def settled() -> bool:
                states = all_states(inbox)
                return all(states.get(e) in ("done", "ignored") for e in accepted)

            wait_for(settled, timeout=60, interval=0.3, what="every accepted event processed")
            rows = [e.event_id for e in inbox.list(limit=100_000)]
            assert sorted(rows) == sorted(set(accepted))  # one row per event, none lost, none doubled
        finally:
            d.stop(signal.SIGKILL)
        assert records(w) == expected(w.cogny, lambda t: ["jira"])
        assert_notes(w.cogny, lambda t: ["jira"])
        assert integrity(tmp_path / "syncd.db") == "ok"


# -- 4. PostgreSQL restarted under a running daemon ------------------------------------------------

class PgCluster:
    """A throwaway PostgreSQL cluster this test controls (stop and start on the same port)."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            if os.environ.get("SYNCD_REQUIRE_POSTGRES"):
                pytest.fail("SYNCD_REQUIRE_POSTGRES is set but no PostgreSQL server binaries were found")
            pytest.skip("no PostgreSQL server binaries (apt-get install postgresql); CI installs them")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="syncd-pg-chaos-"))
        self.data, self.sock, self.logfile = self.root / "data", self.root / "sock", self.root / "pg.log"
        self.sock.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*self.as_user, f"{bindir}/initdb", "-D", str(self.data), "-U", "syncd", "--auth=trust",
                        "-E", "UTF8"], check=True, capture_output=True, timeout=60)
        self.port = free_port()

    @property
    def base(self) -> str:
        return f"postgresql://syncd@127.0.0.1:{self.port}"

    def start(self) -> None:
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.sock} -c fsync=off"
        subprocess.run([*self.as_user, f"{self.bindir}/pg_ctl", "-D", str(self.data), "-o", opts,
                        "-l", str(self.logfile), "-w", "-t", "30", "start"], check=True, capture_output=True,
                       timeout=40)

    def stop(self) -> None:
        subprocess.run([*self.as_user, f"{self.bindir}/pg_ctl", "-D", str(self.data), "-m", "fast", "-w",
                        "-t", "30", "stop"], check=True, capture_output=True, timeout=40)

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"{self.base}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://syncd@127.0.0.1:{self.port}/{name}"

    def destroy(self) -> None:
        try:
            self.stop()
        except Exception:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def pg() -> Iterator[PgCluster]:
    cluster = PgCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def jira_parents(jira: JiraSandbox) -> Counter[str | None]:
    return Counter(marker_of(i) for i in jira_issues(jira, subtasks=False))


def readyz(d: Daemon) -> int:
    try:
        return httpx.get(f"{d.url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


@contextmanager
def pg_daemon(tmp_path: Path, pg: PgCluster, run_args: tuple[str, ...] = ()) -> Iterator[tuple[Daemon, Any]]:
    store = pg.create_db("chaos")
    with world(tmp_path, [], ("jira",), extra={"sync": FAST_RETRIES, "store": {"url": store},
                                               "schedule": {"leader_check_seconds": 1}}) as w:
        port = free_port()
        cfg = daemon_config(w, port, schedule={"leader_check_seconds": 1})
        d = Daemon(cfg, port, tmp_path / "daemon.log", run_args=run_args).start()
        d.store = store  # type: ignore[attr-defined]
        try:
            yield d, w
        finally:
            d.stop(signal.SIGKILL)


def pg_count(url: str, sql: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar() or 0)
    except sa.exc.OperationalError:
        return -1
    finally:
        engine.dispose()


def add_and_send(d: Daemon, w: SimpleNamespace, seed: int, n: int = 1) -> list[str]:
    ids = []
    for t in generate_tickets(n, seed=seed):
        w.cogny.add_ticket(t)
        assert d.send(event(t["id"], f"evt_{t['id']}")).status_code == 202
        ids.append(t["id"])
    return ids


@pytest.mark.postgres
def test_postgres_restart_under_running_daemon(tmp_path: Path, pg: PgCluster) -> None:
    with pg_daemon(tmp_path, pg) as (d, w):
        first = add_and_send(d, w, seed=301)
        wait_for(lambda: pg_count(d.store, "SELECT count(*) FROM events WHERE state = 'done'") == 1,
                 timeout=30, what="first event done")  # idle: nothing in flight when the server goes

        pg.stop()
        wait_for(lambda: readyz(d) == 503, timeout=15, what="readyz reports the store down")
        [ticket] = generate_tickets(1, seed=302)
        w.cogny.add_ticket(ticket)
        down = d.send(event(ticket["id"], f"evt_{ticket['id']}"), timeout=30)
        assert down.status_code == 503, down.text  # never 2xx for an event that was not stored
        assert down.json()["success"] is False

        pg.start()
        wait_for(lambda: readyz(d) == 200, timeout=30, what="readyz back after the restart")
        again = d.send(event(ticket["id"], f"evt_{ticket['id']}"))  # the sender retries: now stored
        assert again.status_code == 202, again.text
        later = add_and_send(d, w, seed=303, n=3)
        wanted = [*first, ticket["id"], *later]
        wait_for(lambda: all(jira_parents(w.jira)[t] == 1 for t in wanted), timeout=30, what="events after restart")
        assert set(jira_parents(w.jira).values()) == {1}
        assert "Traceback" not in d.log.read_text()


@pytest.mark.postgres
def test_postgres_restart_during_inflight_event_keeps_the_worker_alive(tmp_path: Path, pg: PgCluster) -> None:
    with pg_daemon(tmp_path, pg, run_args=("--workers", "1")) as (d, w):
        w.jira.faults.set(slow_rate=1.0, slow_seconds=3.0)  # keep the event in flight while the store goes
        [busy] = add_and_send(d, w, seed=311)
        wait_for(lambda: len(w.jira.log) > 0 or w.jira.faults.injected["slow"] > 0, timeout=15,
                 what="the worker reaches JIRA")
        pg.stop()
        w.jira.faults.clear()
        wait_for(lambda: jira_parents(w.jira)[busy] >= 1 or len(w.jira.log.writes()) > 0, timeout=20,
                 what="in-flight reconcile finishes its JIRA calls")
        time.sleep(2.0)  # the worker now meets the stopped store
        restarted = datetime.now(timezone.utc).isoformat()
        pg.start()
        wait_for(lambda: readyz(d) == 200, timeout=30, what="readyz back after the restart")
        # Re-elected, the scheduler polls at once; let that poll pass so the next tickets can only
        # reach JIRA through the inbox worker. (The start-up poll may have met the outage and left
        # no run row, so count only runs started after the restart.)
        wait_for(lambda: pg_count(d.store, f"SELECT count(*) FROM runs WHERE started_at >= '{restarted}'") >= 1,
                 timeout=30, what="poll after restart")
        later = add_and_send(d, w, seed=312, n=2)
        wait_for(lambda: all(jira_parents(w.jira)[t] == 1 for t in [busy, *later]), timeout=6,
                 what="events processed after the restart")  # ~1 s when the worker is alive
        assert set(jira_parents(w.jira).values()) == {1}


# -- 5. the SQLite store locked by someone else -------------------------------------------------------

HOLD_LOCKFILE = """
import fcntl, sys, time
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""
HOLD_EXCLUSIVE = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=1)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS squatter (x)")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@contextmanager
def holding(script: str, target: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", script, str(target), str(seconds)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held", proc.stderr
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def test_sqlite_store_held_by_another_process_is_a_clear_error_and_harmless(tmp_path: Path) -> None:
    tickets = generate_tickets(12, seed=41)
    with world(tmp_path, tickets, ("jira",), extra={"sync": FAST_RETRIES}) as w:
        db = tmp_path / "syncd.db"
        assert run_cli("run-once", "-c", str(w.cfg), env=ENV).returncode == 0
        w.cogny.edit_ticket(tickets[0]["id"], title="Changed while the store is busy")
        before = dump(db)
        for sb in (w.cogny, w.jira):
            sb.log.clear()

        with holding(HOLD_LOCKFILE, Path(f"{db}.lock"), 30):  # another syncd process, as far as we know
            for command in (("run-once",), ("run",)):
                busy = run_cli(*command, "-c", str(w.cfg), env=ENV, timeout=30)
                assert busy.returncode == 2, busy.stderr
                lines = busy.stderr.strip().splitlines()
                assert len(lines) == 1 and "already using" in lines[0] and "Traceback" not in busy.stderr, lines
        assert dump(db) == before and integrity(db) == "ok"
        assert w.jira.log.writes() == [] and w.cogny.log.writes() == []

        # A writer holding an exclusive transaction for a few seconds: syncd waits (busy timeout), then works.
        with holding(HOLD_EXCLUSIVE, db, 3):
            started = time.monotonic()
            waited = run_cli("run-once", "-c", str(w.cfg), env=ENV, timeout=60)
        assert waited.returncode == 0, waited.stdout[-2000:] + waited.stderr[-2000:]
        assert time.monotonic() - started >= 1.5, "the run should have waited for the lock"
        assert "Traceback" not in waited.stderr
        assert integrity(db) == "ok"
        [issue] = [i for i in jira_issues(w.jira, subtasks=False) if marker_of(i) == tickets[0]["id"]]
        assert issue["summary"] == "Changed while the store is busy"
        assert records(w) == expected(w.cogny, lambda t: ["jira"])


# `syncd` with SQLite's busy timeout cut from 30 s to 0.3 s, so a lock can outlast it in a test.
SHORT_BUSY_TIMEOUT = """
import sys
from sqlalchemy import event
import syncd.store.database as store
original = store.create_engine
def create_engine(url):
    engine = original(url)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=300"))
    return engine
store.create_engine = create_engine
from syncd.cli.app import main
sys.argv = ["syncd", *sys.argv[1:]]
main()
"""


def test_sqlite_lock_outlasting_the_busy_timeout_is_a_clear_error(tmp_path: Path) -> None:
    tickets = generate_tickets(5, seed=43)
    with world(tmp_path, tickets, ("jira",), extra={"sync": FAST_RETRIES}) as w:
        db = tmp_path / "syncd.db"
        assert run_cli("db", "upgrade", "-c", str(w.cfg), env=ENV).returncode == 0
        env = {**os.environ, **ENV}
        with holding(HOLD_EXCLUSIVE, db, 8):
            locked = subprocess.run([sys.executable, "-c", SHORT_BUSY_TIMEOUT, "run-once", "-c", str(w.cfg)],
                                    capture_output=True, text=True, env=env, timeout=60)
        assert integrity(db) == "ok"
        assert locked.returncode == 1, locked.stderr[-2000:]
        assert "Traceback" not in locked.stderr, locked.stderr[-3000:]
        assert "locked" in locked.stdout + locked.stderr
        assert run_cli("run-once", "-c", str(w.cfg), env=ENV).returncode == 0
        assert records(w) == expected(w.cogny, lambda t: ["jira"])
