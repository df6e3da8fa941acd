"""`syncd init`: write a commented syncd.yaml for the chosen targets, secrets left to the environment."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from syncd.cli.common import syncd_command

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["PROMPTS", "TEMPLATES", "ask_targets", "render", "syncd_command", "unknown_targets", "write"]

# What `syncd init` asks for a value its flags left out, each with an example of the expected form.
PROMPTS = {
    "jira_url": "JIRA base URL (e.g. https://acme.atlassian.net)",
    "jira_project": "JIRA project key (e.g. GROWTH)",
    "slack_channel": "Slack channel name or id (e.g. #growth or C0123ABCD)",
    "linear_team": "Linear team key (e.g. GROW)",
    "asana_workspace": "Asana workspace gid (e.g. 1200000000000001)",
    "asana_project": "Asana project gid (e.g. 1200000000000002)",
}
MAX_ASKS = 5  # a wizard fed from a script that keeps answering wrongly stops instead of looping forever

TEMPLATES: dict[str, tuple[str, list[str]]] = {
    "jira": ("""\
  jira:
    type: jira
    url: {jira_url}                    # https://your-domain.atlassian.net
    email: ${{JIRA_EMAIL}}
    api_token: ${{JIRA_API_TOKEN}}       # Server/Data Center: use `token: ${{JIRA_PAT}}` instead
    project: {jira_project}
    # issue_type: Task
    # subtask_type: Sub-task
    # priority_map: {{critical: Highest, high: High, medium: Medium, low: Low}}
""", ["JIRA_EMAIL", "JIRA_API_TOKEN"]),
    "slack": ("""\
  slack:
    type: slack
    token: ${{SLACK_BOT_TOKEN}}          # bot token with chat:write, channels:history, channels:read
    channel: {slack_channel}
""", ["SLACK_BOT_TOKEN"]),
    "linear": ("""\
  linear:
    type: linear
    api_key: ${{LINEAR_API_KEY}}
    team_key: {linear_team}
""", ["LINEAR_API_KEY"]),
    "asana": ("""\
  asana:
    type: asana
    token: ${{ASANA_TOKEN}}
    workspace_gid: "{asana_workspace}"
    project_gid: "{asana_project}"
""", ["ASANA_TOKEN"]),
}

HEADER = """\
# syncd configuration, written by `syncd init`. Full reference: config.example.yaml / README.md.
# Secrets come from the environment: {env}
cogny:
  base_url: {cogny_url}
  api_key: ${{COGNY_API_KEY}}
  warehouses: [{warehouses}]            # empty: every warehouse the key can see
  filters:
    status: [open, in_progress]
store:
  url: {store_url}
schedule:
  interval_seconds: 3600
webhook:
  port: 8080
  secret: ${{COGNY_WEBHOOK_SECRET}}
connectors:
"""


def unknown_targets(names: list[str]) -> list[str]:
    """The names in `names` that are not a target `init` knows."""
    return [n for n in names if n not in TEMPLATES]


def ask_targets(console: Console) -> list[str]:
    """Ask for the targets until every name is known (a typo asks again, naming the valid ones)."""
    import typer

    for _ in range(MAX_ASKS):
        answer = str(typer.prompt(f"Targets, comma-separated (e.g. jira, slack; choose from "
                                  f"{', '.join(TEMPLATES)})", default="jira"))
        chosen = [n for n in answer.replace(" ", "").split(",") if n]
        unknown = unknown_targets(chosen)
        if chosen and not unknown:
            return chosen
        console.print(f"unknown target {', '.join(unknown) or '(none given)'}: choose from "
                      f"{', '.join(TEMPLATES)}", markup=False)
    raise typer.BadParameter(f"no valid targets after {MAX_ASKS} tries", param_hint="targets")


def render(connectors: list[str], *, cogny_url: str, warehouses: list[str], store_url: str,
           values: dict[str, str]) -> tuple[str, list[str]]:
    """The YAML text and the environment variables it needs."""
    env = ["COGNY_API_KEY", "COGNY_WEBHOOK_SECRET"]
    parts = []
    for name in connectors:
        template, needs = TEMPLATES[name]
        parts.append(template.format(**values))
        env += needs
    text = HEADER.format(env=", ".join(env), cogny_url=cogny_url, warehouses=", ".join(warehouses),
                         store_url=store_url) + "".join(parts)
    if not connectors:
        text = text.replace("connectors:\n", "connectors: {}\n")
    if {"jira", "slack"} <= set(connectors):
        text += ("routes:                                "
                 "# critical/high to JIRA and Slack, everything to the rest\n"
                 "  - match: {priority: [critical, high]}\n    connectors: [jira, slack]\n")
        rest = [c for c in connectors if c not in ("jira", "slack")]
        if rest:
            text += f"  - connectors: [{', '.join(rest)}]\n"
    return text, env


def write(path: Path, text: str, *, force: bool) -> None:
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite")
    path.write_text(text)
