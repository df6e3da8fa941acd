"""The Asana sandbox refuses what Asana refuses and pages as Asana does, over plain HTTP."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from syncd.sandbox.asana.sandbox import AsanaSandbox

TOKEN = "asana-sandbox"


@pytest.fixture
def asana() -> Iterator[AsanaSandbox]:
    with AsanaSandbox() as sb:
        yield sb


def test_what_asana_refuses_is_refused(asana: AsanaSandbox) -> None:
    url, auth = f"{asana.url}/api/1.0", {"Authorization": f"Bearer {TOKEN}"}
    base = {"name": "x", "projects": [asana.project_gid]}
    cases = [({"data": {**base, "colour": "red"}}, "colour: Unknown field"),
             ({"data": {**base, "name": 5}}, "name: Expected string, got integer"),
             ({"data": {**base, "memberships": [{"project": asana.project_gid}]}},
              "memberships: Cannot write"),
             ({"data": {**base, "external": {"gid": "a", "bogus": 1}}}, "external.bogus: Unknown field"),
             (base, "data: Missing input")]
    for body, message in cases:
        answer = httpx.post(f"{url}/tasks", json=body, headers=auth)
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0]["message"].startswith(message), answer.text
    answer = httpx.put(f"{url}/tasks/{asana.add_task('t')}", json={"data": {"projects": ["1"]}}, headers=auth)
    assert answer.status_code == 400 and answer.json()["errors"][0]["message"] == "projects: Unknown field"
    assert httpx.get(f"{url}/tasks/1299999999999999", headers=auth).status_code == 404
    for headers in ({"Authorization": "Bearer nope"}, {}):
        answer = httpx.get(f"{url}/users/me", headers=headers)
        assert answer.status_code == 401 and answer.json()["errors"][0]["message"] == "Not Authorized"
    assert len(asana.tasks) == 1


def test_listings_page_with_limit_and_offset_tokens(asana: AsanaSandbox) -> None:
    url, auth = f"{asana.url}/api/1.0/tasks", {"Authorization": f"Bearer {TOKEN}"}
    made = [asana.add_task(f"t{i}") for i in range(5)]
    first = httpx.get(url, params={"project": asana.project_gid, "limit": 2, "opt_fields": "name"},
                      headers=auth).json()
    assert [d["gid"] for d in first["data"]] == made[:2] and set(first["data"][0]) == {"gid", "name"}
    second = httpx.get(url, params={"project": asana.project_gid, "limit": 2, "opt_fields": "name",
                                    "offset": first["next_page"]["offset"]}, headers=auth).json()
    assert [d["gid"] for d in second["data"]] == made[2:4]
    assert second["next_page"]["path"].startswith("/tasks?")
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": 2, "offset": "bogus"}):
        assert httpx.get(url, params={"project": asana.project_gid, **bad}, headers=auth).status_code == 400
    assert "next_page" not in httpx.get(url, params={"project": asana.project_gid}, headers=auth).json()
