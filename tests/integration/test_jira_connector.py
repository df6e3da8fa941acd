"""The JIRA connector against the JIRA sandbox: field names, components from `category_map`, and
sub-tasks found again by their rendered summary (tests/e2e/test_jira.py drives it through the CLI)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import connectors.jira as jira
from syncd.errors import ConnectorError
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import JIRA_TOKEN, JIRA_USER
from tests.support.records import jira_component_names


@pytest.fixture
def jira_sandbox() -> Iterator[JiraSandbox]:
    with JiraSandbox() as sb:
        yield sb


def test_field_names_resolve_once_through_the_field_list(jira_sandbox: JiraSandbox) -> None:
    conn = jira.JiraConnector("jira", jira.JiraSettings(url=jira_sandbox.url, email=JIRA_USER,
                                                        api_token=JIRA_TOKEN, project="GROWTH"))
    assert conn._field_id("Story Points") == "customfield_10016"
    assert conn._field_id("story points") == "customfield_10016"
    assert conn._field_id("components") == "components"
    calls = [r for r in jira_sandbox.log.all() if r.path.endswith("/field")]
    assert len(calls) == 1
    with pytest.raises(ConnectorError, match="no JIRA field named 'Story Pointz'"):
        conn._field_id("Story Pointz")
    assert len([r for r in jira_sandbox.log.all() if r.path.endswith("/field")]) == 1
    conn.close()


def sandbox_conn(sb: JiraSandbox, **kw: Any) -> jira.JiraConnector:
    return jira.JiraConnector("jira", jira.JiraSettings(url=sb.url, email=JIRA_USER, api_token=JIRA_TOKEN,
                                                        project="GROWTH", **kw))


def test_connector_sets_ours_by_id_keeps_peoples_and_lists_components_once(jira_sandbox: JiraSandbox) -> None:
    conn = sandbox_conn(jira_sandbox, category_map={"retention": {"components": ["Retention", "engagement"]},
                                                    "acquisition": {"components": ["Acquisition"]}})
    ticket = Ticket.parse(make_ticket(category="retention", action_items=[]))
    first = conn.render(ticket)
    ref = conn.create(ticket, first)
    created = [r for r in jira_sandbox.log.all() if r.method == "POST" and r.path.endswith("/issue/bulk")]
    [sent] = created[-1].json()["issueUpdates"]
    assert sent["fields"]["components"] and all("name" not in c for c in sent["fields"]["components"])  # ids
    assert jira_component_names(jira_sandbox, ref.key) == ["Engagement", "Retention"]
    with jira_sandbox.lock:  # a person adds one of their own
        jira_sandbox.issues[ref.key]["components"].append(jira_sandbox.projects["GROWTH"]["components"][1]["id"])
    moved = Ticket.parse(make_ticket(id=ticket.id, category="acquisition", action_items=[]))
    conn.update(ref, moved, conn.render(moved), first)
    assert jira_component_names(jira_sandbox, ref.key) == ["Acquisition", "Conversion"]
    assert len([r for r in jira_sandbox.log.all() if r.path.endswith("/components")]) == 1
    conn.close()


def test_unknown_component_fails_the_ticket_and_the_check_naming_the_key(jira_sandbox: JiraSandbox) -> None:
    conn = sandbox_conn(jira_sandbox, category_map={"retention": {"components": ["Retention"]},
                                                    "acquisition": {"components": ["SEO"]}})
    ticket = Ticket.parse(make_ticket(category="acquisition"))
    unknown = (r"connectors\.jira\.category_map\.acquisition\.components: "
               r"no component 'SEO' in project GROWTH \(components: Acquisition, ")
    with pytest.raises(ConnectorError, match=unknown):
        conn.create(ticket, conn.render(ticket))
    assert jira_sandbox.count() == 0
    [check] = [c for c in conn.check() if c.name == "jira components"]
    assert not check.ok
    assert check.detail == ("connectors.jira.category_map.acquisition.components: "
                            "no component 'SEO' in project GROWTH")
    assert "Retention" in check.fix
    conn.close()


def test_lost_store_finds_sub_tasks_by_their_rendered_summary(jira_sandbox: JiraSandbox) -> None:
    conn = sandbox_conn(jira_sandbox, template={"item_title": "[{{ ticket.category }}] {{ item.title }}"})
    ticket = Ticket.parse(make_ticket(action_items=[{"title": "One"}, {"title": "Two"}]))
    desired = conn.render(ticket)
    ref = conn.create(ticket, desired)
    first = conn.create_items(ref, ticket, desired.items)
    # not the keys
    assert set(conn.find_items(ref)) == {f"[{ticket.category}] One", f"[{ticket.category}] Two"}
    # what the engine does when the store lost the children
    again = conn.create_items(ref, ticket, desired.items)
    assert again == first and jira_sandbox.count("Sub-task") == 2
    conn.close()
