"""The sections of a post-hoc report, one builder per section name.

Each builder takes the :class:`~keras_nnviz.report._context.ReportContext` and returns a
:class:`~keras_nnviz.report._page.Section`, or None when the section does not apply to the model.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from .. import graph
from . import _model
from ._context import ReportContext, activation_layers, embedding_layer
from ._page import Architecture, Figure, Frame, Note, Section, Table


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


def _architecture(ctx: ReportContext) -> Section:
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
    graph = _model.architecture_data(ctx.model)
    if graph is not None:
        from ..plot.architecture import graph_payload

        blocks.insert(0, Architecture(graph_payload(graph)))
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


def _weights(ctx: ReportContext) -> Section | None:
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


def _activations(ctx: ReportContext) -> Section | None:
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
    layers = activation_layers(ctx)
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


def _attribution(ctx: ReportContext) -> Section | None:
    from .. import plot
    from ..core.model import token_input
    from .posthoc import explain_view

    k = min(8, ctx.n)
    if not (
        ctx.is_image or ctx.is_sequence or ctx.kind == "text" or token_input(ctx.model) is not None
    ):
        return None
    view = explain_view(ctx.model, ctx.sample(k))
    where = view.layer or "the input"
    facts = [("method", view.method), ("layer", where), ("target", "predicted class")]
    if view.kind == "image":
        pred = ctx.pred[:k] if ctx.pred is not None else None
        name = plot_name(view.method)
        fig = plot.attribution_grid(
            ctx.first[:k],
            view.maps,
            labels=pred,
            class_names=ctx.class_names,
            method=name,
            title=f"{name} at {where} for the predicted class",
        )
        return Section(
            name, [_figure(fig, name, "where the model looks for the predicted class")], facts=facts
        )
    if view.kind == "tokens":
        tokens = list(ctx.tokens[0]) if ctx.tokens is not None else None
        name = plot_name(view.method)
        scores = view.maps[0]
        if tokens is not None and len(tokens) == len(scores):
            fig = plot.attention_text(scores, tokens, title=f"{name} per token, sample 0")
        else:
            fig = plot.sequence_attribution(scores, title=f"{name} per position, sample 0")
        return Section(
            name,
            [_figure(fig, "token attribution", f"{name} at {where} for the predicted class")],
            facts=facts,
        )
    return None


def plot_name(method: str) -> str:
    """A method's name as pictures title it."""
    names = {"grad_cam": "Grad-CAM", "grad_cam_plus_plus": "Grad-CAM++", "layer_cam": "Layer-CAM"}
    names.update({"score_cam": "Score-CAM", "cam": "CAM"})
    return names.get(method, method.replace("_", " "))


def _attention(ctx: ReportContext) -> Section | None:
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


def _featureviz(ctx: ReportContext) -> Section | None:
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


def _embedding(ctx: ReportContext) -> Section | None:
    from .. import plot
    from ..activations import get_activations
    from ..projection import project

    path = embedding_layer(ctx)
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


BUILDERS: dict[str, Callable[[ReportContext], Section | None]] = {
    "architecture": _architecture,
    "weights": _weights,
    "activations": _activations,
    "attribution": _attribution,
    "attention": _attention,
    "featureviz": _featureviz,
    "embedding": _embedding,
}


# The names users pass as ``sections=``, in page order.
SECTIONS = tuple(BUILDERS)
