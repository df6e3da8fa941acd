"""A fourth-party connector, registered through the `syncd.connectors` entry point, is loaded by its type."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox._common.tickets import generate_tickets
from tests.conftest import run_cli
from tests.helpers import ENV, write_config

PLUGIN = textwrap.dedent('''
    """A toy target: one JSON file per ticket in a folder."""
    import json
    from pathlib import Path
    from pydantic import BaseModel, ConfigDict
    from syncd.sdk.connector import Desired, ExternalRef

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        folder: str

    class NotebookConnector:
        type = "notebook"
        label = "Notebook"
        Settings = Settings

        def __init__(self, name, settings, *, policy=None):
            self.name, self.folder = name, Path(settings.folder)

        def render(self, ticket):
            return Desired({"title": ticket.title, "priority": ticket.priority},
                           {i.title: {"done": i.completed} for i in ticket.action_items})

        def _file(self, ticket_id):
            return self.folder / f"{ticket_id}.json"

        def find(self, ticket):
            path = self._file(ticket.id)
            return ExternalRef(ticket.id, ticket.id, path.as_uri()) if path.exists() else None

        def create(self, ticket, desired):
            self._file(ticket.id).write_text(json.dumps({"record": desired.record, "items": {}}))
            return ExternalRef(ticket.id, ticket.id, self._file(ticket.id).as_uri())

        def update(self, ref, ticket, desired, previous):
            data = json.loads(self._file(ref.id).read_text())
            data["record"] = desired.record
            self._file(ref.id).write_text(json.dumps(data))
            return ref

        def find_items(self, ref):
            data = json.loads(self._file(ref.id).read_text())
            return {k: ExternalRef(f"{ref.id}/{k}") for k in data["items"]}

        def create_items(self, ref, ticket, items):
            data = json.loads(self._file(ref.id).read_text())
            data["items"].update(items)
            self._file(ref.id).write_text(json.dumps(data))
            return {k: ExternalRef(f"{ref.id}/{k}") for k in items}

        def update_item(self, ref, item_ref, item, previous):
            data = json.loads(self._file(ref.id).read_text())
            data["items"][item_ref.id.split("/", 1)[1]] = item
            self._file(ref.id).write_text(json.dumps(data))

        def check(self):
            return []

        def close(self):
            pass
''')


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "syncd_notebook").mkdir(parents=True)
    (site / "syncd_notebook" / "__init__.py").write_text(PLUGIN)
    dist = site / "syncd_notebook-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: syncd-notebook\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[syncd.connectors]\nnotebook = syncd_notebook:NotebookConnector\n")
    return site


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox(generate_tickets(5, seed=2)) as sb:
        yield sb


def test_plugin_connector_is_loaded_by_type_and_synced(tmp_path: Path, plugin_path: Path, cogny: CognySandbox) -> None:
    folder = tmp_path / "notebook"
    folder.mkdir()
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"book": {"type": "notebook", "folder": str(folder)}})
    env = {**ENV, "PYTHONPATH": str(plugin_path)}
    result = run_cli("run-once", "-c", str(cfg), env=env)
    assert result.returncode == 0, result.stderr
    files = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert set(files) == set(cogny.tickets)
    for tid, data in files.items():
        assert data["record"]["title"] == cogny.tickets[tid]["title"]
        assert set(data["items"]) == {a["title"] for a in cogny.tickets[tid]["action_items"]}
        assert f"Synced to Notebook: {tid} file://" in cogny.tickets[tid]["notes"]


def test_plugin_settings_are_validated_with_exact_paths(tmp_path: Path, plugin_path: Path, cogny: CognySandbox) -> None:
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"book": {"type": "notebook", "shelf": 3}})
    result = run_cli("check-config", "-c", str(cfg), env={**ENV, "PYTHONPATH": str(plugin_path)})
    assert result.returncode == 2
    assert "connectors.book.folder: field required" in result.stderr
    assert "connectors.book.shelf: unknown key" in result.stderr
    without = run_cli("check-config", "-c", str(cfg), env=ENV)
    assert without.returncode == 2 and "unknown connector type 'notebook'" in without.stderr
