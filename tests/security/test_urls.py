"""A ticket's url is data: it reaches markup only through a per-target link function that re-checks it
(finding 4), and a ticket with a bad url is rendered without the link.

`syncd.models` already blanks a bad url when a ticket is parsed; these tests put hostile urls (and
ids) on tickets with `model_copy` to show every renderer is safe on its own, then check the whole
path end to end, and finish with property tests over hostile ids, urls and text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectors.asana as asana
import connectors.jira as jira
import connectors.linear as linear
import connectors.slack as slack
from connectors.asana import render as asana_render
from connectors.jira.text import DESCRIPTION_LIMIT, render_description, source_link, wiki_link
from connectors.linear import render as linear_render
from connectors.slack import render as slack_render
from syncd.models import Ticket, safe_url
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sdk.templates import default_source
from tests.support.config import ENV, jira_settings, write_config
from tests.support.process import run_cli
from tests.support.records import jira_issues

EVIL_JIRA = ("https://x] [~accountid:5b10ac8d82e05b22cc7d4ef5] {html}<img src=x onerror=alert(1)>{html} "
             "[pwn|http://evil.example]")
EVIL_MD = "https://x) [pwn](http://evil.example) <http://evil.example> ![i](http://evil.example/i.png"
EVIL_SLACK = "https://x|<!channel> <http://evil.example|pwn>"
EVIL_URLS = [EVIL_JIRA, EVIL_MD, EVIL_SLACK, 'https://x/"><a href="http://evil.example">',
             "javascript:alert(1)", "https://user:pass@app.cogny.com/tickets/tkt_a", "https://x/a b",
             "https://x/\n[pwn|http://evil]", "http://evil.example" + "/a" * 1600]
# what the shipped JIRA default said before: a user's copy of it must stay safe too
OLD_STYLE = ("{% if ticket.url %}Source: [Cogny ticket {{ ticket.id }}|{{ ticket.url | raw_markup }}]"
             "{% endif %}")


def ticket(**overrides: Any) -> Ticket:
    return Ticket.parse(make_ticket(**overrides))


def with_url(url: str, **overrides: Any) -> Ticket:
    """A ticket carrying `url` unchecked: what a renderer sees if validation is ever bypassed."""
    return ticket(**overrides).model_copy(update={"url": url})


def jira_conn(**kw: Any) -> jira.JiraConnector:
    return jira.JiraConnector("jira", jira.JiraSettings(url="http://jira.test", token="t", project="G", **kw))


def linear_conn(**kw: Any) -> linear.LinearConnector:
    return linear.LinearConnector("linear", linear.LinearSettings(api_key="lin_api_x", team_key="G", **kw))


def asana_conn(**kw: Any) -> asana.AsanaConnector:
    settings = asana.AsanaSettings(token="t", workspace_gid="1", project_gid="2", **kw)
    return asana.AsanaConnector("asana", settings)


def slack_conn(**kw: Any) -> slack.SlackConnector:
    return slack.SlackConnector("slack", slack.SlackSettings(token="xoxb-1", channel="C0GROWTH", **kw))


def urls_in(node: Any) -> list[str]:
    """Every `url` value anywhere in Block Kit blocks."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "url"] + [u for v in node.values() for u in urls_in(v)]
    if isinstance(node, list):
        return [u for v in node for u in urls_in(v)]
    return []


# -- each target, with a hostile url on the ticket -------------------------------------------------------

@pytest.mark.parametrize("url", EVIL_URLS)
def test_jira_renders_a_bad_url_without_the_link(url: str) -> None:
    t = with_url(url)
    templated = [jira_conn(template={"description": source}).render(t).record["description"]
                 for source in (default_source("jira", "description"), OLD_STYLE)]
    for out in [render_description(t), jira_conn().render(t).record["description"], *templated]:
        assert "Source:" not in out and "evil" not in out and "[~" not in out and "{html}" not in out
        assert "[pwn" not in out and "<img" not in out


def test_jira_truncation_tail_links_only_a_checked_url() -> None:
    long = "x" * (DESCRIPTION_LIMIT + 10)
    good = ticket(description=long)
    assert jira_conn().render(good).record["description"].endswith(f"[Cogny ticket|{good.url}])")
    bad = with_url(EVIL_JIRA, description=long)
    out = jira_conn().render(bad).record["description"]
    assert len(out) <= DESCRIPTION_LIMIT and out.endswith("in the Cogny ticket)") and "evil" not in out


def test_wiki_link_escapes_the_text_and_rechecks_the_url() -> None:
    good = "https://app.cogny.com/t/1"
    assert wiki_link("a|b] [~x]", good) == rf"[a\|b\] \[\~x\]|{good}]"
    assert wiki_link("text", EVIL_JIRA) == "" and wiki_link("text", "") == ""


@pytest.mark.parametrize("url", EVIL_URLS)
def test_linear_renders_a_bad_url_without_the_link(url: str) -> None:
    t = with_url(url)
    raw = linear_conn(template={"description": "{{ ticket.url | raw_markup }}"}).render(t).record
    for out in (linear_render.render_description(t), linear_conn().render(t).record["description"],
                raw["description"]):
        assert "Source:" not in out and "evil" not in out and "](" not in out and "<http" not in out


@pytest.mark.parametrize("url", EVIL_URLS)
def test_asana_renders_a_bad_url_without_the_link(url: str) -> None:
    t = with_url(url)
    notes = asana_conn().render(t).record["notes"]
    assert notes == asana_render.render_notes(t) and "Cogny ticket:" not in notes and "evil" not in notes
    assert notes.endswith(f"\n\ncogny:{t.id}")


@pytest.mark.parametrize("url", EVIL_URLS)
def test_slack_renders_a_bad_url_without_the_button(url: str) -> None:
    t = with_url(url, priority="critical")
    conn = slack_conn(mention="<!here>")
    templated = slack_conn(template={"blocks": default_source("slack", "blocks")}).render(t).record["blocks"]
    for blocks in (slack_render.render_blocks(t, None), conn.render(t).record["blocks"], templated):
        assert urls_in(blocks) == [] and "evil" not in json.dumps(blocks)
    assert slack_render.button_url(url) is None


def test_a_good_url_is_linked_once_on_every_target() -> None:
    url = "https://app.cogny.com/tickets/tkt_good_1"
    t = ticket(id="tkt_good_1", url=url)
    assert render_description(t).endswith(rf"Source: [Cogny ticket tkt\_good\_1|{url}]")
    assert linear_render.render_description(t).endswith(rf"Source: [Cogny ticket tkt\_good\_1]({url})")
    assert asana_render.render_notes(t).endswith(f"Cogny ticket: {url}\n\ncogny:tkt_good_1")
    blocks = slack_conn(template={"blocks": default_source("slack", "blocks")}).render(t).record["blocks"]
    assert urls_in(slack_render.render_blocks(t, None)) == urls_in(blocks) == [t.url]


def test_run_once_renders_a_ticket_with_a_hostile_url_without_the_link(tmp_path: Path) -> None:
    bad = make_ticket(url=EVIL_JIRA, title="Hostile url")
    with CognySandbox([bad]) as cogny, JiraSandbox() as sb:
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(sb.url)})
        result = run_cli("run-once", "-c", str(cfg), env=ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        (issue,) = jira_issues(sb, subtasks=False)
        description = issue["description"]
        assert issue["summary"] == "Hostile url" and "Source:" not in description
        assert "[~" not in description and "{html}" not in description and "evil" not in description


# -- properties: hostile ids, urls and text ---------------------------------------------------------------

SYNTAX = list('"\'\\()[]{}|<>!*_~^#+-?.:/=&;@` \t\r\n\x00\x07\x1b\x7f\u2028\u202eé€😀') + [
    "[~accountid:x]", "{html}", "{code}", "[pwn|http", "](", "<!channel>", "<@U1>", "h1. ", "bq. ", "\n1. ",
    " OR "]
text = st.one_of(st.lists(st.sampled_from(SYNTAX + list("abcXYZ019")), max_size=16).map("".join),
                 st.text(max_size=24))
ids = st.one_of(st.from_regex(r"\Atkt_[A-Za-z0-9_-]{1,64}\Z"), text)
urls = st.one_of(
    st.from_regex(r"\Ahttps://app\.cogny\.com/tickets/tkt_[A-Za-z0-9_-]{1,20}\Z"),
    st.builds(lambda tail: "https://app.cogny.com/tickets/tkt_a" + tail, text),
    text,
)
PROPS = settings(max_examples=100)


def hostile_ticket(ticket_id: str, url: str, title: str, body: str) -> Ticket:
    base = ticket(action_items=[{"title": "Item"}], supporting_data={"k": 1})
    items = [base.action_items[0].model_copy(update={"title": title})]
    return base.model_copy(update={"id": ticket_id, "url": url, "title": title or "t", "description": body,
                                   "effort": body, "action_items": items})


def unescaped(markup: str) -> str:
    """`markup` without its backslash escapes: what is left is syntax the target would act on."""
    return re.sub(r"\\.", "", markup, flags=re.S)


def shown(markup: str) -> str:
    """What a reader sees of backslash-escaped text: each escaped character as itself."""
    return re.sub(r"\\(.)", r"\1", markup, flags=re.S)


@PROPS
@given(ticket_id=ids, url=urls, title=text, body=text)
def test_jira_description_holds_no_link_macro_or_mention_but_syncds_own(
        ticket_id: str, url: str, title: str, body: str) -> None:
    t = hostile_ticket(ticket_id, url, title, body)
    out = render_description(t)
    own = source_link(t)
    if safe_url(url):  # the link text reads "Cogny ticket <id>" and holds no markup of its own
        text, _, target = own[1:-1].rpartition("|")
        assert (shown(text), target) == ("Cogny ticket " + ticket_id, safe_url(url))
        assert not re.search(r"[\[\]{}|]", unescaped(text))
    else:
        assert own == ""
    if own:
        assert out.endswith("Source: " + own)
        out = out[:-len(own)]
    assert not re.search(r"[\[\]{}|]", unescaped(out)), out  # no link, macro, mention or table left
    if t.id == ticket_id and re.fullmatch(r"tkt_[A-Za-z0-9_-]{1,64}", ticket_id):
        templated = jira_conn(template={"description": default_source("jira", "description")}).render(t)
        assert templated.record["description"] == render_description(t)


@PROPS
@given(ticket_id=ids, url=urls, title=text, body=text)
def test_markdown_holds_no_link_but_the_tickets_own(ticket_id: str, url: str, title: str, body: str) -> None:
    t = hostile_ticket(ticket_id, url, title, body)
    out = linear_render.render_description(t)
    if safe_url(url):  # the link: its text reads "Cogny ticket <id>", with no markup of its own
        suffix = f"]({safe_url(url)})"
        assert out.endswith(suffix), out
        start = out.rindex("Source: [")
        text = out[start + len("Source: ["):-len(suffix)]
        assert shown(text) == "Cogny ticket " + ticket_id and not re.search(r"[\[\]<>()]", unescaped(text))
        out = out[:start]
    assert not re.search(r"[\[\]<>]", unescaped(out)), out  # no link, image, autolink or HTML left


@PROPS
@given(ticket_id=st.from_regex(r"\Atkt_[A-Za-z0-9_-]{1,64}\Z"), url=urls, title=text, body=text)
def test_slack_and_asana_hold_no_link_but_the_tickets_own(
        ticket_id: str, url: str, title: str, body: str) -> None:
    t = hostile_ticket(ticket_id, url, title, body)
    want = [safe_url(url)] if safe_url(url) and len(url) <= 3000 else []
    templated = slack_conn(template={"blocks": default_source("slack", "blocks")}).render(t).record
    for blocks in (slack_render.render_blocks(t, None), templated["blocks"]):
        assert urls_in(blocks) == want
        mrkdwn = [b["text"]["text"] for b in blocks if b.get("text", {}).get("type") == "mrkdwn"]
        assert not any("<" in m or ">" in m for m in mrkdwn)  # mrkdwn is ours; ticket text is plain_text
    assert not re.search(r"[<>]", slack_render.fallback_text(t, None))  # escaped: no <url|text>, no mention
    notes = asana_render.render_notes(t)
    tail = f"\n\nCogny ticket: {want[0]}\n\ncogny:{ticket_id}" if want else f"\n\ncogny:{ticket_id}"
    assert notes.endswith(tail) and notes.splitlines()[-1] == f"cogny:{ticket_id}"
