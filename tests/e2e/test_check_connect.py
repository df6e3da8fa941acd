"""`syncd check-config --connect`: read-only checks of every credential, one line each, with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.cli.sandboxes import KINDS
from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sandbox.linear.sandbox import LinearSandbox
from syncd.sandbox.slack.sandbox import SlackSandbox
from tests.support.config import ENV, write_config
from tests.support.process import free_port, run_cli

pytestmark = [pytest.mark.e2e]


def test_all_checks_pass_then_bad_credentials_are_named(tmp_path: Path) -> None:
    with CognySandbox() as cogny, JiraSandbox() as jira, SlackSandbox() as slack, LinearSandbox() as linear, \
            AsanaSandbox() as asana:
        targets = {"jira": jira, "slack": slack, "linear": linear, "asana": asana}
        connectors = {n: KINDS[n].connector(sb) for n, sb in targets.items()}
        good = write_config(tmp_path / "good.yaml", cogny.url, connectors)
        result = run_cli("check-config", "-c", str(good), "--connect", env=ENV)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "FAIL" not in result.stdout and result.stdout.count("ok  ") >= 5

        connectors["jira"]["api_token"] = "wrong-jira-token-123"
        connectors["linear"]["api_url"] = f"http://127.0.0.1:{free_port()}/graphql"  # nothing listens
        connectors["slack"]["channel"] = "no-such-channel"
        bad = write_config(tmp_path / "bad.yaml", cogny.url, connectors)
        result = run_cli("check-config", "-c", str(bad), "--connect", env=ENV, timeout=120)
        out = result.stdout
        assert result.returncode == 1 and "Traceback" not in out + result.stderr
        fails = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
        assert any("[jira]" in ln and "fix:" in ln for ln in fails)
        assert any("[linear]" in ln for ln in fails) and any("[slack]" in ln for ln in fails)
        assert any(ln.startswith("ok   cogny") for ln in out.splitlines())
        assert "wrong-jira-token-123" not in out + result.stderr
