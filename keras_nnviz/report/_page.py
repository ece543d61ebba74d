"""The report page: a small document model (parts, sections, figures, tables) rendered to one HTML
file that needs nothing else — no CDN, no network, works from ``file://``.

Everything that comes from users (model and layer names, tags, captions, class names, parameter
values) goes through :func:`html.escape`, and the page's script reads its data from a JSON block
whose ``<``, ``>`` and ``&`` are written as ``\\u003c``-style escapes, so a layer named
``<script>`` stays text. A Content-Security-Policy with a per-page nonce is a second guard: a
``<script>`` element that slipped in would not run, and the page may not fetch anything.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from . import _assets, _curves


@dataclass
class Frame:
    """One picture of a figure: ``src`` is a data URI or a relative URL."""

    src: str
    epoch: int | None = None
    label: str = ""
    caption: str = ""


@dataclass
class Figure:
    """A picture, or a series of pictures over training (a slider swaps them).

    Attributes:
        title: shown above the picture (e.g. the layer path).
        frames: in training order; one frame = a still picture.
        caption: shown below.
        width, height: natural size in pixels (small pixel frames are drawn 2× and crisp).
        pixelated: nearest-neighbour scaling (frames drawn from arrays); False for matplotlib.
    """

    title: str
    frames: list[Frame]
    caption: str = ""
    width: int | None = None
    height: int | None = None
    pixelated: bool = True


@dataclass
class Table:
    """Rows of text; columns listed in ``numeric`` are right-aligned."""

    header: list[str]
    rows: list[list[Any]]
    caption: str = ""
    numeric: tuple[int, ...] = ()


@dataclass
class Note:
    """A paragraph; ``kind`` is ``"note"`` or ``"warning"``."""

    text: str
    kind: str = "note"
    href: str | None = None  # a relative link shown after the text (e.g. a file beside the page)


@dataclass
class Section:
    """One callback / tag family or one post-hoc view, with its facts and blocks."""

    title: str
    blocks: list[Figure | Table | Note] = field(default_factory=list)
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Part:
    """Everything about one model: curves, then sections (the layer table is a section)."""

    name: str
    metrics: list[dict[str, float]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Page:
    """The whole report."""

    title: str
    parts: list[Part]
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&``."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _facts(facts: list[tuple[str, str]], cls: str = "nv-facts") -> str:
    if not facts:
        return ""
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return f'<dl class="{cls}">{items}</dl>'


class _Renderer:
    def __init__(self, page: Page):
        self.page = page
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.counter = 0
        self.epochs: set[int] = set()

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def figure(self, fig: Figure) -> str:
        if not fig.frames:
            return ""
        fid = self.next_id("f")
        last = len(fig.frames) - 1
        shown = fig.frames[last]  # the trained state; the page script moves it with the slider
        for f in fig.frames:
            if f.epoch is not None:
                self.epochs.add(int(f.epoch))
        self.frames[fid] = [
            {"src": f.src, "epoch": f.epoch, "label": f.label, "caption": f.caption}
            for f in fig.frames
        ]
        size, zoom = "", 1
        if fig.width and fig.height:
            # Small frames drawn from arrays are doubled with crisp pixels; larger ones keep their
            # size (or shrink to the column, where nearest-neighbour would drop text pixels).
            zoom = 2 if fig.pixelated and fig.width <= 280 else 1
            size = f' width="{int(fig.width) * zoom}" height="{int(fig.height) * zoom}"'
        cls = "nv-img nv-pixel" if zoom == 2 else "nv-img"
        controls = ""
        if len(fig.frames) > 1:
            controls = (
                f'<div class="nv-frame-controls"><input type="range" class="nv-frame-slider" '
                f'min="0" max="{last}" value="{last}" step="1" aria-label="{esc(fig.title)} frame">'
                f'<span class="nv-frame-label">{esc(shown.label)}</span></div>'
            )
        elif shown.label:
            controls = (
                f'<div class="nv-frame-controls"><span class="nv-frame-label">'
                f"{esc(shown.label)}</span></div>"
            )
        caption = shown.caption or fig.caption
        return (
            f'<figure class="nv-figure" data-frames="{fid}">'
            f'<div class="nv-figure-title">{esc(fig.title)}</div>'
            f'<img class="{cls}" src="{esc(shown.src)}" alt="{esc(fig.title)}"{size}>'
            f"{controls}"
            f'<figcaption class="nv-caption">{esc(caption)}</figcaption></figure>'
        )

    def table(self, table: Table) -> str:
        head = "".join(
            f'<th class="{"nv-num" if i in table.numeric else ""}">{esc(h)}</th>'
            for i, h in enumerate(table.header)
        )
        body = "".join(
            "<tr>"
            + "".join(
                f'<td class="{"nv-num" if i in table.numeric else ""}">{esc(c)}</td>'
                for i, c in enumerate(row)
            )
            + "</tr>"
            for row in table.rows
        )
        caption = f'<p class="nv-note">{esc(table.caption)}</p>' if table.caption else ""
        return (
            f'{caption}<div class="nv-table-wrap"><table class="nv-table"><thead><tr>{head}'
            f"</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def block(self, block: Figure | Table | Note) -> str:
        if isinstance(block, Figure):
            return self.figure(block)
        if isinstance(block, Table):
            return self.table(block)
        link = f' <a href="{esc(block.href)}">{esc(block.href)}</a>' if block.href else ""
        return f'<p class="nv-{esc(block.kind)}">{esc(block.text)}{link}</p>'

    def section(self, section: Section, sid: str) -> str:
        figures = [b for b in section.blocks if isinstance(b, Figure)]
        others = [b for b in section.blocks if not isinstance(b, Figure)]
        gallery = (
            '<div class="nv-gallery">' + "".join(self.figure(f) for f in figures) + "</div>"
            if figures
            else ""
        )
        subtitle = f'<p class="nv-subtitle">{esc(section.subtitle)}</p>' if section.subtitle else ""
        return (
            f'<section class="nv-section" id="{sid}"><h3>{esc(section.title)}</h3>{subtitle}'
            f"{_facts(section.facts)}{''.join(self.block(b) for b in others)}{gallery}</section>"
        )

    def part(self, part: Part, pid: str) -> tuple[str, str]:
        nav_items = []
        body = []
        if part.metrics:
            for metric in part.metrics:
                if metric.get("epoch") is not None:
                    self.epochs.add(int(metric["epoch"]))
            body.append(
                f'<section class="nv-section" id="{pid}-curves"><h3>Training curves</h3>'
                f'<div class="nv-curves">{_curves.svg_charts(part.metrics)}</div></section>'
            )
            nav_items.append(f'<li><a href="#{pid}-curves">Training curves</a></li>')
        for i, section in enumerate(part.sections):
            sid = f"{pid}-s{i}"
            body.append(self.section(section, sid))
            nav_items.append(f'<li><a href="#{sid}">{esc(section.title)}</a></li>')
        nav = (
            f'<li class="nv-nav-model"><a href="#{pid}">{esc(part.name)}</a>'
            f"<ul>{''.join(nav_items)}</ul></li>"
        )
        html_text = (
            f'<article class="nv-part" id="{pid}"><h2>{esc(part.name)}</h2>'
            f"{_facts(part.facts)}{''.join(body)}</article>"
        )
        return nav, html_text

    def render(self) -> str:
        page = self.page
        navs, parts = [], []
        for i, part in enumerate(page.parts):
            nav, body = self.part(part, f"m{i}")
            navs.append(nav)
            parts.append(body)
        epochs = sorted(self.epochs)
        toolbar = ""
        if len(epochs) > 1:
            lo, hi = epochs[0], epochs[-1]
            toolbar = (
                '<div class="nv-toolbar" id="nv-toolbar">'
                '<button type="button" id="nv-play" aria-label="play">&#9654; play</button>'
                f'<label for="nv-epoch">epoch</label><input type="range" id="nv-epoch" '
                f'min="{lo}" max="{hi}" value="{hi}" step="1">'
                f'<span id="nv-epoch-label">epoch {hi} of {hi}</span>'
                '<span class="nv-hint">moves every picture and the curves\' marker</span></div>'
            )
        if not parts:
            parts.append('<p class="nv-warning">Nothing to show yet.</p>')
        nonce = secrets.token_urlsafe(16)
        csp = (
            "default-src 'none'; img-src data: 'self' file:; style-src 'unsafe-inline'; "
            f"script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'"
        )
        subtitle = f'<p class="nv-subtitle">{esc(page.subtitle)}</p>' if page.subtitle else ""
        data = script_json({"frames": self.frames, "epochs": epochs})
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,">'
            f"<title>{esc(page.title)}</title><style>{_assets.CSS}</style></head><body>"
            f'<header class="nv-header"><h1>{esc(page.title)}</h1>{subtitle}'
            f"{_facts(page.facts, 'nv-facts nv-page-facts')}</header>{toolbar}"
            f'<div class="nv-layout"><nav class="nv-nav"><ul>{"".join(navs)}</ul></nav>'
            f'<main class="nv-main">{"".join(parts)}</main></div>'
            f'<script type="application/json" id="nv-data">{data}</script>'
            f'<script nonce="{nonce}">{_assets.JS}</script></body></html>\n'
        )


def render(page: Page) -> str:
    """The page as one HTML document (a string)."""
    return _Renderer(page).render()


def write_page(page: Page, out: str | os.PathLike) -> Path:
    """Render ``page`` and write it atomically to ``out`` (folders are created)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(render(page), encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a page behind
        raise InvalidArgumentError(
            f"Cannot write the report to {str(out)!r} ({exc.strerror or exc}); pass out= a "
            "file path in a folder you can write to."
        ) from None
    return out
