"""End to end: templates, fields by display name, maps and assignees through the real CLI and sandboxes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from syncd.cli.sandboxes import KINDS
from syncd.sandbox._common.tickets import generate_tickets, make_ticket
from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sandbox.linear.sandbox import LinearSandbox
from syncd.sandbox.slack.sandbox import SlackSandbox
from tests.support.config import ENV, jira_settings, write_config
from tests.support.process import run_cli
from tests.support.records import jira_issues, marker_of

pytestmark = pytest.mark.e2e
EFFORT = {"small": 1, "medium": 3, "large": 8}
ASSIGNEES = {"user_1": "acc-0001", "user_2": "acc-0002"}
DESCRIPTION = """{{ ticket.description }}

Impact: {{ ticket.impact_line }}
Effort: {{ ticket.effort }} ({{ ticket.effort | map_value(effort_map) }} points)
"""
HIGH_NOTE = """{% if ticket.priority == "high" %}
High priority: review this week!
{% endif %}
"""
NASTY = "{{ 7*7 }} {% raw %} <!channel> [link|http://x] *bold*"
AREAS = ("retention", "acquisition", "data_quality", "user_engagement", "revenue_growth")
# JIRA components per category; data_quality keeps the original list form (labels only)
COMPONENTS = {"retention": ["Retention"], "acquisition": ["Acquisition"],
              "user_engagement": ["Engagement", "Retention"], "revenue_growth": ["Revenue"]}


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    # Cogny as documented: its listing omits `assignee` (and `notes`). With an `assignee_map`, a poll
    # reads new and changed tickets in full, so the assignee still arrives (the sandbox is never
    # loosened for a test).
    tickets = generate_tickets(12, seed=5)
    for i, t in enumerate(tickets):
        t["assignee"] = ["user_1", "user_2", None, "user_unmapped"][i % 4]
    with CognySandbox(tickets) as sb:
        yield sb


def jira_config(path: Path, cogny: CognySandbox, jira: JiraSandbox, description: str) -> Path:
    return write_config(path, cogny.url, {"jira": jira_connector(jira, description)})


def jira_connector(jira: JiraSandbox, description: str, **components: list[str]) -> dict[str, Any]:
    chosen = {**COMPONENTS, **components}
    category_map: dict[str, Any] = {c: {"labels": [f"area-{c}"], "components": chosen[c]}
                                    for c in AREAS if c in chosen}
    category_map["data_quality"] = ["area-data_quality"]
    return jira_settings(jira.url, template={"description": description},
                         fields={"Story Points": "{{ ticket.effort | map_value(effort_map) }}"},
                         effort_map=EFFORT, assignee_map=ASSIGNEES, category_map=category_map)


def component_names(jira: JiraSandbox, issue: dict[str, Any]) -> list[str]:
    names = {c["id"]: c["name"] for c in jira.projects["GROWTH"]["components"]}
    return sorted(names[cid] for cid in issue["components"])


def wiki(text: str) -> str:
    """The wiki specials generated tickets hold (`+`, `_`, `-`), escaped by hand as JIRA documents it (a
    backslash before each); any other special in the text fails here rather than being guessed."""
    assert not set(text) & set("\\{}[]|*^~!?#"), text
    return text.replace("+", "\\+").replace("_", "\\_").replace("-", "\\-")


def expected_description(t: dict[str, Any], high_note: bool = False) -> str:
    imp = t["estimated_impact"]
    line = f"{imp['increase_percentage']:+.1f}% {imp['metric']}".strip()
    text = (f"{wiki(t['description'])}\n\nImpact: {wiki(line)}\n"
            f"Effort: {wiki(t['effort'])} ({EFFORT[t['effort']]} points)\n")
    if high_note and t["priority"] == "high":
        text += "High priority: review this week!\n"
    return text.strip()


def parents(jira: JiraSandbox) -> dict[str, dict[str, Any]]:
    return {marker_of(i): i for i in jira_issues(jira, subtasks=False)}  # type: ignore[misc]


@pytest.mark.config_keys("connectors.jira.fields", "connectors.jira.template",
                         "connectors.jira.effort_map", "connectors.jira.category_map",
                         "connectors.jira.assignee_map")
def test_template_fields_maps_and_assignee_land_exactly_and_render_shows_them(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    cfg = jira_config(tmp_path / "syncd.yaml", cogny, jira, DESCRIPTION)
    tid = next(iter(cogny.tickets))
    shown = run_cli("render", "-c", str(cfg), tid, "--connector", "jira", "--internal", env=ENV)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert jira.log.writes() == []  # render sends nothing
    record = json.loads(shown.stdout)["connectors"]["jira"]["record"]

    result = run_cli("run-once", "-c", str(cfg), env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    issues = parents(jira)
    assert set(issues) == set(cogny.tickets)
    for ticket_id, t in cogny.tickets.items():
        issue = issues[ticket_id]
        assert issue["description"] == expected_description(t), ticket_id
        assert issue["custom"].get("customfield_10016") == EFFORT[t["effort"]]
        area = [f"area-{t['category']}"] if t["category"] in AREAS else []
        assert issue["labels"] == sorted([f"cogny-{ticket_id}", *area])
        assert component_names(jira, issue) == sorted(COMPONENTS.get(t["category"], [])), ticket_id
        account = ASSIGNEES.get(t["assignee"] or "")
        assert issue["assignee"] == ({"accountId": account} if account else None), ticket_id

    issue = issues[tid]  # what `syncd render` printed is what JIRA received
    assert (record["summary"], record["description"], record["labels"], record["components"]) == \
        (issue["summary"], issue["description"], issue["labels"], component_names(jira, issue))
    assert record["fields"] == {"Story Points": issue["custom"]["customfield_10016"]}
    assert record.get("assignee") == issue["assignee"]
    assert [r for r in jira.log.all() if r.path.endswith("/field")], "Story Points: via the field list"


def test_template_change_updates_only_the_records_whose_rendering_changed(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    cfg = jira_config(tmp_path / "syncd.yaml", cogny, jira, DESCRIPTION)
    assert run_cli("run-once", "-c", str(cfg), env=ENV).returncode == 0
    jira.log.clear()
    assert run_cli("run-once", "-c", str(cfg), env=ENV).returncode == 0
    assert jira.log.writes() == []

    jira_config(cfg, cogny, jira, DESCRIPTION + HIGH_NOTE)
    result = run_cli("run-once", "-c", str(cfg), env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    issues = parents(jira)
    high = {issues[tid]["key"] for tid, t in cogny.tickets.items() if t["priority"] == "high"}
    assert high
    key_of = {i["id"]: i["key"] for i in jira_issues(jira, subtasks=False)}  # a write names an id or a key
    touched = {r.path.split("/issue/")[1].split("/")[0] for r in jira.log.writes()}
    assert {key_of.get(k, k) for k in touched} == high
    assert all(r.method == "PUT" for r in jira.log.writes())
    for tid, t in cogny.tickets.items():
        assert issues[tid]["description"] == expected_description(t, high_note=True)


def test_bad_template_exits_2_naming_connector_key_and_line(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    cfg = jira_config(tmp_path / "syncd.yaml", cogny, jira, "line one\nline two\n{{ ticket.title }\n")
    for command in ("run-once", "render"):
        args = [command, "-c", str(cfg)] + (["tkt_x"] if command == "render" else [])
        result = run_cli(*args, env=ENV)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "  connectors.jira.template.description: line 3: unexpected '}'" in result.stderr.splitlines()
    assert jira.log.writes() == []


def test_render_failure_fails_that_ticket_alone(tmp_path: Path, cogny: CognySandbox,
                                                jira: JiraSandbox) -> None:
    # some tickets have fewer than three items
    third_item = "{{ ticket.title }}\n{{ ticket.action_items[2].title }}"
    cfg = jira_config(tmp_path / "syncd.yaml", cogny, jira, third_item)
    result = run_cli("run-once", "-c", str(cfg), env=ENV)
    short = {tid for tid, t in cogny.tickets.items() if len(t["action_items"]) < 3}
    assert short and short != set(cogny.tickets)
    assert result.returncode == 1
    assert set(parents(jira)) == set(cogny.tickets) - short
    assert "jira.template.description" in result.stdout + result.stderr


def test_render_reads_a_ticket_file(tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    cfg = jira_config(tmp_path / "syncd.yaml", cogny, jira, DESCRIPTION)
    ticket = make_ticket(id="tkt_fromfile", title=NASTY, effort="small", assignee="user_2")
    (tmp_path / "t.json").write_text(json.dumps({"data": ticket}))
    result = run_cli("render", "-c", str(cfg), "tkt_fromfile", "--file", str(tmp_path / "t.json"),
                     "--internal", env=ENV)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)["connectors"]["jira"]["record"]
    assert record["fields"] == {"Story Points": 1} and record["assignee"] == {"accountId": "acc-0002"}
    assert record["summary"] == NASTY and "49" not in result.stdout


def test_hostile_title_is_inert_in_every_target(tmp_path: Path) -> None:
    tickets = [make_ticket(id="tkt_nasty0001", title=NASTY, description=NASTY, priority="critical",
                           action_items=[{"title": "Fix " + NASTY}])]
    text = "T: {{ ticket.title }}\n{{ ticket.description }}"
    with CognySandbox(tickets) as cogny, JiraSandbox() as jira, SlackSandbox() as slack, \
            LinearSandbox() as linear, AsanaSandbox() as asana:
        targets = {"jira": jira, "slack": slack, "linear": linear, "asana": asana}
        connectors = {name: KINDS[name].connector(sb) for name, sb in targets.items()}
        for name in ("jira", "linear", "asana"):
            connectors[name]["template"] = {"title": "T: {{ ticket.title }}", "description": text}
        connectors["slack"]["template"] = {"text": text, "blocks": (
            '[{"type": "section", "text": {"type": "mrkdwn", "text": "{{ ticket.title }}"}}]')}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, connectors)
        result = run_cli("run-once", "-c", str(cfg), env=ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        [issue] = jira_issues(jira, subtasks=False)
        with linear.lock:
            [lin] = [i for i in linear.issues.values() if i["parentId"] is None]
        [task] = asana.top_level()
        [msg] = slack.messages("C0GROWTH") if "C0GROWTH" in slack.channels else [
            m for c in slack.channels for m in slack.messages(c)]
        sent = {"jira": issue["description"], "linear": lin["description"], "asana": task["notes"],
                "slack": json.dumps([msg["text"], msg["blocks"]])}
        for name, body in sent.items():
            assert "49" not in body, name  # never evaluated: ticket text is data, not template source
        assert "<!channel>" not in sent["slack"]  # the only target where it would ping
        assert sent["asana"].startswith(f"T: {NASTY}\n{NASTY}")  # Asana notes are plain text: shown as is
        assert "\\[link\\|http://x\\]" in sent["jira"] and "\\*bold\\*" in sent["jira"]
        assert "\\[link\\|http://x\\]" in sent["linear"] and "\\*bold\\*" in sent["linear"]
        assert "&lt;!channel&gt;" in msg["text"] and "*bold*" not in sent["slack"]
        assert issue["summary"] == f"T: {NASTY}" and task["name"] == f"T: {NASTY}"  # plain-text fields


def test_unknown_field_name_fails_each_ticket_with_the_field_named(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    settings = jira_settings(jira.url, fields={"Story Pointz": "{{ ticket.effort | map_value(effort_map) }}"},
                             effort_map=EFFORT)
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": settings})
    result = run_cli("run-once", "-c", str(cfg), env=ENV)
    assert result.returncode == 1
    assert "no JIRA field named 'Story Pointz'" in result.stdout + result.stderr
    assert jira_issues(jira, subtasks=False) == []


def test_unknown_component_fails_check_config_and_only_the_tickets_that_need_it(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    settings = jira_connector(jira, DESCRIPTION, acquisition=["SEO"])
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": settings})
    checked = run_cli("check-config", "-c", str(cfg), "--connect", env=ENV)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    [line] = [ln for ln in checked.stdout.splitlines() if ln.startswith("FAIL")]
    assert line.startswith("FAIL [jira] jira components: "
                           "connectors.jira.category_map.acquisition.components: "
                           "no component 'SEO' in project GROWTH — fix: components of GROWTH: Acquisition, ")
    assert jira.log.writes() == []

    result = run_cli("run-once", "-c", str(cfg), env=ENV)
    assert result.returncode == 1
    acquisition = {tid for tid, t in cogny.tickets.items() if t["category"] == "acquisition"}
    assert acquisition and set(parents(jira)) == set(cogny.tickets) - acquisition
    problem = "connectors.jira.category_map.acquisition.components: no component 'SEO'"
    assert problem in result.stdout + result.stderr


@pytest.mark.config_keys("connectors.linear.fields", "connectors.asana.custom_fields")
def test_linear_and_asana_get_assignee_estimate_labels_and_custom_field(
        tmp_path: Path, cogny: CognySandbox) -> None:
    with LinearSandbox() as linear, AsanaSandbox() as asana:
        label = linear.add_label("Retention", "GROW")
        lin = {**KINDS["linear"].connector(linear), "effort_map": EFFORT,
               "category_map": {"retention": [label]},
               "fields": {"estimate": "{{ ticket.effort | map_value(effort_map) }}"},
               "assignee_map": {"user_1": "lin-user-1"}}
        asa = {**KINDS["asana"].connector(asana), "assignee_map": {"user_2": "1200000000000002"},
               "custom_fields": {asana.text_field_gid: "{{ ticket.effort | human }} effort"}}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"linear": lin, "asana": asa})
        result = run_cli("run-once", "-c", str(cfg), env=ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        with linear.lock:
            by_ticket = {a["url"].rsplit("/", 1)[-1]: linear.issues[a["issueId"]]
                         for a in linear.attachments.values()}
        tasks = {t["external"]["gid"].removeprefix("cogny:"): t for t in asana.top_level()}
        for tid, t in cogny.tickets.items():
            issue, task = by_ticket[tid], tasks[tid]
            assert issue["estimate"] == EFFORT[t["effort"]]
            assert issue["assigneeId"] == ("lin-user-1" if t["assignee"] == "user_1" else None)
            assert issue["labelIds"] == ([label] if t["category"] == "retention" else [])
            assert task.get("assignee") == ("1200000000000002" if t["assignee"] == "user_2" else None)
            assert task["custom_fields"][asana.text_field_gid] == f"{t['effort'].capitalize()} effort"
        for sb in (linear, asana, cogny):
            sb.log.clear()
        assert run_cli("run-once", "-c", str(cfg), env=ENV).returncode == 0
        assert linear.log.writes() == [] and asana.log.writes() == []


def test_item_templates_shape_every_child_and_a_lost_store_makes_no_duplicates(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    items = {"item_title": "[{{ ticket.category | human }}] {{ item.title }}",
             "item_description": "{{ item.description }}\nFor: {{ ticket.title }}"}
    with LinearSandbox() as linear, AsanaSandbox() as asana:
        connectors = {"jira": jira_settings(jira.url, template=items),
                      "linear": {**KINDS["linear"].connector(linear), "template": items},
                      "asana": {**KINDS["asana"].connector(asana), "template": items}}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, connectors)
        assert run_cli("run-once", "-c", str(cfg), env=ENV).returncode == 0

        def children() -> dict[str, list[str]]:
            with linear.lock:
                lin = [i["title"] for i in linear.issues.values() if i["parentId"]]
            tasks = [s["name"] for t in asana.top_level() for s in asana.subtasks(t["gid"])]
            return {"jira": sorted(i["summary"] for i in jira_issues(jira, subtasks=True)),
                    "linear": sorted(lin), "asana": sorted(tasks)}

        made = children()
        want = sorted(f"[{t['category'].replace('_', ' ').capitalize()}] {i['title']}"
                      for t in cogny.tickets.values() for i in t["action_items"])
        assert made == {"jira": want, "linear": want, "asana": want}
        sub = jira_issues(jira, subtasks=True)[0]
        parent = jira.issue(sub["parent"])
        assert sub["description"].endswith(f"For: {wiki(parent['summary'])}")

        (tmp_path / "syncd.db").unlink()  # the store is lost: every record is found again, none made twice
        result = run_cli("run-once", "-c", str(cfg), env=ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        assert children() == made
