"""The reconcile engine against an in-memory target: races, stale data, crashes, partial children."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from syncd.cogny import CognyClient
from syncd.sdk.connector import Desired, ExternalRef
from syncd.errors import ConnectorError
from syncd.models import Ticket
from syncd.engine.reconcile import Reconciler
from syncd.errors import PartialItems
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox._common.tickets import make_ticket
from syncd.store.database import Store


class Memory:
    """A target that keeps records in dicts and can be told to fail."""

    type, label = "memory", "Memory"

    def __init__(self) -> None:
        self.name = "mem"
        self.records: dict[str, dict[str, Any]] = {}
        self.children: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: list[str] = []
        self.fail_items_after: int | None = None

    def render(self, ticket: Ticket) -> Desired:
        return Desired({"title": ticket.title, "ticket": ticket.id},
                       {i.title: {"done": i.completed} for i in ticket.action_items})

    def find(self, ticket: Ticket) -> ExternalRef | None:
        self.calls.append("find")
        rid = next((k for k, v in self.records.items() if v["ticket"] == ticket.id), None)
        return ExternalRef(rid, rid, f"mem://{rid}") if rid else None

    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        self.calls.append("create")
        rid = f"M-{len(self.records) + 1}"
        self.records[rid] = dict(desired.record)
        self.children[rid] = {}
        return ExternalRef(rid, rid, f"mem://{rid}")

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired, previous: Desired | None) -> ExternalRef:
        self.calls.append("update")
        self.records[ref.id] = dict(desired.record)
        return ref

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        self.calls.append("find_items")
        return {k: ExternalRef(f"{ref.id}/{k}") for k in self.children[ref.id]}

    def create_items(self, ref: ExternalRef, ticket: Ticket, items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        made: dict[str, ExternalRef] = {}
        for key, item in items.items():
            if self.fail_items_after is not None and len(made) >= self.fail_items_after:
                raise PartialItems(made, ConnectorError("memory", "child rejected"))
            self.calls.append("create_item")
            self.children[ref.id][key] = dict(item)
            made[key] = ExternalRef(f"{ref.id}/{key}")
        return made

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any], previous: Any) -> None:
        self.calls.append("update_item")
        self.children[ref.id][item_ref.id.split("/", 1)[1]] = dict(item)

    def check(self) -> list[Any]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox() as sb:
        yield sb


@pytest.fixture
def env(tmp_path: Path, cogny: CognySandbox) -> Iterator[tuple[Reconciler, Memory, CognyClient]]:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    client = CognyClient(f"{cogny.url}/v1", "sk_test_sandbox")
    mem = Memory()
    yield Reconciler(store, client, {"mem": mem}), mem, client
    client.close()
    store.close()


def fresh(client: CognyClient, tid: str) -> Ticket:
    return Ticket.parse(client.get_ticket(tid))


def test_a_stale_notes_snapshot_never_resurrects_an_old_line(env: Any, cogny: CognySandbox) -> None:
    rec, mem, client = env
    tid = cogny.add_ticket(make_ticket(notes="mine"))["id"]
    rec.reconcile(fresh(client, tid), ["mem"])
    snapshot = fresh(client, tid)  # read before the next change, as a worker does outside the lock
    cogny.edit_ticket(tid, title="Renamed")
    renamed = fresh(client, tid)
    mem.update = lambda ref, t, d, p: ExternalRef(ref.id, ref.id, f"mem://{ref.id}?v=2")  # URL changes
    rec.reconcile(renamed, ["mem"])
    rec.reconcile(snapshot, ["mem"])
    notes = cogny.ticket(tid)["notes"]
    assert notes.count("Synced to Memory:") == 1 and "?v=2" in notes and notes.startswith("mine")


def test_stale_ticket_data_does_not_revert_a_newer_state(env: Any, cogny: CognySandbox) -> None:
    rec, mem, client = env
    tid = cogny.add_ticket(make_ticket())["id"]
    old = fresh(client, tid)
    rec.reconcile(old, ["mem"])
    cogny.edit_ticket(tid, title="Newer title")
    rec.reconcile(fresh(client, tid), ["mem"])
    result = rec.reconcile(old, ["mem"])  # e.g. a poll's listing that predates the edit
    assert result.outcomes[0].action == "unchanged"
    assert next(iter(mem.records.values()))["title"] == "Newer title"


def test_crash_between_create_and_commit_adopts_instead_of_duplicating(env: Any, cogny: CognySandbox) -> None:
    rec, mem, client = env
    tid = cogny.add_ticket(make_ticket())["id"]
    ticket = fresh(client, tid)
    original = rec.store.save_link

    def crash_after_create(link: Any) -> None:
        if link.external_id:
            raise RuntimeError("process killed")  # the record exists; the store never heard of it
        original(link)

    rec.store.save_link = crash_after_create  # type: ignore[method-assign]
    assert rec.reconcile(ticket, ["mem"]).failed
    rec.store.save_link = original  # type: ignore[method-assign]
    assert rec.store.get_link(tid, "mem").state == "creating"
    assert rec.reconcile(ticket, ["mem"]).outcomes[0].action == "updated"  # adopted via the marker
    assert len(mem.records) == 1 and len(mem.children["M-1"]) == len(ticket.action_items)


def test_partial_children_are_recorded_and_finished_next_time(env: Any, cogny: CognySandbox) -> None:
    rec, mem, client = env
    tid = cogny.add_ticket(make_ticket())["id"]
    ticket = fresh(client, tid)
    assert len(ticket.action_items) == 2
    mem.fail_items_after = 1
    assert rec.reconcile(ticket, ["mem"]).failed
    link = rec.store.get_link(tid, "mem")
    assert link.state == "creating" and len(rec.store.items(link.id)) == 1
    mem.fail_items_after = None
    assert not rec.reconcile(ticket, ["mem"]).failed
    assert mem.calls.count("create") == 1 and mem.calls.count("create_item") == 2


def test_unchanged_ticket_costs_no_call(env: Any, cogny: CognySandbox) -> None:
    rec, mem, client = env
    tid = cogny.add_ticket(make_ticket())["id"]
    rec.reconcile(fresh(client, tid), ["mem"])
    mem.calls.clear()
    cogny.log.clear()
    listed = Ticket.parse({k: v for k, v in cogny.ticket(tid).items() if k != "notes"})
    assert rec.reconcile(listed, ["mem"]).outcomes[0].action == "unchanged"
    assert mem.calls == [] and cogny.log.all() == []


def listed(cogny: CognySandbox, tid: str) -> Ticket:
    """The ticket as Cogny's listing shows it: without notes and assignee."""
    return Ticket.parse({k: v for k, v in cogny.ticket(tid).items() if k not in ("notes", "assignee")})


def test_settled_says_unchanged_without_a_call_and_nothing_once_the_ticket_changed(
        env: Any, cogny: CognySandbox) -> None:
    rec, mem, client = env
    tid = cogny.add_ticket(make_ticket())["id"]
    rec.reconcile(fresh(client, tid), ["mem"])
    links = rec.store.links_for([tid])[tid]
    mem.calls.clear()
    cogny.log.clear()
    result = rec.settled(listed(cogny, tid), ["mem"], links)
    assert result is not None and [o.action for o in result.outcomes] == ["unchanged"]
    assert mem.calls == [] and cogny.log.all() == []
    cogny.edit_ticket(tid, title="Renamed")
    assert rec.settled(listed(cogny, tid), ["mem"], links) is None
    links["mem"].notes_line = None  # the store does not know our line is in the notes
    assert rec.settled(fresh(client, tid), ["mem"], links) is None


def test_a_marker_looked_up_in_advance_replaces_find_for_a_new_row_only(env: Any, cogny: CognySandbox) -> None:
    rec, mem, client = env
    new, lost, crashed = (cogny.add_ticket(make_ticket())["id"] for _ in range(3))
    rec.reconcile(fresh(client, lost), ["mem"])
    with rec.store.engine.begin() as conn:  # the store forgets `lost`, its record stays
        conn.exec_driver_sql("DELETE FROM links")
    rec.store.begin_create(crashed, "mem")  # a create that crashed before reaching the target
    adopted = ExternalRef("M-1", "M-1", "mem://M-1")
    mem.calls.clear()

    assert rec.reconcile(fresh(client, new), ["mem"], found={"mem": None}).outcomes[0].action == "created"
    assert rec.reconcile(fresh(client, lost), ["mem"], found={"mem": adopted}).outcomes[0].action == "updated"
    assert "find" not in mem.calls
    assert rec.reconcile(fresh(client, crashed), ["mem"], found={"mem": None}).outcomes[0].action == "created"
    assert mem.calls.count("find") == 1  # the row existed already: its marker was looked up again
    assert sorted(v["ticket"] for v in mem.records.values()) == sorted([new, lost, crashed])


def test_an_assignee_note_proves_an_equal_updated_at_only_once_sealed() -> None:
    """Cogny's timestamps have whole seconds: a change just after our read may keep `updated_at`."""
    from datetime import datetime, timezone

    from syncd.engine import assignee_note

    read_at = datetime(2026, 1, 1, 12, 0, 0, 500000, tzinfo=timezone.utc)
    same_second = assignee_note.make("user_1", "2026-01-01T12:00:00Z", read_at)
    assert not assignee_note.usable(same_second, "2026-01-01T12:00:00Z")
    assert assignee_note.usable(same_second, "2026-01-01T11:59:59Z")  # that listing is older than the note
    assert not assignee_note.usable(same_second, "2026-01-01T12:00:01Z")
    within_skew = assignee_note.make("user_1", "2026-01-01T11:57:00Z", read_at)
    assert not assignee_note.usable(within_skew, "2026-01-01T11:57:00Z")
    settled = assignee_note.make("user_1", "2026-01-01T11:00:00Z", read_at)
    assert assignee_note.usable(settled, "2026-01-01T11:00:00Z")
    assert not assignee_note.usable(settled, "2026-01-01T11:00:01Z") and not assignee_note.usable(settled, None)


def test_a_row_another_worker_just_wrote_is_judged_like_any_other(env: Any, cogny: CognySandbox) -> None:
    """Links read as absent, but the row exists by the time of the insert: stale data must not win."""
    rec, mem, client = env
    tid = cogny.add_ticket(make_ticket())["id"]
    old = fresh(client, tid)
    cogny.edit_ticket(tid, title="Newer title")
    rec.reconcile(fresh(client, tid), ["mem"])
    read = rec.store.links_for_ticket
    rec.store.links_for_ticket = lambda ticket_id: []  # type: ignore[method-assign]  # read before the row existed
    result = rec.reconcile(old, ["mem"])
    rec.store.links_for_ticket = read  # type: ignore[method-assign]
    assert result.outcomes[0].action == "unchanged" and result.outcomes[0].reason
    assert next(iter(mem.records.values()))["title"] == "Newer title" and len(mem.records) == 1
