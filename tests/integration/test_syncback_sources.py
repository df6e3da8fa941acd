"""Sync-back sources against the sandboxes over real HTTP: what each target says about progress.

`read_states` after people change things (done, won't do, canceled, reopened, a sub-task done,
deleted), how many calls it costs (from the sandboxes' request logs), and `parse_webhook` on
deliveries the sandboxes really sent — accepted when signed right, refused when the signature is
bad, missing, or (Linear) the delivery is a stale replay. Reasons never carry a secret.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from graphql import parse, validate
from jira import JIRA

from connectors.asana import AsanaConnector, AsanaSettings
from connectors.asana.syncback import AsanaSyncBack
from connectors.jira import JiraConnector, JiraSettings
from connectors.jira.syncback import JiraSyncBack
from connectors.linear.syncback import OPERATIONS, LinearSyncBack
from syncd.http import RetryPolicy
from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sandbox.linear.schema import load_schema
from syncd.sdk.connector import ExternalRef
from syncd.sdk.syncback import SyncBackSource
from tests.support.receiver import Receiver

FAST = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, timeout=5)
AUTH = ("bot@example.com", "jira-token")
SECRET = "hook-secret-value-1234"


def refs(*ids: str) -> list[ExternalRef]:
    return [ExternalRef(i) for i in ids]


def no_secret_in(reason: str, *secrets: str) -> bool:
    return all(s not in reason for s in secrets)


# -- JIRA -------------------------------------------------------------------------------------------

def jira_source(sb: JiraSandbox, **kw: Any) -> JiraSyncBack:
    conn = JiraConnector("jira", JiraSettings(url=sb.url, email=AUTH[0], api_token=AUTH[1], project="GROWTH"),
                         policy=FAST)
    # connect now (serverInfo, then GET field once), so logs show only reads
    assert conn.client._jira()._fields_cache
    return JiraSyncBack(conn, **kw)


def jira_issues(sb: JiraSandbox, count: int, subtasks_of_first: int = 0) -> tuple[JIRA, list[Any], list[Any]]:
    client = JIRA(server=sb.url, basic_auth=AUTH, max_retries=0)
    issues = []
    for start in range(0, count, 50):
        made = client.create_issues([{"project": {"key": "GROWTH"}, "issuetype": {"name": "Task"},
                                      "summary": f"T{i}"} for i in range(start, min(count, start + 50))])
        issues += [m["issue"] for m in made]
    subs = [client.create_issue(fields={"project": {"key": "GROWTH"}, "issuetype": {"name": "Sub-task"},
                                        "parent": {"key": issues[0].key}, "summary": f"S{i}"})
            for i in range(subtasks_of_first)]
    return client, issues, subs


def searches(sb: JiraSandbox) -> list[Any]:
    return [r for r in sb.log.all() if "/search" in r.path]


@pytest.fixture(params=["Cloud", "Server"])
def jira_sb(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(deployment=request.param) as sb:
        yield sb


def test_jira_states_from_one_search(jira_sb: JiraSandbox) -> None:
    _, (a, b, c), (s1, s2) = jira_issues(jira_sb, 3, subtasks_of_first=2)
    jira_sb.set_status(a.key, "In Progress")
    jira_sb.set_status(s1.key, "Done")
    jira_sb.set_status(b.key, "Done")
    jira_sb.set_status(c.key, "Done", resolution="Won't Do")
    source = jira_source(jira_sb)
    assert isinstance(source, SyncBackSource)
    jira_sb.log.clear()
    states = source.read_states(refs(a.id, b.id, c.id))
    assert len(searches(jira_sb)) == 1 and len(jira_sb.log) == 1
    assert states[a.id].category == "in_progress"
    assert dict(states[a.id].items) == {s1.id: "done", s2.id: "todo"}
    assert states[b.id].category == "done" and states[b.id].detail == "Done (resolution Done)"
    assert states[c.id].category == "canceled" and "Won't Do" in states[c.id].detail
    assert states[a.id].updated_at is not None and states[a.id].updated_at.tzinfo is not None
    jira_sb.set_status(c.key, "To Do")  # reopened
    assert jira_source(jira_sb).read_states(refs(c.id))[c.id].category == "todo"
    relaxed = jira_source(jira_sb, canceled_resolutions=["Duplicate"])
    jira_sb.set_status(c.key, "Done", resolution="Won't Do")
    assert relaxed.read_states(refs(c.id))[c.id].category == "done"


def test_jira_batches_100_ids_per_search_and_skips_deleted_issues(jira_sb: JiraSandbox) -> None:
    client, issues, _ = jira_issues(jira_sb, 150)
    gone = issues[7]
    jira_sb.delete_issue(gone.key)
    jira_sb.log.clear()
    states = jira_source(jira_sb).read_states(refs(*(i.id for i in issues)))
    assert set(states) == {i.id for i in issues} - {gone.id}  # a deleted issue is absent
    # Server/DC searches with validateQuery=warn (2 searches); Cloud names the missing id (one retry).
    assert len(searches(jira_sb)) == (3 if jira_sb.cloud else 2)
    assert all(r.status in (200, 400) for r in jira_sb.log.all())


def test_jira_parse_webhook_verifies_and_names_issue_and_parent(receiver: Receiver) -> None:
    with JiraSandbox() as sb:
        sb.add_webhook(f"{receiver.url}/webhooks/jira", secret=SECRET)
        _, (parent,), (sub,) = jira_issues(sb, 1, subtasks_of_first=1)
        sb.set_status(sub.key, "Done")
        assert sb.hooks.flush(10)
        source = jira_source(sb)
    update = receiver.deliveries()[-1]
    good = source.parse_webhook(update.body, update.headers, ["old-secret", SECRET], 300)
    assert good.ok and good.record_ids == (sub.id, parent.id)
    assert good.delivery_id == update.headers["x-atlassian-webhook-identifier"]
    signature = update.headers["x-hub-signature"]
    for body, headers, secrets in [
        (update.body, update.headers, ["wrong"]),
        (update.body + b" ", update.headers, [SECRET]),
        (update.body, {k: v for k, v in update.headers.items() if k != "x-hub-signature"}, [SECRET]),
        (update.body, {**update.headers, "x-hub-signature": signature.split("=")[1]}, [SECRET]),
        (update.body, update.headers, []),  # no secret configured: JIRA deliveries are refused
    ]:
        refused = source.parse_webhook(body, headers, secrets, 300)
        assert not refused.ok and refused.reason and not refused.stale
        assert no_secret_in(refused.reason, SECRET, signature.split("=")[1])


# -- Linear -----------------------------------------------------------------------------------------


@pytest.fixture
def linear_sb() -> Iterator[Any]:
    from syncd.sandbox.linear.sandbox import LinearSandbox

    with LinearSandbox() as sb:
        yield sb
    assert all(d["valid"] for d in sb.documents), [d for d in sb.documents if not d["valid"]]


def linear_source(sb: Any) -> LinearSyncBack:
    from connectors.linear import LinearConnector, LinearSettings

    settings = LinearSettings(api_key="lin_api_sandbox", team_key="GROW", api_url=f"{sb.url}/graphql")
    return LinearSyncBack(LinearConnector("linear", settings, policy=FAST))


def linear_issue(sb: Any, title: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    with sb.lock:
        return sb.insert_issue({"teamId": sb.team_id("GROW"), "title": title,
                                "parentId": parent["id"] if parent else None})


def test_linear_operations_validate_against_the_schema() -> None:
    schema = load_schema()
    for op in OPERATIONS:
        assert not validate(schema, parse(op.document)), op.name


def test_linear_states_by_type_with_children(linear_sb: Any) -> None:
    started, done, canceled, gone = (linear_issue(linear_sb, t)
                                     for t in ("started", "done", "canceled", "gone"))
    kid1, kid2 = linear_issue(linear_sb, "k1", started), linear_issue(linear_sb, "k2", started)
    linear_sb.set_state(started["identifier"], "In Progress")
    linear_sb.set_state(kid1["identifier"], "Done")
    linear_sb.set_state(done["identifier"], "Done")
    linear_sb.set_state(canceled["identifier"], "Canceled")
    linear_sb.remove_issue(gone["identifier"])
    states = linear_source(linear_sb).read_states(refs(started["id"], done["id"], canceled["id"], gone["id"],
                                                       "9d6e1ba4-0000-4000-8000-000000000000"))
    assert {k: s.category for k, s in states.items()} == {
        started["id"]: "in_progress", done["id"]: "done", canceled["id"]: "canceled", gone["id"]: "deleted"}
    assert dict(states[started["id"]].items) == {kid1["id"]: "done", kid2["id"]: "todo"}
    kid_stamp = datetime.fromisoformat(linear_sb.issue_by_identifier(kid1["identifier"])["updatedAt"]
                                       .replace("Z", "+00:00"))
    assert states[started["id"]].updated_at == kid_stamp  # the latest of the issue and its children
    linear_sb.set_state(done["identifier"], "Todo")  # reopened
    assert linear_source(linear_sb).read_states(refs(done["id"]))[done["id"]].category == "todo"


def test_linear_reads_50_issues_per_query_and_pages_big_families(linear_sb: Any) -> None:
    issues = [linear_issue(linear_sb, f"i{n}") for n in range(120)]
    for n in range(55):
        linear_issue(linear_sb, f"kid{n}", issues[0])
    linear_sb.documents.clear()
    states = linear_source(linear_sb).read_states(refs(*(i["id"] for i in issues)))
    assert len(states) == 120 and len(states[issues[0]["id"]].items) == 55
    assert [d["operation"] for d in linear_sb.documents] == [
        "SyncBackIssues", "SyncBackChildren", "SyncBackIssues", "SyncBackIssues"]  # 50 + 50 + 20, 50 + 5 kids


def test_linear_parse_webhook_verifies_and_refuses_replays(linear_sb: Any, receiver: Receiver) -> None:
    linear_sb.add_webhook(f"{receiver.url}/webhooks/linear", SECRET)
    parent = linear_issue(linear_sb, "P")
    kid = linear_issue(linear_sb, "K", parent)
    linear_sb.set_state(kid["identifier"], "Done")
    assert linear_sb.hooks.flush(10)
    update = receiver.deliveries()[-1]
    source = linear_source(linear_sb)
    good = source.parse_webhook(update.body, update.headers, [SECRET], 60)
    assert good.ok and good.record_ids == (kid["id"], parent["id"])
    assert good.delivery_id == update.headers["linear-delivery"]
    stale = source.parse_webhook(update.body, update.headers, [SECRET], 60, now=time.time() + 120)
    assert not stale.ok and stale.stale and "replay" in stale.reason
    signature = update.headers["linear-signature"]
    for headers, secrets in [(update.headers, ["nope"]), ({"linear-delivery": "x"}, [SECRET]),
                             (update.headers, [])]:
        refused = source.parse_webhook(update.body, headers, secrets, 60)
        assert not refused.ok and not refused.stale and no_secret_in(refused.reason, SECRET, signature)


# -- Asana ------------------------------------------------------------------------------------------


@pytest.fixture
def asana_sb() -> Iterator[AsanaSandbox]:
    with AsanaSandbox() as sb:
        yield sb


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def asana_source(sb: AsanaSandbox, **kw: Any) -> AsanaSyncBack:
    settings = AsanaSettings(token="asana-sandbox", workspace_gid=sb.workspace_gid,
                             project_gid=sb.project_gid, base_url=f"{sb.url}/api/1.0")
    return AsanaSyncBack(AsanaConnector("asana", settings, policy=FAST), **kw)


def asana_family(sb: AsanaSandbox, name: str, kids: int = 2) -> tuple[str, list[str]]:
    gid = sb.add_task(name)
    with sb.lock:
        subs = [sb.create_task({"name": f"{name}.{n}"}, parent=gid)["gid"] for n in range(kids)]
    return gid, subs


def calls(sb: AsanaSandbox) -> list[str]:
    """`METHOD path` of each request, task gids folded to {gid}."""
    known = (sb.project_gid, sb.workspace_gid)

    def folded(part: str) -> str:
        return "{gid}" if part.isdigit() and len(part) == 16 and part not in known else part

    return [f"{r.method} " + "/".join(folded(p) for p in r.path.split("/")[3:]) for r in sb.log.all()]


def test_asana_read_now_reads_each_task_and_its_subtasks(asana_sb: AsanaSandbox) -> None:
    a, (a1, a2) = asana_family(asana_sb, "A")
    b, _ = asana_family(asana_sb, "B")
    asana_sb.complete(a1)
    asana_sb.complete(b)
    asana_sb.delete(b)
    asana_sb.log.clear()
    states = asana_source(asana_sb).read_states(refs(a, b), None)
    assert (states[a].category, dict(states[a].items)) == ("todo", {a1: "done", a2: "todo"})
    assert states[b].category == "deleted"
    assert calls(asana_sb) == ["GET tasks/{gid}", "GET tasks/{gid}/subtasks", "GET tasks/{gid}"]
    modified = asana_sb.task(a1)["modified_at"].replace("Z", "+00:00")
    assert states[a].updated_at == datetime.fromisoformat(modified)


def test_asana_poll_reads_only_what_changed_including_subtasks(asana_sb: AsanaSandbox) -> None:
    families = [asana_family(asana_sb, name) for name in ("A", "B", "C")]
    (a, (a1, _)), (b, _), (c, _) = families
    clock = Clock()
    source = asana_source(asana_sb, clock=clock)
    t0 = datetime.now(timezone.utc)
    first = source.read_states(refs(a, b, c), t0)  # first poll of a process: every task in full
    assert set(first) == {a, b, c}
    asana_sb.complete(a1)  # the parent's modified_at stays; only the events stream sees this
    asana_sb.log.clear()
    t1 = t0 + timedelta(minutes=10)
    second = source.read_states(refs(a, b), t1)  # the engine's first batch of this poll ...
    third = source.read_states(refs(c), t1)      # ... and its second
    assert set(second) == {a} and third == {} and second[a].items[a1] == "done"
    assert calls(asana_sb) == ["GET tasks", "GET events", "GET tasks/{gid}", "GET tasks/{gid}/subtasks"]
    asana_sb.delete(b)
    asana_sb.log.clear()
    states = source.read_states(refs(a, b, c), t1 + timedelta(minutes=5))
    assert {k: s.category for k, s in states.items()} == {b: "deleted"}
    clock.now += 3600  # due a full read (events are at-most-once)
    assert set(source.read_states(refs(a, c), t1 + timedelta(minutes=10))) == {a, c}


def test_asana_parse_webhook_handshake_signature_and_heartbeat(asana_sb: AsanaSandbox,
                                                               receiver: Receiver) -> None:
    import httpx

    made = httpx.post(f"{asana_sb.url}/api/1.0/webhooks", headers={"Authorization": "Bearer asana-sandbox"},
                      json={"data": {"resource": asana_sb.project_gid,
                                     "target": f"{receiver.url}/webhooks/asana"}})
    secret = made.json()["X-Hook-Secret"]
    a, (a1,) = asana_family(asana_sb, "A", kids=1)
    asana_sb.complete(a1)
    asana_sb.heartbeat()
    assert asana_sb.hooks.flush(10)
    source = asana_source(asana_sb)
    shake = receiver.received[0]
    assert source.parse_webhook(shake.body, shake.headers, [], 300).handshake_secret == secret
    added, kid_added, changed, beat = receiver.deliveries()
    assert source.parse_webhook(added.body, added.headers, [secret], 300).record_ids == (a,)
    assert source.parse_webhook(kid_added.body, kid_added.headers, [secret], 300).record_ids == (a, a1)
    assert source.parse_webhook(changed.body, changed.headers, [secret], 300).record_ids == (a, a1)
    heartbeat = source.parse_webhook(beat.body, beat.headers, [secret], 300)
    assert heartbeat.ok and heartbeat.record_ids == ()
    for headers, secrets in [(changed.headers, ["other"]), ({}, [secret]), (changed.headers, [])]:
        refused = source.parse_webhook(changed.body, headers, secrets, 300)
        assert not refused.ok and refused.handshake_secret is None and no_secret_in(refused.reason, secret)
