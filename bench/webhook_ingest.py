#!/usr/bin/env python3
"""Webhook ingest and event-to-issue latency of the daemon (`syncd run`).

Starts `syncd run -c CFG` as a subprocess (SQLite store in a temp dir; the Cogny and JIRA
sandboxes in a separate helper process so they do not share the measuring process), then:

 1. ingest: N signed events (default 20,000, after a warm-up) from C keep-alive clients (default
    8) — `report.completed` events, which the receiver stores as `ignored` (pure ingest), then
    `ticket.updated` events for ticket ids Cogny does not know (stored `pending`; the worker
    fetches each, gets 404 and marks it ignored, so the worker drains while the receiver ingests).
    Prints events/s answered 202, p50/p95/p99 accept latency and errors.
 2. memory: the daemon's VmRSS before, after the first N events and after each soak round.
 3. event → issue: M `ticket.created` events (default 100) for tickets that exist in Cogny, one at
    a time; the time from sending the event to the JIRA sandbox storing the issue (and to Cogny
    receiving the notes write-back, i.e. the whole reconcile).

Prints figures only; the targets (from the issue) are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common  # noqa: E402
from _support.loadgen import BlockingClient, Result, build_request, fire  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402

from syncd.signatures import sign_headers  # noqa: E402

HOST, PATH = "127.0.0.1", "/webhooks/cogny"


def make_requests(port: int, prefix: str, n: int, kind: str) -> list[bytes]:
    """n signed deliveries with unique event ids; `kind` is the event type."""
    out = []
    for i in range(n):
        if kind.startswith("ticket."):
            data = {
                "ticket_id": f"tkt_bench{prefix}{i:07d}",
                "warehouse_id": "wh_123abc",
                "changed_by": "bench",
            }
        else:
            data = {"report_id": f"rpt_{prefix}{i:07d}", "warehouse_id": "wh_123abc"}
        event = {
            "id": f"evt_{prefix}_{i:07d}",
            "type": kind,
            "created_at": "2026-11-22T10:00:00Z",
            "data": data,
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        out.append(build_request(HOST, port, PATH, body, sign_headers(body, common.WEBHOOK_SECRET)))
    return out


def wait_until(check, timeout: float, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def inbox_counts(db: Path) -> dict[str, int]:
    return {s: n for s, n in common.store_rows(db, "SELECT state, count(*) FROM events GROUP BY state")}


def report_round(label: str, r: Result, target: bool = False) -> None:
    ok = r.count(202)
    rate = ok / r.elapsed if r.elapsed else 0.0
    lat = [x * 1000 for x in r.latencies]
    p50, p95, p99 = (common.percentile(lat, p) for p in (50, 95, 99))
    others = {k: v for k, v in r.statuses.items() if k != 202}
    errors = sum(r.errors.values()) + sum(others.values())
    tail = f" (stopped at the time limit after {r.sent})" if r.stopped_early else ""
    print(f"  {label}: {r.sent} sent in {r.elapsed:.1f} s{tail}")
    common.line("    accepted (202) per second", f"{rate:,.0f} events/s", "≥ 2,000/s" if target else None,
                rate >= 2000 if target else None)
    common.line("    accept latency p50 / p95 / p99", f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms",
                "p99 < 25 ms" if target else None, p99 < 25 if target else None)
    common.line("    errors (non-202 answers + connection errors)",
                f"{errors}" + (f" {dict(others)} {dict(r.errors)}" if errors else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000, help="events per ingest round (default 20000)")
    ap.add_argument("--ticket-events", type=int, default=5000,
                    help="ticket.updated events (unknown tickets; the worker drains them) (default 5000)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients (default 8)")
    ap.add_argument("--warmup", type=int, default=1000, help="warm-up events, not counted (default 1000)")
    ap.add_argument(
        "--soak", type=int, default=3, help="extra rounds of --events for the memory soak (default 3)"
    )
    ap.add_argument("--latency-events", type=int, default=100,
                    help="ticket.created events sent one at a time for event→issue latency (default 100)")
    ap.add_argument("--workers", type=int, default=2, help="syncd run --workers (default 2, syncd's default)")
    ap.add_argument("--log-level", default="info", help="daemon log level (default info, as deployed)")
    ap.add_argument(
        "--round-timeout", type=float, default=45.0, help="stop a round after this many s (default 45)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (config, store, daemon log)")
    ap.add_argument("--quick", action="store_true", help="5,000 events, 1 soak round, 30 latency events")
    args = ap.parse_args()
    if args.quick:
        args.events, args.ticket_events = min(args.events, 5000), min(args.ticket_events, 2000)
        args.soak, args.latency_events, args.warmup = min(args.soak, 1), min(args.latency_events, 30), 500
    args.clients = max(1, min(args.clients, 256))

    common.header("webhook ingest, daemon memory and event→issue latency (`syncd run`)")
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-ingest-"))
    port = common.free_port()
    log_path = work / "daemon.log"
    with Sandboxes() as sb:
        cfg = common.write_config(work / "syncd.yaml", sb.cogny_url, sb.jira_url, extra={
            "webhook": {"host": HOST, "port": port, "secret": common.WEBHOOK_SECRET},
            "schedule": {"interval_seconds": 3600}})
        db = work / "syncd.db"
        env = {**os.environ, **common.ENV}
        with open(log_path, "ab") as log_file:
            daemon = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "syncd",
                    "--log-level",
                    args.log_level,
                    "--log-json",
                    "run",
                    "-c",
                    str(cfg),
                    "--workers",
                    str(args.workers),
                ],
                env=env,
                cwd=common.ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
        try:
            return measure(args, sb, daemon, port, db, log_path)
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait(5)
            if args.keep:
                print(f"kept: {work} (config, store, daemon.log)")
            else:
                shutil.rmtree(work, ignore_errors=True)
            common.footer()


def measure(args: argparse.Namespace, sb: Sandboxes, daemon: subprocess.Popen, port: int, db: Path,
            log_path: Path) -> int:
    pid = daemon.pid
    ready = wait_until(lambda: daemon.poll() is None and common.store_rows(db, "SELECT count(*) FROM runs")
                       and common.store_rows(db, "SELECT count(*) FROM runs")[0][0] >= 1, timeout=60)
    if not ready:
        print(f"daemon did not start (exit {daemon.poll()}); log tail:\n{log_path.read_text()[-3000:]}")
        return 1
    time.sleep(0.5)
    rss = {"idle after start": common.rss_mib(pid)}
    print(
        f"daemon: pid {pid}, http://{HOST}:{port}{PATH}, --workers {args.workers}, "
        f"log level {args.log_level}, "
        f"{args.clients} clients; first poll done"
    )

    # 1. ingest
    fire(HOST, port, make_requests(port, "warm", args.warmup, "report.completed"), args.clients)
    rss["after warm-up"] = common.rss_mib(pid)
    cpu0 = common.cpu_seconds(pid)
    main_round = fire(HOST, port, make_requests(port, "main", args.events, "report.completed"), args.clients,
                      args.round_timeout)
    daemon_cpu = common.cpu_seconds(pid) - cpu0
    time.sleep(1.0)
    rss[f"after {args.events:,} events"] = common.rss_mib(pid)

    ticket_round = None
    drain = None
    if args.ticket_events:
        cogny_before = sum(sb.call("cogny_log").values())
        requests = make_requests(port, "tick", args.ticket_events, "ticket.updated")
        started = time.monotonic()
        ticket_round = fire(HOST, port, requests, args.clients, args.round_timeout)
        drained = wait_until(lambda: not any(inbox_counts(db).get(s) for s in ("pending", "running")),
                             timeout=args.round_timeout, interval=0.25)
        drain_s = time.monotonic() - started
        fetched = sum(sb.call("cogny_log").values()) - cogny_before
        drain = (bool(drained), drain_s, fetched)

    for i in range(args.soak):
        fire(HOST, port, make_requests(port, f"soak{i}", args.events, "report.completed"), args.clients,
             args.round_timeout)
        time.sleep(1.0)
        rss[f"after soak round {i + 1} (+{args.events:,})"] = common.rss_mib(pid)

    # 3. event -> issue latency, one event at a time, on the now well-filled inbox
    wait_until(
        lambda: not any(inbox_counts(db).get(s) for s in ("pending", "running")), timeout=60, interval=0.25
    )
    warm_n = 5
    ids = sb.call("add_tickets", warm_n + args.latency_events, 4242, None)
    client = BlockingClient(HOST, port)
    sent_at: dict[str, float] = {}
    issue_lat, whole_lat, statuses, missing = [], [], {}, 0
    for n, tid in enumerate(ids):
        event = {"id": f"evt_lat_{tid}", "type": "ticket.created", "created_at": "2026-11-22T10:00:00Z",
                 "data": {"ticket_id": tid, "warehouse_id": "wh_123abc"}}
        body = json.dumps(event, separators=(",", ":")).encode()
        status, t0 = client.send(
            build_request(HOST, port, PATH, body, sign_headers(body, common.WEBHOOK_SECRET))
        )
        statuses[status] = statuses.get(status, 0) + 1
        sent_at[tid] = t0
        done = wait_until(lambda: sb.call("notes_written", [tid])[tid], timeout=10, interval=0.005)
        if n < warm_n:
            continue
        created = sb.call("issue_created", [tid])[tid]
        if created is None or done is None:
            missing += 1
            continue
        issue_lat.append((created - t0) * 1000)
        whole_lat.append((done - t0) * 1000)
    client.close()
    rss["at the end"] = common.rss_mib(pid)
    counts = inbox_counts(db)

    # report
    print(f"result (daemon CPU during the {args.events:,}-event round: {daemon_cpu:.1f} s):")
    report_round(f"report.completed (stored as ignored), {args.clients} clients", main_round, target=True)
    if ticket_round is not None and drain is not None:
        report_round("ticket.updated for unknown tickets (worker fetches each: 404 → ignored)", ticket_round)
        drained, drain_s, fetched = drain
        common.line(
            "    worker drain",
            f"{'all done' if drained else 'NOT drained'} {drain_s:.1f} s after the "
            f"first send; {fetched} Cogny fetches ({fetched / drain_s:,.0f}/s)",
        )
    print("  daemon memory (VmRSS):")
    first_key = f"after {args.events:,} events"
    for label, value in rss.items():
        target = ok = None
        if label == first_key:
            target, ok = "< 150 MB", value * 1.048576 < 150
        common.line(f"    {label}", f"{value:.1f} MiB", target, ok)
    soak_keys = [k for k in rss if k.startswith("after soak")]
    if soak_keys:
        growth = rss[soak_keys[-1]] - rss[first_key]
        per = growth / len(soak_keys)
        common.line(
            "    growth over the soak",
            f"{growth:+.1f} MiB ({per:+.1f} MiB per {args.events:,} events)",
            "flat",
            abs(per) < 2.0,
        )
    n = len(issue_lat)
    print(f"  event → JIRA issue ({n} ticket.created one at a time; answers {statuses}; {missing} missing):")
    if n:
        p50, p99 = common.percentile(issue_lat, 50), common.percentile(issue_lat, 99)
        common.line("    event sent → issue stored, p50", f"{p50:.0f} ms", "< 100 ms", p50 < 100)
        common.line("    event sent → issue stored, p99", f"{p99:.0f} ms", "< 500 ms", p99 < 500)
        common.line("    event sent → notes written back (whole reconcile) p50 / p99",
                    f"{common.percentile(whole_lat, 50):.0f} / {common.percentile(whole_lat, 99):.0f} ms")
    print(f"  inbox at the end: {counts}")
    errors = sum(1 for row in log_path.read_text(errors="replace").splitlines() if '"level": "error"' in row)
    print(f"  daemon log: {errors} error lines (--keep keeps it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
