#!/usr/bin/env python3
"""The console's pages on a big store: render times with 100,000 links and 1,000,000 events.

Fills a fresh store (SQLite by default, `--postgres` for a throwaway PostgreSQL server) with
--links links over two connectors, --events inbox events received over the last 30 days (mostly
done and ignored, some pending and dead), --runs runs with ten failures each; then asks every page
of the console, in process (Starlette's TestClient: routing, queries, templates, no network), and
prints the median and the slowest of --repeat renders per page. The goal is < 100 ms per page;
it is printed beside the figures, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from syncd import config as config_mod  # noqa: E402
from syncd.console import Console, Sources  # noqa: E402
from syncd.store.database import Store  # noqa: E402
from syncd.store.schema import events, links, run_failures, runs  # noqa: E402

GOAL_MS = 100.0
CHUNK = 20_000
CONNECTORS = ("jira", "linear")
WORDS = ("signup", "form", "referral", "banner", "pricing", "page", "onboarding", "email", "checkout",
         "trial")
CONFIG = """
cogny: {api_key: sk_bench_console_key}
admin: {actions: true}
connectors:
  jira: {type: jira, url: "https://jira.example.com", email: bot@example.com, api_token: bench-token-123,
         project: GROWTH}
  linear: {type: linear, api_key: lin_bench_key_123, team_id: TEAM}
routes:
  - match: {priority: [critical, high]}
    connectors: [jira, linear]
  - connectors: [jira]
"""


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def fill(store: Store, n_links: int, n_events: int, n_runs: int) -> None:
    now = datetime.now(timezone.utc)
    tickets = n_links // len(CONNECTORS)

    def link_rows() -> Iterator[dict[str, Any]]:
        for i in range(tickets):
            title = f"{WORDS[i % 10]} {WORDS[(i // 10) % 10]} experiment {i}"
            for c, connector in enumerate(CONNECTORS):
                failed = i % 97 == 0
                yield dict(ticket_id=f"tkt_{i:08d}", connector=connector, state="synced",
                           external_id=f"{connector}-{i}",
                           external_key=f"{'GROWTH' if c == 0 else 'GRO'}-{i}",
                           external_url=f"https://{connector}.example.com/browse/GROWTH-{i}",
                           applied_hash="0" * 64, applied=json.dumps({"record": {"summary": title}}),
                           title=title, notes_line=f"Synced to JIRA: GROWTH-{i}",
                           synced_at=now - timedelta(minutes=i % 5000),
                           last_error="jira: HTTP 400 priority is not valid" if failed else None,
                           created_at=now, updated_at=now)

    def event_rows() -> Iterator[dict[str, Any]]:
        span = 30 * 86400
        for i in range(n_events):
            at = now - timedelta(seconds=span * (n_events - i) / n_events)
            state = ("dead" if i % 5000 == 0 else "pending" if i % 2500 == 1 else "ignored" if i % 7 == 0
                     else "done")
            yield dict(event_id=f"evt_{i:09d}", source="cogny",
                       type=("ticket.updated", "ticket.created")[i % 2],
                       ticket_id=f"tkt_{i % tickets:08d}", payload="{}", state=state,
                       attempts=8 if state == "dead" else 0, last_error="boom" if state == "dead" else None,
                       next_attempt_at=at, received_at=at, updated_at=at)

    with store.engine.begin() as conn:
        for batch in chunks(link_rows()):
            conn.execute(links.insert(), batch)
        for batch in chunks(event_rows()):
            conn.execute(events.insert(), batch)
        for r in range(n_runs):
            started = now - timedelta(hours=n_runs - r)
            conn.execute(runs.insert().values(
                id=r + 1, kind="poll", started_at=started, finished_at=started + timedelta(seconds=3),
                duration_seconds=3.0 + r % 5, seen=tickets, created=r % 11, updated=r % 13,
                unchanged=tickets - 30,
                failed=10, per_connector=json.dumps({"jira": {"created": r % 11, "failed": 10}})))
            conn.execute(run_failures.insert(), [
                dict(run_id=r + 1, ticket_id=f"tkt_{(r * 10 + k) % tickets:08d}", connector="jira",
                     error="jira: HTTP 400 not valid") for k in range(10)])
    # A store in service is analysed (and, on PostgreSQL, vacuumed: index-only scans need its visibility
    # map) by autovacuum; a store filled a second ago is not, so do what autovacuum would have done.
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with store.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def pages(tickets: int, n_runs: int) -> list[str]:
    some = f"tkt_{tickets // 2:08d}"
    return ["/", "/tickets", f"/tickets?q={some}", f"/tickets?q=GROWTH-{tickets // 3}",
            "/tickets?q=pricing+trial",
            "/tickets?q=no+such+words", f"/tickets/{some}", "/runs", f"/runs?before={n_runs // 2}",
            f"/runs/{n_runs}", "/events", "/events?state=dead", "/events?state=pending&type=ticket.created",
            "/events?age=old", "/events?age=1h", "/config", "/config?priority=high"]


def measure(store: Store, paths: list[str], repeat: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    config = config_mod.parse(CONFIG)
    client = TestClient(Console(Sources(lambda: store.engine, lambda: config, lambda: None)).app())
    print(f"{'page':<48} {'median ms':>10} {'max ms':>8}  status")
    worst = 0.0
    for path in paths:
        times = []
        status = 0
        for i in range(repeat + 1):
            t0 = time.perf_counter()
            answer = client.get(path, follow_redirects=False)
            took = (time.perf_counter() - t0) * 1000
            status = answer.status_code
            if i:  # the first render warms the template cache and the database's pages
                times.append(took)
        worst = max(worst, max(times))
        print(f"{path:<48} {statistics.median(times):>10.1f} {max(times):>8.1f}  {status}")
    print(f"slowest render: {worst:.1f} ms (goal: every page < {GOAL_MS:.0f} ms)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--links", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=10, help="renders per page after a warm-up (default 10)")
    ap.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server instead of SQLite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-bench-console-") as tmp:
        if args.postgres:
            from _support.pg import PgServer

            with PgServer(fsync=False) as server:
                return run(Store.open(server.create_db("console")), args)
        return run(Store.open(f"sqlite:///{tmp}/syncd.db"), args)


def run(store: Store, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    fill(store, args.links, args.events, args.runs)
    print(f"{store.engine.dialect.name}: {args.links:,} links, {args.events:,} events, {args.runs:,} runs "
          f"filled in {time.perf_counter() - t0:.0f} s")
    try:
        measure(store, pages(args.links // len(CONNECTORS), args.runs), args.repeat)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
