"""What every connector shares for templates and value maps: settings, rendering context, child adoption.

`template`, `effort_map` and `assignee_map` mean the same thing for every target, so each
connector's settings model inherits them from `MappingSettings` instead of repeating them (and
their validation). A connector narrows what differs by redeclaring the field: Slack's template
names are `text` and `blocks`, Asana's assignees are user gids, Slack's are `U…` ids.

Maps that only some targets have stay with those targets: `category_map` (JIRA labels and
components, Linear label ids) and `priority_map`. `adopt_children` keeps sub-tasks whose title
comes from an `item_title` template findable after a lost store.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Mapping, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails

from syncd.errors import ConnectorError, PartialItems
from syncd.models import Ticket
from syncd.sdk.connector import ExternalRef
from syncd.sdk.templates import context, known_names, mapped_assignee, syntax_error

TemplateName = Literal["title", "description", "item_title", "item_description"]


class MappingSettings(BaseModel):
    """`template`, `effort_map` and `assignee_map`: shared by every connector's settings."""

    model_config = ConfigDict(extra="forbid")

    template: dict[TemplateName, str] = Field(default_factory=dict, description=(
        "Jinja2 templates overriding the built-in rendering; item_* render each child record"))
    effort_map: dict[str, Any] = Field(default_factory=dict,
                                       description="for templates: map_value(effort_map)")
    assignee_map: dict[str, str] = Field(default_factory=dict,
                                         description="Cogny user id -> the target's user id")

    @field_validator("template")
    @classmethod
    def _templates_compile(cls, templates: Mapping[str, str]) -> Mapping[str, str]:
        """Each template compiles and uses only the names its kind sees; errors name the template key."""
        errors = [InitErrorDetails(type="value_error", loc=(name,), input=source, ctx={"error": problem})
                  for name, source in templates.items()
                  if (problem := syntax_error(source, known_names(name)))]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return templates

    def template_context(self, ticket: Ticket, **extra: Any) -> dict[str, Any]:
        """What this connector's templates see: the ticket, the shared maps and `extra` names."""
        return context(ticket, effort_map=self.effort_map, assignee_map=self.assignee_map, **extra)

    def assignee(self, ticket: Ticket) -> tuple[bool, str | None]:
        """(known, target user id) for the ticket's assignee; see `syncd.sdk.templates.mapped_assignee`."""
        return mapped_assignee(ticket, self.assignee_map)


class ChildRecords(Protocol):
    """The part of a `Connector` that lists and updates a record's children."""

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]: ...

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None: ...


def adopt_children(connector: ChildRecords, ref: ExternalRef, items: dict[str, dict[str, Any]],
                   title: str) -> dict[str, ExternalRef]:
    """Children already under `ref` with an item's rendered `title`, brought up to date; by item key.

    With an `item_title` template a child's title is not its item key, so the engine's look-up by
    key (`find_items`) misses children created before a crash. Matching the rendered title before
    creating keeps "never a duplicate" true; costs one listing, only when the template is set.
    """
    try:
        existing = connector.find_items(ref)
        adopted = {key: existing[item[title]] for key, item in items.items() if item[title] in existing}
        for key, child in adopted.items():
            connector.update_item(ref, child, items[key], None)
    except ConnectorError as exc:
        raise PartialItems({}, exc) from None
    return adopted


def http_url(v: str) -> str:
    """Validator shared by every URL setting: an http(s) URL, without a trailing slash or credentials."""
    if not re.match(r"^https?://[^\s/]+", v):
        raise ValueError("must be an http(s) URL (the value is not repeated: it may be a misplaced secret)")
    # Credentials in a URL end up wherever the URL is shown: notes, logs, `links list`, the store.
    if "@" in v.split("://", 1)[1].split("/", 1)[0]:
        raise ValueError("must not contain credentials (user:password@host); use the token settings instead "
                         "(the value is not repeated)")
    return v.rstrip("/")
