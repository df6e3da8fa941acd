"""Shared pieces of a ticket's rendering, so every target says the same thing in its own markup.

Connectors call `sections(ticket)` and format each (title, lines) pair with their own escaping:
JIRA wiki markup, Markdown for Linear, mrkdwn for Slack, plain text for Asana.
"""

from __future__ import annotations

from typing import Any

from syncd.errors import TicketDataError
from syncd.models import ActionItem, Ticket, is_ticket_id, safe_url


def impact_detail(ticket: Ticket) -> str:
    """`conversion_rate: 0.027 → 0.034 (+25.9%), confidence 85%`."""
    imp = ticket.estimated_impact
    if not imp.metric and imp.increase_percentage is None:
        return "not estimated"
    parts = [imp.metric or "impact"]
    if imp.current_value is not None and imp.projected_value is not None:
        parts[0] += f": {_num(imp.current_value)} → {_num(imp.projected_value)}"
    if imp.increase_percentage is not None:
        parts.append(f"({imp.increase_percentage:+.1f}%)")
    text = " ".join(parts)
    if imp.confidence is not None:
        text += f", confidence {imp.confidence:.0%}"
    return text


def facts(ticket: Ticket) -> list[tuple[str, str]]:
    """The (label, value) lines every description carries."""
    out = [("Category", ticket.category), ("Priority", ticket.priority),
           ("Estimated impact", impact_detail(ticket)), ("Effort", ticket.effort or "unknown")]
    if ticket.status in ("completed", "dismissed"):
        out.append(("Status", ticket.status))
    return out


def supporting(ticket: Ticket) -> list[tuple[str, str]]:
    return [(str(k), _num(v)) for k, v in sorted(ticket.supporting_data.items())]


def item_detail(item: ActionItem) -> str:
    text = item.description or ""
    if item.estimated_hours is not None:
        hours = f"Estimated effort: {_num(item.estimated_hours)} h"
        text = f"{text}\n\n{hours}" if text else hours
    return text


def checked_id(ticket_id: str) -> str:
    """`ticket_id` if it has Cogny's documented shape, else TicketDataError (this ticket fails alone).

    Every marker is built from the id alone; one built from anything else could name, or search
    for, another ticket's record. A parsed Ticket is already checked: this holds for any Ticket.
    """
    if not is_ticket_id(ticket_id):
        raise TicketDataError(f"ticket {str(ticket_id)[:80]!r}: not a Cogny ticket id (tkt_…); "
                              f"no marker is built from it")
    return ticket_id


def marker_label(ticket_id: str) -> str:
    """The searchable marker stamped on records syncd creates (e.g. a JIRA label)."""
    return f"cogny-{checked_id(ticket_id)}"


def source_url(ticket: Ticket) -> str:
    """The ticket's link as a target may render it, re-checked with `safe_url` ('' when there is none).

    A parsed Ticket's url is already safe; checking again keeps every renderer safe on its own.
    """
    return safe_url(str(ticket.url or ""))


def checked_context(ctx: dict[str, Any]) -> dict[str, Any]:
    """A template context whose `ticket.url` is re-checked, so no template (not even one piping it
    through `raw_markup`, as older shipped defaults did) gets a url that is not a plain link."""
    data = ctx.get("ticket")
    if isinstance(data, dict) and "url" in data:
        data["url"] = safe_url(str(data["url"] or ""))
    return ctx


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
