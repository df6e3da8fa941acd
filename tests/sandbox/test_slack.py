"""The Slack sandbox refuses what Slack would, driven by `slack_sdk.WebClient` directly."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from syncd.sandbox import specs
from syncd.sandbox.slack.blocks import POST_MESSAGE_ARGS, UPDATE_ARGS
from syncd.sandbox.slack.sandbox import SlackSandbox

TOKEN = "xoxb-sandbox"
CHANNEL = "C0GROWTH"


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox() as sb:
        yield sb


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as err:
        call()
    return dict(err.value.response.data)


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def button(**extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": "Go"}, **extra}


@pytest.mark.parametrize("blocks, pointer", [
    ([header("x" * 151)], "/blocks/0/text/text"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "hi"}}], "/blocks/0/text/type"),
    ([{"type": "banner", "text": "hi"}], "/blocks/0/type"),
    ([{"type": "divider"}] * 51, "/blocks"),
    ([{"type": "section"}], "/blocks/0"),
    ([{"type": "section", "text": {"type": "plain_text", "text": "x" * 3001}}], "/blocks/0/text/text"),
    ([{"type": "actions", "elements": [button(url="https://x/" + "a" * 3000)]}], "/blocks/0/elements/0/url"),
    ([{"type": "actions", "elements": [button(action_id="a"), button(action_id="a")]}],
     "/blocks/0/elements/1/action_id"),
])
def test_bad_blocks_are_rejected_with_a_pointer(slack: SlackSandbox, blocks: list[Any], pointer: str) -> None:
    client = WebClient(token=TOKEN, base_url=f"{slack.url}/api/")
    data = error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="fallback", blocks=blocks))
    assert data["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in e for e in data["errors"])
    assert slack.messages(CHANNEL) == []


def test_bad_arguments_are_rejected_and_forms_accepted(slack: SlackSandbox) -> None:
    client = WebClient(token=TOKEN, base_url=f"{slack.url}/api/")
    post = lambda **kw: client.api_call("chat.postMessage", json={"channel": CHANNEL, **kw})  # noqa: E731
    assert error_of(lambda: post(text="hi", colour="red"))["error"] == "invalid_arguments"
    assert error_of(lambda: post())["error"] == "no_text"
    assert error_of(lambda: post(text="x" * 40_001))["error"] == "msg_too_long"
    assert error_of(lambda: post(text="hi",
                                 metadata={"event_payload": {}}))["error"] == "invalid_metadata_format"
    assert error_of(lambda: WebClient(base_url=f"{slack.url}/api/").auth_test())["error"] == "not_authed"

    form = client.api_call("chat.postMessage", data={"channel": "#growth", "text": "hi",
                                                     "blocks": json.dumps([header("Form")])})
    assert form["channel"] == CHANNEL  # a name works for posting, as on Slack
    ts = form["ts"]
    update = lambda **kw: client.api_call("chat.update", json={"ts": ts, "text": "x", **kw})  # noqa: E731
    assert error_of(lambda: update(channel=CHANNEL, unfurl_links=True))["error"] == "invalid_arguments"
    assert error_of(lambda: update(channel="growth"))["error"] == "channel_not_found"  # update needs the id
    assert error_of(lambda: update(channel=CHANNEL, ts="1.000001"))["error"] == "message_not_found"
    human = slack.add_message(CHANNEL, "from a person")
    assert error_of(lambda: update(channel=CHANNEL, ts=human))["error"] == "cant_update_message"
    assert float(human) > float(ts)  # ts values increase


def test_metadata_is_returned_only_when_asked(slack: SlackSandbox) -> None:
    client = WebClient(token=TOKEN, base_url=f"{slack.url}/api/")
    meta = {"event_type": "cogny_ticket", "event_payload": {"ticket_id": "tkt_1"}}
    client.chat_postMessage(channel=CHANNEL, text="hi", metadata=meta)
    assert "metadata" not in client.conversations_history(channel=CHANNEL)["messages"][0]
    assert client.conversations_history(channel=CHANNEL,
                                        include_all_metadata=True)["messages"][0]["metadata"] == meta


def test_argument_lists_match_the_spec() -> None:
    paths = specs.document(specs.SLACK)["paths"]

    def params(path: str) -> set[str]:
        return {p["name"] for p in paths[path]["post"]["parameters"]}

    assert POST_MESSAGE_ARGS == params("/chat.postMessage") | {"metadata"}  # metadata: newer than the spec
    assert UPDATE_ARGS == params("/chat.update") | {"metadata"}
