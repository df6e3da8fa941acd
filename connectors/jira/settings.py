"""The JIRA connector's settings: where issues go, how Cogny values map onto JIRA's, and auth.

`category_map` says what a ticket's category adds to its issue: labels and components. The
original form, `retention: [team-retention]`, still means labels only.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from syncd.sdk import PRIORITIES, FieldValue, MappingSettings, http_url

DEFAULT_PRIORITIES = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}
# Resolutions that close an issue without doing the work: sync-back reads them as "canceled".
DEFAULT_CANCELED_RESOLUTIONS = ("Won't Do", "Won't Fix", "Duplicate", "Cannot Reproduce", "Declined")


class JiraCategory(BaseModel):
    """What one ticket category adds to its issue: labels and components (names in `project`)."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list, description="component names of the project")

    @model_validator(mode="before")
    @classmethod
    def _labels_shorthand(cls, v: Any) -> Any:
        """`retention: [team-retention]` (the original form) means labels only."""
        if isinstance(v, list):
            return {"labels": v}
        if not isinstance(v, dict):
            raise ValueError("want a list of labels or {labels: [...], components: [...]}")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        check_labels(v)
        return v

    @field_validator("components")
    @classmethod
    def _component_names(cls, v: list[str]) -> list[str]:
        if any(not name.strip() for name in v):
            raise ValueError("component names cannot be empty")
        return v


class JiraSettings(MappingSettings):
    url: str
    email: str | None = None
    api_token: SecretStr | None = None
    token: SecretStr | None = Field(None, description="Server/Data Center personal access token")
    project: str
    issue_type: str = "Task"
    subtask_type: str = "Sub-task"
    priority_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    labels: list[str] = Field(default_factory=list)
    done_transition: str = "Done"
    dismissed_transition: str | None = None
    reopen_transition: str = "To Do"
    fields: dict[str, FieldValue] = Field(default_factory=dict, description=(
        "extra fields by id or display name; string values may be templates, e.g. "
        "{'Story Points': '{{ ticket.effort | map_value(effort_map) }}'}"))
    category_map: dict[str, JiraCategory] = Field(default_factory=dict, description=(
        "category -> {labels, components}; a plain list means labels"))
    search_lag_seconds: float = Field(60, ge=0, description=(
        "how long JQL search may trail a create: a create whose answer was lost is not sent again "
        "before this, so a record the search cannot show yet is never made twice"))
    canceled_resolutions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CANCELED_RESOLUTIONS), description=(
            "sync-back: a done issue with one of these resolutions counts as canceled (the ticket is "
            "dismissed)"))

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        check_labels(v)
        return v

    @model_validator(mode="after")
    def _auth(self) -> "JiraSettings":
        if self.token is None and (self.email is None or self.api_token is None):
            raise ValueError("set email + api_token (JIRA Cloud) or token (Server/Data Center PAT)")
        missing = sorted(set(PRIORITIES) - set(self.priority_map))
        if missing:
            raise ValueError(f"priority_map: no JIRA priority for {', '.join(missing)}")
        if self.uses_components and any(k.casefold() in ("components", "component/s") for k in self.fields):
            raise ValueError("fields.components: components already come from category_map; "
                             "set them in one place")
        return self

    @property
    def uses_components(self) -> bool:
        return any(c.components for c in self.category_map.values())


def check_labels(labels: list[str]) -> None:
    """JIRA refuses empty labels and labels with whitespace; say so at load time, not per ticket."""
    bad = [label for label in labels if not label or re.search(r"\s", label)]
    if bad:
        raise ValueError(f"JIRA labels cannot be empty or contain spaces: {bad}")
