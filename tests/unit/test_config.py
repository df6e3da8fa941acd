"""Config: every class of error is one line naming the exact path; secrets never echoed.

tests/e2e/test_cli.py checks the same through the CLI (exit 2, one line per problem).
"""

from __future__ import annotations

import pytest

from syncd import config
from syncd.errors import ConfigError
from tests.support import ROOT
from tests.support.config import problem_matches

JIRA = ("jira: {type: jira, url: https://acme.atlassian.net, email: bot@acme.io, api_token: '${JIRA_TOKEN}', "
        "project: GROWTH}")


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
    [problem] = problems("cogny: {api_key: k-1234}\nschedule: {cron: 'every day'}")
    assert problem.startswith("schedule: invalid cron")
    assert problems("cogny: {api_key: k-1234}\nschedule: {cron: '0 * * * *', interval_seconds: 5}") == [
        "schedule: set interval_seconds or cron, not both"]


def test_invalid_yaml_gives_line_number() -> None:
    lines = problems("cogny: {api_key: [unclosed\n")
    assert lines[0].startswith("line ")


def test_example_config_is_valid() -> None:
    env = {"COGNY_API_KEY": "sk_test_x", "COGNY_WEBHOOK_SECRET": "whsec_x", "JIRA_EMAIL": "bot@acme.io",
           "JIRA_API_TOKEN": "jt", "SLACK_BOT_TOKEN": "xoxb-1", "LINEAR_API_KEY": "lin_api_x",
           "ASANA_TOKEN": "asana-x"}
    cfg = config.load(ROOT / "config.example.yaml", env=env)
    assert cfg.connectors and cfg.routes


# -- every class of problem: one line naming the key (tests/e2e/test_bad_input.py: through the CLI) --

SLACK = "slack: {type: slack, token: xoxb-1234, channel: '#growth'}"
LINEAR = "linear: {type: linear, api_key: lin_api_x, team_key: GROW}"
OK_HEAD = f"cogny: {{api_key: '${{COGNY_API_KEY}}'}}\nconnectors:\n  {JIRA}\n  {SLACK}\n  {LINEAR}\n"

# (config text, the one problem line expected: exact, or a prefix ending in "…")
CASES = {
    "unknown top-level key": ("cogny: {api_key: k-1234}\ncolour: blue\n", "colour: unknown key"),
    "unknown key in a connector": (OK_HEAD.replace("project: GROWTH}", "project: GROWTH, colour: blue}"),
                                   "connectors.jira.colour: unknown key"),
    "unknown key in a route match": (OK_HEAD + "routes: [{match: {colour: [red]}, connectors: [jira]}]\n",
                                     "routes.0.match.colour: unknown key"),
    "unknown key in webhook": ("cogny: {api_key: k-1234}\nwebhook: {secrett: x}\n",
                               "webhook.secrett: unknown key"),
    "wrong type: concurrency": ("cogny: {api_key: k-1234}\nsync: {concurrency: many}\n",
                                "sync.concurrency: …"),
    "wrong type: port out of range": ("cogny: {api_key: k-1234}\nwebhook: {port: 70000}\n",
                                      "webhook.port: …"),
    "wrong type: page size 0": ("cogny: {api_key: k-1234, page_size: 0}\n", "cogny.page_size: …"),
    "wrong type: warehouses not a list": ("cogny: {api_key: k-1234, warehouses: wh_1}\n",
                                          "cogny.warehouses: …"),
    "wrong type: bad filter enum": ("cogny: {api_key: k-1234, filters: {status: [archived]}}\n",
                                    "cogny.filters.status.0: …"),
    "wrong type: linear priority out of range": (
        OK_HEAD.replace("team_key: GROW}", "team_key: GROW, priority_map: {critical: 1, high: 2, medium: 3, "
                                           "low: 9}}"), "connectors.linear.priority_map.low: …"),
    "wrong type: jira label with a space": (
        OK_HEAD.replace("project: GROWTH}", "project: GROWTH, labels: [a b]}"), "connectors.jira.labels: …"),
    "wrong type: not an http url": ("cogny: {api_key: k-1234, base_url: 'ftp://x'}\n", "cogny.base_url: …"),
    "connector entry not a mapping": ("cogny: {api_key: k-1234}\nconnectors: {jira: 5}\n",
                                      "connectors.jira: …"),
    "connector name with a space": (
        "cogny: {api_key: k-1234}\nconnectors: {'my jira': {type: slack, token: xoxb-1, channel: C0X1}}\n",
        "connectors.my jira: name may hold only letters, digits, '-' and '_'"),
    "unset variable in a connector": (
        OK_HEAD.replace("xoxb-1234", "'${SLACK_TOKEN_NOT_SET_X}'"),
        "connectors.slack.token: environment variable SLACK_TOKEN_NOT_SET_X is not set"),
    "unset variable inside a list": ("cogny: {api_key: k-1234, warehouses: [wh_1, '${WH_NOT_SET_X}']}\n",
                                     "cogny.warehouses.1: environment variable WH_NOT_SET_X is not set"),
    "unknown connector type": ("cogny: {api_key: k-1234}\nconnectors: {t: {type: trello}}\n",
                               "connectors.t.type: unknown connector type 'trello' …"),
    "unknown connector in the second route": (
        OK_HEAD + "routes: [{connectors: [jira]}, {match: {priority: [low]}, connectors: [linear, asana]}]\n",
        "routes.1.connectors.1: unknown connector 'asana' (known: jira, linear, slack)"),
    "route with no connector": (OK_HEAD + "routes: [{match: {priority: [low]}, connectors: []}]\n",
                                "routes.0.connectors: …"),
    "cron with a field out of range": ("cogny: {api_key: k-1234}\nschedule: {cron: '61 * * * *'}\n",
                                       "schedule: invalid cron expression '61 * * * *'…"),
    "cron with too few fields": ("cogny: {api_key: k-1234}\nschedule: {cron: '* * *'}\n",
                                 "schedule: invalid cron expression '* * *'…"),
    "top level is a list": ("- cogny\n- jira\n", "(top level): must be a mapping …"),
    "slack token of the wrong kind": (OK_HEAD.replace("xoxb-1234", "abcd-1234"), "connectors.slack.token: …"),
    "linear without a team": (OK_HEAD.replace(", team_key: GROW", ""), "connectors.linear: …"),
}
CONFIG_PARAMS = [pytest.param(*case, id=name) for name, case in CASES.items()]


@pytest.mark.parametrize("text, want", CONFIG_PARAMS)
def test_each_config_problem_is_one_line_naming_the_key(text: str, want: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert len(info.value.problems) == 1, info.value.problems
    [line] = info.value.problems
    assert problem_matches(line, want), line
    assert "\n" not in line and "Traceback" not in line and "jt-secret-1" not in line


def test_problems_in_every_layer_are_reported_together() -> None:
    text = (OK_HEAD.replace("project: GROWTH}", "project: GROWTH, colour: blue}")
            + "schedule: {cron: '61 * * * *'}\nroutes: [{connectors: [jira, asana]}]\n")
    with pytest.raises(ConfigError) as info:
        parse(text)
    lines = info.value.problems
    assert any(p.startswith("schedule: invalid cron") for p in lines), lines
    assert "connectors.jira.colour: unknown key" in lines, lines
    assert any(p.startswith("routes.0.connectors.1: unknown connector 'asana'") for p in lines), lines
