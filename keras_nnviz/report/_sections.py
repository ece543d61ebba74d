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

from ..core import graph, targets
from ..errors import InvalidInputError
from . import _model
from ._context import ReportContext, activation_layers, embedding_layer
from ._embedding import from_points
from ._page import Architecture, Figure, Frame, Note, Section, Table
from .views import explain_view


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(fig: Any, title: str, caption: str = "", dpi: int = 90, tag: str = "") -> Figure:
    """A matplotlib figure as a still report figure (PNG inline); ``tag``: the layer path it
    shows, so a click on that layer in the architecture graph shows it too."""
    from PIL import Image

    from ..plot import to_png

    png = to_png(fig, dpi=dpi)
    width, height = Image.open(io.BytesIO(png)).size
    frames = [Frame(_png_uri(png), None, "", caption)]
    return Figure(title, frames, caption, width, height, pixelated=False, tag=tag)


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

        weights = _model.weight_panel(ctx.model)
        blocks.insert(0, Architecture(graph_payload(graph), over_training=False, weights=weights))
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
                tag=conv[0],
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
        sample = ctx.sample(1)
        acts = get_activations(ctx.model, sample, layers)
        tokens = list(ctx.tokens[0]) if ctx.tokens is not None else None
        for path in layers:
            try:
                blocks.append(_activation_figure(ctx, path, acts[path], sample, tokens))
            except Exception as exc:  # noqa: BLE001 - one odd layer must not cost the others
                blocks.append(Note(f"{path}: not drawn ({short_error(exc)})", "warning"))
    return Section("Activations", blocks) if blocks else None


def _activation_figure(
    ctx: ReportContext, path: str, value: Any, sample: Any, tokens: list | None
) -> Figure:
    """One layer's output on sample 0: feature maps, a positions × channels heatmap, the hidden
    states of a recurrent layer (also with ``return_sequences=False``) or a strip of units."""
    from .. import plot
    from ..activations import get_rnn_states
    from ..core.model import is_recurrent

    title = f"{path} · sample 0"
    if is_recurrent(graph.find_layer(ctx.model, path)):
        # The states at every step, as the ActivationMaps callback shows them: a GRU with
        # return_sequences=False outputs only its last state, which has no time axis.
        states = get_rnn_states(ctx.model, sample, path)[0]
        fig = plot.rnn_states(states, tokens=tokens, title=title)
        what = f"hidden states ({states.shape[0]} steps × {states.shape[1]} units) of sample 0"
        return _figure(fig, path, what, tag=path)
    extra = ""
    if isinstance(value, list | tuple):  # DeiT, DINOv3, T5 blocks return (hidden, extras...)
        extra = f"; the first of the {len(value)} tensors the layer returns"
        value = value[0]
    a = np.asarray(value)
    if a.ndim == 4:
        fig = plot.feature_maps(a, title=title)
    elif a.ndim in (2, 3):  # (T, C): positions across, channels down; (C,): one column
        fig = plot.rnn_states(a[0] if a.ndim == 3 else a[0][None, :], tokens=tokens, title=title)
        fig.axes[0].set_xlabel("position" if a.ndim == 3 else "")
        fig.axes[0].set_ylabel("channel" if a.ndim == 3 else "unit")
        fig.axes[1].set_ylabel("activation")
    else:
        raise InvalidInputError(f"an output of shape {a.shape} has no activation picture")
    return _figure(fig, path, f"output {tuple(a.shape[1:])} of sample 0{extra}", tag=path)


def short_error(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, at most ``limit`` characters: a note in a page,
    not a traceback (TensorFlow's messages run to pages)."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _attribution(ctx: ReportContext) -> Section | None:
    from .. import plot
    from ..attribution import registry
    from ..core.model import default_attribution, is_text_model

    k = min(8, ctx.n)
    default = registry.get(default_attribution(ctx.model)[0])
    cam = ctx.kind in ("multi", "unknown") and default.kind == "cam"
    if not (
        ctx.is_image
        or ctx.is_sequence
        or is_text_model(ctx.model)
        or cam  # image + tabular, or a subclassed CNN: a CAM as for any CNN
    ):
        return None
    notes: list[Any] = []
    output, facts = None, []
    if ctx.outputs > 1:
        # The report has no output to ask about: explain the first one and say so.
        output = 0
        names = targets.output_names(ctx.model)  # the name the explanation resolves
        label = f"0 ({names[0]!r})" if names else "0"
        notes.append(
            Note(
                f"The model has {ctx.outputs} outputs; these maps explain output {label} "
                "(nv.explain(..., output=) explains another)."
            )
        )
        facts.append(("output", label))
    view = explain_view(ctx.model, ctx.sample(k), output=output)
    name = registry.get(view.method).title
    where = view.layer or "the input"
    facts = [("method", view.method), ("layer", where), ("target", "predicted class"), *facts]
    if view.kind == "image":
        pred = ctx.pred[:k] if ctx.pred is not None else None
        images = ctx.x[view.input] if isinstance(ctx.x, list) else ctx.x
        titles = None
        if pred is not None and ctx.y is not None and len(ctx.y) == ctx.n:
            # The true class beside the prediction: a map of a wrong prediction reads differently.
            true = np.asarray(ctx.y)[:k]
            titles = [
                f"true {t} · pred {p}" + ("" if a == b else " ✗")
                for t, p, a, b in zip(ctx.names(true), ctx.names(pred), true, pred, strict=True)
            ]
        fig = plot.attribution_grid(
            images[:k],
            view.maps,
            labels=pred,
            titles=titles,
            class_names=ctx.class_names,
            method=name,
            title=f"{name} at {where} for the predicted class",
        )
        figure = _figure(
            fig, name, "where the model looks for the predicted class", tag=view.layer or ""
        )
        return Section(name, [*notes, figure], facts=facts)
    if view.kind == "tokens":
        tokens = list(ctx.tokens[0]) if ctx.tokens is not None else None
        scores = view.maps[0]
        why = "for the predicted class"
        if tokens is not None and len(tokens) == len(scores):
            fig = plot.attention_text(scores, tokens, title=f"{name} per token, sample 0")
        else:
            fig = plot.sequence_attribution(scores, title=f"{name} per position, sample 0")
        return Section(
            name,
            [*notes, _figure(fig, "token attribution", f"{name} at {where} {why}")],
            facts=facts,
        )
    return None


def _attention(ctx: ReportContext) -> Section | None:
    from .. import plot
    from ..attention import attention_rollout, get_attention, patch_attention_map
    from ..attention.capture import attention_layers
    from ..attention.maps import has_cls_token

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
    from ..attention.neurons import neuron_layers, query_key
    from ..plot.neuron_view import neuron_view

    if neuron_layers(ctx.model):
        neurons = ctx.out_dir / "attention_neurons.html"
        neuron_view(query_key(ctx.model, ctx.sample(1)), tokens=tokens).save(neurons)
        blocks.append(Note("Neuron view (query and key vectors of a head):", href=neurons.name))
    if ctx.is_image:
        k = min(8, ctx.n)
        rollout = attention_rollout(ctx.model, ctx.first[:k])
        size = ctx.first.shape[1:3]
        tokens_in = rollout.shape[-1]
        # Patch-only models (no CLS token) get the mean over all queries.
        query = "cls" if has_cls_token(tokens_in, size) else "mean"
        if query == "mean":
            blocks.append(
                Note(
                    f"No CLS token in front of the patches (the {tokens_in} tokens are all "
                    "patches): the rollout shows the mean over all query tokens."
                )
            )
        maps = patch_attention_map(rollout, size, query=query)
        titles = ctx.names(ctx.pred[:k]) if ctx.pred is not None else None
        what = f"Attention rollout ({'CLS' if query == 'cls' else 'mean query'}) on the image"
        blocks.append(
            _figure(
                plot.rollout_overlay(ctx.first[:k], maps, titles=titles, title=what),
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
    from ..activations import get_activations
    from ..projection import project

    path = embedding_layer(ctx)
    if path is None or ctx.n < 5:
        return None
    feats = np.asarray(get_activations(ctx.model, ctx.x, [path], batch_size=64)[path])
    xy = project(feats.reshape(len(feats), -1), method="pca")
    block = from_points(
        path,
        xy,
        labels=ctx.y if ctx.y is not None and len(ctx.y) == ctx.n else None,
        preds=ctx.pred,
        class_names=ctx.class_names,
        images=ctx.first if ctx.is_image else None,
        tokens=ctx.tokens,
        caption=f"PCA of {ctx.n} samples ({feats.reshape(len(feats), -1).shape[1]} dims): drag "
        "to pan, wheel to zoom, hover a point for its sample",
        tag=path,
    )
    return Section("Embedding", [block], facts=[("layer", path), ("method", "PCA")])


def _crossmodal(ctx: ReportContext) -> Section | None:
    """An image-text model (one image input, one token-id input): where each image matches its
    text (Grad-CAM at the image tower) and which tokens made the score."""
    from .. import plot
    from ..core.model import token_inputs
    from ..crossmodal import image_text_map, text_image_attribution

    inputs = getattr(ctx.model, "inputs", None) or []
    images = [i for i, t in enumerate(inputs) if len(t.shape) == 4]
    tokens = token_inputs(ctx.model)
    if len(images) != 1 or len(tokens) != 1 or not isinstance(ctx.x, list):
        return None
    k = min(8, ctx.n)
    pixels, ids = ctx.x[images[0]][:k], ctx.x[tokens[0]][:k]
    maps = image_text_map(ctx.model, pixels, ids, batch_size=k)
    words = None
    if ctx.tokens is not None and len(ctx.tokens) >= k:
        words = [[str(t) for t in row] for row in ctx.tokens[:k]]
    texts = [" ".join(w) for w in words] if words else [f"text {i}" for i in range(k)]
    blocks: list[Any] = [
        _figure(
            plot.image_text_maps(pixels, maps, texts, title="Where each image matches its text"),
            "image-text maps",
            "Grad-CAM of each pair's match score at the image tower's last positional layer",
        )
    ]
    scores = text_image_attribution(ctx.model, pixels[:1], ids[:1])[0]
    shown = words[0] if words and len(words[0]) == len(scores) else [str(t) for t in ids[0]]
    fig = plot.attention_text(scores, shown, title="Integrated gradients per token, pair 0")
    blocks.append(_figure(fig, "token attribution", "which tokens of text 0 made its score"))
    facts = [("pairs", str(k)), ("method", "grad_cam / integrated_gradients")]
    return Section("Image-text match", blocks, facts=facts)


BUILDERS: dict[str, Callable[[ReportContext], Section | None]] = {
    "architecture": _architecture,
    "weights": _weights,
    "activations": _activations,
    "attribution": _attribution,
    "attention": _attention,
    "featureviz": _featureviz,
    "embedding": _embedding,
    "crossmodal": _crossmodal,
}


# The names users pass as ``sections=``, in page order.
SECTIONS = tuple(BUILDERS)
