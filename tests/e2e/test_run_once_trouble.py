"""`syncd run-once` when things go wrong in the first hour: a bad credential or an unreachable target
is one grouped line (not one per ticket), a refused Cogny key says the listing failed (exit 3),
Ctrl-C says how far the run got and records it, and on a terminal the progress bar shows a rate and
an ETA with log lines printed above it."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from tests.support.config import ENV
from tests.support.process import HANG_GUARD, free_port, run_once, wait_for
from tests.support.records import CHANNEL
from tests.support.world import world

pytestmark = [pytest.mark.e2e]
BOTH = [{"connectors": ["jira", "linear"]}]


def test_a_refused_jira_token_is_one_grouped_line_and_the_other_target_goes_on(tmp_path: Path) -> None:
    with world(tmp_path, generate_tickets(30, seed=20), ("jira", "linear"), routes=BOTH,
               connector_kw={"jira": {"api_token": "not-the-token"}}) as w:
        result = run_once(w.cfg)

        assert result.returncode == 1, result.stdout + result.stderr
        out = result.stdout
        assert re.search(r"jira: switched off for the rest of this run \(HTTP 401: the credentials were "
                         r"refused\); 30 more ticket\(s\) wait for the next run — check it with: "
                         r"syncd check-config --connect", out), out
        assert "tkt_" not in out.split("switched off")[0].split("failure(s)")[-1]  # no line per ticket
        assert "jira: jira:" not in out
        assert len(w.jira.log.all()) <= 3  # the first refusal switched it off: not a call per ticket
        assert len([i for i in w.linear.issues.values() if i["parentId"] is None]) == 30


def test_an_unreachable_target_says_connection_refused_once(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with world(tmp_path, generate_tickets(30, seed=21), ("jira", "linear"), routes=BOTH,
               connector_kw={"jira": {"url": nobody}}) as w:
        result = run_once(w.cfg)

        assert result.returncode == 1, result.stdout + result.stderr
        assert "jira: switched off for the rest of this run (connection refused); " in result.stdout
        assert "30 more ticket(s) wait" in result.stdout
        # the retry policy's warnings: a few for the first call, not a storm for every ticket
        assert result.stderr.count("retrying") <= 8, result.stderr[-3000:]
        assert len([i for i in w.linear.issues.values() if i["parentId"] is None]) == 30


def test_a_refused_cogny_key_says_the_listing_failed_with_exit_3(tmp_path: Path) -> None:
    with world(tmp_path, generate_tickets(3, seed=22), ("jira",)) as w:
        result = run_once(w.cfg, env={**ENV, "COGNY_API_KEY": "sk_test_wrong"})

        assert result.returncode == 3, result.stdout + result.stderr
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("syncd:")]
        assert len(lines) == 1
        assert lines[0].startswith("syncd: listing tickets failed, nothing was synced: cogny:")
        assert "HTTP 401" in lines[0] and "check cogny.api_key" in lines[0]
        assert "ticket(s) in" not in result.stdout  # no summary of zeros
        assert "sk_test_wrong" not in result.stdout + result.stderr
        assert w.jira.log.writes() == []


def test_ctrl_c_says_how_far_the_run_got_records_it_and_the_next_run_resumes(tmp_path: Path) -> None:
    # Slack paces one post per 0.1 s here: 40 tickets take seconds, time enough to interrupt
    # (a message per ticket: `digest_over: 0`, or the 40 would be one backfill digest)
    with world(tmp_path, generate_tickets(40, seed=23), ("slack",),
               connector_kw={"slack": {"digest_over": 0}},
               sandbox_kw={"slack": {"post_rate_per_second": 10}}) as w:
        proc = subprocess.Popen([sys.executable, "-m", "syncd", "run-once", "-c", str(w.cfg)],
                                env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            wait_for(lambda: proc.poll() is not None or len(w.slack.messages(CHANNEL)) >= 3,
                     interval=0.01, what="three Slack messages posted")
            assert proc.poll() is None, "the run finished before it could be interrupted"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=HANG_GUARD)
        finally:
            if proc.poll() is None:
                proc.kill()

        assert proc.returncode == 130, out + err
        said = re.search(r"syncd: interrupted after (\d+) of 40 tickets; run again to resume", err)
        assert said, err[-3000:]
        with sqlite3.connect(tmp_path / "syncd.db") as db:
            (error,) = db.execute("SELECT error FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        assert error == f"interrupted after {said.group(1)} of 40 tickets"

        again = run_once(w.cfg)
        assert again.returncode == 0, again.stdout + again.stderr
        markers = [(m.get("metadata") or {}).get("event_payload", {}).get("ticket_id")
                   for m in w.slack.messages(CHANNEL)]
        assert sorted(markers) == sorted(w.cogny.tickets)  # each ticket once: resumed, not redone


def _read_pty(fd: int, proc: subprocess.Popen[bytes]) -> str:
    """Everything the process writes to its terminal, until it exits (bounded)."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + HANG_GUARD * 2
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_the_bar_shows_rate_and_eta_and_logs_print_above_it(tmp_path: Path) -> None:
    with world(tmp_path, generate_tickets(30, seed=24), ("slack",),
               connector_kw={"slack": {"digest_over": 0}},
               sandbox_kw={"slack": {"post_rate_per_second": 15}}) as w:
        master, slave = pty.openpty()
        env = {**os.environ, **ENV, "COLUMNS": "160", "TERM": "xterm"}
        proc = subprocess.Popen([sys.executable, "-m", "syncd", "run-once", "-c", str(w.cfg)], env=env,
                                stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        try:
            text = _read_pty(master, proc)
            assert proc.wait(timeout=HANG_GUARD) == 0, text[-3000:]
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()

    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "tickets/s" in plain and "eta" in plain, plain[-3000:]
    posted = [ln for ln in re.split(r"[\r\n]", plain) if "slack message posted" in ln]
    assert posted, plain[-3000:]
    for line in posted:  # a log line never shares its line with the bar
        assert "syncing tickets" not in line and "tickets/s" not in line, line
