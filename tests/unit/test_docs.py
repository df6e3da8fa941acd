"""The README's reference and config.example.yaml cannot drift from the config models, and every key
of the README's config tables is exercised by an end-to-end test (the real CLI as a subprocess)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Iterator

from pydantic import BaseModel

from syncd.config import Config
from syncd.sdk.connector import available_types
from tests.support import ROOT
from tests.support.readme import config_table_keys, config_table_rows

INTERNAL = {"connector_settings", "source"}


def keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every key a user can set in `model`."""
    for name, field in model.model_fields.items():
        if name in INTERNAL or field.exclude is True:  # excluded: filled by syncd (from the env), never set
            continue
        path = f"{prefix}{name}"
        subs = list(_models(field.annotation))
        if not subs:
            yield path  # leaves only: a section is documented through its keys
        for sub in subs:
            yield from keys(sub, path + ".")


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _models(arg)


def all_keys() -> list[str]:
    from syncd.config import ConnectorEntry

    out = [k for k in keys(Config) if not k.startswith("connectors.")]
    out += [f"connectors.NAME.{k}" for k in keys(ConnectorEntry)]
    for type_name, ep in sorted(available_types().items()):
        out += [f"connectors.{type_name}.{k}" for k in keys(ep.load().Settings)]
    return out


# Keys every connector takes (syncd.sdk.MappingSettings, and `category_map`/`fields` where a type has
# them) are documented once, in this section, for all types; a type's own table may repeat them.
SHARED_SECTION = "### Templates and mappings (every connector)"
SHARED = {"template", "effort_map", "assignee_map", "category_map", "fields"}


def shared_section() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SHARED_SECTION):]
    return section[:section.index("\n## ")]


def documented(key: str) -> bool:
    """A key is documented by its full dotted path in a config table's key column; a sub-key also by
    its parent there with the sub-key's name in that row's meaning; a shared connector key by the
    shared section."""
    rows = config_table_rows()
    if any(key in keys or key in named for keys, named, _ in rows):
        return True
    parent, _, leaf = key.rpartition(".")
    if any(parent in keys and re.search(rf"`[^`]*\b{leaf}\b[^`]*`", meaning) for keys, _, meaning in rows):
        return True
    head, _, rest = key.partition(".")
    _, _, name = rest.partition(".")
    return head == "connectors" and name in SHARED and f"`{name}`" in shared_section()


def test_every_config_key_is_in_the_readme_reference() -> None:
    missing = [k for k in all_keys() if not documented(k)]
    assert not missing, f"README.md does not document (by the full dotted path): {missing}"


def test_every_readme_table_key_is_a_config_key() -> None:
    model = set(all_keys())
    unknown = [k for k in config_table_keys()
               if k not in model and not any(m.startswith(k + ".") for m in model)]
    assert not unknown, f"README.md documents keys syncd does not have: {unknown}"


# -- every README config key is exercised through the real CLI -----------------------------------------

MARKER = "config_keys"  # @pytest.mark.config_keys("cogny.page_size", ...) on a test that runs the CLI
# Where such tests live: every test of tests/e2e runs the real CLI or daemon as a subprocess; a file of
# tests/security counts when it starts them too (the `Daemon` of tests/support, or `run_cli`).
CLI_RUNNERS = ("Daemon(", "run_cli(", "run_once(")


def cli_test_files() -> list[Path]:
    files = sorted((ROOT / "tests" / "e2e").glob("test_*.py"))
    files += [p for p in sorted((ROOT / "tests" / "security").glob("test_*.py"))
              if any(runner in p.read_text() for runner in CLI_RUNNERS)]
    return files


def e2e_config_keys() -> dict[str, list[str]]:
    """Dotted key -> the tests declaring they exercise it through the CLI (read from the source)."""
    found: dict[str, list[str]] = {}
    for path in cli_test_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not _is_marker(node.func):
                continue
            for arg in node.args:
                assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), \
                    f"{path.name}:{node.lineno}: {MARKER} takes literal dotted keys"
                found.setdefault(arg.value, []).append(f"{path.name}:{node.lineno}")
    return found


def _is_marker(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and func.attr == MARKER


def test_every_readme_config_key_is_exercised_by_an_end_to_end_test() -> None:
    exercised = e2e_config_keys()
    missing = [k for k in config_table_keys() if k not in exercised]
    assert not missing, f"no test running the CLI declares @pytest.mark.{MARKER} for: {missing}"


def test_config_key_markers_name_keys_the_readme_documents() -> None:
    table = set(config_table_keys())
    wrong = {k: where for k, where in e2e_config_keys().items() if k not in table}
    assert not wrong, f"@pytest.mark.{MARKER} names keys that are not in the README's tables: {wrong}"


def test_every_config_key_is_in_config_example() -> None:
    example = (ROOT / "config.example.yaml").read_text()
    present = set(re.findall(r"^\s*-?\s*([a-z_]+):", example,
                             flags=re.M)) | set(re.findall(r"[{,]\s*([a-z_]+):", example))
    missing = [k for k in all_keys() if k.rsplit(".", 1)[-1] not in present]
    assert not missing, f"config.example.yaml does not show: {missing}"
