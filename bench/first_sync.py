#!/usr/bin/env python3
"""First sync: N new tickets (default 2,000, each with 1–2 action items) into an empty JIRA.

For each `--concurrency` value (default 1,4,8,16) a fresh Cogny + JIRA sandbox pair and a fresh
store, then one timed `syncd run-once --concurrency C` as a whole process, no rate limit. Prints
wall seconds (goal < 10 s for 2,000 on this machine), CPU seconds of syncd and of the sandbox
process (to tell syncd's cost from the stand-ins'), and calls per ticket by endpoint.

Prints figures only; the targets are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=2000, help="new tickets (default 2000)")
    ap.add_argument("--concurrency", default="1,4,8,16",
                    help="comma-separated values of run-once --concurrency (default 1,4,8,16)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument(
        "--budget",
        type=float,
        default=110.0,
        help="skip a level when the previous run's wall time would take the script past this many "
        "seconds (default 110; pass e.g. 400 to run every level whatever it takes)",
    )
    ap.add_argument("--quick", action="store_true", help="500 tickets, concurrency 4 and 16")
    args = ap.parse_args()
    levels = [max(1, min(64, int(x))) for x in args.concurrency.split(",") if x.strip()]
    if args.quick:
        args.tickets = min(args.tickets, 500)
        levels = [c for c in levels if c in (4, 16)] or [4]

    common.header(f"first sync: {args.tickets} new tickets (1-2 action items each) to JIRA, no rate limit")
    started = time.monotonic()
    rows = []
    for level in levels:
        expected = rows[-1][1].wall if rows else 0.0
        if time.monotonic() - started + expected > args.budget:
            print(
                f"  --concurrency {level:<3} skipped: the previous run took {expected:.0f} s "
                "and the script's budget is "
                f"{args.budget:.0f} s (pass --budget 400 to run it)",
                flush=True,
            )
            continue
        with tempfile.TemporaryDirectory(prefix=f"syncd-bench-first-c{level}-") as tmp, \
                Sandboxes(tickets=args.tickets, seed=args.seed, items=(1, 2)) as sb:
            work = Path(tmp)
            cfg = common.write_config(work / "syncd.yaml", sb.cogny_url, sb.jira_url, concurrency=level)
            sb_cpu0 = common.cpu_seconds(sb.pid)
            run = common.run_syncd("run-once", "-c", str(cfg), "--concurrency", str(level), timeout=600)
            sb_cpu = common.cpu_seconds(sb.pid) - sb_cpu0
            cl, jl = sb.call("cogny_log"), sb.call("jira_log")
            parents, total = sb.call("parents"), sb.call("issue_count")
        calls = sum(cl.values()) + sum(jl.values())
        rows.append((level, run, sb_cpu, cl, jl, parents, total, calls))
        print(f"  --concurrency {level:<3} exit {run.result.returncode}: {run.wall:6.1f} s wall "
              f"({args.tickets / run.wall:6.1f} tickets/s), syncd CPU {run.cpu:5.1f} s, "
              f"sandbox CPU {sb_cpu:5.1f} s, {parents} issues + {total - parents} sub-tasks, "
              f"{calls / max(1, args.tickets):.2f} calls/ticket", flush=True)
        if not run.ok:
            print(run.tail())

    if not rows:
        return 1
    best = min(rows, key=lambda r: r[1].wall)
    print(f"result ({args.tickets} tickets):")
    for level, run, sb_cpu, *_ in rows:
        common.line(f"wall seconds, --concurrency {level}", f"{run.wall:.1f} s", "< 10 s", run.wall < 10)
    level, run, sb_cpu, cl, jl, parents, total, calls = best
    common.line("calls per ticket (all services)", f"{calls / args.tickets:.2f}")
    print(f"  calls by endpoint (--concurrency {level}; per ticket):")
    for service, log in (("cogny", cl), ("jira", jl)):
        for key, n in sorted(log.items(), key=lambda kv: -kv[1]):
            print(f"      {service:<5} {n:6d}  {n / args.tickets:5.2f}  {key}")
    common.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
