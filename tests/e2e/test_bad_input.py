"""Bad input gets a clear error and changes nothing (docs/design.md invariant 6).

Config: exit 2 with one line per problem naming the key (tests/test_config.py has the basic
cases; these extend them), `check-config --connect` against closed ports: exit 1, one line per
failing check. Webhooks against a running daemon: 401 / 400 / 413, replays recognised, unknown
event types stored as ignored, and a flood of forged requests does not starve a real one.
Tickets: bad data fails that ticket alone; markup and odd Unicode arrive inert in every target.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import httpx
import pytest

from syncd.sandbox._common.tickets import generate_tickets, make_ticket
from syncd.signatures import sign_headers
from tests.support.config import ENV, problem_matches
from tests.support.daemon import SECRET, Daemon, all_states, daemon_config, event, inbox_of, standard_headers
from tests.support.process import free_port, run_cli, wait_for
from tests.support.records import CHANNEL, expected, jira_issues, marker_of, records
from tests.support.world import FAST_RETRIES, world

# -- config --------------------------------------------------------------------------------------

BASE = {"COGNY_API_KEY": "sk_test_abc123", "JIRA_TOKEN": "jt-secret-1"}

def test_cli_reports_every_problem_once_exits_2_and_touches_nothing(tmp_path: Path) -> None:
    from syncd.sandbox.cogny.sandbox import CognySandbox
    from syncd.sandbox.jira.sandbox import JiraSandbox

    with CognySandbox(generate_tickets(3, seed=1)) as cogny, JiraSandbox() as jira:
        text = (f"cogny: {{api_key: '${{COGNY_API_KEY}}', base_url: '{cogny.url}/v1'}}\n"
                f"store: {{url: 'sqlite:///{tmp_path / 'syncd.db'}'}}\n"
                "connectors:\n"
                f"  jira: {{type: jira, url: '{jira.url}', email: bot@example.com, "
                "api_token: '${JIRA_TOKEN}', project: GROWTH, colour: blue, url2: x}\n"
                "  linear: {type: linear, api_key: lin_api_x, team_key: GROW, "
                "priority_map: {critical: 1, high: 2, medium: 3, low: 9}}\n"
                "routes: [{connectors: [jira]}, {match: {priority: [low]}, connectors: [linear, asana]}]\n")
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        want = ["connectors.jira.colour: unknown key", "connectors.jira.url2: unknown key",
                "connectors.linear.priority_map.low: …",
                "routes.1.connectors.1: unknown connector 'asana' (known: jira, linear)"]
        for command in (["check-config"], ["run-once"], ["run"], ["status"], ["events", "list"],
                        ["links", "list"]):
            result = run_cli(*command, "-c", str(path), env=BASE, timeout=30)
            assert result.returncode == 2, (command, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr and "jt-secret-1" not in result.stderr + result.stdout
            lines = [ln.strip() for ln in result.stderr.strip().splitlines()]
            assert lines[0] == f"syncd: invalid config ({path}):", lines
            assert len(lines[1:]) == len(want), lines
            assert all(sum(problem_matches(p, w) for p in lines[1:]) == 1 for w in want), lines
        assert not (tmp_path / "syncd.db").exists()  # nothing opened, nothing migrated
        assert cogny.log.all() == [] and jira.log.all() == []


def test_check_config_connect_against_closed_ports_names_each_failing_check(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # bound once, now closed: connections are refused
    path = tmp_path / "syncd.yaml"
    path.write_text(f"""
cogny: {{base_url: "{closed}/v1", api_key: sk_test_closed}}
sync: {{backoff_seconds: 0.01, max_backoff_seconds: 0.02}}
store: {{url: "sqlite:///{tmp_path / 'syncd.db'}"}}
connectors:
  jira: {{type: jira, url: "{closed}", email: a@b.c, api_token: tok-12345, project: GROWTH}}
  slack: {{type: slack, token: xoxb-12345, channel: "#growth", base_url: "{closed}/api/"}}
  linear: {{type: linear, api_key: lin_api_12345, team_key: GROW, api_url: "{closed}/graphql"}}
  asana: {{type: asana, token: asana-12345, workspace_gid: "1", project_gid: "2",
           base_url: "{closed}/api/1.0"}}
""")
    # refused at once: no retry waits
    result = run_cli("check-config", "-c", str(path), "--connect", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    fails = [ln for ln in result.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 5, result.stdout
    for prefix in ("FAIL cogny credentials:", "FAIL [jira] ", "FAIL [slack] ", "FAIL [linear] ",
                   "FAIL [asana] "):
        [line] = [ln for ln in fails if ln.startswith(prefix)]
        assert "— fix:" in line or "reachable" in line, line
    for secret in ("sk_test_closed", "tok-12345", "xoxb-12345", "lin_api_12345", "asana-12345"):
        assert secret not in result.stdout + result.stderr
    assert not (tmp_path / "syncd.db").exists()


@pytest.mark.parametrize("command", [
    ("run-once",), ("run",), ("status",), ("events", "list"), ("events", "retry", "--all-dead"),
    ("db", "upgrade"),
    pytest.param(("links", "list")),
], ids=lambda c: " ".join(c))
def test_unreachable_store_is_one_clear_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    closed = free_port()
    path = tmp_path / "syncd.yaml"
    path.write_text(f"cogny: {{api_key: k-1234, base_url: 'http://127.0.0.1:{closed}/v1'}}\n"
                    f"store: {{url: 'postgresql+psycopg://syncd:pw@127.0.0.1:{closed}/syncd'}}\n")
    result = run_cli(*command, "-c", str(path), timeout=60)
    assert result.returncode in (1, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    mine = [ln for ln in lines if ln.startswith("syncd: ")]
    assert len(mine) == 1 and f"127.0.0.1:{closed}" in mine[0] and "store" in mine[0], lines[-5:]


# -- webhooks against a running daemon ---------------------------------------------------------------

STD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-key-0123456789").decode()
MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    tmp = tmp_path_factory.mktemp("hooks")
    with world(tmp, [], ("jira",), extra={"sync": FAST_RETRIES}) as w:
        port = free_port()
        cfg = daemon_config(w, port, webhook={"secrets": [STD_SECRET], "max_body_bytes": MAX_BODY})
        d = Daemon(cfg, port, tmp / "daemon.log").start()
        try:
            w.daemon, w.inbox = d, inbox_of(tmp / "syncd.db")
            yield w
        finally:
            d.stop()


def signed(payload: Any) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, sign_headers(body, SECRET)


def rows(w: SimpleNamespace) -> int:
    return len(w.inbox.list(limit=100_000))


@pytest.mark.config_keys("webhook.secrets")
def test_bad_signatures_are_401_and_store_nothing(hooks: SimpleNamespace) -> None:
    d = hooks.daemon
    body = json.dumps(event("tkt_sig000001", "evt_sig_1")).encode()
    now = int(time.time())
    other = json.dumps(event("tkt_sig000001", "evt_sig_2")).encode()
    forged = {
        "none": {},
        "garbage": {"X-Cogny-Signature": "not-hex"},
        "zeros": {"X-Cogny-Signature": "0" * 64},
        "wrong secret": sign_headers(body, "whsec_wrong"),
        "other body": sign_headers(other, SECRET),
        "empty": {"X-Cogny-Signature": ""},
        "std stale 10 min": standard_headers(body, STD_SECRET, "msg_1", now - 600),
        "std 10 min ahead": standard_headers(body, STD_SECRET, "msg_1", now + 600),
        "std wrong secret": standard_headers(body, "whsec_" + base64.b64encode(b"other").decode(), "msg_1"),
        "std other id": {**standard_headers(body, STD_SECRET, "msg_1"), "webhook-id": "msg_2"},
        "std no timestamp": {k: v for k, v in standard_headers(body, STD_SECRET, "msg_1").items()
                             if k != "webhook-timestamp"},
        "std bad timestamp": {**standard_headers(body, STD_SECRET, "msg_1"),
                              "webhook-timestamp": "yesterday"},
        "std v2 scheme": {**standard_headers(body, STD_SECRET, "msg_1"),
                          "webhook-signature":
                              standard_headers(body, STD_SECRET, "msg_1")["webhook-signature"]
                          .replace("v1,", "v2,")},
    }
    before = rows(hooks)
    for name, headers in forged.items():
        answer = d.post(body, headers)
        assert answer.status_code == 401, (name, answer.status_code, answer.text)
        assert answer.json()["error"]["code"] == "INVALID_SIGNATURE", name
    assert rows(hooks) == before
    # The same body, properly signed either way, is accepted (the forgeries were refused for their signature).
    assert d.post(body, standard_headers(body, STD_SECRET, "msg_1")).status_code == 202
    assert d.post(body, {"X-Cogny-Signature": "sha256=" + sign_headers(body, SECRET)["X-Cogny-Signature"]}
                  ).status_code == 202
    assert rows(hooks) == before + 1


def test_replayed_ids_are_recognised_and_stored_once(hooks: SimpleNamespace) -> None:
    d = hooks.daemon
    first = event("tkt_replay0001", "evt_replay_1")
    answers = [d.send(first) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [a.json()["data"]["duplicate"] for a in answers] == [False, True, True]
    changed = {**first, "type": "ticket.dismissed", "data": {"ticket_id": "tkt_other0001"}}
    again = d.send(changed)  # same id, other content: still the same event
    assert again.status_code == 202 and again.json()["data"]["duplicate"] is True
    body = json.dumps(first).encode()
    std = d.post(body, standard_headers(body, STD_SECRET, "msg_replay"))
    assert std.status_code == 202 and std.json()["data"]["duplicate"] is True
    [stored] = [e for e in hooks.inbox.list(limit=100_000) if e.event_id == "evt_replay_1"]
    assert stored.type == "ticket.created" and stored.ticket_id == "tkt_replay0001"


@pytest.mark.config_keys("webhook.max_body_bytes")
def test_oversize_bodies_are_413_declared_or_streamed(hooks: SimpleNamespace) -> None:
    d = hooks.daemon
    before = rows(hooks)

    def padded(size: int, eid: str) -> bytes:
        head = json.dumps({"id": eid, "type": "report.completed", "pad": ""}).encode()
        return head[:-2] + b"x" * (size - len(head)) + head[-2:]

    at_limit = padded(MAX_BODY, "evt_at_limit")
    assert len(at_limit) == MAX_BODY
    assert d.post(*signed(at_limit)).status_code == 202  # exactly the limit is fine
    over = padded(MAX_BODY + 1, "evt_over_limit")
    assert d.post(*signed(over)).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the receiver must count while reading
        for start in range(0, len(over), 8192):
            yield over[start:start + 8192]

    streamed = httpx.post(f"{d.url}/webhooks/cogny", content=chunks(), headers=signed(over)[1], timeout=10)
    assert streamed.status_code == 413
    huge = httpx.post(f"{d.url}/webhooks/cogny", content=b"{" + b" " * (4 * 1024 * 1024) + b"}",
                      headers={"X-Cogny-Signature": "0" * 64}, timeout=20)
    assert huge.status_code == 413  # refused before the signature is even computed
    assert rows(hooks) == before + 1


@pytest.mark.parametrize("body, code", [
    (b"not json at all", "INVALID_JSON"),
    (b"", "INVALID_JSON"),
    (b'{"id": "evt_trunc", ', "INVALID_JSON"),
    (b"\xff\xfe\x00{}", "INVALID_JSON"),
    (b"[1, 2, 3]", "INVALID_EVENT"),
    (b'"just a string"', "INVALID_EVENT"),
    (b"null", "INVALID_EVENT"),
    (b'{"type": "ticket.updated", "data": {"ticket_id": "tkt_x"}}', "INVALID_EVENT"),
    (b'{"id": 12345, "type": "ticket.updated"}', "INVALID_EVENT"),
    (b'{"id": "", "type": "ticket.updated"}', "INVALID_EVENT"),
    (b'{"id": ["evt_list"], "type": "ticket.updated"}', "INVALID_EVENT"),
    (json.dumps({"id": "e" * 256, "type": "ticket.updated"}).encode(), "INVALID_EVENT"),
    (b'{"id": "evt_no_type"}', "INVALID_EVENT"),
    (b'{"id": "evt_int_type", "type": 7}', "INVALID_EVENT"),
], ids=["text", "empty", "truncated", "not utf-8", "array", "string", "null", "missing id", "int id",
        "empty id", "list id", "long id", "missing type", "int type"])
def test_malformed_bodies_are_400_and_store_nothing(hooks: SimpleNamespace, body: bytes, code: str) -> None:
    before = rows(hooks)
    answer = hooks.daemon.post(*signed(body))
    assert answer.status_code == 400, answer.text
    assert answer.json()["success"] is False and answer.json()["error"]["code"] == code
    assert rows(hooks) == before


def test_deeply_nested_json_is_400_not_500(hooks: SimpleNamespace) -> None:
    nested = b'{"id": "evt_nested", "type": "ticket.updated", "data": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    assert len(nested) < MAX_BODY
    answer = hooks.daemon.post(*signed(nested))
    assert answer.status_code == 400, answer.status_code
    assert hooks.daemon.proc is not None and hooks.daemon.proc.poll() is None


def test_unknown_event_types_are_stored_as_ignored(hooks: SimpleNamespace) -> None:
    d = hooks.daemon
    cases = {
        "evt_unknown_report": {"type": "report.completed", "data": {"report_id": "rpt_1"}},
        "evt_unknown_kind": {"type": "warehouse.exploded", "data": {"ticket_id": "tkt_abc"}},
        "evt_no_data": {"type": "ticket.updated"},
        "evt_data_list": {"type": "ticket.updated", "data": ["tkt_abc"]},
        "evt_int_ticket": {"type": "ticket.updated", "data": {"ticket_id": 42}},
    }
    for eid, rest in cases.items():
        answer = d.send({"id": eid, "created_at": "2025-02-07T10:30:00Z", **rest})
        assert answer.status_code == 202, (eid, answer.text)
        assert answer.json()["data"]["state"] == "ignored", eid
    # A later event the worker must process (its ticket does not exist: it ends ignored, with the
    # reason). Once it has, the worker has been over the queue: proof that it left the others alone.
    assert d.send(event("tkt_nosuch00003", "evt_marker_after")).status_code == 202
    def marker_done() -> bool:
        stored = hooks.inbox.get("evt_marker_after")
        return stored is not None and "no longer exists" in (stored.last_error or "")

    wait_for(marker_done, what="the later marker event processed")
    states = all_states(hooks.inbox)
    assert {eid: states.get(eid) for eid in cases} == {eid: "ignored" for eid in cases}
    assert not [i for i in jira_issues(hooks.jira, subtasks=False) if marker_of(i) == "tkt_abc"]


def test_event_for_an_unknown_ticket_is_accepted_and_creates_nothing(hooks: SimpleNamespace) -> None:
    assert hooks.daemon.send(event("tkt_nosuch00001", "evt_nosuch")).status_code == 202
    wait_for(lambda: all_states(hooks.inbox).get("evt_nosuch") in ("done", "ignored"), timeout=15,
             what="event settled")
    assert not [i for i in jira_issues(hooks.jira, subtasks=False) if marker_of(i) == "tkt_nosuch00001"]


def test_event_for_an_unknown_ticket_ends_ignored_with_its_reason(hooks: SimpleNamespace) -> None:
    assert hooks.daemon.send(event("tkt_nosuch00002", "evt_nosuch_2")).status_code == 202
    wait_for(lambda: all_states(hooks.inbox).get("evt_nosuch_2") in ("done", "ignored"), timeout=15,
             what="event settled")
    stored = hooks.inbox.get("evt_nosuch_2")
    assert stored is not None and stored.state == "ignored"
    assert "no longer exists" in (stored.last_error or "")


def test_flood_of_forged_requests_does_not_starve_a_real_event(hooks: SimpleNamespace) -> None:
    d, cogny, jira = hooks.daemon, hooks.cogny, hooks.jira
    [ticket] = generate_tickets(1, seed=808)
    cogny.add_ticket(ticket)
    body = json.dumps(event(ticket["id"], "evt_real_in_flood")).encode()
    forged_body = json.dumps(event(ticket["id"], "evt_forged")).encode()
    total, threads = 2000, 8
    statuses: list[int] = []
    lock = threading.Lock()
    started = threading.Event()

    def flood(n: int) -> None:
        mine = []
        with httpx.Client(timeout=10) as client:
            for i in range(n):
                if i == 20:
                    started.set()
                try:
                    mine.append(client.post(f"{d.url}/webhooks/cogny", content=forged_body,
                                            headers={"X-Cogny-Signature": f"{i:064x}"}).status_code)
                except httpx.HTTPError:
                    mine.append(0)
        with lock:
            statuses.extend(mine)

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(flood, total // threads) for _ in range(threads)]
        assert started.wait(10)
        real = httpx.post(f"{d.url}/webhooks/cogny", content=body, headers=sign_headers(body, SECRET),
                          timeout=10)  # starved: no answer at all (a hang guard, not a measurement)
        health = httpx.get(f"{d.url}/healthz", timeout=5).status_code
        flood_running = not all(f.done() for f in futures)
        for f in futures:
            f.result(timeout=120)
    assert real.status_code == 202, real.text
    assert health == 200
    assert flood_running, "the real event should have been sent during the flood"
    assert len(statuses) == total and set(statuses) == {401}, Counter(statuses)
    wait_for(lambda: any(marker_of(i) == ticket["id"] for i in jira_issues(jira, subtasks=False)), timeout=20,
             what="the real event processed")
    assert "evt_forged" not in all_states(hooks.inbox)
    metric = httpx.get(f"{d.admin_url}/metrics", timeout=5).text
    m = re.search(r'syncd_webhook_events_rejected_total\{reason="signature"\} (\d+(?:\.\d+)?)', metric)
    assert m and float(m.group(1)) >= total


# -- tickets ---------------------------------------------------------------------------------------

WIKI = ("[x|http://evil] {code}rm -rf /{code} {color:red}red{color} !http://evil/i.png! [~admin] *bold* "
        "h1. big")
MRKDWN = "<!channel> <!here> <@U0ADMIN> <http://evil|click me> *bold* _it_ ~strike~ `code`"
MARKDOWN = "[a](http://evil) **b** <img src=x onerror=alert(1)> <script>alert(1)</script> # heading"
UNICODE = "🚀 تحسين صفحة الدفع — Ża̧̦̍z̶ó̴ł̷ć̸ — 日本語の注文 — e\u0301\u0302 — \u202eRTL override\u202c"
DANGEROUS = [WIKI, MRKDWN, MARKDOWN]


def bad_tickets() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Good tickets, markup/Unicode tickets that must sync inertly, and broken ones that must fail alone."""
    good = generate_tickets(5, seed=61)
    for t in good:
        t["priority"] = "medium"
    markup = [
        make_ticket(id="tkt_wiki0001", title=WIKI, description=WIKI + "\n" + MARKDOWN, priority="critical",
                    action_items=[{"title": WIKI[:60], "description": MRKDWN, "estimated_hours": 2,
                                   "completed": False}]),
        make_ticket(id="tkt_mrkdwn001", title=MRKDWN, description=MRKDWN, priority="critical",
                    action_items=[{"title": MRKDWN[:50], "description": WIKI, "estimated_hours": 1,
                                   "completed": False}]),
        make_ticket(id="tkt_mdown0001", title=MARKDOWN,
                    description=MARKDOWN + "\n1. not a list\n- nor this\nh1. Not a heading\nbq. nor a quote",
                    priority="high",
                    action_items=[{"title": MARKDOWN[:40], "description": MARKDOWN, "estimated_hours": 1,
                                   "completed": False}]),
        make_ticket(id="tkt_unicode01", title=UNICODE, description=UNICODE * 3, priority="high",
                    action_items=[{"title": "✅ " + UNICODE[:30], "description": "", "estimated_hours": None,
                                   "completed": False}]),
        make_ticket(id="tkt_huge00001", title="A 100 KB description",
                    description=("Lorem ipsum " * 9000)[:102400], priority="critical"),
    ]
    broken: dict[str, str] = {}

    def breaking(tid: str, why: str, **changes: Any) -> dict[str, Any]:
        t = make_ticket(id=tid, priority="low")
        for key, value in changes.items():
            if value is ...:
                del t[key]
            else:
                t[key] = value
        broken[tid] = why
        return t

    bad = [
        breaking("tkt_notitle01", "title", title=...),
        breaking("tkt_nocateg01", "category", category=...),
        breaking("tkt_items0001", "action_items", action_items="do everything"),
        breaking("tkt_itemnot01", "title", action_items=[{"description": "an item without a title"}]),
        breaking("tkt_impact001", "estimated_impact", estimated_impact="huge"),
        breaking("tkt_nullttl01", "title", title=None),
    ]
    return good + markup + bad, broken


def route_bad(t: dict[str, Any]) -> list[str]:
    return ["jira", "linear", "asana"] + (["slack"] if t.get("priority") == "critical" else [])


@pytest.fixture(scope="module")
def synced_bad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """One run-once over good, markup and broken tickets, into every target."""
    tickets, broken = bad_tickets()
    tmp = tmp_path_factory.mktemp("tickets")
    routes = [{"connectors": ["jira", "linear", "asana"]},
              {"match": {"priority": ["critical"]}, "connectors": ["slack"]}]
    with world(tmp, [], ("jira", "slack", "linear", "asana"), routes=routes,
               extra={"sync": FAST_RETRIES}) as w:
        with w.cogny.lock:  # stored as the API would serve them, broken fields and all
            for t in tickets:
                w.cogny.tickets[t["id"]] = t
        w.result = run_cli("run-once", "-c", str(w.cfg), env=ENV, timeout=120)
        w.broken = broken
        yield w


def test_bad_ticket_data_fails_alone(synced_bad: SimpleNamespace) -> None:
    w, result = synced_bad, synced_bad.result
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    failure_lines = [ln.strip() for ln in result.stdout.splitlines() if "→" in ln]
    for tid, field in w.broken.items():
        [line] = [ln for ln in failure_lines if ln.startswith(tid)]
        assert field in line, line  # the reason names the field
    assert all(ln.split()[0] in w.broken for ln in failure_lines), failure_lines  # nothing else failed
    fine = [tid for tid in w.cogny.tickets if tid not in w.broken]
    got = records(w)
    assert got == expected(w.cogny, route_bad, only=fine)
    for tid in w.broken:  # nothing anywhere for a ticket that failed to parse, notes untouched
        assert all(tid not in got[target] for target in got)
        assert "Synced to" not in (w.cogny.ticket(tid).get("notes") or "")


def live(text: str) -> str:
    """Markup text with every backslash-escaped character blanked out: what a renderer still interprets."""
    return re.sub(r"\\.", "§", text, flags=re.DOTALL)


def _texts(value: Any) -> Iterator[tuple[str, str]]:
    """(kind, text) of every text object in Slack blocks; kind is plain_text / mrkdwn."""
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn") and isinstance(value.get("text"), str):
            yield value["type"], value["text"]
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def test_markup_is_inert_in_jira(synced_bad: SimpleNamespace) -> None:
    issues = {marker_of(i): i for i in jira_issues(synced_bad.jira, subtasks=False)}
    subs = jira_issues(synced_bad.jira, subtasks=True)
    for tid in ("tkt_wiki0001", "tkt_mrkdwn001", "tkt_mdown0001"):
        issue = issues[tid]
        assert issue["summary"] == " ".join(synced_bad.cogny.ticket(tid)["title"].split())  # plain text field
        text = live(issue["description"] + "".join(s["description"] or "" for s in subs
                                                   if s["parent"] == issue["key"]))
        for raw in ("[x|http://evil]", "{code}", "{color:red}", "!http://evil/i.png!", "[~admin]", "[a](http://evil)",
                    "*bold*"):
            assert raw not in text, (tid, raw)
        assert "[" not in text.split("Source: [", 1)[0], (tid, text[:300])  # no link but syncd's own
        assert "\\[x\\|http://evil\\]" in issues["tkt_wiki0001"]["description"]
        assert all(not label.startswith("[") and " " not in label for label in issue["labels"])


def test_jira_line_start_markup_is_inert(synced_bad: SimpleNamespace) -> None:
    [issue] = [i for i in jira_issues(synced_bad.jira, subtasks=False) if marker_of(i) == "tkt_mdown0001"]
    lines = live(issue["description"]).splitlines()  # syncd's own `h4.` section headings are fine
    assert not [ln for ln in lines if ln.startswith(("h1. Not a heading", "bq. nor a quote"))], lines[:8]


def test_markup_is_inert_in_slack(synced_bad: SimpleNamespace) -> None:
    msgs = {m["metadata"]["event_payload"]["ticket_id"]: m for m in synced_bad.slack.messages(CHANNEL)}
    assert set(msgs) == {"tkt_wiki0001", "tkt_mrkdwn001", "tkt_huge00001"}
    for tid in ("tkt_wiki0001", "tkt_mrkdwn001"):
        msg = msgs[tid]
        everything = msg["text"] + json.dumps(msg.get("blocks"), ensure_ascii=False)
        for raw in ("<!channel>", "<!here>", "<@U0ADMIN>", "<http://evil|click me>", "<img", "<script>"):
            assert raw not in everything, (tid, raw)
        assert "*bold*" not in msg["text"] and "_it_" not in msg["text"] and "`code`" not in msg["text"]
        for kind, text in _texts(msg.get("blocks")):
            if kind == "mrkdwn":  # only syncd's own labels may be mrkdwn: no ticket text there
                assert not any(piece in text for piece in ("evil", "channel", "ADMIN", "bold*", "it_")), text
    assert "&lt;!channel&gt;" in msgs["tkt_mrkdwn001"]["text"]


def test_markup_is_inert_in_linear(synced_bad: SimpleNamespace) -> None:
    linear = synced_bad.linear
    with linear.lock:
        by_url = {a["url"].rsplit("/", 1)[-1]: a["issueId"] for a in linear.attachments.values()}
        issues = {tid: dict(linear.issues[iid]) for tid, iid in by_url.items()}
    for tid in ("tkt_wiki0001", "tkt_mrkdwn001", "tkt_mdown0001"):
        issue = issues[tid]
        assert issue["title"] == " ".join(synced_bad.cogny.ticket(tid)["title"].split())
        children = linear.children(issue["id"])
        text = live(issue["description"] + "".join(c.get("description") or "" for c in children))
        for raw in ("[a](http://evil)", "**b**", "<img", "<script>", "# heading", "1. not a list",
                    "\n- nor", "[x|"):
            assert raw not in text, (tid, raw)
        # Every link in the Markdown points where syncd put it (the ticket URL), none at user-chosen targets.
        assert all(not target.startswith("http://evil") for target in re.findall(r"\]\(([^)]*)\)", text)), tid


def test_markup_is_plain_text_in_asana(synced_bad: SimpleNamespace) -> None:
    asana = synced_bad.asana
    writes = [r for r in asana.log.writes()]
    assert writes and not any(b"html_notes" in r.body or b"html_text" in r.body for r in writes)
    tasks = {t["external"]["gid"].removeprefix("cogny:"): t for t in asana.top_level()}
    for tid in ("tkt_wiki0001", "tkt_mrkdwn001", "tkt_mdown0001", "tkt_unicode01"):
        ticket = synced_bad.cogny.ticket(tid)
        assert tasks[tid]["name"] == " ".join(ticket["title"].split())
        assert tasks[tid]["notes"].rstrip().endswith(f"cogny:{tid}")  # the marker stays the last line


def test_unicode_arrives_unchanged_everywhere(synced_bad: SimpleNamespace) -> None:
    w, tid = synced_bad, "tkt_unicode01"
    want = " ".join(UNICODE.split())
    [issue] = [i for i in jira_issues(w.jira, subtasks=False) if marker_of(i) == tid]
    assert issue["summary"] == want
    with w.linear.lock:
        [iid] = [a["issueId"] for a in w.linear.attachments.values() if a["url"].endswith(tid)]
        assert w.linear.issues[iid]["title"] == want
    [task] = [t for t in w.asana.top_level() if t["external"]["gid"] == f"cogny:{tid}"]
    assert task["name"] == want and UNICODE in task["notes"]
    notes = w.cogny.ticket(tid)["notes"]
    assert [notes.count(f"Synced to {label}:") for label in ("JIRA", "Linear", "Asana")] == [1, 1, 1]


def test_huge_description_syncs_and_stays_within_slack_limits(synced_bad: SimpleNamespace) -> None:
    w, tid = synced_bad, "tkt_huge00001"
    got = records(w)
    assert all(tid in got[t] for t in ("jira", "slack", "linear", "asana"))
    [task] = [t for t in w.asana.top_level() if t["external"]["gid"] == f"cogny:{tid}"]
    assert task["notes"].startswith("Lorem ipsum")
    [msg] = [m for m in w.slack.messages(CHANNEL) if m["metadata"]["event_payload"]["ticket_id"] == tid]
    texts = [t for _, t in _texts(msg["blocks"])]
    assert any(t.startswith("Lorem ipsum") and t.endswith("…") for t in texts)  # clipped, not refused
    assert max(len(t) for t in texts) <= 3000 and len(msg["text"]) <= 3000


def test_jira_description_stays_within_jiras_limit(synced_bad: SimpleNamespace) -> None:
    [issue] = [i for i in jira_issues(synced_bad.jira, subtasks=False) if marker_of(i) == "tkt_huge00001"]
    assert len(issue["description"]) <= 32_767


def test_unknown_enum_values_fail_alone_with_a_clear_error(tmp_path: Path) -> None:
    tickets = generate_tickets(3, seed=71)
    odd = [make_ticket(id="tkt_urgent001", priority="urgent"),
           make_ticket(id="tkt_moonshot1", category="moonshots")]
    with world(tmp_path, [], ("jira",), extra={"sync": FAST_RETRIES}) as w:
        with w.cogny.lock:
            for t in tickets + odd:
                w.cogny.tickets[t["id"]] = t
        result = run_cli("run-once", "-c", str(w.cfg), env=ENV)
        assert result.returncode == 1, result.stdout[-2000:]
        assert "tkt_urgent001" in result.stdout and "priority" in result.stdout
        assert "tkt_moonshot1" in result.stdout and "category" in result.stdout
        synced = {marker_of(i) for i in jira_issues(w.jira, subtasks=False)}
        assert synced == {t["id"] for t in tickets}
