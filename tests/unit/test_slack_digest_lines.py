"""A digest line, by hand: ticket text made inert for mrkdwn, the link only for a short checked url."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.slack.digests import Digest, line, split, status_reply
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket

URL = "https://app.cogny.com/tickets/tkt_1"


def ticket(**overrides: Any) -> Ticket:
    base: dict[str, Any] = {"id": "tkt_1", "url": URL, "priority": "high", "status": "open",
                            "category": "revenue_growth", "estimated_impact": {}}
    return Ticket.parse(make_ticket(**{**base, **overrides}))


@pytest.mark.parametrize("title, shown", [
    ("<!channel> ship it", "&lt;!channel&gt; ship it"),
    ("*bold* _it_ ~s~ `c`", "∗bold∗ ˍitˍ ∼s∼ ˋcˋ"),
    ("<https://evil.example|x> click", "&lt;https://evil.example|x&gt; click"),
    ("Tom & Jerry <3", "Tom &amp; Jerry &lt;3"),
    ("two\nlines\there", "two lines here"),
])
def test_hostile_titles_are_inert_text_inside_the_link(title: str, shown: str) -> None:
    assert line(ticket(title=title), "high") == f"<{URL}|{shown}> · Open · Revenue growth"


def test_status_icon_impact_and_a_priority_changed_since_posting() -> None:
    done = ticket(title="Fix", status="completed", priority="critical",
                  estimated_impact={"metric": "conversion_rate", "increase_percentage": 25.9})
    assert line(done, "low") == f"✅ <{URL}|Fix> · Completed · Revenue growth · +25.9% conversion rate · " \
                                "now Critical priority"


def test_a_long_url_leaves_the_title_unlinked_and_a_long_title_is_clipped() -> None:
    long_url = "https://app.cogny.com/" + "a" * 120
    assert line(ticket(title="Fix", url=long_url), "high") == "Fix · Open · Revenue growth"
    clipped = line(ticket(title="&" * 30), "high")  # 30 × "&amp;" clipped at 60, never inside an entity
    assert clipped == f"<{URL}|{'&amp;' * 11}…> · Open · Revenue growth"


def test_split_sorts_by_priority_and_cuts_even_parts_of_at_most_fifty() -> None:
    batch = [ticket(id=f"tkt_{i}", priority=("low", "critical")[i % 2]) for i in range(101)]
    parts = split(batch)
    assert [len(p) for p in parts] == [34, 34, 33]
    assert [t.priority for p in parts for t in p] == ["critical"] * 50 + ["low"] * 51
    assert [len(p) for p in split(batch[:50])] == [50] and split([]) == []


def test_a_posted_digest_reads_back_and_a_mismatch_is_not_a_digest() -> None:
    digest = Digest.of([ticket(id="tkt_a", priority="critical"), ticket(id="tkt_b", priority="low")], 2, 3)
    message = digest.message()
    assert Digest.from_message(message) == digest
    assert Digest.from_message({**message, "metadata": {"event_type": "cogny_ticket",
                                                         "event_payload": {"ticket_id": "tkt_a"}}}) is None
    short = {**message, "blocks": [b for b in message["blocks"] if b.get("block_id") != "lines-low-1"]}
    assert Digest.from_message(short) is None


def test_status_reply_names_the_ticket_inertly() -> None:
    assert status_reply(ticket(title="<!here> *now*"), "open", "dismissed") == \
        "&lt;!here&gt; ∗now∗: status changed: Open → Dismissed"


def test_a_digest_marker_naming_no_priority_or_a_malformed_id_is_not_read_back() -> None:
    message = Digest.of([ticket(id="tkt_a", priority="critical")]).message()
    for bad in ({"id": "tkt_a", "priority": "<!channel>"}, {"id": "../tkt_a", "priority": "critical"}):
        forged = {**message, "metadata": {"event_type": "cogny_digest",
                                          "event_payload": {"tickets": [bad], "part": 1, "parts": 1}}}
        assert Digest.from_message(forged) is None
