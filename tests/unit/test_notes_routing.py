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


# -- the notes line (README: `Synced to JIRA: GROWTH-12 https://…`) ---------------------------------------

def test_line_for_names_the_target_then_the_key_and_url_that_exist() -> None:
    url = "https://acme.atlassian.net/browse/GROWTH-12"
    assert notes.line_for("JIRA", "GROWTH-12", url) == f"Synced to JIRA: GROWTH-12 {url}"
    assert notes.line_for("Slack", None, "https://acme.slack.com/archives/C1/p1") == SLACK
    assert notes.line_for("Notebook", "tkt_42", None) == "Synced to Notebook: tkt_42"
    assert notes.line_for("Asana", "", "https://app.asana.com/0/1/2") == "Synced to Asana: https://app.asana.com/0/1/2"


# -- merge: the edges ----------------------------------------------------------------------------------------

def test_merge_writes_a_line_wanted_twice_once() -> None:
    assert notes.merge("", [JIRA, JIRA]) == JIRA
    assert notes.merge("mine", [JIRA, SLACK, JIRA]) == f"mine\n\n{JIRA}\n{SLACK}"


def test_merge_accepts_any_iterable_of_wanted_lines() -> None:
    assert notes.merge("mine", (line for line in [JIRA])) == f"mine\n\n{JIRA}"
    assert notes.merge(f"mine\n\n{JIRA}", (line for line in [JIRA])) == f"mine\n\n{JIRA}"


def test_a_stale_line_that_is_also_wanted_stays() -> None:
    assert notes.merge(f"mine\n\n{JIRA}", [JIRA], stale=[JIRA]) == f"mine\n\n{JIRA}"


def test_a_second_copy_of_our_line_goes_and_the_users_text_after_it_stays() -> None:
    assert notes.merge(f"{JIRA}\n{JIRA}\nafter", [JIRA]) == f"{JIRA}\nafter"
    old = "Synced to JIRA: GROWTH-3 https://acme.atlassian.net/browse/GROWTH-3"
    assert notes.merge(f"{old}\nafter\n{old}\nlast", [JIRA], stale=[old]) == f"after\nlast\n\n{JIRA}"


def test_trailing_blank_lines_become_the_one_blank_line_before_our_block() -> None:
    assert notes.merge("mine\n\n\n", [JIRA]) == f"mine\n\n{JIRA}"
    assert notes.merge("mine\n  \n", [JIRA]) == f"mine\n\n{JIRA}"
    assert notes.merge("\n\n", [JIRA]) == JIRA
    assert notes.merge("  first\nmine\n\n", [JIRA]) == f"  first\nmine\n\n{JIRA}"


def test_nothing_missing_leaves_the_users_blank_lines_alone() -> None:
    assert notes.merge(f"mine\n\n{JIRA}\n\n", [JIRA]) == f"mine\n\n{JIRA}\n"
    assert notes.merge("mine\n\n", []) == "mine\n"


def test_a_new_line_joins_our_block_without_a_blank_line() -> None:
    assert notes.merge(f"mine\n\n{SLACK}", [SLACK, JIRA]) == f"mine\n\n{SLACK}\n{JIRA}"


# -- routing: every match key, objects and dicts, order, explain ----------------------------------------

TICKET = {"priority": "high", "category": "retention", "status": "open", "warehouse_id": "wh_1"}


def test_each_match_key_is_checked_on_its_own() -> None:
    for key, allowed, refused in (("priority", "high", "low"), ("category", "retention", "acquisition"),
                                  ("status", "open", "completed"), ("warehouse_id", "wh_1", "wh_2")):
        routes = [route({key: [allowed]}, ["jira"])]
        assert routing.route(TICKET, routes, ["jira"]) == ["jira"], key
        assert routing.route({**TICKET, key: refused}, routes, ["jira"]) == [], key
        assert routing.matches(RouteMatch(**{key: [allowed]}), TICKET) is True
        assert routing.matches(RouteMatch(**{key: [refused]}), TICKET) is False


def test_an_empty_match_matches_everything_and_an_empty_list_nothing() -> None:
    assert routing.matches(RouteMatch(), {}) is True
    assert routing.matches(RouteMatch(priority=[]), TICKET) is False


def test_a_ticket_object_routes_like_its_dict() -> None:
    from types import SimpleNamespace

    routes = [route({"priority": ["high"], "warehouse_id": ["wh_1"]}, ["jira"])]
    assert routing.route(SimpleNamespace(**TICKET), routes, ["jira"]) == ["jira"]
    assert routing.route(SimpleNamespace(priority="high"), routes, ["jira"]) == []  # no warehouse: no match


def test_connectors_come_in_config_order_once_each() -> None:
    routes = [route({}, ["asana", "jira"]), route({"priority": ["high"]}, ["jira", "slack"])]
    assert routing.route(TICKET, routes, ["jira", "slack", "linear", "asana"]) == ["jira", "slack", "asana"]
    assert routing.route(TICKET, routes, ["linear"]) == []  # a route naming no configured connector


def test_explain_lists_every_route_with_whether_it_matched() -> None:
    routes = [route({"priority": ["low"]}, ["jira"]), route({}, ["slack", "linear"])]
    assert routing.explain(TICKET, routes) == [(0, False, ["jira"]), (1, True, ["slack", "linear"])]
    assert routing.explain(TICKET, []) == []


def test_routes_may_come_as_any_iterable() -> None:
    assert routing.route(TICKET, iter([]), ["a", "b"]) == ["a", "b"]  # none at all: every connector
    assert routing.route(TICKET, (r for r in [route({}, ["b"])]), ["a", "b"]) == ["b"]
