"""The import rules that keep the tree the architecture diagram (docs/design.md, "Map").

Data flows downward: the CLI and the daemon use the engine; the engine uses the store, the SDK
and the HTTP policy; connectors see only the SDK and the HTTP policy; the sandboxes stand in for
the outside world and see none of syncd's insides. Every import counts, including the ones inside
functions, and no module may reach itself through others.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.support import ROOT

# Leaf modules (pure, importing only other leaves) that every layer may use; "syncd" is the package
# itself (`from syncd import __version__`), not everything under it.
LEAVES = ("syncd.errors", "syncd.models", "syncd.redact", "syncd.metrics", "syncd.terminal", "syncd.backoff",
          "syncd.signatures")
ALWAYS = (*LEAVES, "syncd")
# who may import what, by the importing module's prefix (the longest prefix that matches wins)
ALLOWED: dict[str, tuple[str, ...]] = {
    "connectors": ("syncd.sdk", "syncd.http"),  # plus its own package, checked below
    "syncd.sdk": ("syncd.sdk", "syncd.http", *ALWAYS),
    "syncd.http": ("syncd.http", "syncd.metrics", "syncd.backoff", "syncd"),
    "syncd.store": ("syncd.store", *ALWAYS),
    "syncd.engine": ("syncd.engine", "syncd.store", "syncd.sdk", "syncd.http", "syncd.cogny", "syncd.config",
                     *ALWAYS),
    "syncd.daemon": ("syncd.daemon", "syncd.console", "syncd.engine", "syncd.store", "syncd.sdk",
                     "syncd.http", "syncd.cogny", "syncd.config", "syncd.log", *ALWAYS),
    # the console reads: the store, the live config, routing's pure helpers; it writes only inbox retries
    "syncd.console": ("syncd.console", "syncd.store", "syncd.config", "syncd.engine.routing", *ALWAYS),
    "syncd.cli": ("syncd.cli", "syncd.daemon", "syncd.console", "syncd.engine", "syncd.store", "syncd.sdk",
                  "syncd.http", "syncd.cogny", "syncd.config", "syncd.log", "syncd.sandbox",
                  "syncd.__version__", *ALWAYS),
    "syncd.sandbox": ("syncd.sandbox", "syncd.http", *ALWAYS),
    "syncd.cogny": ("syncd.http", *ALWAYS),
    "syncd.config": ("syncd.sdk", *ALWAYS),
    "syncd.log": ALWAYS,
    "syncd.testing": ("syncd.sdk", "syncd.http", "syncd.cogny", *ALWAYS),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    files = [*(ROOT / "syncd").rglob("*.py"), *(ROOT / "connectors").rglob("*.py")]
    return {module_name(p): p for p in files if "migrations" not in p.parts}


def imports_of(name: str) -> set[str]:
    """Every syncd/connectors module `name` imports, at any depth of the file (functions too)."""
    known = modules()
    out: set[str] = set()
    for node in ast.walk(ast.parse(known[name].read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from pkg import module` names a module
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
    return {m for m in out if m.split(".")[0] in ("syncd", "connectors")}


def rule_for(name: str) -> tuple[str, tuple[str, ...]] | None:
    matches = [p for p in ALLOWED if name == p or name.startswith(p + ".")]
    return (max(matches, key=len), ALLOWED[max(matches, key=len)]) if matches else None


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `name` is one of `prefixes` or inside one; "syncd" names the package alone."""
    return any(name == p or (p != "syncd" and name.startswith(p + ".")) for p in prefixes)


def test_every_module_has_a_rule() -> None:
    orphans = [m for m in modules() if rule_for(m) is None and m not in (*LEAVES, "syncd", "syncd.__main__")]
    assert orphans == [], "add these modules to a layer in ALLOWED (and to docs/design.md's map)"


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_flow_downward(name: str) -> None:
    rule = rule_for(name)
    if name in LEAVES:
        allowed: tuple[str, ...] = LEAVES
    elif rule is None:
        return
    else:
        allowed = rule[1]
    own_package = ".".join(name.split(".")[:2])
    bad = sorted(m for m in imports_of(name) if not within(m, allowed) and not within(m, (own_package,))
                 and m != "syncd")
    assert bad == [], f"{name} ({rule[0] if rule else 'leaf'}) may not import {bad}"


def test_connectors_import_only_the_sdk_and_the_http_policy() -> None:
    for name in (m for m in modules() if m.startswith("connectors.")):
        own = ".".join(name.split(".")[:2])
        bad = {m for m in imports_of(name) if not within(m, ("syncd.sdk", "syncd.http", own))}
        assert not bad, f"{name} imports {sorted(bad)}"


def test_only_the_daemon_and_the_cli_import_the_console() -> None:
    users = {m for m in modules() if not m.startswith("syncd.console")
             and any(within(i, ("syncd.console",)) for i in imports_of(m))}
    assert users and all(within(m, ("syncd.daemon", "syncd.cli")) for m in users), sorted(users)


def test_no_import_cycles_anywhere() -> None:
    """Tarjan's strongly connected components over module imports (function-level ones included)."""
    graph = {m: {d for d in imports_of(m) if d in modules() and d != m} for m in modules()}
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out
