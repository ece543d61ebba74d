"""A report of a trained model without training logs: what ``nnviz report`` writes.

Sections are chosen by what the model has: every model gets its architecture, weights,
activations and an embedding of its penultimate layer; image models get Grad-CAM and feature
visualizations of their classes; sequence models get token saliency; models with attention
layers get their attention maps (and, for image transformers, attention rollout on the image);
image-text models get where each image matches its text.
A section that does not apply is left out; one that fails is reported in the page, not raised,
so one exotic layer cannot cost the whole report. Mistakes in the arguments still raise first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import validation
from .._version import __version__
from ..core import graph
from ..errors import InvalidArgumentError, InvalidInputError
from ..io import utc_now
from ..io.paths import check_output_path
from ._context import ReportContext, as_arrays
from ._page import Note, Page, Part, Section, write_page
from ._sections import BUILDERS, SECTIONS, short_error
from .views import View, explain_view

__all__ = ["SECTIONS", "View", "explain_view", "model_report"]


def model_report(
    model: keras.Model,
    x: Any,
    y: Any = None,
    out: str | os.PathLike = "report.html",
    class_names: Sequence[str] | None = None,
    tokens: Any = None,
    sections: Sequence[str] | None = None,
    title: str | None = None,
    max_samples: int = 512,
    featureviz_steps: int = 128,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write an HTML report of a trained model on some data (no training logs needed).

    Args:
        model: a built Keras model (it is only run, never changed).
        x: samples (numpy, list of arrays for multi-input models, or a ``tf.data.Dataset``);
            at most ``max_samples`` are used.
        y: integer labels of ``x`` (optional): accuracy and embedding colours.
        out: the HTML file to write (an ``attention.html`` goes beside it for attention models).
        class_names: names of the output classes.
        tokens: ``(N, T)`` token strings (or one list) for sequence models' plots.
        sections: a subset of :data:`SECTIONS`; default all that apply.
        title: page title.
        max_samples: samples used.
        featureviz_steps: optimization steps per class image.
        progress: called with a short line as each section finishes (the CLI prints them).

    Returns:
        The path of the written report.

    Raises:
        InvalidInputError: ``x`` does not fit the model.
        InvalidArgumentError: an unknown section name.

    Example:
        >>> nv.report.model_report(model, data.test.x, data.test.y, out="report.html",
        ...                        class_names=data.class_names)
    """
    chosen = list(SECTIONS if sections is None else sections)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise InvalidArgumentError(
            f"Unknown report section(s) {unknown}; choose from {list(SECTIONS)}."
        )
    graph.check_model(model)
    arrays = as_arrays(model, x, int(max_samples))
    n = len(arrays[0] if isinstance(arrays, list) else arrays)
    labels = None
    if y is not None:
        labels = np.asarray(y).reshape(-1)[:n]
        if len(labels) != n:
            raise InvalidInputError(
                f"y has {len(np.asarray(y).reshape(-1))} labels for {n} samples; give one per "
                "sample."
            )
    tok = None
    if tokens is not None:
        tok = np.asarray(tokens, dtype=object)
        tok = tok[None] if tok.ndim == 1 else tok
    # Refused before the work, not after: never over the manifest, its journal or a lock.
    out = check_output_path(validation.path_like("out", out))
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = ReportContext(
        model,
        arrays,
        labels,
        list(class_names) if class_names is not None else None,
        tok,
        out.parent,
        int(featureviz_steps),
        runs_model=any(s not in ("architecture", "weights") for s in chosen),
    )
    built: list[Section] = []
    failures: list[str] = []
    for name in chosen:
        start = time.perf_counter()
        try:
            section = BUILDERS[name](ctx)
        except Exception as exc:  # noqa: BLE001 - one failing view must not cost the report
            section = Section(name, [Note(f"Failed: {short_error(exc)}", "warning")])
            failures.append(name)
        if section is not None:
            built.append(section)
        if progress is not None:
            state = (
                "skipped (does not apply)"
                if section is None
                else "FAILED (see the report)"
                if name in failures
                else "done"
            )
            progress(f"{name:<13s} {state} ({time.perf_counter() - start:.1f} s)")
    part = Part(model.name, sections=built)
    page = Page(
        title or f"keras_nnviz report · {model.name}",
        [part],
        subtitle="A trained model on the given data: what it is, what its weights hold, what its "
        "layers see and where it looks.",
        facts=[("samples", str(ctx.n)), ("report built", utc_now()), ("keras_nnviz", __version__)],
    )
    return write_page(page, out)
