"""Mutation check: change one thing in an escaping, routing, hashing or notes-merge function and see
whether the fast tests that cover it notice. A mutant nobody notices is a hole in those tests.

    .venv/bin/python tests/mutation.py              # every target (a few minutes on 2 cores)
    .venv/bin/python tests/mutation.py notes jira   # only the targets whose name contains a word given
    .venv/bin/python tests/mutation.py --list       # the targets, their code and their tests

Nothing is written to the source tree (others may be running tests in it): each mutant runs in its
own `python` process, which imports syncd as usual, replaces the one function (or module constant)
by its mutated version, also wherever another module imported it by name, and then runs pytest on
the target's tests in that process. Exit 1 if a mutant survived that `EQUIVALENT` does not explain.

The mutations (one per mutant): a comparison flipped (`==`/`!=`, `<`/`<=`, `in`/`not in`,
`is`/`is not`), `and`/`or` swapped, a `not` dropped, an `if` or `while` condition negated, an
arithmetic operator changed, a number moved by one, a boolean flipped, a string emptied or one
character of a short string removed, a statement removed, `break`/`continue` swapped, a return
value replaced by its argument's neighbour (`None`).
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import json
import os
import select
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

ROOT = Path(__file__).resolve().parent.parent
PER_MUTANT_CEILING = 60  # seconds without an answer: the mutant hung the run (a loop that never ends), caught


@dataclass(frozen=True)
class Target:
    """Code to mutate (`module`, then `Class.method`, a function or a module constant) and its tests."""

    name: str
    module: str
    objects: tuple[str, ...]
    tests: tuple[str, ...]


ESCAPING_TESTS = ("tests/unit/test_escaping.py", "tests/unit/test_templates.py",
                  "tests/security/test_terminal.py")
TARGETS = (
    Target("jira-wiki", "connectors.jira.text",
           ("_WIKI_SPECIAL", "_WIKI_ESCAPES", "_WIKI_LINE_START", "escape_wiki", "wiki_link",
            "one_line_summary"), ESCAPING_TESTS),
    Target("linear-markdown", "connectors.linear.render", ("_MD_SPECIAL", "_ORDERED", "escape_markdown"),
           ESCAPING_TESTS),
    Target("slack-mrkdwn", "connectors.slack.render",
           ("_LOOKALIKES", "escape", "inert_mrkdwn", "clip", "button_url"), ESCAPING_TESTS),
    Target("terminal", "syncd.terminal", ("_UNSAFE", "_NAMED", "_escape", "printable", "cells"),
           ESCAPING_TESTS),
    Target("routing", "syncd.engine.routing", ("MATCH_KEYS", "matches", "route", "explain", "_value"),
           ("tests/unit/test_notes_routing.py",)),
    Target("hashing", "syncd.sdk.connector", ("digest", "Desired.hash", "Desired.item_hash"),
           ("tests/unit/test_hashing.py",)),
    Target("notes-merge", "syncd.engine.notes", ("line_for", "merge"), ("tests/unit/test_notes_routing.py",)),
)

# Mutants no test can tell from the original, each with the reason: "target object mutation" (the
# label without its line number, so an edit above does not invalidate the entry). tests/README.md.
_GUARD = "a fast-path guard only: matching more (everything) runs the exact escaping anyway"
_RE_TEMPLATE = ("in a re replacement template an unknown escape such as `\\.` is left alone, so one "
                "backslash less before the dot writes the same `\\.`")
_CLASS_BRACKET = "`[` needs no backslash inside a character class: the class is the same"
_NO_CHAR_THERE = ("no character between U+00A0 and U+2029 is unsafe, so the boundary of the \\x / \\u "
                  "choice can move anywhere in that gap")
_FOUR_DIGITS = "every unsafe character >= U+0100 (U+202A..U+2069) has four hex digits: no padding happens"
_SAFE_URL_CAP = "safe_url already refuses urls over 2,048 characters: the 3,000 limit cannot be reached"
EQUIVALENT: dict[str, str] = {
    "jira-wiki _WIKI_SPECIAL '[\\\\\\\\{}\\\\[\\\\]|*_+^~!?#-]'->''": _GUARD,
    "jira-wiki _WIKI_SPECIAL '[\\\\\\\\{}\\\\[\\\\]|*_+^~!?#-]' without [5] '\\\\'": _CLASS_BRACKET,
    "jira-wiki escape_wiki '.'->''": _GUARD,
    "jira-wiki escape_wiki '\\\\1\\\\2\\\\\\\\.' without [4] '\\\\'": _RE_TEMPLATE,
    "jira-wiki escape_wiki '\\\\1\\\\2\\\\\\\\.' without [5] '\\\\'": _RE_TEMPLATE,
    "linear-markdown _MD_SPECIAL '([\\\\\\\\`*_{}\\\\[\\\\]()<>#+\\\\-!|~&=@])'"
    " without [9] '\\\\'": _CLASS_BRACKET,
    "linear-markdown escape_markdown '\\\\1\\\\\\\\.' without [2] '\\\\'": _RE_TEMPLATE,
    "linear-markdown escape_markdown '\\\\1\\\\\\\\.' without [3] '\\\\'": _RE_TEMPLATE,
    "slack-mrkdwn button_url LtE->Lt": _SAFE_URL_CAP,
    "slack-mrkdwn button_url 3000->3001": _SAFE_URL_CAP,
    "slack-mrkdwn button_url 3000->2999": _SAFE_URL_CAP,
    "terminal _escape Lt->LtE": _NO_CHAR_THERE,
    "terminal _escape 256->257": _NO_CHAR_THERE,
    "terminal _escape 256->255": _NO_CHAR_THERE,
    "terminal _escape '04x' without [0] '0'": _FOUR_DIGITS,
    "terminal _escape '04x' without [1] '4'": _FOUR_DIGITS,
}


# -- making mutants ----------------------------------------------------------------------------------------

FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
        ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.Mod: ast.Add, ast.FloorDiv: ast.Mult}


def _paths(node: ast.AST) -> Iterator[tuple[ast.AST, str, int | None]]:
    """(parent, field, index) for every node under `node`, so a copy can be changed at the same place."""
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, child in enumerate(value):
                if isinstance(child, ast.AST):
                    yield node, field, i
                    yield from _paths(child)
        elif isinstance(value, ast.AST):
            yield node, field, None
            yield from _paths(value)


def _get(parent: ast.AST, field: str, index: int | None) -> ast.AST:
    value = getattr(parent, field)
    return value[index] if index is not None else value


def _replacements(node: ast.AST, field: str) -> Iterator[tuple[str, ast.AST | None]]:
    """(label, replacement) for one node; a None replacement removes the statement."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in FLIP:
                new = copy.deepcopy(node)
                new.ops[i] = FLIP[type(op)]()
                yield f"{type(op).__name__}->{FLIP[type(op)].__name__}", new
    elif isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "and<->or", new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop not", copy.deepcopy(node.operand)
    elif isinstance(node, ast.BinOp) and type(node.op) in ARITH:
        new = copy.deepcopy(node)
        new.op = ARITH[type(node.op)]()
        yield f"{type(node.op).__name__}->{type(new.op).__name__}", new
    elif isinstance(node, ast.Constant):
        yield from _constant(node)
    elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
        new = copy.deepcopy(node)
        new.test = ast.UnaryOp(ast.Not(), new.test)
        yield "negate condition", new
    elif isinstance(node, ast.Break):
        yield "break->continue", ast.Continue()
    elif isinstance(node, ast.Continue):
        yield "continue->break", ast.Break()
    elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None):
        yield "return None", ast.Return(ast.Constant(None))
    docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    if isinstance(node, ast.stmt) and field == "body" and not docstring \
            and not isinstance(node, (ast.Return, ast.FunctionDef)):
        yield "remove statement", None


def _constant(node: ast.Constant) -> Iterator[tuple[str, ast.AST]]:
    value = node.value
    if isinstance(value, bool):
        yield f"{value}->{not value}", ast.Constant(not value)
    elif isinstance(value, int):
        yield f"{value}->{value + 1}", ast.Constant(value + 1)
        yield f"{value}->{value - 1}", ast.Constant(value - 1)
    elif isinstance(value, str) and value:
        yield f"{value!r}->''", ast.Constant("")
        if 1 < len(value) <= 40:
            for i in range(len(value)):
                yield f"{value!r} without [{i}] {value[i]!r}", ast.Constant(value[:i] + value[i + 1:])


def _definition(tree: ast.Module, dotted: str) -> ast.stmt:
    """The top-level def/assign named `dotted`, or a method as `Class.method`."""
    head, _, method = dotted.partition(".")
    for node in tree.body:
        named = getattr(node, "name", None)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            named = node.targets[0].id
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            named = node.target.id
        if named == head:
            if not method:
                return node
            assert isinstance(node, ast.ClassDef)
            return next(n for n in node.body if getattr(n, "name", None) == method)
    raise LookupError(dotted)


def mutants(target: Target) -> Iterator[tuple[str, str, str]]:
    """(object, label, mutated source of that object) for every mutant of the target."""
    path = Path(importlib.import_module(target.module).__file__ or "")
    tree = ast.parse(path.read_text())
    for dotted in target.objects:
        original = _definition(tree, dotted)
        if isinstance(original, (ast.FunctionDef, ast.AsyncFunctionDef)):
            original.decorator_list = []
        plain = ast.unparse(original)
        places = list(_paths(original))
        for k, (parent, field, index) in enumerate(places):
            node = _get(parent, field, index)
            if isinstance(node, ast.Constant) and isinstance(parent, ast.Expr):
                continue  # a docstring
            for label, new in _replacements(node, field):
                mutated = copy.deepcopy(original)
                m_parent, m_field, m_index = list(_paths(mutated))[k]  # the same place in the copy
                if new is None:
                    getattr(m_parent, m_field)[m_index] = ast.Pass()
                elif m_index is None:
                    setattr(m_parent, m_field, new)
                else:
                    getattr(m_parent, m_field)[m_index] = new
                source = ast.unparse(ast.fix_missing_locations(mutated))
                if source != plain:
                    line = getattr(node, "lineno", 0)
                    yield dotted, f"line {line}: {label}", source


# -- running mutants ----------------------------------------------------------------------------------------

# A worker: imports syncd once, then for each mutant (one JSON line on stdin) swaps the object in,
# runs pytest in-process, swaps the original back and answers on its own copy of stdout.
WORKER = textwrap.dedent('''
    import importlib, json, os, sys, types
    answer = os.fdopen(int(sys.argv[1]), "w")  # a pipe of its own: pytest's output goes to /dev/null
    import pytest
    import syncd, connectors
    for name in ("connectors.jira", "connectors.linear", "connectors.slack", "connectors.asana",
                 "syncd.engine.reconcile", "syncd.cli", "syncd.testing"):
        importlib.import_module(name)

    def swap(module, head, method, new):
        """Put `new` in place of the object; returns a function that puts the original back."""
        if method:
            cls = getattr(module, head)
            old = cls.__dict__[method]
            setattr(cls, method, new)
            return lambda: setattr(cls, method, old)
        old = getattr(module, head)
        holders = [m for m in list(sys.modules.values())
                   if isinstance(m, types.ModuleType) and m.__dict__.get(head) is old]
        for m in holders:
            setattr(m, head, new)
        return lambda: [setattr(m, head, old) for m in holders]

    for line in sys.stdin:
        spec = json.loads(line)
        restore = None
        try:
            module = importlib.import_module(spec["module"])
            head, _, method = spec["object"].partition(".")
            namespace = dict(vars(module))
            if spec["source"] is not None:
                exec(compile(spec["source"], module.__file__, "exec"), namespace)
                restore = swap(module, head, method, namespace[method or head])
            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *spec["tests"]])
            caught = code != 0
        except Exception:
            caught = True  # the mutant does not even load
        finally:
            if restore is not None:
                restore()
        answer.write(json.dumps({"caught": caught}) + "\\n")
        answer.flush()
''')


class Worker:
    """One worker process; `ask` runs one mutant, restarting the worker if the mutant hangs it."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.answers: IO[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            read, write = os.pipe()
            self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(write)], cwd=ROOT,
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, text=True, pass_fds=(write,))
            os.close(write)
            self.answers = os.fdopen(read)
        return self.proc

    def ask(self, target: Target, dotted: str, source: str | None) -> bool:
        """True if the tests caught the mutant: they failed, it did not load, or it hung the run."""
        proc = self._start()
        assert proc.stdin is not None
        spec = {"module": target.module, "object": dotted, "source": source, "tests": target.tests}
        proc.stdin.write(json.dumps(spec) + "\n")
        proc.stdin.flush()
        ready, _, _ = select.select([self.answers], [], [], PER_MUTANT_CEILING)
        line = self.answers.readline() if ready else ""  # one whole line per answer
        if line:
            return bool(json.loads(line)["caught"])
        self.close()  # hung, or the worker died: caught either way; a fresh worker for the next one
        return True

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.answers is not None:
            self.answers.close()
        self.proc, self.answers = None, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("words", nargs="*", help="only targets whose name contains one of these")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    args = parser.parse_args()
    chosen = [t for t in TARGETS if not args.words or any(w in t.name for w in args.words)]
    if args.list:
        for t in chosen:
            print(f"{t.name}: {t.module} {', '.join(t.objects)}\n    tests: {' '.join(t.tests)}")
        return 0
    survivors: list[tuple[str, str]] = []
    explained: list[tuple[str, str]] = []
    total = 0
    workers = [Worker() for _ in range(max(1, args.jobs))]
    try:
        for target in chosen:
            if workers[0].ask(target, target.objects[0], None):
                print(f"{target.name}: its tests fail without any mutant; fix them first")
                return 2
            todo = list(mutants(target))
            chunks = [todo[i::len(workers)] for i in range(len(workers))]
            with ThreadPoolExecutor(len(workers)) as pool:
                results = list(pool.map(lambda wc: [wc[0].ask(target, d, src) for d, _, src in wc[1]],
                                        zip(workers, chunks)))
            caught = {id(m): ok for chunk, oks in zip(chunks, results) for m, ok in zip(chunk, oks)}
            total += len(todo)
            for mutant in todo:
                if caught[id(mutant)]:
                    continue
                dotted, label, source = mutant
                key = f"{target.name} {dotted} {label.split(': ', 1)[1]}"
                shown = f"{target.name} {dotted} {label}"
                if key in EQUIVALENT:
                    explained.append((key, source))
                else:
                    survivors.append((shown, source))
            print(f"{target.name}: {len(todo)} mutants, {sum(caught.values())} caught", flush=True)
    finally:
        for w in workers:
            w.close()
    for key, _ in explained:
        print(f"equivalent: {key} — {EQUIVALENT[key]}")
    for key, source in survivors:
        print(f"SURVIVED: {key}\n{textwrap.indent(source, '    ')}")
    print(f"{total} mutants, {len(survivors)} survived unexplained, {len(explained)} equivalent")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
