"""Slack: one Block Kit message per ticket in one channel, through `slack_sdk.WebClient`.

Where a Slack value comes from, in one place: header ← title (prefixed ✅/🚫 once completed /
dismissed); facts ← category, priority, `ticket.impact_line`, effort, status; checklist ← action
items (✅/⬜); "View ticket" button ← ticket url; the fallback `text` ← the same in one line;
`mention` ← prepended for critical tickets only. There are no child records: the checklist lives
inside the message. A changed ticket edits the same message (chat.update); a status change also
posts one reply in the message's thread.

Marker: message `metadata` {"event_type": "cogny_ticket", "event_payload": {"ticket_id": ...}}, the
checked ticket id alone; `find` reads the newest `history_limit` messages with
`include_all_metadata` and takes only a message whose marker names exactly this ticket.

Ticket text is user content. In blocks it only goes into plain_text objects (no formatting, no
mentions, no links) escaped for `&`, `<`, `>` as Slack asks; the mrkdwn fallback text is escaped
the same way and its formatting characters (* _ ~ `) are swapped for look-alikes. The ticket's
url reaches a message only through `button_url`, which re-checks it (`safe_url`).

Pacing: Slack allows about one message per second per channel, so posts reserve a per-channel slot
(`ChannelPacer`); 429 answers are retried after `Retry-After` by `PolicyRetryHandler`, which asks
the shared `syncd.http.RetryPolicy` — one retry policy for every client.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from typing import Any, Callable, Literal

import structlog
from pydantic import Field, SecretStr, field_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from connectors.slack.client import (
    POST_INTERVAL,
    ChannelPacer,
    PolicyRetryHandler,
    api_error,
)
from syncd.http import RetryPolicy
from syncd.sdk import (
    Check,
    ConnectorError,
    Desired,
    ExternalRef,
    MappingSettings,
    Raw,
    Renderer,
    Ticket,
    TicketDataError,
    http_url,
    identity,
    json_string,
    register_secret,
    render,
    safe_url,
)

log = structlog.get_logger("syncd.connectors.slack")
EVENT_TYPE = "cogny_ticket"
HISTORY_PAGE = 200           # messages asked per conversations.history page
MAX_PAGES = 100              # hard bound on any paging loop (Slack may return 15 per page)
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
MENTION = re.compile(r"^<(?:!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+|!here|!channel|!everyone)>$")
STATUS_LABELS = {"open": "Open", "in_progress": "In progress", "completed": "Completed", "dismissed": "Dismissed"}
STATUS_ICONS = {"completed": "✅ ", "dismissed": "🚫 "}


class SlackSettings(MappingSettings):
    token: SecretStr = Field(description="bot token (xoxb-…)")
    channel: str = Field(description="channel id (C0123…) or name (#growth / growth)")
    base_url: str = "https://slack.com/api/"
    mention: str | None = Field(None, description="prepended for critical tickets, e.g. <!subteam^S123>")
    history_limit: int = Field(1000, ge=1, le=10_000, description="newest messages `find` reads")
    template: dict[Literal["text", "blocks"], str] = Field(
        default_factory=dict, description="text: mrkdwn fallback; blocks: Block Kit JSON (a list of blocks)")
    assignee_map: dict[str, str] = Field(default_factory=dict, description="Cogny user id -> Slack user id (U…)")

    @field_validator("assignee_map")
    @classmethod
    def _user_ids(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(uid for uid in v.values() if not USER_ID.match(uid))
        if bad:
            raise ValueError(f"Slack user ids look like U0123ABC, got {bad}")
        return v

    @field_validator("token")
    @classmethod
    def _token(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith("xox"):
            raise ValueError("must be a Slack token (xoxb-…)")
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        v = v.strip()
        if not v.lstrip("#"):
            raise ValueError("must be a channel id like C0123ABC or a name like #growth")
        return v if CHANNEL_ID.match(v) else v.lstrip("#")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v) + "/"  # slack-sdk joins method names onto it

    @field_validator("mention")
    @classmethod
    def _mention(cls, v: str | None) -> str | None:
        if v is not None and not all(MENTION.match(part) for part in v.split()):
            raise ValueError("use Slack mention syntax: <!subteam^S0123>, <@U0123>, <!here> or <!channel>")
        return v or None


class SlackConnector:
    type = "slack"
    label = "Slack"
    Settings = SlackSettings

    def __init__(self, name: str, settings: SlackSettings, *, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.pacer = ChannelPacer(POST_INTERVAL, sleep=sleep)
        self._sleep = sleep
        self._client: Any = None
        self._channel_id: str | None = None
        self._client_lock = threading.Lock()
        self._channel_lock = threading.Lock()
        register_secret(settings.token.get_secret_value())
        self.templates = Renderer("slack", settings.template, {
            "text": (inert_mrkdwn, identity), "blocks": (inert_mrkdwn, json_string)})

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        s = self.settings
        mention = s.mention if ticket.priority == "critical" else None
        _, assignee = s.assignee(ticket)
        # `source_link`: the checked url, for a button's `url` (a template never gets a raw one)
        ctx = render.checked_context(s.template_context(
            ticket, title=_title(ticket), mention=mention, source_link=Raw(button_url(ticket.url) or ""),
            assignee_mention=f"<@{assignee}>" if assignee else None))
        marker = {"ticket_id": render.checked_id(ticket.id)}  # the id alone names the message
        record = {
            "text": self._text(ticket, ctx, mention),
            "blocks": self._blocks(ticket, ctx, mention, assignee),
            "metadata": {"event_type": EVENT_TYPE, "event_payload": marker},
            "status": ticket.status,
        }
        return Desired(record, {})

    def _text(self, ticket: Ticket, ctx: dict[str, Any], mention: str | None) -> str:
        if not self.templates.has("text"):
            return fallback_text(ticket, mention)
        text = clip(self.templates.render("text", ctx).strip(), 3000)
        return f"{mention} {text}" if mention else text

    def _blocks(self, ticket: Ticket, ctx: dict[str, Any], mention: str | None,
                assignee: str | None) -> list[dict[str, Any]]:
        if not self.templates.has("blocks"):
            blocks = render_blocks(ticket, mention)
            if assignee:  # validated user id: the mention is ours, not ticket text
                blocks.insert(-1, {"type": "section", "text": {"type": "mrkdwn", "text": f"Assignee: <@{assignee}>"}})
            return blocks
        source = self.templates.render("blocks", ctx)
        try:
            blocks = json.loads(source)
        except ValueError as exc:
            raise TicketDataError(f"slack.template.blocks: not JSON: {exc}") from None
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise TicketDataError("slack.template.blocks: must render a JSON list of block objects")
        return blocks

    # -- reading ---------------------------------------------------------------------------
    def find(self, ticket: Ticket) -> ExternalRef | None:
        ticket_id, channel = render.checked_id(ticket.id), self._channel()
        matches: list[str] = []
        cursor, seen = None, 0
        for _ in range(MAX_PAGES):
            want = min(HISTORY_PAGE, self.settings.history_limit - seen)
            page = self._call("read channel history", lambda c: c.conversations_history(
                channel=channel, include_all_metadata=True, limit=want, cursor=cursor))
            messages = page.get("messages") or []
            seen += len(messages)
            matches += [m["ts"] for m in messages if _marker(m) == ticket_id]  # exactly this ticket
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor or not messages or seen >= self.settings.history_limit:
                break
        if not matches:
            return None
        ts = min(matches, key=float)  # several: the oldest one is the original
        if len(matches) > 1:
            log.warning("several messages carry the marker; using the oldest", ticket=ticket.id, ts=matches)
        return self._ref(channel, ts, None)

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        return {}

    # -- writing ---------------------------------------------------------------------------
    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        channel = self._channel()
        rec = desired.record
        answer = self._post(channel, "post message", text=rec["text"], blocks=rec["blocks"],
                            metadata=rec["metadata"])
        log.info("slack message posted", channel=answer["channel"], ts=answer["ts"])
        return self._ref(answer["channel"], answer["ts"], None)

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired, previous: Desired | None) -> ExternalRef:
        channel, ts = _split(ref)
        rec = desired.record
        self._call("update message", lambda c: c.chat_update(
            channel=channel, ts=ts, text=rec["text"], blocks=rec["blocks"], metadata=rec["metadata"]))
        log.info("slack message updated", channel=channel, ts=ts)
        new_ref = self._ref(channel, ts, ref.url)
        old = previous.record.get("status") if previous else None
        if old is not None and old != rec["status"]:
            self._post(channel, "post status reply", thread_ts=ts, text=status_reply(old, rec["status"]))
            log.info("slack status reply posted", channel=channel, thread_ts=ts, status=rec["status"])
        return new_ref

    def create_items(self, ref: ExternalRef, ticket: Ticket, items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        return {}  # the checklist is part of the message itself

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        raise NotImplementedError("Slack messages have no child records")

    def check(self) -> list[Check]:
        try:
            me = self._call("auth.test", lambda c: c.auth_test())
            checks = [Check("slack credentials", True, f"authenticated as {me.get('user')} in {me.get('team')}")]
        except ConnectorError as exc:
            return [Check("slack credentials", False, str(exc), "check `token` (a bot token, xoxb-…)")]
        name = f"slack channel {self.settings.channel}"
        try:
            channel = self._channel()
            info = self._call("channel info", lambda c: c.conversations_info(channel=channel))["channel"]
            member = bool(info.get("is_member", True))
            detail = f"#{info.get('name')} ({channel})" + ("" if member else ": the bot is not a member")
            checks.append(Check(name, member, detail, "invite the bot: /invite @<your app> in the channel"))
        except ConnectorError as exc:
            checks.append(Check(name, False, str(exc), "check `channel` (C0123… or #name) and the bot's scopes"))
        return checks

    def close(self) -> None:
        self._client = None  # urllib-based: no pooled connections to release

    # -- plumbing --------------------------------------------------------------------------
    def _post(self, channel: str, what: str, **kwargs: Any) -> Any:
        self.pacer.wait(channel)
        return self._call(what, lambda c: c.chat_postMessage(channel=channel, **kwargs))

    def _ref(self, channel: str, ts: str, url: str | None) -> ExternalRef:
        if url is None:
            answer = self._call("get permalink", lambda c: c.chat_getPermalink(channel=channel, message_ts=ts))
            url = answer["permalink"]
        return ExternalRef(f"{channel}:{ts}", ts, url)

    def _channel(self) -> str:
        """The channel id; a name is resolved once with conversations.list and cached."""
        with self._channel_lock:
            if self._channel_id is None:
                self._channel_id = self._resolve(self.settings.channel)
            return self._channel_id

    def _resolve(self, channel: str) -> str:
        if CHANNEL_ID.match(channel):
            return channel
        cursor = None
        for _ in range(MAX_PAGES):
            page = self._call("list channels", lambda c: c.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor))
            for conv in page.get("channels") or []:
                if conv.get("name") == channel:
                    return str(conv["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        raise ConnectorError("slack", f"channel #{channel} not found: check `channel` and that the bot can see it",
                             code="channel_not_found")

    def _web(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = WebClient(
                    token=self.settings.token.get_secret_value(), base_url=self.settings.base_url,
                    timeout=math.ceil(self.policy.timeout),
                    retry_handlers=[PolicyRetryHandler(self.policy, sleep=self._sleep)])
            return self._client

    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        try:
            return fn(self._web())
        except SlackApiError as exc:
            raise api_error(exc, what) from None
        except (SlackClientError, OSError) as exc:  # URLError, timeouts, refused connections
            raise ConnectorError("slack", f"{what}: {type(exc).__name__}", retryable=True) from None


def _marker(message: dict[str, Any]) -> str | None:
    meta = message.get("metadata") or {}
    if meta.get("event_type") != EVENT_TYPE:
        return None
    return (meta.get("event_payload") or {}).get("ticket_id")


def _split(ref: ExternalRef) -> tuple[str, str]:
    channel, _, ts = ref.id.partition(":")
    if not channel or not ts:
        raise ConnectorError("slack", f"bad message reference {ref.id!r} (want <channel>:<ts>)")
    return channel, ts


# -- rendering helpers (pure) ---------------------------------------------------------------------

_LOOKALIKES = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})


def escape(text: str) -> str:
    """Slack's three control characters as entities; nothing else (Slack decodes only these)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert_mrkdwn(text: str) -> str:
    """User text for a mrkdwn field: escaped, and * _ ~ ` swapped for look-alikes (mrkdwn has no escape)."""
    return escape(text).translate(_LOOKALIKES)


def button_url(url: str | None) -> str | None:
    """A button's `url`: the link re-checked (`safe_url`) and within Slack's 3,000 characters, else None."""
    checked = safe_url(str(url or ""))
    return checked if checked and len(checked) <= 3000 else None


def clip(escaped: str, limit: int) -> str:
    """Shorten escaped text to `limit` characters without cutting an entity in half."""
    if len(escaped) <= limit:
        return escaped
    cut = escaped[:limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"



def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _human(value: str) -> str:
    return value.replace("_", " ").strip().capitalize() or "—"


def _status_label(status: str) -> str:
    return STATUS_LABELS.get(status, _human(status))


def _facts(ticket: Ticket) -> list[tuple[str, str]]:
    return [("Category", _human(ticket.category)), ("Priority", _human(ticket.priority)),
            ("Estimated impact", ticket.impact_line or "not estimated"),
            ("Effort", _human(ticket.effort) if ticket.effort else "unknown"),
            ("Status", _status_label(ticket.status))]


def _title(ticket: Ticket) -> str:
    return STATUS_ICONS.get(ticket.status, "") + (" ".join(ticket.title.split()) or "(untitled)")


def render_blocks(ticket: Ticket, mention: str | None) -> list[dict[str, Any]]:
    """The message's Block Kit blocks; every piece of ticket text is a plain_text object."""
    blocks: list[dict[str, Any]] = []
    if mention:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{mention} critical growth ticket"}})
    blocks.append({"type": "header", "text": _plain(clip(escape(_title(ticket)), 150))})
    fields: list[dict[str, Any]] = []
    for label, value in _facts(ticket):
        fields += [{"type": "mrkdwn", "text": f"*{label}*"}, _plain(clip(escape(value), 2000))]
    blocks.append({"type": "section", "fields": fields})
    if ticket.description.strip():
        blocks.append({"type": "section", "text": _plain(clip(escape(ticket.description.strip()), 3000))})
    if ticket.action_items:
        done_all = ticket.status == "completed"
        done = sum(1 for i in ticket.action_items if i.completed or done_all)
        lines = [("✅ " if i.completed or done_all else "⬜ ") + escape(" ".join(i.title.split()))
                 for i in ticket.action_items]
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"*Action items* ({done}/{len(lines)} done)"}})
        blocks.append({"type": "section", "text": _plain(clip("\n".join(lines), 3000))})
    url = button_url(ticket.url)
    if url:
        blocks.append({"type": "actions", "elements": [{"type": "button", "text": _plain("View ticket"),
                                                        "url": url, "action_id": "view_ticket"}]})
    blocks.append({"type": "context", "elements": [_plain(clip(escape(f"Cogny ticket {ticket.id}"), 3000))]})
    return blocks


def fallback_text(ticket: Ticket, mention: str | None) -> str:
    """One mrkdwn line for notifications and screen readers; user text made inert."""
    parts = [_title(ticket), f"{_human(ticket.priority)} priority", _human(ticket.category)]
    if ticket.impact_line:
        parts.append(ticket.impact_line.replace("_", " "))  # "+25.9% conversion rate"
    text = clip(inert_mrkdwn(" · ".join(parts)), 3000)
    return f"{mention} {text}" if mention else text


def status_reply(old: str, new: str) -> str:
    """The thread reply for a status change."""
    return inert_mrkdwn(f"Status changed: {_status_label(old)} → {_status_label(new)}")
