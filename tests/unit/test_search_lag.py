"""A create whose answer was lost is not sent again while the target's search may not show it yet
(syncd.engine.search_lag): the ticket waits out `search_lag_seconds` instead of making a duplicate,
and a create that certainly made nothing is retried at once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from syncd.engine.reconcile import Reconciler
from syncd.engine.search_lag import certainly_not_made
from syncd.errors import ConnectorError
from syncd.sandbox._common.tickets import make_ticket
from syncd.sdk import Desired, ExternalRef, Ticket
from syncd.store.database import Store, utcnow
from syncd.testing import InMemoryCogny, InMemoryConnector


class LaggingTarget(InMemoryConnector):
    """A target whose marker search sees nothing (its index lags), and whose next create can be
    applied with its answer lost."""

    search_lag_seconds = 60.0

    def __init__(self) -> None:
        super().__init__("lagging")
        self.lose_next_answer = False

    def find(self, ticket: Ticket) -> ExternalRef | None:
        self._record("find", ticket.id)
        return None  # the index has not caught up

    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        ref = super().create(ticket, desired)
        if self.lose_next_answer:
            self.lose_next_answer = False
            raise ConnectorError(self.service, "create issue: ReadTimeout", retryable=True)
        return ref


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield opened
    opened.close()


def _actions(result: Any) -> list[str]:
    return [o.action for o in result.outcomes]


def test_a_lost_create_answer_waits_out_the_search_lag_instead_of_creating_again(store: Store) -> None:
    cogny, target = InMemoryCogny(), LaggingTarget()
    rec = Reconciler(store, cogny, {"lagging": target})
    tid = cogny.add(make_ticket()).id
    target.lose_next_answer = True
    assert _actions(rec.reconcile(cogny.ticket(tid), ["lagging"])) == ["failed"]
    assert len(target.records_of(tid)) == 1  # made, though syncd never heard so

    waiting = rec.reconcile(cogny.ticket(tid), ["lagging"])
    assert _actions(waiting) == ["failed"] and "search_lag_seconds" in (waiting.outcomes[0].error or "")
    assert len(target.records_of(tid)) == 1 and len(target.called("create")) == 1

    link = store.get_link(tid, "lagging")
    assert link is not None and link.create_sent_at is not None
    link.create_sent_at = utcnow() - timedelta(seconds=61)  # the lag has passed without a hit
    store.save_link(link)
    assert _actions(rec.reconcile(cogny.ticket(tid), ["lagging"])) == ["created"]


def test_a_create_refused_by_the_target_is_tried_again_at_once(store: Store) -> None:
    cogny, target = InMemoryCogny(), LaggingTarget()
    rec = Reconciler(store, cogny, {"lagging": target})
    tid = cogny.add(make_ticket()).id
    target.fail("create", error=ConnectorError("lagging", "create issue: priority: invalid", status=400))
    assert _actions(rec.reconcile(cogny.ticket(tid), ["lagging"])) == ["failed"]
    link = store.get_link(tid, "lagging")
    assert link is not None and link.create_sent_at is None  # refused: nothing can exist

    assert _actions(rec.reconcile(cogny.ticket(tid), ["lagging"])) == ["created"]
    assert len(target.records_of(tid)) == 1


def test_a_target_without_lag_records_nothing_before_a_create(store: Store) -> None:
    cogny, target = InMemoryCogny(), InMemoryConnector("mem")
    rec = Reconciler(store, cogny, {"mem": target})
    tid = cogny.add(make_ticket()).id
    rec.reconcile(cogny.ticket(tid), ["mem"])
    link = store.get_link(tid, "mem")
    assert link is not None and link.state == "synced" and link.create_sent_at is None


@pytest.mark.parametrize("error, made_nothing", [
    (ConnectorError("jira", "refused", status=400), True),
    (ConnectorError("jira", "no such project", status=404), True),
    (ConnectorError("jira", "slow down", status=429), True),
    (ConnectorError("jira", "timed out", status=408), False),
    (ConnectorError("jira", "bad gateway", status=502), False),
    (ConnectorError("jira", "ReadTimeout"), False),
    (ConnectorError("jira", "ConnectionError", unreachable="connection refused"), True),
    (RuntimeError("anything else"), False),
])
def test_what_certainly_made_nothing(error: Exception, made_nothing: bool) -> None:
    assert certainly_not_made(error) is made_nothing
