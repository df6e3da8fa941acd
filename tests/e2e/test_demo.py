"""`syncd demo`: the newcomer's first command works end to end and leaves the sandboxes in the right state."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from syncd.cli.demo import run_demo
from tests.support.process import run_cli

pytestmark = pytest.mark.e2e


def test_demo_syncs_every_target_and_the_webhook_edit(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def inspect(cogny: Any, targets: dict[str, Any]) -> None:
        seen["notes"] = {tid: t.get("notes") or "" for tid, t in cogny.tickets.items()}
        seen["titles"] = {tid: t["title"] for tid, t in cogny.tickets.items()}
        with targets["jira"].lock:
            seen["jira"] = {i["summary"] for i in targets["jira"].issues.values() if not i["parent"]}
        seen["asana"] = {t["name"] for t in targets["asana"].top_level()}

    buffer = io.StringIO()
    ok = run_demo(console=Console(file=buffer, width=200), tickets=6, workdir=tmp_path, on_finish=inspect)
    text = buffer.getvalue()
    assert ok, text
    unsynced = [n for n in seen["notes"].values()
                if not (n.count("Synced to Linear:") == 1 and "Synced to Asana:" in n)]
    assert seen["notes"] and unsynced == []
    edited = next(t for t in seen["titles"].values() if t.startswith("Edited in Cogny: "))
    assert edited in seen["jira"] and edited in seen["asana"]  # the webhook's edit reached the targets
    assert "0 writes on the second run" in text and "after the edit" in text
    assert "completed in Cogny" in text  # step 4: a JIRA sub-task closed by hand reached the ticket
    assert (tmp_path / "syncd.yaml").exists()


def test_demo_cli_exits_zero(tmp_path: Path) -> None:
    result = run_cli("demo", "--tickets", "4", "--workdir", str(tmp_path), timeout=90)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for heading in ("tickets found in Cogny", "created where", "second sync", "signed webhook", "flows back",
                    "config:"):
        assert heading in result.stdout


def test_demo_failure_is_one_line_and_the_traceback_is_on_request(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("in the way")
    plain = run_cli("demo", "--workdir", str(not_a_dir), timeout=90, env={"SYNCD_DEBUG": ""})
    assert plain.returncode == 1
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1, plain.stderr
    assert lines[0].startswith("syncd demo: failed: FileExistsError: ") and str(not_a_dir) in lines[0]
    assert "--debug" in lines[0] and "Traceback" not in plain.stderr

    for args, env in ((("--debug", "demo"), {}), (("demo",), {"SYNCD_DEBUG": "1"})):
        verbose = run_cli(*args, "--workdir", str(not_a_dir), timeout=90, env=env)
        assert verbose.returncode == 1
        assert "Traceback (most recent call last)" in verbose.stderr and "FileExistsError" in verbose.stderr
