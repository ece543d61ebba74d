"""The architecture graph, drawn: a layered layout of :func:`keras_nnviz.architecture` as SVG.

No graphviz binary, no JavaScript library, no network. Python lays the graph out (layers of the
DAG from the longest path, order within a layer by barycenter sweeps, nested models as boxes laid
out inside, recursively) and writes SVG; the interactive page (:class:`ArchitectureView`) holds
one SVG per expansion state of the nested models (all of them when there are at most
:data:`MAX_STATES`) and a few lines of script that swap them when a group is clicked and show a
layer's details. ``.save("graph.svg")`` writes the static picture.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import assets
from .. import html as html_page
from .._text import xml_safe
from ..errors import InvalidArgumentError

__all__ = [
    "architecture",
    "ArchitectureView",
    "BLOCK_MARK",
    "CHAR_W",
    "COLOURS",
    "GAP_X",
    "GAP_Y",
    "graph_payload",
    "HEADER",
    "layout",
    "MAX_STATES",
    "NODE_H",
    "repeated_blocks",
    "PAD",
    "svg",
]

NODE_H = 34
GAP_X = 18
GAP_Y = 34
PAD = 14
HEADER = 24
CHAR_W = 6.6
MAX_STATES = 16
COLOURS = {
    "Input": "#e8f1fb",
    "Conv": "#fde9d9",
    "Dense": "#e5f5e0",
    "Norm": "#f2f2f2",
    "Pool": "#efe6f6",
    "Attention": "#fff4cc",
    "Embedding": "#e0f3f3",
}


def _header(n: dict[str, Any]) -> str:
    return f"{n['name']} ({n['type']}, {n['params']:,} params)"


def _fill(kind: str) -> str:
    for key, colour in COLOURS.items():
        if key.lower() in kind.lower():
            return colour
    return "#ffffff"


@dataclass
class _Box:
    id: str
    w: float
    h: float
    x: float = 0.0
    y: float = 0.0
    members: list[str] = field(default_factory=list)


def _layered(ids: list[str], sizes: dict[str, tuple[float, float]], edges: list[tuple[str, str]]):
    """Positions (top-left, relative) of ``ids`` and the total size: a layered DAG layout."""
    preds: dict[str, list[str]] = {i: [] for i in ids}
    succs: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in edges:
        if a in preds and b in preds and a != b and a not in preds[b]:
            preds[b].append(a)
            succs[a].append(b)
    # Longest path from the sources, in the given (topological) order.
    level: dict[str, int] = {}
    for i in ids:
        level[i] = 1 + max((level[p] for p in preds[i] if p in level), default=-1)
    layers: dict[int, list[str]] = {}
    for i in ids:
        layers.setdefault(level[i], []).append(i)
    order = {i: k for k in layers for i in layers[k]}
    index = {i: n for n, i in enumerate(ids)}
    ranks = sorted(layers)
    pos = {i: float(index[i]) for i in ids}
    for sweep in range(4):  # barycenter sweeps, down then up
        seq = ranks if sweep % 2 == 0 else ranks[::-1]
        for r in seq:
            ref = preds if sweep % 2 == 0 else succs

            def bary(i, ref=ref):
                near = [pos[j] for j in ref[i]]
                return sum(near) / len(near) if near else pos[i]

            layers[r].sort(key=lambda i: (bary(i), index[i]))
            for n, i in enumerate(layers[r]):
                pos[i] = float(n)
    del order
    widths = {r: sum(sizes[i][0] for i in layers[r]) + GAP_X * (len(layers[r]) - 1) for r in ranks}
    total_w = max(widths.values(), default=0.0)
    out: dict[str, tuple[float, float]] = {}
    y = 0.0
    for r in ranks:
        x = (total_w - widths[r]) / 2
        row_h = max(sizes[i][1] for i in layers[r])
        for i in layers[r]:
            out[i] = (x, y)
            x += sizes[i][0] + GAP_X
        y += row_h + GAP_Y
    return out, total_w, max(y - GAP_Y, 0.0)


def layout(arch: dict[str, Any], expanded: Sequence[str] = ()) -> dict[str, Any]:
    """Absolute boxes of every visible node for one expansion state.

    Args:
        arch: from :func:`keras_nnviz.architecture`.
        expanded: ids of the nested models shown open (the others are one box each).

    Returns:
        ``{"boxes": {id: (x, y, w, h)}, "edges": [(from, to)], "width", "height"}`` with edges
        between visible boxes (an edge into a closed group ends at the group).
    """
    nodes = {n["id"]: n for n in arch["nodes"]}
    children: dict[str | None, list[str]] = {}
    for n in arch["nodes"]:
        children.setdefault(n["group"], []).append(n["id"])
    open_ = set(expanded)

    def visible(nid: str) -> str:
        """The visible box standing for ``nid`` (itself, or its outermost closed group)."""
        chain = []
        g = nodes[nid]["group"]
        while g is not None:
            chain.append(g)
            g = nodes[g]["group"]
        for g in reversed(chain):
            if g not in open_:
                return g
        return nid

    edges = []
    for a, b in arch["edges"]:
        va, vb = visible(a), visible(b)
        if va != vb and (va, vb) not in edges:
            edges.append((va, vb))
    boxes: dict[str, list[float]] = {}

    def lift(nid: str, group: str | None) -> str | None:
        """The box of level ``group`` holding ``nid`` (None when ``nid`` is outside it)."""
        while nodes[nid]["group"] != group:
            nid = nodes[nid]["group"]
            if nid is None:
                return None
        return nid

    def place(group: str | None) -> tuple[float, float, dict[str, tuple[float, float]]]:
        ids = children.get(group, [])
        sizes = {}
        inner: dict[str, dict] = {}
        for i in ids:
            n = nodes[i]
            label = max(len(n["name"]), len(n["type"]) + len(n["shape"]) + 1)
            w = max(90.0, label * CHAR_W + 16)
            if n["is_group"] and i in open_:
                gw, gh, rel = place(i)
                inner[i] = rel
                header = len(_header(n)) * CHAR_W + 24
                sizes[i] = (max(w, gw + 2 * PAD, header), gh + HEADER + 2 * PAD)
            else:
                sizes[i] = (w, NODE_H + (6 if n["is_group"] else 0))
        # Edges between the boxes of this level: an edge between layers inside open groups
        # counts for the groups holding them, so open groups are ranked by their contents.
        local = list(dict.fromkeys((lift(a, group), lift(b, group)) for a, b in edges))
        local = [(a, b) for a, b in local if a in sizes and b in sizes and a != b]
        rel, w, h = _layered(ids, sizes, local)
        out = {i: rel[i] for i in ids}
        for i, sub in inner.items():
            ox, oy = rel[i]
            gw = sizes[i][0]
            sub_w = max((sub[j][0] + boxes_size[j][0] for j in sub), default=0.0)
            shift = (gw - 2 * PAD - sub_w) / 2
            for j, (sx, sy) in sub.items():
                out[j] = (ox + PAD + shift + sx, oy + HEADER + PAD + sy)
        for i in ids:
            boxes_size[i] = sizes[i]
        return w, h, out

    boxes_size: dict[str, tuple[float, float]] = {}
    width, height, rel = place(None)
    for i, (x, y) in rel.items():
        w, h = boxes_size[i]
        boxes[i] = [x + 10, y + 10, w, h]
    return {"boxes": boxes, "edges": edges, "width": width + 20, "height": height + 20}


def svg(arch: dict[str, Any], expanded: Sequence[str] = ()) -> str:
    """The graph for one expansion state as an SVG document (every name escaped)."""
    lay = layout(arch, expanded)
    nodes = {n["id"]: n for n in arch["nodes"]}
    esc = html_page.esc
    parts: list[str] = []
    open_ = set(expanded)
    # Open groups first (behind), then edges, then the boxes on top.
    for nid, (x, y, w, h) in lay["boxes"].items():
        n = nodes[nid]
        if n["is_group"] and nid in open_:
            parts.append(
                f'<g class="nv-group" data-group="{esc(nid)}"><rect x="{x:.1f}" y="{y:.1f}" '
                f'width="{w:.1f}" height="{h:.1f}" rx="8" fill="#fafafa" stroke="#999" '
                'stroke-dasharray="4 3"/>'
                f'<text x="{x + 8:.1f}" y="{y + 16:.1f}" font-weight="bold">&#9662; '
                f"{esc(_header(n))}</text></g>"
            )
    paths, width = _edge_paths(lay, nodes, open_)
    parts.extend(paths)
    for nid, (x, y, w, h) in lay["boxes"].items():
        n = nodes[nid]
        if n["is_group"] and nid in open_:
            continue
        closed = n["is_group"]
        stroke = "#333" if not closed else "#555"
        extra = ' stroke-dasharray="4 3"' if closed else ""
        mark = "&#9656; " if closed else ""
        cls = "nv-node nv-closed" if closed else "nv-node"
        data = f' data-group="{esc(nid)}"' if closed else ""
        parts.append(
            f'<g class="{cls}" data-id="{esc(nid)}"{data}>'
            f'<title>{esc(nid)}</title><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" rx="5" fill="{_fill(n["type"])}" stroke="{stroke}"{extra}/>'
            f'<text x="{x + w / 2:.1f}" y="{y + 14:.1f}" text-anchor="middle" '
            f'font-weight="bold">{mark}{esc(n["name"])}</text>'
            f'<text x="{x + w / 2:.1f}" y="{y + 27:.1f}" text-anchor="middle" fill="#555">'
            f"{esc(n['type'])} {esc(n['shape'])}</text></g>"
        )
    parts.append("</svg>")
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{lay["height"]:.0f}" viewBox="0 0 {width:.0f} {lay["height"]:.0f}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="11">'
        '<defs><marker id="nv-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0L8,4L0,8z" fill="#777"/></marker>'
        '<marker id="nv-arrow-skip" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" '
        f'markerHeight="7" orient="auto"><path d="M0,0L8,4L0,8z" fill="{SKIP}"/></marker></defs>'
    )
    return head + "".join(parts)


SKIP = "#2b7bb9"  # skip connections: their own colour, so a residual edge reads as one
LANE_GAP = 9.0  # between the lanes of skip edges that pass the same boxes


def _edge_paths(
    lay: dict[str, Any], nodes: dict[str, dict], open_: set[str]
) -> tuple[list[str], float]:
    """SVG paths of the edges and the width they need.

    An edge whose straight line would pass behind boxes between its ends (a skip connection
    over a residual block) is routed in a lane to the right of those boxes, so it is never hidden
    behind them; lanes of edges that pass the same boxes are spaced apart.
    """
    boxes = lay["boxes"]
    width = float(lay["width"])
    lanes: list[tuple[float, float, float]] = []  # (x, y_top, y_bottom) of lanes in use
    out = []
    for a, b in lay["edges"]:
        xa, ya, wa, ha = boxes[a]
        xb, yb, wb, _ = boxes[b]
        x1, y1 = xa + wa / 2, ya + ha
        x2, y2 = xb + wb / 2, yb
        lo, hi = min(x1, x2) - 4, max(x1, x2) + 4
        behind = [
            (x, w)
            for nid, (x, y, w, h) in boxes.items()
            if nid not in (a, b)
            and not (nodes[nid]["is_group"] and nid in open_)
            and y >= y1 - 1
            and y + h <= y2 + 1
            and x < hi
            and x + w > lo
        ]
        if not behind or y2 <= y1:
            mid = (y1 + y2) / 2
            d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"
            out.append(
                f'<path class="nv-edge" d="{d}" fill="none" stroke="#777" stroke-width="1.2" '
                'marker-end="url(#nv-arrow)"/>'
            )
            continue
        lane = max(x + w for x, w in behind) + 2 * LANE_GAP
        while any(abs(lx - lane) < LANE_GAP and t < y2 and y1 < b_ for lx, t, b_ in lanes):
            lane += LANE_GAP
        lanes.append((lane, y1, y2))
        width = max(width, lane + 2 * LANE_GAP)
        top, bottom = y1 + 8, y2 - 8
        # Leave and enter beside the centre, where the straight edges meet the boxes.
        x1, x2 = x1 + min(wa / 4, 16), x2 + min(wb / 4, 16)
        d = (
            f"M{x1:.1f},{y1:.1f} C{x1:.1f},{top + 6:.1f} {lane:.1f},{top - 4:.1f} "
            f"{lane:.1f},{top + 10:.1f} L{lane:.1f},{bottom - 10:.1f} "
            f"C{lane:.1f},{bottom + 4:.1f} {x2:.1f},{bottom - 6:.1f} {x2:.1f},{y2:.1f}"
        )
        out.append(
            f'<path class="nv-edge nv-skip" d="{d}" fill="none" stroke="{SKIP}" '
            'stroke-width="1.4" marker-end="url(#nv-arrow-skip)"/>'
        )
    return out, width


BLOCK_MARK = "\u2026"  # ends the id of a block group: no layer path ends with it
_NUMBERED = re.compile(r"^(.*?\d+)(?=[_./-]|$)")
_STACKED = re.compile(r"layer|block|encoder|decoder|stage", re.I)


def _convex(members: set[str], succ: dict[str, set[str]]) -> bool:
    """No path leaves ``members`` and comes back: one box for them keeps the graph acyclic."""
    seen: set[str] = set()
    todo = [b for m in members for b in succ.get(m, ()) if b not in members]
    while todo:
        node = todo.pop()
        if node in members:
            return False
        if node not in seen:
            seen.add(node)
            todo.extend(succ.get(node, ()))
    return True


def repeated_blocks(data: dict[str, Any]) -> dict[str, Any]:
    """The graph with its repeated blocks as groups that open and close like nested models.

    Repeated structure is read from the layer names inside one model: layers that share a
    numbered prefix (``block_3_expand``, ``block_3_depthwise``, ... of MobileNetV2) form one block
    when the same prefix with other numbers forms blocks too; numbered single layers of one
    stacked type in a chain (``transformer_layer_0``, ``transformer_layer_1`` of KerasHub) form
    one group. A set that would make the drawing cyclic (a layer between two of its members
    outside it) is left alone.

    Args:
        data: from :func:`keras_nnviz.architecture`.

    Returns:
        A copy of ``data`` whose block groups are nodes with ``"block": True`` (ids ending with
        :data:`BLOCK_MARK`) holding their layers.

    Example:
        >>> blocks = repeated_blocks(nv.architecture(mobilenet))
        >>> [n["name"] for n in blocks["nodes"] if n.get("block")][:2]
        ['block_1', 'block_2']
    """
    nodes = [dict(n) for n in data["nodes"]]
    by_id = {n["id"]: n for n in nodes}

    def lift(nid: str, parent: str | None) -> str | None:
        """The child of ``parent`` holding ``nid`` (None when it is outside ``parent``)."""
        while nid in by_id and by_id[nid]["group"] != parent:
            nid = by_id[nid]["group"]
            if nid is None:
                return None
        return nid if nid in by_id else None

    new: dict[str, dict[str, Any]] = {}  # first member id -> block node
    for parent in [None, *[n["id"] for n in nodes if n["is_group"]]]:
        kids = [n for n in nodes if n["group"] == parent and not n["is_input"]]
        succ: dict[str, set[str]] = {}
        for a, b in data["edges"]:
            la, lb = lift(a, parent), lift(b, parent)
            if la and lb and la != lb:
                succ.setdefault(la, set()).add(lb)
        prefixes: dict[str, list[dict]] = {}
        for n in kids:
            match = _NUMBERED.match(n["name"])
            if match:
                prefixes.setdefault(match.group(1), []).append(n)
        stems: dict[str, list[str]] = {}
        for prefix in prefixes:
            stems.setdefault(prefix.rstrip("0123456789"), []).append(prefix)
        chosen: list[tuple[str, list[dict]]] = []
        for stem, found in stems.items():
            multi = [p for p in found if len(prefixes[p]) > 1]
            singles = [prefixes[p][0] for p in found if len(prefixes[p]) == 1]
            if len(multi) >= 2:
                chosen.extend((p, prefixes[p]) for p in multi)
            elif (
                not multi
                and len(singles) >= 2
                and len({n["type"] for n in singles}) == 1
                and (_STACKED.search(stem) or _STACKED.search(singles[0]["type"]))
            ):
                chosen.append((f"{stem}* ×{len(singles)}", singles))
        for name, members in chosen:
            ids = {n["id"] for n in members}
            if not _convex(ids, succ):
                continue
            bid = (f"{parent}/" if parent else "") + name + BLOCK_MARK
            if bid in by_id:
                continue
            new[members[0]["id"]] = {
                "id": bid,
                "name": name,
                "type": f"{len(members)} layers" if "×" not in name else members[0]["type"],
                "shape": members[-1]["shape"],
                "params": sum(int(n["params"]) for n in members),
                "group": parent,
                "is_group": True,
                "is_input": False,
                "is_output": False,
                "block": True,
            }
            for n in members:
                n["group"] = bid
            by_id[bid] = new[members[0]["id"]]
    ordered = []
    for n in nodes:
        if n["id"] in new:
            ordered.append(new[n["id"]])
        ordered.append(n)
    return {**data, "nodes": ordered}


def _states(
    groups: list[str], parents: dict[str, str | None] | None = None
) -> list[tuple[str, ...]]:
    """Expansion states drawn in advance: every subset when there are few groups, else none
    open, each one alone with the groups around it, and all open."""
    if 2 ** len(groups) <= MAX_STATES:
        return [tuple(c) for k in range(len(groups) + 1) for c in itertools.combinations(groups, k)]
    parents = parents or {}

    def around(g: str) -> tuple[str, ...]:
        chain = [g]
        while parents.get(chain[-1]):
            chain.append(parents[chain[-1]])
        return tuple(x for x in groups if x in chain)

    return [(), *dict.fromkeys(around(g) for g in groups), tuple(groups)]


def graph_payload(data: dict[str, Any]) -> dict[str, Any]:
    """What a page's script needs to draw the graph: the nodes and one SVG per expansion state.

    Args:
        data: from :func:`keras_nnviz.architecture`.

    Returns:
        ``{"nodes", "groups", "svgs", "fallback"}``: ``svgs`` maps the open groups (ids joined
        by NUL, in ``groups`` order) to the drawing; ``fallback`` is the key drawn for a state
        that was not drawn in advance.

    Example:
        >>> payload = graph_payload(nv.architecture(model))
    """
    data = repeated_blocks(data)
    groups = [n["id"] for n in data["nodes"] if n["is_group"]]
    states = _states(groups, {n["id"]: n["group"] for n in data["nodes"] if n["is_group"]})
    # The script matches a clicked element's data-id / data-group (written through html.esc,
    # which replaces characters XML cannot carry) against these ids: give it the same text.
    nodes = [
        {**n, "id": xml_safe(n["id"]), "group": n["group"] and xml_safe(n["group"])}
        for n in data["nodes"]
    ]

    def key(shown: Sequence[str]) -> str:
        return "\u0000".join(xml_safe(g) for g in groups if g in shown)

    return {
        "nodes": nodes,
        "groups": [xml_safe(g) for g in groups],
        "svgs": {key(s): svg(data, s) for s in states},
        "fallback": key(groups) if tuple(groups) in states else "",
    }


class ArchitectureView:
    """An interactive architecture graph: one self-contained HTML page, offline.

    Click a nested model to open or close it; click a layer for its path, type, output shape and
    parameters. Displays itself in notebooks (sandboxed iframe); ``save("x.html")`` writes the
    page, ``save("x.svg")`` the static picture (nested models open).

    Attributes:
        data: the :func:`keras_nnviz.architecture` data.
        html: the page.
    """

    def __init__(self, data: dict[str, Any], html: str, static_svg: str, height: int):
        self.data = data
        self.html = html
        self.svg = static_svg
        self.height = height

    def save(self, path: str | Path) -> Path:
        """Write ``.html`` (default when there is no suffix) or ``.svg``."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".html")
        if path.suffix.lower() not in (".html", ".htm", ".svg"):
            raise InvalidArgumentError(
                f"ArchitectureView.save writes .html or .svg; received {path.name!r}."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        text = self.svg if path.suffix.lower() == ".svg" else self.html
        path.write_text(text, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return html_page.sandboxed_iframe(self.html, self.height, "keras_nnviz architecture")

    def __repr__(self) -> str:
        n = len(self.data["nodes"])
        return f"<ArchitectureView of {self.data['name']!r}: {n} layers; .save(path) or display>"


def architecture(model: Any, title: str | None = None) -> ArchitectureView:
    """An interactive, offline architecture graph of any Keras model.

    The layer DAG with output shapes and parameter counts; nested models (a transfer-learning
    base) as groups that open on a click; several inputs and outputs; a shared layer once, with
    an edge per call. Subclassed models, which have no graph, show their layers in order.

    Args:
        model: a built Keras model.
        title: page title (default: the model name).

    Returns:
        :class:`ArchitectureView` (``.save("graph.html")``, ``.save("graph.svg")``, displays in
        notebooks).

    Example:
        >>> nv.plot.architecture(model).save("architecture.html")
    """
    from ..core.architecture import architecture as read

    data = read(model)
    payload = graph_payload(data)
    title = title or f"{data['name']} — architecture"
    kind = "graph" if data["graph"] else "layers in order (a subclassed model has no graph)"
    body = (
        f"<h1>{html_page.esc(title)}</h1>"
        f'<p class="nv-sub">{len(data["nodes"])} layers · {data["params"]:,} parameters · '
        f"{html_page.esc(kind)} · click a nested model to open or close it, a layer for its "
        'details</p><div id="nv-wrap"><div id="nv-graph"></div>'
        '<div id="nv-info">Click a layer.</div></div>'
    )
    page = html_page.document(
        title=title,
        css=assets.text("architecture.css"),
        body=body,
        script=assets.text("graph_tools.js") + assets.text("architecture.js"),
        data=payload,
    )
    static = svg(data, payload["groups"])
    height = int(min(max(layout(data, ())["height"] + 120, 300), 1200))
    return ArchitectureView(data, page, static, height)
