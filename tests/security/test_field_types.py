"""In `fields:` templates only the template's own text decides a value's JSON type (finding 8)."""

from __future__ import annotations

from typing import Any

import pytest

import connectors.jira as jira
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sdk.templates import Renderer

EFFORT_MAP = {"small": 1, "medium": 3, "large": 8}


def fields_for(effort: str, fields: dict[str, Any]) -> dict[str, Any]:
    conn = jira.JiraConnector("jira", jira.JiraSettings(url="http://jira.test", token="t", project="G",
                                                        fields=fields, effort_map=EFFORT_MAP))
    return conn.render(Ticket.parse(make_ticket(effort=effort))).record["fields"]


@pytest.mark.parametrize("effort", ['{"accountId": "attacker"}', "[1, 2]", "5", "true", "null", '"quoted"'])
def test_ticket_text_stays_a_string_whatever_it_looks_like(effort: str) -> None:
    assert fields_for(effort, {"customfield_1": "{{ ticket.effort }}"}) == {"customfield_1": effort}


def test_ticket_text_inside_template_json_is_data_not_structure() -> None:
    effort = '", "accountId": "attacker'
    got = fields_for(effort, {
        "customfield_2": '{"value": "{{ ticket.effort }}"}',
        "customfield_3": '[{{ ticket.effort | map_value(effort_map) }}, "{{ ticket.effort }}"]'})
    assert got == {"customfield_2": {"value": effort}, "customfield_3": [None, effort]}


def test_config_values_keep_their_type() -> None:
    assert fields_for("large",
                      {"Story Points": "{{ ticket.effort | map_value(effort_map) }}"}) == {"Story Points": 8}
    points = {"Story Points": "{{ ticket.effort | map_value(effort_map) }}"}
    assert fields_for("huge", points) == {"Story Points": None}
    assert fields_for("large",
                      {"labels": '["{{ ticket.effort }}", "growth"]'}) == {"labels": ["large", "growth"]}
    assert fields_for("large",
                      {"summary_note": "{{ ticket.effort }} effort"}) == {"summary_note": "large effort"}


def test_a_template_without_values_is_read_as_its_own_json() -> None:
    renderer = Renderer("jira", {})
    assert renderer.value('{% if true %}{"id": "10001"}{% endif %}', {}, "f") == {"id": "10001"}
