"""The Slack sandbox's conversations.history window and its cap on a message's text in blocks."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from syncd.sandbox.slack.sandbox import SlackSandbox

TOKEN = "xoxb-sandbox"
CHANNEL = "C0GROWTH"


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox() as sb:
        yield sb


def section(n: int) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "x" * n}}


def test_latest_and_oldest_are_exclusive_unless_inclusive(slack: SlackSandbox) -> None:
    client = WebClient(token=TOKEN, base_url=f"{slack.url}/api/")
    a, b, c = (slack.add_message(CHANNEL, text) for text in ("a", "b", "c"))

    def texts(**kw: Any) -> list[str]:
        return [m["text"] for m in client.conversations_history(channel=CHANNEL, **kw)["messages"]]

    assert texts(latest=b) == ["a"] and texts(oldest=b) == ["c"]
    assert texts(latest=b, inclusive=True) == ["b", "a"] and texts(oldest=b, inclusive=True) == ["c", "b"]
    assert texts(latest=b, oldest=b, inclusive=True, limit=1) == ["b"]
    assert texts(latest=c, oldest=a) == ["b"]
    slack.delete_message(CHANNEL, b)
    assert texts(latest=b, oldest=b, inclusive=True) == []


def test_blocks_with_more_than_12000_characters_of_text_are_msg_blocks_too_long(slack: SlackSandbox) -> None:
    client = WebClient(token=TOKEN, base_url=f"{slack.url}/api/")
    client.chat_postMessage(channel=CHANNEL, text="fits", blocks=[section(3000)] * 4)  # exactly 12,000
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel=CHANNEL, text="too long", blocks=[section(3000)] * 4 + [section(1)])
    assert err.value.response["error"] == "msg_blocks_too_long"
    [kept] = slack.messages(CHANNEL)
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel=CHANNEL, ts=kept["ts"], text="x", blocks=[section(3000)] * 5)
    assert err.value.response["error"] == "msg_blocks_too_long"
    assert slack.edits(CHANNEL, kept["ts"]) == 0
