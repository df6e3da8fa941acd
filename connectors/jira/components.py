"""JIRA components from `category_map`: named in the config, sent to JIRA by id.

The project's component list is read once per process (`GET project/{key}/components`), and
names compare ignoring case, as JIRA compares them. Only the components syncd set are ever
added or removed: one a person added in JIRA stays. An unknown name fails the ticket that needs
it, naming the config key; `check-config --connect` lists every unknown one up front.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from connectors.jira.settings import JiraSettings
from syncd.sdk import Check, ConnectorError, Ticket


class Components:
    def __init__(self, connector: str, settings: JiraSettings, call: Callable[[str, Any], Any]) -> None:
        self.connector = connector
        self.settings = settings
        self._call = call  # JiraConnector._call: the client, its errors and the retry policy
        self._lock = threading.Lock()
        self._known: dict[str, tuple[str, str]] | None = None

    def ids(self, names: list[str], ticket: Ticket) -> list[str]:
        """Component names as ids; an unknown name fails this ticket, naming the config key."""
        known = self.known()
        missing = [n for n in names if n.casefold() not in known]
        if missing:
            where = f"connectors.{self.connector}.category_map.{ticket.category}.components"
            raise ConnectorError("jira", f"{where}: no component {missing[0]!r} in project "
                                         f"{self.settings.project} (components: {self._listed(known)})")
        return [known[n.casefold()][0] for n in names]

    def changes(self, record: dict[str, Any], old: dict[str, Any] | None,
                ticket: Ticket) -> list[dict[str, Any]]:
        """`update.components` ops taking ours from `old` to `record`: people's components stay.

        `old` None (an adopted issue): only adds. A component that vanished from JIRA is not removed.
        """
        if "components" not in record:
            return []
        before = set((old or {}).get("components", []))
        added = [n for n in record["components"] if n not in before]
        gone = sorted(before - set(record["components"])) if old is not None else []
        known = self.known()
        ops = [{"add": {"id": cid}} for cid in self.ids(added, ticket)]
        return ops + [{"remove": {"id": known[n.casefold()][0]}} for n in gone if n.casefold() in known]

    def check(self) -> Check:
        """Every component `category_map` names exists in the project (each unknown one named with its
        key)."""
        try:
            known = self.known()
        except ConnectorError as exc:
            return Check("jira components", False, str(exc), "check `project` and the browse permission")
        unknown = [f"connectors.{self.connector}.category_map.{cat}.components: no component {name!r} "
                   f"in project {self.settings.project}" for cat, entry in self.settings.category_map.items()
                   for name in entry.components if name.casefold() not in known]
        return Check("jira components", not unknown, "; ".join(unknown) or "all mapped components exist",
                     f"components of {self.settings.project}: {self._listed(known)}; fix category_map or add "
                     f"them in JIRA")

    def known(self) -> dict[str, tuple[str, str]]:
        """The project's components, case-folded name -> (id, name); listed once per process."""
        with self._lock:
            known = self._known
        if known is None:
            listing = self._call("list components", lambda j: j.project_components(self.settings.project))
            known = {str(c.name).casefold(): (str(c.id), str(c.name)) for c in listing}
            with self._lock:
                self._known = known
        return known

    @staticmethod
    def _listed(known: dict[str, tuple[str, str]]) -> str:
        return ", ".join(sorted(name for _, name in known.values())) or "none"
