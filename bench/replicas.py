#!/usr/bin/env python3
"""Replicas: how much faster 3 `syncd run` replicas drain a burst than 1, on one PostgreSQL store.

Real targets answer in 100–300 ms, so the work of an event is mostly waiting. Here the Cogny and
JIRA sandboxes add `--call-ms` (default 100 ms) to every call (their `slow` fault, served
concurrently), and each measurement: a fresh database on a throwaway PostgreSQL server, fresh
sandboxes, R replicas (`syncd run`, the default 2 workers each) started and ready; N new tickets
added to Cogny, then their N signed `ticket.created` events sent round-robin to the replicas;
the drain is the time from the first send until every event is `done` in the shared inbox.
R = 1 and R = 3 alternate (`--repeat` times). Goal: 3 replicas ≥ 2.5× faster than 1.

Prints figures only; the targets are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common  # noqa: E402
from _support.loadgen import BlockingClient, build_request  # noqa: E402
from _support.pg import PgServer  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402

from syncd.signatures import sign_headers  # noqa: E402

HOST, PATH = "127.0.0.1", "/webhooks/cogny"


def inbox_states(url: str) -> dict[str, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT state, count(*) FROM events GROUP BY state"))
            return {s: n for s, n in rows}
    except sa.exc.DBAPIError:
        return {}
    finally:
        engine.dispose()


def drain(replicas: int, n: int, args: argparse.Namespace, pg: PgServer, index: int) -> dict[str, Any]:
    db = f"replicas_{index}"
    url = pg.create_db(db)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="syncd-bench-replicas-") as tmp, Sandboxes() as sb:
        work = Path(tmp)
        ports = [common.free_port() for _ in range(replicas)]
        env = {**os.environ, **common.ENV}
        try:
            for i, port in enumerate(ports):
                extra: dict[str, Any] = {
                    "store": {"url": url},
                    "webhook": {"host": HOST, "port": port, "secret": common.WEBHOOK_SECRET},
                    "schedule": {"interval_seconds": 3600, "leader_check_seconds": 1},
                    "admin": {"host": HOST, "port": common.free_port()},
                }
                cfg = common.write_config(work / f"r{i}.yaml", sb.cogny_url, sb.jira_url, extra=extra)
                with open(work / f"r{i}.log", "ab") as log:
                    cmd = [sys.executable, "-m", "syncd", "--log-level", "info", "--log-json", "run",
                           "-c", str(cfg), "--workers", str(args.workers)]
                    procs.append(subprocess.Popen(cmd, env=env, cwd=common.ROOT, stdout=subprocess.DEVNULL,
                                                  stderr=log))
            ready = _wait(lambda: all(_ready(p) for p in ports), 60)
            if not ready:
                raise RuntimeError("replicas not ready: " + (work / "r0.log").read_text()[-1500:])
            ids = sb.call("add_tickets", n, 700 + index, (1, 4))
            knobs = {"slow_rate": 1.0, "slow_seconds": args.call_ms / 1000}
            sb.call("cogny_faults", knobs)
            sb.call("jira_faults", knobs)
            clients = [BlockingClient(HOST, p) for p in ports]
            cpu0 = sum(common.cpu_seconds(p.pid) for p in procs)
            started = time.monotonic()
            for k, tid in enumerate(ids):
                body = json.dumps({"id": f"evt_r_{tid}", "type": "ticket.created",
                                   "created_at": "2026-12-07T10:00:00Z",
                                   "data": {"ticket_id": tid, "warehouse_id": "wh_123abc"}}).encode()
                clients[k % replicas].send(build_request(HOST, ports[k % replicas], PATH, body,
                                                         sign_headers(body, common.WEBHOOK_SECRET)))
            sent = time.monotonic() - started
            done = _wait(lambda: inbox_states(url).get("done", 0) >= n, args.timeout, 0.25)
            seconds = time.monotonic() - started
            cpu = sum(common.cpu_seconds(p.pid) for p in procs) - cpu0
            for c in clients:
                c.close()
            states = inbox_states(url)
            parents = sb.call("parents")
            sb.call("cogny_faults", {})
            sb.call("jira_faults", {})
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            # who did the work: events processed and bursts created together, per replica (JSON logs)
            share = [_count(work / f"r{i}.log") for i in range(replicas)]
            pg.drop_db(db)
    return dict(replicas=replicas, seconds=seconds, drained=bool(done), sent=sent, states=states,
                issues=parents, cpu=cpu, share=share)


def _count(log: Path) -> tuple[int, int]:
    """(events processed, tickets created in bursts) in one replica's JSON log."""
    processed = created = 0
    for row in log.read_text(errors="replace").splitlines():
        if '"events processed"' in row:
            processed += int(json.loads(row).get("count", 1))
        elif '"burst created together"' in row:
            created += int(json.loads(row).get("created", 0))
    return processed, created


def _ready(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://{HOST}:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(check: Any, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000, help="ticket.created events (default 2000)")
    ap.add_argument("--call-ms", type=float, default=100.0, help="ms the sandboxes add to every call")
    ap.add_argument("--workers", type=int, default=2, help="syncd run --workers per replica (default 2)")
    ap.add_argument("--repeat", type=int, default=1, help="alternating pairs 1 vs 3 (default 1)")
    ap.add_argument("--timeout", type=float, default=1500.0, help="give up a drain after this many s")
    ap.add_argument("--quick", action="store_true", help="200 events, one pair")
    args = ap.parse_args()
    if args.quick:
        args.events, args.repeat = min(args.events, 200), 1
    common.header(f"replicas: {args.events:,} ticket.created events drained by 1 and by 3 replicas on "
                  f"one PostgreSQL store, {args.call_ms:.0f} ms per Cogny/JIRA call")
    rows: list[dict[str, Any]] = []
    index = 0
    with PgServer() as pg:
        for _ in range(max(1, args.repeat)):
            for replicas in (1, 3):
                index += 1
                row = drain(replicas, args.events, args, pg, index)
                rows.append(row)
                print(f"  {replicas} replica(s): {row['seconds']:6.1f} s "
                      f"({args.events / row['seconds']:5.1f} events/s; sent in {row['sent']:.1f} s), "
                      f"{'drained' if row['drained'] else 'NOT drained'}, inbox {row['states']}, "
                      f"{row['issues']} JIRA issues; replicas' CPU {row['cpu']:.1f} s; "
                      f"(events processed, created in bursts) per replica {row['share']}", flush=True)
    one = statistics.median(r["seconds"] for r in rows if r["replicas"] == 1)
    three = statistics.median(r["seconds"] for r in rows if r["replicas"] == 3)
    print("result:")
    common.line("drain, 1 replica / 3 replicas", f"{one:.1f} s / {three:.1f} s")
    common.line("speed-up of 3 replicas", f"{one / three:.2f}×", "≥ 2.5×", one / three >= 2.5)
    common.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
