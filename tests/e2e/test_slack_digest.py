"""A Slack backfill posts digests, not one message per ticket (issue 20, point 3), with the real CLI.

A first `syncd run-once` of 120 Slack-routed tickets against the Slack sandbox (Block Kit validated
as Slack does, a message's blocks limited in text too) posts at most ⌈120 / 50⌉ = 3 messages; each
ticket's notes link the digest holding its line; a retitle edits that line in place; a run with
nothing changed calls Slack zero times; a lost store finds every line again and posts nothing; 10
tickets later get a message each. Config key under test: `connectors.slack.digest_over`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from tests.support.process import run_once
from tests.support.records import CHANNEL
from tests.support.world import world

pytestmark = [pytest.mark.e2e]

N = 120
HOSTILE = {0: "<!channel> ship it", 1: "*bold* claim", 2: "<https://evil.example|x> click"}
NOTES_LINE = re.compile(r"^Synced to Slack: (\d+\.\d+) line (\d+) (\S+)$")


def _tickets() -> list[dict[str, Any]]:
    tickets = generate_tickets(N, seed=20)
    for i, title in HOSTILE.items():
        tickets[i]["title"] = title
    return tickets


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """120 tickets routed to Slack only, after one `run-once` (exit 0)."""
    with world(tmp_path, _tickets(), ("slack",), connector_kw={"slack": {"digest_over": 20}}) as w:
        first = run_once(w.cfg)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        w.first = first
        yield w


def _calls(w: SimpleNamespace, method: str) -> int:
    return sum(1 for r in w.slack.log.all() if r.path == f"/api/{method}")


def _digests(w: SimpleNamespace) -> list[dict[str, Any]]:
    return [m for m in w.slack.messages(CHANNEL)
            if (m.get("metadata") or {}).get("event_type") == "cogny_digest"]


def _lines(message: dict[str, Any]) -> list[str]:
    """A digest's ticket lines in display order: the sections whose block_id says they hold lines."""
    out: list[str] = []
    for block in message["blocks"]:
        if block["type"] == "section" and block["block_id"].startswith("lines-"):
            out += block["text"]["text"].split("\n")
    return out


def _notes_line(w: SimpleNamespace, tid: str) -> tuple[str, int, str]:
    notes = w.cogny.ticket(tid).get("notes") or ""
    lines = [ln for ln in notes.splitlines() if ln.startswith("Synced to Slack")]
    assert len(lines) == 1, (tid, lines)
    match = NOTES_LINE.match(lines[0])
    assert match, lines[0]
    return match.group(1), int(match.group(2)), match.group(3)


def _line_of(w: SimpleNamespace, tid: str) -> str:
    ts, n, _ = _notes_line(w, tid)
    [message] = [m for m in _digests(w) if m["ts"] == ts]
    return _lines(message)[n - 1]


@pytest.mark.config_keys("connectors.slack.digest_over")
def test_a_first_sync_of_120_tickets_posts_three_digests_and_every_ticket_links_its_line(
        synced: SimpleNamespace) -> None:
    w = synced
    assert _calls(w, "chat.postMessage") <= math.ceil(N / 50) == 3
    digests = _digests(w)
    assert len(w.slack.messages(CHANNEL)) == len(digests) == 3
    listed = [t["id"] for m in digests for t in m["metadata"]["event_payload"]["tickets"]]
    assert sorted(listed) == sorted(w.cogny.tickets)  # every ticket once, in exactly one digest
    for message in digests:
        assert len(message["blocks"]) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"] if b["type"] == "section")
        tickets = message["metadata"]["event_payload"]["tickets"]
        assert len(tickets) <= 50 and len(_lines(message)) == len(tickets)
        ranks = [["critical", "high", "medium", "low"].index(t["priority"]) for t in tickets]
        assert ranks == sorted(ranks)  # grouped by priority, critical first
    for tid, ticket in w.cogny.tickets.items():
        ts, n, url = _notes_line(w, tid)
        assert url == f"https://sandbox.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
        [message] = [m for m in digests if m["ts"] == ts]
        assert message["metadata"]["event_payload"]["tickets"][n - 1]["id"] == tid
        assert f"<{ticket['url']}|" in _lines(message)[n - 1]  # the line links its own ticket


def test_hostile_titles_are_text_in_their_lines(synced: SimpleNamespace) -> None:
    tids = list(synced.cogny.tickets)
    expected = {0: "&lt;!channel&gt; ship it", 1: "∗bold∗ claim", 2: "&lt;https://evil.example|x&gt; click"}
    for i, text in expected.items():
        line = _line_of(synced, tids[i])
        assert f"|{text}>" in line, line
    every = "\n".join(line for m in _digests(synced) for line in _lines(m))
    assert "<!channel>" not in every and "*bold*" not in every and "<https://evil" not in every


def test_a_retitle_edits_its_line_in_place_then_nothing_changed_costs_no_call(
        synced: SimpleNamespace) -> None:
    w = synced
    tid, other = list(w.cogny.tickets)[10], list(w.cogny.tickets)[11]
    ts, n, _ = _notes_line(w, tid)
    before = {m["ts"]: _lines(m) for m in _digests(w)}
    w.cogny.edit_ticket(tid, title="Retitled: shorter signup")
    w.slack.log.clear()
    result = run_once(w.cfg)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _calls(w, "chat.postMessage") == 0 and _calls(w, "chat.update") == 1
    after = {m["ts"]: _lines(m) for m in _digests(w)}
    assert "|Retitled: shorter signup>" in after[ts][n - 1]
    assert [i for i, (a, b) in enumerate(zip(before[ts], after[ts])) if a != b] == [n - 1]
    assert all(after[k] == before[k] for k in before if k != ts)
    assert _notes_line(w, other)[:2] != (ts, n)

    w.slack.log.clear()
    again = run_once(w.cfg)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert w.slack.log.all() == []


def test_a_status_change_replies_in_the_digest_thread_naming_the_ticket(synced: SimpleNamespace) -> None:
    w = synced
    tid = list(w.cogny.tickets)[20]
    ts, n, _ = _notes_line(w, tid)
    w.cogny.edit_ticket(tid, status="in_progress", title="Fix the checkout")
    w.slack.log.clear()
    result = run_once(w.cfg)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [reply] = w.slack.replies(CHANNEL, ts)
    assert reply["text"] == "Fix the checkout: status changed: Open → In progress"
    assert len(w.slack.messages(CHANNEL)) == 3  # no new top-level message
    assert "In progress" in _line_of(w, tid)


def test_a_lost_store_adopts_every_line_and_posts_nothing(synced: SimpleNamespace) -> None:
    w = synced
    notes = {tid: w.cogny.ticket(tid).get("notes") for tid in w.cogny.tickets}
    for leftover in w.tmp.glob("syncd.db*"):
        leftover.unlink()
    w.slack.log.clear()
    result = run_once(w.cfg)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _calls(w, "chat.postMessage") == 0 and _calls(w, "chat.update") == 0
    assert _calls(w, "conversations.history") == 2  # one marker look-up per listing page, no read per line
    assert len(w.slack.messages(CHANNEL)) == 3
    assert {tid: w.cogny.ticket(tid).get("notes") for tid in w.cogny.tickets} == notes


def test_ten_tickets_later_get_a_message_each(synced: SimpleNamespace) -> None:
    w = synced
    later = generate_tickets(10, seed=21)
    for ticket in later:
        w.cogny.add_ticket(ticket)
    w.slack.log.clear()
    result = run_once(w.cfg)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _calls(w, "chat.postMessage") == 10
    singles = [m["metadata"]["event_payload"]["ticket_id"] for m in w.slack.messages(CHANNEL)
               if (m.get("metadata") or {}).get("event_type") == "cogny_ticket"]
    assert sorted(singles) == sorted(t["id"] for t in later)
    for ticket in later:
        line = [ln for ln in (w.cogny.ticket(ticket["id"]).get("notes") or "").splitlines()
                if ln.startswith("Synced to Slack")]
        assert len(line) == 1 and " line " not in line[0]
