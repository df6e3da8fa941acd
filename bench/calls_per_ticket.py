#!/usr/bin/env python3
"""Calls per new ticket: syncd beside the Cogny docs' copy-paste script, each run 3 times.

N new tickets (default 100, all `open` in warehouse `wh_123abc`, 1–2 action items each), fresh
Cogny and JIRA sandboxes for each contestant:

- syncd: `syncd run-once` (one JIRA connector) three times on the same store, as cron runs it;
- the docs' script: `sync_tickets_to_jira("wh_123abc", "GROWTH")` from the Cogny API reference
  (its growth-tickets page, "Integration Examples → Sync to JIRA"),
  reimplemented statement for statement against the sandboxes, three times.

Per run: external calls per ticket, by service, beside the minimum the APIs allow for a new
ticket created on its own (JIRA: the issue + one bulk call for its sub-tasks; Cogny: one PATCH
of the notes + its share of the list pages; a poll of syncd creates a listing page's issues
together in `issue/bulk` calls of 50, see syncd/engine/bulk.py, so its JIRA figure goes below
that), then JIRA issues per ticket: duplicates so far and tickets never
synced. Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402

WAREHOUSE, PROJECT, PAGE = "wh_123abc", "GROWTH", 100
RUNS = 3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=100,
                    help="new tickets (default 100: the docs' script reads one page of 100 and no more)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--quick", action="store_true", help="50 tickets")
    args = ap.parse_args()
    if args.quick:
        args.tickets = min(args.tickets, 50)
    args.tickets = max(1, min(args.tickets, 5000))

    common.header(
        f"calls per new ticket: syncd vs the docs' script, {args.tickets} tickets, {RUNS} runs each"
    )
    pages = math.ceil(args.tickets / PAGE)
    print(
        "minimum per new ticket created on its own: "
        f"JIRA 2 (the issue + one bulk call for its 1-2 sub-tasks); "
        f"Cogny 1 PATCH "
        f"+ {pages} list page(s) / {args.tickets} = {1 + pages / args.tickets:.2f}; "
        f"total {2 + 1 + pages / args.tickets:.2f}"
    )
    for name, runner in (("syncd run-once", run_syncd), ("docs' sync_tickets_to_jira", run_doc_script)):
        with tempfile.TemporaryDirectory(prefix="syncd-bench-calls-") as tmp, \
                Sandboxes(tickets=args.tickets, seed=args.seed, items=(1, 2),
                          overrides={"status": "open", "warehouse_id": WAREHOUSE}) as sb:
            runs = []
            for _ in range(RUNS):
                sb.call("clear_logs")
                runs.append(runner(sb, Path(tmp)))
            report(name, runs, args.tickets)
    common.footer()
    return 0


def run_syncd(sb: Sandboxes, work: Path) -> dict[str, Any]:
    cfg = work / "syncd.yaml"
    if not cfg.exists():
        common.write_config(cfg, sb.cogny_url, sb.jira_url, extra={"cogny": {"page_size": PAGE}})
    run = common.run_syncd("run-once", "-c", str(cfg), timeout=600)
    return snapshot(sb, run.result.returncode, run.wall)


def run_doc_script(sb: Sandboxes, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with redirect_stdout(io.StringIO()):  # the script prints a line per ticket
        sync_tickets_to_jira(f"{sb.cogny_url}/v1", sb.jira_url, WAREHOUSE, PROJECT)
    return snapshot(sb, 0, time.perf_counter() - started)


def sync_tickets_to_jira(
    cogny_base_url: str, jira_url: str, warehouse_id: str, jira_project_key: str
) -> None:
    """The docs' example as printed; only the URLs and credentials point at the sandboxes.

    Each run is a fresh start of the script: it builds its JIRA client at import, as the docs do.
    """
    import requests
    from jira import JIRA

    cogny_headers = {"Authorization": f"Bearer {common.COGNY_KEY}", "Content-Type": "application/json"}
    jira = JIRA(server=jira_url, basic_auth=(common.JIRA_USER, common.JIRA_TOKEN))
    response = requests.get(f"{cogny_base_url}/tickets", headers=cogny_headers,
                            params={"warehouse_id": warehouse_id, "status": "open", "limit": 100}, timeout=30)
    tickets = response.json()["data"]
    for ticket in tickets:
        priority_map = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}
        issue_dict = {
            "project": {"key": jira_project_key},
            "summary": ticket["title"],
            "description": f"{ticket['description']}\n\n"
                           f"Category: {ticket['category']}\n"
                           f"Estimated Impact: +{ticket['estimated_impact']['increase_percentage']:.1f}%\n"
                           f"Effort: {ticket['effort']}\n\n"
                           f"Source: {ticket['url']}",
            "issuetype": {"name": "Task"},
            "priority": {"name": priority_map[ticket["priority"]]},
        }
        jira_issue = jira.create_issue(fields=issue_dict)
        for action_item in ticket["action_items"]:
            subtask_dict = {
                "project": {"key": jira_project_key},
                "summary": action_item["title"],
                "description": action_item["description"],
                "issuetype": {"name": "Sub-task"},
                "parent": {"key": jira_issue.key},
            }
            jira.create_issue(fields=subtask_dict)
        print(f"Created JIRA issue {jira_issue.key}: {ticket['title']}")
        requests.patch(f"{cogny_base_url}/tickets/{ticket['id']}", headers=cogny_headers,
                       json={"notes": f"Synced to JIRA: {jira_issue.key}"}, timeout=30)
    jira.close()


def snapshot(sb: Sandboxes, code: int, wall: float) -> dict[str, Any]:
    """One run's calls (by endpoint) and the JIRA issues per ticket after it."""
    return {"code": code, "wall": wall, "cogny": sb.call("cogny_log"), "jira": sb.call("jira_log"),
            "issues": sb.call("issues_per_ticket")}


def report(name: str, runs: list[dict[str, Any]], tickets: int) -> None:
    per = tickets or 1
    print(f"{name}:")
    print(
        "  run  exit  wall s  calls/ticket  cogny/ticket  jira/ticket  new issues  duplicates  never synced"
    )
    before = 0
    for n, r in enumerate(runs, 1):
        cogny, jira = sum(r["cogny"].values()), sum(r["jira"].values())
        issues = r["issues"]
        made = sum(issues.values())
        duplicates = sum(c - 1 for c in issues.values() if c > 1)
        unsynced = tickets - len([t for t in issues if t != "?"])
        print(
            f"  {n:>3}  {r['code']:>4}  {r['wall']:6.1f}  {(cogny + jira) / per:12.2f}  {cogny / per:12.2f}  "
            f"{jira / per:11.2f}  {made - before:10d}  {duplicates:10d}  {unsynced:12d}"
        )
        before = made
    first = runs[0]
    print("  run 1 by endpoint (calls, per ticket):")
    for service in ("cogny", "jira"):
        for key, count in sorted(first[service].items(), key=lambda kv: -kv[1]):
            print(f"      {service:<5} {count:6d}  {count / per:5.2f}  {key}")
    cogny_1, jira_1 = sum(first["cogny"].values()) / per, sum(first["jira"].values()) / per
    minimum_cogny = 1 + math.ceil(tickets / PAGE) / per
    common.line(
        "run 1 calls per ticket vs that minimum",
        f"JIRA {jira_1:.2f} vs 2.00, Cogny {cogny_1:.2f} vs {minimum_cogny:.2f}",
    )


if __name__ == "__main__":
    sys.exit(main())
