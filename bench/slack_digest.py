#!/usr/bin/env python3
"""Slack backfill digests: a first sync of N tickets (default 2,000) to JIRA + Slack vs JIRA alone.

Fresh sandboxes and store per run. JIRA alone: one timed `syncd run-once`. JIRA + Slack: the same
with a Slack connector beside it (every ticket goes to both), the Slack sandbox at Slack's real
pace (`SlackSandbox(post_rate_per_second=1)`: a second post within a second of the last one in the
channel is refused with 429 + Retry-After) in its own process. Prints wall seconds of each, Slack
posts (goal: at most ⌈N / 50⌉ digest messages), edits, 429s and messages in the channel; the
contestants run alternately `--repeat` times. Without digests the Slack side alone would need at
least N − 1 seconds (one post per ticket, one per second).

Prints figures only; the targets are printed beside them, never asserted.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import common  # noqa: E402
from _support.sandproc import Sandboxes  # noqa: E402

CHANNEL = "C0GROWTH"


def serve_slack(conn: Any, rate: float) -> None:
    """The Slack sandbox in a helper process (so it takes no CPU from syncd's); answers counts."""
    from syncd.sandbox.slack.sandbox import SlackSandbox

    slack = SlackSandbox(post_rate_per_second=rate).start()
    conn.send(slack.url)
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            break
        if command == "stop":
            break
        calls = Counter(f"{r.path.rsplit('/', 1)[-1]} {r.status}" for r in slack.log.all())
        kinds = Counter(str((m.get("metadata") or {}).get("event_type")) for m in slack.messages(CHANNEL))
        conn.send({"calls": dict(calls), "messages": dict(kinds)})
    slack.stop()


class SlackProcess:
    def __init__(self, rate: float) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve_slack, args=(child, rate), daemon=True, name="bench-slack")
        self.proc.start()
        if not self.conn.poll(60):
            self.proc.kill()
            raise RuntimeError("Slack sandbox process did not start within 60 s")
        self.url = self.conn.recv()

    def counts(self) -> dict[str, dict[str, int]]:
        self.conn.send("counts")
        if not self.conn.poll(60):
            raise TimeoutError("Slack sandbox process did not answer within 60 s")
        return dict(self.conn.recv())

    def __enter__(self) -> "SlackProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.conn.send("stop")
        except OSError:
            pass
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def run(tickets: int, seed: int, with_slack: bool, rate: float, digest_over: int) -> dict[str, Any]:
    """One fresh first sync; wall seconds and (with Slack) what the channel received."""
    label = "jira-slack" if with_slack else "jira"
    with tempfile.TemporaryDirectory(prefix=f"syncd-bench-digest-{label}-") as tmp, \
            Sandboxes(tickets=tickets, seed=seed, items=(1, 2)) as sb:
        cfg = Path(tmp) / "syncd.yaml"
        slack = SlackProcess(rate) if with_slack else None
        try:
            extra: dict[str, Any] = {}
            if slack is not None:
                extra["connectors"] = {"slack": {"type": "slack", "token": "xoxb-sandbox", "channel": CHANNEL,
                                                 "base_url": f"{slack.url}/api/", "digest_over": digest_over}}
            common.write_config(cfg, sb.cogny_url, sb.jira_url, extra=extra)
            done = common.run_syncd("run-once", "-c", str(cfg), timeout=3600)
            counts = slack.counts() if slack is not None else {"calls": {}, "messages": {}}
        finally:
            if slack is not None:
                slack.__exit__()
        parents = sb.call("parents")
    calls = counts["calls"]
    return {"label": label, "run": done, "parents": parents, "messages": counts["messages"],
            "posts": calls.get("chat.postMessage 200", 0), "edits": calls.get("chat.update 200", 0),
            "refused": sum(n for k, n in calls.items() if k.endswith(" 429")),
            "reads": calls.get("conversations.history 200", 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=2000, help="new tickets (default 2000)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=2, help="alternate runs of each contestant (default 2)")
    ap.add_argument("--rate", type=float, default=1.0, help="Slack posts per second per channel (default 1)")
    ap.add_argument("--digest-over", type=int, default=20, help="the Slack connector's digest_over")
    ap.add_argument("--quick", action="store_true", help="500 tickets, one run each")
    args = ap.parse_args()
    if args.quick:
        args.tickets, args.repeat = min(args.tickets, 500), 1

    common.header(f"Slack digests: first sync of {args.tickets} tickets to JIRA + Slack "
                  f"(Slack at {args.rate:g} post/s/channel) vs JIRA alone")
    common.compile_bytecode()
    rows: list[dict[str, Any]] = []
    for i in range(max(1, args.repeat)):
        for with_slack in (False, True):
            row = run(args.tickets, args.seed, with_slack, args.rate, args.digest_over)
            rows.append(row)
            r = row["run"]
            extra = ""
            if with_slack:
                extra = (f", Slack: {row['posts']} posts, {row['edits']} edits, {row['refused']} × 429, "
                         f"{row['reads']} history reads, messages {row['messages']}")
            print(f"  run {i + 1} {row['label']:<10} exit {r.result.returncode}: {r.wall:6.1f} s wall, "
                  f"syncd CPU {r.cpu:5.1f} s, {row['parents']} JIRA issues{extra}", flush=True)
            if not r.ok:
                print(r.tail())
    jira = [r["run"].wall for r in rows if r["label"] == "jira"]
    both = [r for r in rows if r["label"] == "jira-slack"]
    bound = math.ceil(args.tickets / 50)
    print(f"result ({args.tickets} tickets):")
    common.line("wall, JIRA alone (each run)", ", ".join(f"{w:.1f} s" for w in jira))
    common.line("wall, JIRA + Slack (each run)", ", ".join(f"{r['run'].wall:.1f} s" for r in both),
                f"≤ JIRA alone ({min(jira):.1f} s)", max(r["run"].wall for r in both) <= max(jira))
    common.line("Slack posts (each run)", ", ".join(str(r["posts"]) for r in both), f"≤ ⌈N/50⌉ = {bound}",
                all(r["posts"] <= bound for r in both))
    floor = (args.tickets - 1) / args.rate
    common.line("Slack floor without digests", f"≥ {floor:.0f} s (a post per ticket)")
    common.footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
