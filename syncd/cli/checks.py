"""`syncd check-config --connect`: read-only calls that prove each credential and target."""

from __future__ import annotations

from rich.console import Console

from syncd.cogny import CognyClient
from syncd.config import Config
from syncd.engine.app import policy_for
from syncd.errors import SyncdError
from syncd.redact import redact
from syncd.sdk.connector import Check, build_connectors


def cogny_checks(config: Config) -> list[Check]:
    policy = policy_for(config)
    try:
        with CognyClient.from_config(config.cogny, policy) as cogny:
            page = cogny.list_page(limit=1)
            return [Check("cogny credentials", True, f"{page.total_count or 0} ticket(s) visible")]
    except SyncdError as exc:
        return [Check("cogny credentials", False, str(exc), "check cogny.base_url and cogny.api_key")]


def collect_checks(config: Config) -> list[Check]:
    """Cogny's credentials, then every connector's own read-only checks."""
    checks = cogny_checks(config)
    for name, connector in build_connectors(config, policy_for(config)).items():
        try:
            checks += [Check(f"[{name}] {c.name}", c.ok, c.detail, c.fix) for c in connector.check()]
        except SyncdError as exc:
            checks.append(Check(f"[{name}] reachable", False, str(exc)))
        finally:
            connector.close()
    return checks


def run_checks(config: Config, console: Console) -> bool:
    """Print one `ok`/`FAIL` line per check; True when all passed."""
    checks = collect_checks(config)
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        line = f"{mark} {c.name}" + (f": {c.detail}" if c.detail else "")
        if not c.ok and c.fix:
            line += f" — fix: {c.fix}"
        console.print(redact(line), markup=False)
    return all(c.ok for c in checks)
