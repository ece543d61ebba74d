"""A report of a trained model without training logs: what ``nnviz report`` writes.

Sections are chosen by what the model has: every model gets its architecture, weights,
activations and an embedding of its penultimate layer; image models get Grad-CAM and feature
visualizations of their classes; sequence models get token saliency; models with attention
layers get their attention maps (and, for image transformers, attention rollout on the image).
A section that does not apply is left out; one that fails is reported in the page, not raised,
so one exotic layer cannot cost the whole report. Mistakes in the arguments still raise first.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import graph
from .._version import __version__
from ..errors import InvalidArgumentError, InvalidInputError
from ..inputs import prepare
from ..sinks import utc_now
from . import _model
from ._page import Figure, Frame, Note, Page, Part, Section, Table

SECTIONS = (
    "architecture",
    "weights",
    "activations",
    "attribution",
    "attention",
    "featureviz",
    "embedding",
)


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(fig: Any, title: str, caption: str = "", dpi: int = 90) -> Figure:
    """A matplotlib figure as a still report figure (PNG inline)."""
    from PIL import Image

    from ..plot import to_png

    png = to_png(fig, dpi=dpi)
    width, height = Image.open(io.BytesIO(png)).size
    return Figure(title, [Frame(_png_uri(png), None, "", caption)], caption, width, height, False)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if v != v else f"{v:.4g}"
    return str(v)


class _Context:
    """What every section needs: the model, validated data, predictions and choices."""

    def __init__(self, model, x, y, class_names, tokens, out_dir, featureviz_steps, runs_model):
        self.model = model
        # Sections that only read the model (architecture, weights) must not run it: a model
        # that cannot run should still get its layer table.
        self.runs_model = runs_model
        self.x = x
        self.y = y
        self.class_names = class_names
        self.tokens = tokens
        self.out_dir = out_dir
        self.featureviz_steps = featureviz_steps
        self.first = x[0] if isinstance(x, list) else x
        self.n = len(self.first)
        inputs = getattr(model, "inputs", None) or []
        self.input_shape = tuple(inputs[0].shape) if inputs else tuple(self.first.shape)
        channels = self.input_shape[-1] if len(self.input_shape) == 4 else None
        self.is_image = len(inputs) == 1 and channels in (1, 3, 4)
        self.is_sequence = len(inputs) == 1 and len(self.input_shape) == 3
        self.outputs = len(getattr(model, "outputs", None) or [1])
        self._outputs: tuple[np.ndarray | None, np.ndarray | None] | None = None

    def _predictions(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self._outputs is None:  # one forward pass, on first use
            self._outputs = _predict(self)
        return self._outputs

    @property
    def probs(self) -> np.ndarray | None:
        """Class scores ``(N, classes)`` of a single-output classifier, else None."""
        return self._predictions()[0]

    @property
    def pred(self) -> np.ndarray | None:
        """Predicted classes ``(N,)``, or None."""
        return self._predictions()[1]

    def sample(self, k: int) -> Any:
        return [a[:k] for a in self.x] if isinstance(self.x, list) else self.x[:k]

    def names(self, labels: Sequence[int] | None) -> list[str] | None:
        if labels is None:
            return None
        cn = self.class_names
        return [cn[int(i)] if cn and 0 <= int(i) < len(cn) else str(int(i)) for i in labels]


def _output_path(model: keras.Model) -> str | None:
    entries = [e for e in graph.walk(model, include_sublayers=False)]
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or not entries:
        return None
    return entries[-1].path


def _predict(ctx: _Context) -> tuple[np.ndarray | None, np.ndarray | None]:
    from ..activations import get_activations

    path = _output_path(ctx.model)
    if path is None:
        return None, None
    out = np.asarray(get_activations(ctx.model, ctx.x, [path], batch_size=64)[path])
    if out.ndim == 2 and out.shape[1] > 1:
        return out, out.argmax(axis=1)
    return None, None


def _architecture(ctx: _Context) -> Section:
    facts = _model.model_facts(ctx.model)
    rows = _model.layer_rows(ctx.model, include_sublayers=True)
    blocks: list[Any] = [
        Table(
            _model.LAYER_HEADER,
            rows,
            caption="Layer paths reach inside nested models and custom layers (use them as "
            "layer=); params of a container include its children.",
            numeric=(3,),
        )
    ]
    summary = [("samples", str(ctx.n))]
    pred = None
    if ctx.runs_model:
        try:
            pred = ctx.pred
        except Exception as exc:  # noqa: BLE001 - the table is still worth showing
            blocks.insert(
                0, Note(f"Running the model failed: {type(exc).__name__}: {exc}", "warning")
            )
    if pred is not None and ctx.y is not None and len(ctx.y) == ctx.n:
        acc = float(np.mean(pred == np.asarray(ctx.y).astype(int)))
        summary.append(("accuracy on these samples", f"{acc:.3f}"))
    return Section("Architecture", blocks, facts=_model.facts_list(facts) + summary)


def _weights(ctx: _Context) -> Section | None:
    from .. import plot
    from ..weights import conv_filters, get_weights, weight_stats

    rows = weight_stats(ctx.model)
    if not rows:
        return None
    table = Table(
        ["weight", "shape", "mean", "std", "min", "max", "zeros", "spectral norm", "stable rank"],
        [
            [
                r["name"],
                str(tuple(r["shape"])),
                *(_fmt(r[k]) for k in ("mean", "std", "min", "max")),
                f"{r['zeros']:.1%}",
                _fmt(r["spectral_norm"]),
                _fmt(r["stable_rank"]),
            ]
            for r in rows
        ],
        caption="Stable rank = ‖W‖²_F / ‖W‖²_2: how many directions a weight matrix really uses.",
        numeric=(2, 3, 4, 5, 6, 7, 8),
    )
    blocks: list[Any] = [table]
    weights = get_weights(ctx.model, trainable_only=True)
    kernels = {k: v for k, v in weights.items() if v.ndim >= 2} or weights
    shown = dict(list(kernels.items())[:12])
    more = f" (first 12 of {len(kernels)})" if len(kernels) > 12 else ""
    blocks.append(
        _figure(plot.histograms(shown, title=f"Weight distributions{more}"), "histograms")
    )
    conv = [
        e.path
        for e in graph.walk(ctx.model)
        if isinstance(e.layer, keras.layers.Conv2D | keras.layers.Conv1D)
    ]
    if conv:
        blocks.append(
            _figure(
                plot.filter_grid(conv_filters(ctx.model, conv[0]), title=f"{conv[0]} filters"),
                f"{conv[0]} filters",
            )
        )
    return Section("Weights", blocks)


def _activation_layers(ctx: _Context) -> list[str]:
    entries = [
        e
        for e in graph.walk(ctx.model, include_sublayers=False)
        if not isinstance(e.layer, keras.Model)
    ]
    want = 4 if ctx.is_image else 3
    chosen = [e.path for e in entries if len(graph.output_shape(e.layer)) == 4]
    if not chosen:
        chosen = [e.path for e in entries if len(graph.output_shape(e.layer)) == 3]
    if len(chosen) > want:
        idx = np.linspace(0, len(chosen) - 1, want).round().astype(int)
        chosen = [chosen[i] for i in sorted(set(idx))]
    return chosen


def _activations(ctx: _Context) -> Section | None:
    from .. import plot
    from ..activations import get_activations

    blocks: list[Any] = []
    if ctx.is_image:
        k = min(8, ctx.n)
        titles = ctx.names(
            ctx.y[:k] if ctx.y is not None else ctx.pred[:k] if ctx.pred is not None else None
        )
        blocks.append(
            _figure(
                plot.image_grid(ctx.first[:k], titles=titles, ncols=k, title="Input samples"),
                "input samples",
                "labels" if ctx.y is not None else "predicted classes",
            )
        )
    layers = _activation_layers(ctx)
    if layers:
        acts = get_activations(ctx.model, ctx.sample(1), layers)
        tokens = list(ctx.tokens[0]) if ctx.tokens is not None else None
        for path in layers:
            a = np.asarray(acts[path])
            if a.ndim == 4:
                fig = plot.feature_maps(a, title=f"{path} · sample 0")
            else:  # (T, C): one heatmap, positions across, channels down
                fig = plot.rnn_states(a[0], tokens=tokens, title=f"{path} · sample 0")
                fig.axes[0].set_xlabel("position")
                fig.axes[0].set_ylabel("channel")
                fig.axes[1].set_ylabel("activation")
            blocks.append(_figure(fig, path, f"output {tuple(a.shape[1:])} of sample 0"))
    return Section("Activations", blocks) if blocks else None


def _attribution(ctx: _Context) -> Section | None:
    from .. import plot
    from ..attribution import grad_cam, saliency

    k = min(8, ctx.n)
    if ctx.is_image:
        layer = graph.last_spatial_layer(ctx.model)
        maps = grad_cam(ctx.model, ctx.first[:k], progress=False)
        pred = ctx.pred[:k] if ctx.pred is not None else None
        fig = plot.attribution_grid(
            ctx.first[:k],
            maps,
            labels=pred,
            class_names=ctx.class_names,
            method="Grad-CAM",
            title=f"Grad-CAM at {layer} for the predicted class",
        )
        return Section(
            "Grad-CAM",
            [_figure(fig, "Grad-CAM", "where the last convolution looks for the predicted class")],
            facts=[("layer", layer), ("target", "predicted class")],
        )
    if ctx.is_sequence:
        maps = np.asarray(saliency(ctx.model, ctx.first[:k], progress=False))
        tokens = ctx.tokens[0] if ctx.tokens is not None else None
        fig = plot.sequence_attribution(
            maps[0], labels=tokens, title="Saliency of sample 0 per position (predicted class)"
        )
        return Section(
            "Saliency",
            [_figure(fig, "token saliency", "gradient magnitude of the predicted class's score")],
        )
    return None


def _attention(ctx: _Context) -> Section | None:
    from .. import plot
    from ..attention import attention_rollout, get_attention, patch_attention_map
    from ..attention.capture import attention_layers

    if not attention_layers(ctx.model):
        return None
    att = get_attention(ctx.model, ctx.sample(1))
    tokens = list(ctx.tokens[0]) if ctx.tokens is not None else None
    blocks: list[Any] = [
        _figure(
            plot.attention_model_view(att, tokens=tokens, title="Attention of sample 0"),
            "every layer × head",
            "rows: layers; columns: heads; queries down, keys across",
            dpi=120,
        )
    ]
    html_path = ctx.out_dir / "attention.html"
    plot.attention_html(att, tokens=tokens, title="Attention of sample 0").save(html_path)
    blocks.append(Note("Interactive view (pick layer, head, query; offline):", href=html_path.name))
    if ctx.is_image:
        k = min(8, ctx.n)
        rollout = attention_rollout(ctx.model, ctx.first[:k])
        maps = patch_attention_map(rollout, ctx.first.shape[1:3])
        titles = ctx.names(ctx.pred[:k]) if ctx.pred is not None else None
        blocks.append(
            _figure(
                plot.rollout_overlay(
                    ctx.first[:k], maps, titles=titles, title="Attention rollout (CLS) on the image"
                ),
                "attention rollout",
            )
        )
    return Section("Attention", blocks, facts=[("layers", ", ".join(att))])


def _featureviz(ctx: _Context) -> Section | None:
    from .. import objectives, plot
    from ..featureviz import maximize_activation

    if not ctx.is_image or ctx.probs is None:
        return None
    classes = min(ctx.probs.shape[1], 10)
    objs = [objectives.class_logit(k) for k in range(classes)]
    hi = 255.0 if float(np.max(ctx.first)) > 1.5 else 1.0
    images = maximize_activation(
        ctx.model, objs, steps=ctx.featureviz_steps, progress=False, value_range=(0.0, hi)
    ).images
    titles = ctx.names(range(classes))
    fig = plot.optimized_images(images, titles=titles, title="Inputs that maximize each class")
    return Section(
        "Feature visualization",
        [
            _figure(
                fig,
                "class logits",
                "activation maximization (Fourier parameterization, "
                "decorrelated colour, jitter/scale/rotate)",
            )
        ],
        facts=[("steps", str(ctx.featureviz_steps)), ("classes", f"{classes}")],
    )


def _embedding_layer(ctx: _Context) -> str | None:
    entries = [e for e in graph.walk(ctx.model, include_sublayers=False)]
    candidates = [
        e.path
        for e in entries[:-1]
        if len(graph.output_shape(e.layer)) == 2
        and not isinstance(e.layer, keras.Model)
        and (graph.output_shape(e.layer)[1] or 0) > 2
    ]
    return candidates[-1] if candidates else None


def _embedding(ctx: _Context) -> Section | None:
    from .. import plot
    from ..activations import get_activations
    from ..projection import project

    path = _embedding_layer(ctx)
    if path is None or ctx.n < 5:
        return None
    feats = np.asarray(get_activations(ctx.model, ctx.x, [path], batch_size=64)[path])
    xy = project(feats.reshape(len(feats), -1), method="pca")
    labels = ctx.y if ctx.y is not None else ctx.pred
    what = "labels" if ctx.y is not None else "predicted classes" if ctx.pred is not None else ""
    fig = plot.embedding(
        xy, labels=labels, class_names=ctx.class_names, title=f"{path}, PCA of {ctx.n} samples"
    )
    return Section(
        "Embedding",
        [_figure(fig, path, f"coloured by {what}" if what else "")],
        facts=[("layer", path), ("method", "PCA")],
    )


BUILDERS: dict[str, Callable[[_Context], Section | None]] = {
    "architecture": _architecture,
    "weights": _weights,
    "activations": _activations,
    "attribution": _attribution,
    "attention": _attention,
    "featureviz": _featureviz,
    "embedding": _embedding,
}


def _as_arrays(model: keras.Model, x: Any, max_samples: int) -> Any:
    data = prepare(model, x, batch_size=max_samples)
    if data.arrays is None:
        batches = []
        for batch in data.batches(max_samples):
            batches.append(batch if isinstance(batch, list) else [batch])
            break
        arrays = [np.asarray(t) for t in batches[0]] if batches else []
    else:
        arrays = [np.asarray(a)[:max_samples] for a in data.arrays]
    if not arrays or len(arrays[0]) == 0:
        raise InvalidInputError("x holds no samples; pass at least one.")
    return arrays[0] if len(arrays) == 1 else arrays


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
    graph._check_model(model)
    arrays = _as_arrays(model, x, int(max_samples))
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
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = _Context(
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
            section = Section(name, [Note(f"Failed: {type(exc).__name__}: {exc}", "warning")])
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
    from . import write_page

    return write_page(page, out)
