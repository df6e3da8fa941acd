"""Property: whatever a ticket id holds, a request goes to that ticket's own path or nowhere."""

from __future__ import annotations

import json
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd import errors
from syncd.cogny import CognyClient
from syncd.models import Ticket, is_ticket_id
from syncd.sandbox._common.tickets import make_ticket

SYNTAX = list("\"'\\/?#%&=.:;,()[]{}<>|*~ \t\r\n\x00\x1b\u202e") + ["..", "%2F", "%23", " OR ", "tkt_victim"]
hostile_ids = st.one_of(
    st.lists(st.sampled_from(SYNTAX + list("tkt_abc019")), max_size=12).map("".join),
    st.text(max_size=24).map(lambda s: "tkt_" + s),
    st.from_regex(r"\Atkt_[A-Za-z0-9_-]{1,64}\Z"),
)


def recording_cogny(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        asked = unquote(request.url.raw_path.decode().split("?")[0].split("/")[3])
        body = {"success": True, "data": make_ticket(id=asked), "meta": {"request_id": "req_1"}}
        return httpx.Response(200, content=json.dumps(body), headers={"Content-Type": "application/json"})
    return httpx.MockTransport(handle)


@settings(max_examples=100)
@given(ticket_id=hostile_ids, action=st.sampled_from(["get", "update", "dismiss"]))
def test_a_request_reaches_exactly_its_own_ticket_or_nothing(ticket_id: str, action: str) -> None:
    seen: list[httpx.Request] = []
    with CognyClient("http://127.0.0.1:9/v1", "sk_test_x", transport=recording_cogny(seen)) as client:
        call = {"get": lambda: client.get_ticket(ticket_id),
                "update": lambda: client.update_ticket(ticket_id, notes="n"),
                "dismiss": lambda: client.dismiss(ticket_id, "not_relevant")}[action]
        if not is_ticket_id(ticket_id):
            with pytest.raises(errors.TicketDataError):
                call()
            assert seen == []
            return
        call()
    (request,) = seen
    path = request.url.raw_path.decode()
    assert "?" not in path and "#" not in path
    segments = path.split("/")
    assert segments[:3] == ["", "v1", "tickets"] and unquote(segments[3]) == ticket_id
    assert segments[4:] == (["dismiss"] if action == "dismiss" else [])


@settings(max_examples=100)
@given(ticket_id=hostile_ids)
def test_only_ids_of_cognys_shape_parse(ticket_id: str) -> None:
    if is_ticket_id(ticket_id):
        assert Ticket.parse(make_ticket(id=ticket_id)).id == ticket_id
    else:
        with pytest.raises(errors.TicketDataError):
            Ticket.parse(make_ticket(id=ticket_id))
