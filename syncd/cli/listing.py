"""What the read commands share: checking a filter against its valid values, counting what a
listing holds, and printing it — summary first, a table or "no <things>", or one JSON document.

A listing says how much there is before it shows any of it ("5,670 link(s): 5,600 synced, 70
creating"), and when it shows less than all of it, says so and how to see more ("showing 200 of
5,670 (--limit N or --all)"), so a table cut at its limit is never mistaken for everything.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from rich import box
from rich.table import Column, Table

from syncd.cli.common import EXIT_CONFIG, Output, fail, out, print_json
from syncd.terminal import cells


def check_choice(option: str, value: str | None, valid: Iterable[str], what: str) -> None:
    """Exit 2 naming the valid values when `value` is given and is not one of them (a typo)."""
    choices = sorted(dict.fromkeys(valid))
    if value is not None and value not in choices:
        fail(f"{option}: unknown {what} {value!r} (valid: {', '.join(choices) or 'none'})", EXIT_CONFIG)


def count_by(engine: sa.Engine, table: sa.Table, column: str, where: Sequence[Any] = ()) -> dict[str, int]:
    """Rows of `table` matching `where`, counted by the value of `column` (e.g. links by state)."""
    col = table.c[column]
    query = sa.select(col, sa.func.count()).where(*where).group_by(col)
    with engine.connect() as conn:
        return {str(value): int(n) for value, n in conn.execute(query).all()}


def summary(noun: str, counts: dict[str, int]) -> str:
    """`5,670 link(s): 5,600 synced, 70 creating` — the total, then each part, largest first."""
    total = sum(counts.values())
    parts = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{total:,} {noun}(s)" + (f": {parts}" if parts else "")


def show(*, noun: str, counts: dict[str, int], columns: Sequence[str], rows: list[list[object]],
         output: Output, document: dict[str, Any], whole: Sequence[str] = (),
         share: dict[str, int] | None = None) -> None:
    """Print a listing: the JSON `document` (plus `total` and `shown`), or the summary, how much is
    shown, and the table; "no <noun>s" instead of an empty table.

    The `whole` columns (ids, names) are never wrapped or cut, so that `grep tkt_…` finds a row in
    80 columns too; the others wrap to make room, sharing what is left in the proportions of
    `share` (column -> weight; the table then fills the width).
    """
    total = sum(counts.values())
    if output is Output.json:
        print_json({"total": total, "shown": len(rows), **document})
        return
    if not total:
        out.print(f"no {noun}s", markup=False)
        return
    out.print(summary(noun, counts), markup=False)
    if len(rows) < total:
        out.print(f"showing {len(rows):,} of {total:,} (--limit N or --all for more)", markup=False)
    share = share or {}
    table = Table(*(Column(name, no_wrap=name in whole, overflow="fold", ratio=share.get(name))
                    for name in columns),
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True,
                  expand=bool(share))
    for row in rows:
        table.add_row(*cells(*row))
    out.print(table)
