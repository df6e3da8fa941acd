#!/usr/bin/env python3
"""Webhook ingest as a ratio to its floor: syncd's receiver vs a minimal durable receiver (issue 22).

The floor (`_support/floor_receiver.py`) is Starlette + uvicorn (h11) + SQLite WAL: HMAC check,
JSON parse, insert-once, 202 — nothing else. `syncd run` (SQLite store, log level info as
deployed, JSON logs to a file) is the contestant. Each round starts each receiver alone (fresh
temp dir), warms it up, then sends N signed `report.completed` events (stored, nothing to
reconcile: pure ingest) from C keep-alive connections (default 32) with the closed-loop load
generator, and stops it; receivers alternate round by round (with `--base PATH`, a worktree of
the previous code, that tree's syncd too). Prints accepted/s and p50/p99 per run, then the medians
and syncd ÷ floor (goal ≥ 0.75× the floor's rate; ≥ 3,000/s with p99 < 20 ms on 2 cores).

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
from _support.loadgen import Result, build_request, fire  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402

from syncd.signatures import sign_headers  # noqa: E402

HOST, PATH = "127.0.0.1", "/webhooks/cogny"
FLOOR = Path(__file__).resolve().parent / "_support" / "floor_receiver.py"


def requests_for(port: int, prefix: str, n: int) -> list[bytes]:
    out = []
    for i in range(n):
        event = {"id": f"evt_{prefix}_{i:07d}", "type": "report.completed",
                 "created_at": "2026-12-07T10:00:00Z",
                 "data": {"report_id": f"rpt_{prefix}{i:07d}", "warehouse_id": "wh_123abc"}}
        body = json.dumps(event, separators=(",", ":")).encode()
        out.append(build_request(HOST, port, PATH, body, sign_headers(body, common.WEBHOOK_SECRET)))
    return out


def start(name: str, tree: Path, work: Path, port: int, sb: Sandboxes) -> subprocess.Popen[bytes]:
    env = {**os.environ, **common.ENV, "PYTHONPATH": str(tree)}
    log = open(work / f"{name}.log", "ab")
    if name == "floor":
        cmd = [sys.executable, str(FLOOR), str(port), str(work / "floor.db"), common.WEBHOOK_SECRET]
    else:
        extra: dict[str, Any] = {"webhook": {"host": HOST, "port": port, "secret": common.WEBHOOK_SECRET},
                                 "schedule": {"interval_seconds": 3600}}
        if "class AdminConfig" in (tree / "syncd" / "config.py").read_text():
            extra["admin"] = {"host": HOST, "port": common.free_port()}
        cfg = common.write_config(work / "syncd.yaml", sb.cogny_url, sb.jira_url, extra=extra)
        cmd = [sys.executable, "-m", "syncd", "--log-level", "info", "--log-json", "run", "-c", str(cfg)]
    return subprocess.Popen(cmd, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=log)


def measure(name: str, tree: Path, args: argparse.Namespace, sb: Sandboxes,
            index: int) -> tuple[Result, float] | None:
    """One receiver alone: start, wait until it accepts, warm up, the measured round, stop."""
    with tempfile.TemporaryDirectory(prefix=f"syncd-bench-floor-{name}-") as tmp:
        work, port = Path(tmp), common.free_port()
        proc = start(name.split()[0], tree, work, port, sb)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # ready when a signed event is accepted
                if proc.poll() is not None:
                    break
                probe = fire(HOST, port, requests_for(port, f"probe{index}", 1), 1, 5)
                if probe.count(202):
                    break
                time.sleep(0.2)
            if proc.poll() is not None:
                print(f"  {name}: exited {proc.returncode}: "
                      f"{(work / (name.split()[0] + '.log')).read_text(errors='replace')[-1500:]}")
                return None
            warm = requests_for(port, f"warm{index}", args.warmup)
            fire(HOST, port, warm, args.clients, args.round_timeout)
            time.sleep(0.5)
            cpu0 = common.cpu_seconds(proc.pid)
            result = fire(HOST, port, requests_for(port, f"main{index}", args.events), args.clients,
                          args.round_timeout)
            return result, common.cpu_seconds(proc.pid) - cpu0
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def figures(r: Result) -> tuple[float, float, float]:
    lat = [x * 1000 for x in r.latencies]
    return r.count(202) / r.elapsed, common.percentile(lat, 50), common.percentile(lat, 99)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20000, help="events per measured run (default 20000)")
    ap.add_argument("--warmup", type=int, default=1000, help="warm-up events per run, not counted")
    ap.add_argument("--clients", type=int, default=32, help="keep-alive connections (default 32)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--base", type=Path, help="a worktree of the previous code, its syncd measured too")
    ap.add_argument("--round-timeout", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true", help="5,000 events, 2 rounds")
    args = ap.parse_args()
    if args.quick:
        args.events, args.rounds, args.warmup = min(args.events, 5000), min(args.rounds, 2), 500
    contestants = [("syncd", common.ROOT), ("floor", common.ROOT)]
    if args.base:
        contestants.append(("syncd (base)", args.base.resolve()))

    common.header(f"ingest vs its floor: {args.events:,} signed report.completed events, "
                  f"{args.clients} keep-alive connections")
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in contestants}
    cpu_per: dict[str, list[float]] = {name: [] for name, _ in contestants}  # µs of CPU per accepted event
    index = 0
    with Sandboxes() as sb:
        for rnd in range(max(1, args.rounds)):
            for name, tree in contestants:
                index += 1
                measured = measure(name, tree, args, sb, index)
                if measured is None:
                    continue
                r, cpu = measured
                rate, p50, p99 = figures(r)
                errors = r.sent - r.count(202)
                results[name].append((rate, p50, p99))
                cpu_per[name].append(cpu / max(1, r.count(202)) * 1e6)
                print(f"  round {rnd + 1} {name:<13} {rate:7,.0f} accepted/s, p50 {p50:5.1f} ms, "
                      f"p99 {p99:5.1f} ms, CPU {cpu:5.1f} s over {r.elapsed:.1f} s, {errors} not 202",
                      flush=True)
    print("result (medians over the rounds, spread in brackets):")
    med: dict[str, tuple[float, float]] = {}
    for name, rows in results.items():
        if not rows:
            continue
        rates, p99s = [r[0] for r in rows], [r[2] for r in rows]
        med[name] = (statistics.median(rates), statistics.median(p99s))
        common.line(f"{name}: accepted/s", f"{med[name][0]:,.0f} [{min(rates):,.0f}–{max(rates):,.0f}]")
        common.line(f"{name}: p99", f"{med[name][1]:.1f} ms [{min(p99s):.1f}–{max(p99s):.1f}]")
        common.line(f"{name}: CPU per accepted event", f"{statistics.median(cpu_per[name]):.0f} µs "
                    "(less sensitive to the machine's other load than the rate)")
    if "syncd" in med and "floor" in med:
        ratio = med["syncd"][0] / med["floor"][0]
        common.line("syncd ÷ floor, rate", f"{ratio:.2f}×", "≥ 0.75×", ratio >= 0.75)
        cpu_ratio = statistics.median(cpu_per["floor"]) / statistics.median(cpu_per["syncd"])
        common.line("floor CPU ÷ syncd CPU per event", f"{cpu_ratio:.2f}×", "≥ 0.75×", cpu_ratio >= 0.75)
        common.line("syncd rate / p99", f"{med['syncd'][0]:,.0f}/s / {med['syncd'][1]:.1f} ms",
                    "≥ 3,000/s, < 20 ms", med["syncd"][0] >= 3000 and med["syncd"][1] < 20)
    common.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
