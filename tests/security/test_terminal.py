"""Ticket text never drives the operator's terminal or forges a line of output (finding 7)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import structlog
from rich.table import Table

from syncd import log
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.terminal import Terminal, cells, printable
from tests.support.config import ENV, jira_settings, write_config
from tests.support.process import run_cli

PWN = "\x1b]0;PWNED\x07\x1b[2J"
FORGED = "\nFORGED 0 failure(s)"
HOSTILE = f"tkt_{PWN}{FORGED}\u202eevil"


def assert_inert(text: str) -> None:
    assert "\x1b]" not in text and "\x07" not in text and "\x1b[2J" not in text and "\u202e" not in text
    assert not any(line.startswith("FORGED") for line in text.splitlines())


def test_printable_shows_every_control_character_as_an_escape() -> None:
    assert printable(HOSTILE) == "tkt_\\x1b]0;PWNED\\x07\\x1b[2J\\nFORGED 0 failure(s)\\u202eevil"
    assert printable("Grüße — 成長 ✅") == "Grüße — 成長 ✅"


def test_terminal_and_table_cells_print_ticket_text_literally() -> None:
    buffer = io.StringIO()
    console = Terminal(file=buffer, force_terminal=False, width=200)
    console.print(f"failed: {HOSTILE}", markup=False)
    table = Table("ticket")
    table.add_row(*cells(f"[link=http://evil.example]click[/link] {HOSTILE}"))
    console.print(table)
    out = buffer.getvalue()
    assert_inert(out)
    assert "[link=http://evil.example]click[/link]" in out  # shown as text, not made a hyperlink


def test_json_log_lines_stay_json_and_console_lines_inert() -> None:
    buffer = io.StringIO()
    log.configure("info", json=True, stream=buffer)
    structlog.get_logger("syncd").info("bad ticket data", ticket_id=HOSTILE, title='", "level": "forged')
    (line,) = buffer.getvalue().splitlines()
    record = json.loads(line)
    assert record["ticket_id"] == HOSTILE and record["level"] == "info"
    buffer = io.StringIO()
    log.configure("info", json=False, stream=buffer)
    structlog.get_logger("syncd").info("bad ticket data", ticket_id=HOSTILE)
    assert_inert(buffer.getvalue())
    assert len(buffer.getvalue().splitlines()) == 1


def test_run_once_output_and_logs_are_inert(tmp_path: Path) -> None:
    good = make_ticket(title="A fine ticket")
    with CognySandbox([good]) as cogny, JiraSandbox() as jira:
        bad = make_ticket(id=HOSTILE, title=f"Title {PWN}{FORGED}")
        with cogny.lock:
            cogny.tickets[bad["id"]] = cogny._complete(bad)
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)})
        for fmt in ("--log-json", "--log-console"):
            result = run_cli(fmt, "run-once", "-c", str(cfg), env=ENV)
            assert result.returncode == 1, result.stdout + result.stderr
            assert "1 failure(s)" in result.stdout and "\\x1b]0;PWNED\\x07" in result.stdout
            assert_inert(result.stdout)
            assert_inert(result.stderr)
            if fmt == "--log-json":
                assert all(json.loads(line) for line in result.stderr.splitlines() if line.strip())
        listed = run_cli("links", "list", "-c", str(cfg), env=ENV)
        assert listed.returncode == 0 and good["id"] in listed.stdout
        assert_inert(listed.stdout)
