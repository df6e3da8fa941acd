"""Slack connector against the Slack sandbox, over real HTTP through the real slack-sdk.

Each test drives `SlackConnector` (or the engine with it) and asserts on what the sandbox stored
or recorded; tests/sandbox/test_slack.py shows the sandbox refuses what Slack would.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.error import URLError

import pytest
from pydantic import ValidationError
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryState

from connectors.slack import SlackConnector, SlackSettings
from connectors.slack.client import ChannelPacer, PolicyRetryHandler
from syncd.errors import ConnectorError
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.slack.sandbox import SlackSandbox
from tests.support.engine import engine, reconcile

TOKEN = "xoxb-sandbox"
CHANNEL = "C0GROWTH"
FAST = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, timeout=10)


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox() as sb:
        yield sb  # type: ignore[misc]


def connector(sb: SlackSandbox, **overrides: Any) -> SlackConnector:
    settings = SlackSettings(**{"token": TOKEN, "channel": CHANNEL, "base_url": f"{sb.url}/api/",
                                **overrides})
    return SlackConnector("slack", settings, policy=FAST)


def ticket(**overrides: Any) -> Ticket:
    return Ticket.parse(make_ticket(**overrides))


def calls(sb: SlackSandbox, method: str) -> list[Any]:
    return [r for r in sb.log.all() if r.path == f"/api/{method}"]


def texts(blocks: list[dict[str, Any]], kind: str) -> list[str]:
    """Every text object of type `kind` in the blocks (header, section text/fields, context, buttons)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == kind and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


# -- connector --------------------------------------------------------------------------------------

def test_create_posts_one_message_with_blocks_fallback_and_metadata(slack: SlackSandbox) -> None:
    conn, t = connector(slack), ticket()
    ref = conn.create(t, conn.render(t))

    [msg] = slack.messages(CHANNEL)
    assert ref.id == f"{CHANNEL}:{msg['ts']}" and ref.key == msg["ts"]
    assert ref.url == f"https://sandbox.slack.com/archives/{CHANNEL}/p{msg['ts'].replace('.', '')}"
    assert msg["metadata"] == {"event_type": "cogny_ticket", "event_payload": {"ticket_id": t.id}}
    assert msg["text"].startswith("Optimize Mobile Checkout Flow") and "+25.9% conversion rate" in msg["text"]
    assert msg["blocks"][0] == {"type": "header", "block_id": msg["blocks"][0]["block_id"],
                                "text": {"type": "plain_text", "text": "Optimize Mobile Checkout Flow"}}
    plain = texts(msg["blocks"], "plain_text")
    assert "+25.9% conversion_rate" in plain and "Medium" in plain and "View ticket" in plain
    assert "⬜ Implement one-click checkout for returning users\n⬜ Reduce form fields from 12 to 6" in plain
    [button] = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["url"] == t.url
    [post] = calls(slack, "chat.postMessage")
    assert post.headers["content-type"].startswith("application/json")  # slack-sdk sends blocks as JSON
    assert len(slack.log.writes()) == 1


def test_render_is_pure_and_its_hash_stable(slack: SlackSandbox) -> None:
    t = ticket()
    first = connector(slack, channel="#growth").render(t)
    again = connector(slack, channel="#growth").render(t)
    assert first.to_json() == again.to_json() and first.hash() == again.hash()
    assert first.items == {}
    assert len(slack.log) == 0  # no I/O, not even channel resolution
    done = connector(slack).render(ticket(id=t.id, status="completed"))
    assert done.hash() != first.hash()
    assert texts(done.record["blocks"], "plain_text")[0].startswith("✅ ")
    plain = texts(done.record["blocks"], "plain_text")
    assert "✅ Implement one-click checkout for returning users" in plain[-3]


def test_update_edits_the_same_message_and_a_status_change_replies_once(slack: SlackSandbox,
                                                                        tmp_path: Path) -> None:
    rec = engine(tmp_path, connector(slack))
    t = ticket()
    assert reconcile(rec, t, ["slack"]).outcomes[0].action == "created"
    [msg] = slack.messages(CHANNEL)
    slack.log.clear()
    assert reconcile(rec, t, ["slack"]).outcomes[0].action == "unchanged"
    assert len(slack.log) == 0

    assert reconcile(rec, ticket(id=t.id, title="Optimize Mobile Checkout"),
                     ["slack"]).outcomes[0].action == "updated"
    assert slack.edits(CHANNEL, msg["ts"]) == 1 and slack.replies(CHANNEL, msg["ts"]) == []

    done = ticket(id=t.id, title="Optimize Mobile Checkout", status="completed")
    assert reconcile(rec, done, ["slack"]).outcomes[0].action == "updated"
    assert reconcile(rec, done, ["slack"]).outcomes[0].action == "unchanged"
    [only] = slack.messages(CHANNEL)
    assert only["ts"] == msg["ts"] and slack.edits(CHANNEL, msg["ts"]) == 2
    [reply] = slack.replies(CHANNEL, msg["ts"])
    assert reply["text"] == "Status changed: Open → Completed" and reply["thread_ts"] == msg["ts"]
    assert only["blocks"][0]["text"]["text"] == "✅ Optimize Mobile Checkout"
    assert "Completed" in texts(only["blocks"], "plain_text")
    assert len(calls(slack, "chat.postMessage")) == 1  # since the create: the one reply, nothing else


def test_user_text_is_escaped_and_never_formats_or_pings(slack: SlackSandbox) -> None:
    conn = connector(slack)
    t = ticket(title="<!channel> & <script> *now*", description="<@U123> *bold* _it_ ~s~ `code` <https://x|y>",
               action_items=[{"title": "<!here> do it"}])
    conn.create(t, conn.render(t))
    [msg] = slack.messages(CHANNEL)
    stored = json.dumps({"text": msg["text"], "blocks": msg["blocks"]}, ensure_ascii=False)
    assert "&lt;!channel&gt; &amp; &lt;script&gt;" in stored
    for raw in ("<!channel>", "<script>", "<@U123>", "<!here>", "<https://x"):
        assert raw not in stored
    assert not set("*_~`") & set(msg["text"])  # the mrkdwn fallback cannot format either
    # user text lives only in plain_text objects; mrkdwn carries nothing but our own labels
    assert all(text.startswith("*") and "&" not in text for text in texts(msg["blocks"], "mrkdwn"))
    assert "&lt;@U123&gt; *bold* _it_ ~s~ `code` &lt;https://x|y&gt;" in texts(msg["blocks"], "plain_text")


def test_mention_only_for_critical_tickets(slack: SlackSandbox) -> None:
    conn = connector(slack, mention="<!subteam^S123>")
    for t in (ticket(priority="critical"), ticket(priority="high")):
        conn.create(t, conn.render(t))
    critical, high = slack.messages(CHANNEL)
    assert critical["text"].startswith("<!subteam^S123> ")
    assert critical["blocks"][0]["text"] == {"type": "mrkdwn",
                                             "text": "<!subteam^S123> critical growth ticket"}
    assert "subteam" not in json.dumps(high)


def test_find_recovers_the_message_by_metadata_after_the_link_is_lost(slack: SlackSandbox,
                                                                      tmp_path: Path) -> None:
    t = ticket()
    assert reconcile(engine(tmp_path, connector(slack)), t, ["slack"]).outcomes[0].action == "created"
    [original] = slack.messages(CHANNEL)
    for i in range(250):  # newer chatter: more than one history page (200) sits above our message
        decoy = {"event_type": "other_app", "event_payload": {"ticket_id": t.id}} if i % 50 == 0 else None
        slack.add_message(CHANNEL, f"chatter {i}", metadata=decoy)

    conn = connector(slack)
    slack.log.clear()
    ref = conn.find(t)
    assert ref is not None and ref.key == original["ts"] and ref.id == f"{CHANNEL}:{original['ts']}"
    history = calls(slack, "conversations.history")
    assert len(history) == 2 and all(b"include_all_metadata=1" in r.body for r in history)
    assert conn.find(ticket()) is None
    assert connector(slack, history_limit=100).find(t) is None  # bounded: only the newest 100 are read

    result = reconcile(engine(tmp_path, connector(slack), db="lost.db"), t, ["slack"])  # a lost store
    assert result.outcomes[0].action == "updated"
    assert len(slack.messages(CHANNEL)) == 251 and slack.edits(CHANNEL, original["ts"]) == 1


def test_channel_given_by_name_is_resolved_once(slack: SlackSandbox) -> None:
    conn = connector(slack, channel="#growth")
    for t in (ticket(), ticket()):
        conn.create(t, conn.render(t))
    assert len(slack.messages(CHANNEL)) == 2
    assert len(calls(slack, "conversations.list")) == 1
    missing = connector(slack, channel="#nowhere")
    with pytest.raises(ConnectorError) as err:
        missing.find(ticket())
    assert err.value.code == "channel_not_found"


def test_invalid_token_gives_the_slack_code_and_never_the_token(slack: SlackSandbox) -> None:
    secret = "xoxb-not-the-right-one-4242"
    conn = connector(slack, token=secret)
    with pytest.raises(ConnectorError) as err:
        conn.create(ticket(), conn.render(ticket()))
    assert err.value.code == "invalid_auth" and "check `token`" in str(err.value)
    assert secret not in str(err.value) and secret not in repr(err.value)
    [check] = conn.check()
    assert not check.ok and secret not in check.detail
    assert slack.messages(CHANNEL) == []


def test_check_reports_credentials_and_channel(slack: SlackSandbox) -> None:
    checks = connector(slack, channel="growth").check()
    assert [(c.name, c.ok) for c in checks] == [("slack credentials", True), ("slack channel growth", True)]
    assert checks[1].detail == "#growth (C0GROWTH)"


def test_a_429_is_retried_after_retry_after() -> None:
    with SlackSandbox(post_rate_per_second=0.5) as sb:  # one post per 2 s; the connector paces at 1 s
        conn = connector(sb)
        for t in (ticket(), ticket()):
            conn.create(t, conn.render(t))
        assert [r.status for r in calls(sb, "chat.postMessage")] == [200, 429, 200]
        assert len(sb.messages(CHANNEL)) == 2  # the refused call was not applied, the retry was
        first, second = sb.post_times(CHANNEL)
        assert second - first >= 1.9  # waited for Retry-After instead of failing


def test_posts_are_paced_to_one_per_second_per_channel(slack: SlackSandbox) -> None:
    conn = connector(slack)
    tickets = [ticket() for _ in range(3)]
    desired = [conn.render(t) for t in tickets]
    threads = [threading.Thread(target=conn.create, args=(t, d)) for t, d in zip(tickets, desired)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=15)
    times = slack.post_times(CHANNEL)
    assert len(times) == 3
    assert all(b - a >= 0.9 for a, b in zip(times, times[1:]))  # measured spacing, not speed
    assert times[-1] - times[0] >= 1.8


def test_pacer_keeps_channels_apart() -> None:
    now = [100.0]
    slept: list[float] = []
    pacer = ChannelPacer(1.0, clock=lambda: now[0], sleep=slept.append)
    assert [pacer.wait("C1"), pacer.wait("C1"), pacer.wait("C2"), pacer.wait("C1")] == [0.0, 1.0, 0.0, 2.0]
    assert slept == [1.0, 2.0]


@pytest.mark.parametrize("method, status, headers, error, retried, wait", [
    ("chat.postMessage", 429, {"Retry-After": ["7"]}, None, True, 7.0),
    ("chat.postMessage", 500, {}, None, False, None),           # may have been applied: no blind retry
    ("conversations.history", 500, {}, None, True, None),       # a read: retried with backoff
    ("chat.postMessage", None, {}, URLError(ConnectionRefusedError()), True, None),  # never sent
    ("chat.postMessage", None, {}, TimeoutError(), False, None),
    ("chat.postMessage", 200, {}, None, False, None),
])
def test_retry_handler_asks_the_shared_policy(method: str, status: int | None, headers: dict[str, list[str]],
                                              error: Exception | None, retried: bool,
                                              wait: float | None) -> None:
    slept: list[float] = []
    handler = PolicyRetryHandler(RetryPolicy(max_attempts=3, backoff=0.01), sleep=slept.append)
    request = HttpRequest(method="POST", url=f"https://slack.com/api/{method}", headers={})
    response = HttpResponse(status_code=status, headers=headers) if status else None
    state = RetryState()
    assert handler.can_retry(state=state, request=request, response=response, error=error) is retried
    if retried:
        handler.prepare_for_next_attempt(state=state, request=request, response=response, error=error)
        assert state.current_attempt == 1 and len(slept) == 1
        assert wait is None or slept == [wait]
    state.current_attempt = 2  # the third attempt was the last one the policy allows
    assert handler.can_retry(state=state, request=request, response=response, error=error) is False


def test_settings_are_checked() -> None:
    base = {"token": TOKEN, "channel": "#growth"}
    assert SlackSettings(**base).channel == "growth"
    assert SlackSettings(**base, base_url="http://127.0.0.1:1/api").base_url == "http://127.0.0.1:1/api/"
    for bad in ({"colour": "red"}, {"mention": "@team"}, {"token": "secret"}, {"channel": "#"}):
        with pytest.raises(ValidationError):
            SlackSettings(**{**base, **bad})


def test_a_token_in_the_wrong_key_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as err:
        SlackSettings(token=TOKEN, channel="growth", base_url="xoxb-swapped-secret-77")
    assert not [e for e in err.value.errors() if "xoxb-swapped-secret-77" in e["msg"]]  # what config prints
