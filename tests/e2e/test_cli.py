"""The CLI as a user runs it: config errors exit 2 with one line per problem; the process's start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import run_cli

pytestmark = pytest.mark.e2e
JIRA = ("jira: {type: jira, url: https://acme.atlassian.net, email: bot@acme.io, api_token: '${JIRA_TOKEN}', "
        "project: GROWTH}")


def test_cli_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cogny: {api_key: '${COGNY_KEY_UNSET_X}', extra: 1}\nstore: {url: mysql://x}\n")
    result = run_cli("check-config", "-c", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [ln.strip() for ln in result.stderr.splitlines()[1:]]
    assert "cogny.api_key: environment variable COGNY_KEY_UNSET_X is not set" in lines
    assert "cogny.extra: unknown key" in lines
    assert any(ln.startswith("store.url: must be sqlite") for ln in lines)


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("run-once", "-c", str(tmp_path / "none.yaml"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_check_config_prints_routing_with_secrets_masked(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(f"cogny: {{api_key: '${{COGNY_API_KEY}}'}}\nconnectors:\n  {JIRA}\n"
                    "routes: [{match: {priority: [critical, high]}, connectors: [jira]}]\n")
    result = run_cli("check-config", "-c", str(path), env={"COGNY_API_KEY": "sk_test_topsecret",
                                                            "JIRA_TOKEN": "jira-topsecret"})
    assert result.returncode == 0, result.stderr
    assert "route 0: {'priority': ['critical', 'high']} -> jira" in result.stdout
    assert "topsecret" not in result.stdout + result.stderr


def test_config_from_env_variable(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("cogny: {api_key: k-1234}\n")
    result = run_cli("check-config", env={"SYNCD_CONFIG": str(path)})
    assert result.returncode == 0 and str(path) in result.stdout


def test_the_cli_runs_with_the_collector_enabled() -> None:
    # `python -m syncd` and the `syncd` script both start through syncd.__main__.main
    probe = ("import gc, sys; import syncd.cli.app as c; "
             "c.app.command('gc-probe')(lambda: print(gc.isenabled(), gc.get_freeze_count() > 0)); "
             "sys.argv = ['syncd', 'gc-probe']; from syncd.__main__ import main; main()")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
