"""Write-back merging and routing: small pure functions many guarantees rest on."""

from __future__ import annotations

from syncd.config import Route, RouteMatch
from syncd.engine import notes, routing

JIRA = "Synced to JIRA: GROWTH-12 https://acme.atlassian.net/browse/GROWTH-12"
SLACK = "Synced to Slack: https://acme.slack.com/archives/C1/p1"


def test_merge_keeps_user_text_and_adds_each_line_once() -> None:
    merged = notes.merge("Started implementation.\nTarget: Friday", [JIRA])
    assert merged == f"Started implementation.\nTarget: Friday\n\n{JIRA}"
    assert notes.merge(merged, [JIRA]) == merged  # idempotent


def test_merge_second_connector_joins_our_block() -> None:
    first = notes.merge("hello", [JIRA])
    assert notes.merge(first, [JIRA, SLACK]) == f"hello\n\n{JIRA}\n{SLACK}"


def test_merge_removes_duplicates_and_stale_lines_only() -> None:
    old = "Synced to JIRA: GROWTH-3 https://acme.atlassian.net/browse/GROWTH-3"
    merged = notes.merge(f"mine\n{old}\n{JIRA}\n{JIRA}", [JIRA], stale=[old])
    assert merged == f"mine\n{JIRA}"


def test_merge_on_empty_notes() -> None:
    assert notes.merge(None, [JIRA]) == JIRA
    assert notes.merge("", []) == ""


def route(match: dict, connectors: list[str]) -> Route:
    return Route(match=RouteMatch(**match), connectors=connectors)


def test_routes_union_and_missing_keys_match_all() -> None:
    routes = [route({"priority": ["critical", "high"]}, ["jira", "slack"]), route({}, ["linear"])]
    names = ["jira", "slack", "linear", "asana"]
    assert routing.route({"priority": "high"}, routes, names) == ["jira", "slack", "linear"]
    assert routing.route({"priority": "low"}, routes, names) == ["linear"]


def test_every_key_of_a_match_must_hold() -> None:
    routes = [route({"priority": ["high"], "category": ["retention"]}, ["jira"])]
    assert routing.route({"priority": "high", "category": "retention"}, routes, ["jira"]) == ["jira"]
    assert routing.route({"priority": "high", "category": "acquisition"}, routes, ["jira"]) == []


def test_no_routes_means_every_connector() -> None:
    assert routing.route({"priority": "low"}, [], ["a", "b"]) == ["a", "b"]
