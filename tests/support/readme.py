"""The README's connector plugin example ("Writing a connector plugin"), as files a test can use.

The section holds the plugin module and its test as Python blocks (each opens with a comment
naming its file), the entry point as a TOML block and a config snippet as a YAML block. Tests run
exactly that text, so the README cannot drift from what works.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT

SECTION = "## Writing a connector plugin"
GROUP = "syncd.connectors"


@dataclass(frozen=True)
class PluginExample:
    files: dict[str, str]  # file name (from the block's first line) -> Python source
    entry_points: dict[str, str]  # connector type -> "module:Class"
    config: str  # the YAML snippet

    @property
    def plugin_module(self) -> str:
        """The plugin's module name: the entry point's module."""
        (target,) = set(self.entry_points.values())
        return target.split(":")[0]

    @property
    def test_module(self) -> str:
        (name,) = [n for n in self.files if n.startswith("test_")]
        return name.removesuffix(".py")


def plugin_example(readme: Path = ROOT / "README.md") -> PluginExample:
    """The blocks of the README's plugin section."""
    text = readme.read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ")]
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", section, flags=re.M | re.S)
    files = {}
    for code in (code for lang, code in blocks if lang == "python"):
        named = re.match(r"# (\w+\.py)\n", code)
        assert named, f"a Python block of {SECTION!r} must open with a comment naming its file"
        files[named.group(1)] = code
    (toml,) = [code for lang, code in blocks if lang == "toml"]
    (yaml,) = [code for lang, code in blocks if lang == "yaml"]
    return PluginExample(files, tomllib.loads(toml)["project"]["entry-points"][GROUP], yaml)


def install(example: PluginExample, site: Path) -> Path:
    """`site` as an installed copy of the plugin: its files and a dist-info with its entry points."""
    site.mkdir(parents=True, exist_ok=True)
    for name, code in example.files.items():
        (site / name).write_text(code)
    dist = site / "syncd_example_plugin-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: syncd-example-plugin\nVersion: 0.1\n")
    lines = [f"{name} = {target}" for name, target in example.entry_points.items()]
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n" + "\n".join(lines) + "\n")
    return site


# -- the README's config tables ("## Configuration" and one table per connector type) --------------------

CONNECTOR_HEADING = re.compile(r"^### \w+ \(`type: (\w+)`\)$")
TABLE_HEADER = "| key | default | meaning |"


def config_table_rows(readme: Path = ROOT / "README.md") -> list[tuple[list[str], list[str], str]]:
    """Each config table row as (the full dotted keys its key cell names, the key-like names in its
    meaning cell, qualified the same way, and the meaning cell's text).

    A key cell's `.name` continues the previous key (`webhook.host` / `.port` is `webhook.port`); a
    connector type's table is under `connectors.<type>.`; `routes[].match` is `routes.match`.
    """
    rows: list[tuple[list[str], list[str], str]] = []
    prefix, in_table = None, False
    for line in readme.read_text().splitlines():
        heading = CONNECTOR_HEADING.match(line)
        if heading:
            prefix = f"connectors.{heading.group(1)}."
        elif line.startswith("## "):
            prefix = "" if line == "## Configuration" else None
        if line == TABLE_HEADER:
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
        if not in_table or prefix is None or line.startswith("| ---"):
            continue
        key_cell, _, rest = line[1:].partition(" | ")
        meaning = rest.rsplit(" | ", 1)[-1]
        rows.append((_qualified(prefix, re.findall(r"`([^`]+)`", key_cell)),
                     _qualified(prefix, [s for s in re.findall(r"`([^`]+)`", meaning)
                                         if re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", s)]), meaning))
    return rows


def _qualified(prefix: str, spans: list[str]) -> list[str]:
    keys: list[str] = []
    for span in spans:
        if span.startswith(".") and keys:
            key = keys[-1].rsplit(".", 1)[0] + span
        else:
            key = prefix + span
        keys.append(key.replace("[]", ""))
    return keys


def config_table_keys(readme: Path = ROOT / "README.md") -> list[str]:
    """Every full dotted key the README's config tables name in their key column, in README order."""
    return [key for keys, _, _ in config_table_rows(readme) for key in keys]
