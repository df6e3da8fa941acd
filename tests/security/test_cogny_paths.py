"""A ticket id is data, never a path: no request may reach another ticket's record in Cogny (finding 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from syncd import errors
from syncd.cogny import CognyClient, ticket_path
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.cogny.sandbox import CognySandbox
from tests.support.config import COGNY_KEY, ENV, jira_settings, write_config
from tests.support.process import run_cli

HOSTILE_IDS = ["tkt_victim#x", "tkt_victim?a=b", "../tickets/tkt_victim", "tkt_victim/dismiss",
               "tkt_x/../tkt_victim", "tkt_victim%23", "tkt_victim\n", " tkt_victim", "tkt_vic tim", ""]


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox([make_ticket(id="tkt_victim", notes="Owner: growth.")]) as sb:
        yield sb


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_a_malformed_id_sends_nothing(cogny: CognySandbox, hostile: str) -> None:
    with CognyClient(f"{cogny.url}/v1", COGNY_KEY, policy=RetryPolicy(max_attempts=1)) as client:
        for call in (lambda: client.get_ticket(hostile),
                     lambda: client.update_ticket(hostile, notes="Synced to JIRA: GROWTH-9"),
                     lambda: client.dismiss(hostile, "not_relevant")):
            with pytest.raises(errors.TicketDataError, match="not a Cogny ticket id"):
                call()
    assert len(cogny.log) == 0
    victim = cogny.ticket("tkt_victim")
    assert victim["notes"] == "Owner: growth." and victim["status"] == "open"


def test_a_valid_id_is_one_quoted_path_segment() -> None:
    assert ticket_path("tkt_abc123") == "/tickets/tkt_abc123"
    assert ticket_path("tkt_abc-1_2", "dismiss") == "/tickets/tkt_abc-1_2/dismiss"


def answering_with(ticket_id: str, seen: list[str]) -> httpx.MockTransport:
    """A Cogny that answers every ticket request with ticket `ticket_id` (a confused or hostile server)."""
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        body = {"success": True, "data": make_ticket(id=ticket_id), "meta": {"request_id": "req_1"}}
        return httpx.Response(200, content=json.dumps(body), headers={"Content-Type": "application/json"})
    return httpx.MockTransport(handle)


def test_an_answer_about_another_ticket_is_refused() -> None:
    seen: list[str] = []
    client = CognyClient("http://127.0.0.1:9/v1", COGNY_KEY, transport=answering_with("tkt_other", seen))
    with client:
        for call in (lambda: client.get_ticket("tkt_mine"),
                     lambda: client.update_ticket("tkt_mine", notes="x"),
                     lambda: client.dismiss("tkt_mine", "not_relevant")):
            with pytest.raises(errors.CognyError, match="got 'tkt_other' back"):
                call()
    assert seen == ["GET /v1/tickets/tkt_mine", "PATCH /v1/tickets/tkt_mine",
                    "POST /v1/tickets/tkt_mine/dismiss"]


@pytest.mark.parametrize("hostile", ['x"OR"labels"="cogny-tkt_victim', "tkt_victim#x",
                                     "../tickets/tkt_victim", "tkt_\x1b]0;PWNED\x07"])
def test_a_ticket_with_a_malformed_id_fails_alone_at_the_edge(hostile: str) -> None:
    with pytest.raises(errors.TicketDataError, match="id"):
        Ticket.parse(make_ticket(id=hostile))


def test_run_once_fails_the_hostile_ticket_and_leaves_the_victim_alone(tmp_path: Path) -> None:
    """End to end: the victim is synced once; the crafted ids fail alone; only the victim's own requests
    name it."""
    from syncd.sandbox.jira.sandbox import JiraSandbox

    victim = make_ticket(id="tkt_victim", title="The victim's ticket")
    crafted = [make_ticket(id=i, title="Attacker")
               for i in ("tkt_victim#x", "tkt_victim?a=b", "../tickets/tkt_victim")]
    with CognySandbox([victim]) as cogny, JiraSandbox() as jira:
        with cogny.lock:  # stored as a compromised workspace would serve them
            for t in crafted:
                cogny.tickets[t["id"]] = cogny._complete(t)
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)})
        result = run_cli("run-once", "-c", str(cfg), env=ENV)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stdout.count("not of Cogny") + result.stdout.count("string should match pattern") >= 3
        writes = [f"{r.method} {r.path}" for r in cogny.log.writes()]
        assert writes == ["PATCH /v1/tickets/tkt_victim"], writes
        notes = cogny.ticket("tkt_victim")["notes"]
        assert notes.count("Synced to JIRA:") == 1
        with jira.lock:
            summaries = [i["summary"] for i in jira.issues.values() if not i["parent"]]
        assert summaries == ["The victim's ticket"]


