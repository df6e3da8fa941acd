"""README's command table and the CLI name the same commands and options (issue 20, point 8).

Every command the app has is a row of the table, every row is a command, and each row lists
exactly the command's options (all but `-c/--config` and `--help`, which the README states once).
Also the global options are hoisted from after the command, and help shows no type placeholders.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from syncd.cli.app import command
from syncd.cli.common import syncd_command
from syncd.cli.helptext import hoist_global_options
from tests.support import ROOT

SHARED = {"--config", "--help"}  # stated once under the table, not on every row


def readme_rows() -> dict[str, set[str]]:
    """`syncd <command path>` -> the options its row in README's command table names."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| command | what it does |", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in table.splitlines()[2:]:
        cell = line.split(" | ", 1)[0].lstrip("| ").strip("`")
        words = cell.split()
        assert words[0] == "syncd", line
        path = ["syncd"]
        for word in words[1:]:
            if not re.fullmatch(r"[a-z][a-z-]*", word):  # an argument, placeholder or option: path ends
                break
            path.append(word)
        name = " ".join(path)
        assert name not in rows, f"{name} has two rows"
        rows[name] = set(re.findall(r"--[a-z][a-z-]*", cell))
    return rows


def cli_commands() -> dict[str, set[str]]:
    """`syncd <command path>` -> its long options, for every command of the app."""
    found: dict[str, set[str]] = {}

    def walk(cmd: Any, path: list[str]) -> None:
        subcommands = getattr(cmd, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, [*path, name])
            return
        found[" ".join(path)] = {o for p in cmd.params for o in [*p.opts, *p.secondary_opts]
                                 if o.startswith("--")} - SHARED

    walk(command(), ["syncd"])
    return found


def test_readme_command_table_and_the_cli_agree() -> None:
    rows, cli = readme_rows(), cli_commands()
    assert sorted(rows) == sorted(cli)
    assert {name: sorted(opts) for name, opts in rows.items()} == \
        {name: sorted(opts) for name, opts in cli.items()}


def test_readme_names_init_and_forget_hook_secret_with_asana_handshake() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [row] = [ln for ln in text.splitlines() if ln.startswith("| `syncd db forget-hook-secret")]
    assert "Asana" in row and "JIRA" not in row
    assert any(ln.startswith("| `syncd init") for ln in text.splitlines())


def test_help_has_a_plain_placeholder_for_every_value() -> None:
    def walk(cmd: Any, path: str) -> None:
        for param in cmd.params:
            if param.param_type_name == "option" and not param.is_flag:
                assert param.metavar and "<" not in param.metavar, (path, param.name)
            if param.param_type_name == "argument":
                assert param.display_type_rich(None) is None, (path, param.name)
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, f"{path} {name}")

    walk(command(), "syncd")


def test_global_options_typed_after_the_command_move_before_it() -> None:
    names = {"status", "links", "run"}
    assert hoist_global_options(["status", "--log-level", "debug"], names) == \
        ["--log-level", "debug", "status"]
    typed = ["links", "list", "--log-level=warning", "--debug", "-c", "x.yaml"]
    assert hoist_global_options(typed, names) == \
        ["--log-level=warning", "--debug", "links", "list", "-c", "x.yaml"]
    assert hoist_global_options(["--log-json", "run", "--log-console", "--workers", "2"], names) == \
        ["--log-json", "--log-console", "run", "--workers", "2"]
    # nothing after `--` moves; without a command nothing moves
    assert hoist_global_options(["status", "--", "--debug"], names) == ["status", "--", "--debug"]
    assert hoist_global_options(["--version"], names) == ["--version"]


def test_hints_name_the_executable_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / ".venv" / "bin" / "syncd"
    script.parent.mkdir(parents=True)
    script.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setattr(shutil, "which", lambda name: None)  # not on PATH: the path that ran
    assert syncd_command() == ".venv/bin/syncd"
    monkeypatch.setattr(shutil, "which", lambda name: str(script))  # what the shell finds: its name
    assert syncd_command() == "syncd"
    monkeypatch.setattr(sys, "argv", ["/somewhere/syncd/__main__.py", "demo"])  # python -m syncd
    assert syncd_command() == f"{sys.executable} -m syncd"
