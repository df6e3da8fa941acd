"""The Cogny ticket as syncd reads it: typed, lenient about extra fields, strict about the ones it maps."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from syncd.errors import TicketDataError

# Cogny's enums, the one place syncd lists them (config filters, routes, connectors' maps and the
# Ticket model all use these). An unknown value fails its ticket with a clear reason instead of
# being mapped silently to some default.
Priority = Literal["critical", "high", "medium", "low"]
Status = Literal["open", "in_progress", "completed", "dismissed"]
Category = Literal["conversion_optimization", "funnel_optimization", "user_engagement", "revenue_growth",
                   "retention", "acquisition", "technical_performance", "data_quality"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
STATUSES: tuple[Status, ...] = get_args(Status)
CATEGORIES: tuple[Category, ...] = get_args(Category)

# A title must say something: whitespace alone would render as an empty summary every target refuses.
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# Cogny's documented id shape (`tkt_abc123`). Ticket content is untrusted: an id becomes a URL path
# segment, a JQL value, a label and a marker, so anything else is refused at the edge.
TICKET_ID_PATTERN = r"^tkt_[A-Za-z0-9_-]{1,64}$"
TICKET_ID = re.compile(TICKET_ID_PATTERN)
TicketId = Annotated[str, StringConstraints(pattern=TICKET_ID_PATTERN)]
# A link syncd may render: http(s), a plain host, no credentials, and none of the characters that
# are syntax in a target's markup (wiki `[|]{}`, Markdown `()`, HTML `<>"'`, Slack `<|>`) or space.
SAFE_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\x00-\x1f\x7f<>\[\]{}|()\"'`\\^]*)?$")


def is_ticket_id(value: object) -> bool:
    """Whether `value` has the shape of a Cogny ticket id (and so is safe as data anywhere)."""
    return isinstance(value, str) and TICKET_ID.fullmatch(value) is not None


def safe_url(value: str) -> str:
    """`value` if it is a link syncd may render, else '' (the ticket is rendered without it)."""
    return value if len(value) <= 2048 and SAFE_URL.fullmatch(value) else ""


class ActionItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Title
    description: str = ""
    estimated_hours: float | None = None
    completed: bool = False


class Impact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    metric: str = ""
    current_value: float | None = None
    projected_value: float | None = None
    increase_percentage: float | None = None
    confidence: float | None = None


class Ticket(BaseModel):
    """A growth ticket. `notes` is None when the listing omitted it (GET returns it)."""

    model_config = ConfigDict(extra="ignore")

    id: TicketId
    warehouse_id: str = ""
    title: Title
    description: str = ""
    category: Category
    priority: Priority
    status: Status
    estimated_impact: Impact = Field(default_factory=Impact)
    effort: str = ""
    action_items: list[ActionItem] = Field(default_factory=list)
    supporting_data: dict[str, Any] = Field(default_factory=dict)
    related_report_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    url: str = ""
    notes: str | None = None
    assignee: str | None = None

    @field_validator("url", mode="after")
    @classmethod
    def _renderable_url(cls, value: str) -> str:
        """A url that is not a plain http(s) link is dropped: the ticket renders without the link."""
        return safe_url(value)

    @classmethod
    def parse(cls, data: Any) -> "Ticket":
        """Validate API data; a bad ticket raises TicketDataError naming the fields."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            ident = data.get("id", "?") if isinstance(data, dict) else "?"
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].lower()}" for e in exc.errors())
            raise TicketDataError(f"ticket {ident}: {problems}") from None

    @property
    def impact_line(self) -> str:
        """`+25.9% conversion_rate`, or '' when the ticket gives no estimate."""
        imp = self.estimated_impact
        if imp.increase_percentage is None:
            return ""
        return f"{imp.increase_percentage:+.1f}% {imp.metric}".strip()
