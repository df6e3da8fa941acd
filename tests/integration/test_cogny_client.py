"""The Cogny client against the Cogny sandbox: paging, typed errors, retries, pacing, request ids."""

from __future__ import annotations

from typing import Iterator

import pytest

from syncd import errors
from syncd.cogny import CognyClient
from syncd.http import RetryPolicy
from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox

KEY = "sk_test_sandbox"
FAST = RetryPolicy(max_attempts=4, backoff=0.01, max_backoff=0.05, timeout=5)


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox(generate_tickets(35, seed=12)) as sb:
        yield sb


def client(sb: CognySandbox, key: str = KEY) -> CognyClient:
    return CognyClient(f"{sb.url}/v1", key, policy=FAST)


def test_listing_follows_cursors_across_pages_without_gaps(cogny: CognySandbox) -> None:
    with client(cogny) as c:
        pages = list(c.pages(limit=10, sort="created_at"))
        ids = [t["id"] for p in pages for t in p.items]
    assert [len(p.items) for p in pages] == [10, 10, 10, 5]
    assert sorted(ids) == sorted(cogny.tickets) and len(set(ids)) == 35
    assert pages[0].total_count == 35 and not pages[-1].has_more


def test_filters_are_sent_as_the_api_expects(cogny: CognySandbox) -> None:
    with client(cogny) as c:
        high = [t for page in c.pages(priority=["critical", "high"], limit=100) for t in page.items]
    assert high and all(t["priority"] in ("critical", "high") for t in high)
    assert len(high) == sum(1 for t in cogny.tickets.values() if t["priority"] in ("critical", "high"))


def test_errors_are_typed_and_never_retried_for_4xx(cogny: CognySandbox) -> None:
    with client(cogny, key="sk_test_wrong") as c:
        with pytest.raises(errors.Unauthorized) as info:
            c.get_ticket("tkt_00000000")
    assert info.value.status == 401 and info.value.request_id
    assert len(cogny.log) == 1
    cogny.log.clear()
    with client(cogny) as c:
        with pytest.raises(errors.NotFound):
            c.get_ticket("tkt_nothere")
        with pytest.raises(errors.InvalidParameter) as bad:
            c.update_ticket(next(iter(cogny.tickets)), status="finished")
    assert bad.value.code and len(cogny.log) == 2


def test_5xx_and_429_are_retried_then_succeed(cogny: CognySandbox) -> None:
    cogny.faults.fail_next = 2
    with client(cogny) as c:
        assert c.get_ticket(next(iter(cogny.tickets)))["id"]
    statuses = [r.status for r in cogny.log.all()]
    assert statuses == [500, 500, 200]
    cogny.log.clear()
    cogny.faults.fail_next, cogny.faults.fail_status = 1, 429
    with client(cogny) as c:
        c.list_page(limit=1)
    assert [r.status for r in cogny.log.all()] == [429, 200]


def test_5xx_retries_are_bounded(cogny: CognySandbox) -> None:
    cogny.faults.fail_next = 10
    with client(cogny) as c, pytest.raises(errors.CognyError) as info:
        c.get_ticket(next(iter(cogny.tickets)))
    assert info.value.status == 500 and len(cogny.log) == FAST.max_attempts


def test_pacing_from_headers_avoids_429(cogny: CognySandbox) -> None:
    with CognySandbox(generate_tickets(30, seed=1), rate_limit=5, rate_window=1.0) as sb, client(sb) as c:
        ids = [t["id"] for page in c.pages(limit=2) for t in page.items]  # 15 pages, 5 per second allowed
    assert len(ids) == 30
    assert all(r.status != 429 for r in sb.log.all())


def test_every_request_carries_a_request_id_and_bearer_auth(cogny: CognySandbox) -> None:
    with client(cogny) as c:
        tid = next(iter(cogny.tickets))
        c.update_ticket(tid, notes="hello")
        c.dismiss(tid, "not_applicable", notes="n/a")
    for r in cogny.log.all():
        assert r.headers["x-request-id"].startswith("syncd-")
        assert r.headers["authorization"] == f"Bearer {KEY}"
    assert cogny.ticket(tid)["status"] == "dismissed"
