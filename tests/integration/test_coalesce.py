"""Bursts coalesced (issue 22): the worker claims several tickets' events at once and their new
tickets' records are created together, in the bulk calls a poll uses for a listing page.

What users rely on: a burst of `ticket.created` events costs a few bulk calls instead of two
per ticket, every event is still processed on its own (done, failed or ignored as before), and
nothing is created twice.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from syncd import config as config_mod
from syncd.daemon.coalesce import create_new
from syncd.daemon.worker import KEEP_PER_THREAD, Worker
from syncd.engine.app import App
from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.store.database import Store
from syncd.store.inbox import Claim, Event, Inbox, NewEvent
from syncd.store.locks import TicketLocks
from tests.support.config import ENV
from tests.support.records import jira_issues, marker_of


@pytest.fixture
def tickets() -> list[dict[str, Any]]:
    return generate_tickets(12, seed=22)


def ev(event_id: str, ticket: str, type_: str = "ticket.created") -> NewEvent:
    return NewEvent(event_id, type_, ticket, json.dumps({"id": event_id, "type": type_}))


def claim(ticket_id: str, type_: str = "ticket.created", source: str = "cogny") -> Claim:
    event = Event(0, f"evt_{ticket_id}_{type_}", source, type_, ticket_id, {}, "running", 0, None,
                  datetime.now(timezone.utc))
    return Claim(ticket_id, [event])


def drained(inbox: Inbox, expected: dict[str, int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if inbox.counts() == expected:
            return True
        time.sleep(0.02)
    return False


def run_worker(inbox: Inbox, handler: Callable[[Claim], str | None], prepare: Any,
               expected: dict[str, int], batch: int = 10) -> None:
    worker = Worker(inbox, handler, threads=2, poll_seconds=0.05, batch=batch, prepare=prepare)
    worker.start()
    try:
        assert drained(inbox, expected), inbox.counts()
    finally:
        worker.stop(timeout=4)


def test_the_pending_tickets_are_claimed_together_prepared_once_then_each_handled(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine)
    inbox.add_many([ev("a1", "tkt_a"), ev("b1", "tkt_b"), ev("a2", "tkt_a", "ticket.updated"),
                    ev("c1", "tkt_c"), ev("d1", "tkt_d")])
    prepared: list[list[tuple[str | None, int]]] = []
    handled: list[str | None] = []
    run_worker(inbox, lambda c: handled.append(c.ticket_id),
               lambda claims: prepared.append([(c.ticket_id, len(c.events)) for c in claims]), {"done": 5})
    assert prepared == [[("tkt_a", 2), ("tkt_b", 1), ("tkt_c", 1), ("tkt_d", 1)]]
    assert sorted(handled) == ["tkt_a", "tkt_b", "tkt_c", "tkt_d"]  # each ticket once, all its events


def test_claims_beyond_what_the_threads_start_soon_go_back_to_the_inbox(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine)
    inbox.add_many([ev(f"e{i}", f"tkt_{i}") for i in range(7)])
    started, release = threading.Event(), threading.Event()

    def handler(c: Claim) -> None:
        started.set()
        release.wait(10)  # hold the first claim while the inbox is looked at

    prepared: list[int] = []
    worker = Worker(inbox, handler, threads=1, poll_seconds=0.05, batch=50,
                    prepare=lambda claims: prepared.append(len(claims)))
    worker.start()
    try:
        assert started.wait(10)
        # 1 thread keeps KEEP_PER_THREAD claims; the other 3 are pending again for any replica
        assert inbox.counts() == {"running": KEEP_PER_THREAD, "pending": 7 - KEEP_PER_THREAD}
        release.set()
        assert drained(inbox, {"done": 7}), inbox.counts()
    finally:
        release.set()
        worker.stop(timeout=4)
    assert prepared[0] == 7  # the whole burst was prepared together before any was handed back


def test_a_single_ticket_is_not_prepared_and_batch_one_never_prepares(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine)
    inbox.add(ev("a1", "tkt_a"))
    prepared: list[Any] = []
    run_worker(inbox, lambda c: None, prepared.append, {"done": 1})
    inbox.add_many([ev("b1", "tkt_b"), ev("c1", "tkt_c")])
    run_worker(inbox, lambda c: None, prepared.append, {"done": 3}, batch=1)
    assert prepared == []


def test_a_failing_prepare_leaves_every_event_to_its_own_processing(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine)
    inbox.add_many([ev("a1", "tkt_a"), ev("b1", "tkt_b"), ev("c1", "tkt_c")])

    def prepare(claims: list[Claim]) -> None:
        raise RuntimeError("JIRA is down")

    handled: list[str | None] = []
    run_worker(inbox, lambda c: handled.append(c.ticket_id) or ("no" if c.ticket_id == "tkt_b" else None),
               prepare, {"done": 2, "pending": 1})
    assert sorted(handled) == ["tkt_a", "tkt_b", "tkt_c"]
    assert [e.event_id for e in inbox.list("pending")] == ["b1"]  # failed on its own, backing off


def test_a_burst_of_new_tickets_is_created_in_bulk_calls_once(
        cfg: Path, cogny: CognySandbox, jira: JiraSandbox, tickets: list[dict[str, Any]]) -> None:
    config = config_mod.load(cfg, env=ENV)
    app = App.build(config)
    new = [t["id"] for t in tickets[:10]]
    claims = [claim(t) for t in new]
    claims.append(claim(tickets[10]["id"], "ticket.updated"))  # not a new ticket: left to its event
    claims.append(claim(tickets[11]["id"], "jira.issue_updated", source="target"))
    try:
        assert create_new(app, config, TicketLocks(config.store.url), claims) == 10
        jira.log.clear()
        assert create_new(app, config, TicketLocks(config.store.url), claims) == 0  # all linked now
    finally:
        app.close()
    assert jira.log.writes() == []  # the second burst of the same events created nothing
    parents = jira_issues(jira, subtasks=False)
    assert sorted(marker_of(i) or "" for i in parents) == sorted(new)  # exactly one issue per new ticket
    subtasks = jira_issues(jira, subtasks=True)
    assert len(subtasks) == sum(len(t["action_items"]) for t in tickets[:10])
    links = Store.open(config.store.url).links_for(new)
    assert {tid: links[tid]["jira"].state for tid in new} == {tid: "synced" for tid in new}


def test_a_burst_is_created_with_bulk_calls_not_one_call_per_ticket(
        cfg: Path, cogny: CognySandbox, jira: JiraSandbox, tickets: list[dict[str, Any]]) -> None:
    config = config_mod.load(cfg, env=ENV)
    app = App.build(config)
    try:
        create_new(app, config, TicketLocks(config.store.url), [claim(t["id"]) for t in tickets[:10]])
    finally:
        app.close()
    writes = [(r.method, r.path) for r in jira.log.writes()]
    assert writes and all(path.endswith("/issue/bulk") for _, path in writes)  # no issue created alone
    assert len(writes) == 2  # the 10 issues, then all their sub-tasks
