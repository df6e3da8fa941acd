"""How a ticket becomes the JIRA issue and sub-tasks it should have: the `Desired` record, pure.

Where a JIRA value comes from, in one place: summary ← title; description ← the ticket's
description, facts and link in wiki markup (`text.render_description`, or the `description`
template); priority ← `priority_map`; labels ← the marker label `cogny-<ticket id>` plus `labels`
plus the category's `category_map` labels; components ← the category's `category_map` components
(names; the connector resolves them to ids); assignee ← `assignee_map`; fields ← `fields:`;
status ← done / dismissed when the ticket is completed / dismissed (the connector transitions).

Nothing here does I/O: `render_issue` is a function of the ticket and the settings alone, and
its record is what `links.applied_hash` is computed over (docs/design.md, "The one idea"). A
change to a key or a value here changes the stored hash of every issue and re-sends them all.
"""

from __future__ import annotations

from typing import Any

from connectors.jira.settings import JiraCategory, JiraSettings
from connectors.jira.text import (
    clip_description,
    escape_wiki,
    one_line_summary,
    render_description,
    source_link,
)
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
)

__all__ = ["issue_context", "render_issue", "renderer"]


def renderer(settings: JiraSettings) -> Renderer:
    """The connector's templates: description texts escaped for wiki markup, titles as plain text."""
    return Renderer("jira", settings.template, {"description": (escape_wiki, identity),
                                                "item_description": (escape_wiki, identity)})


def render_issue(settings: JiraSettings, templates: Renderer, ticket: Ticket) -> Desired:
    """The issue (summary, description, priority, labels, status, fields…) and one sub-task per
    action item, keyed by the item's title."""
    s = settings
    # Without templates or `fields:` nothing reads the template context, and the shipped
    # default description template renders exactly `render_description` (held equal byte for
    # byte by tests/unit/test_templates.py and test_properties.py): the built-in path skips
    # both, about half of a render (what a no-op cycle spends per unchanged ticket).
    ctx = issue_context(s, ticket) if templates.configured or s.fields else {}
    description = (templates.render("description", ctx).strip() if templates.has("description")
                   else render_description(ticket))
    category = s.category_map.get(ticket.category) or JiraCategory()
    record: dict[str, Any] = {
        "summary": one_line_summary(templates.render_or("title", ctx, ticket.title)),
        "description": clip_description(description, ticket),
        "priority": s.priority_map.get(ticket.priority, s.priority_map["medium"]),
        "labels": sorted({render.marker_label(ticket.id), *s.labels, *category.labels}),
        "status": _status(ticket.status),
        "fields": render_fields(templates, s.fields, ctx),
    }
    if s.uses_components:  # absent unless configured (hashes of records rendered before stay)
        record["components"] = sorted(set(category.components))
    known, account = s.assignee(ticket)
    if known:  # absent unless configured and known
        record["assignee"] = {"accountId": account} if account else None
    items = {item.title: _sub_task(templates, ticket, item, ctx) for item in ticket.action_items}
    if templates.has("item_title"):
        check_unique_titles("jira.template.item_title", {k: v["summary"] for k, v in items.items()})
    return Desired(record, items)


def _sub_task(templates: Renderer, ticket: Ticket, item: ActionItem, ctx: dict[str, Any]) -> dict[str, Any]:
    """One sub-task: the built-in summary and description, or the `item_*` templates."""
    title, description = templates.render_item(ctx, item, escape_wiki)
    return {"summary": one_line_summary(title), "description": description,
            "completed": item.completed or ticket.status == "completed"}


def issue_context(settings: JiraSettings, ticket: Ticket) -> dict[str, Any]:
    """What JIRA's templates see: the shared context plus the category and priority maps."""
    s = settings
    categories = {name: c.model_dump() for name, c in s.category_map.items()}
    # the source link comes ready-made (`wiki_link`): a template never puts a raw url into markup
    ctx = s.template_context(ticket, category_map=categories, priority_map=s.priority_map,
                             source_link=Raw(source_link(ticket)))
    return render.checked_context(ctx)


def _status(status: str) -> str:
    """The status category the issue should be in: Cogny's completed → done, dismissed → dismissed."""
    return {"completed": "done", "dismissed": "dismissed"}.get(status, "open")
