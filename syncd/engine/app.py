"""Wiring: from a loaded Config to the objects a command needs (store, Cogny client, connectors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from syncd.cogny import CognyClient
from syncd.config import Config, recreating_connectors
from syncd.engine.reconcile import Reconciler
from syncd.http import RetryPolicy
from syncd.sdk.connector import Connector, build_connectors
from syncd.store.database import Store
from syncd.store.locks import TicketLocks

if TYPE_CHECKING:
    from syncd.engine.syncback import SyncBack


def policy_for(config: Config) -> RetryPolicy:
    """The retry policy `sync:` asks for, with Cogny's timeout (every client of a run shares it)."""
    return RetryPolicy.from_settings(config.sync, timeout=config.cogny.timeout_seconds)


@dataclass
class App:
    config: Config
    store: Store
    cogny: CognyClient
    connectors: dict[str, Connector]

    @classmethod
    def build(cls, config: Config, *, migrate: bool = True) -> "App":
        policy = policy_for(config)
        store = Store.open(config.store.url) if migrate else Store.open_read_only(config.store.url)
        cogny = CognyClient.from_config(config.cogny, policy)
        return cls(config, store, cogny, build_connectors(config, policy))

    def reconciler(self, *, dry_run: bool = False, **kw: Any) -> Reconciler:
        kw.setdefault("recreate", recreating_connectors(self.config))
        return Reconciler(self.store, self.cogny, self.connectors, dry_run=dry_run, **kw)

    def syncback(self, *, locks: TicketLocks | None = None) -> "SyncBack":
        """The sync-back engine over the connectors with `sync_back: true`."""
        from syncd.config import sync_back_connectors
        from syncd.engine.syncback import SyncBack

        names = sync_back_connectors(self.config)
        return SyncBack(store=self.store, cogny=self.cogny, locks=locks or self.reconciler().locks,
                        connectors={n: self.connectors[n] for n in names if n in self.connectors},
                        status_map=self.config.sync_back.status_map,
                        dismiss_reason=self.config.sync_back.dismiss_reason)

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()
        self.cogny.close()
        self.store.close()

    def __enter__(self) -> "App":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
