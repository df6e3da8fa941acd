"""Outbound webhooks of the sandboxes, received over real HTTP on 127.0.0.1.

Each test pins one vendor behaviour sync-back depends on: JIRA's signed issue events with a
changelog, Linear's signed Issue events with `webhookTimestamp` and `updatedFrom`, Asana's
X-Hook-Secret handshake, signed event batches, heartbeats and events stream — and that a change
made through the API fires exactly like one made by a person (so "no ping-pong" is testable).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, Iterator

import httpx
import pytest
from jira import JIRA

from syncd.sandbox._common.hooks import HookDispatcher
from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.receiver import Receiver

AUTH = ("bot@example.com", "jira-token")
ASANA_TOKEN = {"Authorization": "Bearer asana-sandbox"}


def hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- the dispatcher ------------------------------------------------------------------------------

def test_dispatcher_retries_a_failing_target_a_bounded_number_of_times_in_order() -> None:
    rec = Receiver(statuses=[500, 503, 500, 500, 500]).start()
    try:
        hooks = HookDispatcher(attempts=3, backoff=0.01)
        hook = hooks.add(f"{rec.url}/in", lambda h, p,
                         d: (json.dumps(p).encode(), {"X-Attempt": str(d.attempts)}))
        first, second = hooks.emit("e", {"n": 1}), hooks.emit("e", {"n": 2})
        assert hooks.flush(10)
        (one,), (two,) = first, second
        assert one.statuses == [500, 503, 500] and not one.ok  # gave up after 3 attempts
        assert two.statuses == [500, 500, 200] and two.ok
        assert [r.json()["n"] for r in rec.received] == [1, 1, 1, 2, 2, 2]  # one at a time, in order
        assert [r.headers["x-attempt"] for r in rec.received[:3]] == ["0", "1", "2"]
        assert hooks.deliveries(hook.id) == [one, two]
        hooks.stop()
        assert hooks.emit("e", {"n": 3}) and hooks.flush(1)  # after stop: dropped, never posted
        assert len(rec.received) == 6
    finally:
        rec.stop()


def test_dispatcher_survives_an_unreachable_target() -> None:
    hooks = HookDispatcher(attempts=2, backoff=0.01, timeout=1)
    hooks.add("http://127.0.0.1:9/nowhere", lambda h, p, d: (b"{}", {}))
    (delivery,) = hooks.emit("e", {})
    assert hooks.flush(10) and delivery.statuses == [0, 0] and not delivery.ok
    hooks.stop()


# -- JIRA -------------------------------------------------------------------------------------------

@pytest.fixture
def jira_sb() -> Iterator[JiraSandbox]:
    with JiraSandbox() as sb:
        yield sb


def test_jira_resolutions_are_listed_and_rendered(jira_sb: JiraSandbox) -> None:
    client = JIRA(server=jira_sb.url, basic_auth=AUTH, max_retries=0)
    assert [r.name for r in client.resolutions()] == ["Done", "Won't Do", "Duplicate", "Cannot Reproduce"]
    issue = client.create_issue(fields={"project": {"key": "GROWTH"}, "issuetype": {"name": "Task"},
                                        "summary": "A"})
    jira_sb.set_status(issue.key, "Done", resolution="Won't Do")
    fields = client.issue(issue.key, fields="status,resolution").fields
    assert fields.status.name == "Done"
    assert (fields.resolution.name, fields.resolution.id) == ("Won't Do", "10001")
    jira_sb.set_status(issue.key, "To Do")
    assert client.issue(issue.key, fields="resolution").fields.resolution is None
    with pytest.raises(ValueError):
        jira_sb.set_status(issue.key, "In Progress", resolution="Won't Do")


def test_jira_webhooks_carry_jiras_shape_signed_for_api_and_people_alike(jira_sb: JiraSandbox,
                                                                       receiver: Receiver) -> None:
    jira_sb.add_webhook(f"{receiver.url}/webhooks/jira", secret="jira-hook-secret")
    client = JIRA(server=jira_sb.url, basic_auth=AUTH, max_retries=0)
    parent = client.create_issue(fields={"project": {"key": "GROWTH"}, "issuetype": {"name": "Task"},
                                         "summary": "P"})
    sub = client.create_issue(fields={"project": {"key": "GROWTH"}, "issuetype": {"name": "Sub-task"},
                                      "parent": {"key": parent.key}, "summary": "S"})
    client.transition_issue(sub.key, "31")  # syncd-style: through the API
    jira_sb.set_status(parent.key, "Done", resolution="Won't Do")  # a person in the UI
    jira_sb.delete_issue(parent.key)
    assert jira_sb.hooks.flush(10)
    got = receiver.deliveries()
    events = [(r.json()["webhookEvent"], r.json()["issue"]["key"]) for r in got]
    assert events == [("jira:issue_created", parent.key), ("jira:issue_created", sub.key),
                      ("jira:issue_updated", sub.key), ("jira:issue_updated", parent.key),
                      ("jira:issue_deleted", sub.key), ("jira:issue_deleted", parent.key)]
    for r in got:
        assert r.headers["x-hub-signature"] == "sha256=" + hex_hmac("jira-hook-secret", r.body)
        assert r.headers["x-atlassian-webhook-identifier"]
        assert r.headers["x-atlassian-webhook-flow"] == "Primary"
        assert isinstance(r.json()["timestamp"], int) and r.json()["user"]["accountId"]
    assert len({r.headers["x-atlassian-webhook-identifier"] for r in got}) == len(got)
    moved = got[2].json()
    assert moved["issue_event_type_name"] == "issue_resolved" and moved["user"]["emailAddress"] == AUTH[0]
    assert moved["issue"]["fields"]["parent"]["id"] == parent.id and moved["issue"]["id"] == sub.id
    assert moved["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    assert [(i["field"], i["fromString"], i["toString"]) for i in moved["changelog"]["items"]] == [
        ("status", "To Do", "Done"), ("resolution", None, "Done")]
    closed = got[3].json()
    assert closed["issue"]["fields"]["resolution"]["name"] == "Won't Do"
    assert closed["user"]["emailAddress"] != AUTH[0]  # the helper acts as a person, not as syncd
    assert {"status", "resolution", "issuetype", "updated", "subtasks"} <= set(closed["issue"]["fields"])


def test_jira_webhooks_without_secret_are_unsigned_and_events_filter(jira_sb: JiraSandbox,
                                                                   receiver: Receiver) -> None:
    jira_sb.add_webhook(f"{receiver.url}/plain", events=["jira:issue_updated"])
    client = JIRA(server=jira_sb.url, basic_auth=AUTH, max_retries=0)
    issue = client.create_issue(fields={"project": {"key": "GROWTH"}, "issuetype": {"name": "Task"},
                                        "summary": "A"})
    issue.update(summary="B")
    client.add_comment(issue.key, "a comment")
    assert jira_sb.hooks.flush(10)
    got = [r.json() for r in receiver.deliveries()]
    assert [(g["webhookEvent"], g["issue_event_type_name"]) for g in got] == [
        ("jira:issue_updated", "issue_updated"), ("jira:issue_updated", "issue_commented")]
    assert got[0]["changelog"]["items"][0] | {} == {
        "field": "summary", "fieldtype": "jira", "fieldId": "summary", "from": None, "fromString": "A",
        "to": None, "toString": "B"}
    assert got[1]["comment"]["body"] == "a comment"
    assert all("x-hub-signature" not in r.headers for r in receiver.deliveries())
    with pytest.raises(ValueError):
        jira_sb.add_webhook(receiver.url, events=["jira:issue_exploded"])


# -- Linear -----------------------------------------------------------------------------------------


def test_linear_webhooks_carry_linears_shape_and_timestamp(receiver: Receiver) -> None:
    from syncd.sandbox.linear.sandbox import LinearSandbox

    with LinearSandbox(teams={"GROW": "Growth", "OPS": "Operations"}) as sb:
        started = time.time()  # every delivery's timestamp falls between this and its arrival
        hook_id = sb.add_webhook(f"{receiver.url}/webhooks/linear", "lin-secret")
        sb.add_webhook(f"{receiver.url}/ops-only", "other", team_key="OPS")
        with sb.lock:
            parent = sb.insert_issue({"teamId": sb.team_id("GROW"), "title": "Parent"})
            child = sb.insert_issue({"teamId": sb.team_id("GROW"), "title": "Child",
                                     "parentId": parent["id"]})
        stamp = sb.issue_by_identifier(child["identifier"])["updatedAt"]
        sb.set_state(child["identifier"], "Done")
        sb.set_state(child["identifier"], "Done")  # no change: no event
        sb.remove_issue(parent["identifier"])
        assert sb.hooks.flush(10)
    got = receiver.deliveries()
    assert {r.path for r in got} == {"/webhooks/linear"}  # the OPS-only webhook heard nothing
    bodies = [r.json() for r in got]
    assert [(b["action"], b["data"]["title"]) for b in bodies] == [
        ("create", "Parent"), ("create", "Child"), ("update", "Child"), ("remove", "Parent")]
    for r, b in zip(got, bodies):
        assert r.headers["linear-signature"] == hex_hmac("lin-secret", r.body)
        assert r.headers["linear-event"] == "Issue" and r.headers["linear-delivery"]
        assert b["type"] == "Issue" and b["webhookId"] == hook_id
        assert started - 0.001 <= b["webhookTimestamp"] / 1000 <= time.time()
    update = bodies[2]
    assert update["data"]["state"]["type"] == "completed" and update["data"]["parentId"] == parent["id"]
    assert set(update["updatedFrom"]) >= {"stateId", "updatedAt", "completedAt"}
    assert update["updatedFrom"]["updatedAt"] == stamp < update["data"]["updatedAt"]
    assert update["actor"]["name"] == "Lin Person" and bodies[0]["actor"]["name"] == "Sandbox Bot"
    assert bodies[3]["data"]["trashed"] is True and bodies[3]["data"]["archivedAt"]


# -- Asana ------------------------------------------------------------------------------------------


def establish(sb: AsanaSandbox, target: str, resource: str | None = None, **extra: Any) -> httpx.Response:
    body = {"data": {"resource": resource or sb.project_gid, "target": target, **extra}}
    return httpx.post(f"{sb.url}/api/1.0/webhooks", json=body, headers=ASANA_TOKEN, timeout=10)


def test_asana_webhook_exists_only_when_the_target_echoes_the_handshake() -> None:
    silent = Receiver(echo=False).start()
    try:
        with AsanaSandbox() as sb:
            refused = establish(sb, f"{silent.url}/hook")
            assert refused.status_code == 400 and "handshake" in refused.json()["errors"][0]["message"]
            assert sb.webhooks() == [] and len(silent.received) == 1
            assert len(silent.received[0].headers["x-hook-secret"]) == 64
            unknown = establish(sb, f"{silent.url}/hook", resource="1")
            assert unknown.status_code == 400 and len(silent.received) == 1  # no handshake for a bad resource
            missing = httpx.get(f"{sb.url}/api/1.0/webhooks", headers=ASANA_TOKEN)
            assert missing.status_code == 400
    finally:
        silent.stop()


def test_asana_webhook_lifecycle_events_and_signatures(receiver: Receiver) -> None:
    with AsanaSandbox() as sb:
        made = establish(sb, f"{receiver.url}/webhooks/asana")
        assert made.status_code == 201
        secret, hook = made.json()["X-Hook-Secret"], made.json()["data"]
        assert receiver.received[0].headers["x-hook-secret"] == secret and hook["active"] is True
        assert hook["resource"] == {"gid": sb.project_gid, "resource_type": "project",
                                    "name": "Growth tickets"}
        parent = sb.add_task("Parent")
        with sb.lock:
            child = sb.create_task({"name": "Child"}, parent=parent)["gid"]
        before = sb.task(parent)["modified_at"]
        time.sleep(0.005)  # a millisecond clock: make a (wrong) bump visible
        sb.complete(child)
        assert sb.task(parent)["modified_at"] == before  # a subtask's change leaves the parent alone
        sb.heartbeat()
        sb.delete(parent)
        assert sb.hooks.flush(10)
        listed = httpx.get(f"{sb.url}/api/1.0/webhooks", params={"workspace": sb.workspace_gid},
                           headers=ASANA_TOKEN)
        assert [w["gid"] for w in listed.json()["data"]] == [hook["gid"]]
        assert httpx.delete(f"{sb.url}/api/1.0/webhooks/{hook['gid']}",
                            headers=ASANA_TOKEN).json() == {"data": {}}
        assert httpx.get(f"{sb.url}/api/1.0/tasks/{parent}", headers=ASANA_TOKEN).status_code == 404
        sb.add_task("After the webhook is gone")
        assert sb.hooks.flush(10)
    got = receiver.deliveries()
    for r in got:
        assert r.headers["x-hook-signature"] == hex_hmac(secret, r.body)
    batches = [[(e["action"], e["resource"]["gid"], (e.get("parent") or {}).get("gid"),
                 (e.get("change") or {}).get("field")) for e in r.json()["events"]] for r in got]
    assert batches == [[("added", parent, sb.project_gid, None)], [("added", child, parent, None)],
                       [("changed", child, None, "completed")], [],  # the heartbeat
                       [("deleted", child, None, None)], [("deleted", parent, None, None)]]
    event = got[2].json()["events"][0]
    assert event["resource"] == {"gid": child, "resource_type": "task", "resource_subtype": "default_task"}
    assert event["user"]["resource_type"] == "user" and event["created_at"]


def test_asana_webhook_filters_and_task_resources(receiver: Receiver) -> None:
    with AsanaSandbox() as sb:
        task = sb.add_task("Watched")
        other = sb.add_task("Not watched")
        assert establish(sb, f"{receiver.url}/task", resource=task).status_code == 201
        completed = {"resource_type": "task", "action": "changed", "fields": ["completed"]}
        filtered = establish(sb, f"{receiver.url}/filtered", filters=[completed])
        assert filtered.status_code == 201
        sb.complete(other)
        with sb.lock:
            sb.apply(sb.tasks[task], {"name": "Renamed"})
        assert sb.hooks.flush(10)
    seen = {(r.path, e["resource"]["gid"], e["change"]["field"])
            for r in receiver.deliveries() for e in r.json()["events"]}
    assert seen == {("/filtered", other, "completed"), ("/task", task, "name")}


def test_asana_events_stream_starts_with_412_then_pages_changes() -> None:
    with AsanaSandbox() as sb:
        url, params = f"{sb.url}/api/1.0/events", {"resource": sb.project_gid}
        first = httpx.get(url, params=params, headers=ASANA_TOKEN)
        assert first.status_code == 412 and first.json()["sync"]
        task = sb.add_task("T")
        with sb.lock:
            sub = sb.create_task({"name": "S"}, parent=task)["gid"]
        sb.complete(sub)
        page = httpx.get(url, params={**params, "sync": first.json()["sync"]}, headers=ASANA_TOKEN).json()
        assert [(e["action"], e["resource"]["gid"]) for e in page["data"]] == [
            ("added", task), ("added", sub), ("changed", sub)]
        assert page["has_more"] is False
        again = httpx.get(url, params={**params, "sync": page["sync"]}, headers=ASANA_TOKEN).json()
        assert again["data"] == []
        stale = httpx.get(url, params={**params, "sync": "bogus"}, headers=ASANA_TOKEN)
        assert stale.status_code == 412 and "Sync token" in stale.json()["errors"][0]["message"]


def test_asana_modified_since_compares_instants_not_strings() -> None:
    with AsanaSandbox() as sb:
        gid = sb.add_task("T")
        stamp = sb.task(gid)["modified_at"]  # ...Z
        url = f"{sb.url}/api/1.0/tasks"
        params = {"project": sb.project_gid, "modified_since": stamp.replace("Z", "+00:00")}
        assert [t["gid"] for t in httpx.get(url, params=params, headers=ASANA_TOKEN).json()["data"]] == [gid]
        later = {**params, "modified_since": "2999-01-01T00:00:00+02:00"}
        assert httpx.get(url, params=later, headers=ASANA_TOKEN).json()["data"] == []
        bad = httpx.get(url, params={**params, "modified_since": "yesterday"}, headers=ASANA_TOKEN)
        assert bad.status_code == 400
