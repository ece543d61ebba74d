"""The HTML report: one self-contained ``report.html`` (no CDN, no network, works from file://).

Two ways in:

* :func:`build_report` — from a training run's ``log_dir`` (the callbacks' manifest): a part per
  model with its training curves, its layer table and a section per callback, where one epoch
  slider moves every picture; :class:`keras_nnviz.callbacks.Report` calls it at train end.
* :func:`model_report` — from a saved or trained model and some data, without training logs:
  architecture, weights, activations, Grad-CAM (CNNs), attention (transformers), feature
  visualization, embedding; what ``nnviz report`` writes.

Example:
    >>> model.fit(x, y, epochs=5, callbacks=[nv.callbacks.ActivationMaps("logs", x=x[:1]),
    ...                                      nv.callbacks.Report("logs")])   # logs/report.html
    >>> nv.report.build_report("logs", out="elsewhere/report.html")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import validation
from .._version import __version__
from ..errors import InvalidArgumentError
from ..io import utc_now
from ..io.paths import check_output_path
from . import _manifest
from ._embedding import Embedding
from ._model import layer_rows, model_facts
from ._page import (
    Architecture,
    Figure,
    Frame,
    LiveStatus,
    Note,
    Page,
    Part,
    Section,
    Table,
    render,
    write_page,
)
from .posthoc import SECTIONS, model_report

__all__ = [
    "SECTIONS",
    "Architecture",
    "Embedding",
    "Figure",
    "Frame",
    "LiveStatus",
    "Note",
    "Page",
    "Part",
    "Section",
    "Table",
    "build_report",
    "layer_rows",
    "report_page",
    "model_facts",
    "model_report",
    "render",
    "write_page",
]


def _as_models(model: Any) -> dict[str, Any]:
    if model is None:
        return {}
    models = model if isinstance(model, Sequence) else [model]
    out = {}
    for m in models:
        if not hasattr(m, "layers") or not hasattr(m, "name"):
            raise InvalidArgumentError(
                f"model must be a Keras model or a list of them; received {type(m).__name__}."
            )
        out[m.name] = m
    return out


def report_page(
    log_dir: str | os.PathLike,
    model: Any = None,
    out_dir: str | os.PathLike | None = None,
    title: str | None = None,
    embed: bool = True,
    *,
    live: LiveStatus | None = None,
) -> Page:
    """The report of ``log_dir`` as a :class:`Page` (not written): see :func:`build_report`.

    Args:
        log_dir: the callbacks' folder.
        model: the trained model(s), for the layer table and the graph.
        out_dir: the folder the page will be read from (relative links start there); default
            ``log_dir``.
        title: page title.
        embed: pictures as data URIs (True) or relative links.
        live: the banner and reloading of a page written while training runs.

    Returns:
        The page, for :func:`render` or :func:`write_page`.
    """
    log_dir = Path(validation.path_like("log_dir", log_dir))
    manifest = _manifest.read(log_dir)
    out_dir = Path(out_dir) if out_dir is not None else log_dir
    parts = _manifest.parts(
        manifest, log_dir, out_dir.resolve(), embed=embed, models=_as_models(model)
    )
    names = ", ".join(p.name for p in parts) or "no model yet"
    page = Page(
        title or f"keras_nnviz report · {names}",
        parts,
        subtitle="Training-time visualizations. Drag the epoch slider (or press play) to watch "
        "the model learn; each picture also has its own slider.",
        facts=[
            ("log_dir", str(log_dir)),
            ("last written", str(manifest.get("updated", "?"))),
            ("report built", utc_now()),
            ("keras_nnviz", __version__),
        ],
        banners=_manifest.diverged(manifest),
        live=live,
    )
    if not parts:
        page.parts.append(
            Part(
                "no model",
                sections=[
                    Section("Nothing yet", [Note("The manifest lists no callback run yet.")])
                ],
            )
        )
    return page


def build_report(
    log_dir: str | os.PathLike,
    model: Any = None,
    out: str | os.PathLike | None = None,
    title: str | None = None,
    embed: bool = True,
    *,
    live: LiveStatus | None = None,
) -> Path:
    """Write the HTML report of a training run from its ``log_dir``.

    Args:
        log_dir: the folder given to the ``nv.callbacks.*`` callbacks (it holds
            ``nnviz_manifest.json``).
        model: the trained model (or a list of models), for the layer table and the
            architecture graph when no :class:`~keras_nnviz.callbacks.Report` callback recorded
            them; matched by name.
        out: the HTML file; default ``log_dir/report.html``.
        title: page title; default "keras_nnviz report · <model names>".
        embed: put every picture into the page as a data URI (one file that can be mailed or
            moved); False links the PNG files under ``log_dir`` by relative URLs (smaller page,
            must stay beside them).
        live: a :class:`LiveStatus` for a page written while training runs ("training in
            progress — epoch k of N", reloads itself); None for the final page.

    Returns:
        The path of the written file.

    Raises:
        InvalidArgumentError: no manifest in ``log_dir``, or ``out`` not writable or a file the
            library writes itself (``nnviz_manifest.json``, its journal, a lock).
        ManifestError: the manifest's structure is unusable (damaged entries are left out
            with a warning instead).

    Example:
        >>> path = nv.report.build_report("logs", model=model)
    """
    log_dir = Path(validation.path_like("log_dir", log_dir))
    out_path = (
        log_dir / "report.html"
        if out is None
        else check_output_path(validation.path_like("out", out))  # never over the manifest
    )
    page = report_page(log_dir, model, out_path.resolve().parent, title, embed, live=live)
    return write_page(page, out_path)
