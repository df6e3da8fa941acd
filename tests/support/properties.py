"""Hypothesis strategies for arbitrary Cogny tickets, and the four built-in connectors on given URLs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

from connectors.asana import AsanaConnector, AsanaSettings
from connectors.jira import JiraConnector, JiraSettings
from connectors.linear import LinearConnector, LinearSettings
from connectors.slack import SlackConnector, SlackSettings
from syncd.errors import TicketDataError
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox._common.tickets import CATEGORIES, PRIORITIES, STATUSES

POLICY = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, timeout=10)
# No per-example time limit here or anywhere: the `syncd` profile (tests/conftest.py) turns it off.
RENDER = settings(max_examples=100, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RECONCILE = settings(max_examples=50, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MARKUP = ["[x|http://evil]", "{code}", "{color:red}", "!http://evil/a.png!", "[~admin]", "<!channel>",
          "<!here>",
          "<@U0ADMIN>", "<http://evil|click>", "*bold*", "_it_", "~s~", "`c`", "[a](http://evil)", "**b**",
          "<img src=x onerror=alert(1)>", "# h", "1. x", "- y", "h1. t", "||t||", "&amp;", "&", "<", ">",
          "\\",
          "🚀", "مرحبا", "e\u0301", "\u202e", "\u200b", "\t", "\n", "\r\n", "\u2028", "\x00", "\x1b[31m", " "]

# -- strategies ------------------------------------------------------------------------------------

any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)
markup_text = st.lists(st.one_of(st.sampled_from(MARKUP), any_text), max_size=8).map("".join)
text = st.one_of(any_text, markup_text, st.text(alphabet=st.characters(blacklist_categories=("Cs",)),
                                                 min_size=200, max_size=700))
visible = text.filter(lambda s: s.strip() != "")
numbers = st.one_of(st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
                    st.integers(min_value=-10**9, max_value=10**9))


@st.composite
def tickets(draw: st.DrawFn, *, title: st.SearchStrategy[str] = visible,
            item_title: st.SearchStrategy[str] = visible) -> dict[str, Any]:
    tid = "tkt_" + draw(st.text(alphabet="0123456789abcdef", min_size=4, max_size=16))
    items = draw(st.lists(st.fixed_dictionaries({
        "title": item_title, "description": text, "estimated_hours": numbers,
        "completed": st.booleans()}), max_size=6))
    return {
        "id": tid,
        "warehouse_id": draw(st.sampled_from(["wh_123abc", "wh_other"])),
        "title": draw(title),
        "description": draw(text),
        "category": draw(st.sampled_from(CATEGORIES)),
        "priority": draw(st.sampled_from(PRIORITIES)),
        "status": draw(st.sampled_from(STATUSES)),
        "estimated_impact": draw(st.fixed_dictionaries({}, optional={
            "metric": any_text, "current_value": numbers, "projected_value": numbers,
            "increase_percentage": numbers, "confidence": numbers})),
        "effort": draw(st.sampled_from(["small", "medium", "large", ""])),
        "action_items": items,
        "supporting_data": draw(st.dictionaries(any_text, st.one_of(numbers, any_text), max_size=4)),
        "created_at": "2025-02-07T10:30:00Z",
        "updated_at": "2025-02-07T10:30:00Z",
        "url": f"https://app.cogny.com/tickets/{tid}",
        "notes": draw(st.one_of(st.none(), text)),
    }


reasonable_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"),
                                                 blacklist_characters="\u2028\u2029"), max_size=80)
reasonable = st.one_of(reasonable_text, st.lists(st.one_of(st.sampled_from(MARKUP[:-4]), reasonable_text),
                                                 max_size=6).map("".join))
reasonable_visible = reasonable.filter(lambda s: s.strip() != "")


# -- connectors (render needs no I/O; the same instances serve the reconcile test) -------------------

def connectors_for(urls: dict[str, str], asana_sb: Any = None) -> dict[str, Any]:
    asana_extra: dict[str, Any] = {}
    if asana_sb is not None:
        asana_extra = {"workspace_gid": asana_sb.workspace_gid, "project_gid": asana_sb.project_gid,
                       "priority_field": {"field_gid": asana_sb.priority_field_gid,
                                          "options": dict(asana_sb.priority_options)}}
    else:
        asana_extra = {"workspace_gid": "1200000000000001", "project_gid": "1200000000000002",
                       "priority_field": {"field_gid": "1", "options": {"critical": "11", "high": "12",
                                                                        "medium": "13", "low": "14"}}}
    return {
        "jira": JiraConnector("jira", JiraSettings(
            url=urls["jira"], email="bot@example.com", api_token="jira-token", project="GROWTH",
            labels=["growth", "from-cogny"]), policy=POLICY),
        "slack": SlackConnector("slack", SlackSettings(
            token="xoxb-sandbox", channel="growth", base_url=f"{urls['slack']}/api/",
            mention="<!subteam^S0GROW>"), policy=POLICY,
            sleep=lambda s: None),  # Slack's pacing is not what is tested here
        "linear": LinearConnector("linear", LinearSettings(
            api_key="lin_api_sandbox", team_key="GROW", api_url=f"{urls['linear']}/graphql"), policy=POLICY),
        "asana": AsanaConnector("asana", AsanaSettings(
            token="asana-sandbox", base_url=f"{urls['asana']}/api/1.0", **asana_extra), policy=POLICY),
    }


def parse(raw: dict[str, Any]) -> Ticket:
    try:
        return Ticket.parse(raw)
    except TicketDataError:  # refusing odd data is allowed; rendering it wrongly is not
        assume(False)
        raise
