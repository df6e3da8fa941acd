"""Connector templates: defaults equal the built-in renderings, escaping is on by default, the
sandbox holds, errors name the key and line, and maps/assignees land in each target's record."""

from __future__ import annotations

from typing import Any

import pytest

import connectors.asana as asana
import connectors.jira as jira
import connectors.linear as linear
import connectors.slack as slack
from connectors.asana.render import render_notes
from connectors.jira.render import issue_context
from connectors.jira.text import render_description
from connectors.linear import render as linear_render
from connectors.slack.render import fallback_text
from syncd import config
from syncd.errors import ConfigError, TicketDataError
from syncd.models import Ticket
from syncd.sandbox._common.tickets import generate_tickets, make_ticket
from syncd.sdk.templates import default_source, syntax_error

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
    return asana.AsanaConnector("asana",
                                asana.AsanaSettings(token="t", workspace_gid="1", project_gid="2", **kw))


def slack_conn(**kw: Any) -> slack.SlackConnector:
    return slack.SlackConnector("slack", slack.SlackSettings(token="xoxb-1", channel="C0GROWTH", **kw))


# -- defaults are the built-in renderings, byte for byte (existing hashes do not change) -------------

def test_default_templates_equal_the_builtin_renderings() -> None:
    j, li, a = jira_conn(), linear_conn(), asana_conn()
    s = slack_conn(template={"text": default_source("slack", "text")})
    for t in tickets():
        # JIRA's built-in path calls `render_description` directly: compare the shipped template with it
        shipped = j.templates.render("description", issue_context(j.settings, t)).strip()
        assert shipped == render_description(t), t.id
        assert li.render(t).record["description"] == linear_render.render_description(t), t.id
        assert a.render(t).record["notes"] == render_notes(t), t.id
        assert s.render(t).record["text"] == fallback_text(t, None), t.id


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
    # Slack links are <url|text>
    (lambda: slack_conn(template={"text": "T: {{ ticket.title }}"}), "text", "<"),
])
def test_ticket_text_is_inert_in_templates(conn: Any, key: str, link: str) -> None:
    out = conn().render(nasty()).record[key]
    assert "49" not in out and "<!channel>" not in out and link not in out and "*bold*" not in out
    assert "7" in out  # the text is there, only made harmless


# NASTY escaped by hand per target (the tables in tests/unit/test_escaping.py say why each character is)
NASTY_WIKI = r"\{\{ 7\*7 \}\} \{% raw %\} <\!channel> \[link\|http://x\] \*bold\* \_it\_ `code` & <b>"
NASTY_MD = r"\{\{ 7\*7 \}\} \{% raw %\} \<\!channel\> \[link\|http://x\] \*bold\* \_it\_ \`code\` \& \<b\>"
NASTY_SLACK = "{{ 7∗7 }} {% raw %} &lt;!channel&gt; [link|http://x] ∗bold∗ ˍitˍ ˋcodeˋ &amp; &lt;b&gt;"


def test_expected_escape_per_target() -> None:
    t = nasty()
    j = jira_conn(template={"description": "{{ ticket.title }}"}).render(t).record["description"]
    assert j == NASTY_WIKI
    li = linear_conn(template={"description": "{{ ticket.title }}"}).render(t).record["description"]
    assert li == NASTY_MD
    a = asana_conn(template={"description": "{{ ticket.title }}"}).render(t).record["notes"]
    assert a == f"{NASTY}\n\ncogny:{t.id}"  # plain text: nothing to escape; the marker stays last
    s = slack_conn(template={"text": "{{ ticket.title }}"}).render(t).record["text"]
    assert s == NASTY_SLACK


def test_raw_markup_is_an_explicit_opt_out_and_does_not_survive_string_operations() -> None:
    t = Ticket.parse(make_ticket(title="*x*"))
    template = "{{ ticket.title | raw_markup }}|{{ (ticket.title | raw_markup) ~ '' }}"
    conn = jira_conn(template={"description": template})
    assert conn.render(t).record["description"] == "*x*|\\*x\\*"


def test_blocks_template_cannot_break_out_of_its_json_strings() -> None:
    breakout = '"}, {"type": "section", "text": {"type": "mrkdwn", "text": "<!channel>'
    t = Ticket.parse(make_ticket(title=breakout))
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
    assert ("connectors.jira.category_map.retention.labels: JIRA labels cannot be empty or contain spaces: "
            "['has space']") in got
    unknown = "connectors.linear.template.title: line 2: unknown variable 'tiket'"
    assert any(p.startswith(unknown) for p in got)
    assert "connectors.slack.assignee_map" in text and "connectors.slack.template.summary" in text


def test_syntax_error_helper_accepts_loop_and_set_variables() -> None:
    source = "{% set x = 1 %}{% for i in ticket.action_items %}{{ i.title }}{{ x }}{% endfor %}"
    assert syntax_error(source) is None


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
    rec = linear_conn(assignee_map={"user_456": "lin-u"},
                      category_map={"retention": ["lbl-1"]}).render(t).record
    assert (rec["assigneeId"], rec["labelIds"]) == ("lin-u", ["lbl-1"])
    assert asana_conn(assignee_map={"user_456": "987"}).render(t).record["assignee"] == "987"
    blocks = slack_conn(assignee_map={"user_456": "U0AAA"}).render(t).record["blocks"]
    assert {"type": "mrkdwn", "text": "Assignee: <@U0AAA>"} in [b.get("text") for b in blocks]


def test_no_new_settings_means_no_new_record_keys() -> None:
    t = Ticket.parse(make_ticket(assignee="user_456"))
    assert set(jira_conn().render(t).record) == {"summary", "description", "priority", "labels", "status",
                                                 "fields"}
    assert "assigneeId" not in linear_conn().render(t).record
    assert "assignee" not in asana_conn().render(t).record


# -- JIRA components from category_map --------------------------------------------------------------------

def test_category_map_takes_labels_and_components_and_the_old_list_form() -> None:
    conn = jira_conn(category_map={"retention": {"labels": ["team-ret"], "components": ["Retention", "Web"]},
                                   "acquisition": ["growth-acq"]})
    rec = conn.render(Ticket.parse(make_ticket(category="retention"))).record
    assert "team-ret" in rec["labels"] and rec["components"] == ["Retention", "Web"]
    rec = conn.render(Ticket.parse(make_ticket(category="acquisition"))).record
    assert "growth-acq" in rec["labels"] and rec["components"] == []  # mapped elsewhere: ours are none here
    old_form = jira_conn(category_map={"retention": ["team-ret"]})  # no components: no new key, hashes stay
    assert "components" not in old_form.render(Ticket.parse(make_ticket(category="retention"))).record


def test_category_map_and_components_errors_name_the_exact_key() -> None:
    base = {"type": "jira", "url": "http://j", "token": "t", "project": "G"}
    got = problems({"jira": {**base,
                             "category_map": {"seo": "web", "ret": {"components": [" "], "lables": ["x"]}}}})
    assert sorted(got) == ["connectors.jira.category_map.ret.components: component names cannot be empty",
                           "connectors.jira.category_map.ret.lables: unknown key",
                           "connectors.jira.category_map.seo: want a list of labels or "
                           "{labels: [...], components: [...]}"]
    got = problems({"jira": {**base, "fields": {"Components": [{"name": "Web"}]},
                             "category_map": {"ret": {"components": ["Retention"]}}}})
    assert got == ["connectors.jira: fields.components: components already come from category_map; "
                   "set them in one place"]


# -- sub-task templates (item_title, item_description) -----------------------------------------------------

ITEM_DEFAULTS = ("item_title", "item_description")


def test_configuring_the_shipped_item_defaults_changes_no_hash() -> None:
    for make, target in ((jira_conn, "jira"), (linear_conn, "linear"), (asana_conn, "asana")):
        plain, copied = make(), make(template={name: default_source(target, name) for name in ITEM_DEFAULTS})
        for t in tickets():
            assert plain.render(t).items == copied.render(t).items, (target, t.id)


def test_item_templates_see_the_item_and_escape_like_the_parent() -> None:
    t = Ticket.parse(make_ticket(title="Parent", action_items=[{"title": NASTY, "description": NASTY,
                                                                "estimated_hours": 2}]))
    template = {"item_title": "{{ ticket.title }}: {{ item.title }}",
                "item_description": "{{ item.description }} ({{ item.estimated_hours }} h)"}
    [j] = jira_conn(template=template).render(t).items.values()
    assert j["summary"] == f"Parent: {NASTY}" and j["description"] == NASTY_WIKI + " (2.0 h)"
    [li] = linear_conn(template=template).render(t).items.values()
    assert li["title"] == f"Parent: {NASTY}"
    assert li["description"] == NASTY_MD + " (2.0 h)"
    [a] = asana_conn(template=template).render(t).items.values()
    assert a["name"] == f"Parent: {NASTY}" and a["notes"] == f"{NASTY} (2.0 h)"  # plain text: shown as is
    assert "49" not in j["summary"] + j["description"] + li["description"]


def test_item_names_are_only_known_to_item_templates() -> None:
    base = {"type": "jira", "url": "http://j", "token": "t", "project": "G"}
    template = {"title": "{{ item.title }}", "item_title": "{{ item.title }}",
                "item_description": "{{ item_detail }}\n{{ itme }}"}
    got = problems({"jira": {**base, "template": template}})
    assert [p.split(" (known")[0] for p in sorted(got)] == [
        "connectors.jira.template.item_description: line 2: unknown variable 'itme'",
        "connectors.jira.template.title: line 1: unknown variable 'item'"]


def test_item_title_template_must_keep_children_apart() -> None:
    t = Ticket.parse(make_ticket(action_items=[{"title": "One"}, {"title": "Two"}]))
    for conn in (jira_conn, linear_conn, asana_conn):
        with pytest.raises(TicketDataError,
                           match=r"template\.item_title: renders .* for both 'One' and 'Two'"):
            conn(template={"item_title": "{{ ticket.title }}"}).render(t)


