#!/usr/bin/env python3
"""How cost grows with the number of tickets, on SQLite and on PostgreSQL (issue 22).

For each size (default 2,000, 20,000 and 100,000 tickets, 1–4 action items each) and each store
(a SQLite file; a database on a throwaway PostgreSQL server started from the `postgresql`
package's binaries), with fresh Cogny + JIRA sandboxes (unthrottled, in a helper process; the
Cogny listing indexed so that a page costs the stand-in O(page), not O(tickets): see
`_support/sandproc.ListingIndex`):

  1. `syncd run` (the daemon, schedule every 5 s) on an empty store: its first poll is the first
     sync. Figures: that run's wall (the `runs` row), the daemon's CPU seconds when it ended
     (start-up included), calls per ticket, the daemon's VmRSS then, and VmRSS after its next
     poll (a no-op). Every SQL statement is timed in the daemon (`_support/querylog.py`): the
     slowest single execution is reported by statement shape. Then SIGTERM.
  2. the store's size on disk (SQLite: the file + its WAL; PostgreSQL: `pg_database_size` minus
     that of the same database when empty, ≈ 7.5 MiB of catalog).
  3. `syncd run-once` on the synced store, timed as a whole process as cron runs it
     (`--repeat` times, the median is the figure), and its calls (goal: list pages only).
  4. the same no-op with every Cogny list page taking `--page-ms` (default 40 ms, the sandbox's
     `slow` fault on `/tickets`), alternately with the floor (`_support/floor_list.py`: a fresh
     Python fetching the same list pages with httpx and nothing else): the ratio (goal ≤ 1.25×).

With `--base PATH` (a `git worktree` of the previous code) every measurement is also made on
that tree, alternately (size by size, store by store: current, then base), so both meet the same
load on the shared machine. The numbers go to `bench/results/scale[-quick].csv` and the curves
(cost vs tickets, one line per store, dashed for the base) to `bench/results/scale[-quick].svg`.

Prints figures only; the targets of the issue are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common, svgplot  # noqa: E402
from _support.pg import PgServer  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
QUERYLOG = Path(__file__).resolve().parent / "_support" / "querylog.py"
FLOOR = Path(__file__).resolve().parent / "_support" / "floor_list.py"
FIELDS = ["tree", "store", "tickets", "first_sync_s", "tickets_per_s", "first_sync_cpu_s", "calls_per_ticket",
          "rss_first_mib", "rss_noop_mib", "noop_s", "noop_min_s", "noop_max_s", "noop_cpu_s",
          "noop_cogny_calls", "noop_jira_calls", "paced_noop_s", "paced_floor_s", "paced_ratio", "store_mib",
          "slowest_ms", "slowest_query", "issues", "failed"]


def env_for(tree: Path) -> dict[str, str]:
    """The environment that makes `python -m syncd` import `tree`'s code (run with cwd=tree)."""
    return {**os.environ, **common.ENV, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(tree)}


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def finished_runs(url: str) -> list[tuple[Any, ...]]:
    """The store's finished runs (id, duration s, seen, created, failed), read with a short-lived engine."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "SELECT id, duration_seconds, seen, created, failed FROM runs "
                "WHERE finished_at IS NOT NULL ORDER BY id"))]
    except sa.exc.DBAPIError:
        return []  # not migrated yet
    finally:
        engine.dispose()


def daemon_phase(tree: Path, cfg: Path, url: str, sb: Sandboxes, n: int, work: Path) -> dict[str, Any]:
    """Step 1: the daemon's first sync and its next (no-op) poll."""
    qlog = work / "queries.json"
    log_path = work / "daemon.log"
    cmd = [sys.executable, str(QUERYLOG), str(qlog), "--log-level", "warning", "run", "-c", str(cfg)]
    row: dict[str, Any] = {}
    with open(log_path, "ab") as log_file:
        started = time.monotonic()
        daemon = subprocess.Popen(cmd, env=env_for(tree), cwd=tree, stdout=subprocess.DEVNULL,
                                  stderr=log_file)
        try:
            runs = wait_for(lambda: daemon.poll() is None and finished_runs(url), timeout=max(180, n / 40))
            if not runs:
                raise RuntimeError(f"no first sync within the time limit (exit {daemon.poll()}): "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            row["rss_first_mib"] = common.rss_mib(daemon.pid)
            row["first_sync_cpu_s"] = common.cpu_seconds(daemon.pid)
            row["process_wall_s"] = time.monotonic() - started
            cl, jl = sb.call("cogny_log", timeout=120), sb.call("jira_log", timeout=120)
            sb.call("clear_logs")
            _, duration, seen, created, failed = runs[0]
            row.update(first_sync_s=duration, tickets_per_s=n / duration if duration else 0.0,
                       calls_per_ticket=(sum(cl.values()) + sum(jl.values())) / max(1, n),
                       failed=failed, issues=sb.call("parents"), calls=(cl, jl))
            again = wait_for(lambda: len(finished_runs(url)) >= 2, timeout=max(60, n / 200))
            row["rss_noop_mib"] = common.rss_mib(daemon.pid) if again else float("nan")
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(10)
    queries = json.loads(qlog.read_text()) if qlog.exists() else {}
    if queries:
        shape, (count, total, worst) = max(queries.items(), key=lambda kv: kv[1][2])
        row.update(slowest_ms=worst * 1000, slowest_query=shape[:160], slowest_count=count,
                   query_total_s=sum(v[1] for v in queries.values()),
                   top_queries=sorted(queries.items(), key=lambda kv: -kv[1][1])[:3])
    return row


def noop_phase(tree: Path, cfg: Path, sb: Sandboxes, repeat: int, n: int) -> dict[str, Any]:
    """Step 3: `syncd run-once` on the synced store, as cron runs it."""
    walls, cpus, code = [], [], 0
    cl: dict[str, int] = {}
    jl: dict[str, int] = {}
    for _ in range(repeat):
        sb.call("clear_logs")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "syncd", "--log-level", "warning", "run-once", "-c",
                                 str(cfg)], env=env_for(tree), cwd=tree, capture_output=True, text=True,
                                timeout=max(120, n / 100))
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        code = code or result.returncode
        cl, jl = sb.call("cogny_log", timeout=120), sb.call("jira_log", timeout=120)
    if code:
        print(f"    run-once exited {code}")
    return dict(noop_s=statistics.median(walls), noop_min_s=min(walls), noop_max_s=max(walls),
                noop_cpu_s=statistics.median(cpus),
                noop_cogny_calls=sum(cl.values()), noop_jira_calls=sum(jl.values()), noop_calls=(cl, jl))


def paced_phase(tree: Path, cfg: Path, sb: Sandboxes, repeat: int, n: int, page_ms: float) -> dict[str, Any]:
    """The no-op beside its floor, each list page taking `page_ms` in Cogny, run alternately."""
    sb.call("cogny_faults", {"slow_rate": 1.0, "slow_seconds": page_ms / 1000, "path_suffix": "/tickets"})
    syncd_walls, floor_walls = [], []
    base_url = f"{sb.cogny_url}/v1"
    try:
        for _ in range(repeat):
            for argv, walls in (([sys.executable, "-m", "syncd", "--log-level", "warning", "run-once", "-c",
                                  str(cfg)], syncd_walls),
                                ([sys.executable, str(FLOOR), base_url, common.COGNY_KEY], floor_walls)):
                started = time.perf_counter()
                subprocess.run(argv, env=env_for(tree), cwd=tree, capture_output=True, check=True,
                               timeout=max(120, n / 20))
                walls.append(time.perf_counter() - started)
    finally:
        sb.call("cogny_faults", {})
    paced, floor = statistics.median(syncd_walls), statistics.median(floor_walls)
    return dict(paced_noop_s=paced, paced_floor_s=floor, paced_ratio=paced / floor,
                paced_noop_all=syncd_walls, paced_floor_all=floor_walls)


def store_size(store: str, work: Path, pg: PgServer | None, db: str) -> float:
    if store == "postgresql" and pg is not None:
        return pg.size(db) / 2**20
    return sum(p.stat().st_size for p in work.glob("syncd.db*")) / 2**20


def one(tree_name: str, tree: Path, store: str, n: int, args: argparse.Namespace, pg: PgServer | None,
        index: int) -> dict[str, Any]:
    """Every figure for one tree, store and size, on fresh sandboxes and an empty store."""
    with tempfile.TemporaryDirectory(prefix=f"syncd-bench-scale-{store}-") as tmp, \
            Sandboxes(tickets=n, seed=args.seed, items=(1, 4), indexed_listing=True) as sb:
        work = Path(tmp)
        db = f"scale_{index}"
        url = pg.create_db(db) if store == "postgresql" and pg else f"sqlite:///{work / 'syncd.db'}"
        empty = pg.size(db) if store == "postgresql" and pg else 0  # the catalog of an empty database
        extra: dict[str, Any] = {
            "store": {"url": url},
            "schedule": {"interval_seconds": 5, "leader_check_seconds": 1},
            "webhook": {"host": "127.0.0.1", "port": common.free_port(), "secret": common.WEBHOOK_SECRET},
        }
        if "class AdminConfig" in (tree / "syncd" / "config.py").read_text():  # the admin listener exists
            extra["admin"] = {"host": "127.0.0.1", "port": common.free_port()}
        cfg = common.write_config(work / "syncd.yaml", sb.cogny_url, sb.jira_url, extra=extra)
        try:
            row = daemon_phase(tree, cfg, url, sb, n, work)
            row["store_mib"] = store_size(store, work, pg, db) - empty / 2**20
            row.update(noop_phase(tree, cfg, sb, args.repeat, n))
            if args.page_ms > 0:
                row.update(paced_phase(tree, cfg, sb, args.repeat, n, args.page_ms))
        finally:
            if pg is not None and store == "postgresql":
                pg.drop_db(db)
    row.update(tree=tree_name, store=store, tickets=n)
    return row


def show(row: dict[str, Any], pages: int) -> None:
    n = row["tickets"]
    print(f"  {row['tree']:<9} {row['store']:<10} {n:>7,} tickets: first sync {row['first_sync_s']:6.1f} s "
          f"({row['tickets_per_s']:5.0f}/s, CPU {row['first_sync_cpu_s']:5.1f} s, "
          f"{row['calls_per_ticket']:.2f} calls/ticket, {row['issues']:,} issues, {row['failed']} failed); "
          f"no-op {row['noop_s']:.2f} s [{row['noop_min_s']:.2f}–{row['noop_max_s']:.2f}] "
          f"CPU {row.get('noop_cpu_s', float('nan')):.2f} s "
          f"({row['noop_cogny_calls']} Cogny calls for {pages} pages, {row['noop_jira_calls']} JIRA); "
          f"RSS {row['rss_first_mib']:.0f} / {row['rss_noop_mib']:.0f} MiB; "
          f"store {row['store_mib']:.1f} MiB; "
          f"slowest query {row.get('slowest_ms', float('nan')):.1f} ms", flush=True)
    if "paced_ratio" in row:
        print(f"      no-op at {row['paced_noop_s']:.2f} s vs the floor {row['paced_floor_s']:.2f} s "
              f"(list pages slowed in Cogny): {row['paced_ratio']:.2f}× "
              f"(syncd {', '.join(f'{w:.2f}' for w in row['paced_noop_all'])}; "
              f"floor {', '.join(f'{w:.2f}' for w in row['paced_floor_all'])})", flush=True)
    print(f"      slowest: {row.get('slowest_query', '?')} (run {row.get('slowest_count', 0):,}×; "
          f"all SQL {row.get('query_total_s', 0):.1f} s in the daemon)", flush=True)
    for shape, (count, total, worst) in row.get("top_queries", []):
        print(f"      {total:6.1f} s in {count:>7,}× (max {worst * 1000:5.1f} ms): {shape[:110]}")


def summary(rows: list[dict[str, Any]], sizes: list[int]) -> None:
    """The targets of the issue, current tree only; PostgreSQL vs SQLite ratios."""
    print("result (current tree; medians over --rounds):")
    by: dict[tuple[str, int], dict[str, float]] = {}
    for store in ("sqlite", "postgresql"):
        for n in sizes:
            mine = [r for r in rows if r["tree"] == "current" and r["store"] == store and r["tickets"] == n]
            if not mine:
                continue
            med = {k: statistics.median(float(r[k]) for r in mine) for k in
                   ("first_sync_s", "first_sync_cpu_s", "tickets_per_s", "noop_s", "rss_first_mib",
                    "rss_noop_mib", "store_mib")}
            by[(store, n)] = med
            common.line(f"{store} {n:,}: first sync tickets/s", f"{med['tickets_per_s']:.0f}/s", "≥ 300/s",
                        med["tickets_per_s"] >= 300)
            peak = max(med["rss_first_mib"], med["rss_noop_mib"]) * 1.048576
            common.line(f"{store} {n:,}: daemon RSS", f"{peak:.0f} MB", "< 200 MB", peak < 200)
            if "paced_ratio" in mine[0]:
                ratio = statistics.median(float(r["paced_ratio"]) for r in mine)
                common.line(f"{store} {n:,}: no-op / floor", f"{ratio:.2f}×", "≤ 1.25×", ratio <= 1.25)
    for n in sizes:
        s, p = by.get(("sqlite", n)), by.get(("postgresql", n))
        if s and p:
            for key in ("first_sync_s", "first_sync_cpu_s", "noop_s", "rss_first_mib", "store_mib"):
                ratio = p[key] / s[key] if s[key] else float("nan")
                common.line(f"postgresql / sqlite {n:,}: {key}", f"{ratio:.2f}×", "≤ 1.3×", ratio <= 1.3)


def write_outputs(rows: list[dict[str, Any]], stem: str, quiet: bool = False) -> None:
    RESULTS.mkdir(exist_ok=True)
    csv_path, svg_path = RESULTS / f"{stem}.csv", RESULTS / f"{stem}.svg"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()})

    def series(key: str) -> svgplot.Series:
        out: dict[str, dict[int, list[float]]] = {}
        for r in rows:
            name = f"{r['store']} ({r['tree']})"
            out.setdefault(name, {}).setdefault(r["tickets"], []).append(float(r[key]))
        return {name: [(n, statistics.median(v)) for n, v in pts.items()] for name, pts in out.items()}

    figures = [("first sync wall", "s", series("first_sync_s")),
               ("first sync CPU", "s", series("first_sync_cpu_s")),
               ("no-op run-once wall", "s", series("noop_s")),
               ("daemon RSS after first sync", "MiB", series("rss_first_mib")),
               ("daemon RSS after a no-op", "MiB", series("rss_noop_mib")),
               ("store on disk", "MiB", series("store_mib"))]
    svg_path.write_text(svgplot.panels(f"syncd: cost vs tickets ({time.strftime('%Y-%m-%d')})", figures))
    if not quiet:
        print(f"wrote {os.path.relpath(csv_path, common.ROOT)} and {os.path.relpath(svg_path, common.ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2000,20000,100000", help="ticket counts (default 2000,20000,100000)")
    ap.add_argument("--stores", default="sqlite,postgresql", help="sqlite and/or postgresql")
    ap.add_argument("--base", type=Path, help="a worktree of the previous code, measured alternately")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of every measurement (default 1)")
    ap.add_argument("--repeat", type=int, default=3, help="timed no-op run-once per measurement (default 3)")
    ap.add_argument("--pg-fsync", choices=("on", "off"), default="on",
                    help="PostgreSQL fsync (default on, as deployed; SQLite runs WAL + synchronous=NORMAL)")
    ap.add_argument("--page-ms", type=float, default=40.0,
                    help="Cogny's time per list page for the no-op vs floor comparison (default 40; 0: skip)")
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--quick", action="store_true", help="2,000 and 5,000 tickets, 2 no-op runs (≈ 2 min)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the PostgreSQL server is stopped
    sizes = sorted({max(10, int(x)) for x in args.sizes.split(",") if x.strip()})
    stores = [s for s in ("sqlite", "postgresql") if s in args.stores.split(",")]
    if args.quick:
        sizes, args.repeat = [n for n in sizes if n <= 5000] or [2000, 5000], min(args.repeat, 2)
        if sizes == [2000]:
            sizes = [2000, 5000]
    trees = [("current", common.ROOT)] + ([("base", args.base.resolve())] if args.base else [])

    counts = ", ".join(f"{n:,}" for n in sizes)
    common.header(f"scale: {counts} tickets (1-4 action items) on {', '.join(stores)}"
                  + (f"; base tree {args.base} alternately" if args.base else ""))
    print(f"setup: {common.compile_bytecode()}; base tree compiled too" if args.base
          else f"setup: {common.compile_bytecode()}")
    if args.base:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(args.base / "syncd"),
                        str(args.base / "connectors")], check=True, timeout=120)
    pg = PgServer(fsync=args.pg_fsync == "on").start() if "postgresql" in stores else None
    rows: list[dict[str, Any]] = []
    stem = "scale-quick" if args.quick else "scale"
    index = 0
    try:
        for n in sizes:
            for _ in range(max(1, args.rounds)):
                for store in stores:
                    for tree_name, tree in trees:
                        index += 1
                        try:
                            row = one(tree_name, tree, store, n, args, pg, index)
                        except (RuntimeError, subprocess.TimeoutExpired, TimeoutError) as exc:
                            print(f"  {tree_name} {store} {n:,}: FAILED {str(exc)[-1500:]}", flush=True)
                            continue
                        rows.append(row)
                        show(row, -(-n // 100))
                        write_outputs(rows, stem, quiet=True)  # a long run stopped early keeps its rows
    finally:
        if pg is not None:
            pg.destroy()
    if not rows:
        return 1
    summary(rows, sizes)
    write_outputs(rows, stem)
    common.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
