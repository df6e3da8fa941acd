"""The shared HTTP policy: what is retried, how long it waits, and pacing from rate-limit headers."""

from __future__ import annotations

import httpx
import pytest

from syncd.http import Pacer, PolicyTransport, RetryPolicy, retry_after_seconds


class Script:
    """An inner transport answering from a list of (status, headers) and recording each request."""

    def __init__(self, answers: list[tuple[int, dict[str, str]] | Exception]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else (200, {})
        if isinstance(answer, Exception):
            raise answer
        status, headers = answer
        return httpx.Response(status, headers=headers, json={"ok": status < 400})


def client(script: Script, policy: RetryPolicy | None = None,
           pacer: Pacer | None = None) -> tuple[httpx.Client, list[float]]:
    sleeps: list[float] = []
    transport = PolicyTransport("test", policy or RetryPolicy(max_attempts=4, backoff=0.5),
                                inner=httpx.MockTransport(script), sleep=sleeps.append,
                                pacer=pacer or Pacer("test", sleep=sleeps.append))
    return httpx.Client(base_url="http://127.0.0.1:1", transport=transport), sleeps


def test_429_waits_exactly_retry_after_then_succeeds() -> None:
    script = Script([(429, {"Retry-After": "7"}), (429, {"Retry-After": "2"}), (200, {})])
    c, sleeps = client(script)
    assert c.get("/x").status_code == 200
    assert sleeps == [7.0, 2.0]
    assert len(script.requests) == 3


def test_5xx_retried_with_bounded_attempts_and_capped_jittered_backoff() -> None:
    script = Script([(503, {})] * 10)
    c, sleeps = client(script, RetryPolicy(max_attempts=4, backoff=0.5, max_backoff=0.6))
    assert c.get("/x").status_code == 503
    assert len(script.requests) == 4 and len(sleeps) == 3
    assert all(0 <= s <= 0.6 for s in sleeps)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_4xx_never_retried(status: int) -> None:
    script = Script([(status, {})])
    c, sleeps = client(script)
    assert c.get("/x").status_code == status
    assert len(script.requests) == 1 and sleeps == []


def test_post_not_retried_on_500_because_it_may_have_been_applied() -> None:
    script = Script([(500, {}), (201, {})])
    c, _ = client(script)
    assert c.post("/create", json={}).status_code == 500
    assert len(script.requests) == 1


def test_post_retried_on_429_and_when_marked_idempotent() -> None:
    script = Script([(429, {"Retry-After": "1"}), (201, {})])
    c, _ = client(script)
    assert c.post("/create", json={}).status_code == 201
    script2 = Script([(502, {}), (200, {})])
    c2, _ = client(script2)
    assert c2.post("/graphql", json={}, extensions={"idempotent": True}).status_code == 200
    assert len(script2.requests) == 2


def test_connect_error_retried_even_for_post_read_timeout_only_for_idempotent() -> None:
    script = Script([httpx.ConnectError("refused"), (201, {})])
    c, _ = client(script)
    assert c.post("/create").status_code == 201
    script2 = Script([httpx.ReadTimeout("slow")])
    c2, _ = client(script2)
    with pytest.raises(httpx.ReadTimeout):
        c2.post("/create")
    assert len(script2.requests) == 1
    script3 = Script([httpx.ReadTimeout("slow"), (200, {})])
    c3, _ = client(script3)
    assert c3.get("/x").status_code == 200


def test_every_request_carries_a_request_id_kept_across_retries() -> None:
    script = Script([(503, {}), (200, {})])
    c, _ = client(script)
    c.get("/x")
    ids = [r.headers.get("X-Request-ID") for r in script.requests]
    assert ids[0] and ids[0] == ids[1]


def test_retry_after_http_date_and_garbage() -> None:
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "3.5"}) == 3.5
    assert retry_after_seconds({"Retry-After": "soon"}) is None


def test_pacer_waits_for_reset_when_budget_is_spent_instead_of_hitting_429() -> None:
    now = [1_700_000_000.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    pacer = Pacer("test", sleep=sleep, clock=lambda: now[0])
    pacer.observe({"X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "1700000030"})
    pacer.before_request()
    pacer.before_request()
    assert sleeps == []
    pacer.before_request()  # third request: budget spent, wait for the window
    assert len(sleeps) == 1 and 30 <= sleeps[0] <= 30.1
    pacer.before_request()  # new window, unknown budget: go
    assert len(sleeps) == 1


def test_pacer_ignores_missing_or_bad_headers() -> None:
    pacer = Pacer("test", sleep=lambda s: pytest.fail("must not sleep"))
    pacer.observe({"X-RateLimit-Remaining": "x", "X-RateLimit-Reset": "y"})
    pacer.observe({})
    for _ in range(5):
        pacer.before_request()


def test_pacer_reads_linear_style_headers_with_millisecond_reset() -> None:
    now = [1_700_000_000.0]
    sleeps: list[float] = []
    pacer = Pacer("linear", sleep=lambda s: (sleeps.append(s), now.__setitem__(0, now[0] + s)),
                  clock=lambda: now[0])
    pacer.observe({"X-RateLimit-Requests-Remaining": "0", "X-RateLimit-Requests-Reset": "1700000010000"})
    pacer.before_request()
    assert len(sleeps) == 1 and 10 <= sleeps[0] <= 10.1
