"""How a ticket becomes the Linear issue and sub-issues it should have: the `Desired` record, pure.

Where a Linear value comes from: title ← title (one line); description ← description, facts and
link in Markdown with ticket text escaped (the shipped `description` template renders exactly
`render_description`); priority ← `priority_map` (0 none, 1 urgent … 4 low); labels ← `label_ids`
plus the category's `category_map` label ids; project ← `project_id`; status ← done / canceled
when the ticket is completed / dismissed (the connector picks the workflow state); assignee ←
`assignee_map`; fields ← `fields:`.

Pure, like every target's `render.py`: the issue and sub-issues follow from the ticket and the
settings alone. Their record is what the stored `applied_hash` covers, so changing a key or a
value here re-sends every issue.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.linear.settings import LinearSettings
from syncd.sdk import (
    ActionItem,
    Desired,
    Raw,
    Renderer,
    Ticket,
    check_unique_titles,
    identity,
    render,
    render_fields,
    safe_url,
)

__all__ = ["escape_markdown", "render_description", "render_issue", "renderer"]


def renderer(settings: LinearSettings) -> Renderer:
    """The connector's templates: description texts escaped for Markdown, titles as plain text."""
    return Renderer("linear", settings.template, {"description": (escape_markdown, identity),
                                                  "item_description": (escape_markdown, identity)})


def render_issue(settings: LinearSettings, templates: Renderer, ticket: Ticket) -> Desired:
    """The issue (title, description, priority, labels, project, status…) and one sub-issue per
    action item, keyed by the item's title."""
    s = settings
    render.checked_id(ticket.id)  # the marker is built from it: refuse before anything is written
    ctx = render.checked_context(s.template_context(
        ticket, category_map=s.category_map, priority_map=s.priority_map,
        source_link=Raw(_link(f"Cogny ticket {ticket.id}", render.source_url(ticket)))))
    record = {
        "title": _title(templates.render_or("title", ctx, ticket.title)),
        "description": templates.render("description", ctx).strip(),
        "priority": s.priority_map.get(ticket.priority, s.priority_map["medium"]),
        "labelIds": sorted({*s.label_ids, *s.category_map.get(ticket.category, [])}),
        "projectId": s.project_id,
        "status": {"completed": "done", "dismissed": "canceled"}.get(ticket.status, "open"),
    }
    known, user = s.assignee(ticket)
    if known:  # absent unless configured (hashes of records rendered before stay) and known
        record["assigneeId"] = user
    if s.fields:  # likewise absent unless configured
        record["fields"] = render_fields(templates, s.fields, ctx)
    items = {item.title: _sub_issue(templates, ticket, item, ctx) for item in ticket.action_items}
    if templates.has("item_title"):
        check_unique_titles("linear.template.item_title", {k: v["title"] for k, v in items.items()})
    return Desired(record, items)


def _sub_issue(templates: Renderer, ticket: Ticket, item: ActionItem, ctx: dict[str, Any]) -> dict[str, Any]:
    """One sub-issue: the built-in title and description, or the `item_*` templates."""
    title, description = templates.render_item(ctx, item, escape_markdown)
    return {"title": _title(title), "description": description,
            "completed": item.completed or ticket.status == "completed"}


def _title(title: str) -> str:
    """One line of at most 255 characters."""
    one_line = " ".join(title.split())
    return one_line if len(one_line) <= 255 else one_line[:254] + "…"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~&=@])")
_ORDERED = re.compile(r"^(\s*\d+)\.(?=\s|$)", re.MULTILINE)  # "1. " would start a list


def escape_markdown(text: str) -> str:
    """Make user text inert in Markdown: no emphasis, links, HTML, headings, lists, tables or mentions."""
    return _ORDERED.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", text))


def _link(text: str, url: str) -> str:
    """`[text](url)` with the text escaped, when `url` is a link syncd may render (re-checked); else ''."""
    url = safe_url(url)
    return f"[{escape_markdown(text)}]({url})" if url else ""


def render_description(ticket: Ticket) -> str:
    """The issue description in Markdown; ticket text is escaped, our structure is not."""
    lines = [escape_markdown(ticket.description), ""]
    lines += [f"**{label}:** {escape_markdown(value)}  " for label, value in render.facts(ticket)]
    data = render.supporting(ticket)
    if data:
        lines += ["", "### Supporting data", ""]
        lines += [f"- {escape_markdown(k)}: {escape_markdown(v)}" for k, v in data]
    if ticket.action_items:
        lines += ["", "### Action items (one sub-issue each)", ""]
        lines += [f"- {escape_markdown(i.title)}" for i in ticket.action_items]
    link = _link(f"Cogny ticket {ticket.id}", render.source_url(ticket))
    if link:
        lines += ["", f"Source: {link}"]
    return "\n".join(lines).strip()
