"""The test tree keeps its shape: tests sorted by kind, helpers in tests/support, no test importing another.

(tests/conftest.py says what each kind is.)
"""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

TESTS = ROOT / "tests"
KINDS = {"unit", "integration", "sandbox", "e2e", "security", "deploy", "browser"}


def modules_of_tests() -> list[Path]:
    return sorted(TESTS.rglob("test_*.py"))


def test_every_test_sits_in_a_kind_folder_that_is_a_package() -> None:
    folders = {p.parent.relative_to(TESTS).as_posix() for p in modules_of_tests()}
    assert folders <= KINDS, f"tests outside the kind folders: {sorted(folders - KINDS)}"
    for folder in [*KINDS, "support"]:
        assert (TESTS / folder / "__init__.py").exists(), folder  # tests import `tests.support...`


def test_no_test_module_imports_another() -> None:
    """What tests share lives in tests/support (helpers) or a conftest.py (fixtures)."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):  # support modules and conftests too
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n.startswith("tests.") and n.split(".")[-1].startswith(("test_", "conftest"))]
    assert offenders == []


def test_unit_tests_can_neither_reach_the_network_nor_start_a_process() -> None:
    with pytest.raises(AssertionError, match="network connection"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(AssertionError, match="listen on a socket"):
        socket.socket().bind(("127.0.0.1", 0))
    with pytest.raises(AssertionError, match="start a process"):
        subprocess.run([sys.executable, "-c", "pass"])
