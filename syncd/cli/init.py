"""`syncd init`: write a commented syncd.yaml for the chosen targets, secrets left to the environment."""

from __future__ import annotations

from pathlib import Path

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
