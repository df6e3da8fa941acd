"""Several `syncd run` replicas on one PostgreSQL store: one leader, shared inbox, no duplicates."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.store.database import Store
from tests.support.config import jira_settings, write_config
from tests.support.daemon import SECRET, Daemon, event
from tests.support.process import free_port, wait_for
from tests.support.records import parents_by_ticket

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


@pytest.fixture
def sandboxes() -> Iterator[tuple[CognySandbox, JiraSandbox]]:
    with CognySandbox(generate_tickets(100, seed=77)) as cogny, JiraSandbox() as jira:
        yield cogny, jira


def leader_of(replicas: list[Daemon]) -> list[Daemon]:
    leaders = []
    for d in replicas:
        try:
            if httpx.get(f"{d.url}/readyz", timeout=2).json().get("leader"):
                leaders.append(d)
        except httpx.HTTPError:
            pass
    return leaders


@pytest.mark.config_keys("schedule.leader_check_seconds", "inbox.lease_seconds")
def test_three_replicas_share_the_work_and_survive_the_leader_dying(
        tmp_path: Path, postgres_url: str, sandboxes: tuple[CognySandbox, JiraSandbox]) -> None:
    cogny, jira = sandboxes
    replicas = []
    for i in range(3):
        port = free_port()
        jira_entry = {"jira": jira_settings(jira.url)}
        cfg = write_config(tmp_path / f"r{i}.yaml", cogny.url, jira_entry, store=None, extra={
            "store": {"url": postgres_url},
            "webhook": {"host": "127.0.0.1", "port": port, "secret": SECRET},
            "schedule": {"interval_seconds": 2, "leader_check_seconds": 1},
            "inbox": {"lease_seconds": 3, "backoff_seconds": 0.2, "max_backoff_seconds": 1}})
        replicas.append(Daemon(cfg, port, tmp_path / f"r{i}.log").start())
    try:
        [leader] = wait_for(lambda: leader_of(replicas) if len(leader_of(replicas)) == 1 else None,
                            timeout=15)
        ids = sorted(cogny.tickets)
        accepted: list[str] = []
        for n in range(300):
            target = replicas[n % 3]
            if n == 150:
                leader.stop(signal.SIGKILL)
            if target is leader and n >= 150:
                target = next(r for r in replicas if r is not leader)
            ev = event(ids[n % len(ids)], n, "ticket.updated")
            if target.send(ev).status_code == 202:
                accepted.append(ev["id"])
        assert len(accepted) == 300
        survivors = [r for r in replicas if r is not leader]
        [new_leader] = wait_for(lambda: leader_of(survivors) or None, timeout=10, what="a new leader")
        assert new_leader is not leader

        store = Store.open(postgres_url)
        from syncd.store.inbox import Inbox

        inbox = Inbox(store.engine)
        wait_for(lambda: set(inbox.counts()) <= {"done", "ignored"}, timeout=90, interval=0.5)
        assert sum(inbox.counts().values()) == 300
        wait_for(lambda: len(parents_by_ticket(jira)) == len(ids), timeout=30)
        assert set(parents_by_ticket(jira).values()) == {1}  # no duplicate, whoever raced
        subs = [i for i in jira.issues.values() if i["parent"]]
        per_parent_titles = {}
        for s in subs:
            per_parent_titles.setdefault(s["parent"], []).append(s["summary"])
        assert all(len(t) == len(set(t)) for t in per_parent_titles.values())
        store.close()
    finally:
        for r in replicas:
            r.stop(signal.SIGKILL)
