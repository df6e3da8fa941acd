"""The Slack connector's settings: the bot token, the channel, who to mention, digests, and templates.

Slack has its own template names, `text` (the mrkdwn fallback) and `blocks` (Block Kit JSON), in
place of the shared title/description/item_* ones: a message has no child records. User ids,
mentions and the token are checked for Slack's shapes at load time, so a typo fails the config,
not a post.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from syncd.sdk import MappingSettings, http_url

__all__ = ["CHANNEL_ID", "MENTION", "USER_ID", "SlackSettings"]

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
MENTION = re.compile(r"^<(?:!subteam\^[A-Z0-9]+|@[UW][A-Z0-9]+|!here|!channel|!everyone)>$")


class SlackSettings(MappingSettings):
    token: SecretStr = Field(description="bot token (xoxb-…)")
    channel: str = Field(description="channel id (C0123…) or name (#growth / growth)")
    base_url: str = "https://slack.com/api/"
    mention: str | None = Field(None, description="prepended for critical tickets, e.g. <!subteam^S123>")
    history_limit: int = Field(1000, ge=1, le=10_000, description="newest messages `find` reads")
    digest_over: int = Field(20, ge=0, description="a poll's listing page with more new tickets than this "
                                                   "posts them as digests of up to 50 lines; 0: never")
    template: dict[Literal["text", "blocks"], str] = Field(  # type: ignore[assignment]  # Slack's own names
        default_factory=dict, description="text: mrkdwn fallback; blocks: Block Kit JSON (a list of blocks)")
    assignee_map: dict[str, str] = Field(default_factory=dict,
                                         description="Cogny user id -> Slack user id (U…)")

    @field_validator("assignee_map")
    @classmethod
    def _user_ids(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(uid for uid in v.values() if not USER_ID.match(uid))
        if bad:
            raise ValueError(f"Slack user ids look like U0123ABC, got {bad}")
        return v

    @field_validator("token")
    @classmethod
    def _token(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith("xox"):
            raise ValueError("must be a Slack token (xoxb-…)")
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        v = v.strip()
        if not v.lstrip("#"):
            raise ValueError("must be a channel id like C0123ABC or a name like #growth")
        return v if CHANNEL_ID.match(v) else v.lstrip("#")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v) + "/"  # slack-sdk joins method names onto it

    @field_validator("mention")
    @classmethod
    def _mention(cls, v: str | None) -> str | None:
        if v is not None and not all(MENTION.match(part) for part in v.split()):
            raise ValueError("use Slack mention syntax: <!subteam^S0123>, <@U0123>, <!here> or <!channel>")
        return v or None
