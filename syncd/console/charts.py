"""Charts drawn on the server as inline SVG: no JavaScript, no library, nothing fetched.

Each chart is a function of a few numbers; every piece of text in it is escaped, and colours are
presentation attributes (not `style=`), so the console's Content-Security-Policy needs no exception.
"""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

W, H, PAD = 560, 140, 40  # drawing size and the room kept for the axis labels

Series = tuple[str, Sequence[float], str]  # (name, values, colour)


def stacked_bars(title: str, series: Sequence[Series], labels: Sequence[str] = ()) -> Markup:
    """One bar per position, the series stacked (e.g. reconciled and failed per run)."""
    n = max((len(v) for _, v, _ in series), default=0)
    totals = [sum(v[i] for _, v, _ in series if i < len(v)) for i in range(n)]
    top = max(totals, default=0) or 1
    step = (W - PAD - 4) / max(n, 1)
    parts = []
    for i in range(n):
        y: float = H - PAD
        for name, values, colour in series:
            value = values[i] if i < len(values) else 0
            h = (H - 2 * PAD) * value / top
            if h > 0:
                tip = f"{labels[i] if i < len(labels) else i + 1}: {name} {value:g}"
                parts.append(f'<rect x="{PAD + i * step + 1:.1f}" y="{y - h:.1f}" '
                             f'width="{max(step - 2, 1):.1f}" height="{h:.1f}" fill="{escape(colour)}">'
                             f'<title>{escape(tip)}</title></rect>')
                y -= h
    return _frame(title, top, parts, series)


def line(title: str, values: Sequence[float], colour: str = "#4c6ef5", unit: str = "") -> Markup:
    """A line over the values, oldest on the left (e.g. run duration)."""
    top = max(values, default=0) or 1
    n = len(values)
    step = (W - PAD - 4) / max(n - 1, 1)
    xy = [(PAD + i * step, H - PAD - (H - 2 * PAD) * v / top) for i, v in enumerate(values)]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    stroke = f'fill="none" stroke="{escape(colour)}" stroke-width="2"'
    parts = [f'<polyline points="{points}" {stroke}/>'] if n else []
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{escape(colour)}">'
              f'<title>{v:g}{escape(unit)}</title></circle>' for (x, y), v in zip(xy, values)]
    return _frame(title, top, parts, [(title, values, colour)], unit=unit)


def _frame(title: str, top: float, parts: list[str], legend: Sequence[Series], unit: str = "") -> Markup:
    keys = "".join(f'<rect x="{PAD + i * 120}" y="4" width="10" height="10" fill="{escape(c)}"/>'
                   f'<text x="{PAD + i * 120 + 14}" y="13">{escape(name)}</text>'
                   for i, (name, _, c) in enumerate(legend))
    axis = (f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 4}" y2="{H - PAD}" stroke="#adb5bd"/>'
            f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#adb5bd"/>'
            f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{top:g}{escape(unit)}</text>'
            f'<text x="{PAD - 4}" y="{H - PAD}" text-anchor="end">0</text>')
    empty = "" if parts else (f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#868e96">'
                              'no data yet</text>')
    return Markup(f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
                  f'xmlns="http://www.w3.org/2000/svg" font-size="10" font-family="sans-serif">'
                  f'<title>{escape(title)}</title>{keys}{axis}{"".join(parts)}{empty}</svg>')
