"""The Cogny ticket as syncd reads it: typed, lenient about extra fields, strict about the ones it maps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# A title must say something: whitespace alone would render as an empty summary every target refuses.
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

from syncd.errors import TicketDataError


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

    id: str = Field(min_length=1)
    warehouse_id: str = ""
    title: Title
    description: str = ""
    # The API's enums: an unknown value fails this ticket with a clear reason instead of being
    # mapped silently to some default.
    category: Literal["conversion_optimization", "funnel_optimization", "user_engagement", "revenue_growth",
                      "retention", "acquisition", "technical_performance", "data_quality"]
    priority: Literal["critical", "high", "medium", "low"]
    status: Literal["open", "in_progress", "completed", "dismissed"]
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

    def item_titles(self) -> list[str]:
        return [item.title for item in self.action_items]
