"""Slack: one Block Kit message per ticket in one channel, through `slack_sdk.WebClient`.

The connector does the I/O: find, post and edit messages. What a message should look like
(header, facts, checklist, button, fallback text, marker) is rendered by
`render.render_message`, a pure function; the settings are in `settings.py`; pacing and
retries in `client.py`. There are no child records: the checklist lives inside the message. A
changed ticket edits the same message (chat.update); a status change also posts one reply in
the message's thread (`render.status_reply`).

Marker: message `metadata` {"event_type": "cogny_ticket", "event_payload": {"ticket_id": ...}}, the
checked ticket id alone; `find` reads the newest `history_limit` messages with
`include_all_metadata` and takes only a message whose marker names exactly this ticket.

Pacing: Slack allows about one message per second per channel, so posts reserve a per-channel slot
(`ChannelPacer`); 429 answers are retried after `Retry-After` by `PolicyRetryHandler`, which asks
the shared `syncd.http.RetryPolicy` — one retry policy for every client.

Backfill digests (`digests.py`): a poll's page with more than `digest_over` new tickets posts
them as ⌈n / 50⌉ digest messages instead (`create_many`), each ticket a linked line; the ticket's
record is then its line: id `<channel>:<ts>` (the message), key `<ts> line <n>`, url the
message's permalink. `update` of such a record reads the message, renders that one line again
and edits the message only when the line changed, under a per-message lock (lines of one
digest share a message); a copy read by a marker look-up within `RECENT` seconds spares the
read when the line is already right (a lost store's adoption of every line costs no read). A
status change replies in the digest's thread, naming the ticket.
`find` / `find_many` read both markers: a single message's and a digest's list of tickets.
Limit: replicas each hold their own locks, so two replicas editing two lines of one digest at the
same instant can lose one of the two edits (Slack has no compare-and-set); the line is right again
at that ticket's next change.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import defaultdict
from typing import Any, Callable

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from connectors.slack import digests
from connectors.slack.client import (
    POST_INTERVAL,
    ChannelPacer,
    PolicyRetryHandler,
    api_error,
)
from connectors.slack.digests import Digest
from connectors.slack.render import EVENT_TYPE, render_message, renderer, status_reply
from connectors.slack.settings import CHANNEL_ID, SlackSettings
from syncd.http import RetryPolicy, unreachable
from syncd.sdk import (
    Check,
    ConnectorError,
    Desired,
    ExternalRef,
    PartialItems,
    RecordGone,
    Ticket,
    register_secret,
    render,
)

log = structlog.get_logger("syncd.connectors.slack")
HISTORY_PAGE = 200           # messages asked per conversations.history page
MAX_PAGES = 100              # hard bound on any paging loop (Slack may return 15 per page)
LINE_KEY = re.compile(r"^(?P<ts>\d+\.\d+) line (?P<n>\d+)$")  # a digest line's ExternalRef.key
Hit = tuple[str, int | None]  # (message ts, line number in a digest; None: a message of its own)
# A page's new tickets that come within this many seconds of a digest continue the backfill: a
# cycle's pages follow each other within seconds (~20 s under Cogny's real rate limit), polls are
# an hour apart by default. (`create_many` sees one page; the cycle is not known to a connector.)
BACKFILL_GAP = 60.0
RECENT = 60.0  # seconds a digest read by a marker look-up (or written) counts as current for "no change"


class SlackConnector:
    type = "slack"
    label = "Slack"
    Settings = SlackSettings

    def __init__(self, name: str, settings: SlackSettings, *, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.pacer = ChannelPacer(POST_INTERVAL, sleep=sleep)
        self._sleep = sleep
        self._client: Any = None
        self._channel_id: str | None = None
        self._client_lock = threading.Lock()
        self._channel_lock = threading.Lock()
        self._message_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()
        self._clock = clock
        self._backfill_until = -math.inf  # monotonic time until which new tickets join digests
        self._recent_digests: dict[tuple[str, str], tuple[float, Digest]] = {}
        register_secret(settings.token.get_secret_value())
        self.templates = renderer(settings)

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        """The message `ticket` should have; see `render.render_message` (no I/O)."""
        return render_message(self.settings, self.templates, ticket)

    # -- reading ---------------------------------------------------------------------------
    def find(self, ticket: Ticket) -> ExternalRef | None:
        ticket_id = render.checked_id(ticket.id)
        return self._found(self._scan({ticket_id}), ticket_id, {})

    def find_many(self, tickets: list[Ticket]) -> dict[str, ExternalRef | None]:
        """`find` for a listing page's new tickets with one read of the channel's history."""
        ids = {render.checked_id(t.id) for t in tickets}
        hits, permalinks = self._scan(ids), dict[str, str]()
        return {tid: self._found(hits, tid, permalinks) for tid in ids}

    def _scan(self, wanted: set[str]) -> tuple[str, dict[str, list[Hit]]]:
        """The newest `history_limit` messages: where each wanted ticket's marker is (single or digest)."""
        channel = self._channel()
        hits: dict[str, list[Hit]] = defaultdict(list)
        cursor, seen = None, 0
        for _ in range(MAX_PAGES):
            want = min(HISTORY_PAGE, self.settings.history_limit - seen)
            page = self._call("read channel history", lambda c: c.conversations_history(
                channel=channel, include_all_metadata=True, limit=want, cursor=cursor))
            messages = page.get("messages") or []
            seen += len(messages)
            for m in messages:
                single = _marker(m)  # exactly this ticket, never a prefix or a look-alike
                if single in wanted:
                    hits[single].append((m["ts"], None))
                ids = digests.ticket_ids(m)
                for n, tid in enumerate(ids, 1):
                    if tid in wanted:
                        hits[tid].append((m["ts"], n))
                seen_digest = Digest.from_message(m) if wanted.intersection(ids) else None
                if seen_digest is not None:
                    self._remember(channel, m["ts"], seen_digest)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor or not messages or seen >= self.settings.history_limit:
                break
        return channel, hits

    def _found(self, scan: tuple[str, dict[str, list[Hit]]], ticket_id: str,
               permalinks: dict[str, str]) -> ExternalRef | None:
        channel, hits = scan
        matches = hits.get(ticket_id)
        if not matches:
            return None
        ts, line = min(matches, key=lambda hit: float(hit[0]))  # several: the oldest is the original
        if len(matches) > 1:
            log.warning("several messages carry the marker; using the oldest", ticket=ticket_id,
                        ts=[hit[0] for hit in matches])
        if ts not in permalinks:
            permalinks[ts] = self._ref(channel, ts, None).url or ""
        if line is None:
            return ExternalRef(f"{channel}:{ts}", ts, permalinks[ts])
        return ExternalRef(f"{channel}:{ts}", digests.line_key(ts, line), permalinks[ts])

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

    def preview(self, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
        """The chat.postMessage `create` would send (syncd.sdk.Previews), the channel resolved to its id."""
        rec = desired.record
        body = {"channel": self._channel(), "text": rec["text"], "blocks": rec["blocks"],
                "metadata": rec["metadata"]}
        return [{"method": "POST", "path": "/api/chat.postMessage", "body": body}]

    def create_many(self, new: list[tuple[Ticket, Desired]]) -> list[ExternalRef | Exception]:
        """A page's new tickets: digests when more than `digest_over` (0: never) or when they continue a
        backfill (`BACKFILL_GAP`), else one message each."""
        over = self.settings.digest_over
        if over and (len(new) > over or self._clock() < self._backfill_until):
            answers = self._create_digests([ticket for ticket, _ in new])
            self._backfill_until = self._clock() + BACKFILL_GAP
            return answers
        out: list[ExternalRef | Exception] = []
        for ticket, desired in new:
            try:
                out.append(self.create(ticket, desired))
            except Exception as exc:  # this ticket's worker tries again, marker look-up first
                out.append(exc)
        return out

    def create_items_many(self, parents: list[tuple[ExternalRef, Ticket, dict[str, dict[str, Any]]]]
                          ) -> list[dict[str, ExternalRef] | PartialItems]:
        return [{} for _ in parents]  # no child records: the checklist is part of the message

    def _create_digests(self, tickets: list[Ticket]) -> list[ExternalRef | Exception]:
        """Post ⌈n / 50⌉ digest messages; each ticket is answered with its line, or why it has none."""
        answers: dict[str, ExternalRef | Exception] = {}
        channel = self._channel()
        parts = digests.split(tickets)
        for part, chunk in enumerate(parts, 1):
            digest = Digest.of(chunk, part, len(parts))
            try:
                posted = self._post(channel, "post digest", **digest.message(self.settings.mention))
                url = self._ref(posted["channel"], posted["ts"], None).url
            except Exception as exc:  # unknown whether it was posted: the workers look the markers up
                answers.update((entry.ticket_id, exc) for entry in digest.entries)
                continue
            log.info("slack digest posted", channel=posted["channel"], ts=posted["ts"],
                     tickets=len(digest.entries), part=part, parts=len(parts))
            for n, entry in enumerate(digest.entries, 1):
                answers[entry.ticket_id] = ExternalRef(f"{posted['channel']}:{posted['ts']}",
                                                       digests.line_key(posted["ts"], n), url)
        return [answers[ticket.id] for ticket in tickets]

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired,
               previous: Desired | None) -> ExternalRef:
        if LINE_KEY.match(ref.key or ""):
            return self._update_line(ref, ticket, desired, previous)
        channel, ts = _split(ref)
        rec = desired.record
        self._edit(channel, ts, text=rec["text"], blocks=rec["blocks"], metadata=rec["metadata"])
        log.info("slack message updated", channel=channel, ts=ts)
        new_ref = self._ref(channel, ts, ref.url)
        old = previous.record.get("status") if previous else None
        if old is not None and old != rec["status"]:
            self._post(channel, "post status reply", thread_ts=ts, text=status_reply(old, rec["status"]))
            log.info("slack status reply posted", channel=channel, thread_ts=ts, status=rec["status"])
        return new_ref

    def _update_line(self, ref: ExternalRef, ticket: Ticket, desired: Desired,
                     previous: Desired | None) -> ExternalRef:
        """Render the ticket's line in its digest again; edit the message only if the line changed."""
        channel, ts = _split(ref)
        with self._message_lock(channel, ts):
            # a copy read moments ago (a marker look-up) may show the line already right: no read
            # then, e.g. for every line a lost store adopts; any edit starts from a fresh read
            digest, fresh = self._recent(channel, ts), False
            if digest is None or digest.line_of(ticket.id) != digest.with_line(ticket).line_of(ticket.id):
                digest, fresh = Digest.from_message(self._read_message(channel, ts)), True
            position = digest.position(ticket.id) if digest else None
            if digest is None or position is None:
                raise ConnectorError("slack", f"message {ts} holds no digest line for this ticket",
                                     code="digest_line_not_found")
            changed = digest.with_line(ticket)
            if changed.line_of(ticket.id) != digest.line_of(ticket.id):
                self._edit(channel, ts, **changed.message(self.settings.mention))
                log.info("slack digest line updated", channel=channel, ts=ts, line=position)
            if fresh:  # only what was just read or written counts as current
                self._remember(channel, ts, changed)
        old, new = (previous.record.get("status") if previous else None), desired.record["status"]
        if old is not None and old != new:
            reply = digests.status_reply(ticket, old, new)
            self._post(channel, "post status reply", thread_ts=ts, text=reply)
            log.info("slack status reply posted", channel=channel, thread_ts=ts, status=new)
        return ExternalRef(ref.id, digests.line_key(ts, position), self._ref(channel, ts, ref.url).url)

    def _read_message(self, channel: str, ts: str) -> dict[str, Any]:
        """The top-level message `ts` with its metadata; RecordGone when it (or its channel) was deleted."""
        try:
            page = self._call("read message", lambda c: c.conversations_history(
                channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1, include_all_metadata=True))
        except ConnectorError as exc:
            if exc.code not in GONE:
                raise
            raise RecordGone("slack", str(exc), code=exc.code, how=GONE[exc.code]) from None
        for message in page.get("messages") or []:
            if message.get("ts") == ts:
                return dict(message)
        raise RecordGone("slack", f"read message: message {ts} not found", code="message_not_found",
                         how=GONE["message_not_found"])

    def _edit(self, channel: str, ts: str, **content: Any) -> None:
        """chat.update; RecordGone when the message (or its channel) was deleted."""
        try:
            self._call("update message", lambda c: c.chat_update(channel=channel, ts=ts, **content))
        except ConnectorError as exc:
            if exc.code not in GONE:
                raise
            raise RecordGone("slack", str(exc), code=exc.code, how=GONE[exc.code]) from None

    def _remember(self, channel: str, ts: str, digest: Digest) -> None:
        """Keep a digest as last read or written, for `RECENT` seconds (see `_update_line`)."""
        now = self._clock()
        with self._locks_lock:
            for key in [k for k, (when, _) in self._recent_digests.items() if now - when > RECENT]:
                del self._recent_digests[key]
            self._recent_digests[(channel, ts)] = (now, digest)

    def _recent(self, channel: str, ts: str) -> Digest | None:
        with self._locks_lock:
            when, digest = self._recent_digests.get((channel, ts), (-math.inf, None))
        return digest if self._clock() - when <= RECENT else None

    def _message_lock(self, channel: str, ts: str) -> threading.Lock:
        with self._locks_lock:
            return self._message_locks[(channel, ts)]

    def create_items(self, ref: ExternalRef, ticket: Ticket,
                     items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        return {}  # the checklist is part of the message itself

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        raise NotImplementedError("Slack messages have no child records")

    def check(self) -> list[Check]:
        try:
            me = self._call("auth.test", lambda c: c.auth_test())
            checks = [Check("slack credentials", True,
                            f"authenticated as {me.get('user')} in {me.get('team')}")]
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
            checks.append(Check(name, False, str(exc),
                                "check `channel` (C0123… or #name) and the bot's scopes"))
        return checks

    def close(self) -> None:
        self._client = None  # urllib-based: no pooled connections to release

    # -- plumbing --------------------------------------------------------------------------
    def _post(self, channel: str, what: str, **kwargs: Any) -> Any:
        self.pacer.wait(channel)
        try:
            return self._call(what, lambda c: c.chat_postMessage(channel=channel, **kwargs))
        finally:
            self.pacer.done(channel)

    def _ref(self, channel: str, ts: str, url: str | None) -> ExternalRef:
        if url is None:
            answer = self._call("get permalink",
                                lambda c: c.chat_getPermalink(channel=channel, message_ts=ts))
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
        raise ConnectorError("slack", f"channel #{channel} not found: check `channel` and that the bot "
                                      "can see it", code="channel_not_found")

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
            raise ConnectorError("slack", f"{what}: {type(exc).__name__}", retryable=True,
                                 unreachable=unreachable(exc)) from None


# What chat.update answers for a message people deleted, or the channel it was in (archived is not
# gone: Slack answers `is_archived` and that stays a failure, fixed by unarchiving or a new `channel`).
GONE = {"message_not_found": "message deleted in Slack", "channel_not_found": "channel deleted in Slack"}


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

