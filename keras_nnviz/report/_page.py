"""The report page: a small document model (parts, sections, figures, tables) rendered to one HTML
file that needs nothing else — no CDN, no network, works from ``file://``.

The document itself comes from :func:`keras_nnviz.html.document`, the package's one escaping HTML
builder: every user string (model and layer names, tags, captions, class names, parameter values)
goes through :func:`~keras_nnviz.html.esc`, the page's script reads its data from an inert JSON
block, and a Content-Security-Policy with a per-page nonce forbids the network and any injected
script or inline handler.

While training runs, a page can carry a :class:`LiveStatus`: a banner "training in progress —
epoch k of N" and a script that reloads the page (from ``file://``) or polls a JSON endpoint (under
``nnviz serve``) until the fit ends; the final page has neither.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import assets
from ..diagnosis.findings import findings_html
from ..errors import InvalidArgumentError
from ..html import document, esc
from ..io.paths import check_output_path
from . import _curves
from ._embedding import Embedding, embedding_html

#: Tables longer than this are folded into a ``<details>`` element (pictures come first).
FOLD_ROWS = 12


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
        tag: the manifest tag (a layer path for per-layer pictures): the architecture graph
            shows a layer's figures by it.
    """

    title: str
    frames: list[Frame]
    caption: str = ""
    width: int | None = None
    height: int | None = None
    pixelated: bool = True
    tag: str = ""


@dataclass
class Table:
    """Rows of text; columns listed in ``numeric`` are right-aligned.

    ``folded`` (default: more than :data:`FOLD_ROWS` rows) puts the table in a closed
    ``<details>`` element whose summary says what it holds.
    """

    header: list[str]
    rows: list[list[Any]]
    caption: str = ""
    numeric: tuple[int, ...] = ()
    folded: bool | None = None


@dataclass
class Note:
    """A paragraph; ``kind`` is ``"note"``, ``"warning"`` or ``"alarm"`` (a page banner)."""

    text: str
    kind: str = "note"
    href: str | None = None  # a relative link shown after the text (e.g. a file beside the page)


@dataclass
class Architecture:
    """The interactive layer graph of one model (see :mod:`keras_nnviz.plot.architecture`).

    Attributes:
        payload: ``{"nodes", "groups", "svgs", "fallback"}`` from
            :func:`keras_nnviz.plot.architecture.graph_payload`.
        series: per-layer charts over training, ``{layer path: [SVG text, ...]}`` (gradient
            norms, update ratios, dead units read from the manifest).
        over_training: the page shows pictures over training (a callback report); False for a
            post-hoc report, whose hint and empty-layer note then speak of its own pictures.
        weights: each layer's weight statistics, shown in its panel
            (:func:`keras_nnviz.report._model.weight_panel`).
    """

    payload: dict[str, Any]
    series: dict[str, list[str]] = field(default_factory=dict)
    over_training: bool = True
    weights: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Findings:
    """The findings of a diagnosis (``Finding.to_dict`` rows): each links to the section of the
    picture that shows its evidence and its layers to the architecture graph."""

    items: list[dict[str, Any]]
    title: str = "Findings"


@dataclass
class Section:
    """One callback / tag family or one post-hoc view, with its facts and blocks; ``key`` is the
    callback folder it shows (what a finding's evidence picture names)."""

    title: str
    blocks: list[Figure | Table | Note | Architecture | Findings | Embedding] = field(
        default_factory=list
    )
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    key: str = ""


@dataclass
class Part:
    """Everything about one model: curves, then sections (the layer table is a section)."""

    name: str
    metrics: list[dict[str, float]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class LiveStatus:
    """A page written while training runs.

    Attributes:
        epoch: epochs completed (absolute, as Keras counts with ``initial_epoch``).
        epochs: the fit's ``epochs`` (None when unknown).
        reload_seconds: how often the page looks for news.
        state_url: a JSON endpoint to poll (``nnviz serve``); None: the page reloads itself.
        state: the endpoint's ``"state"`` value this page shows; a different one reloads it.
        stale_seconds: with no news for this long the page stops reloading and says that
            training seems to have stopped (an interrupted fit writes no final page).
        running: False when a served page only watches the folder for the next fit.
        stopped_since: set (a UTC time) when the fit never wrote its end and has been silent
            since then: it was killed; the banner says so instead of "in progress".
    """

    epoch: int
    epochs: int | None = None
    reload_seconds: float = 5.0
    state_url: str | None = None
    state: str = ""
    stale_seconds: float = 900.0
    running: bool = True
    stopped_since: str | None = None

    @property
    def text(self) -> str:
        if self.stopped_since:
            return f"stopped (no update since {self.stopped_since}) — a new fit will appear here"
        if not self.running:
            return "no training running — a new fit in this folder will appear here"
        of = f" of {self.epochs}" if self.epochs else ""
        return f"training in progress — epoch {self.epoch}{of}"


@dataclass
class Page:
    """The whole report."""

    title: str
    parts: list[Part]
    subtitle: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    banners: list[Note] = field(default_factory=list)
    live: LiveStatus | None = None


def _facts(facts: list[tuple[str, str]], cls: str = "nv-facts") -> str:
    if not facts:
        return ""
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return f'<dl class="{cls}">{items}</dl>'


def _note(block: Note) -> str:
    link = f' <a href="{esc(block.href)}">{esc(block.href)}</a>' if block.href else ""
    return f'<p class="nv-{esc(block.kind)}">{esc(block.text)}{link}</p>'


class _Renderer:
    def __init__(self, page: Page):
        self.page = page
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.tags: dict[str, dict[str, str]] = {}  # figure id -> tag, title, section, part
        self.graphs: dict[str, dict[str, Any]] = {}
        self.embeddings: dict[str, dict[str, Any]] = {}
        self.counter = 0
        self.epochs: set[int] = set()
        self.where = ("", "")  # (part id, section title) being rendered
        # part id -> {section key: "#anchor"}: where a finding's evidence picture is shown
        self.anchors: dict[str, dict[str, str]] = {}

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
        if fig.tag:
            self.tags[fid] = {
                "tag": fig.tag,
                "title": fig.title,
                "part": self.where[0],
                "section": self.where[1],
            }
        size, cls, hint = "", "nv-img", ""
        if fig.width and fig.height:
            # Frames are shown at their own size, where their titles and scale labels were drawn
            # to be read (doubled, they turned blocky and oversized); a small frame drawn from
            # arrays doubles on a click, with crisp pixels, for a closer look.
            size = f' width="{int(fig.width)}" height="{int(fig.height)}"'
            if fig.pixelated and fig.width <= 280:
                cls, hint = "nv-img nv-pixel nv-zoomable", ' title="click to enlarge"'
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
            f'<img class="{cls}" src="{esc(shown.src)}" alt="{esc(fig.title)}"{size}{hint}>'
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
        grid = (
            f'<div class="nv-table-wrap"><table class="nv-table"><thead><tr>{head}'
            f"</tr></thead><tbody>{body}</tbody></table></div>"
        )
        folded = table.folded if table.folded is not None else len(table.rows) > FOLD_ROWS
        if not folded:
            return caption + grid
        what = table.caption or "the table"
        return (
            f'<details class="nv-fold"><summary>{len(table.rows)} rows · {esc(what)} '
            f'<span class="nv-hint">(click to open)</span></summary>{grid}</details>'
        )

    def architecture(self, arch: Architecture) -> str:
        gid = self.next_id("g")
        if arch.over_training:
            hint = (
                "Click a layer: its pictures over training (the epoch slider moves them) and its "
                "gradient-norm and dead-unit history."
            )
            empty = (
                "No callback recorded this layer. ActivationMaps(layers=[...]), WeightMatrices, "
                "GradientFlow and DeadUnits do."
            )
        else:
            hint = "Click a layer: the pictures this report drew of it."
            empty = "This report drew no picture of this layer."
        self.graphs[gid] = {
            **arch.payload,
            "series": arch.series,
            "weights": arch.weights,
            "part": self.where[0],
            "empty": empty,
        }
        return (
            f'<div class="nv-arch" data-graph="{gid}"><div class="nv-arch-graph"></div>'
            f'<div class="nv-arch-panel"><p class="nv-note">{esc(hint)} Click a nested model to '
            "open or close it.</p></div></div>"
        )

    def embedding(self, block: Embedding) -> str:
        eid = self.next_id("e")
        for f in block.frames:
            if f.get("epoch") is not None:
                self.epochs.add(int(f["epoch"]))
        self.embeddings[eid] = block.payload()
        return embedding_html(block, eid)

    def block(self, block: Figure | Table | Note | Architecture | Findings | Embedding) -> str:
        if isinstance(block, Embedding):
            return self.embedding(block)
        if isinstance(block, Findings):
            links = self.anchors.get(self.where[0], {})
            return findings_html(
                block.items, block.title, pictures=links, layers_href=links.get("architecture")
            )
        if isinstance(block, Figure):
            return self.figure(block)
        if isinstance(block, Table):
            return self.table(block)
        if isinstance(block, Architecture):
            return self.architecture(block)
        return _note(block)

    def section(self, section: Section, sid: str) -> str:
        self.where = (self.where[0], section.title)
        # Pictures first: warnings, then the gallery and the graph, then notes and tables.
        warnings = [b for b in section.blocks if isinstance(b, Note) and b.kind != "note"]
        figures = [b for b in section.blocks if isinstance(b, Figure)]
        graphs = [b for b in section.blocks if isinstance(b, Architecture | Embedding)]
        rest = [
            b
            for b in section.blocks
            if not isinstance(b, Figure | Architecture | Embedding) and b not in warnings
        ]
        gallery = (
            '<div class="nv-gallery">' + "".join(self.figure(f) for f in figures) + "</div>"
            if figures
            else ""
        )
        subtitle = f'<p class="nv-subtitle">{esc(section.subtitle)}</p>' if section.subtitle else ""
        return (
            f'<section class="nv-section" id="{sid}"><h3>{esc(section.title)}</h3>{subtitle}'
            f"{''.join(self.block(b) for b in warnings)}"
            f"{''.join(self.block(b) for b in graphs)}{gallery}"
            f"{''.join(self.block(b) for b in rest)}{_facts(section.facts)}</section>"
        )

    def part(self, part: Part, pid: str) -> tuple[str, str]:
        self.where = (pid, "")
        anchors = {s.key: f"#{pid}-s{i}" for i, s in enumerate(part.sections) if s.key}
        if part.metrics:
            anchors["curves"] = f"#{pid}-curves"
        self.anchors[pid] = anchors
        nav_items = []
        body = []
        # The diagnosis says first what is wrong, above the curves; its links point below.
        first = [(i, s) for i, s in enumerate(part.sections) if s.title == "Diagnosis"]
        for i, section in first:
            sid = f"{pid}-s{i}"
            body.append(self.section(section, sid))
            nav_items.append(f'<li><a href="#{sid}">{esc(section.title)}</a></li>')
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
            if section.title == "Diagnosis":
                continue
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

    def status(self) -> tuple[str, dict[str, Any] | None]:
        live = self.page.live
        if live is None:
            return "", None
        how = (
            "this page follows the log folder"
            if live.state_url
            else f"this page reloads every {live.reload_seconds:g} s"
        )
        html_text = (
            f'<div class="nv-live" id="nv-live" role="status"><strong id="nv-live-text">'
            f"{esc(live.text)}</strong> · updated {esc(time.strftime('%H:%M:%S'))} · "
            f'<span id="nv-live-how">{esc(how)}</span> '
            '<button type="button" id="nv-live-pause">pause updates</button></div>'
        )
        data = {
            "epoch": live.epoch,
            "epochs": live.epochs,
            "every_ms": int(live.reload_seconds * 1000),
            "stale_ms": int(live.stale_seconds * 1000),
            "written_ms": int(time.time() * 1000),
            "state_url": live.state_url,
            "state": live.state,
        }
        return html_text, data

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
        status, live = self.status()
        subtitle = f'<p class="nv-subtitle">{esc(page.subtitle)}</p>' if page.subtitle else ""
        banners = "".join(_note(b) for b in page.banners)
        layout = "nv-layout nv-has-live" if status else "nv-layout"
        body = (
            f'<header class="nv-header"><h1>{esc(page.title)}</h1>{subtitle}'
            f"{_facts(page.facts, 'nv-facts nv-page-facts')}</header>{banners}"
            f'<div class="nv-sticky">{status}{toolbar}</div>'
            f'<div class="{layout}"><nav class="nv-nav"><ul>{"".join(navs)}</ul></nav>'
            f'<main class="nv-main">{"".join(parts)}</main></div>'
        )
        data = {
            "frames": self.frames,
            "tags": self.tags,
            "graphs": self.graphs,
            "embeddings": self.embeddings,
            "epochs": epochs,
            "live": live,
        }
        return document(
            title=page.title,
            css=assets.text("report.css") + assets.text("embedding.css"),
            body=body,
            script=assets.text("graph_tools.js")
            + assets.text("embedding.js")
            + assets.text("report.js"),
            data=data,
            connect_self=bool(page.live and page.live.state_url),
        )


def render(page: Page) -> str:
    """The page as one HTML document (a string)."""
    return _Renderer(page).render()


def write_page(page: Page, out: str | os.PathLike) -> Path:
    """Render ``page`` and write it atomically to ``out`` (folders are created).

    A reader (a browser reloading the page during training) sees the old file or the new one,
    never half of one.
    """
    out = check_output_path(out)  # never over the manifest, its journal or a lock
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            tmp.write_text(render(page), encoding="utf-8")
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)  # a full disk leaves no half-written temporary file
    except OSError as exc:
        raise InvalidArgumentError(
            f"Cannot write the report to {str(out)!r} ({exc.strerror or exc}); pass out= a "
            "file path in a folder you can write to."
        ) from None
    return out
