"""The Asana connector over real HTTP against the Asana sandbox, driven by the real reconcile engine.

The sandbox checks every task body against the request schemas of Asana's published OpenAPI
document; the `asana` fixture also fails any test in which syncd got a 4xx it did not expect,
and `test_every_body_syncd_sent_validates_against_the_published_spec` re-checks each recorded
body with a validator built independently of the sandbox's own copy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from pydantic import ValidationError

from connectors.asana import AsanaConnector, AsanaSettings
from connectors.asana.render import marker
from syncd.engine.reconcile import Reconciler
from syncd.errors import ConnectorError, PartialItems
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox import specs
from syncd.sandbox._common.openapi import OpenAPI, load_spec
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.asana.sandbox import AsanaSandbox
from tests.support.engine import engine, reconcile

TOKEN = "asana-sandbox"
FAST = RetryPolicy(max_attempts=4, backoff=0.01, max_backoff=0.05, timeout=5)
BODY_OPS = {("POST", "tasks"): "/tasks", ("PUT", "task"): "/tasks/{task_gid}",
            ("POST", "subtasks"): "/tasks/{task_gid}/subtasks",
            ("POST", "addProject"): "/tasks/{task_gid}/addProject"}


def _from_syncd(sb: AsanaSandbox) -> list[Any]:
    return [r for r in sb.log.all() if r.headers.get("user-agent", "").startswith("syncd/")]


@pytest.fixture
def asana() -> Iterator[AsanaSandbox]:
    with AsanaSandbox() as sb:
        yield sb
    refused = [(r.method, r.path, r.status, r.body[:300]) for r in _from_syncd(sb) if 400 <= r.status < 429
               and not (r.status == 404 and "/tasks/external:" in r.path)]  # a miss, not a refusal
    assert not refused, f"the sandbox refused requests syncd sent: {refused}"


def connector(sb: AsanaSandbox, policy: RetryPolicy = FAST, **settings: Any) -> AsanaConnector:
    values = {"token": TOKEN, "workspace_gid": sb.workspace_gid, "project_gid": sb.project_gid,
              "base_url": f"{sb.url}/api/1.0", **settings}
    return AsanaConnector("asana", AsanaSettings(**values), policy=policy)


def ticket(**overrides: Any) -> Ticket:
    return Ticket.parse(make_ticket(**overrides))


def sync(rec: Reconciler, t: Ticket) -> Any:
    result = reconcile(rec, t, ["asana"])
    assert not result.failed, result
    return result.outcomes[0]


def writes(sb: AsanaSandbox) -> list[str]:
    """`METHOD last-path-segment` of each write the sandbox served, e.g. `POST subtasks`."""
    out = []
    for r in sb.log.writes():
        last = r.path.rstrip("/").split("/")[-1]
        out.append(f"{r.method} {'task' if last.isdigit() else last}")
    return out


def items_done(t: Ticket, *done: int) -> Ticket:
    data = t.model_dump()
    for i in done:
        data["action_items"][i]["completed"] = True
    return Ticket.parse(data)


# -- create, update, complete -----------------------------------------------------------------

def test_create_makes_one_marked_task_in_the_section_and_one_subtask_per_item(asana: AsanaSandbox,
                                                                              tmp_path: Path) -> None:
    conn = connector(asana, section_gid=asana.section_gid)
    rec, t = engine(tmp_path, conn), ticket()
    outcome = sync(rec, t)
    (task,) = asana.top_level()
    assert outcome.action == "created" and outcome.ref.id == task["gid"] and len(task["gid"]) == 16
    assert task["name"] == t.title and task["notes"].splitlines()[-1] == f"cogny:{t.id}"
    assert t.description in task["notes"] and t.url in task["notes"]
    assert task["external"]["gid"] == marker(t.id) and t.id in task["external"]["data"]
    assert task["memberships"] == [{"project": asana.project_gid, "section": asana.section_gid}]
    assert [s["name"] for s in asana.subtasks(task["gid"])] == [i.title for i in t.action_items]
    assert writes(asana) == ["POST tasks", "POST addProject", "POST subtasks", "POST subtasks"]
    assert outcome.ref.url == f"https://app.asana.com/0/{asana.project_gid}/{task['gid']}"
    assert rec.cogny.ticket(t.id).notes == f"Synced to Asana: {outcome.ref.url}"
    asana.log.clear()
    assert sync(rec, t).action == "unchanged" and not asana.log.writes()


def test_completed_items_and_done_tickets_keep_completed_in_step(asana: AsanaSandbox, tmp_path: Path) -> None:
    rec, t = engine(tmp_path, connector(asana)), ticket()
    sync(rec, items_done(t, 1))
    (task,) = asana.top_level()
    assert [s["completed"] for s in asana.subtasks(task["gid"])] == [False, True]
    assert task["completed"] is False and asana.subtasks(task["gid"])[1]["completed_at"]
    asana.log.clear()
    sync(rec, Ticket.parse({**items_done(t, 1).model_dump(), "status": "completed"}))
    assert asana.task(task["gid"])["completed"] is True
    assert all(s["completed"] for s in asana.subtasks(task["gid"]))
    assert sorted(writes(asana)) == ["PUT task", "PUT task"]  # the parent and the one open subtask
    dismissed = ticket(status="dismissed")
    sync(rec, dismissed)
    (gone,) = [x for x in asana.top_level() if x["notes"].endswith(dismissed.id)]
    assert gone["completed"] is True and "Status: dismissed" in gone["notes"]


def test_update_changes_name_and_notes_on_the_same_task(asana: AsanaSandbox, tmp_path: Path) -> None:
    rec, t = engine(tmp_path, connector(asana)), ticket()
    first = sync(rec, t)
    asana.log.clear()
    changed = Ticket.parse({**t.model_dump(), "title": "Fix  the\ncheckout", "description": "New words."})
    assert sync(rec, changed).action == "updated"
    (put,) = asana.log.writes()
    assert put.path.endswith(f"/tasks/{first.ref.id}") and sorted(put.json()["data"]) == ["name", "notes"]
    (task,) = asana.top_level()
    assert task["gid"] == first.ref.id and task["name"] == "Fix the checkout"
    assert task["notes"].startswith("New words.") and task["notes"].endswith(f"cogny:{t.id}")


def test_an_adopted_task_is_placed_in_the_section_but_not_reopened(asana: AsanaSandbox,
                                                                   tmp_path: Path) -> None:
    t = ticket()
    sync(engine(tmp_path, connector(asana)), t)  # as if the crash came before the placement
    (task,) = asana.top_level()
    assert task["memberships"][0]["section"] == asana.default_section_gid
    asana.complete(task["gid"])  # a person ticked it meanwhile
    sync(engine(tmp_path, connector(asana, section_gid=asana.section_gid), "lost.db"), t)
    (adopted,) = asana.top_level()
    assert adopted["completed"] is True and adopted["memberships"][0]["section"] == asana.section_gid


def test_priority_and_static_custom_fields(asana: AsanaSandbox, tmp_path: Path) -> None:
    field = {"field_gid": asana.priority_field_gid, "options": asana.priority_options}
    conn = connector(asana, priority_field=field, custom_fields={asana.text_field_gid: "cogny"})
    rec, t = engine(tmp_path, conn), ticket(priority="critical")
    sync(rec, t)
    (task,) = asana.top_level()
    assert task["custom_fields"] == {asana.priority_field_gid: asana.priority_options["critical"],
                                     asana.text_field_gid: "cogny"}
    asana.log.clear()
    sync(rec, Ticket.parse({**t.model_dump(), "priority": "low"}))
    (put,) = asana.log.writes()
    low = Ticket.parse({**t.model_dump(), "priority": "low"})
    assert put.json()["data"] == {"notes": conn.render(low).record["notes"],
                                  "custom_fields": {asana.priority_field_gid: asana.priority_options["low"]}}
    asana.log.clear()  # the static field is dropped from the config: it is cleared, once
    sync(engine(tmp_path, connector(asana, priority_field=field)),
         Ticket.parse({**t.model_dump(), "priority": "low"}))
    (put,) = asana.log.writes()
    assert put.json()["data"] == {"custom_fields": {asana.text_field_gid: None}}
    assert asana.task(task["gid"])["custom_fields"][asana.text_field_gid] is None


# -- finding what was made before (lost or unfinished store) ----------------------------------

def test_find_recovers_the_task_by_external_gid_and_subtasks_by_name(asana: AsanaSandbox,
                                                                     tmp_path: Path) -> None:
    t = ticket()
    made = sync(engine(tmp_path, connector(asana)), t).ref
    asana.log.clear()
    outcome = sync(engine(tmp_path, connector(asana), "lost.db"), t)
    assert outcome.ref.id == made.id and len(asana.top_level()) == 1 and len(asana.subtasks(made.id)) == 2
    assert "POST tasks" not in writes(asana) and "POST subtasks" not in writes(asana)
    reads = [r.path for r in asana.log.all() if r.method == "GET"]
    assert reads[0] == f"/api/1.0/tasks/external:{marker(t.id)}" and not any("/projects/" in p for p in reads)
    assert connector(asana).find(ticket()) is None


@pytest.mark.parametrize("refusal", ["forbid", "ignore"])
def test_without_external_data_find_pages_through_the_project_for_the_notes_marker(
        refusal: str, tmp_path: Path) -> None:
    with AsanaSandbox(external_allowed=False, external_refusal=refusal) as sb:
        t = ticket()
        for i in range(130):  # more tasks than one page, one quoting the marker mid-notes
            sb.add_task(f"Other {i}", f"see cogny:{t.id}\nnot ours" if i == 7 else "")
        conn = connector(sb)
        rec = engine(tmp_path, conn)
        made = sync(rec, t).ref
        assert sb.find_by_external(marker(t.id)) is None and not conn._external
        sync(rec, ticket())  # the connector has learnt: no more external data offered
        posts = [(r.status,
                  "external" in r.json()["data"]) for r in sb.log.writes() if r.path.endswith("/tasks")]
        expected = [(403, True), (201, False)] if refusal == "forbid" else [(201, True)]
        assert posts == expected + [(201, False)]
        sb.log.clear()
        fresh = connector(sb)
        outcome = sync(engine(tmp_path, fresh, "lost.db"), t)
        assert outcome.ref.id == made.id
        assert len(sb.top_level()) == 132 and len(sb.subtasks(made.id)) == 2
        listed = [r for r in sb.log.all() if r.path.endswith(f"/projects/{sb.project_gid}/tasks")]
        assert len(listed) == 2 and "offset=" in listed[1].query and "POST tasks" not in writes(sb)
        sb.log.clear()  # later look-ups ask only for what changed since the listing
        sb.delete(made.id)
        assert fresh.find(t) is None and fresh.find(ticket()) is None
        log = [r for r in sb.log.all() if "/external:" not in r.path]
        reads = [(r.path.removeprefix("/api/1.0"), r.status) for r in log]
        assert reads[0] == ("/tasks", 200) and "modified_since=" in log[0].query
        assert (f"/tasks/{made.id}", 404) in reads and not any(p.startswith("/projects/") for p, _ in reads)


def test_a_failing_subtask_keeps_the_ones_created_before_it(asana: AsanaSandbox) -> None:
    conn, t = connector(asana), ticket()
    ref = conn.create(t, conn.render(t))
    items = {"ok": {"name": "ok", "notes": "", "completed": False},
             "bad": {"name": "bad", "notes": 5, "completed": False}}  # deliberately not a string
    with pytest.raises(PartialItems) as caught:
        conn.create_items(ref, t, items)
    assert list(caught.value.created) == ["ok"] and caught.value.cause.status == 400
    assert "notes: Expected string" in str(caught.value.cause)
    assert list(conn.find_items(ref)) == ["ok"]
    asana.log.clear()  # the refusal above was deliberate


# -- what goes over the wire ------------------------------------------------------------------

def test_every_body_syncd_sent_validates_against_the_published_spec(asana: AsanaSandbox,
                                                                    tmp_path: Path) -> None:
    rec, t = engine(tmp_path, connector(asana, section_gid=asana.section_gid)), ticket()
    sync(rec, t)
    sync(rec, Ticket.parse({**items_done(t, 0).model_dump(), "title": "Renamed", "status": "completed"}))
    spec = OpenAPI(load_spec(specs.ASANA).doc)  # a fresh validator, not the sandbox's
    checked = 0
    for r in _from_syncd(asana):
        if not r.write:
            continue
        last = r.path.split("/")[-1]
        op = BODY_OPS[(r.method, "task" if last.isdigit() else last)]
        body = r.json()
        assert set(body) == {"data"} and spec.problems(r.method, op, body) == [], (r.path, body)
        checked += 1
    assert checked == 7  # task, section, 2 subtasks; then the task and its 2 subtasks


# -- rate limits, errors, config --------------------------------------------------------------

def test_429_with_retry_after_is_waited_out_and_rejected_requests_count(tmp_path: Path) -> None:
    with AsanaSandbox(rate_limit=3, rate_window=1.0) as sb:
        rec, t = engine(tmp_path,
                        connector(sb, RetryPolicy(max_attempts=5, backoff=0.01, timeout=5))), ticket()
        started = time.monotonic()
        sync(rec, t)
        log = sb.log.all()
        throttled = [i for i, r in enumerate(log) if r.status == 429]
        assert throttled and len(sb.top_level()) == 1 and len(sb.subtasks(sb.top_level()[0]["gid"])) == 2
        assert time.monotonic() - started >= 0.9  # Retry-After: 1 was waited out
        assert all(r.status < 300 or r.status == 404 and "external:" in r.path
                   for r in log if r.status != 429)
        for i in throttled:  # the same request again, after the wait
            first, again = log[i], log[i + 1]
            assert (first.method, first.path, first.body) == (again.method, again.path, again.body)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        sb.rate_limit, sb.rate_counts = 1, {}
        answers = [httpx.get(f"{sb.url}/api/1.0/users/me", headers=auth) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 429, 429]
        assert answers[1].headers["Retry-After"] == "1" and sb.rate_counts[TOKEN][1] == 3


def test_a_bad_token_is_a_connector_error_that_never_shows_the_token(asana: AsanaSandbox,
                                                                     tmp_path: Path) -> None:
    secret = "2/1200000000000009/1234567890:deadbeefcafe"
    conn = connector(asana, token=secret)
    with pytest.raises(ConnectorError) as caught:
        conn.create(ticket(), conn.render(ticket()))
    assert caught.value.status == 401 and "Not Authorized" in str(caught.value)
    assert secret not in str(caught.value)
    (check,) = conn.check()
    assert not check.ok and secret not in check.detail and "token" in check.fix
    result = reconcile(engine(tmp_path, conn), ticket(), ["asana"])
    assert result.failed and secret not in (result.outcomes[0].error or "") and not asana.tasks
    asana.log.clear()  # the 401s above were the point


def test_check_verifies_workspace_project_and_section(asana: AsanaSandbox) -> None:
    good = connector(asana, section_gid=asana.section_gid).check()
    assert [c.ok for c in good] == [True] * 4 and good[0].detail == "authenticated as syncd bot"
    bad = connector(asana, section_gid="1299999999999999", workspace_gid="1299999999999998").check()
    assert [c.ok for c in bad] == [True, False, False, False] and "404" in bad[3].detail
    asana.log.clear()  # the 404s were the point


def test_settings_are_strict() -> None:
    base = {"token": "t0ken", "workspace_gid": "1", "project_gid": "2"}
    assert AsanaSettings(**base).base_url == "https://app.asana.com/api/1.0"
    for bad in ({"project_gid": "GROWTH"}, {"colour": "red"}, {"base_url": "app.asana.com"},
                {"priority_field": {"field_gid": "3", "options": {"high": "4"}}},
                {"custom_fields": {"3": "x"}, "priority_field": {
                    "field_gid": "3", "options": {p: "4" for p in ("critical", "high", "medium", "low")}}}):
        with pytest.raises(ValidationError):
            AsanaSettings(**{**base, **bad})


