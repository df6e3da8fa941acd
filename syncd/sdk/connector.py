"""The Connector protocol every target implements, and how connectors are found.

A connector is the one place that knows a target: how a ticket looks there (`render`), how
to find a record syncd made earlier (`find`, the marker look-up; optionally `find_many`, see
`BatchFinder`), and how to create and update records and their per-action-item children
(optionally many at once, see `BatchCreator`). The engine (syncd.engine) drives all of them
the same way and never asks what kind a connector is.

Connectors register under the entry-point group `syncd.connectors` (the four built-ins too),
so a third party ships one in its own package:

    [project.entry-points."syncd.connectors"]
    servicenow = "syncd_servicenow:ServiceNowConnector"
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Mapping, Protocol, runtime_checkable

from pydantic import BaseModel

from syncd.errors import ConnectorTypeError, PartialItems
from syncd.http import RetryPolicy, RetrySettings
from syncd.models import Ticket

GROUP = "syncd.connectors"
SettingsModel = type[BaseModel]  # spelled once here: inside the protocols, `type` is an attribute


@dataclass(frozen=True)
class ExternalRef:
    """Where a record lives in the target: its id, a human key (GROWTH-12) and a URL."""

    id: str
    key: str | None = None
    url: str | None = None


@dataclass
class Desired:
    """What a ticket should look like in a target: a pure function of ticket + connector config.

    `record` is the parent record; `items` maps each action item's title (Cogny items have no
    ids) to its child record. Hashes decide whether any call is needed at all.
    """

    record: dict[str, Any]
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def hash(self) -> str:
        return digest({"record": self.record, "items": self.items})

    def item_hash(self, key: str) -> str:
        return digest(self.items[key])

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record, "items": self.items}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Desired | None":
        return cls(data["record"], data.get("items", {})) if data else None


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Check:
    """One line of `check-config --connect`: what was checked, whether it passed, how to fix it."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""


@runtime_checkable
class Connector(Protocol):
    """What the engine needs from a target. All calls are blocking; the engine runs them in threads."""

    type: ClassVar[str]          # the config `type:` value
    label: ClassVar[str]         # how the notes line names the target: "Synced to JIRA: ..."
    Settings: ClassVar[SettingsModel]

    name: str                    # this instance's config name

    def render(self, ticket: Ticket) -> Desired:
        """The desired record for `ticket`; pure, no I/O."""

    def find(self, ticket: Ticket) -> ExternalRef | None:
        """Look up the marker syncd stamps on records it creates (crash or lost-store recovery)."""

    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        """Create the parent record (stamped with the marker), in the desired state."""

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired,
               previous: Desired | None) -> ExternalRef:
        """Bring an existing record to `desired`; `previous` is what was last applied, if known.

        Answers the record as it is now: a record people moved (a JIRA issue to another project)
        comes back with its new key and URL. Raises `RecordGone` when the record was deleted.
        """

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        """Existing child records of `ref` by item key (used when the store cannot be trusted)."""

    def create_items(self, ref: ExternalRef, ticket: Ticket,
                     items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        """Create child records (one bulk call where the API allows); returns those created by key."""

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        """Bring one child record to `item` (`RecordGone` when a person deleted it)."""

    def check(self) -> list[Check]:
        """Read-only checks of credentials and targets."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class BatchFinder(Protocol):
    """Optional, beside `Connector`: look many markers up at once (a poll asks once per listing page).

    A connector without it is asked `find` per ticket, as before.
    """

    def find_many(self, tickets: list[Ticket]) -> dict[str, ExternalRef | None]:
        """Ticket id -> the record carrying its marker (None: no record does), for the tickets looked up.

        A ticket left out of the answer was not looked up; the engine then asks `find` for it.
        Must be as thorough as `find`: "None" lets the engine create a record.
        """


@runtime_checkable
class Previews(Protocol):
    """Optional, beside `Connector`: the requests `create` would send, built but not sent.

    `syncd render` prints them, so that an operator sees what the target would receive (its own
    field names, ids resolved) before anything is written. Each request is a dict with `method`,
    `path` and `body` (the JSON body, or a GraphQL document's `query` and `variables`). It may read
    the target to resolve names (JIRA's field list), never write. A connector without it is
    rendered as its `Desired` record.
    """

    def preview(self, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
        """The create requests for `ticket`, in the order `create` and `create_items` would send them."""


@runtime_checkable
class BatchCreator(Connector, Protocol):
    """Optional, beside `Connector`: create many new records, then their children, in few calls.

    A poll creates the records of a listing page's new tickets with it (`syncd.engine.bulk`); a
    connector without it creates them one ticket at a time, as before. Both must stamp the
    marker exactly as `create` does, so that recovery after a crash cannot tell them apart.
    """

    def create_many(self, new: list[tuple[Ticket, Desired]]) -> list[ExternalRef | Exception]:
        """`create` for each (ticket, desired), answered in order: the record, or why it was not made.

        An exception also when it is unknown whether the record was made (a timeout): the engine
        then looks the marker up before trying again.
        """

    def create_items_many(self, parents: list[tuple[ExternalRef, Ticket, dict[str, dict[str, Any]]]]
                          ) -> list[dict[str, ExternalRef] | PartialItems]:
        """`create_items` for records created just now, answered in order: the children made by
        key, or the `PartialItems` that `create_items` would raise."""


class ConnectorClass(Protocol):
    """What an entry point of `syncd.connectors` names: a connector class, built from its settings."""

    type: str
    Settings: SettingsModel

    def __call__(self, name: str, settings: Any, *, policy: RetryPolicy | None = None) -> Connector: ...


class ConnectorEntry(Protocol):
    """A connector's entry in the config (`syncd.config.ConnectorEntry`): its `type:`."""

    @property
    def type(self) -> str: ...


class ConnectorsConfig(Protocol):
    """The part of a loaded `syncd.config.Config` that connectors are built from.

    A protocol, not the class: the config imports the SDK (settings validation), not the reverse.
    """

    @property
    def connectors(self) -> Mapping[str, ConnectorEntry]: ...

    @property
    def connector_settings(self) -> Mapping[str, Any]: ...

    @property
    def sync(self) -> RetrySettings: ...


def available_types() -> dict[str, EntryPoint]:
    """Installed connector types: `type:` value -> its entry point (not loaded yet)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def connector_class(type_name: str) -> ConnectorClass:
    """Load the class registered for `type_name` in the `syncd.connectors` entry-point group."""
    eps = available_types()
    if type_name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise ConnectorTypeError(f"unknown connector type {type_name!r} (installed: {known})")
    try:
        loaded: ConnectorClass = eps[type_name].load()  # whatever the plugin registered; checked on use
    except Exception as exc:  # a broken plugin must not take the CLI down with a traceback
        raise ConnectorTypeError(f"connector type {type_name!r} failed to load: {exc}") from None
    return loaded


def build_connectors(config: ConnectorsConfig, policy: RetryPolicy | None = None,
                     names: list[str] | None = None) -> dict[str, Connector]:
    """Instantiate every configured connector (or just `names`) from a loaded Config."""
    out: dict[str, Connector] = {}
    for name, entry in config.connectors.items():
        if names is not None and name not in names:
            continue
        cls = connector_class(entry.type)
        out[name] = cls(name, config.connector_settings[name],
                        policy=policy or RetryPolicy.from_settings(config.sync))
    return out
