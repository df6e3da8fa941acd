"""End to end: which tickets a poll lists — `cogny.warehouses`, `cogny.filters.*`, `cogny.page_size`
and the route matches — through the real `syncd run-once` against the Cogny and JIRA sandboxes.

Each test builds tickets whose fields decide the answer and writes the expected set by hand; the
list calls Cogny received are checked too (the filters are server-side).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest
import yaml

from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import jira_settings, write_config
from tests.support.process import run_once
from tests.support.records import parents_by_ticket

pytestmark = pytest.mark.e2e


def ticket(tid: str, **fields: Any) -> dict[str, Any]:
    base = {"status": "open", "priority": "medium", "category": "retention", "warehouse_id": "wh_a",
            "created_at": "2025-03-05T10:00:00Z", "updated_at": "2025-03-05T10:00:00Z"}
    return make_ticket(id=tid, action_items=[], **{**base, **fields})


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox() as sb:
        yield sb


def config(tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox, *,
           cogny_keys: dict[str, Any] | None = None, routes: list[dict[str, Any]] | None = None,
           default_filters: bool = False) -> Path:
    """A syncd.yaml; `default_filters` leaves `cogny.filters` out entirely (the documented defaults)."""
    path = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)}, routes=routes)
    doc = yaml.safe_load(path.read_text())
    if default_filters:
        del doc["cogny"]["filters"]
    doc["cogny"].update(cogny_keys or {})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def add(cogny: CognySandbox, *tickets: dict[str, Any]) -> None:
    for t in tickets:
        cogny.add_ticket(t)


def synced(jira: JiraSandbox) -> set[str | None]:
    counts = parents_by_ticket(jira)
    assert set(counts.values()) <= {1}, counts  # never twice
    return set(counts)


def list_calls(cogny: CognySandbox) -> list[dict[str, list[str]]]:
    """The query of every ticket listing call, in order."""
    return [parse_qs(r.query) for r in cogny.log.all() if r.method == "GET" and r.path == "/v1/tickets"]


def first_pass(calls: list[dict[str, list[str]]]) -> list[dict[str, list[str]]]:
    """The listing calls before the sweep (the sweep asks for `updated_after` and other statuses)."""
    return [c for c in calls if "updated_after" not in c]


@pytest.mark.config_keys("cogny.filters.status")
def test_the_default_status_filter_lists_open_and_in_progress_tickets_only(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    add(cogny, ticket("tkt_open"), ticket("tkt_doing", status="in_progress"),
        ticket("tkt_done", status="completed"), ticket("tkt_gone", status="dismissed"))
    cfg = config(tmp_path, cogny, jira, default_filters=True)  # no `cogny.filters` at all
    result = run_once(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    assert synced(jira) == {"tkt_open", "tkt_doing"}
    assert {tuple(c.get("status", [])) for c in first_pass(list_calls(cogny))} == {("open,in_progress",)}

    explicit = config(tmp_path, cogny, jira, cogny_keys={"filters": {"status": ["completed"]}})
    assert run_once(explicit).returncode == 0
    assert synced(jira) == {"tkt_open", "tkt_doing", "tkt_done"}


@pytest.mark.config_keys("cogny.filters.priority", "cogny.filters.category")
def test_priority_and_category_filters_list_only_tickets_matching_both(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    add(cogny, ticket("tkt_hit1", priority="critical"), ticket("tkt_hit2", priority="high"),
        ticket("tkt_low", priority="low"), ticket("tkt_other", priority="critical", category="acquisition"))
    cfg = config(tmp_path, cogny, jira, cogny_keys={
        "filters": {"status": ["open"], "priority": ["critical", "high"], "category": ["retention"]}})
    result = run_once(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    assert synced(jira) == {"tkt_hit1", "tkt_hit2"}
    [call] = first_pass(list_calls(cogny))
    assert (call["priority"], call["category"]) == (["critical,high"], ["retention"])


@pytest.mark.config_keys("cogny.filters.created_after", "cogny.filters.updated_after")
def test_date_filters_are_lower_bounds_on_creation_and_last_change(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    add(cogny, ticket("tkt_old", created_at="2025-01-10T00:00:00Z", updated_at="2025-04-01T00:00:00Z"),
        ticket("tkt_new_stale", created_at="2025-03-02T00:00:00Z", updated_at="2025-03-02T00:00:00Z"),
        ticket("tkt_new_fresh", created_at="2025-03-02T00:00:00Z", updated_at="2025-04-01T00:00:00Z"))
    # by last change first: syncd's write-back to the notes changes `updated_at` of what it synced
    by_change = config(tmp_path, cogny, jira, cogny_keys={
        "filters": {"status": ["open"], "updated_after": "2025-03-15T00:00:00Z"}})
    assert run_once(by_change).returncode == 0
    assert synced(jira) == {"tkt_old", "tkt_new_fresh"}
    assert list_calls(cogny)[0]["updated_after"] == ["2025-03-15T00:00:00Z"]

    second = tmp_path / "second"  # a store and a JIRA of its own
    second.mkdir()
    with JiraSandbox() as other:
        by_creation = config(second, cogny, other, cogny_keys={
            "filters": {"status": ["open"], "created_after": "2025-03-01T00:00:00Z"}})
        assert run_once(by_creation).returncode == 0
        assert synced(other) == {"tkt_new_stale", "tkt_new_fresh"}
        assert any(c.get("created_after") == ["2025-03-01T00:00:00Z"] for c in list_calls(cogny))


@pytest.mark.config_keys("cogny.warehouses")
def test_warehouses_lists_each_named_warehouse_and_no_other(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    add(cogny, ticket("tkt_in_a", warehouse_id="wh_a"), ticket("tkt_in_b", warehouse_id="wh_b"),
        ticket("tkt_in_c", warehouse_id="wh_c"), ticket("tkt_in_c2", warehouse_id="wh_c"))
    cfg = config(tmp_path, cogny, jira, cogny_keys={"warehouses": ["wh_a", "wh_c"]})
    result = run_once(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    assert synced(jira) == {"tkt_in_a", "tkt_in_c", "tkt_in_c2"}
    asked = [c.get("warehouse_id") for c in first_pass(list_calls(cogny))]
    assert asked == [["wh_a"], ["wh_c"]]


@pytest.mark.config_keys("cogny.page_size")
def test_page_size_is_the_limit_of_every_list_call_and_every_page_is_read(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    ids = [f"tkt_page{n}" for n in range(7)]
    add(cogny, *(ticket(tid, created_at=f"2025-03-0{n + 1}T00:00:00Z") for n, tid in enumerate(ids)))
    cfg = config(tmp_path, cogny, jira, cogny_keys={"page_size": 3})
    result = run_once(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    assert synced(jira) == set(ids)
    calls = first_pass(list_calls(cogny))
    assert len(calls) == 3  # 3 + 3 + 1
    assert all(c["limit"] == ["3"] for c in list_calls(cogny))
    assert "cursor" not in calls[0] and all("cursor" in c for c in calls[1:])


@pytest.mark.config_keys("routes.match.category", "routes.match.status", "routes.match.warehouse_id")
def test_route_matches_on_category_status_and_warehouse(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    add(cogny, ticket("tkt_all3"), ticket("tkt_wrong_cat", category="acquisition"),
        ticket("tkt_wrong_status", status="in_progress"), ticket("tkt_wrong_wh", warehouse_id="wh_b"))
    routes = [{"match": {"category": ["retention"], "status": ["open"], "warehouse_id": ["wh_a"]},
               "connectors": ["jira"]}]
    cfg = config(tmp_path, cogny, jira, routes=routes)
    result = run_once(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    assert synced(jira) == {"tkt_all3"}
