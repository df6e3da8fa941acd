"""`syncd render`: show what each connector would send for one ticket, without sending it.

By default each connector shows its request bodies as they would be sent to create the ticket's
record (field ids resolved, the target's own field names), when the connector implements the
optional `syncd.sdk.Previews` (`preview(ticket, desired)`: the requests built, not sent; it may
read the target, e.g. JIRA's field list, to resolve names to ids). A connector without it shows
its rendered record and says so.

`--internal` shows syncd's own view instead: each connector's `Desired` record and items and the
hash the engine compares — pure, no connector contacted — so a template can be tried against a
real (or hand-written) ticket before it reaches JIRA, Linear, Asana or Slack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from syncd.config import Config
from syncd.engine import routing
from syncd.errors import ConfigError, SyncdError
from syncd.models import Ticket
from syncd.sdk.connector import Desired, Previews, build_connectors


def load_ticket(cfg: Config, ticket_id: str, file: Path | None) -> Ticket:
    """The ticket from `file` (a ticket object, or the API's `{"data": {...}}`), else from Cogny."""
    if file is not None:
        try:
            data: Any = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SyncdError(f"--file {file}: cannot read a JSON ticket: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            data = data["data"]
        if isinstance(data, dict) and ticket_id and data.get("id") not in (None, ticket_id):
            raise SyncdError(f"--file {file}: holds ticket {data.get('id')!r}, not {ticket_id!r}")
        return Ticket.parse(data)
    from syncd.cogny import CognyClient

    with CognyClient.from_config(cfg.cogny) as client:
        return Ticket.parse(client.get_ticket(ticket_id))


def render_ticket(cfg: Config, ticket: Ticket, connector: str | None = None, *,
                  internal: bool = True) -> dict[str, Any]:
    """{connector name: {type, ...}} or {type, error} for each target of `ticket`: with `internal`,
    `record`, `items` and `hash`; else `requests` (see the module's docstring).

    Without `connector`, the targets are the ones routing sends the ticket to.
    """
    if connector is not None and connector not in cfg.connectors:
        known = ", ".join(sorted(cfg.connectors)) or "none defined"
        raise ConfigError([f"--connector: unknown connector {connector!r} (known: {known})"], cfg.source)
    names = [connector] if connector else routing.route(ticket, cfg.routes, cfg.connectors)
    connectors = build_connectors(cfg, names=names)
    out: dict[str, Any] = {}
    try:
        for name in names:
            entry: dict[str, Any] = {"type": cfg.connectors[name].type}
            try:
                desired = connectors[name].render(ticket)
            except Exception as exc:  # one target's template failing must not hide the others
                entry["error"] = f"{type(exc).__name__}: {exc}"
            else:
                entry.update(_internal(desired) if internal else _requests(connectors[name], ticket, desired))
            out[name] = entry
    finally:
        for conn in connectors.values():
            conn.close()
    return out


def _internal(desired: Desired) -> dict[str, Any]:
    return {**desired.to_json(), "hash": desired.hash()}


def _requests(connector: Any, ticket: Ticket, desired: Desired) -> dict[str, Any]:
    """The connector's request bodies (its optional `preview`), else its record with a note."""
    if not isinstance(connector, Previews):
        return {"requests": None, **desired.to_json(),
                "note": "this connector cannot show its request bodies; its rendered record is shown"}
    try:
        return {"requests": connector.preview(ticket, desired)}
    except Exception as exc:  # a lookup failing (field list unreadable) fails this target alone
        return {"error": f"{type(exc).__name__}: {exc}"}


def run(cfg: Config, ticket_id: str, connector: str | None, file: Path | None, *,
        internal: bool = False) -> tuple[str, bool]:
    """The JSON document `syncd render` prints, and whether every target rendered."""
    ticket = load_ticket(cfg, ticket_id, file)
    result = render_ticket(cfg, ticket, connector, internal=internal)
    ok = all("error" not in entry for entry in result.values())
    return json.dumps({"ticket": ticket.id, "connectors": result}, indent=2, ensure_ascii=False,
                      sort_keys=False, default=str), ok
