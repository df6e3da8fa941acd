"""What the target sandboxes hold, per ticket, and the checks that every ticket is mirrored exactly once."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from types import SimpleNamespace
from typing import Any, Callable, Iterable

from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox

LABELS = {"jira": "JIRA", "slack": "Slack", "linear": "Linear", "asana": "Asana"}  # as notes lines name them
CHANNEL = "C0GROWTH"  # the Slack sandbox's default channel
Route = Callable[[dict[str, Any]], Iterable[str]]  # a ticket -> the targets it goes to
Records = dict[str, dict[str | None, list[str]]]  # target -> ticket id (None: no marker) -> child titles


def jira_issues(jira: Any, *, subtasks: bool) -> list[dict[str, Any]]:
    """Issues in the JIRA sandbox, split by whether they are sub-tasks."""
    with jira.lock:
        issues = [dict(i) for i in jira.issues.values()]
    return [i for i in issues if bool(i.get("parent")) == subtasks]


def labels_of(issue: dict[str, Any]) -> list[str]:
    return list(issue.get("labels") or [])


def marker_of(issue: dict[str, Any]) -> str | None:
    """The ticket id in a JIRA issue's marker label, if it has one."""
    return next((lb.removeprefix("cogny-") for lb in labels_of(issue) if lb.startswith("cogny-tkt_")), None)


def jira_component_names(jira: JiraSandbox, key: str) -> list[str]:
    """The names of the components a JIRA sandbox issue carries, sorted."""
    names = {c["id"]: c["name"] for c in jira.projects["GROWTH"]["components"]}
    return sorted(names[cid] for cid in jira.issue(key)["components"])


def linear_parents(linear: Any) -> list[dict[str, Any]]:
    """The Linear sandbox's top-level issues (not sub-issues), in the order they were made."""
    with linear.lock:
        keys = [i["identifier"] for i in linear.issues.values() if i["parentId"] is None]
    return [linear.issue_by_identifier(k) for k in keys]


def parents_by_ticket(jira: JiraSandbox) -> Counter[str | None]:
    """Ticket id -> how many JIRA parent issues carry its marker (exactly once means 1)."""
    return Counter(marker_of(i) for i in jira_issues(jira, subtasks=False))


def assert_mirrored_exactly_once(cogny: CognySandbox, jira: JiraSandbox) -> None:
    """Every Cogny ticket has one JIRA issue, one sub-task per action item and one notes line."""
    parents = jira_issues(jira, subtasks=False)
    subs = jira_issues(jira, subtasks=True)
    per_ticket = Counter(marker_of(i) for i in parents)
    assert set(per_ticket) == set(cogny.tickets) and set(per_ticket.values()) == {1}, per_ticket
    by_key = {i["key"]: marker_of(i) for i in parents}
    for tid, ticket in cogny.tickets.items():
        mine = [s["summary"] for s in subs if by_key[s["parent"]] == tid]
        assert sorted(mine) == sorted(a["title"] for a in ticket["action_items"]), tid
        lines = [ln for ln in (ticket.get("notes") or "").splitlines() if ln.startswith("Synced to JIRA:")]
        assert len(lines) == 1, (tid, ticket.get("notes"))


def records(w: SimpleNamespace, *, settled: bool = True) -> Records:
    """Every record in a world's targets (tests.support.world); fails on a second parent for one ticket.

    `settled`: every record also carries its marker (mid-storm a Linear issue may still lack its
    marker attachment; it is then known by its derived id).
    """
    out: Records = defaultdict(dict)
    parents: Counter[tuple[str, str | None]] = Counter()
    readers = {"jira": _jira, "slack": _slack, "linear": _linear, "asana": _asana}
    for name, sb in w.targets.items():
        for tid, children in readers[name](sb, w.cogny, settled):
            parents[(name, tid)] += 1
            out[name][tid] = children
    dupes = {k: n for k, n in parents.items() if n > 1}
    assert not dupes, f"duplicate records: {dupes}"
    return out


def _jira(jira: Any, cogny: CognySandbox, settled: bool) -> Iterable[tuple[str | None, list[str]]]:
    subs = jira_issues(jira, subtasks=True)
    for issue in jira_issues(jira, subtasks=False):
        yield marker_of(issue), sorted(s["summary"] for s in subs if s["parent"] == issue["key"])


def _slack(slack: Any, cogny: CognySandbox, settled: bool) -> Iterable[tuple[str | None, list[str]]]:
    for msg in slack.messages(CHANNEL):
        yield ((msg.get("metadata") or {}).get("event_payload") or {}).get("ticket_id"), []


def _linear(linear: Any, cogny: CognySandbox, settled: bool) -> Iterable[tuple[str | None, list[str]]]:
    from connectors.linear.connector import issue_id

    with linear.lock:
        by_issue = {a["issueId"]: a["url"].rsplit("/", 1)[-1] for a in linear.attachments.values()}
        tops = [dict(i) for i in linear.issues.values() if i["parentId"] is None]
    derived = {issue_id(team, tid): tid for team in list(linear.teams) for tid in list(cogny.tickets)}
    for issue in tops:
        tid = by_issue.get(issue["id"])
        assert tid is not None or not settled, f"linear issue {issue['identifier']} has no marker attachment"
        yield tid or derived.get(issue["id"]), sorted(c["title"] for c in linear.children(issue["id"]))


def _asana(asana: Any, cogny: CognySandbox, settled: bool) -> Iterable[tuple[str | None, list[str]]]:
    for task in asana.top_level():
        tid = (task.get("external") or {}).get("gid", "").removeprefix("cogny:") or \
            task["notes"].rstrip().rsplit("cogny:", 1)[-1]
        yield tid, sorted(s["name"] for s in asana.subtasks(task["gid"]))


def expected(cogny: CognySandbox, route: Route, only: Iterable[str] | None = None) -> Records:
    """What `records` should find once every ticket (or those in `only`) went where `route` sends it."""
    out: Records = defaultdict(dict)
    with cogny.lock:
        tickets = {tid: json.loads(json.dumps(t)) for tid, t in cogny.tickets.items()}
    wanted = set(only) if only is not None else set(tickets)
    for tid, t in tickets.items():
        if tid not in wanted:
            continue
        items = sorted(a["title"] for a in t["action_items"])
        for target in route(t):
            out[target][tid] = [] if target == "slack" else items
    return out


def assert_notes(cogny: CognySandbox, route: Route, only: Iterable[str] | None = None) -> None:
    """Each synced ticket's notes hold exactly one `Synced to X:` line per routed connector."""
    with cogny.lock:
        tickets = {tid: dict(t) for tid, t in cogny.tickets.items()}
    wanted = set(only) if only is not None else set(tickets)
    for tid in wanted:
        lines = [ln for ln in (tickets[tid].get("notes") or "").splitlines() if ln.startswith("Synced to ")]
        got = sorted(ln.split(":")[0] for ln in lines)
        want = sorted(f"Synced to {LABELS[n]}" for n in route(tickets[tid]))
        assert got == want, (tid, tickets[tid]["notes"])
