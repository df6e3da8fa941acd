#!/usr/bin/env python3
"""Sync-back: what reading progress back costs, with nothing to carry and with N tickets to carry.

Syncs N tickets (default 2,000) to JIRA with `sync_back: true`, then times `syncd run-once` as a
whole process three ways, counting calls from the sandboxes' request logs:

1. baseline: a no-op run-once with sync_back off (the forward cycle alone);
2. no-op with sync_back on: the extra cost is the batched read of every linked issue
   (goal: one JIRA search per 100 linked issues, zero Cogny writes);
3. a person closed every sub-task of D tickets (default 100): one run-once carries them back
   (goal: one Cogny PATCH per ticket; the forward sync then closes those issues and updates the
   "Status" line of their descriptions: two JIRA writes each), and a second
   run-once writes nothing (no ping-pong).

Prints figures only; goals are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402


def writes(log: dict[str, int]) -> int:
    return sum(n for k, n in log.items() if not k.startswith("GET ") and "/search" not in k)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=2000, help="synced tickets (default 2000)")
    ap.add_argument(
        "--done", type=int, default=100, help="tickets whose sub-tasks a person closes (default 100)"
    )
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--quick", action="store_true", help="300 tickets, 30 closed")
    args = ap.parse_args()
    if args.quick:
        args.tickets, args.done = min(args.tickets, 300), min(args.done, 30)
    args.done = max(1, min(args.done, args.tickets))

    common.header("sync-back: `syncd run-once` reading progress back from JIRA")
    with tempfile.TemporaryDirectory(prefix="syncd-bench-syncback-") as tmp, \
            Sandboxes(tickets=args.tickets, seed=args.seed, items=(1, 2)) as sb:
        work = Path(tmp)
        off = common.write_config(work / "off.yaml", sb.cogny_url, sb.jira_url, concurrency=16)
        on = common.write_config(
            work / "on.yaml",
            sb.cogny_url,
            sb.jira_url,
            concurrency=16,
            extra={
                "connectors": {
                    "jira": {
                        "type": "jira",
                        "url": sb.jira_url,
                        "email": common.JIRA_USER,
                        "api_token": "${JIRA_TOKEN}",
                        "project": "GROWTH",
                        "sync_back": True,
                    }
                }
            },
        )
        first = common.run_syncd("run-once", "-c", str(off))
        print(
            f"setup: first sync of {args.tickets} tickets: exit {first.result.returncode}, {first.wall:.1f} s"
        )
        if not first.ok:
            print(first.tail())
            return 1

        def timed(cfg: Path) -> tuple[common.Run, dict[str, int], dict[str, int]]:
            sb.call("clear_logs")
            run = common.run_syncd("run-once", "-c", str(cfg))
            return run, sb.call("cogny_log"), sb.call("jira_log")

        base, _, base_jira = timed(off)
        common.run_syncd("run-once", "-c", str(on))  # first read: baselines every linked issue
        noop, noop_cogny, noop_jira = timed(on)
        searches = sum(n for k, n in noop_jira.items() if "/search" in k)
        want = math.ceil(args.tickets / 100)
        print(f"result ({args.tickets} linked issues):")
        common.line(
            "no-op run-once, sync_back off", f"{base.wall:.2f} s, {sum(base_jira.values())} JIRA calls"
        )
        common.line("no-op run-once, sync_back on", f"{noop.wall:.2f} s (+{noop.wall - base.wall:.2f} s), "
                    f"{searches} JIRA searches", f"{want} searches", searches <= want)
        common.line("Cogny writes in that run", str(writes(noop_cogny)), "0", writes(noop_cogny) == 0)

        closed = sb.call("close_subtasks", args.done)
        carry, carry_cogny, carry_jira = timed(on)
        statuses = sb.call("cogny_statuses")
        patches = sum(n for k, n in carry_cogny.items() if k.startswith("PATCH "))
        common.line(f"run-once after {len(closed)} sub-tasks of {args.done} tickets closed",
                    f"{carry.wall:.2f} s, exit {carry.result.returncode}")
        common.line("tickets completed in Cogny", str(statuses.get("completed", 0)), str(args.done),
                    statuses.get("completed", 0) == args.done)
        common.line("Cogny PATCHes", str(patches), f"{args.done} (one per ticket)", patches == args.done)
        common.line("JIRA writes (per parent: transition + the description's Status line)",
                    str(writes(carry_jira)), f"{2 * args.done}", writes(carry_jira) <= 2 * args.done)
        again, again_cogny, again_jira = timed(on)
        quiet = writes(again_cogny) + writes(again_jira)
        common.line("writes on the run after", str(quiet), "0 (no ping-pong)", quiet == 0)
    print(f"reproduce: python bench/syncback_poll.py --tickets {args.tickets} --done {args.done}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
