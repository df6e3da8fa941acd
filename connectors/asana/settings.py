"""The Asana connector's settings: where tasks go (workspace, project, section), auth, and how
Cogny values map onto Asana's (custom fields, the priority enum field, assignees).

Every gid is checked to be digits at load time; the value is not repeated in the error, since a
misplaced secret is the likeliest non-gid.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from syncd.sdk import PRIORITIES, MappingSettings, Priority, check_value, http_url

__all__ = ["DEFAULT_URL", "AsanaSettings", "CustomFieldValue", "Gid", "PriorityField"]

DEFAULT_URL = "https://app.asana.com/api/1.0"
_GID = re.compile(r"^\d+$")


def _gid(value: str) -> str:
    if not _GID.match(value):
        raise ValueError("must be an Asana gid (digits only; the value is not repeated: it may be a "
                         "misplaced secret)")
    return value


Gid = Annotated[str, AfterValidator(_gid)]
CustomFieldValue = Annotated[str | int | float | list[str] | None, AfterValidator(check_value)]


class PriorityField(BaseModel):
    """An enum custom field that mirrors the ticket priority: its gid and one option gid per priority."""

    model_config = ConfigDict(extra="forbid")

    field_gid: Gid
    options: dict[Priority, Gid]

    @model_validator(mode="after")
    def _every_priority(self) -> "PriorityField":
        missing = [p for p in PRIORITIES if p not in self.options]
        if missing:
            raise ValueError(f"options: no enum option gid for {', '.join(missing)}")
        return self


class AsanaSettings(MappingSettings):
    token: SecretStr = Field(description="personal access token, sent as a Bearer token")
    workspace_gid: Gid
    project_gid: Gid
    section_gid: Gid | None = None
    base_url: str = DEFAULT_URL
    custom_fields: dict[Gid, CustomFieldValue] = Field(
        default_factory=dict, description="custom field values: field gid -> value or template, e.g. "
                                          "'{{ ticket.effort | map_value(effort_map) }}'")
    priority_field: PriorityField | None = None
    assignee_map: dict[str, Gid] = Field(default_factory=dict, description="Cogny user id -> Asana user gid")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _no_overlap(self) -> "AsanaSettings":
        if self.priority_field and self.priority_field.field_gid in self.custom_fields:
            raise ValueError("custom_fields: the priority_field's gid is set from the ticket; remove it here")
        return self
