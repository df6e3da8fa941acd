"""Slack backfill digests: `SlackConnector.create_many` / `update` / `find_many` against the Slack sandbox.

Over real HTTP through the real slack-sdk. The sandbox validates Block Kit as Slack does and also
refuses a message whose blocks hold more than 12,000 characters of text (`msg_blocks_too_long`),
so a digest that passes here passes Slack's limits. Expected values are written out by hand.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from connectors.slack import SlackConnector, SlackSettings
from connectors.slack.client import ChannelPacer
from syncd.errors import RecordGone
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.slack.sandbox import SlackSandbox
from syncd.sdk import ExternalRef
from tests.support.engine import engine, reconcile

TOKEN = "xoxb-sandbox"
CHANNEL = "C0GROWTH"
FAST = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, timeout=10)
PRIORITIES = ("low", "critical", "medium", "high")


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox() as sb:
        yield sb


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connector(sb: SlackSandbox, clock: Clock | None = None, **overrides: Any) -> SlackConnector:
    settings = SlackSettings(**{"token": TOKEN, "channel": CHANNEL, "base_url": f"{sb.url}/api/",
                                **overrides})
    # no pacing sleeps: these tests count calls, tests/integration/test_slack.py measures the pace
    return SlackConnector("slack", settings, policy=FAST, sleep=lambda _: None, clock=clock or Clock())


def tickets(n: int, **overrides: Any) -> list[Ticket]:
    return [Ticket.parse(make_ticket(priority=PRIORITIES[i % 4], title=f"Ticket {i}", **overrides))
            for i in range(n)]


def posts(sb: SlackSandbox) -> int:
    return sum(1 for r in sb.log.all() if r.path == "/api/chat.postMessage")


def updates(sb: SlackSandbox) -> int:
    return sum(1 for r in sb.log.all() if r.path == "/api/chat.update")


def lines(message: dict[str, Any]) -> list[str]:
    return [ln for b in message["blocks"] if b.get("block_id", "").startswith("lines-")
            for ln in b["text"]["text"].split("\n")]


def create(conn: SlackConnector, batch: list[Ticket]) -> list[Any]:
    return conn.create_many([(t, conn.render(t)) for t in batch])


# -- posting -------------------------------------------------------------------------------------------

def test_more_than_digest_over_posts_digests_and_at_most_that_many_posts_one_message_each(
        slack: SlackSandbox) -> None:
    conn = connector(slack, digest_over=3)
    batch = tickets(4)
    refs = create(conn, batch)
    [digest] = slack.messages(CHANNEL)
    assert posts(slack) == 1
    ts = digest["ts"]
    permalink = f"https://sandbox.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
    # display order: critical (ticket 1), high (3), medium (2), low (0)
    assert refs == [ExternalRef(f"{CHANNEL}:{ts}", f"{ts} line {n}", permalink) for n in (4, 1, 3, 2)]
    assert digest["metadata"] == {"event_type": "cogny_digest", "event_payload": {
        "tickets": [{"id": batch[1].id, "priority": "critical"}, {"id": batch[3].id, "priority": "high"},
                    {"id": batch[2].id, "priority": "medium"}, {"id": batch[0].id, "priority": "low"}],
        "part": 1, "parts": 1}}
    assert digest["blocks"][0] == {"type": "header", "block_id": digest["blocks"][0]["block_id"],
                                   "text": {"type": "plain_text", "text": "Cogny tickets: 4 new"}}
    assert digest["text"] == "Cogny tickets: 4 new: critical 1, high 1, medium 1, low 1"
    assert lines(digest)[0] == (f"<https://app.cogny.com/tickets/{batch[1].id}|Ticket 1> · Open · "
                                "Conversion optimization · +25.9% conversion rate")

    slack.log.clear()
    singles = create(connector(slack, digest_over=3), tickets(3))  # not more than 3: one message each
    assert posts(slack) == 3 and all(ref.key and " line " not in ref.key for ref in singles)


def test_digest_over_zero_never_digests(slack: SlackSandbox) -> None:
    create(connector(slack, digest_over=0), tickets(5))
    assert posts(slack) == 5
    assert {m["metadata"]["event_type"] for m in slack.messages(CHANNEL)} == {"cogny_ticket"}


def test_120_tickets_are_three_even_digests_within_slacks_limits(slack: SlackSandbox) -> None:
    batch = tickets(120)
    create(connector(slack), batch)
    digests = slack.messages(CHANNEL)
    assert posts(slack) == 3 and len(digests) == 3
    assert [len(d["metadata"]["event_payload"]["tickets"]) for d in digests] == [40, 40, 40]
    assert [d["blocks"][0]["text"]["text"] for d in digests] == [
        f"Cogny tickets: 40 new (part {k} of 3)" for k in (1, 2, 3)]
    listed = [t["id"] for d in digests for t in d["metadata"]["event_payload"]["tickets"]]
    assert sorted(listed) == sorted(t.id for t in batch)
    order = [t["priority"] for d in digests for t in d["metadata"]["event_payload"]["tickets"]]
    assert order == ["critical"] * 30 + ["high"] * 30 + ["medium"] * 30 + ["low"] * 30


def test_worst_case_lines_keep_fifty_tickets_within_every_limit(slack: SlackSandbox) -> None:
    # titles of entities (each `&` becomes 5 characters), the longest id, a long metric: every line
    # is clipped to 200 characters, so 50 of them and their headings stay under Slack's limits
    long_id = "tkt_" + "x" * 56
    worst = [Ticket.parse(make_ticket(id=f"{long_id}{i:04d}", priority="critical", title="&" * 500,
                                      estimated_impact={"metric": "m" * 300, "increase_percentage": 1.0}))
             for i in range(50)]
    refs = create(connector(slack, mention="<!subteam^S123>"), worst)
    [digest] = slack.messages(CHANNEL)  # accepted: no invalid_blocks, no msg_blocks_too_long
    assert all(isinstance(r, ExternalRef) for r in refs)
    assert all(len(line) <= 200 for line in lines(digest)) and len(lines(digest)) == 50
    assert digest["blocks"][1]["text"]["text"] == "<!subteam^S123> *Critical* · 50"
    text = sum(len(b["text"]["text"]) for b in digest["blocks"] if "text" in b and b["type"] != "context")
    assert text <= 10_500


def test_a_page_within_a_minute_of_a_digest_continues_the_backfill(slack: SlackSandbox) -> None:
    clock = Clock()
    conn = connector(slack, clock, digest_over=3)
    create(conn, tickets(4))
    clock.now += 59
    create(conn, tickets(2))  # below the threshold, but the backfill goes on: one more digest
    assert posts(slack) == 2
    clock.now += 61
    create(conn, tickets(2))  # later: a message each
    assert posts(slack) == 4
    kinds = [m["metadata"]["event_type"] for m in slack.messages(CHANNEL)]
    assert kinds == ["cogny_digest", "cogny_digest", "cogny_ticket", "cogny_ticket"]


# -- updating a line in place --------------------------------------------------------------------------

def test_a_change_edits_only_its_line_and_an_unchanged_line_costs_no_write(slack: SlackSandbox) -> None:
    conn = connector(slack, digest_over=3)
    batch = tickets(4)
    refs = create(conn, batch)
    before = lines(slack.messages(CHANNEL)[0])
    retitled = batch[2].model_copy(update={"title": "Shorter signup *now*"})
    slack.log.clear()
    assert conn.update(refs[2], retitled, conn.render(retitled), conn.render(batch[2])) == refs[2]
    after = lines(slack.messages(CHANNEL)[0])
    assert updates(slack) == 1 and posts(slack) == 0
    assert after[2] == (f"<https://app.cogny.com/tickets/{batch[2].id}|Shorter signup ∗now∗> · Open · "
                        "Conversion optimization · +25.9% conversion rate")
    assert [i for i in range(4) if before[i] != after[i]] == [2]

    slack.log.clear()
    conn.update(refs[2], retitled, conn.render(retitled), None)  # e.g. adopted after a lost store
    assert updates(slack) == 0 and posts(slack) == 0


def test_a_status_change_replies_in_the_thread_and_a_priority_change_shows_on_the_line(
        slack: SlackSandbox) -> None:
    conn = connector(slack, digest_over=3)
    batch = tickets(4)
    refs = create(conn, batch)
    ts = slack.messages(CHANNEL)[0]["ts"]
    changed = batch[0].model_copy(update={"status": "completed", "priority": "critical"})
    conn.update(refs[0], changed, conn.render(changed), conn.render(batch[0]))
    [reply] = slack.replies(CHANNEL, ts)
    assert reply["text"] == "Ticket 0: status changed: Open → Completed"
    # ticket 0 stays last, in the low group it was posted in
    assert lines(slack.messages(CHANNEL)[0])[3] == (
        f"✅ <https://app.cogny.com/tickets/{batch[0].id}|Ticket 0> · Completed · Conversion optimization · "
        "+25.9% conversion rate · now Critical priority")


def test_concurrent_changes_to_lines_of_one_digest_all_land(slack: SlackSandbox) -> None:
    conn = connector(slack, digest_over=3)
    batch = tickets(12)
    refs = create(conn, batch)
    changed = [t.model_copy(update={"title": f"Changed {i}"}) for i, t in enumerate(batch)]
    threads = [threading.Thread(target=conn.update, args=(ref, t, conn.render(t), None))
               for ref, t in zip(refs, changed)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    got = lines(slack.messages(CHANNEL)[0])
    titles = sorted(ln.split("|", 1)[1].split(">", 1)[0] for ln in got)
    assert titles == sorted(f"Changed {i}" for i in range(12))


def test_a_deleted_digest_or_channel_is_record_gone(slack: SlackSandbox) -> None:
    conn = connector(slack, digest_over=3)
    batch = tickets(4)
    refs = create(conn, batch)
    changed = batch[1].model_copy(update={"title": "Anything"})
    slack.delete_message(CHANNEL, slack.messages(CHANNEL)[0]["ts"])
    with pytest.raises(RecordGone) as gone:
        conn.update(refs[1], changed, conn.render(changed), conn.render(batch[1]))
    assert gone.value.how == "message deleted in Slack"

    refs = create(conn, tickets(4))
    slack.delete_channel(CHANNEL)
    with pytest.raises(RecordGone) as gone:
        conn.update(refs[0], changed, conn.render(changed), None)
    assert gone.value.how == "channel deleted in Slack"


# -- finding lines again ---------------------------------------------------------------------------------

def test_find_many_and_find_answer_each_tickets_line_after_a_lost_store(slack: SlackSandbox) -> None:
    conn = connector(slack)
    batch = tickets(60)
    refs = create(conn, batch)
    for i in range(30):  # later chatter above the digests
        slack.add_message(CHANNEL, f"chatter {i}")
    fresh = connector(slack)
    stranger = Ticket.parse(make_ticket())
    slack.log.clear()
    found = fresh.find_many([*batch, stranger])
    assert found == {**{t.id: ref for t, ref in zip(batch, refs)}, stranger.id: None}
    reads = [r.path for r in slack.log.all()]
    assert reads.count("/api/conversations.history") == 1 and reads.count("/api/chat.getPermalink") == 2
    assert fresh.find(batch[7]) == refs[7]


def test_the_engine_adopts_a_digest_line_with_a_lost_store_and_writes_nothing(
        slack: SlackSandbox, tmp_path: Path) -> None:
    conn = connector(slack, digest_over=3)
    batch = tickets(4)
    refs = create(conn, batch)
    slack.log.clear()
    result = reconcile(engine(tmp_path, connector(slack), db="lost.db"), batch[3], ["slack"])
    assert result.outcomes[0].action == "updated" and result.outcomes[0].ref == refs[3]
    assert posts(slack) == 0 and updates(slack) == 0
    # the marker look-up's read of the channel is enough to see the line is right: no second read
    assert sum(1 for r in slack.log.all() if r.path == "/api/conversations.history") == 1


def test_the_pacer_counts_the_second_from_the_answer_so_slack_never_refuses_the_next_post() -> None:
    now, slept = [100.0], []
    pacer = ChannelPacer(1.0, clock=lambda: now[0], sleep=slept.append)
    assert pacer.wait("C1") == 0.0
    now[0] += 0.25  # the post took 0.25 s to be answered
    pacer.done("C1")
    assert pacer.wait("C1") == 1.0 and slept == [1.0]  # a second after the answer, not after the send
    with SlackSandbox(post_rate_per_second=1) as sb:  # Slack's real pace: a second from the last post
        settings = SlackSettings(token=TOKEN, channel=CHANNEL, base_url=f"{sb.url}/api/", digest_over=0)
        conn = SlackConnector("slack", settings, policy=FAST)
        create(conn, tickets(3))
        assert [r.status for r in sb.log.all() if r.path == "/api/chat.postMessage"] == [200, 200, 200]
