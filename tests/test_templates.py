"""Connector templates: defaults equal the built-in renderings, escaping is on by default, the
sandbox holds, errors name the key and line, and maps/assignees land in each target's record."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from connectors import asana, jira, linear, slack
from syncd import config
from syncd.errors import ConfigError, ConnectorError, TicketDataError
from syncd.models import Ticket
from syncd.sandbox.jira import JiraSandbox
from syncd.sandbox.tickets import generate_tickets, make_ticket
from syncd.templates import default_source, syntax_error
from tests.helpers import JIRA_TOKEN, JIRA_USER

NASTY = "{{ 7*7 }} {% raw %} <!channel> [link|http://x] *bold* _it_ `code` & <b>"


def tickets() -> list[Ticket]:
    raw = generate_tickets(60, seed=11) + [
        make_ticket(title=NASTY, description=NASTY + "\n1. list\n# head", action_items=[{"title": NASTY}]),
        make_ticket(description="", supporting_data={}, action_items=[], url=""),
        make_ticket(status="completed", estimated_impact={}),
    ]
    return [Ticket.parse(t) for t in raw]


def jira_conn(**kw: Any) -> jira.JiraConnector:
    return jira.JiraConnector("jira", jira.JiraSettings(url="http://jira.test", token="t", project="G", **kw))


def linear_conn(**kw: Any) -> linear.LinearConnector:
    return linear.LinearConnector("linear", linear.LinearSettings(api_key="lin_api_x", team_key="G", **kw))


def asana_conn(**kw: Any) -> asana.AsanaConnector:
    return asana.AsanaConnector("asana", asana.AsanaSettings(token="t", workspace_gid="1", project_gid="2", **kw))


def slack_conn(**kw: Any) -> slack.SlackConnector:
    return slack.SlackConnector("slack", slack.SlackSettings(token="xoxb-1", channel="C0GROWTH", **kw))


# -- defaults are the built-in renderings, byte for byte (existing hashes do not change) -------------

def test_default_templates_equal_the_builtin_renderings() -> None:
    j, li, a = jira_conn(), linear_conn(), asana_conn()
    s = slack_conn(template={"text": default_source("slack", "text")})
    for t in tickets():
        assert j.render(t).record["description"] == jira.render_description(t), t.id
        assert li.render(t).record["description"] == linear.render_description(t), t.id
        assert a.render(t).record["notes"] == asana.render_notes(t), t.id
        assert s.render(t).record["text"] == slack.fallback_text(t, None), t.id


def test_configuring_the_shipped_default_changes_no_hash() -> None:
    plain = jira_conn()
    copied = jira_conn(template={"title": default_source("jira", "title"),
                                 "description": default_source("jira", "description")})
    for t in tickets():
        assert plain.render(t).hash() == copied.render(t).hash()


def test_shipped_blocks_template_renders_valid_block_kit_json() -> None:
    conn = slack_conn(mention="<!here>", assignee_map={"user_1": "U0AAA"},
                      template={"blocks": default_source("slack", "blocks")})
    for t in tickets():
        blocks = conn.render(t).record["blocks"]
        assert blocks[-1]["type"] == "context" and all(isinstance(b, dict) for b in blocks)


# -- escaping: autoescape-style, per target, explicit opt-out --------------------------------------------

def nasty() -> Ticket:
    return Ticket.parse(make_ticket(title=NASTY, description=NASTY, assignee=None))


@pytest.mark.parametrize("conn, key, link", [
    (lambda: jira_conn(template={"description": "T: {{ ticket.title }}\n{{ ticket.description }}"}),
     "description", "[link|"),
    (lambda: linear_conn(template={"description": "T: {{ ticket.title }}\n{{ ticket.description }}"}),
     "description", "[link|"),
    (lambda: slack_conn(template={"text": "T: {{ ticket.title }}"}), "text", "<"),  # Slack links are <url|text>
])
def test_ticket_text_is_inert_in_templates(conn: Any, key: str, link: str) -> None:
    out = conn().render(nasty()).record[key]
    assert "49" not in out and "<!channel>" not in out and link not in out and "*bold*" not in out
    assert "7" in out  # the text is there, only made harmless


def test_expected_escape_per_target() -> None:
    t = nasty()
    j = jira_conn(template={"description": "{{ ticket.title }}"}).render(t).record["description"]
    assert j == jira.escape_wiki(NASTY)
    li = linear_conn(template={"description": "{{ ticket.title }}"}).render(t).record["description"]
    assert li == linear.escape_markdown(NASTY).strip()
    a = asana_conn(template={"description": "{{ ticket.title }}"}).render(t).record["notes"]
    assert a == f"{NASTY}\n\ncogny:{t.id}"  # plain text: nothing to escape; the marker stays last
    s = slack_conn(template={"text": "{{ ticket.title }}"}).render(t).record["text"]
    assert s == slack.inert_mrkdwn(NASTY)


def test_raw_markup_is_an_explicit_opt_out_and_does_not_survive_string_operations() -> None:
    t = Ticket.parse(make_ticket(title="*x*"))
    conn = jira_conn(template={"description": "{{ ticket.title | raw_markup }}|{{ (ticket.title | raw_markup) ~ '' }}"})
    assert conn.render(t).record["description"] == "*x*|\\*x\\*"


def test_blocks_template_cannot_break_out_of_its_json_strings() -> None:
    t = Ticket.parse(make_ticket(title='"}, {"type": "section", "text": {"type": "mrkdwn", "text": "<!channel>'))
    conn = slack_conn(template={"blocks": '[{"type": "header", "text": {"type": "plain_text", '
                                          '"text": "{{ ticket.title | raw_markup }}"}}]'})
    [block] = conn.render(t).record["blocks"]
    assert block["text"]["text"] == t.title  # one block; the quote stayed inside the string


@pytest.mark.parametrize("source", ["{{ ticket.__class__.__mro__ }}", "{{ ticket.action_items.append(1) }}",
                                    "{{ ticket.nope }}", "{{ ''.__class__ }}"])
def test_sandbox_and_strict_undefined_fail_the_ticket_with_the_reason(source: str) -> None:
    conn = jira_conn(template={"description": source})
    with pytest.raises(TicketDataError, match="jira.template.description"):
        conn.render(nasty())


# -- load-time errors: exit-2 lines naming connector, key and line ------------------------------------

def problems(connectors: dict[str, Any]) -> list[str]:
    doc = {"cogny": {"api_key": "k"}, "connectors": connectors}
    import yaml

    with pytest.raises(ConfigError) as exc:
        config.parse(yaml.safe_dump(doc))
    return exc.value.problems


def test_bad_template_names_connector_key_and_line() -> None:
    got = problems({"jira": {"type": "jira", "url": "http://j", "token": "t", "project": "G",
                             "template": {"description": "one\ntwo\n{{ ticket.title }\n"}}})
    assert got == ["connectors.jira.template.description: line 3: unexpected '}'"]


def test_unknown_variable_filter_and_template_name_are_load_errors() -> None:
    got = problems({
        "jira": {"type": "jira", "url": "http://j", "token": "t", "project": "G",
                 "fields": {"Story Points": "{{ ticket.effort | map_valu(effort_map) }}"},
                 "category_map": {"retention": ["has space"]}},
        "linear": {"type": "linear", "api_key": "k", "team_key": "G",
                   "template": {"title": "x\n{{ tiket.title }}"}},
        "slack": {"type": "slack", "token": "xoxb-1", "channel": "C0G", "assignee_map": {"u": "not-a-user"},
                  "template": {"summary": "x"}},
    })
    text = "\n".join(got)
    assert "connectors.jira.fields.Story Points: line 1: No filter named 'map_valu'." in got
    assert any(p.startswith("connectors.jira.category_map: ") and "has space" in p for p in got)
    assert any(p.startswith("connectors.linear.template.title: line 2: unknown variable 'tiket'") for p in got)
    assert "connectors.slack.assignee_map" in text and "connectors.slack.template.summary" in text


def test_syntax_error_helper_accepts_loop_and_set_variables() -> None:
    assert syntax_error("{% set x = 1 %}{% for i in ticket.action_items %}{{ i.title }}{{ x }}{% endfor %}") is None


# -- fields, maps and assignees -----------------------------------------------------------------------

EFFORT = {"small": 1, "medium": 3, "large": 8}


def test_jira_fields_maps_and_assignee_in_the_record() -> None:
    conn = jira_conn(fields={"Story Points": "{{ ticket.effort | map_value(effort_map) }}",
                             "components": [{"name": "{{ ticket.category }}"}]},
                     effort_map=EFFORT, category_map={"retention": ["team-retention"]},
                     assignee_map={"user_456": "acc-1"})
    t = Ticket.parse(make_ticket(effort="large", category="retention", assignee="user_456"))
    rec = conn.render(t).record
    assert rec["fields"] == {"Story Points": 8, "components": [{"name": "retention"}]}
    assert "team-retention" in rec["labels"] and rec["assignee"] == {"accountId": "acc-1"}
    unmapped = Ticket.parse(make_ticket(effort="huge", assignee="someone_else"))
    rec = conn.render(unmapped).record
    assert rec["fields"]["Story Points"] is None and rec["assignee"] is None


def test_assignee_omitted_by_a_listing_is_left_alone_not_cleared() -> None:
    listed = make_ticket(assignee="user_456")
    del listed["assignee"]
    t = Ticket.parse(listed)
    assert "assignee" not in jira_conn(assignee_map={"user_456": "a"}).render(t).record
    assert "assigneeId" not in linear_conn(assignee_map={"user_456": "a"}).render(t).record
    assert "assignee" not in asana_conn(assignee_map={"user_456": "123"}).render(t).record


def test_assignee_map_in_every_target() -> None:
    t = Ticket.parse(make_ticket(assignee="user_456", category="retention"))
    rec = linear_conn(assignee_map={"user_456": "lin-u"}, category_map={"retention": ["lbl-1"]}).render(t).record
    assert (rec["assigneeId"], rec["labelIds"]) == ("lin-u", ["lbl-1"])
    assert asana_conn(assignee_map={"user_456": "987"}).render(t).record["assignee"] == "987"
    blocks = slack_conn(assignee_map={"user_456": "U0AAA"}).render(t).record["blocks"]
    assert {"type": "mrkdwn", "text": "Assignee: <@U0AAA>"} in [b.get("text") for b in blocks]


def test_no_new_settings_means_no_new_record_keys() -> None:
    t = Ticket.parse(make_ticket(assignee="user_456"))
    assert set(jira_conn().render(t).record) == {"summary", "description", "priority", "labels", "status", "fields"}
    assert "assigneeId" not in linear_conn().render(t).record
    assert "assignee" not in asana_conn().render(t).record


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
