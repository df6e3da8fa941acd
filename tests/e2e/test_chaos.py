"""Chaos: syncd's promises hold while every service misbehaves and syncd itself is killed.

Faults come from the sandboxes' seeded knobs (`sb.faults`: 5xx, 429 + Retry-After, answers slower
than the client timeout, connections dropped without an answer). After the storm, a clean run
must leave every routed ticket mirrored exactly once, every action item exactly once, and one
notes line per connector; a webhook answered 2xx must end processed; the store must survive.
Every loop here is bounded in count and time; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import httpx
import pytest

from syncd.sandbox._common.tickets import generate_tickets
from tests.support.config import ENV
from tests.support.daemon import Daemon, all_states, daemon_config, event, inbox_of, readyz
from tests.support.postgres import PgCluster
from tests.support.process import HANG_GUARD, free_port, run_cli, wait_for
from tests.support.records import assert_notes, expected, jira_issues, marker_of, parents_by_ticket, records
from tests.support.world import FAST_RETRIES, run_until_clean, world

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]


# -- 1. every service flaky: converge to exactly once ------------------------------------------------

def critical_to_slack(t: dict[str, Any]) -> list[str]:
    return ["jira", "linear", "asana"] + (["slack"] if t["priority"] == "critical" else [])


STORM = dict(error_rate=0.20, throttle_rate=0.10, slow_rate=0.05, slow_seconds=1.4, retry_after=1,
             drop_rate=0.03, drop_after_apply=True)


@pytest.mark.config_keys("cogny.timeout_seconds", "sync.concurrency", "sync.max_attempts",
                         "sync.backoff_seconds", "sync.max_backoff_seconds")
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
        kinds = ("throttle", "slow", "drop")
        assert sum(sb.faults.injected[f] for sb in services.values() for f in kinds) >= 30
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

        def wrote() -> int:
            return len(w.jira.log.writes()) + len(w.linear.log.writes()) + len(w.cogny.log.writes())

        for _ in range(10):
            written = wrote()
            proc = subprocess.Popen([sys.executable, "-m", "syncd", "run-once", "-c", str(w.cfg)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # the random moment counts from the run's first write, not from the process start, so a
            # slow machine's start-up does not make every kill land before any work
            wait_for(lambda: wrote() > written or proc.poll() is not None, interval=0.02,
                     what="the run's first write")
            time.sleep(rng.uniform(0.05, 1.2))
            if proc.poll() is None and wrote() > written:
                proc.send_signal(signal.SIGKILL)
                kills += 1  # landed: the process was running and had written
            proc.wait(timeout=HANG_GUARD)
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

@pytest.mark.config_keys("inbox.lease_seconds")
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
            assert sum(n for a,
                       n in answers.items() if not a.startswith("2")), "no delivery met a dead daemon"
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

@pytest.fixture
def pg() -> Iterator[PgCluster]:
    """A cluster of this test's own: the test stops and starts it."""
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


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
        wait_for(lambda: all(parents_by_ticket(w.jira)[t] == 1 for t in wanted), timeout=30,
                 what="events after restart")
        assert set(parents_by_ticket(w.jira).values()) == {1}
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
        wait_for(lambda: parents_by_ticket(w.jira)[busy] >= 1 or len(w.jira.log.writes()) > 0, timeout=20,
                 what="in-flight reconcile finishes its JIRA calls")
        time.sleep(2.0)  # the worker now meets the stopped store
        restarted = datetime.now(timezone.utc).isoformat()
        pg.start()
        wait_for(lambda: readyz(d) == 200, timeout=30, what="readyz back after the restart")
        # Re-elected, the scheduler polls at once; let that poll pass so the next tickets can only
        # reach JIRA through the inbox worker. (The start-up poll may have met the outage and left
        # no run row, so count only runs started after the restart.)
        runs_since = f"SELECT count(*) FROM runs WHERE started_at >= '{restarted}'"
        wait_for(lambda: pg_count(d.store, runs_since) >= 1, timeout=30, what="poll after restart")
        later = add_and_send(d, w, seed=312, n=2)
        wait_for(lambda: all(parents_by_ticket(w.jira)[t] == 1 for t in [busy, *later]), timeout=6,
                 what="events processed after the restart")  # ~1 s when the worker is alive
        assert set(parents_by_ticket(w.jira).values()) == {1}


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
                assert len(lines) == 1 and "already using" in lines[0], lines
                assert "Traceback" not in busy.stderr
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
