"""Backfill digests: many new tickets as a few Block Kit messages, one linked line per ticket. Pure.

When a poll finds more than `digest_over` new tickets for the channel at once (a first sync),
posting one message each would flood it (and take one second each: Slack's pace). Instead they
are sorted by priority (critical first, listing order within one) and cut into ⌈n / 50⌉ messages
of near-equal size. A message is a header, then per priority a heading section and the tickets'
lines packed into sections of at most 3,000 characters, then a context line.

Why at most 50 tickets a message: Slack refuses a message whose blocks hold more than about
12,000 characters of text in all (`msg_blocks_too_long`, undocumented; Slack's engineers gave
that figure in slackapi/bolt-js#2509), besides its documented 50 blocks and 3,000 characters per
section. A line is never longer than `LINE_MAX` (200), so 50 lines and their headings stay under
10,500 characters whatever a later edit of one line makes of it, in fewer than 15 blocks.

A line: status icon, the title linked to the ticket (`<url|title>`, the url only when it passed
`safe_url` and is short), then status, category, impact — ticket text escaped for mrkdwn and made
inert (`render.inert_mrkdwn`). A line stays in the priority group it was posted in; a later
priority change shows as "now High priority" on the line.

The marker: message `metadata` {"event_type": "cogny_digest", "event_payload": {"tickets":
[{"id", "priority"}, …], "part", "parts"}} lists every ticket in display order (an array of
objects of scalars, the shape Slack's own types give metadata payloads), so a lost store finds a
ticket's line again, and its position names the line ("<ts> line <n>"). `Digest.from_message`
reads a posted digest back (the lines from its `lines-*` sections, in order), so that one line can
be replaced in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from connectors.slack.render import STATUS_ICONS, STATUS_LABELS, button_url, clip, inert_mrkdwn
from syncd.sdk import PRIORITIES, Status, Ticket, is_ticket_id, render

__all__ = ["EVENT_TYPE", "LINE_MAX", "PER_MESSAGE", "Digest", "Entry", "line", "line_key", "split",
           "status_reply", "ticket_ids"]

EVENT_TYPE = "cogny_digest"   # the digest marker's metadata event type
PER_MESSAGE = 50              # tickets per digest message at most
LINE_MAX = 200                # characters of one line at most (see the module docstring)
SECTION_MAX = 3000            # Slack: a section's text
URL_MAX = 120                 # a longer ticket url leaves the title unlinked (Cogny's are ~50)
TITLE_MAX = 60                # characters of the (escaped) title in a line
LINES = "lines-"              # block_id prefix of the sections holding lines: lines-<priority>-<n>


@dataclass(frozen=True)
class Entry:
    """One ticket's line in a digest, in the priority group it was posted in."""

    ticket_id: str
    group: str
    line: str


@dataclass(frozen=True)
class Digest:
    """One digest message: its entries in display order, and which part of its batch it is."""

    entries: tuple[Entry, ...]
    part: int = 1
    parts: int = 1

    @classmethod
    def of(cls, tickets: list[Ticket], part: int = 1, parts: int = 1) -> "Digest":
        """The digest of `tickets` (already in display order: see `split`)."""
        return cls(tuple(Entry(render.checked_id(t.id), t.priority, line(t, t.priority)) for t in tickets),
                   part, parts)

    def position(self, ticket_id: str) -> int | None:
        """The ticket's line number (1-based, display order), None when it is not in this digest."""
        for n, entry in enumerate(self.entries, 1):
            if entry.ticket_id == ticket_id:
                return n
        return None

    def with_line(self, ticket: Ticket) -> "Digest":
        """This digest with `ticket`'s line rendered again (in its group); the others untouched."""
        entries = tuple(replace(e, line=line(ticket, e.group)) if e.ticket_id == ticket.id else e
                        for e in self.entries)
        return replace(self, entries=entries)

    def line_of(self, ticket_id: str) -> str | None:
        n = self.position(ticket_id)
        return None if n is None else self.entries[n - 1].line

    def message(self, mention: str | None = None) -> dict[str, Any]:
        """chat.postMessage / chat.update arguments: fallback `text`, `blocks`, `metadata`."""
        groups = _groups(self.entries)
        title = f"Cogny tickets: {len(self.entries)} new"
        if self.parts > 1:
            title += f" (part {self.part} of {self.parts})"
        blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(title)}]
        for group, entries in groups:
            heading = f"*{_human(group)}* · {len(entries)}"
            if group == "critical" and mention:  # a validated mention: ours, not ticket text
                heading = f"{mention} {heading}"
            blocks.append({"type": "section", "block_id": f"group-{group}", "text": _mrkdwn(heading)})
            for n, text in enumerate(_pack([e.line for e in entries]), 1):
                blocks.append({"type": "section", "block_id": f"{LINES}{group}-{n}", "text": _mrkdwn(text)})
        blocks.append({"type": "context", "elements": [_plain(
            "Each line links to its ticket in Cogny; syncd keeps the lines up to date.")]})
        counts = ", ".join(f"{_human(g).lower()} {len(es)}" for g, es in groups)
        tickets = [{"id": e.ticket_id, "priority": e.group} for e in self.entries]
        return {"text": f"{title}: {counts}", "blocks": blocks,
                "metadata": {"event_type": EVENT_TYPE,
                             "event_payload": {"tickets": tickets, "part": self.part, "parts": self.parts}}}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> "Digest | None":
        """The digest a posted message holds, None when it is not one (or its blocks do not match)."""
        payload = _payload(message)
        if payload is None:
            return None
        lines: list[tuple[str, str]] = []  # (group, line) in display order
        for block in message.get("blocks") or []:
            block_id = str(block.get("block_id") or "")
            if block.get("type") == "section" and block_id.startswith(LINES):
                group = block_id[len(LINES):].rsplit("-", 1)[0]
                text = str((block.get("text") or {}).get("text", ""))
                lines += [(group, one) for one in text.split("\n")]
        tickets = payload["tickets"]
        if len(lines) != len(tickets) or any(g != t["priority"] for (g, _), t in zip(lines, tickets)):
            return None
        entries = tuple(Entry(t["id"], g, text) for (g, text), t in zip(lines, tickets))
        return cls(entries, _int(payload.get("part"), 1), _int(payload.get("parts"), 1))


def split(tickets: list[Ticket]) -> list[list[Ticket]]:
    """`tickets` by priority (critical first, listing order within one), cut into ⌈n / 50⌉ even parts."""
    rank = {p: i for i, p in enumerate(PRIORITIES)}
    ordered = sorted(tickets, key=lambda t: rank.get(t.priority, len(rank)))
    parts = max(1, math.ceil(len(ordered) / PER_MESSAGE))
    size, extra = divmod(len(ordered), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(ordered[start:end])
        start = end
    return [part for part in out if part]


def line(ticket: Ticket, group: str) -> str:
    """The ticket's line: icon, linked title, then status · category · impact; at most `LINE_MAX` long."""
    title = clip(inert_mrkdwn(" ".join(ticket.title.split()) or "(untitled)"), TITLE_MAX)
    url = button_url(ticket.url)
    linked = f"<{url}|{title}>" if url and len(url) <= URL_MAX else title
    head = STATUS_ICONS.get(ticket.status, "") + linked
    facts = [STATUS_LABELS.get(ticket.status, _human(ticket.status)), _human(ticket.category)]
    if ticket.impact_line:
        facts.append(ticket.impact_line.replace("_", " "))
    if ticket.priority != group:
        facts.append(f"now {_human(ticket.priority)} priority")
    room = LINE_MAX - len(head)
    facts_text = " ".join(" · ".join(facts).split())  # one line: no newline from ticket text
    tail = clip(inert_mrkdwn(" · " + facts_text), room) if room >= 8 else ""
    return head + tail


def line_key(ts: str, position: int) -> str:
    """The `ExternalRef.key` of a ticket's line: the digest message and the line's number in it."""
    return f"{ts} line {position}"


def status_reply(ticket: Ticket, old: Status, new: Status) -> str:
    """The digest thread's reply for one ticket's status change: its title, then the change."""
    title = clip(" ".join(ticket.title.split()), 150)
    change = f"{STATUS_LABELS.get(old, old)} → {STATUS_LABELS.get(new, new)}"
    return inert_mrkdwn(f"{title}: status changed: {change}")


def ticket_ids(message: dict[str, Any]) -> list[str]:
    """The ticket ids a digest message's marker lists, in display order ([] for any other message)."""
    payload = _payload(message)
    return [t["id"] for t in payload["tickets"]] if payload else []


def _payload(message: dict[str, Any]) -> dict[str, Any] | None:
    """The digest marker's payload when `message` carries one of the expected shape, else None."""
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") if meta.get("event_type") == EVENT_TYPE else None
    if not isinstance(payload, dict) or not isinstance(payload.get("tickets"), list):
        return None
    tickets = payload["tickets"]
    # what goes back into an edit must be ours: ticket ids of Cogny's shape, groups that are priorities
    if not all(isinstance(t, dict) and is_ticket_id(t.get("id")) and t.get("priority") in PRIORITIES
               for t in tickets):
        return None
    return payload


def _groups(entries: tuple[Entry, ...]) -> list[tuple[str, list[Entry]]]:
    """Entries by group, groups in order of first appearance (entries are posted sorted)."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.group, []).append(entry)
    return list(groups.items())


def _pack(lines: list[str]) -> list[str]:
    """Lines joined by newlines into as few texts of at most `SECTION_MAX` characters as fit."""
    texts: list[str] = []
    current: list[str] = []
    size = 0
    for text in lines:
        if current and size + 1 + len(text) > SECTION_MAX:
            texts.append("\n".join(current))
            current, size = [], 0
        size += len(text) + (1 if current else 0)
        current.append(text)
    if current:
        texts.append("\n".join(current))
    return texts


def _human(value: str) -> str:
    return value.replace("_", " ").strip().capitalize() or "—"


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value > 0 else default


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}
