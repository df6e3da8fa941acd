"""The README's plugin, installed as a distribution, is loaded by its type through the `syncd.connectors`
entry point and synced by the real CLI (tests/unit/test_plugin_example.py runs the README's own tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from tests.support.config import ENV, write_config
from tests.support.process import run_cli
from tests.support.readme import install, plugin_example

pytestmark = pytest.mark.e2e


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    return install(plugin_example(), tmp_path / "site")


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox(generate_tickets(5, seed=2)) as sb:
        yield sb


def test_plugin_connector_is_loaded_by_type_and_synced(tmp_path: Path, plugin_path: Path,
                                                       cogny: CognySandbox) -> None:
    folder = tmp_path / "notebook"
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url,
                       {"book": {"type": "notebook", "folder": str(folder)}})
    env = {**ENV, "PYTHONPATH": str(plugin_path)}
    result = run_cli("run-once", "-c", str(cfg), env=env)
    assert result.returncode == 0, result.stderr
    files = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert set(files) == set(cogny.tickets)
    for tid, data in files.items():
        assert data["record"]["title"] == cogny.tickets[tid]["title"]
        assert set(data["items"]) == {a["title"] for a in cogny.tickets[tid]["action_items"]}
        assert f"Synced to Notebook: {tid} file://" in cogny.tickets[tid]["notes"]
    cogny.log.clear()
    again = run_cli("run-once", "-c", str(cfg), env=env)
    assert again.returncode == 0 and cogny.log.writes() == [], again.stderr  # settled: no notes PATCH


def test_plugin_settings_are_validated_with_exact_paths(tmp_path: Path, plugin_path: Path,
                                                        cogny: CognySandbox) -> None:
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"book": {"type": "notebook", "shelf": 3}})
    result = run_cli("check-config", "-c", str(cfg), env={**ENV, "PYTHONPATH": str(plugin_path)})
    assert result.returncode == 2
    assert "connectors.book.folder: field required" in result.stderr
    assert "connectors.book.shelf: unknown key" in result.stderr
    without = run_cli("check-config", "-c", str(cfg), env=ENV)
    assert without.returncode == 2 and "unknown connector type 'notebook'" in without.stderr
