"""The sandboxes by name: how to start each, and the connector config that points syncd at it.

`syncd sandbox NAME` and `syncd demo` use this table; tests import the sandbox classes directly.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from rich.console import Console

if TYPE_CHECKING:
    from syncd.sandbox import Sandbox
    from syncd.sandbox.cogny.sandbox import CognySandbox


@dataclass(frozen=True)
class Kind:
    module: str
    cls: str
    connector: Callable[[Any], dict[str, Any]]  # the started sandbox -> connector settings for syncd.yaml


KINDS: dict[str, Kind] = {
    "jira": Kind("syncd.sandbox.jira.sandbox", "JiraSandbox", lambda sb: {
        "type": "jira", "url": sb.url, "email": "bot@example.com", "api_token": "jira-token",
        "project": "GROWTH", "search_lag_seconds": sb.search_lag}),  # the sandbox's own lag (0: none)
    "slack": Kind("syncd.sandbox.slack.sandbox", "SlackSandbox", lambda sb: {
        "type": "slack", "token": "xoxb-sandbox", "channel": "growth", "base_url": f"{sb.url}/api/"}),
    "linear": Kind("syncd.sandbox.linear.sandbox", "LinearSandbox", lambda sb: {
        "type": "linear", "api_key": "lin_api_sandbox", "team_key": "GROW", "api_url": f"{sb.url}/graphql"}),
    "asana": Kind("syncd.sandbox.asana.sandbox", "AsanaSandbox", lambda sb: {
        "type": "asana", "token": "asana-sandbox", "workspace_gid": sb.workspace_gid,
        "project_gid": sb.project_gid, "base_url": f"{sb.url}/api/1.0"}),
}
COGNY_KEY = "sk_test_sandbox"


def available() -> list[str]:
    """Target sandboxes this installation ships (a missing module is skipped, not fatal)."""
    names = []
    for name, kind in KINDS.items():
        try:
            importlib.import_module(kind.module)
        except ImportError:
            continue
        names.append(name)
    return names


def cogny(tickets: int = 25, seed: int = 0) -> CognySandbox:
    """A Cogny sandbox holding `tickets` generated tickets (deterministic for a `seed`)."""
    from syncd.sandbox._common.tickets import generate_tickets
    from syncd.sandbox.cogny.sandbox import CognySandbox

    return CognySandbox(generate_tickets(tickets, seed=seed))


def make(name: str, *, tickets: int = 25, seed: int = 0) -> Sandbox:
    """The sandbox called `name` (not started); `tickets` and `seed` are for Cogny's."""
    if name == "cogny":
        return cogny(tickets, seed)
    if name not in KINDS:
        raise ValueError(f"unknown sandbox {name!r} (choose from cogny, {', '.join(KINDS)})")
    kind = KINDS[name]
    sandbox: Sandbox = getattr(importlib.import_module(kind.module), kind.cls)()
    return sandbox


def serve(name: str, *, host: str, port: int, tickets: int, seed: int, console: Console) -> None:
    """Run one sandbox in the foreground until Ctrl-C."""
    sandbox = make(name, tickets=tickets, seed=seed)
    sandbox.start(host=host, port=port)
    console.print(f"{name} sandbox listening on {sandbox.url} (Ctrl-C to stop)")
    if name == "cogny":
        console.print(f"  API key: {COGNY_KEY}   try: curl -H 'Authorization: Bearer {COGNY_KEY}' "
                      f"{sandbox.url}/v1/tickets?limit=2")
    elif name in KINDS:
        console.print(f"  connector settings: {KINDS[name].connector(sandbox)}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
