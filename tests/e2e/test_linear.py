"""The Linear connector through the real CLI: `check-config --connect` and `run-once`."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.linear.sandbox import LinearSandbox
from tests.support.config import ENV, write_config
from tests.support.process import run_cli
from tests.support.records import linear_parents

pytestmark = pytest.mark.e2e
KEY = "lin_api_sandbox"


@pytest.fixture
def linear() -> Iterator[LinearSandbox]:
    with LinearSandbox(teams={"GROW": "Growth", "OPS": "Operations"}) as sb:
        yield sb


def test_check_config_and_run_once_against_the_sandboxes(linear: LinearSandbox, tmp_path: Path) -> None:
    settings = {"type": "linear", "api_key": "${LINEAR_API_KEY}", "team_key": "GROW",
                "api_url": f"{linear.url}/graphql",
                "priority_map": {"critical": 1, "high": 2, "medium": 3, "low": 4}}
    with CognySandbox(generate_tickets(3, seed=3)) as cogny:
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"linear": settings})
        wrong = "lin_api_wrong_0123456789abcdef"
        bad = run_cli("check-config", "-c", str(cfg), "--connect", env={**ENV, "LINEAR_API_KEY": wrong},
                      timeout=60)
        assert bad.returncode != 0 and "authentication failed" in bad.stdout, bad.stdout + bad.stderr
        assert wrong not in bad.stdout + bad.stderr
        env = {**ENV, "LINEAR_API_KEY": KEY}
        ok = run_cli("check-config", "-c", str(cfg), "--connect", env=env, timeout=60)
        assert ok.returncode == 0 and "GROW: Growth" in ok.stdout, ok.stdout + ok.stderr

        first = run_cli("run-once", "-c", str(cfg), env=env, timeout=60)
        assert first.returncode == 0, first.stdout + first.stderr
        parents = linear_parents(linear)
        assert len(parents) == 3 and all(len(linear.children(p["id"])) >= 1 for p in parents)
        assert {a["url"] for a in linear.attachments.values()} == {t["url"] for t in cogny.tickets.values()}
        linear.log.clear()
        second = run_cli("run-once", "-c", str(cfg), env=env, timeout=60)
        assert second.returncode == 0 and linear.log.writes() == [], second.stdout + second.stderr
