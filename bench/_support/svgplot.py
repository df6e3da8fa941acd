"""Small-multiple line charts as a standalone SVG, drawn by hand (no plotting dependency).

`panels(title, [(panel title, unit, {series name: [(x, y), ...]}), ...])` returns the SVG text:
one panel per figure, x = tickets, one line per series (colour by store, dashed for a baseline).
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

Series = dict[str, list[tuple[float, float]]]
COLOURS = {"sqlite": "#1f77b4", "postgresql": "#d62728"}
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 330, 220, 52, 12, 26, 34


def _nice(top: float) -> float:
    """A round axis top at or above `top` (1, 2, 2.5, 5 × 10^k)."""
    if top <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(top))
    return float(next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= top))


def _fmt(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def _panel(x0: float, y0: float, title: str, unit: str, series: Series) -> list[str]:
    pts = [p for line in series.values() for p in line]
    if not pts:
        return []
    xmax = _nice(max(p[0] for p in pts))
    ymax = _nice(max(p[1] for p in pts))
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def sx(x: float) -> float:
        return x0 + PAD_L + pw * x / xmax

    def sy(y: float) -> float:
        return y0 + PAD_T + ph * (1 - y / ymax)

    out = [f'<text x="{x0 + PAD_L}" y="{y0 + 16}" font-weight="bold">{escape(title)} ({escape(unit)})</text>']
    for i in range(6):
        yv, xv = ymax * i / 5, xmax * i / 5
        out.append(f'<line x1="{sx(0)}" x2="{sx(xmax)}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{sx(0) - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end">{_fmt(yv)}</text>')
        out.append(f'<text x="{sx(xv):.1f}" y="{sy(0) + 14}" text-anchor="middle">{_fmt(xv)}</text>')
    out.append(f'<text x="{sx(xmax / 2):.1f}" y="{sy(0) + 28}" text-anchor="middle">tickets</text>')
    for name, line in series.items():
        store, _, tree = name.partition(" ")
        colour = COLOURS.get(store, "#2ca02c")
        dash = ' stroke-dasharray="5,4"' if tree and tree != "(current)" else ""
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(line))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>' for x, y in line]
    return out


def panels(title: str, figures: Sequence[tuple[str, str, Series]], columns: int = 3) -> str:
    """The whole SVG: a title, a legend of every series, then the panels in rows of `columns`."""
    names = sorted({n for _, _, s in figures for n in s})
    rows = -(-len(figures) // columns)
    width, height = W * columns, 44 + H * rows
    body = [f'<text x="8" y="18" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, name in enumerate(names):
        store, _, tree = name.partition(" ")
        colour = COLOURS.get(store, "#2ca02c")
        dash = ' stroke-dasharray="5,4"' if tree and tree != "(current)" else ""
        x = 8 + i * 200
        body.append(f'<line x1="{x}" x2="{x + 24}" y1="34" y2="34" stroke="{colour}" '
                    f'stroke-width="2"{dash}/>')
        body.append(f'<text x="{x + 30}" y="38">{escape(name)}</text>')
    for i, (name, unit, series) in enumerate(figures):
        body += _panel(W * (i % columns), 44 + H * (i // columns), name, unit, series)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(body) + "\n</svg>\n")
