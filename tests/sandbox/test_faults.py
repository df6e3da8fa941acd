"""The sandboxes' fault knobs (`sb.faults`), which the chaos tests rely on, do what they say."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from syncd.sandbox._common.base import Faults
from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox


def test_fault_knobs_are_seeded_and_do_what_they_say() -> None:
    def fates(seed: int) -> list[str | None]:
        f = Faults(error_rate=0.2, throttle_rate=0.1, slow_rate=0.05, drop_rate=0.05, seed=seed)
        return [f.pick() for _ in range(400)]

    assert fates(1) == fates(1) != fates(2)  # deterministic per seed
    counts = Counter(fates(1))
    assert 50 <= counts["error"] <= 110 and 20 <= counts["throttle"] <= 65
    assert counts["slow"] and counts["drop"]

    [ticket] = generate_tickets(1, seed=1)
    auth = {"Authorization": "Bearer sk_test_sandbox"}
    with CognySandbox([ticket]) as cogny, httpx.Client(base_url=cogny.url, timeout=5, headers=auth) as client:
        path = f"/v1/tickets/{ticket['id']}"
        cogny.faults.set(fail_next=2, fail_status=503)
        assert [client.get(path).status_code for _ in range(3)] == [503, 503, 200]
        cogny.faults.set(throttle_rate=1.0, retry_after=7)
        throttled = client.get(path)
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "7"
        cogny.faults.clear().set(drop_next=1)
        with pytest.raises(httpx.RemoteProtocolError):  # closed without a byte of an answer
            client.patch(path, json={"notes": "never applied"})
        assert cogny.ticket(ticket["id"])["notes"] != "never applied"
        cogny.faults.set(drop_next=1, drop_after_apply=True)
        with pytest.raises(httpx.RemoteProtocolError):
            client.patch(path, json={"notes": "applied, answer lost"})
        assert cogny.ticket(ticket["id"])["notes"] == "applied, answer lost"
        cogny.faults.set(slow_rate=1.0, slow_seconds=0.6)
        with pytest.raises(httpx.ReadTimeout):
            client.get(path, timeout=0.2)
        cogny.faults.clear()
        assert client.get(path).status_code == 200
        assert dict(cogny.faults.injected) == {"fail": 2, "throttle": 1, "drop": 2, "slow": 1}
        assert [r.status for r in cogny.log.all() if r.method == "PATCH"] == [0, 0]  # logged as unanswered
