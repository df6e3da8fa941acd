"""What every `syncd` command shares: the exit codes, the two consoles, `-c/--config`, `load_config`, `fail`.

Kept apart from `app` so that the command-group modules (`links`, `events`, `db`, `routes`) can use
these without importing `app`, which imports them to register their groups: no import cycle.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer

from syncd import config as config_mod
from syncd.errors import ConfigError
from syncd.redact import redact
from syncd.terminal import Terminal

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

# Piped output (cron logs, CI, grep) gets wide tables instead of wrapped cells.
out = Terminal(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Terminal(stderr=True, highlight=False, soft_wrap=True)
ConfigOpt = typer.Option(None, "-c", "--config",
                         help="Config file (default: $SYNCD_CONFIG, else ./syncd.yaml).")


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


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `syncd: <message>` (secrets redacted) on stderr and exit with `code`: an expected failure
    is one line, never a traceback."""
    err.print(f"syncd: {redact(message)}", markup=False)
    raise typer.Exit(code)
