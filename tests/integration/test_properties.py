"""Properties that need the outside world: hashes agree across processes, reconcile is idempotent.

tests/unit/test_properties.py has the rendering properties (no I/O).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from hypothesis import assume, given

from syncd import redact
from syncd.errors import TicketDataError
from syncd.models import Ticket
from syncd.sandbox._common.tickets import generate_tickets
from tests.support import ROOT
from tests.support.properties import MARKUP, POLICY, RECONCILE, connectors_for, reasonable_visible, tickets

OFFLINE = {k: "http://127.0.0.1:9" for k in ("jira", "slack", "linear", "asana")}  # render needs no I/O


def test_hash_is_the_same_in_another_process() -> None:
    """The applied hash lives in the store: a restart (other hash seed) must compute the same one."""
    raws = generate_tickets(25, seed=3)
    raws[0]["title"] = "Sets must not leak order: " + "".join(MARKUP)
    script = (
        "import json, sys\n"
        "from tests.support.properties import connectors_for\n"
        "from syncd.models import Ticket\n"
        "made = connectors_for({k: 'http://127.0.0.1:9' for k in ('jira', 'slack', 'linear', 'asana')})\n"
        "raws = json.load(sys.stdin)\n"
        "print(json.dumps({n: [c.render(Ticket.parse(r)).hash() for r in raws] for n, c in made.items()}))\n")
    offline = connectors_for(OFFLINE)
    here = {n: [c.render(Ticket.parse(r)).hash() for r in raws] for n, c in offline.items()}
    for connector in offline.values():
        connector.close()
    for seed in ("1", "4242"):
        out = subprocess.run([sys.executable, "-c", script], input=json.dumps(raws), capture_output=True,
                             text=True, env={**os.environ, "PYTHONHASHSEED": seed}, cwd=ROOT, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == here


# -- reconcile is idempotent ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Every sandbox started once for the module, connectors on them, one store (distinct ticket ids)."""
    from syncd.cogny import CognyClient
    from syncd.engine.reconcile import Reconciler
    from syncd.sandbox.asana.sandbox import AsanaSandbox
    from syncd.sandbox.cogny.sandbox import CognySandbox
    from syncd.sandbox.jira.sandbox import JiraSandbox
    from syncd.sandbox.linear.sandbox import LinearSandbox
    from syncd.sandbox.slack.sandbox import SlackSandbox
    from syncd.store.database import Store

    with CognySandbox() as cogny, JiraSandbox() as jira, SlackSandbox() as slack, LinearSandbox() as linear, \
            AsanaSandbox() as asana:
        sbs = {"cogny": cogny, "jira": jira, "slack": slack, "linear": linear, "asana": asana}
        made = connectors_for({n: sb.url for n, sb in sbs.items()}, asana_sb=asana)
        client = CognyClient(f"{cogny.url}/v1", "sk_test_sandbox", policy=POLICY)
        store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('props') / 'syncd.db'}")
        reconciler = Reconciler(store, client, made)
        ids = itertools.count(1)
        try:
            yield SimpleNamespace(sbs=sbs, reconciler=reconciler, cogny=cogny, client=client, ids=ids)
        finally:
            for c in made.values():
                c.close()
            client.close()
            store.close()
            redact.clear()


@RECONCILE
@given(tickets(title=reasonable_visible, item_title=reasonable_visible))
def test_reconcile_twice_is_reconcile_once(live: SimpleNamespace, raw: dict[str, Any]) -> None:
    raw = {**raw, "id": f"tkt_prop{next(live.ids):06d}"}
    raw["url"] = f"https://app.cogny.com/tickets/{raw['id']}"
    raw["notes"] = raw["notes"] if raw["notes"] is not None else ""
    try:
        Ticket.parse(raw)
    except TicketDataError:
        assume(False)
    live.cogny.add_ticket(raw)  # no subscription: nothing is delivered anywhere
    targets = ["jira", "slack", "linear", "asana"]

    first = live.reconciler.reconcile(Ticket.parse(live.cogny.ticket(raw["id"])), targets)
    assert not first.failed, [(o.connector, o.error) for o in first.outcomes] + [first.error]
    assert {o.action for o in first.outcomes} == {"created"}

    for sb in live.sbs.values():
        sb.log.clear()
    fresh = Ticket.parse(live.cogny.ticket(raw["id"]))  # as the next poll or webhook would see it
    second = live.reconciler.reconcile(fresh, targets)
    assert [o.action for o in second.outcomes] == ["unchanged"] * 4, [
        (o.connector, o.action, o.error) for o in second.outcomes]
    assert not second.failed and not second.notes_written
    listed = Ticket.parse({k: v for k,
                           v in live.cogny.ticket(raw["id"]).items() if k not in ("notes", "assignee")})
    third = live.reconciler.reconcile(listed, targets)  # the listing's form (no notes) is a no-op too
    assert [o.action for o in third.outcomes] == ["unchanged"] * 4 and not third.notes_written
    writes = [(n, r.method, r.path) for n, sb in live.sbs.items() for r in sb.log.writes()]
    assert writes == [], writes
    notes = live.cogny.ticket(raw["id"])["notes"]
    for label in ("JIRA", "Slack", "Linear", "Asana"):
        assert sum(line.startswith(f"Synced to {label}:") for line in notes.splitlines()) == 1, notes
