#!/usr/bin/env python3
"""A burst of `ticket.created` events: event → JIRA issue latency, coalesced or not (issue 22).

`syncd run` (SQLite store, no polls after the start-up one) with the Cogny and JIRA sandboxes in a
helper process. Each round adds B new tickets to Cogny (default 50, 1–4 action items), then sends
their B signed `ticket.created` events back to back over C keep-alive connections (default 4),
and times each event from its send to the moment the JIRA sandbox stored the ticket's issue
(`time.monotonic()`, one clock for every process). Then one event alone, R times (default 10).
With `--base PATH` (a `git worktree` of the previous code) the same rounds run on that tree too,
alternately, each tree in a fresh daemon, store and sandboxes.

Goal: a burst of 50 → p50 < 100 ms, p95 < 250 ms; one event still ≈ 10 ms.
Prints figures only; the targets are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
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
from _support.sandproc import Sandboxes  # noqa: E402

from syncd.signatures import sign_headers  # noqa: E402

HOST, PATH = "127.0.0.1", "/webhooks/cogny"


def event(port: int, ticket_id: str, tag: str) -> bytes:
    body = json.dumps({"id": f"evt_{tag}_{ticket_id}", "type": "ticket.created",
                       "created_at": "2026-12-07T10:00:00Z",
                       "data": {"ticket_id": ticket_id, "warehouse_id": "wh_123abc"}},
                      separators=(",", ":")).encode()
    return build_request(HOST, port, PATH, body, sign_headers(body, common.WEBHOOK_SECRET))


async def _send_all(port: int, requests: list[tuple[str, bytes]], clients: int) -> dict[str, float]:
    """Send every request as fast as the answers come back over `clients` connections; send times."""
    sent: dict[str, float] = {}
    queue = list(reversed(requests))

    async def one() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while queue:
                tid, raw = queue.pop()
                sent[tid] = time.monotonic()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(clients))), timeout=60)
    return sent


def wait_created(sb: Sandboxes, ids: list[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    created: dict[str, Any] = {}
    while time.monotonic() < deadline:
        created = sb.call("issue_created", ids)
        if all(created.values()):
            break
        time.sleep(0.05)
    return created


def run_tree(name: str, tree: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"burst": [], "single": [], "missing": []}
    with tempfile.TemporaryDirectory(prefix="syncd-bench-burst-") as tmp, Sandboxes() as sb:
        work, port = Path(tmp), common.free_port()
        extra: dict[str, Any] = {"webhook": {"host": HOST, "port": port, "secret": common.WEBHOOK_SECRET},
                                 "schedule": {"interval_seconds": 3600}}
        if "class AdminConfig" in (tree / "syncd" / "config.py").read_text():
            extra["admin"] = {"host": HOST, "port": common.free_port()}
        cfg = common.write_config(work / "syncd.yaml", sb.cogny_url, sb.jira_url, extra=extra)
        env = {**os.environ, **common.ENV, "PYTHONPATH": str(tree)}
        with open(work / "daemon.log", "ab") as log:
            cmd = [sys.executable, "-m", "syncd", "--log-level", "info", "--log-json", "run", "-c", str(cfg)]
            daemon = subprocess.Popen(cmd, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=log)
        try:
            db = work / "syncd.db"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not common.store_rows(db, "SELECT 1 FROM runs "
                                                                            "WHERE finished_at IS NOT NULL"):
                if daemon.poll() is not None:
                    raise RuntimeError((work / "daemon.log").read_text()[-2000:])
                time.sleep(0.1)
            for rnd in range(args.rounds):
                ids = sb.call("add_tickets", args.burst, 1000 + rnd, (1, 4))
                sent = asyncio.run(_send_all(port, [(t, event(port, t, "b")) for t in ids], args.clients))
                created = wait_created(sb, ids, 30)
                out["burst"] += [(created[t] - sent[t]) * 1000 for t in ids if created.get(t)]
                out["missing"].append(sum(1 for t in ids if not created.get(t)))
            client = BlockingClient(HOST, port)
            for i in range(args.singles):
                [tid] = sb.call("add_tickets", 1, 5000 + i, (1, 4))
                _, t0 = client.send(event(port, tid, "s"))
                created = wait_created(sb, [tid], 10)
                if created.get(tid):
                    out["single"].append((created[tid] - t0) * 1000)
            client.close()
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(5)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--burst", type=int, default=50, help="events per burst (default 50)")
    ap.add_argument("--rounds", type=int, default=3, help="bursts per daemon (default 3)")
    ap.add_argument("--singles", type=int, default=10, help="single events after the bursts (default 10)")
    ap.add_argument("--clients", type=int, default=4, help="connections sending the burst (default 4)")
    ap.add_argument("--repeat", type=int, default=2, help="daemons per tree, alternately (default 2)")
    ap.add_argument("--base", type=Path, help="a worktree of the previous code, measured alternately")
    ap.add_argument("--quick", action="store_true", help="2 bursts, 5 singles, 1 daemon per tree")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.singles, args.repeat = min(args.rounds, 2), min(args.singles, 5), 1
    trees = [("current", common.ROOT)] + ([("base", args.base.resolve())] if args.base else [])
    common.header(f"burst: {args.burst} ticket.created back to back over {args.clients} connections, "
                  f"{args.rounds} bursts per daemon; then {args.singles} single events")
    results: dict[str, dict[str, list[float]]] = {
        n: {"burst": [], "single": [], "missing": []} for n, _ in trees}
    for rep in range(args.repeat):
        for name, tree in trees:
            got = run_tree(name, tree, args)
            for key, values in got.items():
                results[name][key] += values
            b = got["burst"]
            print(f"  {name:<8} daemon {rep + 1}: burst p50 {common.percentile(b, 50):6.0f} ms, "
                  f"p95 {common.percentile(b, 95):6.0f} ms, max {max(b, default=float('nan')):6.0f} ms; "
                  f"single p50 {common.percentile(got['single'], 50):5.0f} ms; "
                  f"missing {sum(got['missing']):.0f}", flush=True)
    print("result (all bursts of all daemons per tree):")
    for name, r in results.items():
        b, s = r["burst"], r["single"]
        p50, p95 = common.percentile(b, 50), common.percentile(b, 95)
        common.line(f"{name}: burst event → issue p50", f"{p50:.0f} ms", "< 100 ms", p50 < 100)
        common.line(f"{name}: burst event → issue p95", f"{p95:.0f} ms", "< 250 ms", p95 < 250)
        if s:
            common.line(f"{name}: one event alone p50 (n={len(s)})", f"{statistics.median(s):.0f} ms",
                        "≈ 10 ms")
    common.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
