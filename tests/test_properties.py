"""Properties over arbitrary ticket payloads (hypothesis).

1. Rendering: whatever the ticket says, every connector's desired record is a payload its
   target accepts (JIRA summary one line ≤ 255 and labels without spaces, Linear priority 0–4,
   Slack blocks within Block Kit limits, Asana fields well-formed), and ticket text never
   escapes its escaping.
2. Hashes are stable: render twice, from another connector instance, after a JSON round trip,
   or in another process (other PYTHONHASHSEED) — same hash, so a restart never rewrites.
3. Reconcile is idempotent: against the sandboxes, applying a ticket twice = applying it once
   (second time every outcome is `unchanged` and no sandbox sees a write).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connectors.asana.connector import AsanaConnector, AsanaSettings
from connectors.jira.connector import JiraConnector, JiraSettings
from connectors.linear.connector import LinearConnector, LinearSettings
from connectors.slack.connector import SlackConnector, SlackSettings
from syncd import redact
from syncd.sdk.connector import Desired
from syncd.errors import TicketDataError
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox.slack.blocks import MAX_BLOCKS, validate_blocks
from syncd.sandbox._common.tickets import CATEGORIES, PRIORITIES, STATUSES, generate_tickets
from tests.conftest import ROOT

POLICY = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, timeout=10)
RENDER = settings(max_examples=100, deadline=timedelta(milliseconds=1000), derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RECONCILE = settings(max_examples=50, deadline=timedelta(seconds=8), derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MARKUP = ["[x|http://evil]", "{code}", "{color:red}", "!http://evil/a.png!", "[~admin]", "<!channel>", "<!here>",
          "<@U0ADMIN>", "<http://evil|click>", "*bold*", "_it_", "~s~", "`c`", "[a](http://evil)", "**b**",
          "<img src=x onerror=alert(1)>", "# h", "1. x", "- y", "h1. t", "||t||", "&amp;", "&", "<", ">", "\\",
          "🚀", "مرحبا", "e\u0301", "\u202e", "\u200b", "\t", "\n", "\r\n", "\u2028", "\x00", "\x1b[31m", " "]

# -- strategies ------------------------------------------------------------------------------------

any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)
markup_text = st.lists(st.one_of(st.sampled_from(MARKUP), any_text), max_size=8).map("".join)
text = st.one_of(any_text, markup_text, st.text(alphabet=st.characters(blacklist_categories=("Cs",)),
                                                 min_size=200, max_size=700))
visible = text.filter(lambda s: s.strip() != "")
numbers = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
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
        "jira": JiraConnector("jira", JiraSettings(url=urls["jira"], email="bot@example.com", api_token="jira-token",
                                                   project="GROWTH", labels=["growth", "from-cogny"]), policy=POLICY),
        "slack": SlackConnector("slack", SlackSettings(token="xoxb-sandbox", channel="growth",
                                                       base_url=f"{urls['slack']}/api/", mention="<!subteam^S0GROW>"),
                                policy=POLICY, sleep=lambda s: None),  # Slack's pacing is not what is tested here
        "linear": LinearConnector("linear", LinearSettings(api_key="lin_api_sandbox", team_key="GROW",
                                                           api_url=f"{urls['linear']}/graphql"), policy=POLICY),
        "asana": AsanaConnector("asana", AsanaSettings(token="asana-sandbox", base_url=f"{urls['asana']}/api/1.0",
                                                       **asana_extra), policy=POLICY),
    }


@pytest.fixture(scope="module")
def offline() -> Iterator[dict[str, Any]]:
    made = connectors_for({k: "http://127.0.0.1:9" for k in ("jira", "slack", "linear", "asana")})
    yield made
    for c in made.values():
        c.close()
    redact.clear()


def one_line(value: str) -> bool:
    return not any(ch in value for ch in "\n\r\u2028\u2029\x0b\x0c\x85")


def check_jira(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert isinstance(r["summary"], str) and r["summary"].strip() and one_line(r["summary"])
    assert len(r["summary"]) <= 255
    assert r["labels"] == sorted(set(r["labels"])) and f"cogny-{ticket.id}" in r["labels"]
    for label in r["labels"]:
        assert label and len(label) <= 255 and not any(ch.isspace() for ch in label), label
    assert r["priority"] in ("Highest", "High", "Medium", "Low")
    assert r["status"] in ("open", "done", "dismissed") and isinstance(r["description"], str)
    assert set(d.items) == {i.title for i in ticket.action_items}
    for item in d.items.values():
        assert item["summary"].strip() and one_line(item["summary"]) and len(item["summary"]) <= 255
        assert isinstance(item["completed"], bool) and isinstance(item["description"], str)


def check_linear(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert isinstance(r["priority"], int) and 0 <= r["priority"] <= 4
    assert r["title"].strip() and one_line(r["title"]) and len(r["title"]) <= 255
    assert r["status"] in ("open", "done", "canceled") and isinstance(r["description"], str)
    for item in d.items.values():
        assert item["title"].strip() and one_line(item["title"]) and len(item["title"]) <= 255
        assert isinstance(item["completed"], bool)


def check_slack(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert validate_blocks(r["blocks"]) == [], validate_blocks(r["blocks"])
    assert 1 <= len(r["blocks"]) <= MAX_BLOCKS
    assert isinstance(r["text"], str) and 0 < len(r["text"]) <= 40_000
    assert r["metadata"] == {"event_type": "cogny_ticket", "event_payload": {"ticket_id": ticket.id}}
    mention = "<!subteam^S0GROW>"
    rest = r["text"].removeprefix(mention) if ticket.priority == "critical" else r["text"]
    assert "<" not in rest and ">" not in rest, rest  # ticket text can never form a link or a ping
    for block in r["blocks"]:
        for piece in _texts(block):
            if piece != f"{mention} critical growth ticket":
                assert "<" not in piece and ">" not in piece, piece


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn") and isinstance(value.get("text"), str):
            yield value["text"]
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def check_asana(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert isinstance(r["name"], str) and one_line(r["name"])
    assert r["notes"].rstrip().splitlines()[-1] == f"cogny:{ticket.id}"  # the marker stays the last line
    assert r["completed"] is (ticket.status in ("completed", "dismissed"))
    assert r["custom_fields"] == {"1": {"critical": "11", "high": "12", "medium": "13", "low": "14"}[ticket.priority]}
    for item in d.items.values():
        assert isinstance(item["name"], str) and isinstance(item["notes"], str) and isinstance(item["completed"], bool)


CHECKS = {"jira": check_jira, "linear": check_linear, "slack": check_slack, "asana": check_asana}


def parse(raw: dict[str, Any]) -> Ticket:
    try:
        return Ticket.parse(raw)
    except TicketDataError:  # refusing odd data is allowed; rendering it wrongly is not
        assume(False)
        raise


@RENDER
@given(tickets())
def test_every_render_is_a_valid_payload_and_its_hash_is_stable(offline: dict[str, Any], raw: dict[str, Any]) -> None:
    ticket = parse(raw)
    again = Ticket.parse(json.loads(json.dumps(raw)))
    for name, connector in offline.items():
        desired = connector.render(ticket)
        CHECKS[name](desired, ticket)
        assert connector.render(ticket).hash() == desired.hash()
        assert connector.render(again).hash() == desired.hash()  # a JSON round trip changes nothing
        json.dumps(desired.to_json())  # storable as the applied record


@RENDER
@given(tickets())
def test_jira_default_description_template_equals_the_builtin_path(raw: dict[str, Any]) -> None:
    """Without templates JIRA renders the description in Python (`render_description`); the shipped
    default template must give the very same record, whatever the ticket says (hashes in stores)."""
    from syncd.sdk.templates import default_source

    ticket = parse(raw)
    settings_ = dict(url="http://jira.test", token="t", project="G")
    builtin = JiraConnector("jira", JiraSettings(**settings_))
    templated = JiraConnector("jira", JiraSettings(**settings_, template={
        "description": default_source("jira", "description")}))
    assert builtin.render(ticket).to_json() == templated.render(ticket).to_json()


def test_hash_is_the_same_in_another_process(offline: dict[str, Any]) -> None:
    """The applied hash lives in the store: a restart (other hash seed) must compute the same one."""
    raws = generate_tickets(25, seed=3)
    raws[0]["title"] = "Sets must not leak order: " + "".join(MARKUP)
    script = (
        "import json, sys\n"
        "from tests.test_properties import connectors_for\n"
        "from syncd.models import Ticket\n"
        "made = connectors_for({k: 'http://127.0.0.1:9' for k in ('jira', 'slack', 'linear', 'asana')})\n"
        "raws = json.load(sys.stdin)\n"
        "print(json.dumps({n: [c.render(Ticket.parse(r)).hash() for r in raws] for n, c in made.items()}))\n")
    here = {n: [c.render(Ticket.parse(r)).hash() for r in raws] for n, c in offline.items()}
    for seed in ("1", "4242"):
        out = subprocess.run([sys.executable, "-c", script], input=json.dumps(raws), capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, cwd=ROOT, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == here


@pytest.mark.parametrize("where", ["title", "item title"])
@pytest.mark.parametrize("blank", [" \n\t", "\u2028\u3000"], ids=["ascii", "unicode"])
def test_blank_titles_are_refused_or_rendered_non_empty(offline: dict[str, Any], blank: str, where: str) -> None:
    from syncd.sandbox._common.tickets import make_ticket

    raw = make_ticket(title=blank) if where == "title" else make_ticket(action_items=[{"title": blank}])
    try:
        ticket = Ticket.parse(raw)
    except TicketDataError as exc:
        assert "title" in str(exc)
        return
    for name in ("jira", "linear"):
        desired = offline[name].render(ticket)
        texts = [desired.record["summary" if name == "jira" else "title"]]
        texts += [i["summary" if name == "jira" else "title"] for i in desired.items.values()]
        assert all(t.strip() for t in texts), (name, texts)


# -- reconcile is idempotent ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Every sandbox started once for the module, connectors on them, one store (distinct ticket ids)."""
    from syncd.cogny import CognyClient
    from syncd.engine.reconcile import Reconciler
    from syncd.sandbox.asana.sandbox import AsanaSandbox
    from syncd.sandbox.cogny.sandbox import CognySandbox
    from syncd.sandbox.jira.sandbox import JiraSandbox
    from syncd.sandbox.linear.sandbox import LinearSandbox
    from syncd.sandbox.slack.sandbox import SlackSandbox
    from syncd.store.database import Store

    with CognySandbox() as cogny, JiraSandbox() as jira, SlackSandbox() as slack, LinearSandbox() as linear, \
            AsanaSandbox() as asana:
        sbs = {"cogny": cogny, "jira": jira, "slack": slack, "linear": linear, "asana": asana}
        made = connectors_for({n: sb.url for n, sb in sbs.items()}, asana_sb=asana)
        client = CognyClient(f"{cogny.url}/v1", "sk_test_sandbox", policy=POLICY)
        store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('props') / 'syncd.db'}")
        reconciler = Reconciler(store, client, made)
        ids = itertools.count(1)
        try:
            yield SimpleNamespace(sbs=sbs, reconciler=reconciler, cogny=cogny, client=client, ids=ids)
        finally:
            for c in made.values():
                c.close()
            client.close()
            store.close()
            redact.clear()


reasonable_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029"),
                          max_size=80)
reasonable = st.one_of(reasonable_text, st.lists(st.one_of(st.sampled_from(MARKUP[:-4]), reasonable_text),
                                                 max_size=6).map("".join))
reasonable_visible = reasonable.filter(lambda s: s.strip() != "")


@RECONCILE
@given(tickets(title=reasonable_visible, item_title=reasonable_visible))
def test_reconcile_twice_is_reconcile_once(live: SimpleNamespace, raw: dict[str, Any]) -> None:
    raw = {**raw, "id": f"tkt_prop{next(live.ids):06d}"}
    raw["url"] = f"https://app.cogny.com/tickets/{raw['id']}"
    raw["notes"] = raw["notes"] if raw["notes"] is not None else ""
    try:
        Ticket.parse(raw)
    except TicketDataError:
        assume(False)
    live.cogny.add_ticket(raw)  # no subscription: nothing is delivered anywhere
    targets = ["jira", "slack", "linear", "asana"]

    first = live.reconciler.reconcile(Ticket.parse(live.cogny.ticket(raw["id"])), targets)
    assert not first.failed, [(o.connector, o.error) for o in first.outcomes] + [first.error]
    assert {o.action for o in first.outcomes} == {"created"}

    for sb in live.sbs.values():
        sb.log.clear()
    fresh = Ticket.parse(live.cogny.ticket(raw["id"]))  # as the next poll or webhook would see it
    second = live.reconciler.reconcile(fresh, targets)
    assert [o.action for o in second.outcomes] == ["unchanged"] * 4, [(o.connector, o.action, o.error)
                                                                       for o in second.outcomes]
    assert not second.failed and not second.notes_written
    listed = Ticket.parse({k: v for k, v in live.cogny.ticket(raw["id"]).items() if k not in ("notes", "assignee")})
    third = live.reconciler.reconcile(listed, targets)  # the listing's form (no notes) is a no-op too
    assert [o.action for o in third.outcomes] == ["unchanged"] * 4 and not third.notes_written
    writes = [(n, r.method, r.path) for n, sb in live.sbs.items() for r in sb.log.writes()]
    assert writes == [], writes
    notes = live.cogny.ticket(raw["id"])["notes"]
    for label in ("JIRA", "Slack", "Linear", "Asana"):
        assert sum(line.startswith(f"Synced to {label}:") for line in notes.splitlines()) == 1, notes
