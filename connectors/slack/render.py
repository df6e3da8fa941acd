"""How a ticket becomes the Slack message it should have: the `Desired` record, pure.

Where a Slack value comes from, in one place: header ← title (prefixed ✅/🚫 once completed /
dismissed); facts ← category, priority, `ticket.impact_line`, effort, status; checklist ← action
items (✅/⬜); "View ticket" button ← ticket url; the fallback `text` ← the same in one line;
`mention` ← prepended for critical tickets only; metadata ← the marker, the checked ticket id
alone. There are no child records: the checklist lives inside the message.

Ticket text is user content. In blocks it only goes into plain_text objects (no formatting, no
mentions, no links) escaped for `&`, `<`, `>` as Slack asks; the mrkdwn fallback text is escaped
the same way and its formatting characters (* _ ~ `) are swapped for look-alikes. The ticket's
url reaches a message only through `button_url`, which re-checks it (`safe_url`).

Nothing here does I/O: `render_message` is a function of the ticket and the settings alone, and
its record is what `links.applied_hash` is computed over (docs/design.md, "The one idea"). A
change to a key or a value here changes the stored hash of every message and edits them all.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.slack.settings import SlackSettings
from syncd.sdk import (
    Desired,
    Raw,
    Renderer,
    Status,
    Ticket,
    TicketDataError,
    identity,
    json_string,
    render,
    safe_url,
)

__all__ = ["EVENT_TYPE", "button_url", "clip", "escape", "fallback_text", "inert_mrkdwn", "render_blocks",
           "render_message", "renderer", "status_reply"]

EVENT_TYPE = "cogny_ticket"  # the marker's metadata event type
STATUS_LABELS: dict[Status, str] = {"open": "Open", "in_progress": "In progress", "completed": "Completed",
                                    "dismissed": "Dismissed"}
STATUS_ICONS = {"completed": "✅ ", "dismissed": "🚫 "}


def renderer(settings: SlackSettings) -> Renderer:
    """The connector's templates: `text` escaped for mrkdwn, `blocks` also encoded as JSON strings."""
    return Renderer("slack", settings.template, {
        "text": (inert_mrkdwn, identity), "blocks": (inert_mrkdwn, json_string)})


def render_message(settings: SlackSettings, templates: Renderer, ticket: Ticket) -> Desired:
    """The message (fallback text, blocks, marker metadata, status), with no child records."""
    s = settings
    mention = s.mention if ticket.priority == "critical" else None
    _, assignee = s.assignee(ticket)
    # `source_link`: the checked url, for a button's `url` (a template never gets a raw one)
    ctx = render.checked_context(s.template_context(
        ticket, title=_title(ticket), mention=mention, source_link=Raw(button_url(ticket.url) or ""),
        assignee_mention=f"<@{assignee}>" if assignee else None))
    marker = {"ticket_id": render.checked_id(ticket.id)}  # the id alone names the message
    record = {
        "text": _text(templates, ticket, ctx, mention),
        "blocks": _blocks(templates, ticket, ctx, mention, assignee),
        "metadata": {"event_type": EVENT_TYPE, "event_payload": marker},
        "status": ticket.status,
    }
    return Desired(record, {})


def _text(templates: Renderer, ticket: Ticket, ctx: dict[str, Any], mention: str | None) -> str:
    """The fallback text: the `text` template, else `fallback_text`; the mention goes first."""
    if not templates.has("text"):
        return fallback_text(ticket, mention)
    text = clip(templates.render("text", ctx).strip(), 3000)
    return f"{mention} {text}" if mention else text


def _blocks(templates: Renderer, ticket: Ticket, ctx: dict[str, Any], mention: str | None,
            assignee: str | None) -> list[dict[str, Any]]:
    """The blocks: the `blocks` template (a JSON list of objects), else `render_blocks` + assignee."""
    if not templates.has("blocks"):
        blocks = render_blocks(ticket, mention)
        if assignee:  # validated user id: the mention is ours, not ticket text
            text = {"type": "mrkdwn", "text": f"Assignee: <@{assignee}>"}
            blocks.insert(-1, {"type": "section", "text": text})
        return blocks
    source = templates.render("blocks", ctx)
    try:
        blocks = json.loads(source)
    except ValueError as exc:
        raise TicketDataError(f"slack.template.blocks: not JSON: {exc}") from None
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise TicketDataError("slack.template.blocks: must render a JSON list of block objects")
    return blocks


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


def _status_label(status: Status) -> str:
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
        text = {"type": "mrkdwn", "text": f"{mention} critical growth ticket"}
        blocks.append({"type": "section", "text": text})
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


def status_reply(old: Status, new: Status) -> str:
    """The thread reply for a status change."""
    return inert_mrkdwn(f"Status changed: {_status_label(old)} → {_status_label(new)}")
