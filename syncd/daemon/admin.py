"""The admin listener's rules and the daemon's start-up line: pure functions of the config.

Who may use the admin endpoints (`admin.auth`, or the deprecated `webhook.admin_token` for the two
POSTs), what the operator is warned about at start-up, and every endpoint the start-up line lists.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from syncd.config import Config
from syncd.console import Credentials
from syncd.console.access import allowed
from syncd.store.database import _safe_url

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def credentials(config: Config) -> Credentials | None:
    """admin.auth's credentials (the whole admin listener asks for them), or None."""
    auth = config.admin.auth
    if auth is not None and auth.secret is not None:
        return Credentials(auth.type, auth.secret.get_secret_value(), auth.username)
    return None


def admin_auth(config: Config, request: Request) -> bool | None:
    """For /-/reload and /-/webhooks/NAME: None when no credentials are configured, else whether given.

    admin.auth, or else the deprecated webhook.admin_token as a bearer token (it guards only these).
    """
    creds = credentials(config)
    token = config.webhook.admin_token
    if creds is None and token is not None:
        creds = Credentials("bearer", token.get_secret_value())
    return None if creds is None else allowed(request, creds)


def startup_warnings(config: Config) -> list[str]:
    """What an operator should know at start-up: nothing here stops the daemon."""
    out = list(config.warnings)
    if not config.webhook.all_secrets():
        out.append("the Cogny webhook receiver is off (set webhook.secret); changes arrive at the next poll")
    if config.webhook.admin_token is not None and config.admin.auth is None:
        out.append("webhook.admin_token is deprecated: set admin.auth (which guards the console and "
                   "/metrics too)")
    if config.admin.host not in LOOPBACK and credentials(config) is None:
        out.append(f"the console listens on {config.admin.host} without admin.auth: anyone who reaches "
                   f"port {config.admin.port} can read it")
    return out


def running_fields(config: Config, connectors: list[str], port: int, admin_port: int,
                   next_poll: str | None, workers: int) -> dict[str, Any]:
    """The start-up line's fields: schedule and next poll, every endpoint, workers, warnings."""
    w, a, s = config.webhook, config.admin, config.schedule
    public, console = f"http://{w.host}:{port}", f"http://{a.host}:{admin_port}"
    hooks = {"cogny": f"{public}{w.path}" if w.all_secrets() else "off (no webhook.secret)"}
    hooks.update({name: f"{public}/webhooks/{name}" for name, entry in config.connectors.items()
                  if entry.webhook_secret or entry.sync_back})
    return {"connectors": connectors, "store": _safe_url(config.store.url),
            "schedule": f"cron {s.cron}" if s.cron else f"every {s.interval_seconds}s",
            "next_poll": next_poll, "webhooks": hooks, "probes": [f"{public}/healthz", f"{public}/readyz"],
            "console": f"{console}/", "metrics": f"{console}/metrics", "reload": f"{console}/-/reload",
            "workers": workers, "warnings": startup_warnings(config)}
