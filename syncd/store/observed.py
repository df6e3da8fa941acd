"""Sync-back's part of the store: what each linked record looked like when last read, the
secrets targets hand over at run time, and the look-up from a target's record id to its ticket.

It works on the same engine as the links (like syncd.store.inbox), in its own tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from syncd.store.database import utcnow
from syncd.store.schema import LinkState, hook_secrets, links, remote_states, subtask_links


@dataclass
class Observed:
    """A linked record as last read from its target, and Cogny's state at that moment."""

    category: str
    items: dict[str, str] = field(default_factory=dict)   # child external id -> category
    updated_at: str | None = None                          # the target's time, ISO 8601
    cogny_status: str | None = None
    cogny_items: dict[str, bool] = field(default_factory=dict)  # action item title -> completed

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Observed":
        data = json.loads(text)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class LinkedRecord:
    """One synced link of a connector: enough to read the record and to find its ticket."""

    link_id: int
    connector: str
    ticket_id: str
    external_id: str
    external_key: str | None
    external_url: str | None
    observed: Observed | None


class ObservedStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def linked(self, connector: str, batch: int = 100) -> Iterator[list[LinkedRecord]]:
        """Every synced link of `connector` with its last observation, in batches (keyset paging)."""
        after = 0
        while True:
            query = _synced(connector).where(links.c.id > after).order_by(links.c.id).limit(batch)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            yield [_linked(r) for r in rows]
            after = rows[-1][0]

    def record(self, connector: str, ticket_id: str) -> LinkedRecord | None:
        query = _synced(connector).where(links.c.ticket_id == ticket_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _linked(row) if row else None

    def tickets_for(self, connector: str, external_ids: list[str]) -> dict[str, str]:
        """external id (parent or child record) -> ticket id, for the ids syncd knows."""
        if not external_ids:
            return {}
        with self.engine.connect() as conn:
            parents = conn.execute(sa.select(links.c.external_id, links.c.ticket_id).where(
                links.c.connector == connector, links.c.external_id.in_(external_ids))).all()
            children = conn.execute(
                sa.select(subtask_links.c.external_id, links.c.ticket_id)
                .select_from(subtask_links.join(links, links.c.id == subtask_links.c.link_id))
                .where(links.c.connector == connector, subtask_links.c.external_id.in_(external_ids))).all()
        return {ext: ticket for ext, ticket in [*children, *parents]}

    def item_keys(self, link_id: int) -> dict[str, str]:
        """child external id -> action item title."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(subtask_links.c.external_id, subtask_links.c.item_key)
                                .where(subtask_links.c.link_id == link_id)).all()
        return {ext: key for ext, key in rows}

    def save(self, link_id: int, observed: Observed) -> None:
        values = {"state": observed.to_json(), "observed_at": utcnow()}
        with self.engine.begin() as conn:
            done = conn.execute(remote_states.update().where(remote_states.c.link_id == link_id)
                                .values(**values)).rowcount
            if not done:
                try:
                    with conn.begin_nested():
                        conn.execute(remote_states.insert().values(link_id=link_id, **values))
                except IntegrityError:  # a concurrent first observation: last write wins
                    conn.execute(remote_states.update().where(remote_states.c.link_id == link_id)
                                 .values(**values))

    # -- secrets a target hands over (Asana's handshake) --------------------------------------
    def hook_secret(self, connector: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(hook_secrets.c.secret)
                                .where(hook_secrets.c.connector == connector)).scalar()

    def set_hook_secret(self, connector: str, secret: str) -> bool:
        """Keep the first secret a handshake hands over (trust on first use).

        True when `secret` is now the stored one (new, or the same handshake repeated); False
        when a different secret is already stored: anyone can send a handshake, and replacing
        the secret would silence the real webhook. `forget_hook_secret` makes room for a new one.
        """
        with self.engine.begin() as conn:
            old = conn.execute(sa.select(hook_secrets.c.secret)
                               .where(hook_secrets.c.connector == connector)).scalar()
            if old is None:
                conn.execute(hook_secrets.insert().values(connector=connector, secret=secret,
                                                          created_at=utcnow()))
                return True
            return bool(old == secret)

    def summary(self, connector: str) -> tuple[int, datetime | None, bool]:
        """For `syncd status`: records observed, when last, and whether a handshake secret is stored."""
        with self.engine.connect() as conn:
            count, last = conn.execute(
                sa.select(sa.func.count(), sa.func.max(remote_states.c.observed_at))
                .select_from(remote_states.join(links, links.c.id == remote_states.c.link_id))
                .where(links.c.connector == connector)).one()
            secret = conn.execute(sa.select(sa.func.count()).select_from(hook_secrets)
                                  .where(hook_secrets.c.connector == connector)).scalar()
        return int(count or 0), last, bool(secret)

    def forget_hook_secret(self, connector: str) -> bool:
        """Drop the stored handshake secret (before registering the webhook again); True if one was stored."""
        with self.engine.begin() as conn:
            deleted = conn.execute(hook_secrets.delete().where(hook_secrets.c.connector == connector))
            return bool(deleted.rowcount)


def _synced(connector: str) -> sa.Select[Any]:
    """Synced links of `connector` joined with their last observation (if any)."""
    synced: LinkState = "synced"
    return (sa.select(links.c.id, links.c.connector, links.c.ticket_id, links.c.external_id,
                      links.c.external_key, links.c.external_url, remote_states.c.state)
            .select_from(links.outerjoin(remote_states, remote_states.c.link_id == links.c.id))
            .where(links.c.connector == connector, links.c.state == synced,
                   links.c.external_id.is_not(None)))


def _linked(row: Any) -> LinkedRecord:
    link_id, connector, ticket_id, ext_id, ext_key, ext_url, state = row
    observed = Observed.from_json(state) if state else None
    return LinkedRecord(link_id, connector, ticket_id, ext_id, ext_key, ext_url, observed)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
