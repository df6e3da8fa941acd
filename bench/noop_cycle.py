#!/usr/bin/env python3
"""A no-op cycle: every ticket already synced; time a second `syncd run-once` as cron runs it.

Syncs N tickets (default 2,000) once with high concurrency, then times a second `syncd run-once`
as a whole process (interpreter start-up, imports, migration check, listing, reconcile, exit) and
counts the calls it made: Cogny (goal: list pages only) and JIRA (goal: 0), from the sandboxes'
request logs. Then `python -X importtime` of `syncd.cli` and of that run-once, summarised by
package, to show what to import lazily.

Prints figures only; the targets are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=2000, help="synced tickets (default 2000)")
    ap.add_argument(
        "--repeat", type=int, default=3, help="timed no-op runs; the median is the figure (default 3)"
    )
    ap.add_argument("--sync-concurrency", type=int, default=16, help="concurrency of the first, untimed sync")
    ap.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="sync.concurrency in the config, used by the timed runs (default 4, syncd's default)",
    )
    ap.add_argument("--page-size", type=int, default=100, help="cogny.page_size (default 100)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--quick", action="store_true", help="500 tickets, 2 timed runs")
    args = ap.parse_args()
    if args.quick:
        args.tickets, args.repeat = min(args.tickets, 500), min(args.repeat, 2)
    args.repeat = max(1, min(args.repeat, 10))

    common.header("no-op cycle: second `syncd run-once` over synced tickets")
    with tempfile.TemporaryDirectory(prefix="syncd-bench-noop-") as tmp, \
            Sandboxes(tickets=args.tickets, seed=args.seed) as sb:
        work = Path(tmp)
        cfg = common.write_config(work / "syncd.yaml", sb.cogny_url, sb.jira_url,
                                  concurrency=args.concurrency,
                                  extra={"cogny": {"page_size": args.page_size}})
        first = common.run_syncd("run-once", "-c", str(cfg), "--concurrency", str(args.sync_concurrency))
        issues = sb.call("parents")
        print(f"setup: first sync of {args.tickets} tickets (--concurrency {args.sync_concurrency}): "
              f"exit {first.result.returncode}, {first.wall:.1f} s, {issues} JIRA issues")
        if not first.ok:
            print(first.tail())
            return 1

        print(f"setup: {common.compile_bytecode()}")
        walls, cpus, cogny_calls, jira_calls, logs = [], [], [], [], []
        for _ in range(args.repeat):
            sb.call("clear_logs")
            run = common.run_syncd("run-once", "-c", str(cfg))
            cl, jl = sb.call("cogny_log"), sb.call("jira_log")
            walls.append(run.wall)
            cpus.append(run.cpu)
            cogny_calls.append(sum(cl.values()))
            jira_calls.append(sum(jl.values()))
            logs.append((run.result.returncode, cl, jl))
        code, cl, jl = logs[-1]
        pages = math.ceil(args.tickets / args.page_size)
        list_calls = sum(
            n for k, n in cl.items() if k.startswith("GET /v1/tickets ") and "(updated_after)" not in k
        )
        sweep_calls = sum(n for k, n in cl.items() if k.startswith("GET /v1/tickets (updated_after)"))
        all_calls = list_calls + sweep_calls
        print(f"result (no-op run-once, {args.tickets} tickets, page size {args.page_size}, "
              f"median of {args.repeat}; exit code {code}):")
        common.line(
            "wall seconds, whole process",
            f"{statistics.median(walls):.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)})",
            "< 0.8 s",
            statistics.median(walls) < 0.8,
        )
        common.line("CPU seconds of that process (user+sys)", f"{statistics.median(cpus):.2f} s")
        common.line(
            "Cogny calls",
            f"{cogny_calls[-1]}: {list_calls} listing pages + {sweep_calls} sweep pages "
            f"(listing updated_after), {cogny_calls[-1] - all_calls} other",
            "list pages only",
            cogny_calls[-1] == all_calls,
        )
        common.line(
            f"  of which beyond the {pages} pages that hold the tickets", f"{cogny_calls[-1] - pages}"
        )
        for key, n in sorted(cl.items()):
            print(f"      {n:6d}  {key}")
        common.line("JIRA calls", str(jira_calls[-1]), "0", jira_calls[-1] == 0)
        for key, n in sorted(jl.items()):
            print(f"      {n:6d}  {key}")

        print("import time (python -X importtime; 'cumulative' includes the package's own dependencies):")
        for label, argv in (("import syncd.cli.app", ["-c", "import syncd.cli.app"]),
                            ("syncd run-once (no-op)", ["-m", "syncd", "--log-level", "warning", "run-once",
                                                        "-c", str(cfg)])):
            r = common.importtime(argv)
            print(f"  {label}: {r['total']:.3f} s of imports in total")
            print("    heaviest packages, cumulative at first import (importer):")
            own = next((s for p, s, _ in r["roots"] if p == "syncd"), 0.0)
            print(f"    syncd and everything it imports at start-up: {own * 1000:.0f} ms cumulative")
            for pkg, seconds, importer in [x for x in r["roots"] if x[0] != "syncd"][:10]:
                print(f"      {seconds * 1000:7.1f} ms  {pkg:<22} <- {importer}")
    common.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
