"""The sandboxes' credentials, and a syncd.yaml pointing at the sandboxes (secrets through `${VAR}`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.process import free_port

COGNY_KEY = "sk_test_sandbox"
JIRA_USER, JIRA_TOKEN = "bot@example.com", "jira-token"


def jira_settings(jira_url: str, **overrides: Any) -> dict[str, Any]:
    """A JIRA connector for the sandbox; its search does not lag unless a test says so (and then the
    test sets `search_lag_seconds` to match)."""
    return {"type": "jira", "url": jira_url, "email": JIRA_USER, "api_token": "${JIRA_TOKEN}",
            "project": "GROWTH", "search_lag_seconds": 0, **overrides}


def write_config(path: Path, cogny_url: str, connectors: dict[str, dict[str, Any]], *,
                 routes: list[dict[str, Any]] | None = None, store: Path | str | None = None,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write a syncd.yaml for the sandboxes; secrets come from the env (see ENV)."""
    doc: dict[str, Any] = {
        "cogny": {"base_url": f"{cogny_url}/v1", "api_key": "${COGNY_API_KEY}",
                  "filters": {"status": ["open", "in_progress", "completed", "dismissed"]}},
        "store": {"url": f"sqlite:///{store or path.parent / 'syncd.db'}"},
        "sync": {"concurrency": 4, "backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
        "connectors": connectors,
    }
    if routes is not None:
        doc["routes"] = routes
    # `syncd run` opens the admin listener too (console, /metrics): never the default 8081 in a test
    doc["admin"] = {"host": "127.0.0.1", "port": free_port()}
    for key, value in (extra or {}).items():
        doc.setdefault(key, {}).update(value) if isinstance(value, dict) else doc.__setitem__(key, value)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


ENV = {"COGNY_API_KEY": COGNY_KEY, "JIRA_TOKEN": JIRA_TOKEN}



def problem_matches(line: str, want: str) -> bool:
    """A config problem line is `want` exactly, or starts with it when `want` ends in "…"."""
    return line.startswith(want[:-1].rstrip()) if want.endswith("…") else line == want
