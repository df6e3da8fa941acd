"""The reconcile engine against `syncd.testing`'s in-memory target and Cogny: races, stale data,
crashes, partial children, and what an unchanged ticket costs (nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Any, Iterator

import pytest

from syncd.engine.plan import settled
from syncd.engine.reconcile import Reconciler
from syncd.sandbox._common.tickets import make_ticket
from syncd.sdk import ExternalRef
from syncd.store.database import Store
from syncd.testing import InMemoryCogny, InMemoryConnector, InMemorySettings


def ticking() -> datetime:
    """A clock for Cogny's `updated_at` that moves a second per change: "older" is never a tie here."""
    return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=next(_seconds))


_seconds = count()


@pytest.fixture
def cogny() -> InMemoryCogny:
    return InMemoryCogny(clock=ticking)


@pytest.fixture
def mem() -> InMemoryConnector:
    return InMemoryConnector("mem")


@pytest.fixture
def rec(tmp_path: Path, cogny: InMemoryCogny, mem: InMemoryConnector) -> Iterator[Reconciler]:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    yield Reconciler(store, cogny, {"mem": mem})
    store.close()


def new_ticket(cogny: InMemoryCogny, **overrides: Any) -> str:
    return cogny.add(make_ticket(**overrides)).id


def test_a_stale_notes_snapshot_never_resurrects_an_old_line(
        rec: Reconciler, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    tid = new_ticket(cogny, notes="mine")
    rec.reconcile(cogny.ticket(tid), ["mem"])
    snapshot = cogny.ticket(tid)  # read before the next change, as a worker does outside the lock
    cogny.edit(tid, title="Renamed")
    mem.settings = InMemorySettings(base_url="https://memory.example/v2")  # the record's URL changes
    rec.reconcile(cogny.ticket(tid), ["mem"])
    rec.reconcile(snapshot, ["mem"])
    notes = cogny.ticket(tid).notes or ""
    assert notes.count("Synced to Memory:") == 1 and "/v2/" in notes and notes.startswith("mine")


def test_stale_ticket_data_does_not_revert_a_newer_state(
        rec: Reconciler, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    tid = new_ticket(cogny)
    old = cogny.ticket(tid)
    rec.reconcile(old, ["mem"])
    cogny.edit(tid, title="Newer title")
    rec.reconcile(cogny.ticket(tid), ["mem"])
    result = rec.reconcile(old, ["mem"])  # e.g. a poll's listing that predates the edit
    assert result.outcomes[0].action == "unchanged"
    assert [r.fields["title"] for r in mem.records_of(tid)] == ["Newer title"]


def test_crash_between_create_and_commit_adopts_instead_of_duplicating(
        rec: Reconciler, cogny: InMemoryCogny, mem: InMemoryConnector,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tid = new_ticket(cogny)
    ticket = cogny.ticket(tid)
    original = rec.store.save_link

    def crash_after_create(link: object, **kw: object) -> None:
        if getattr(link, "external_id", None):
            raise RuntimeError("process killed")  # the record exists; the store never heard of it
        original(link, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(rec.store, "save_link", crash_after_create)
    assert rec.reconcile(ticket, ["mem"]).failed
    monkeypatch.undo()
    link = rec.store.get_link(tid, "mem")
    assert link is not None and link.state == "creating"
    assert rec.reconcile(ticket, ["mem"]).outcomes[0].action == "updated"  # adopted via the marker
    [record] = mem.records_of(tid)
    assert set(record.children) == {i.title for i in ticket.action_items}
    assert mem.called("create") == [tid]


def test_partial_children_are_recorded_and_finished_next_time(
        rec: Reconciler, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    ticket = cogny.ticket(new_ticket(cogny))
    assert len(ticket.action_items) == 2
    mem.fail("create_item", after=1)  # the first child is made, the second refused
    assert rec.reconcile(ticket, ["mem"]).failed
    link = rec.store.get_link(ticket.id, "mem")
    assert link is not None and link.id is not None
    assert link.state == "creating" and len(rec.store.items(link.id)) == 1
    assert not rec.reconcile(ticket, ["mem"]).failed
    first, second = (f"M-1/{item.title}" for item in ticket.action_items)
    assert mem.called("create") == [ticket.id]
    assert mem.called("create_item") == [first, second, second]  # the refused one again, never the made one


def test_unchanged_ticket_costs_no_call(rec: Reconciler, cogny: InMemoryCogny,
                                        mem: InMemoryConnector) -> None:
    tid = new_ticket(cogny)
    rec.reconcile(cogny.ticket(tid), ["mem"])
    mem.calls.clear()
    cogny.calls.clear()
    assert rec.reconcile(cogny.listed(tid), ["mem"]).outcomes[0].action == "unchanged"
    assert mem.calls == [] and cogny.calls == []


def test_settled_says_unchanged_without_a_call_and_nothing_once_the_ticket_changed(
        rec: Reconciler, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    tid = new_ticket(cogny)
    rec.reconcile(cogny.ticket(tid), ["mem"])
    links = rec.store.links_for([tid])[tid]
    mem.calls.clear()
    cogny.calls.clear()
    result = settled(cogny.listed(tid), ["mem"], links, rec.connectors)
    assert result is not None and [o.action for o in result.outcomes] == ["unchanged"]
    assert mem.calls == [] and cogny.calls == []
    cogny.edit(tid, title="Renamed")
    assert settled(cogny.listed(tid), ["mem"], links, rec.connectors) is None
    links["mem"].notes_line = None  # the store does not know our line is in the notes
    assert settled(cogny.ticket(tid), ["mem"], links, rec.connectors) is None


def test_a_marker_looked_up_in_advance_replaces_find_for_a_new_row_only(
        rec: Reconciler, cogny: InMemoryCogny, mem: InMemoryConnector) -> None:
    new, lost, crashed = (new_ticket(cogny) for _ in range(3))
    rec.reconcile(cogny.ticket(lost), ["mem"])
    with rec.store.engine.begin() as conn:  # the store forgets `lost`, its record stays
        conn.exec_driver_sql("DELETE FROM links")
    rec.store.claim_create(crashed, "mem")  # a create that crashed before reaching the target
    [adopted] = mem.records_of(lost)
    mem.calls.clear()

    found = ExternalRef(adopted.id, adopted.id, f"https://memory.example/records/{adopted.id}")
    assert rec.reconcile(cogny.ticket(new), ["mem"], found={"mem": None}).outcomes[0].action == "created"
    assert rec.reconcile(cogny.ticket(lost), ["mem"], found={"mem": found}).outcomes[0].action == "updated"
    assert mem.called("find") == []
    assert rec.reconcile(cogny.ticket(crashed), ["mem"], found={"mem": None}).outcomes[0].action == "created"
    assert mem.called("find") == [crashed]  # the row existed already: its marker was looked up again
    assert sorted(r.marker for r in mem.records.values()) == sorted([new, lost, crashed])


def test_an_assignee_note_proves_an_equal_updated_at_only_once_sealed() -> None:
    """Cogny's timestamps have whole seconds: a change just after our read may keep `updated_at`."""
    from syncd.engine import assignee_note

    read_at = datetime(2026, 1, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)
    same_second = assignee_note.make("user_1", "2026-01-01T12:00:00Z", read_at)
    assert not assignee_note.usable(same_second, "2026-01-01T12:00:00Z")
    assert assignee_note.usable(same_second, "2026-01-01T11:59:59Z")  # that listing is older than the note
    assert not assignee_note.usable(same_second, "2026-01-01T12:00:01Z")
    within_skew = assignee_note.make("user_1", "2026-01-01T11:57:00Z", read_at)
    assert not assignee_note.usable(within_skew, "2026-01-01T11:57:00Z")
    sealed = assignee_note.make("user_1", "2026-01-01T11:00:00Z", read_at)
    assert assignee_note.usable(sealed, "2026-01-01T11:00:00Z")
    assert not assignee_note.usable(sealed, "2026-01-01T11:00:01Z") and not assignee_note.usable(sealed, None)


def test_a_row_another_worker_just_wrote_is_judged_like_any_other(
        rec: Reconciler, cogny: InMemoryCogny, mem: InMemoryConnector,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Links read as absent, but the row exists by the time of the insert: stale data must not win."""
    tid = new_ticket(cogny)
    old = cogny.ticket(tid)
    cogny.edit(tid, title="Newer title")
    rec.reconcile(cogny.ticket(tid), ["mem"])
    monkeypatch.setattr(rec.store, "links_for_ticket", lambda ticket_id: [])  # read before the row existed
    result = rec.reconcile(old, ["mem"])
    assert result.outcomes[0].action == "unchanged" and result.outcomes[0].reason
    assert [r.fields["title"] for r in mem.records_of(tid)] == ["Newer title"]
