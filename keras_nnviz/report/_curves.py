"""Training curves as inline SVG: one chart per metric (training and validation lines).

SVG written here rather than a matplotlib PNG: it is a few kilobytes, stays sharp at any zoom,
carries a tooltip per point, and the page script can move an epoch marker over it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..html import esc

WIDTH, HEIGHT = 340, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 36, 34
TRAIN, VALIDATION = "#1f6fb4", "#e8710a"


def metric_groups(metrics: Sequence[dict[str, float]]) -> list[tuple[str, list[str]]]:
    """``[("loss", ["loss", "val_loss"]), ("accuracy", [...]), ...]``, loss first."""
    groups: dict[str, list[str]] = {}
    for row in metrics:
        for key in row:
            if key == "epoch":
                continue
            base = key[4:] if key.startswith("val_") else key
            keys = groups.setdefault(base, [])
            if key not in keys:
                keys.append(key)
    order = sorted(groups, key=lambda k: (k != "loss", k == "learning_rate"))
    return [(base, sorted(groups[base], key=lambda k: k.startswith("val_"))) for base in order]


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi - lo < 1e-12:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = start
    while value <= hi + 1e-9 * step:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.001:
        return f"{v:.2g}"
    return f"{v:.4g}"


def chart(
    name: str, keys: list[str], metrics: Sequence[dict[str, float]], legend: bool = True
) -> str:
    """One SVG chart of ``keys`` over epochs (``legend``: say which line is training and which
    validation)."""
    series = {
        k: [
            (float(r["epoch"]), float(r[k]))
            for r in metrics
            if k in r and r.get("epoch") is not None and math.isfinite(float(r[k]))
        ]
        for k in keys
    }
    points = [p for s in series.values() for p in s]
    if not points:
        return ""
    e0, e1 = min(p[0] for p in points), max(p[0] for p in points)
    v0, v1 = min(p[1] for p in points), max(p[1] for p in points)
    if e1 - e0 < 1e-9:
        e0, e1 = e0 - 1, e1 + 1
    pad = (v1 - v0) * 0.08 or (abs(v0) * 0.1 or 1.0)
    v0, v1 = v0 - pad, v1 + pad
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(e: float) -> float:
        return LEFT + (e - e0) / (e1 - e0) * pw

    def y(v: float) -> float:
        return TOP + (v1 - v) / (v1 - v0) * ph

    parts = [
        f'<svg class="nv-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{esc(name)}">',
        f'<text x="4" y="14" class="nv-chart-title">{esc(name)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" class="nv-plot-area"/>',
    ]
    for t in nice_ticks(v0, v1):
        ty = y(t)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{ty:.1f}" y2="{ty:.1f}" class="nv-grid"/>'
            f'<text x="{LEFT - 5}" y="{ty + 3.5:.1f}" class="nv-tick" text-anchor="end">'
            f"{_fmt(t)}</text>"
        )
    epochs = sorted({p[0] for p in points})
    step = max(1, math.ceil(len(epochs) / 8))
    for e in epochs[::step]:
        parts.append(
            f'<text x="{x(e):.1f}" y="{TOP + ph + 14}" class="nv-tick" text-anchor="middle">'
            f"{int(e) if float(e).is_integer() else _fmt(e)}</text>"
        )
    parts.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 4}" class="nv-axis-label" '
        'text-anchor="middle">epoch</text>'
    )
    drawn = [k for k in keys if series[k]]
    for i, key in enumerate(drawn):
        pts = series[key]
        if not pts:
            continue
        colour = VALIDATION if key.startswith("val_") else TRAIN
        dash = ' stroke-dasharray="5 3"' if key.startswith("val_") else ""
        coords = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in pts)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        for e, v in pts:
            parts.append(
                f'<circle cx="{x(e):.1f}" cy="{y(v):.1f}" r="2.6" fill="{colour}">'
                f"<title>{esc(key)} · epoch {int(e)}: {v:.5g}</title></circle>"
            )
        if not legend:
            continue
        label = "validation" if key.startswith("val_") else "training"
        lx = LEFT + pw - 82 * (len(drawn) - i)
        parts.append(
            f'<line x1="{lx}" x2="{lx + 14}" y1="24" y2="24" stroke="{colour}" '
            f'stroke-width="2"{dash}/><text x="{lx + 18}" y="28" class="nv-legend">{label}'
            "</text>"
        )
    parts.append(
        f'<line class="nv-marker" x1="{x(e1):.1f}" x2="{x(e1):.1f}" y1="{TOP}" y2="{TOP + ph}" '
        f'data-e0="{e0}" data-e1="{e1}" data-x0="{LEFT}" data-x1="{LEFT + pw}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def svg_charts(metrics: Sequence[dict[str, float]]) -> str:
    """Every metric's chart, concatenated."""
    return "".join(chart(name, keys, metrics) for name, keys in metric_groups(metrics))


def histogram_chart(name: str, rows: Sequence[dict]) -> str:
    """Histograms of one weight over training as SVG: a line per snapshot on one value axis.

    Args:
        name: the chart's title.
        rows: ``[{"epoch", "lo", "hi", "counts"}, ...]`` (equal-width bins from ``lo`` to ``hi``).

    Returns:
        SVG text; each snapshot's line carries ``data-epoch`` so the page's epoch slider can
        highlight it (the last one is highlighted to start with). Empty when there is no row.
    """
    rows = [
        r for r in rows if r.get("counts") and math.isfinite(r["lo"]) and math.isfinite(r["hi"])
    ]
    if not rows:
        return ""
    rows = sorted(rows, key=lambda r: r["epoch"])
    lo, hi = min(r["lo"] for r in rows), max(r["hi"] for r in rows)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(v: float) -> float:
        return LEFT + (v - lo) / (hi - lo) * pw

    parts = [
        f'<svg class="nv-chart nv-hists" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{esc(name)}">',
        f'<text x="4" y="14" class="nv-chart-title">{esc(name)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" class="nv-plot-area"/>',
    ]
    for t in nice_ticks(lo, hi):
        parts.append(
            f'<text x="{x(t):.1f}" y="{TOP + ph + 14}" class="nv-tick" text-anchor="middle">'
            f"{_fmt(t)}</text>"
        )
    parts.append(
        f'<text x="{LEFT + pw / 2:.1f}" y="{HEIGHT - 4}" class="nv-axis-label" '
        'text-anchor="middle">weight value (a line per epoch)</text>'
    )
    # One height scale for every line: the highest share of any bin in any snapshot.
    peak = max(max(r["counts"]) / max(sum(r["counts"]), 1) for r in rows) or 1.0
    for i, r in enumerate(rows):
        counts = r["counts"]
        total = max(sum(counts), 1)
        width = (r["hi"] - r["lo"]) / len(counts) if r["hi"] > r["lo"] else 0.0
        coords = " ".join(
            f"{x(r['lo'] + (k + 0.5) * width):.1f},{TOP + ph - (c / total) / peak * ph:.1f}"
            for k, c in enumerate(counts)
        )
        on = " nv-hist-on" if i == len(rows) - 1 else ""
        parts.append(
            f'<polyline class="nv-hist{on}" data-epoch="{int(r["epoch"])}" points="{coords}" '
            f'fill="none"><title>epoch {int(r["epoch"])}</title></polyline>'
        )
    parts.append("</svg>")
    return "".join(parts)
