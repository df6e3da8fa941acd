"""Config: every class of error exits 2 with one line naming the exact path; secrets never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd import config
from syncd.errors import ConfigError
from tests.conftest import ROOT, run_cli

JIRA = "jira: {type: jira, url: https://acme.atlassian.net, email: bot@acme.io, api_token: '${JIRA_TOKEN}', project: GROWTH}"


def parse(text: str, **env: str) -> config.Config:
    return config.parse(text, env={"COGNY_API_KEY": "sk_test_abc123", "JIRA_TOKEN": "jt-secret-1", **env})


def problems(text: str, **env: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, **env)
    return info.value.problems


def test_minimal_config_gets_defaults() -> None:
    cfg = parse("cogny: {api_key: '${COGNY_API_KEY}'}")
    assert cfg.cogny.api_key.get_secret_value() == "sk_test_abc123"
    assert cfg.cogny.base_url == "https://api.cogny.com/v1"
    assert cfg.store.url == "sqlite:///syncd.db"
    assert cfg.schedule.interval_seconds == 3600
    assert cfg.routes == [] and cfg.connectors == {}


def test_env_default_syntax() -> None:
    cfg = parse("cogny: {api_key: k-1234, base_url: '${COGNY_URL:-http://127.0.0.1:9/v1}'}")
    assert cfg.cogny.base_url == "http://127.0.0.1:9/v1"


def test_unset_variable_names_the_key_and_variable() -> None:
    assert problems("cogny: {api_key: '${NOPE_NOT_SET}'}") == [
        "cogny.api_key: environment variable NOPE_NOT_SET is not set"]


def test_unknown_key_and_wrong_type_reported_together() -> None:
    lines = problems("cogny: {api_key: k-1234, colour: blue}\nschedule: {interval_seconds: soon}")
    assert "cogny.colour: unknown key" in lines
    assert any(line.startswith("schedule.interval_seconds: ") for line in lines)
    assert len(lines) == 2


def test_connector_missing_field_points_at_exact_path() -> None:
    lines = problems("cogny: {api_key: k-1234}\nconnectors:\n  jira: {type: jira, url: https://x.io, "
                     "email: a@b.c, api_token: t0k3n}")
    assert lines == ["connectors.jira.project: field required"]


def test_unknown_connector_type_lists_installed_types() -> None:
    lines = problems("cogny: {api_key: k-1234}\nconnectors: {pm: {type: trello}}")
    assert len(lines) == 1 and lines[0].startswith("connectors.pm.type: unknown connector type 'trello'")
    assert "jira" in lines[0]


def test_route_naming_unknown_connector() -> None:
    lines = problems(f"cogny: {{api_key: k-1234}}\nconnectors:\n  {JIRA}\n"
                     "routes: [{match: {priority: [high]}, connectors: [jira, slack]}]")
    assert lines == ["routes.0.connectors.1: unknown connector 'slack' (known: jira)"]


def test_bad_enum_in_route_match() -> None:
    lines = problems(f"cogny: {{api_key: k-1234}}\nconnectors:\n  {JIRA}\n"
                     "routes: [{match: {priority: [urgent]}, connectors: [jira]}]")
    assert len(lines) == 1 and lines[0].startswith("routes.0.match.priority.0: ")


def test_invalid_cron_and_both_triggers() -> None:
    assert problems("cogny: {api_key: k-1234}\nschedule: {cron: 'every day'}")[0].startswith("schedule: invalid cron")
    assert problems("cogny: {api_key: k-1234}\nschedule: {cron: '0 * * * *', interval_seconds: 5}") == [
        "schedule: set interval_seconds or cron, not both"]


def test_invalid_yaml_gives_line_number() -> None:
    lines = problems("cogny: {api_key: [unclosed\n")
    assert lines[0].startswith("line ")


def test_masked_config_hides_every_secret() -> None:
    cfg = parse(f"cogny: {{api_key: '${{COGNY_API_KEY}}'}}\nconnectors:\n  {JIRA}")
    text = repr(config.masked(cfg))
    assert "sk_test_abc123" not in text and "jt-secret-1" not in text
    assert "***" in text


def test_example_config_is_valid() -> None:
    env = {"COGNY_API_KEY": "sk_test_x", "COGNY_WEBHOOK_SECRET": "whsec_x", "JIRA_EMAIL": "bot@acme.io",
           "JIRA_API_TOKEN": "jt", "SLACK_BOT_TOKEN": "xoxb-1", "LINEAR_API_KEY": "lin_api_x",
           "ASANA_TOKEN": "asana-x"}
    cfg = config.load(ROOT / "config.example.yaml", env=env)
    assert cfg.connectors and cfg.routes


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
