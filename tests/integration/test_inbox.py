"""Inbox semantics on SQLite and PostgreSQL: dedup, claims, backoff, dead letters, leases, purge."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from syncd.store.database import Store
from syncd.store.inbox import Inbox, NewEvent


def ev(event_id: str, ticket: str | None = "tkt_1", type_: str = "ticket.updated") -> NewEvent:
    return NewEvent(event_id, type_, ticket, json.dumps({"id": event_id, "type": type_}))


def test_duplicates_are_recognised_in_and_across_batches(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine)
    assert inbox.add_many([ev("e1"), ev("e2"), ev("e1")]) == [True, True, False]
    assert inbox.add(ev("e2")) is False
    assert inbox.counts() == {"pending": 2}


def test_claim_groups_a_tickets_events_and_never_hands_out_a_busy_ticket(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine)
    inbox.add_many([ev("a1", "tkt_a"), ev("b1", "tkt_b"), ev("a2", "tkt_a")])
    first = inbox.claim("w1", limit=1)
    assert len(first) == 1 and first[0].ticket_id == "tkt_a" and len(first[0].events) == 2
    inbox.add(ev("a3", "tkt_a"))  # arrives while tkt_a is being worked on
    second = inbox.claim("w2", limit=5)
    assert [c.ticket_id for c in second] == ["tkt_b"]  # a3 waits for the running claim
    inbox.done(first[0].ids)
    third = inbox.claim("w2", limit=5)
    assert [c.ticket_id for c in third] == ["tkt_a"] and [e.event_id for e in third[0].events] == ["a3"]


def test_failures_back_off_then_go_dead_and_retry_revives(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine, max_attempts=2, backoff=0.01, max_backoff=0.01)
    inbox.add(ev("x1", "tkt_x"))
    [claim] = inbox.claim("w")
    assert inbox.fail(claim, "JIRA said no") == "pending"
    assert inbox.claim("w") == []  # not due yet
    time.sleep(0.05)
    [claim] = inbox.claim("w")
    assert inbox.fail(claim, "JIRA said no") == "dead"
    [dead] = inbox.list("dead")
    assert dead.attempts == 2 and dead.last_error == "JIRA said no"
    assert inbox.retry(all_dead=True) == 1
    assert inbox.counts() == {"pending": 1}
    assert len(inbox.claim("w")) == 1


def test_expired_lease_is_reclaimed_after_a_crash(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine, lease_seconds=0.05)
    inbox.add(ev("c1"))
    assert len(inbox.claim("crashed-worker")) == 1
    assert inbox.claim("other") == []
    time.sleep(0.1)
    assert len(inbox.claim("other")) == 1


def test_purge_only_removes_finished_old_events(store_url: str) -> None:
    inbox = Inbox(Store.open(store_url).engine)
    inbox.add_many([ev("p1", "t1"), ev("p2", "t2")])
    [claim] = inbox.claim("w", limit=1)
    inbox.done(claim.ids)
    assert inbox.purge(timedelta(days=1)) == 0
    assert inbox.purge(timedelta(seconds=-1)) == 1
    assert inbox.counts() == {"pending": 1}


