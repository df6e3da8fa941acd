"""In-process Slack Web API that the real `slack_sdk.WebClient` talks HTTP to.

Serves `/api/<method>` like slack.com: every method accepts POST (and GET) with arguments in the
query string, a form body or a JSON body; the token comes from `Authorization: Bearer` (or a
`token` argument outside JSON). Errors are HTTP 200 with `{"ok": false, "error": code}`, except
rate limiting: HTTP 429 with `Retry-After` (whole seconds), as Slack answers.

What it models: channels (id → name), top-level messages and thread replies with increasing
`ts` values, Block Kit and argument validation (blocks.py), message `metadata` (returned
by conversations.history/replies only with `include_all_metadata`), conversations.history's
`oldest`/`latest` window (exclusive unless `inclusive`), permalinks, edits, cursor paging, and an
optional per-channel posting rate (`post_rate_per_second`).
"""

from __future__ import annotations

import copy
import math
import random
import string
import time
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.sandbox._common.base import Sandbox, mark_read_only
from syncd.sandbox.slack.blocks import (
    DELETE_ARGS,
    MAX_BLOCKS_TEXT,
    POST_MESSAGE_ARGS,
    UPDATE_ARGS,
    blocks_text_length,
    validate_blocks,
)
from syncd.sandbox.slack.wire import (
    SlackError,
    arguments,
    decode_cursor,
    encode_cursor,
    flag,
    invalid,
    json_arg,
    reject_unknown,
)

TEAM_ID, BOT_USER, BOT_ID, APP_ID = "T0SANDBOX", "U0SYNCDBOT", "B0SYNCDBOT", "A0SYNCD"
MAX_TEXT = 40_000  # Slack: "msg_too_long" beyond 40,000 characters
READ_METHODS = frozenset({"auth.test", "chat.getPermalink", "conversations.history", "conversations.replies",
                          "conversations.info", "conversations.list"})


class SlackSandbox(Sandbox):
    """A faithful stand-in for the parts of Slack's Web API syncd uses."""

    name = "slack"

    def __init__(self, *, tokens: set[str] | None = None, channels: dict[str, str] | None = None,
                 team_url: str = "https://sandbox.slack.com",
                 post_rate_per_second: float | None = None) -> None:
        super().__init__()
        self.tokens = set(tokens) if tokens is not None else {"xoxb-sandbox"}
        self.channels = dict(channels) if channels is not None else {"C0GROWTH": "growth"}
        self.team_url = team_url.rstrip("/")
        self.post_rate_per_second = post_rate_per_second
        self.history_max_limit = 999  # Slack's documented maximum (15 for some non-Marketplace apps)
        self._messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in self.channels}
        self._replies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._edits: dict[tuple[str, str], int] = {}
        self._post_times: dict[str, list[float]] = {}
        self._last_post: dict[str, float] = {}
        self._last_micros = 0
        self._rng = random.Random(0)

    def routes(self) -> list[Any]:
        return [Route("/api/{method}", self._endpoint, methods=["GET", "POST"])]

    # --- helpers for tests (thread-safe, copies) -------------------------------------------------

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of `channel` (id), oldest first, with blocks, text and metadata."""
        with self.lock:
            return copy.deepcopy(self._messages[channel])

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Thread replies under the message `ts`, oldest first (the parent excluded)."""
        with self.lock:
            return copy.deepcopy(self._replies.get((channel, ts), []))

    def edits(self, channel: str, ts: str) -> int:
        """How many times chat.update changed the message `ts`."""
        with self.lock:
            return self._edits.get((channel, ts), 0)

    def post_times(self, channel: str) -> list[float]:
        """time.monotonic() of each accepted chat.postMessage in `channel` (replies included)."""
        with self.lock:
            return list(self._post_times.get(channel, []))

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message (and its thread) as a workspace admin would in the Slack app.

        Later `chat.update` calls for it answer `message_not_found`. (Slack leaves a "This message
        was deleted." tombstone when a thread has replies; the sandbox drops the thread with it.)
        """
        with self.lock:
            self._remove(channel, ts)

    def delete_channel(self, channel: str) -> None:
        """Delete a channel as an admin would: every call naming it answers `channel_not_found`."""
        with self.lock:
            del self.channels[channel]
            del self._messages[channel]

    def add_message(self, channel: str, text: str, *, user: str = "U0HUMAN",
                    metadata: dict[str, Any] | None = None) -> str:
        """Seed a message from someone else (no rate limit, no validation); returns its ts."""
        with self.lock:
            ts = self._next_ts()
            msg: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts, "team": TEAM_ID}
            if metadata is not None:
                msg["metadata"] = copy.deepcopy(metadata)
            self._messages[channel].append(msg)
            return ts

    # --- HTTP --------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        handler = _HANDLERS.get(method)
        if method in READ_METHODS:
            mark_read_only(request)
        try:
            if handler is None:
                raise SlackError("unknown_method", status=404)
            args, is_json = await arguments(request)
            self._authenticate(request, args, is_json)
            args.pop("token", None)
            with self.lock:
                body = handler(self, args)
            return JSONResponse({"ok": True, **body})
        except SlackError as exc:
            return JSONResponse({"ok": False, "error": exc.error, **exc.extra}, status_code=exc.status,
                                headers=exc.headers)

    def _authenticate(self, request: Request, args: dict[str, Any], is_json: bool) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        if token is None and not is_json:  # Slack reads a token argument only outside JSON bodies
            token = args.get("token")
        if not token:
            raise SlackError("not_authed")
        if token not in self.tokens:
            raise SlackError("invalid_auth")

    # --- state -------------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel_id(self, value: Any, *, by_name: bool = False) -> str:
        if isinstance(value, str) and value in self.channels:
            return value
        if by_name and isinstance(value, str):
            wanted = value.lstrip("#")
            for cid, name in self.channels.items():
                if name == wanted:
                    return cid
        raise SlackError("channel_not_found")

    def _message(self, channel: str, ts: Any) -> dict[str, Any]:
        for msg in self._messages[channel]:
            if msg["ts"] == ts:
                return msg
        raise SlackError("message_not_found")

    def _any_message(self, channel: str, ts: Any) -> tuple[dict[str, Any], str | None]:
        """A top-level message or a reply; with the parent ts for replies."""
        for (cid, parent), replies in self._replies.items():
            for reply in replies:
                if cid == channel and reply["ts"] == ts:
                    return reply, parent
        return self._message(channel, ts), None

    def _rate_limit(self, channel: str) -> None:
        if not self.post_rate_per_second:
            return
        gap = 1.0 / self.post_rate_per_second
        now = time.monotonic()
        last = self._last_post.get(channel)
        if last is not None and now - last < gap:
            wait = max(1, math.ceil(gap - (now - last)))
            raise SlackError("ratelimited", status=429, headers={"Retry-After": str(wait)})
        self._last_post[channel] = now

    def _block_id(self) -> str:
        return "".join(self._rng.choice(string.ascii_letters + string.digits) for _ in range(5))

    def _content(self, args: dict[str, Any], *, required: bool) -> dict[str, Any]:
        """Validated text / blocks / metadata from chat.postMessage or chat.update arguments."""
        out: dict[str, Any] = {}
        if "blocks" in args:
            blocks = json_arg(args["blocks"], "invalid_blocks_format")
            problems = validate_blocks(blocks)
            if problems:
                raise invalid("invalid_blocks", problems)
            if blocks_text_length(blocks) > MAX_BLOCKS_TEXT:
                raise SlackError("msg_blocks_too_long")
            out["blocks"] = [{**b, "block_id": b.get("block_id") or self._block_id()} for b in blocks]
        if "text" in args:
            if not isinstance(args["text"], str):
                raise invalid("invalid_arguments", ["text must be a string"])
            if len(args["text"]) > MAX_TEXT:
                raise SlackError("msg_too_long")
            out["text"] = args["text"]
        if required and not out.get("text") and not out.get("blocks") and not args.get("attachments"):
            raise SlackError("no_text")
        if "metadata" in args:
            meta = json_arg(args["metadata"], "invalid_metadata_format")
            if not (isinstance(meta, dict) and isinstance(meta.get("event_type"), str) and meta["event_type"]
                    and isinstance(meta.get("event_payload"), dict)):
                raise SlackError("invalid_metadata_format")
            out["metadata"] = {"event_type": meta["event_type"], "event_payload": meta["event_payload"]}
        return out

    def _view(self, msg: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
        out = copy.deepcopy(msg)
        if not with_metadata:
            out.pop("metadata", None)
        return out

    # --- methods -----------------------------------------------------------------------------------

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"{self.team_url}/", "team": "Sandbox", "user": "syncd", "team_id": TEAM_ID,
                "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}

    def post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        reject_unknown(args, POST_MESSAGE_ARGS)
        channel = self._channel_id(args.get("channel"), by_name=True)
        content = self._content(args, required=True)
        thread_ts = args.get("thread_ts") or None
        parent = self._message(channel, thread_ts) if thread_ts else None
        self._rate_limit(channel)
        msg = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID,
               "text": content.get("text", "This content can't be displayed."), "ts": self._next_ts()}
        msg.update({k: v for k, v in content.items() if k != "text"})
        if parent is not None:
            msg["thread_ts"] = parent["ts"]
            self._replies.setdefault((channel, parent["ts"]), []).append(msg)
            parent.update(thread_ts=parent["ts"], reply_count=parent.get("reply_count", 0) + 1,
                          latest_reply=msg["ts"])
        else:
            self._messages[channel].append(msg)
        self._post_times.setdefault(channel, []).append(time.monotonic())
        return {"channel": channel, "ts": msg["ts"], "message": self._view(msg, False)}

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        reject_unknown(args, UPDATE_ARGS)
        channel = self._channel_id(args.get("channel"))  # chat.update wants the id, not a name
        if not args.get("ts"):
            raise SlackError("message_not_found")
        msg, _ = self._any_message(channel, args["ts"])
        if msg.get("bot_id") != BOT_ID:
            raise SlackError("cant_update_message")
        content = self._content(args, required=True)
        if "blocks" in content:
            msg["blocks"] = content["blocks"]
        elif "text" in content:
            msg.pop("blocks", None)  # Slack: text without blocks removes the blocks
        if "text" in content:
            msg["text"] = content["text"]
        if "metadata" in content:
            msg["metadata"] = content["metadata"]
        msg["edited"] = {"user": BOT_USER, "ts": self._next_ts()}
        self._edits[(channel, msg["ts"])] = self._edits.get((channel, msg["ts"]), 0) + 1
        return {"channel": channel, "ts": msg["ts"], "text": msg["text"], "message": self._view(msg, False)}

    def delete(self, args: dict[str, Any]) -> dict[str, Any]:
        """chat.delete: a bot token deletes only the bot's own messages (`cant_delete_message`)."""
        reject_unknown(args, DELETE_ARGS)
        channel = self._channel_id(args.get("channel"))
        msg = self._message(channel, args.get("ts"))
        if msg.get("bot_id") != BOT_ID:
            raise SlackError("cant_delete_message")
        self._remove(channel, msg["ts"])
        return {"channel": channel, "ts": msg["ts"]}

    def _remove(self, channel: str, ts: str) -> None:
        msg = self._message(channel, ts)
        self._messages[channel].remove(msg)
        self._replies.pop((channel, ts), None)

    def permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(args.get("channel"))
        msg, parent = self._any_message(channel, args.get("message_ts"))
        link = f"{self.team_url}/archives/{channel}/p{msg['ts'].replace('.', '')}"
        if parent is not None:
            link += f"?thread_ts={parent}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(args.get("channel"))
        newest_first = sorted(self._messages[channel], key=lambda m: float(m["ts"]), reverse=True)
        window = [m for m in newest_first if _in_window(m["ts"], args)]
        return self._page(window, args, "messages", 100, self.history_max_limit,
                          lambda m: self._view(m, flag(args.get("include_all_metadata"))))

    def replies_of(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(args.get("channel"))
        try:
            parent = self._message(channel, args.get("ts"))
        except SlackError:
            raise SlackError("thread_not_found") from None
        thread = [parent, *self._replies.get((channel, parent["ts"]), [])]
        return self._page(thread, args, "messages", 1000, 1000,
                          lambda m: self._view(m, flag(args.get("include_all_metadata"))))

    def info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel_object(self._channel_id(args.get("channel")))}

    def list_channels(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._page(sorted(self.channels), args, "channels", 100, 1000, self._channel_object)

    def _channel_object(self, cid: str) -> dict[str, Any]:
        name = self.channels[cid]
        return {"id": cid, "name": name, "name_normalized": name, "is_channel": True, "is_private": False,
                "is_archived": False, "is_member": True, "created": 1_700_000_000}

    def _page(self, items: list[Any], args: dict[str, Any], key: str, default: int, maximum: int,
              view: Callable[[Any], Any]) -> dict[str, Any]:
        """Cursor paging: the cursor is base64("offset:<n>"), opaque to clients as Slack's are."""
        try:
            limit = min(max(int(args.get("limit") or default), 1), maximum)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        start = decode_cursor(args.get("cursor"))
        chunk = items[start:start + limit]
        more = start + limit < len(items)
        out: dict[str, Any] = {key: [view(item) for item in chunk], "has_more": more}
        out["response_metadata"] = {"next_cursor": encode_cursor(start + limit) if more else ""}
        return out


def _in_window(ts: str, args: dict[str, Any]) -> bool:
    """Whether a message is between `oldest` and `latest` (Slack: exclusive unless `inclusive`)."""
    oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or "inf")
    if flag(args.get("inclusive")):
        return oldest <= float(ts) <= latest
    return oldest < float(ts) < latest


_HANDLERS: dict[str, Callable[[SlackSandbox, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": SlackSandbox.auth_test,
    "chat.postMessage": SlackSandbox.post_message,
    "chat.update": SlackSandbox.update,
    "chat.delete": SlackSandbox.delete,
    "chat.getPermalink": SlackSandbox.permalink,
    "conversations.history": SlackSandbox.history,
    "conversations.replies": SlackSandbox.replies_of,
    "conversations.info": SlackSandbox.info,
    "conversations.list": SlackSandbox.list_channels,
}
