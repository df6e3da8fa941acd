"""What every `syncd` command shares: the exit codes, the two consoles, `-c/--config`, `--output`,
`load_config`, `open_store`, `fail`.

Kept apart from `app` so that the command-group modules (`links`, `events`, `db`, `routes`) can use
these without importing `app`, which imports them to register their groups: no import cycle.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer

from syncd import config as config_mod
from syncd.errors import ConfigError
from syncd.redact import redact
from syncd.terminal import Terminal

if TYPE_CHECKING:
    from syncd.store.database import Store

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
EXIT_LISTING = 3  # run-once: listing the tickets failed (Cogny refused the key, or could not be reached)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

# Rich sizes tables to the terminal, and to $COLUMNS or 80 columns when piped (cron logs, CI, grep);
# a script that wants every field whole reads `--output json`.
out = Terminal(highlight=False, soft_wrap=True)
err = Terminal(stderr=True, highlight=False, soft_wrap=True)
ConfigOpt = typer.Option(None, "-c", "--config", metavar="FILE",
                         help="Config file (default: $SYNCD_CONFIG, else ./syncd.yaml).")


class Output(str, Enum):
    """`--output` of the read commands: a table for people, or JSON for scripts (see README)."""

    table = "table"
    json = "json"


OutputOpt = typer.Option(Output.table, "--output", metavar="table|json",
                         help="table for people; json for scripts (one document, shape in the README).")


def print_json(document: Any) -> None:
    """One JSON document on stdout, keys in the documented order, times as ISO 8601 strings."""
    out.file.write(json.dumps(document, indent=2, ensure_ascii=False, default=_json_value) + "\n")
    out.file.flush()


def _json_value(value: Any) -> Any:
    from datetime import date

    return value.isoformat() if isinstance(value, date) else str(value)


def load_config(path: Optional[Path]) -> config_mod.Config:
    """Load the config or exit 2 with one line per problem."""
    try:
        return config_mod.load(path)
    except ConfigError as exc:
        where = f" ({exc.source})" if exc.source else ""
        err.print(f"syncd: invalid config{where}:", markup=False)
        for problem in exc.problems:
            err.print(f"  {redact(problem)}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


def open_store(url: str) -> Store:
    """The store at `url`, or exit 2 with one line naming `store.url` (unreachable, TLS refused,
    its directory missing or not writable): a start-up failure, not a ticket failing."""
    from syncd.cli.startup import startup_problem
    from syncd.errors import StoreError
    from syncd.store.database import Store

    try:
        return Store.open(url)
    except (StoreError, OSError) as exc:
        fail(startup_problem(exc, url) or f"store.url: {exc}", EXIT_CONFIG)


def syncd_command() -> str:
    """How to run syncd again, as this process was run: `syncd` when that is what the shell finds,
    else the path typed (`.venv/bin/syncd`), else `<python> -m syncd` — for the hints syncd prints."""
    import os
    import shlex
    import shutil
    import sys

    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name in ("syncd", "syncd.exe"):
        found = shutil.which("syncd")
        if found and Path(found).resolve() == Path(argv0).resolve():
            return "syncd"
        return shlex.quote(os.path.relpath(argv0) if os.path.isabs(argv0) and
                           not os.path.relpath(argv0).startswith("..") else argv0)
    return f"{shlex.quote(sys.executable)} -m syncd"


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `syncd: <message>` (secrets redacted) on stderr and exit with `code`: an expected failure
    is one line, never a traceback."""
    err.print(f"syncd: {redact(message)}", markup=False)
    raise typer.Exit(code)
