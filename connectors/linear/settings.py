"""The Linear connector's settings: auth, exactly one of `team_id` / `team_key`, the workflow
states to use, and how Cogny values (priority, category, fields) map onto Linear's.

Validated at load time, so a bad value fails `syncd check-config` with its key, not a ticket.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator

from syncd.sdk import PRIORITIES, FieldValue, MappingSettings, http_url

__all__ = ["DEFAULT_PRIORITIES", "LinearSettings"]

DEFAULT_PRIORITIES = {"critical": 1, "high": 2, "medium": 3, "low": 4}  # Linear: 0 none, 1 urgent … 4 low


class LinearSettings(MappingSettings):
    api_key: SecretStr = Field(description="personal API key (lin_api_…) or OAuth token (lin_oauth_…)")
    team_id: str | None = None
    team_key: str | None = None
    api_url: str = "https://api.linear.app/graphql"
    priority_map: dict[str, Annotated[int, Field(ge=0, le=4)]] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES))
    label_ids: list[str] = Field(default_factory=list)
    project_id: str | None = None
    done_state: str | None = Field(None, description="state name or id; default: the team's first "
                                                     "completed state")
    canceled_state: str | None = Field(None, description="for dismissed tickets; default: first canceled "
                                                         "state")
    fields: dict[str, FieldValue] = Field(default_factory=dict, description=(
        "extra IssueCreateInput/IssueUpdateInput fields; values may be templates, e.g. "
        "{estimate: '{{ ticket.effort | map_value(effort_map) }}'}"))
    category_map: dict[str, list[str]] = Field(default_factory=dict,
                                               description="category -> extra label ids")

    @field_validator("api_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _team_and_priorities(self) -> "LinearSettings":
        if (self.team_id is None) == (self.team_key is None):
            raise ValueError("set exactly one of team_id or team_key")
        missing = sorted(set(PRIORITIES) - set(self.priority_map))
        if missing:
            raise ValueError(f"priority_map: no Linear priority for {', '.join(missing)}")
        return self
