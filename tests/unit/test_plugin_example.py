"""The README's plugin example works as printed: the plugin is found through its entry point, its
config snippet validates, it is a `Connector`, and the README's own tests of it pass."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from pathlib import Path
from typing import Iterator

import pytest

from syncd import config
from syncd.sdk import Connector
from syncd.sdk.connector import connector_class
from tests.support.readme import PluginExample, install, plugin_example

EXAMPLE = plugin_example()


def readme_tests(example: PluginExample) -> list[str]:
    """The test functions of the README's test block."""
    tree = ast.parse(example.files[f"{example.test_module}.py"])
    return [node.name for node in tree.body if isinstance(node,
                                                          ast.FunctionDef) and node.name.startswith("test_")]


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginExample]:
    """The plugin importable and its entry point registered, for this test only."""
    monkeypatch.syspath_prepend(str(install(EXAMPLE, tmp_path / "site")))
    yield EXAMPLE
    for name in (EXAMPLE.plugin_module, EXAMPLE.test_module):
        sys.modules.pop(name, None)  # the next test imports its own copy


def test_the_readme_shows_a_plugin_its_entry_point_and_tests() -> None:
    assert EXAMPLE.entry_points == {"notebook": f"{EXAMPLE.plugin_module}:NotebookConnector"}
    assert f"{EXAMPLE.plugin_module}.py" in EXAMPLE.files
    assert len(readme_tests(EXAMPLE)) >= 3


def test_the_plugin_is_a_connector_found_through_its_entry_point(installed: PluginExample,
                                                                 tmp_path: Path) -> None:
    cls = connector_class("notebook")
    assert cls.__module__ == installed.plugin_module and cls.type == "notebook"
    connector = cls("book", cls.Settings(folder=tmp_path / "notes"))
    assert isinstance(connector, Connector)
    for name, method in inspect.getmembers(Connector, inspect.isfunction):  # same parameters as the protocol
        if not name.startswith("_"):
            assert list(inspect.signature(getattr(cls, name)).parameters) == \
                list(inspect.signature(method).parameters), name
    [check] = connector.check()
    assert not check.ok and "mkdir" in check.fix  # the folder does not exist yet


def test_the_config_snippet_validates_with_the_plugins_settings(installed: PluginExample) -> None:
    cfg = config.parse("cogny: {api_key: k-1234}\n" + installed.config, env={})
    assert cfg.connectors["book"].type == "notebook"
    assert str(cfg.connector_settings["book"].folder) == "/var/lib/syncd/notebook"


@pytest.mark.parametrize("name", readme_tests(EXAMPLE))
def test_the_readmes_test_passes(installed: PluginExample, tmp_path: Path, name: str) -> None:
    module = importlib.import_module(installed.test_module)
    (tmp_path / "run").mkdir()
    getattr(module, name)(tmp_path / "run")
