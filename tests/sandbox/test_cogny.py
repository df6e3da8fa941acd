"""The Cogny sandbox behaves as the Cogny API reference documents, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

from syncd.sandbox._common.tickets import CATEGORIES, PRIORITIES, generate_tickets, make_ticket
from syncd.sandbox.cogny.sandbox import CognySandbox
from tests.support.process import wait_for
from tests.support.receiver import Receiver

KEY = "sk_test_sandbox"
AUTH = {"Authorization": f"Bearer {KEY}"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PRIORITY_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def forty() -> list[dict]:
    return generate_tickets(40, seed=7, warehouses=("wh_123abc", "wh_456def"))


@pytest.fixture
def sb() -> Iterator[CognySandbox]:
    """A fresh sandbox for tests that change tickets."""
    with CognySandbox(forty()) as sandbox:
        yield sandbox


@pytest.fixture
def api(sb: CognySandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.url, headers=AUTH, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def ro_sb() -> Iterator[CognySandbox]:
    """One shared sandbox for tests that only read (a server start and stop costs ~0.2 s).

    Preset: tickets 0 in_progress, 1 and 4 completed, 2 dismissed, 3 with notes and an assignee.
    """
    with CognySandbox(forty()) as sandbox:
        order = list(sandbox.tickets)
        for index, status in ((0, "in_progress"), (1, "completed"), (2, "dismissed"), (4, "completed")):
            sandbox.edit_ticket(order[index], status=status)
        sandbox.edit_ticket(order[3], notes="Synced to JIRA: GROWTH-1", assignee="user_456")
        yield sandbox


@pytest.fixture
def ro(ro_sb: CognySandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ro_sb.url, headers=AUTH, timeout=5) as client:
        yield client


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["data"]]


def page_through(api: httpx.Client, params: dict, between_pages=lambda n: None,
                 max_pages: int = 20) -> list[str]:
    """Follow next_cursor to the end (bounded), calling `between_pages(n)` after page n."""
    seen: list[str] = []
    cursor = None
    for n in range(1, max_pages + 1):
        body = api.get("/v1/tickets", params={**params, **({"cursor": cursor} if cursor else {})}).json()
        seen += [t["id"] for t in body["data"]]
        if not body["pagination"]["has_more"]:
            assert body["pagination"]["next_cursor"] is None
            return seen
        cursor = body["pagination"]["next_cursor"]
        between_pages(n)
    raise AssertionError("paging did not end")


# -- auth and envelope -------------------------------------------------------------------------


def test_bearer_and_legacy_key_both_authenticate(ro_sb: CognySandbox) -> None:
    for headers in (AUTH, {"X-API-Key": KEY}):
        response = httpx.get(f"{ro_sb.url}/v1/tickets", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert body["success"] is True and isinstance(body["data"], list)
        assert STAMP.match(body["meta"]["timestamp"]) and body["meta"]["request_id"].startswith("req_")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk_live_wrong"}, {"X-API-Key": "nope"},
                                     {"Authorization": f"Basic {KEY}"}, {"Authorization": KEY}])
def test_missing_or_wrong_key_is_401(ro_sb: CognySandbox, headers: dict) -> None:
    for path in ("/v1/tickets", "/v1/tickets/stats", "/v1/webhooks"):
        response = httpx.get(f"{ro_sb.url}{path}", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False and body["error"]["code"] == "UNAUTHORIZED"
        assert set(body["error"]) == {"code", "message", "details"} and "request_id" in body["meta"]


def test_request_id_is_echoed(ro: httpx.Client) -> None:
    response = ro.get("/v1/tickets/tkt_missing", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404 and response.json()["meta"]["request_id"] == "abc-123"
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_unknown_route_and_export_answer_in_envelope(ro: httpx.Client) -> None:
    assert ro.get("/v1/nothing").json()["error"]["code"] == "NOT_FOUND"
    export = ro.post("/v1/tickets/export", json={"format": "csv"})
    assert export.status_code == 501 and export.json()["error"]["code"] == "NOT_IMPLEMENTED"


# -- listing: filters, sorting, paging ------------------------------------------------------------


def test_filters_accept_one_value_a_comma_list_or_repeats(ro_sb: CognySandbox, ro: httpx.Client) -> None:
    order = list(ro_sb.tickets)

    def expect(**wanted: set[str]) -> set[str]:
        return {t["id"] for t in ro_sb.tickets.values() if all(t[k] in v for k, v in wanted.items())}

    params = {"status": "in_progress,completed", "limit": 100}
    assert set(ids(ro.get("/v1/tickets", params=params))) == {order[0], order[1], order[4]}
    repeated = ro.get("/v1/tickets", params=[("status", "open"), ("status", "dismissed"), ("limit", "100")])
    assert set(ids(repeated)) == expect(status={"open", "dismissed"}) and order[2] in ids(repeated)
    both = ro.get("/v1/tickets", params={"priority": "critical,high", "category": "retention", "limit": 100})
    assert set(ids(both)) == expect(priority={"critical", "high"}, category={"retention"})
    one_wh = ro.get("/v1/tickets", params={"warehouse_id": "wh_456def", "limit": 100})
    assert set(ids(one_wh)) == expect(warehouse_id={"wh_456def"}) and 0 < len(ids(one_wh)) < len(order)
    body = ro.get("/v1/tickets", params={"status": "open", "limit": 5}).json()
    assert body["pagination"]["total_count"] == len(expect(status={"open"})) == len(order) - 4


@pytest.mark.parametrize("params", [{"status": "closed"}, {"priority": "high,urgent"}, {"category": "growth"},
                                    {"status": "open,,OPEN"}])
def test_unknown_enum_value_is_400_naming_the_parameter(ro: httpx.Client, params: dict) -> None:
    response = ro.get("/v1/tickets", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and error["details"]["parameter"] == next(iter(params))


def test_time_filters(sb: CognySandbox, api: httpx.Client) -> None:
    ordered = sorted(sb.tickets.values(), key=lambda t: t["created_at"])
    pivot = ordered[10]["created_at"]
    after = set(ids(api.get("/v1/tickets", params={"created_after": pivot, "limit": 100})))
    before = set(ids(api.get("/v1/tickets", params={"created_before": pivot, "limit": 100})))
    assert after == {t["id"] for t in ordered if t["created_at"] >= pivot}
    assert before == {t["id"] for t in ordered if t["created_at"] < pivot}
    assert after.isdisjoint(before) and len(after | before) == len(ordered)
    since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sb.edit_ticket(ordered[3]["id"], notes="touched")
    assert ids(api.get("/v1/tickets", params={"updated_after": since})) == [ordered[3]["id"]]
    assert api.get("/v1/tickets", params={"created_after": "2025-01-01"}).status_code == 200
    bad = api.get("/v1/tickets", params={"updated_after": "last tuesday"})
    assert bad.status_code == 400 and bad.json()["error"]["details"]["parameter"] == "updated_after"


@pytest.mark.parametrize("sort",
                         ["created_at", "-created_at", "updated_at", "priority", "-priority", "-status"])
def test_sort_directions(ro: httpx.Client, sort: str) -> None:
    data = ro.get("/v1/tickets", params={"sort": sort, "limit": 100}).json()["data"]
    field = sort.lstrip("-")
    rank = {"priority": PRIORITY_ORDER,
            "status": {"open": 0, "in_progress": 1, "completed": 2, "dismissed": 3}}
    keys = [(rank[field][t[field]] if field in rank else t[field], t["id"]) for t in data]
    assert len(keys) == 40 and keys == sorted(keys, reverse=sort.startswith("-"))
    if sort == "-priority":
        assert data[0]["priority"] == "critical" and data[-1]["priority"] == "low"


def test_default_sort_is_newest_first_and_unknown_sort_is_400(ro: httpx.Client) -> None:
    data = ro.get("/v1/tickets").json()["data"]
    assert len(data) == 25  # the documented default limit
    assert [t["created_at"] for t in data] == sorted((t["created_at"] for t in data), reverse=True)
    response = ro.get("/v1/tickets", params={"sort": "-title"})
    assert response.status_code == 400 and response.json()["error"]["details"]["parameter"] == "sort"


def test_paging_through_pages_yields_every_ticket_once(ro_sb: CognySandbox, ro: httpx.Client) -> None:
    first = ro.get("/v1/tickets", params={"limit": 9, "sort": "-priority"}).json()
    assert first["pagination"]["total_count"] == 40 and first["pagination"]["has_more"] is True
    pages: list[int] = []
    seen = page_through(ro, {"limit": 9, "sort": "-priority"}, between_pages=pages.append)
    assert len(pages) == 4  # 40 tickets / 9 per page = 5 pages
    assert len(seen) == len(set(seen)) == 40 and set(seen) == set(ro_sb.tickets)


def test_paging_is_stable_while_tickets_change(sb: CognySandbox, api: httpx.Client) -> None:
    """Offset paging would skip tickets after the dismissals and repeat one after the insert."""
    params = {"status": "open", "sort": "created_at", "limit": 8}
    before = ids(api.get("/v1/tickets", params={**params, "limit": 100}))

    def meddle(page: int) -> None:
        if page == 1:  # two tickets already served leave the filtered set
            for ticket_id in before[:2]:
                assert api.post(f"/v1/tickets/{ticket_id}/dismiss",
                                json={"reason": "not_applicable"}).status_code == 200
        if page == 2:  # one sorts in front of everything served so far; another served one gets edited
            sb.add_ticket(make_ticket(created_at="2020-01-01T00:00:00Z"))
            sb.edit_ticket(before[9], notes="edited mid-paging", priority="critical")

    seen = page_through(api, params, between_pages=meddle)
    assert len(seen) == len(set(seen)) and seen == before


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"cursor": "eyJpZCI6MTIzfQ"}, {"limit": 0},
                                    {"limit": 101}, {"limit": "ten"}])
def test_bad_cursor_or_limit_is_400(ro: httpx.Client, params: dict) -> None:
    response = ro.get("/v1/tickets", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["parameter"] == next(iter(params))


def test_cursor_only_fits_the_sort_it_came_from(ro: httpx.Client) -> None:
    cursor = ro.get("/v1/tickets",
                    params={"limit": 5, "sort": "priority"}).json()["pagination"]["next_cursor"]
    assert ro.get("/v1/tickets", params={"limit": 5, "sort": "priority", "cursor": cursor}).status_code == 200
    assert ro.get("/v1/tickets",
                  params={"limit": 5, "sort": "-priority", "cursor": cursor}).status_code == 400


def test_list_omits_notes_and_assignee_but_get_has_them(ro_sb: CognySandbox, ro: httpx.Client) -> None:
    ticket_id = list(ro_sb.tickets)[3]
    listed = {t["id"]: t for t in ro.get("/v1/tickets", params={"limit": 100}).json()["data"]}
    assert len(listed) == 40 and all("notes" not in t and "assignee" not in t for t in listed.values())
    full = ro.get(f"/v1/tickets/{ticket_id}").json()["data"]
    assert full["notes"] == "Synced to JIRA: GROWTH-1" and full["assignee"] == "user_456"
    assert {k: v for k, v in full.items() if k not in ("notes", "assignee")} == listed[ticket_id]
    assert full == ro_sb.ticket(ticket_id)


# -- changes: PATCH, dismiss, bulk update ------------------------------------------------------------


def test_patch_replaces_notes_and_completes_action_items_by_title(sb: CognySandbox,
                                                                  api: httpx.Client) -> None:
    ticket = sb.add_ticket(make_ticket(notes="user text"))
    url = f"/v1/tickets/{ticket['id']}"
    first = api.patch(url, json={"notes": "user text\nSynced to JIRA: GROWTH-7"})
    assert first.status_code == 200
    assert set(first.json()["data"]) == {"id", "status", "priority", "assignee", "notes", "updated_at"}
    assert api.patch(url, json={"notes": "only this"}).json()["data"]["notes"] == "only this"
    title = ticket["action_items"][1]["title"]
    done = api.patch(url, json={"status": "in_progress", "assignee": "user_456",
                                "action_items": [{"title": title, "completed": True}]}).json()["data"]
    assert (done["status"], done["assignee"]) == ("in_progress", "user_456")
    stored = sb.ticket(ticket["id"])
    assert [i["completed"] for i in stored["action_items"]] == [False, True]
    assert stored["notes"] == "only this" and stored["updated_at"] > ticket["updated_at"]


def test_patch_without_a_real_change_keeps_updated_at(sb: CognySandbox, api: httpx.Client) -> None:
    ticket = sb.add_ticket(make_ticket(notes="same"))
    response = api.patch(f"/v1/tickets/{ticket['id']}", json={"notes": "same", "status": "open"})
    assert response.status_code == 200 and response.json()["data"]["updated_at"] == ticket["updated_at"]


@pytest.mark.parametrize("body,parameter", [
    ({"title": "new"}, "title"),
    ({"status": "done"}, "status"),
    ({"priority": "urgent"}, "priority"),
    ({"notes": 5}, "notes"),
    ({"assignee": ["user_1"]}, "assignee"),
    ({"action_items": [{"title": "Reduce form fields from 12 to 6"}]}, "action_items"),
    ({"notes": "kept?", "action_items": [{"title": "No such item", "completed": True}]}, "action_items"),
])
def test_patch_rejects_bad_fields_and_changes_nothing(sb: CognySandbox, api: httpx.Client,
                                                      body: dict, parameter: str) -> None:
    ticket = sb.add_ticket(make_ticket())
    response = api.patch(f"/v1/tickets/{ticket['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PARAMETER"
    assert response.json()["error"]["details"]["parameter"] == parameter
    assert sb.ticket(ticket["id"]) == ticket


def test_bad_json_body_is_invalid_request(sb: CognySandbox, api: httpx.Client) -> None:
    ticket_id = next(iter(sb.tickets))
    for content in (b"{not json", b"[1, 2]"):
        response = api.patch(f"/v1/tickets/{ticket_id}", content=content,
                             headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_REQUEST"
    assert api.patch("/v1/tickets/tkt_00000000", json={"notes": "x"}).status_code == 404


def test_dismiss(sb: CognySandbox, api: httpx.Client) -> None:
    ticket = sb.add_ticket(make_ticket())
    url = f"/v1/tickets/{ticket['id']}/dismiss"
    assert api.post(url, json={"reason": "too_hard"}).json()["error"]["details"]["parameter"] == "reason"
    assert api.post(url, json={"reason": "other"}).json()["error"]["details"]["parameter"] == "notes"
    data = api.post(url, json={"reason": "already_implemented", "notes": "Done in Q4 2024"}).json()["data"]
    assert data["status"] == "dismissed" and data["dismiss_reason"] == "already_implemented"
    assert data["notes"] == "Done in Q4 2024" and STAMP.match(data["dismissed_at"])
    assert api.get(f"/v1/tickets/{ticket['id']}").json()["data"]["status"] == "dismissed"
    assert ticket["id"] in ids(api.get("/v1/tickets", params={"status": "dismissed"}))
    assert api.post("/v1/tickets/tkt_00000000/dismiss",
                    json={"reason": "other", "notes": "x"}).status_code == 404


def test_bulk_update(sb: CognySandbox, api: httpx.Client) -> None:
    chosen = list(sb.tickets)[:3]
    response = api.post("/v1/tickets/bulk-update", json={
        "ticket_ids": chosen + ["tkt_00000000"],
        "updates": {"status": "in_progress", "assignee": "user_456"}})
    assert response.status_code == 200
    assert response.json()["data"] == {"updated_count": 3, "failed_count": 1, "updated_ids": chosen}
    assert {(sb.ticket(i)["status"], sb.ticket(i)["assignee"]) for i in chosen} == {
        ("in_progress", "user_456")}
    bad = api.post("/v1/tickets/bulk-update", json={"ticket_ids": chosen, "updates": {"status": "nope"}})
    assert bad.status_code == 400 and sb.ticket(chosen[0])["status"] == "in_progress"
    assert api.post("/v1/tickets/bulk-update",
                    json={"ticket_ids": [], "updates": {"notes": ""}}).status_code == 400


def test_stats(ro_sb: CognySandbox, ro: httpx.Client) -> None:
    data = ro.get("/v1/tickets/stats").json()["data"]
    assert data["total_tickets"] == 40
    assert data["by_status"] == {"open": 36, "in_progress": 1, "completed": 2, "dismissed": 1}
    for field, values in (("priority", PRIORITIES), ("category", CATEGORIES)):
        assert data[f"by_{field}"] == {v: sum(t[field] == v for t in ro_sb.tickets.values()) for v in values}
    assert data["completion_rate"] == 0.05 and data["average_time_to_complete_days"] > 0
    assert set(data["estimated_total_impact"]) == {"conversion_rate_increase", "revenue_increase_percentage",
                                                   "users_retained"}
    one = ro.get("/v1/tickets/stats", params={"warehouse_id": "wh_456def"}).json()["data"]
    assert one["total_tickets"] == sum(t["warehouse_id"] == "wh_456def" for t in ro_sb.tickets.values()) < 40
    assert ro.get("/v1/tickets/stats", params={"created_after": "soon"}).status_code == 400


# -- rate limits ----------------------------------------------------------------------------------------


def test_rate_limit_headers_429_and_reset() -> None:
    keys = {KEY: "standard", "sk_test_other": "enterprise"}
    with CognySandbox(generate_tickets(3), api_keys=keys, rate_limit=3, rate_window=0.5) as sb:
        with httpx.Client(base_url=sb.url, headers=AUTH, timeout=5) as api:
            before = int(time.time())
            answers = [api.get("/v1/tickets") for _ in range(4)]
            after = time.time()
            assert [r.status_code for r in answers] == [200, 200, 200, 429]
            assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["2", "1", "0", "0"]
            assert all(r.headers["X-RateLimit-Limit"] == "3" for r in answers)
            reset = int(answers[0].headers["X-RateLimit-Reset"])
            assert before <= reset <= after + 1.5  # the end of a 0.5 s window that began among the calls
            limited = answers[-1]
            assert limited.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
            assert 1 <= int(limited.headers["Retry-After"]) <= 2
            other = httpx.get(f"{sb.url}/v1/tickets", headers={"X-API-Key": "sk_test_other"})
            assert other.status_code == 200 and other.headers["X-RateLimit-Remaining"] == "2"
            wait_for(lambda: api.get("/v1/tickets/stats").status_code != 429, what="the window resetting")
            assert api.get("/v1/tickets").status_code == 200


def test_batch_limit_counts_only_batch_calls_and_unlimited_sends_no_headers() -> None:
    tickets = generate_tickets(3)
    with CognySandbox(tickets, batch_rate_limit=1, rate_window=30) as sb:
        with httpx.Client(base_url=sb.url, headers=AUTH, timeout=5) as api:
            body = {"ticket_ids": [tickets[0]["id"]], "updates": {"priority": "low"}}
            first, second = (api.post("/v1/tickets/bulk-update", json=body) for _ in range(2))
            assert (first.status_code, second.status_code) == (200, 429)
            assert first.headers["X-RateLimit-Limit"] == "1" and int(second.headers["Retry-After"]) >= 1
            plain = api.get("/v1/tickets")
            assert plain.status_code == 200 and "X-RateLimit-Limit" not in plain.headers


# -- webhooks ------------------------------------------------------------------------------------------


def test_webhook_subscription_and_signed_delivery(sb: CognySandbox, api: httpx.Client) -> None:
    with Receiver() as receiver:
        created = api.post("/v1/webhooks", json={"url": f"{receiver.url}/hook", "secret": "whsec_test",
                                                 "events": ["ticket.created", "ticket.status_changed"]})
        assert created.status_code == 201 and created.json()["data"]["id"].startswith("wh_sub_")
        listed = api.get("/v1/webhooks").json()["data"]
        assert [s["id"] for s in listed] == [created.json()["data"]["id"]] and "secret" not in listed[0]
        ticket = sb.add_ticket(make_ticket())
        assert api.patch(f"/v1/tickets/{ticket['id']}", json={"status": "in_progress"}).status_code == 200
        deliveries = sb.wait_for_deliveries(2, timeout=5)
        assert [d["event"] for d in deliveries] == ["ticket.created", "ticket.status_changed"]
        assert all(d["status"] == 200 and d["attempts"] == 1 for d in deliveries)
    assert len(receiver.received) == 2  # ticket.updated was not subscribed to
    for hit in receiver.received:
        expected = hmac.new(b"whsec_test", hit.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(hit.headers["x-cogny-signature"], expected)
        assert hit.headers["content-type"] == "application/json"
    event = receiver.received[1].json()
    assert event["id"].startswith("evt_") and event["type"] == "ticket.status_changed"
    assert STAMP.match(event["created_at"])
    assert event["data"]["ticket_id"] == ticket["id"] and event["data"]["warehouse_id"] == "wh_123abc"
    assert (event["data"]["previous_status"], event["data"]["new_status"]) == ("open", "in_progress")
    assert event["data"]["ticket"] == {"title": ticket["title"], "priority": "high",
                                       "category": ticket["category"]}


@pytest.mark.parametrize("body", [{"url": "ftp://x", "events": ["ticket.created"], "secret": "s"},
                                  {"url": "http://127.0.0.1/h", "events": ["ticket.exploded"], "secret": "s"},
                                  {"url": "http://127.0.0.1/h", "events": ["ticket.created"]}])
def test_bad_webhook_subscription_is_400(ro: httpx.Client, body: dict) -> None:
    assert ro.post("/v1/webhooks", json=body).status_code == 400


def test_helper_edits_emit_status_events(sb: CognySandbox) -> None:
    with Receiver() as receiver:
        sb.subscribe(f"{receiver.url}/hook", "s3cret")
        ticket_id = next(iter(sb.tickets))
        copy_ = sb.ticket(ticket_id)
        copy_["title"] = "mutated copy"
        sb.edit_ticket(ticket_id, status="completed", changed_by="user_9")
        deliveries = sb.wait_for_deliveries(3, timeout=5)
    assert sb.ticket(ticket_id)["title"] != "mutated copy"
    assert [d["event"] for d in deliveries] == ["ticket.updated", "ticket.status_changed", "ticket.completed"]
    assert deliveries[2]["payload"]["data"]["new_status"] == "completed"
    assert deliveries[2]["payload"]["data"]["changed_by"] == "user_9"


def test_failed_deliveries_are_retried_three_times(sb: CognySandbox) -> None:
    with Receiver(statuses=[500, 503]) as receiver:
        sb.subscribe(f"{receiver.url}/hook", "s", events=["ticket.created"])
        sb.subscribe("http://127.0.0.1:9/closed", "s", events=["ticket.created"])  # port 9: nobody listens
        sb.add_ticket(make_ticket())
        by_url = {d["url"]: d for d in sb.wait_for_deliveries(2, timeout=8)}
    mine = by_url[f"{receiver.url}/hook"]
    assert mine["status"] == 200 and mine["attempts"] == 3
    assert by_url["http://127.0.0.1:9/closed"] | {"payload": None} == {
        "event": "ticket.created", "event_id": by_url["http://127.0.0.1:9/closed"]["event_id"],
        "url": "http://127.0.0.1:9/closed", "status": None, "attempts": 4, "payload": None}
    assert len(receiver.received) == 3


def test_slow_receiver_never_blocks_the_api_and_stop_ends_the_thread() -> None:
    gate = threading.Event()
    sb = CognySandbox(generate_tickets(2)).start()
    try:
        with Receiver(gate=gate) as receiver:
            sb.subscribe(f"{receiver.url}/hook", "s")
            ticket_id = next(iter(sb.tickets))
            with httpx.Client(base_url=sb.url, headers=AUTH, timeout=2) as api:
                for n in range(3):  # the receiver is stuck on the first delivery the whole time
                    assert api.patch(f"/v1/tickets/{ticket_id}", json={"notes": f"n{n}"}).status_code == 200
            assert sb.deliveries == []
            gate.set()
            assert len(sb.wait_for_deliveries(3, timeout=5)) == 3
    finally:
        gate.set()
        thread = sb._deliverer._thread
        sb.stop()
    assert thread is not None and not thread.is_alive()


def test_request_log_sees_writes(sb: CognySandbox, api: httpx.Client) -> None:
    api.get("/v1/tickets")
    api.patch(f"/v1/tickets/{next(iter(sb.tickets))}", json={"notes": "x"})
    # Recorder logs a request just after its response went out, so give it a moment (bounded).
    wait_for(lambda: len(sb.log) >= 2, interval=0.01, what="both requests in the log")
    assert [(r.method, r.status) for r in sb.log.writes()] == [("PATCH", 200)]


# -- generator ----------------------------------------------------------------------------------------


def test_generator_is_deterministic_and_covers_every_category_and_priority() -> None:
    assert generate_tickets(30, seed=5) == generate_tickets(30, seed=5)
    assert generate_tickets(30, seed=5) != generate_tickets(30, seed=6)
    eight = generate_tickets(8, seed=11)
    assert {t["category"] for t in eight} == set(CATEGORIES)
    assert {t["priority"] for t in eight} == set(PRIORITIES)


def test_generated_tickets_look_like_the_api() -> None:
    start = datetime(2025, 3, 1, tzinfo=timezone.utc)
    tickets = generate_tickets(120, seed=2, warehouses=("wh_a", "wh_b"), app_url="https://x.test",
                               start=start)
    assert len({t["id"] for t in tickets}) == 120 and len({t["title"] for t in tickets}) > 20
    for t in tickets:
        assert re.fullmatch(r"tkt_[0-9a-f]{8}", t["id"]) and t["url"] == f"https://x.test/tickets/{t['id']}"
        assert t["warehouse_id"] in ("wh_a", "wh_b") and t["status"] == "open" and t["assignee"] is None
        assert isinstance(t["notes"], str) and t["effort"] in ("small", "medium", "large")
        assert STAMP.match(t["created_at"]) and t["created_at"] >= "2025-03-01"
        assert t["updated_at"] >= t["created_at"]
        impact = t["estimated_impact"]
        gain = (impact["projected_value"] - impact["current_value"]) / impact["current_value"]
        expected = round(gain * 100, 1)
        assert impact["increase_percentage"] == expected > 0 and 0 < impact["confidence"] < 1
        titles = [a["title"] for a in t["action_items"]]
        assert len(titles) == len(set(titles)) <= 5 and not any(a["completed"] for a in t["action_items"])
        assert t["supporting_data"]["sample_size"] > 0 and t["related_report_id"].startswith("rpt_")
    assert [t["created_at"] for t in tickets] == sorted(t["created_at"] for t in tickets)
    assert {len(t["action_items"]) for t in tickets} >= {0, 1, 2, 3, 4}


def test_make_ticket_gives_unique_ids_and_applies_overrides() -> None:
    a, b = make_ticket(), make_ticket(priority="low", notes="n")
    assert a["id"] != b["id"] and a["url"].endswith(a["id"])
    assert (b["priority"], b["notes"], a["title"]) == ("low", "n", "Optimize Mobile Checkout Flow")
    assert make_ticket(id="tkt_0000abcd")["url"] == "https://app.cogny.com/tickets/tkt_0000abcd"
