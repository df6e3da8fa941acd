"""How a ticket becomes the Asana task and subtasks it should have: the `Desired` record, pure.

Where an Asana value comes from, in one place: name ← the title on one line; notes (plain
text) ← description, facts, supporting data, action items, the ticket URL (with the shipped
`description` template: `render_notes`) and, as the last line, the marker `cogny:<ticket id>`;
completed ← the ticket is completed or dismissed (a subtask: its action item is done, or the
ticket is completed); custom_fields ← `custom_fields` plus the `priority_field` enum option for
the ticket's priority; assignee ← `assignee_map`. (`section_gid` is applied by the connector.)

Nothing here does I/O: `render_task` is a function of the ticket and the settings alone, and
its record is what `links.applied_hash` is computed over (docs/design.md, "The one idea"). A
change to a key or a value here changes the stored hash of every task and re-sends them all.
"""

from __future__ import annotations

from typing import Any

from connectors.asana.settings import AsanaSettings
from syncd.sdk import (
    ActionItem,
    Desired,
    Renderer,
    Ticket,
    check_unique_titles,
    render,
    render_fields,
)

__all__ = ["DONE", "marker", "render_notes", "render_task", "renderer"]

DONE = ("completed", "dismissed")  # the ticket statuses that complete its task


def marker(ticket_id: str) -> str:
    """The marker syncd stamps on a task: its external gid and the last line of its notes.

    Built from the checked id alone: an id with a newline could otherwise forge another
    ticket's marker line.
    """
    return f"cogny:{render.checked_id(ticket_id)}"


def renderer(settings: AsanaSettings) -> Renderer:
    """The connector's templates: Asana notes are plain text, so nothing is escaped."""
    return Renderer("asana", settings.template)


def render_task(settings: AsanaSettings, templates: Renderer, ticket: Ticket) -> Desired:
    """The task (name, notes ending with the marker, completed, custom fields…) and one subtask per
    action item, keyed by the item's title."""
    s = settings
    ctx = render.checked_context(s.template_context(ticket))  # `ticket.url` re-checked for templates
    notes = templates.render("description", ctx).strip()
    record = {"name": _one_line(templates.render_or("title", ctx, ticket.title)),
              "notes": f"{notes}\n\n{marker(ticket.id)}" if notes else marker(ticket.id),
              "completed": ticket.status in DONE, "custom_fields": _custom_fields(s, templates, ticket, ctx)}
    known, user = s.assignee(ticket)
    if known:  # absent unless configured (hashes of records rendered before stay) and known
        record["assignee"] = user
    items = {item.title: _subtask(templates, ticket, item, ctx) for item in ticket.action_items}
    if templates.has("item_title"):
        check_unique_titles("asana.template.item_title", {k: v["name"] for k, v in items.items()})
    return Desired(record, items)


def _subtask(templates: Renderer, ticket: Ticket, item: ActionItem, ctx: dict[str, Any]) -> dict[str, Any]:
    """One subtask: the built-in name and notes (plain text), or the `item_*` templates."""
    name, notes = templates.render_item(ctx, item, str)  # plain text: nothing to escape
    if templates.has("item_title"):
        name = _one_line(name)
    return {"name": name, "notes": notes, "completed": item.completed or ticket.status == "completed"}


def _custom_fields(settings: AsanaSettings, templates: Renderer, ticket: Ticket,
                   ctx: dict[str, Any]) -> dict[str, Any]:
    """`custom_fields` rendered, plus the `priority_field` option for the ticket's priority."""
    values = render_fields(templates, settings.custom_fields, ctx)
    field = settings.priority_field
    if field is not None:
        values[field.field_gid] = field.options.get(ticket.priority, field.options["medium"])
    return values


def _one_line(title: str) -> str:
    return " ".join(title.split())


def render_notes(ticket: Ticket) -> str:
    """The task's plain-text notes; the marker `cogny:<id>` is always the last line."""
    lines: list[str] = []
    if ticket.description.strip():
        lines += [ticket.description.strip(), ""]
    lines += [f"{label}: {value}" for label, value in render.facts(ticket)]
    data = render.supporting(ticket)
    if data:
        lines += ["", "Supporting data:", *(f"- {k}: {v}" for k, v in data)]
    if ticket.action_items:
        lines += ["", "Action items (one subtask each):", *(f"- {i.title}" for i in ticket.action_items)]
    url = render.source_url(ticket)  # plain text: the link only when it is one syncd may render
    if url:
        lines += ["", f"Cogny ticket: {url}"]
    return "\n".join([*lines, "", marker(ticket.id)])
