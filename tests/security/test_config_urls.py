"""Credentials never ride in a configured URL (finding 5): refused at load, naming the key, never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import config
from syncd.errors import ConfigError
from tests.support.process import run_cli

BASE = "cogny: {api_key: k-12345678%s}\nconnectors:\n  %s\n"
JIRA = "jira: {type: jira, url: '%s', email: a@b.c, api_token: t0k3n-x, project: GROWTH}"
SLACK = "slack: {type: slack, token: xoxb-1234, channel: C0123ABC, base_url: '%s'}"
LINEAR = "linear: {type: linear, api_key: lin_api_x, team_id: t, api_url: '%s'}"
ASANA = "asana: {type: asana, token: asana-x, workspace_gid: '1', project_gid: '2', base_url: '%s'}"
CREDENTIALED = "https://robot:hunter2-pass@example.atlassian.net"


@pytest.mark.parametrize(("cogny_extra", "connector", "key"), [
    (f", base_url: '{CREDENTIALED}/v1'", JIRA % "https://acme.atlassian.net", "cogny.base_url"),
    ("", JIRA % CREDENTIALED, "connectors.jira.url"),
    ("", SLACK % f"{CREDENTIALED}/api/", "connectors.slack.base_url"),
    ("", LINEAR % f"{CREDENTIALED}/graphql", "connectors.linear.api_url"),
    ("", ASANA % f"{CREDENTIALED}/api/1.0", "connectors.asana.base_url"),
])
def test_userinfo_in_a_url_is_refused_naming_the_key(cogny_extra: str, connector: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(BASE % (cogny_extra, connector), env={})
    lines = [p for p in info.value.problems if p.startswith(f"{key}:")]
    assert lines and "credentials" in lines[0] and "token" in lines[0], info.value.problems
    assert "hunter2" not in " ".join(info.value.problems) and "robot" not in " ".join(info.value.problems)


def test_check_config_exits_2_without_echoing_the_credentials(tmp_path: Path) -> None:
    path = tmp_path / "syncd.yaml"
    path.write_text(BASE % ("", JIRA % CREDENTIALED))
    result = run_cli("check-config", "-c", str(path))
    assert result.returncode == 2
    assert "connectors.jira.url: must not contain credentials" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_an_at_sign_in_the_path_is_not_userinfo() -> None:
    cfg = config.parse(BASE % (", base_url: 'https://api.example.com/v1/@team'", JIRA % "https://acme.atlassian.net"),
                       env={})
    assert cfg.cogny.base_url == "https://api.example.com/v1/@team"
