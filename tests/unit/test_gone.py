"""Records people delete in a target: the link moves to `gone`, the notes say so, no call is made again.

Against `syncd.testing`'s in-memory target, whose `delete` answers later writes as a real target's
"no such record" does (`RecordGone`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest

from syncd import metrics
from syncd.engine import notes
from syncd.engine.plan import settled
from syncd.engine.reconcile import Reconciler
from syncd.engine.report import count_links
from syncd.sandbox._common.tickets import make_ticket
from syncd.store.database import Store
from syncd.testing import InMemoryCogny, InMemoryConnector


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield opened
    opened.close()


@pytest.fixture
def cogny() -> InMemoryCogny:
    return InMemoryCogny()


@pytest.fixture
def mem() -> InMemoryConnector:
    return InMemoryConnector("mem")


def _today() -> set[str]:
    now = datetime.now(timezone.utc)
    return {now.date().isoformat(), now.replace(hour=23, minute=59).date().isoformat()}


def test_the_notes_line_of_a_deleted_record_says_what_happened_and_when() -> None:
    when = datetime(2026, 12, 5, 17, 30, tzinfo=timezone.utc)
    assert (
        notes.gone_line("JIRA", "GROWTH-1", "deleted in JIRA", when)
        == "JIRA: GROWTH-1 deleted in JIRA on 2026-12-05"
    )
    assert notes.gone_line("Slack", None, None, None) == "Slack: record deleted"


def test_a_deleted_record_is_gone_and_never_written_again(
        store: Store, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    rec = Reconciler(store, cogny, {"mem": mem})
    tid = cogny.add(make_ticket(notes="my own text")).id
    rec.reconcile(cogny.ticket(tid), ["mem"])
    (record,) = mem.records_of(tid)
    mem.delete(record.id)
    cogny.edit(tid, title="Retitled")

    result = rec.reconcile(cogny.ticket(tid), ["mem"])
    assert [o.action for o in result.outcomes] == ["gone"] and not result.failed
    link = store.get_link(tid, "mem")
    assert link is not None and link.state == "gone" and link.gone_how == "deleted in Memory"
    lines = (cogny.ticket(tid).notes or "").splitlines()
    assert lines[0] == "my own text"
    assert lines[-1].startswith(f"Memory: {record.id} deleted in Memory on ") and lines[-1][-10:] in _today()
    assert not any(ln.startswith("Synced to Memory") for ln in lines)

    updates = len(mem.called("update"))
    cogny.edit(tid, title="Retitled again")
    again = rec.reconcile(cogny.ticket(tid), ["mem"])
    assert [o.action for o in again.outcomes] == ["gone"]
    assert len(mem.called("update")) == updates and mem.records_of(tid) == []


def test_recreate_makes_exactly_one_new_record_on_the_next_reconcile(
        store: Store, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    rec = Reconciler(store, cogny, {"mem": mem}, recreate=frozenset({"mem"}))
    tid = cogny.add(make_ticket()).id
    rec.reconcile(cogny.ticket(tid), ["mem"])
    (old,) = mem.records_of(tid)
    mem.delete(old.id)
    cogny.edit(tid, title="Retitled")
    assert [o.action for o in rec.reconcile(cogny.ticket(tid), ["mem"]).outcomes] == ["gone"]

    made = rec.reconcile(cogny.ticket(tid), ["mem"])
    assert [o.action for o in made.outcomes] == ["created"]
    (fresh,) = mem.records_of(tid)
    assert fresh.id != old.id and fresh.fields["title"] == "Retitled"
    assert sorted(fresh.children) == sorted(i.title for i in cogny.ticket(tid).action_items)
    text = cogny.ticket(tid).notes or ""
    assert f"Synced to Memory: {fresh.id} " in text and "deleted in Memory" not in text
    assert [o.action for o in rec.reconcile(cogny.ticket(tid), ["mem"]).outcomes] == ["unchanged"]


def test_a_child_deleted_alone_leaves_the_parent_synced_and_is_not_written_again(
        store: Store, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    rec = Reconciler(store, cogny, {"mem": mem})
    tid = cogny.add(make_ticket(action_items=[{"title": "a", "completed": False},
                                              {"title": "b", "completed": False}])).id
    rec.reconcile(cogny.ticket(tid), ["mem"])
    (record,) = mem.records_of(tid)
    mem.delete(record.id, "a")
    cogny.edit(tid, action_items=[{"title": "a", "completed": True}, {"title": "b", "completed": True}])

    result = rec.reconcile(cogny.ticket(tid), ["mem"])
    assert [o.action for o in result.outcomes] == ["updated"]
    assert mem.records_of(tid)[0].children == {"b": {"title": "b", "completed": True}}
    calls = len(mem.called("update_item"))
    cogny.edit(tid, action_items=[{"title": "a", "completed": False}, {"title": "b", "completed": True}])
    rec.reconcile(cogny.ticket(tid), ["mem"])
    assert len(mem.called("update_item")) == calls  # the deleted child is left alone


def test_a_gone_link_is_settled_without_a_worker_unless_recreate_asks(
        store: Store, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    rec = Reconciler(store, cogny, {"mem": mem})
    tid = cogny.add(make_ticket()).id
    rec.reconcile(cogny.ticket(tid), ["mem"])
    mem.delete(mem.records_of(tid)[0].id)
    cogny.edit(tid, title="Retitled")
    rec.reconcile(cogny.ticket(tid), ["mem"])

    links = {ln.connector: ln for ln in store.links_for_ticket(tid)}
    kept = settled(cogny.ticket(tid), ["mem"], links, {"mem": mem})
    assert kept is not None and [o.action for o in kept.outcomes] == ["gone"]
    assert settled(cogny.ticket(tid), ["mem"], links, {"mem": mem}, frozenset({"mem"})) is None


def test_restart_link_forgets_the_record_and_keeps_the_notes_line(
        store: Store, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    rec = Reconciler(store, cogny, {"mem": mem})
    tid = cogny.add(make_ticket()).id
    rec.reconcile(cogny.ticket(tid), ["mem"])
    link = store.get_link(tid, "mem")
    assert link is not None and link.id is not None and store.items(link.id)

    fresh = store.restart_link(link)
    again = store.get_link(tid, "mem")
    assert again is not None and again.state == "creating" and again.external_id is None
    assert again.applied is None and again.notes_line == link.notes_line == fresh.notes_line
    assert store.items(link.id) == {}


def test_the_links_gauge_counts_gone_records_per_connector(
        store: Store, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    rec = Reconciler(store, cogny, {"mem": mem})
    ids = [cogny.add(make_ticket()).id for _ in range(3)]
    for tid in ids:
        rec.reconcile(cogny.ticket(tid), ["mem"])
    mem.delete(mem.records_of(ids[0])[0].id)
    cogny.edit(ids[0], title="Retitled")
    rec.reconcile(cogny.ticket(ids[0]), ["mem"])

    count_links(store)
    assert metrics.links.labels("mem", "gone")._value.get() == 1
    assert metrics.links.labels("mem", "synced")._value.get() == 2


def test_sync_back_reads_deleted_as_a_signal_only_when_status_map_maps_it() -> None:
    from syncd.config import SyncBackConfig
    from syncd.engine.progress import decide
    from syncd.models import Ticket
    from syncd.sdk.syncback import RemoteState
    from syncd.store.observed import Observed

    ticket = Ticket.parse(make_ticket(status="in_progress", action_items=[]))
    before = Observed("in_progress", {}, "2026-11-01T09:00:00+00:00", "in_progress")
    now = RemoteState("10001", "deleted", None, {}, "task deleted (404)")

    default = SyncBackConfig().status_map
    assert "deleted" not in default
    assert decide(ticket, before, now, {}, default).empty
    opted_in = SyncBackConfig(status_map={**default, "deleted": "dismissed"}).status_map
    assert decide(ticket, before, now, {}, opted_in).dismiss
