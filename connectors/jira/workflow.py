"""JIRA status: the transitions that move an issue to the status category a ticket asks for.

`done_transition`, `dismissed_transition` (default: the done one) and `reopen_transition` name
the transition (or the status it leads to); a workflow without it is fine when the issue already
is where it should be.
"""

from __future__ import annotations

from typing import Any, Callable

import structlog

from connectors.jira.settings import JiraSettings
from syncd.sdk import ConnectorError, ExternalRef

log = structlog.get_logger("syncd.connectors.jira")
Call = Callable[[str, Callable[[Any], Any]], Any]  # JiraClient.call: (what, fn(jira)) -> its answer


class Workflow:
    """Moves issues between status categories through the project's workflow."""

    def __init__(self, settings: JiraSettings, call: Call) -> None:
        self.settings = settings
        self._call = call

    def move_to(self, ref: ExternalRef, status: str, previous: str | None) -> None:
        """Transition when the wanted status category differs from what we last applied."""
        target = {"done": self.settings.done_transition,
                  "dismissed": self.settings.dismissed_transition or self.settings.done_transition,
                  "open": self.settings.reopen_transition}[status]
        if previous is None and status == "open":
            return  # a new issue starts open; an adopted one is left where people put it
        if previous == status:
            return
        key, name = ref.id or ref.key or "", ref.key or ref.id
        transitions = self._call("transitions", lambda j: j.transitions(key))
        match = next((t for t in transitions if t["name"].lower() == target.lower()
                      or t.get("to", {}).get("name", "").lower() == target.lower()), None)
        if match is None:
            current = self._call("get issue", lambda j: j.issue(key, fields="status")).fields.status.name
            finished = status != "open" and current.lower() in ("done", "closed")
            if current.lower() == target.lower() or finished:
                return
            names = ", ".join(t["name"] for t in transitions) or "none"
            raise ConnectorError("jira", f"{name}: no transition {target!r} (available: {names})")
        self._call("transition", lambda j: j.transition_issue(key, match["id"]))
        log.info("jira issue transitioned", external_key=name, transition=match["name"])
