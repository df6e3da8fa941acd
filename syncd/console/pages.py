"""What each console page shows, gathered from the store and the live config (no I/O beyond the store).

Kept apart from the routes so that a unit test can check a page's data without HTTP, and so that
`bench/console.py` can time the queries and the rendering separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy.engine import Engine

from syncd import __version__
from syncd.config import Config, sync_back_connectors
from syncd.console import charts
from syncd.engine import routing
from syncd.redact import redact
from syncd.store import views
from syncd.store.observed import ObservedStore
from syncd.store.schema import EVENT_STATES, LINK_STATES

CHART_RUNS = 30
AGES: dict[str, tuple[str, timedelta | None, timedelta | None]] = {
    # value -> (label, newer than, older than)
    "": ("any age", None, None),
    "1h": ("last hour", timedelta(hours=1), None),
    "24h": ("last 24 hours", timedelta(hours=24), None),
    "old": ("older than a day", None, timedelta(hours=24)),
    "week": ("older than a week", None, timedelta(days=7)),
}


@dataclass
class Schedule:
    daemons: list[views.DaemonRow]

    @property
    def leader(self) -> views.DaemonRow | None:
        return next((d for d in self.daemons if d.leader), None)


def overview(engine: Engine, config: Config) -> dict[str, Any]:
    summaries = views.connector_summaries(engine, list(config.connectors))
    runs = views.recent_runs(engine, CHART_RUNS)
    per_minute = views.events_per_minute(engine, hours=3)
    observed = ObservedStore(engine)
    sync_back = {name: observed.summary(name)[1] for name in sync_back_connectors(config)}
    labels = [f"run {r['id']}" for r in runs]
    reconciled = [float(r["created"] + r["updated"] + r["unchanged"]) for r in runs]
    return {
        "states": [*LINK_STATES, "failed"],
        "connectors": summaries,
        "inbox": views.inbox_depth(engine),
        "schedule": Schedule(views.daemons_running(engine)),
        "sync_back": {k: views.aware(v) for k, v in sync_back.items()},
        "version": __version__,
        "config_file": config.source,
        "charts": [
            charts.stacked_bars(f"tickets per run (last {len(runs)} runs)",
                                [("reconciled", reconciled, "#37b24d"),
                                 ("failed", [float(r["failed"]) for r in runs], "#e03131")], labels),
            charts.line("run duration", [round(float(r["duration_seconds"] or 0), 2) for r in runs],
                        unit=" s"),
            charts.stacked_bars("webhook events per minute (last 3 hours)",
                                [("events", [float(v) for v in per_minute], "#1c7ed6")]),
        ],
    }


def config_tree(config: Config) -> dict[str, Any]:
    """The resolved config as check-config sees it, every secret masked (twice: by type, then by value)."""
    doc = config.model_dump(mode="json", exclude={"connectors"})
    connectors = {}
    for name, entry in config.connectors.items():
        settings = config.connector_settings.get(name)
        connectors[name] = {"type": entry.type, "sync_back": entry.sync_back,
                            "webhook_secret": _mask(entry.webhook_secret),
                            **(_masked(settings) if isinstance(settings, BaseModel) else {})}
    doc["connectors"] = connectors
    redacted: dict[str, Any] = _redacted(doc)
    return redacted


def receives(config: Config) -> list[tuple[str, str, str]]:
    """(connector, type, which routes send it tickets), like `syncd check-config`."""
    out = []
    for name, entry in config.connectors.items():
        rules = [f"route {i}" for i, r in enumerate(config.routes) if name in r.connectors]
        out.append((name, entry.type, ", ".join(rules) if config.routes else "every ticket"))
    return out


def route_test(config: Config, fields: dict[str, str]) -> dict[str, Any]:
    """`syncd routes test` for the form's fields (empty ones left out)."""
    ticket = {k: v for k, v in fields.items() if k in routing.MATCH_KEYS and v}
    explained = routing.explain(ticket, config.routes)
    return {"ticket": ticket, "explained": explained,
            "targets": routing.route(ticket, config.routes, list(config.connectors))}


def event_filters(state: str, type_: str, age: str) -> dict[str, Any]:
    """The events page's filters, unknown values dropped (the page then says which were ignored)."""
    return {"state": state if state in EVENT_STATES else "", "type": type_[:64],
            "age": age if age in AGES else ""}


def events_page(engine: Engine, filters: dict[str, Any], before: int | None) -> views.Page:
    _, newer, older = AGES[filters["age"]]
    return views.events_page(engine, state=filters["state"] or None, type_=filters["type"] or None,
                             newer_than=newer, older_than=older, before=before)


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago', 'in 12 s', or 'never'."""
    if when is None:
        return "never"
    seconds = ((now or datetime.now(timezone.utc)) - when).total_seconds()
    future, seconds = seconds < 0, abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = f"{int(seconds)} s"
    return f"in {text}" if future else f"{text} ago"


def _mask(value: SecretStr | None) -> str | None:
    return "********" if value is not None else None


def _masked(model: BaseModel) -> dict[str, Any]:
    return {k: ("********" if isinstance(getattr(model, k), SecretStr) else v)
            for k, v in model.model_dump(mode="json").items()}


def _redacted(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _redacted(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_redacted(v) for v in node]
    return redact(node) if isinstance(node, str) else node
