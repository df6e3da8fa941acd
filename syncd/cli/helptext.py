"""The command line as people type it and read it: global options anywhere, and help without
Typer's type placeholders.

- `syncd status --log-level debug` works like `syncd --log-level debug status`: the global
  options (`--log-level`, `--log-json/--log-console`, `--debug`) are moved before the command
  wherever they are typed (`hoist_global_options`), so the README's "global options" are global.
- `--help` shows `--limit N`, never `<int range>` or `<list[str]>`: every option gets a metavar
  (its own, else its name in capitals) and arguments are shown by name alone (`finish_help`).
"""

from __future__ import annotations

from typing import Any

# Global options (of `main_options`) -> whether each takes a value.
GLOBAL_OPTIONS = {"--log-level": True, "--log-json": False, "--log-console": False, "--debug": False}


def hoist_global_options(argv: list[str], commands: set[str]) -> list[str]:
    """`argv` with the global options typed after the command moved before it (nothing else moves).

    `commands` are the top-level command and group names; scanning stops at `--`.
    """
    first = next((i for i, a in enumerate(argv) if a in commands), None)
    if first is None:
        return list(argv)
    head, rest, moved = list(argv[:first]), [], []
    i = first
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if name in GLOBAL_OPTIONS and i > first:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            moved.extend(argv[i:i + 2] if takes_value else [arg])
            i += 2 if takes_value else 1
            continue
        rest.append(arg)
        i += 1
    return head + moved + rest


def finish_help(command: Any) -> Any:
    """Give every parameter of `command` and its subcommands a plain placeholder; returns it.

    Typed loosely: Typer builds its commands on its own copy of click (`typer._click`).
    """
    for param in command.params:
        kind = getattr(param, "param_type_name", "")
        if kind == "option" and not param.is_flag and param.metavar is None:
            param.metavar = (param.name or "value").upper()
        elif kind == "argument":
            # Typer appends the type (`<str>`, `<list[int]>`) to an argument's name in its help
            # record even when a metavar is set; the name (or metavar) alone says enough.
            setattr(param, "display_type_rich", _no_type)
    for sub in getattr(command, "commands", {}).values():
        finish_help(sub)
    return command


def _no_type(*_: Any, **__: Any) -> None:
    return None
