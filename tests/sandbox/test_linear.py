"""The Linear sandbox: every document is validated against Linear's schema, and Linear's input rules hold."""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from connectors.linear.graphql import OPERATIONS
from syncd.sandbox.linear.sandbox import LinearSandbox

KEY = "lin_api_sandbox"


@pytest.fixture
def linear() -> Iterator[LinearSandbox]:
    with LinearSandbox(teams={"GROW": "Growth", "OPS": "Operations"}) as sb:
        yield sb


def post(sb: LinearSandbox, query: str, variables: dict[str, Any] | None = None,
         key: str = KEY) -> httpx.Response:
    return httpx.post(f"{sb.url}/graphql", json={"query": query, "variables": variables or {}},
                      headers={"Authorization": key}, timeout=5)


def test_a_misspelt_document_is_refused_like_linear(linear: LinearSandbox) -> None:
    answer = post(linear, "query Viewer { viewer { id nmae } } # deliberately misspelt")
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "nmae" in error["message"]
    assert linear.documents[-1]["valid"] is False and not linear.log.writes()


def test_linears_input_rules_are_enforced(linear: LinearSandbox) -> None:
    create = next(op.document for op in OPERATIONS if op.name == "IssueCreate")
    grow, ops = linear.team_id("GROW"), linear.team_id("OPS")
    parent = post(linear, create, {"input": {"teamId": grow, "title": "Parent"}}).json()
    parent_id = parent["data"]["issueCreate"]["issue"]["id"]
    other_state = linear.states("OPS")[0]["id"]
    for bad, words in [({"teamId": grow, "title": "x", "priority": 7}, "priority"),
                       ({"teamId": ops, "title": "x", "parentId": parent_id}, "parent's team"),
                       ({"teamId": grow, "title": "x", "stateId": other_state}, "workflow state"),
                       ({"teamId": grow, "title": "x", "id": parent_id}, "already exists"),
                       ({"teamId": grow, "title": " "}, "title")]:
        body = post(linear, create, {"input": bad}).json()
        assert body["data"] is None and words in body["errors"][0]["message"], (bad, body)
    typed = post(linear, create, {"input": {"teamId": grow, "title": "x", "priority": "high"}})
    assert typed.status_code == 400 and typed.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert [i["title"] for i in linear.issues.values()] == ["Parent"]


def test_an_oauth_token_goes_as_bearer_and_a_personal_key_bare(linear: LinearSandbox) -> None:
    linear.api_keys.add("lin_oauth_token")
    viewer = "query Viewer { viewer { id } }"
    assert post(linear, viewer, key="Bearer lin_oauth_token").status_code == 200
    refused = post(linear, viewer, key=f"Bearer {KEY}")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_ERROR"
