"""Reach any layer of any Keras 3 model.

Layer *paths* name layers through nested models: ``"base/block1_conv"`` is the layer
``block1_conv`` of the nested model ``base``. :func:`forward` runs a model on real tensors while
letting hooks see (and replace) the call of any layer, including layers of nested models, where
``keras.Model(model.inputs, inner.output)`` fails with "not connected to inputs". Functional and
Sequential graphs are walked node by node (nothing on the model is touched); layers no graph
reaches (sub-layers of custom layers, layers of subclassed models) are intercepted on the instance
while tracing and restored in a ``finally``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat
from ..errors import (
    AmbiguousLayerError,
    IncompatibleLayerError,
    LayerNotFoundError,
    UnsupportedModelError,
    close_matches,
    format_list,
)
from . import caches

__all__ = [
    "check_called",
    "check_model",
    "find_entry",
    "find_layer",
    "forward",
    "Hook",
    "last_spatial_layer",
    "layer_path",
    "layer_paths",
    "LayerEntry",
    "LayerRef",
    "list_layers",
    "merge_hooks",
    "output_shape",
    "pre_activation",
    "recording_hooks",
    "spatial_rank",
    "traced_shapes",
    "walk",
]

LayerRef = str | int | keras.layers.Layer
# A hook receives (layer, call, args, kwargs), must call ``call(*args, **kwargs)`` (possibly with
# changed arguments) and returns what the layer should return.
Hook = Callable[[keras.layers.Layer, Callable, tuple, dict], Any]


@dataclass(frozen=True)
class LayerEntry:
    """One layer of the model tree.

    Attributes:
        path: slash-separated names from the root model, e.g. ``"base/block1_conv"``.
        layer: the Keras layer object.
        in_graph: True when a chain of functional graphs reaches it from the root model, so it
            can be hooked without touching the instance.
        sublayer: True when it is a sub-layer tracked by a non-model layer (e.g. the
            ``MultiHeadAttention`` held by a custom ``TransformerBlock``).
    """

    path: str
    layer: keras.layers.Layer
    in_graph: bool
    sublayer: bool


def check_model(model: Any) -> None:
    """Raise unless ``model`` is a built Keras 3 layer or model.

    Args:
        model: what the user passed as a model.

    Raises:
        UnsupportedModelError: a tf.keras (Keras 2) model, another object, or an unbuilt model.

    Example:
        >>> check_model(model)  # before anything reads layer shapes
    """
    if not isinstance(model, keras.layers.Layer):
        raise UnsupportedModelError(
            f"Expected a Keras 3 model (keras.Model / keras.Sequential); received "
            f"{type(model).__module__}.{type(model).__name__}. tf.keras (Keras 2) models are not "
            "supported: load or rebuild the model with `import keras` (Keras 3)."
        )
    if not model.built:
        raise UnsupportedModelError(
            f"Model {model.name!r} is not built yet, so its layers have no shapes. Build it "
            "first: give it an Input (keras.Input(shape=...)), call model.build(input_shape) or "
            "call it once on data."
        )


def _children(layer: keras.layers.Layer) -> tuple[list[keras.layers.Layer], bool, bool]:
    """(children, reached_through_a_graph, are_sublayers) of one node of the layer tree."""
    graph = _compat.functional_graph(layer)
    if graph is not None:
        kids = [k for k in graph.layers if not isinstance(k, keras.layers.InputLayer)]
        return kids, True, False
    if isinstance(layer, keras.Model):
        return [k for k in layer.layers if not isinstance(k, keras.layers.InputLayer)], False, False
    return _compat.tracked_sublayers(layer), False, True


def walk(model: keras.Model, include_sublayers: bool = True) -> list[LayerEntry]:
    """Every layer under ``model`` as :class:`LayerEntry`, parents before children, graph order.

    Args:
        model: a built Keras model.
        include_sublayers: also descend into layers that are not models (custom layers holding
            other layers, ``Bidirectional``, ``MultiHeadAttention``'s projections, RNN cells).

    Returns:
        The entries in depth-first, topological order. The root model itself is not included.
    """
    check_model(model)
    entries: list[LayerEntry] = []
    seen: set[int] = set()

    def visit(node, prefix: str, node_in_graph: bool, node_is_sub: bool) -> None:
        kids, via_graph, are_sub = _children(node)
        if are_sub and not include_sublayers:
            return
        used: dict[str, int] = {}
        for kid in kids:
            if id(kid) in seen:
                continue  # a shared layer is listed once, at its first place
            seen.add(id(kid))
            name = kid.name
            used[name] = used.get(name, 0) + 1
            if used[name] > 1:  # sibling sub-layers may share a name; keep paths unique
                name = f"{name}#{used[name]}"
            path = f"{prefix}{name}"
            entry = LayerEntry(path, kid, node_in_graph and via_graph, node_is_sub or are_sub)
            entries.append(entry)
            visit(kid, path + "/", entry.in_graph, entry.sublayer)

    visit(model, "", _compat.functional_graph(model) is not None, False)
    for e in entries:  # output_shape of a layer without a graph node traces its root once
        _ROOT.setdefault(e.layer, weakref.ref(model))
    return entries


def list_layers(model: keras.Model, include_sublayers: bool = False) -> list[str]:
    """List the paths of all layers, descending into nested models, in topological order.

    Args:
        model: a built Keras model (Sequential, Functional or subclassed).
        include_sublayers: also list layers held inside non-model layers, e.g.
            ``"encoder_1/mha"`` for a ``MultiHeadAttention`` inside a custom block.

    Returns:
        Layer paths such as ``["conv1", "base/block1_conv", "head"]``. Input layers are omitted.

    Example:
        >>> nv.list_layers(model)
        ['base', 'base/block1_conv', 'base/block1_pool', 'gap', 'dense']
    """
    return [e.path for e in walk(model, include_sublayers=include_sublayers)]


def find_entry(
    model: keras.Model, ref: LayerRef, entries: list[LayerEntry] | None = None
) -> LayerEntry:
    """Resolve a layer reference to its :class:`LayerEntry` (see :func:`find_layer`).

    ``entries`` (from ``walk(model)``) may be passed to resolve many references with one walk.
    """
    if entries is None:
        entries = walk(model, include_sublayers=True)
    if isinstance(ref, keras.layers.Layer):
        for e in entries:
            if e.layer is ref:
                return e
        raise LayerNotFoundError(
            f"Layer object {ref.name!r} ({type(ref).__name__}) is not part of model "
            f"{model.name!r}. Pass a layer of this model, or its path from nv.list_layers(model)."
        )
    if isinstance(ref, bool) or not isinstance(ref, int | np.integer | str):
        raise LayerNotFoundError(
            f"A layer reference must be a path string, a plain name, an int index or a Layer; "
            f"received {type(ref).__name__} {ref!r}."
        )
    if isinstance(ref, int | np.integer):
        top = [e for e in entries if not e.sublayer]
        if -len(top) <= int(ref) < len(top):
            return top[int(ref)]
        raise LayerNotFoundError(
            f"Layer index {int(ref)} is out of range: model {model.name!r} has {len(top)} layers "
            f"(valid indices {-len(top)} ... {len(top) - 1}, as in nv.list_layers(model))."
        )
    by_path = {e.path: e for e in entries}
    if ref in by_path:
        return by_path[ref]
    alias = _resolve_attribute_path(model, ref, entries)
    if alias is not None:
        return alias
    if "/" not in ref:
        named = [e for e in entries if e.layer.name == ref]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise AmbiguousLayerError(
                f"Layer name {ref!r} is used by {len(named)} layers in nested models: "
                f"{format_list(e.path for e in named)}. Pass the full path."
            )
    listed = [e.path for e in entries if not e.sublayer]
    hints = close_matches(ref, [e.path for e in entries])
    hint = f" Did you mean {format_list(hints)}?" if hints else ""
    raise LayerNotFoundError(
        f"No layer {ref!r} in model {model.name!r}.{hint} Available layer paths: "
        f"{format_list(listed)}. Call nv.list_layers(model) for all of them "
        "(include_sublayers=True adds layers inside custom layers)."
    )


def _resolve_attribute_path(model, ref: str, entries: list[LayerEntry]) -> LayerEntry | None:
    """Resolve paths whose segments are attribute names, e.g. ``"encoder_1/att"``."""
    by_id = {id(e.layer): e for e in entries}
    node: Any = model
    for segment in ref.split("/"):
        kids, _, _ = _children(node)
        match = next((k for k in kids if k.name == segment), None)
        if match is None:
            candidate = getattr(node, segment, None) if segment.isidentifier() else None
            match = candidate if any(candidate is k for k in kids) else None
        if match is None:
            return None
        node = match
    return by_id.get(id(node))


def find_layer(model: keras.Model, ref: LayerRef) -> keras.layers.Layer:
    """Find a layer by path, plain name, index or object.

    Args:
        model: a built Keras model.
        ref: a path (``"base/block1_conv"``), a plain name unique anywhere in the model tree
            (``"block1_conv"``), an int index into :func:`list_layers` (negative counts from the
            end), or a layer object of the model. Path segments may also be attribute names of a
            custom layer (``"encoder_1/att"``).

    Returns:
        The Keras layer.

    Raises:
        LayerNotFoundError: unknown reference; the message lists close matches and how to list
            every path. ``AmbiguousLayerError`` when a plain name exists in several places.

    Example:
        >>> nv.find_layer(model, "base/block1_conv")
        <Conv2D name=block1_conv, built=True>
    """
    return find_entry(model, ref).layer


def layer_path(model: keras.Model, ref: LayerRef) -> str:
    """The canonical path of a layer reference (see :func:`find_layer`)."""
    return find_entry(model, ref).path


def layer_paths(model: keras.Model, refs: Sequence[LayerRef]) -> list[str]:
    """Canonical paths of many references (one walk of the model), duplicates removed."""
    entries = walk(model, include_sublayers=True)
    return list(dict.fromkeys(find_entry(model, ref, entries).path for ref in refs))


# Layers no graph node describes (sub-layers of custom layers, layers of subclassed models) get
# their shapes from one traced call of the model they were walked from.
_ROOT = caches.per_model("model a layer was walked from")
_TRACED_MODELS = caches.per_model("traced layer shapes")


def output_shape(layer: keras.layers.Layer) -> tuple:
    """Shape (batch axis included, as None) of a layer's first output.

    Read from the layer's graph node; for a layer without one (a sub-layer of a custom layer, a
    layer of a subclassed model) from one traced call of the model it was found in
    (:func:`traced_shapes`); ``()`` when neither is known.
    """
    shapes = _compat.node_output_shapes(layer)
    if shapes:
        return shapes[0]
    try:
        shape = layer.output_shape if hasattr(layer, "output_shape") else layer.output.shape
        return tuple(shape)
    except (AttributeError, ValueError):
        pass
    root = _ROOT.get(layer)
    model = root() if root is not None else None
    if model is not None:
        return traced_shapes(model).get(layer, ())
    return ()


def _probe_inputs(model: keras.Model, length: int) -> list | None:
    """A one-sample zero batch for ``model`` (free axes other than the batch set to
    ``length``), a flat list as :func:`forward` takes it, or None when the inputs are unknown."""
    inputs = getattr(model, "inputs", None) if _compat.functional_graph(model) else None
    if inputs:
        specs = [(tuple(t.shape), keras.backend.standardize_dtype(t.dtype)) for t in inputs]
    else:
        specs = [(s, "float32") for s in _compat.build_input_shapes(model)][:1]
    if not specs:
        return None
    return [
        np.zeros([1] + [length if d is None else d for d in shape[1:]], dtype)
        for shape, dtype in specs
    ]


def traced_shapes(model: keras.Model, example: Sequence[Any] | None = None) -> dict:
    """``{layer: output shape}`` for every layer under ``model``, from one eager call on a
    one-sample zero batch (cached per model; a second call with other lengths marks the axes
    that follow a free input axis as None). Empty when the model's inputs are unknown (a
    subclassed model never called) or the call fails.

    ``example``: inputs (a flat list) whose first sample is traced, once, when the zero batch
    failed (a text tower taking only its position table's length: KerasHub SigLIP)."""
    found = _TRACED_MODELS.get(model)
    if found or (found is not None and example is None):
        return found
    if found is not None:  # the zero probe failed: one call on the caller's first sample
        shapes = _trace(model, [[np.asarray(a)[:1] for a in example]])
        _TRACED_MODELS[model] = shapes
        return shapes
    probes = []
    for length in (7, 9):
        probe = _probe_inputs(model, length)
        if probe is None:
            break
        probes.append(probe)
        if all(None not in s[1:] for s in _probe_specs(model)):
            break  # fixed sizes: one call tells everything
    shapes = _trace(model, probes)
    _TRACED_MODELS[model] = shapes
    return shapes


def _trace(model: keras.Model, probes: list[list]) -> dict:
    """``{layer: output shape}`` from eager calls on each probe batch; an axis whose size
    differs between the calls is None. Empty when the first call fails."""
    entries = walk(model, include_sublayers=True)
    layers = {e.path: e.layer for e in entries}
    runs = []
    for probe in probes:
        records: dict[str, Any] = {}
        try:
            with tf.init_scope():  # eager even when asked from inside a trace
                forward(
                    model,
                    probe if _compat.functional_graph(model) else probe[0],
                    recording_hooks(layers, records, first_tensor=True),
                )
        except Exception:  # noqa: BLE001 - a model that cannot run on zeros has no traced shapes
            break
        runs.append({p: tuple(t.shape) for p, t in records.items()})
    shapes: dict = {}
    if runs:
        for path, shape in runs[0].items():
            other = runs[-1].get(path, shape)
            dims = [None] + [a if a == b else None for a, b in zip(shape[1:], other[1:])]
            shapes[layers[path]] = tuple(dims)
    return shapes


def _probe_specs(model: keras.Model) -> list[tuple]:
    inputs = getattr(model, "inputs", None) if _compat.functional_graph(model) else None
    return [tuple(t.shape) for t in inputs] if inputs else _compat.build_input_shapes(model)


def spatial_rank(shape: Sequence) -> int:
    """Number of spatial axes of a channels-last feature shape (N, *spatial, C)."""
    return max(len(shape) - 2, 0)


def last_spatial_layer(model: keras.Model, rank: int | None = None) -> str:
    """Path of the last layer whose output has spatial extent (H, W > 1), for CAM methods.

    Args:
        model: a built Keras model.
        rank: number of spatial axes wanted (1 for sequences, 2 for images, 3 for volumes);
            default: the spatial rank of the model's first input.

    Returns:
        The layer path, which may lie inside a nested base model.

    Raises:
        IncompatibleLayerError: no layer has spatial output of that rank.
    """
    if rank is None:
        shapes = [tuple(t.shape) for t in getattr(model, "inputs", None) or []]
        rank = spatial_rank(shapes[0]) if shapes else 2
    candidates = []
    if rank < 1:
        rank = 2  # vector inputs may be reshaped to images inside the model
    for entry in walk(model, include_sublayers=False):
        if _compat.functional_graph(entry.layer) is not None:
            continue  # a nested model's output is its last layer's; name the layer itself
        shape = output_shape(entry.layer)
        if len(shape) == rank + 2 and all(d is None or d > 1 for d in shape[1:-1]):
            candidates.append(entry.path)
    if not candidates:
        raise IncompatibleLayerError(
            f"Model {model.name!r} has no layer with {rank}-D spatial output (shape "
            f"(batch, {', '.join(['size'] * rank)}, channels) with sizes > 1), so a class "
            "activation map has nowhere to live. Pass layer= explicitly, or use a gradient "
            "method such as nv.saliency."
        )
    return candidates[-1]


def pre_activation(tensor: tf.Tensor) -> tuple[tf.Tensor, str | None]:
    """Find the logits behind a softmax/sigmoid output, inside a traced ``tf.function``.

    Walks back through the graph op that produced ``tensor`` (skipping casts and identities, as
    mixed precision inserts them) and returns the Softmax/Sigmoid op's input. No layer is
    cloned or changed: the logits tensor already exists in the traced graph.

    Args:
        tensor: a symbolic graph tensor (inside ``tf.function``).

    Returns:
        ``(logits, "softmax" | "sigmoid")`` when found, else ``(tensor, None)``.
    """
    op = getattr(tensor, "op", None)
    hops = 0
    while op is not None and hops < 8:
        if op.type in ("Softmax", "Sigmoid"):
            return op.inputs[0], op.type.lower()
        if op.type in ("Identity", "Cast", "IdentityN") and op.inputs:
            op = op.inputs[0].op
            hops += 1
            continue
        break
    return tensor, None


# ----------------------------------------------------------------------------------------------
# Running the model with hooks


_INTERCEPT_LOCK = threading.RLock()


def recording_hooks(
    layers: dict[str, keras.layers.Layer],
    records: dict[str, Any],
    first_tensor: bool = False,
) -> dict[int, tuple[keras.layers.Layer, Hook]]:
    """Hooks for :func:`forward` that store each layer's output in ``records[path]``.

    A shared layer called several times keeps its first call's output.

    Args:
        layers: ``{path: layer}`` to record.
        records: filled while the model runs.
        first_tensor: store only the first tensor of a layer's (possibly nested) output.

    Returns:
        ``{id(layer): (layer, hook)}`` to pass to :func:`forward`.
    """

    def make_hook(path):
        def hook(layer, call, args, kwargs):
            out = call(*args, **kwargs)
            records.setdefault(path, tf.nest.flatten(out)[0] if first_tensor else out)
            return out

        return hook

    return {id(layer): (layer, make_hook(path)) for path, layer in layers.items()}


def merge_hooks(outer: dict, inner: dict) -> dict:
    """Combine two hook sets; on a layer in both, ``inner``'s hook runs inside ``outer``'s, so it
    sees the layer's own output (e.g. before a guided-backprop identity replaces it)."""
    merged = dict(outer)
    for key, (layer, hook) in inner.items():
        if key in merged:
            first = merged[key][1]
            merged[key] = (
                layer,
                lambda lyr, call, a, k, _o=first, _e=hook: _o(
                    lyr, lambda *aa, **kk: _e(lyr, call, aa, kk), a, k
                ),
            )
        else:
            merged[key] = (layer, hook)
    return merged


def check_called(model: keras.Model, paths: Sequence[str], records: dict) -> None:
    """The one "layer not called" error: raise when a layer in ``paths`` left no record.

    Raises:
        IncompatibleLayerError: naming the layers and why they have nothing to show.
    """
    missing = [p for p in paths if p not in records]
    if missing:
        raise IncompatibleLayerError(
            f"Layers {format_list(missing)} were not called when running model {model.name!r} "
            "on its inputs (they do not lie between the inputs and the outputs that were "
            "computed), so they have nothing to record, score or attribute. Pick layers from "
            "nv.list_layers(model) that the model uses."
        )


def forward(model: keras.Model, inputs: Any, hooks: dict[int, tuple[keras.layers.Layer, Hook]]):
    """Run ``model`` in inference mode while ``hooks`` observe or wrap chosen layer calls.

    Meant to be called inside a ``tf.function`` (it is cheap to trace and leaves no state).

    Args:
        model: a built Keras model.
        inputs: inputs as the model accepts them (a flat list in ``model.inputs`` order for
            functional models, see :mod:`keras_nnviz.core.inputs`).
        hooks: ``{id(layer): (layer, hook)}``.

    Returns:
        The model outputs.
    """
    if not hooks:
        return _call_root(model, inputs, {}, set())
    entries = walk(model, include_sublayers=True)
    parent_of: dict[int, LayerEntry | None] = {}
    by_path = {e.path: e for e in entries}
    for e in entries:
        parent_path = e.path.rsplit("/", 1)[0] if "/" in e.path else None
        parent_of[id(e.layer)] = by_path.get(parent_path) if parent_path else None
    in_graph_hooks, intercepted = {}, {}
    for key, (layer, hook) in hooks.items():
        entry = next((e for e in entries if e.layer is layer), None)
        if entry is None:
            raise LayerNotFoundError(f"Layer {layer.name!r} is not part of model {model.name!r}.")
        (in_graph_hooks if entry.in_graph else intercepted)[key] = (layer, hook)
    # Nested models on the way to a hooked layer are run node by node too.
    descend: set[int] = set()
    for layer, _ in in_graph_hooks.values():
        parent = parent_of[id(layer)]
        while parent is not None:
            descend.add(id(parent.layer))
            parent = parent_of[id(parent.layer)]
    return _call_root(model, inputs, in_graph_hooks, descend, intercepted)


def _call_root(model, inputs, in_graph_hooks, descend, intercepted=None):
    intercepted = intercepted or {}

    def wrap(op, default_call):
        call = default_call
        if id(op) in descend:
            call = _nested_runner(op, wrap)
        if id(op) in in_graph_hooks:
            layer, hook = in_graph_hooks[id(op)]
            inner = call
            return lambda *a, **k: hook(layer, inner, a, k)
        return call

    with _INTERCEPT_LOCK:
        undo = []
        try:
            for layer, hook in intercepted.values():
                original = layer.call
                undo.append(
                    _compat.intercept_call(
                        layer, lambda *a, _l=layer, _h=hook, _o=original, **k: _h(_l, _o, a, k)
                    )
                )
            graph = _compat.functional_graph(model)
            if graph is not None:
                return _compat.run_graph(graph, inputs, wrap, flat=True)
            return model(inputs, training=False)
        finally:
            for fn in reversed(undo):
                fn()


def _nested_runner(op, wrap):
    graph = _compat.functional_graph(op)

    def run(*args, **kwargs):
        x = args[0] if args else kwargs.get("inputs")
        return _compat.run_graph(graph, x, wrap)

    return run
