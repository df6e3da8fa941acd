"""A world: Cogny plus the named target sandboxes, and a syncd.yaml pointing at them."""

from __future__ import annotations

import importlib
import subprocess
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterable, Iterator

from syncd.cli.sandboxes import KINDS
from syncd.sandbox.cogny.sandbox import CognySandbox
from tests.support.config import ENV, write_config
from tests.support.process import run_cli

# quick retries, so that a storm of faults costs seconds, not minutes
FAST_RETRIES = {"concurrency": 4, "max_attempts": 5, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}


def sandbox_class(name: str) -> Any:
    """The sandbox class of a target by its connector type (`jira`, `slack`, `linear`, `asana`)."""
    kind = KINDS[name]
    return getattr(importlib.import_module(kind.module), kind.cls)


@contextmanager
def world(tmp_path: Path, tickets: list[dict[str, Any]], targets: Iterable[str], *,
          routes: list[dict[str, Any]] | None = None, extra: dict[str, Any] | None = None,
          sandbox_kw: dict[str, dict[str, Any]] | None = None,
          connector_kw: dict[str, dict[str, Any]] | None = None) -> Iterator[SimpleNamespace]:
    """Cogny holding `tickets` plus the named target sandboxes, and a syncd.yaml pointing at them.

    Yields `cfg`, `cogny`, `targets` (name -> sandbox), `tmp`, and each target by its name.
    """
    sandbox_kw, connector_kw = sandbox_kw or {}, connector_kw or {}
    with ExitStack() as stack:
        cogny = stack.enter_context(CognySandbox(tickets, **sandbox_kw.get("cogny", {})))
        sbs = {name: stack.enter_context(sandbox_class(name)(**sandbox_kw.get(name, {}))) for name in targets}
        connectors = {name: {**KINDS[name].connector(sb), **connector_kw.get(name, {})}
                      for name, sb in sbs.items()}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, connectors, routes=routes, extra=extra)
        yield SimpleNamespace(cfg=cfg, cogny=cogny, targets=sbs, tmp=tmp_path, **sbs)


def run_until_clean(cfg: Path, *args: str, attempts: int = 5, env: dict[str, str] | None = None,
                    timeout: float = 120) -> list[subprocess.CompletedProcess[str]]:
    """`syncd run-once` until it exits 0, at most `attempts` times."""
    runs = []
    for _ in range(attempts):
        result = run_cli("run-once", "-c", str(cfg), *args, env=env or ENV, timeout=timeout)
        runs.append(result)
        assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        if result.returncode == 0:
            break
    return runs
