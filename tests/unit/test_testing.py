"""syncd.testing: the in-memory target and Cogny behave as the real ones do where the engine can tell."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import pytest

from syncd import config
from syncd.engine.cycle import run_cycle
from syncd.engine.reconcile import Reconciler
from syncd.errors import CognyError, ConnectorError, InvalidParameter, NotFound, PartialItems, TicketDataError
from syncd.models import Ticket
from syncd.sdk import BatchCreator, BatchFinder, Connector, ExternalRef
from syncd.store.database import Store
from syncd.testing import Call, InMemoryCogny, InMemoryConnector

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # Cogny's form: UTC, whole seconds


def ticket(tid: str = "tkt_1", *items: str, **fields: object) -> Ticket:
    return Ticket.parse({"id": tid, "title": f"Ticket {tid}", "category": "retention", "priority": "high",
                         "status": "open", "action_items": [{"title": t} for t in items], **fields})


# -- the target ------------------------------------------------------------------------------------

def test_the_connector_is_a_plain_connector_and_records_every_call_but_render() -> None:
    mem = InMemoryConnector()
    assert isinstance(mem, Connector) and not isinstance(mem, (BatchFinder, BatchCreator))
    t = ticket("tkt_1", "Step one")
    desired = mem.render(t)
    ref = mem.create(t, desired)
    made = mem.create_items(ref, t, desired.items)
    mem.update_item(ref, made["Step one"], {"title": "Step one", "completed": True}, None)
    assert mem.calls == [Call("create", "tkt_1"), Call("create_item", "M-1/Step one"),
                         Call("update_item", "M-1/Step one")]
    assert mem.records["M-1"].children == {"Step one": {"title": "Step one", "completed": True}}
    assert [c.method for c in mem.writes()] == ["create", "create_item", "update_item"]
    mem.close()
    assert mem.closed and mem.called("close") == [""]


def test_find_takes_the_exact_marker_and_the_oldest_record() -> None:
    mem = InMemoryConnector()
    first = mem.create(ticket("tkt_1"), mem.render(ticket("tkt_1")))
    mem.create(ticket("tkt_1"), mem.render(ticket("tkt_1")))  # a duplicate someone made
    mem.create(ticket("tkt_10"), mem.render(ticket("tkt_10")))
    assert mem.find(ticket("tkt_1")) == first
    assert mem.find(ticket("tkt_2")) is None
    assert [r.id for r in mem.records_of("tkt_1")] == ["M-1", "M-2"]


def test_failures_come_when_asked_and_children_made_before_one_are_reported() -> None:
    mem = InMemoryConnector("mem")
    mem.fail("create", error=TimeoutError("no answer"))
    with pytest.raises(TimeoutError):
        mem.create(ticket(), mem.render(ticket()))
    ref = mem.create(ticket("tkt_1", "A", "B", "C"), mem.render(ticket()))  # the next one passes
    mem.fail("create_item", after=1, times=2)
    with pytest.raises(PartialItems) as partial:
        mem.create_items(ref, ticket(), {"A": {}, "B": {}, "C": {}})
    assert set(partial.value.created) == {"A"} and isinstance(partial.value.cause, ConnectorError)
    with pytest.raises(PartialItems) as again:
        mem.create_items(ref, ticket(), {"B": {}, "C": {}})
    assert again.value.created == {}
    assert mem.create_items(ref, ticket(), {"B": {}, "C": {}}) == {
        "B": ExternalRef("M-1/B"), "C": ExternalRef("M-1/C")}
    with pytest.raises(ConnectorError, match="no record M-9"):
        mem.update(ExternalRef("M-9"), ticket(), mem.render(ticket()), None)


# -- Cogny -----------------------------------------------------------------------------------------

def test_a_ticket_gets_cognys_defaults_and_reads_back_as_get_and_listing_show_it() -> None:
    cogny = InMemoryCogny([{"id": "tkt_1", "action_items": [{"title": "Do it"}]}])
    got = cogny.get_ticket("tkt_1")
    assert got["notes"] == "" and got["assignee"] is None and STAMP.match(got["updated_at"])
    assert got["action_items"] == [{"title": "Do it", "description": "", "estimated_hours": None,
                                    "completed": False}]
    assert cogny.ticket("tkt_1").notes == "" and cogny.listed("tkt_1").notes is None
    assert "assignee" not in cogny.listed("tkt_1").model_fields_set
    assert cogny.calls == [Call("get_ticket", "tkt_1")]  # ticket() and listed() are the test's, not syncd's
    with pytest.raises(NotFound):
        cogny.get_ticket("tkt_2")
    with pytest.raises(TicketDataError):  # refused before anything happens, as the real client does
        cogny.get_ticket("tkt_1/../tkt_2")
    cogny.fail("get_ticket")
    with pytest.raises(CognyError) as failed:
        cogny.get_ticket("tkt_1")
    assert failed.value.retryable and cogny.get_ticket("tkt_1")["id"] == "tkt_1"  # once, as asked


def test_patch_replaces_notes_whole_and_moves_updated_at_only_on_a_real_change() -> None:
    moments = count()
    cogny = InMemoryCogny(clock=lambda: datetime(2026, 1, 1,
                                                 tzinfo=timezone.utc) + timedelta(seconds=next(moments)))
    cogny.add(ticket("tkt_1", "A", "B", notes="mine"))
    created = cogny.ticket("tkt_1").updated_at
    answer = cogny.update_ticket("tkt_1", notes="yours")
    assert answer["notes"] == "yours" and answer["updated_at"] > str(created)
    assert cogny.update_ticket("tkt_1", notes="yours")["updated_at"] == answer["updated_at"]  # no change
    cogny.update_ticket("tkt_1", action_items=[{"title": "B", "completed": True}])
    assert [i.completed for i in cogny.ticket("tkt_1").action_items] == [False, True]
    for bad in ({"title": "x"}, {}, {"notes": 5}, {"action_items": [{"title": "Z", "completed": True}]}):
        with pytest.raises(InvalidParameter):
            cogny.update_ticket("tkt_1", **bad)
    done = cogny.dismiss("tkt_1", "already_implemented")
    assert done["status"] == "dismissed" and STAMP.match(done["dismissed_at"]) and done["notes"] == "yours"
    with pytest.raises(InvalidParameter):
        cogny.dismiss("tkt_1", "bored")
    assert [c.method for c in cogny.writes()] == ["update_ticket"] * 7 + ["dismiss"] * 2


def test_listing_pages_newest_first_with_filters_and_each_ticket_once() -> None:
    cogny = InMemoryCogny([ticket(f"tkt_{n}", created_at=f"2026-01-0{n}T00:00:00Z",
                                  status="completed" if n == 3 else "open").model_dump(mode="json")
                           for n in range(1, 6)])
    pages = list(cogny.pages(limit=2))
    assert [[t["id"] for t in p.items] for p in pages] == [["tkt_5", "tkt_4"], ["tkt_3", "tkt_2"], ["tkt_1"]]
    assert [p.total_count for p in pages] == [5, 5, 5] and not pages[-1].has_more
    assert all("notes" not in t and "assignee" not in t for p in pages for t in p.items)
    def listed(**filters: object) -> list[str]:
        return [t["id"] for page in cogny.pages(**filters) for t in page.items]

    assert listed(status=["open"], created_after="2026-01-02T00:00:00Z") == ["tkt_5", "tkt_4", "tkt_2"]
    assert listed(status="completed", warehouse_id=None) == ["tkt_3"]
    with pytest.raises(InvalidParameter):
        cogny.list_page(cursor="tkt_gone")


def test_a_whole_poll_cycle_runs_on_the_in_memory_cogny_and_target(tmp_path: Path) -> None:
    cogny = InMemoryCogny([ticket(f"tkt_{n}", "Step") for n in range(5)])
    mem = InMemoryConnector("mem")
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    cfg = config.parse("cogny: {api_key: k-1234, page_size: 2}\n", env={})
    rec = Reconciler(store, cogny, {"mem": mem})
    first = run_cycle(cfg, rec, cogny)
    assert first.ok and first.seen == 5 and first.counts().created == 5
    assert sorted(r.marker for r in mem.records.values()) == sorted(cogny.tickets)
    assert all((cogny.ticket(tid).notes or "").startswith("Synced to Memory: M-") for tid in cogny.tickets)
    mem.calls.clear()
    cogny.calls.clear()
    second = run_cycle(cfg, rec, cogny)
    assert second.ok and second.counts().unchanged == 5
    assert mem.calls == [] and cogny.writes() == []  # settled: only the listing was read
    store.close()
