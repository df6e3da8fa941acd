"""Search lag: a create whose answer was lost must not be sent again while the target's search
cannot show what it made (docs/design.md invariant 1, "no duplicates").

syncd finds a record it made by its marker. Some targets search an index that trails the writes
(JIRA: JQL, usually seconds, sometimes minutes). When a create was sent and its answer never
came back (a timeout, a lost connection, a crash or kill of syncd right after it), the link stays
`creating` without a record, with `create_sent_at` saying when. Before sending the create again,
the marker is looked up as always; if nothing is found while the last create is younger than the
connector's `search_lag_seconds`, the ticket waits (a retryable failure) instead: the next run
either finds the record or, the lag having passed, creates it. Connectors whose look-up does not
lag (a derived id, an exact read) have no such window.

A create that certainly made nothing — refused with a 4xx other than 408, or a connection never
established — clears `create_sent_at`, so a correction is tried again at once.
"""

from __future__ import annotations

from syncd.errors import ConnectorError, ServiceError
from syncd.sdk import Connector
from syncd.store.database import Link, Store, utcnow


class SearchLagging(ConnectorError):
    """The ticket waits: a create sent recently may exist, and the target's search cannot show it yet."""


def lag_of(connector: Connector) -> float:
    """How long the connector's marker search may trail a create (`search_lag_seconds`; none: 0)."""
    return float(getattr(connector, "search_lag_seconds", 0) or 0)


def before_create(store: Store, connector: Connector, link: Link, *, new_row: bool) -> None:
    """Raise `SearchLagging` while an earlier create may still be invisible; else record this send.

    Only for a connector whose search lags: the others need neither the wait nor the write.
    """
    lag = lag_of(connector)
    if not lag:
        return
    sent = link.create_sent_at
    if not new_row and sent is not None:
        age = (utcnow() - sent).total_seconds()
        if age < lag:
            raise SearchLagging(
                connector.name,
                f"a create sent {age:.0f} s ago may have made the record, and the search can lag up to "
                f"{lag:.0f} s (search_lag_seconds): waiting instead of risking a duplicate",
                retryable=True)
    link.create_sent_at = utcnow()
    store.save_link(link)  # before sending: a crash right after the send leaves the window in the store


def not_sent(store: Store, link: Link, exc: BaseException) -> None:
    """After a failed create: clear the window when the failure proves nothing was made."""
    if certainly_not_made(exc) and link.create_sent_at is not None:
        link.create_sent_at = None
        store.save_link(link)


def certainly_not_made(exc: BaseException) -> bool:
    """A refusal (4xx but 408 Request Timeout) or a connection never made: the target holds nothing."""
    if not isinstance(exc, ServiceError):
        return False
    if exc.unreachable:
        return True
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 408
