"""What kind of model this is, and which layers a method uses when none is given.

One answer for the whole package: the functions, callbacks, report and CLI all ask this module,
so they agree about one model (which layers an activation view shows, where Grad-CAM lives,
which layer token attributions are taken at, whether the input is an image).

The layer tree itself (paths through nested models, sub-layers of custom layers) is
:mod:`keras_nnviz.core.graph`; this module reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from .. import _compat
from ..errors import IncompatibleLayerError, UnsupportedModelError
from . import graph
from .towers import downstream_of_input

__all__ = [
    "activation_name",
    "DEFAULT_ACTIVATION_LAYERS",
    "default_activation_layers",
    "default_attribution",
    "default_cam_layer",
    "embedding_layer",
    "feature_layer",
    "image_layout",
    "input_info",
    "InputInfo",
    "inputs_channels_first",
    "is_recurrent",
    "is_text_model",
    "KINDS",
    "layer_channels_first",
    "ModelBound",
    "nonlinear_layers",
    "padding_mask_input",
    "patch_layer",
    "token_grid",
    "token_input",
    "token_inputs",
    "TokenGrid",
]

KINDS = ("image", "volume", "sequence", "text", "tabular", "multi", "unknown")


class ModelBound:
    """Base of the objects cached per model (compiled passes, explainers): the model, held
    weakly so that a cache entry never keeps a deleted model alive."""

    #: What the error calls the object whose model is gone.
    _kind = "object"
    _model_ref: Callable[[], keras.Model | None]

    @property
    def model(self) -> keras.Model:
        model = self._model_ref()
        if model is None:
            raise UnsupportedModelError(f"The model of this {self._kind} no longer exists.")
        return model


@dataclass(frozen=True)
class InputInfo:
    """What a model takes.

    Attributes:
        kind: ``"image"`` (one float input ``(N, H, W, 1|3|4)``), ``"volume"`` (``(N, D, H, W,
            C)``), ``"sequence"`` (one float input ``(N, T, F)``), ``"text"`` (integer token ids
            ``(N, T)``), ``"tabular"`` (``(N, F)`` floats), ``"multi"`` (several inputs) or
            ``"unknown"`` (a subclassed model called on nothing yet).
        shapes: each input's shape, batch axis as None.
        dtypes: each input's dtype name.
    """

    kind: str
    shapes: tuple[tuple, ...]
    dtypes: tuple[str, ...]

    @property
    def is_image(self) -> bool:
        return self.kind == "image"

    @property
    def is_sequence(self) -> bool:
        return self.kind in ("sequence", "text")


def input_info(model: keras.Model) -> InputInfo:
    """Classify the model's inputs (see :class:`InputInfo`).

    Args:
        model: a built Keras model.

    Returns:
        The :class:`InputInfo`.

    Example:
        >>> nv.core.model.input_info(model).kind
        'image'
    """
    graph.walk(model, include_sublayers=False)  # validates: a built Keras 3 model
    inputs = getattr(model, "inputs", None) or []
    shapes = tuple(tuple(t.shape) for t in inputs)
    dtypes = tuple(keras.backend.standardize_dtype(t.dtype) for t in inputs)
    if not shapes:
        return InputInfo("unknown", shapes, dtypes)
    if len(shapes) > 1:
        return InputInfo("multi", shapes, dtypes)
    shape, dtype = shapes[0], dtypes[0]
    integer = "int" in dtype
    if integer and len(shape) == 2:
        kind = "text"
    elif len(shape) == 4 and shape[-1] in (1, 3, 4):
        kind = "image"
    elif len(shape) == 5:
        kind = "volume"
    elif len(shape) == 3:
        kind = "sequence"
    elif len(shape) == 2:
        kind = "tabular"
    else:
        kind = "unknown"
    return InputInfo(kind, shapes, dtypes)


# Layers whose ``data_format`` says nothing about a feature map's layout (they only reorder or
# flatten whatever they get).
_LAYOUT_BLIND = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Permute)


def _states_layout(layer: keras.layers.Layer) -> bool:
    fmt = getattr(layer, "data_format", None)
    return fmt in ("channels_first", "channels_last") and not isinstance(layer, _LAYOUT_BLIND)


def image_layout(model: keras.Model) -> tuple[str, int | None]:
    """The layout of the model's feature maps: ``(data_format, rank)``.

    Read from the first layer (model order, sub-layers included) that states a ``data_format``
    and keeps spatial axes: a convolution, pooling, up-sampling, padding or cropping layer. It
    is ``"channels_first"`` when it was built so (``data_format="channels_first"``, or
    ``keras.config.image_data_format()`` was ``"channels_first"`` when it was built). ``rank``
    is that layer's output rank (4 for ``Conv2D``): inputs of that rank are laid out the same
    way. A model with no such layer: ``("channels_last", None)``.

    Example:
        >>> nv.core.model.image_layout(model)
        ('channels_first', 4)
    """
    for e in graph.walk(model, include_sublayers=True):
        if _states_layout(e.layer):
            rank = len(graph.output_shape(e.layer))
            if rank >= 3:
                return e.layer.data_format, rank
    return "channels_last", None


def inputs_channels_first(model: keras.Model) -> list[bool]:
    """Per model input (one entry for a subclassed model): True when its channel axis is 1.

    An input is channels-first when the model's :func:`image_layout` is and the input has that
    layout's rank (a ``(N, 3, H, W)`` image of a ``Conv2D(data_format="channels_first")``
    model; its ``(N, F)`` side inputs are not).
    """
    fmt, rank = image_layout(model)
    inputs = getattr(model, "inputs", None) or []
    shapes = [tuple(t.shape) for t in inputs] or _compat.build_input_shapes(model) or [()]
    return [fmt == "channels_first" and len(s) == rank for s in shapes]


def layer_channels_first(model: keras.Model, layer: keras.layers.Layer) -> bool:
    """True when ``layer``'s output has its channels on axis 1.

    A layer that states a ``data_format`` (a convolution, pooling ...) answers for itself; an
    ``Embedding`` is channels-last; any other layer (an activation, batch normalization, an
    ``Add``) follows the model's :func:`image_layout` when its output has that layout's rank.
    """
    if _states_layout(layer):
        return layer.data_format == "channels_first"
    if isinstance(layer, keras.layers.Embedding):
        return False
    fmt, rank = image_layout(model)
    return fmt == "channels_first" and len(graph.output_shape(layer)) == rank


def _plain_layers(model: keras.Model) -> list[graph.LayerEntry]:
    """Top-level and nested-model layers, nested models themselves left out (a nested model's
    output is its last layer's: name the layer itself)."""
    return [
        e
        for e in graph.walk(model, include_sublayers=False)
        if not isinstance(e.layer, keras.Model)
    ]


def is_recurrent(layer: keras.layers.Layer) -> bool:
    """True for ``keras.layers.RNN`` (SimpleRNN, GRU, LSTM ...) and ``Bidirectional``."""
    return isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional)


def _evenly(paths: list[str], limit: int | None) -> list[str]:
    """At most ``limit`` of ``paths``, evenly spaced, the first and the last kept."""
    if limit is None or len(paths) <= limit:
        return paths
    idx = np.linspace(0, len(paths) - 1, limit).round().astype(int)
    return [paths[i] for i in sorted(set(idx))]


DEFAULT_ACTIVATION_LAYERS = 4


def default_activation_layers(
    model: keras.Model, limit: int | None = DEFAULT_ACTIVATION_LAYERS
) -> list[str]:
    """The layers an activation view shows when none are named.

    Layers whose output keeps the input's spatial or time axes (feature maps ``(N, H, W, C)``,
    sequences ``(N, T, F)``) and recurrent layers; for a model with neither (an MLP), every layer.
    Feature maps of the input's own rank are preferred (an image model shows its 2-D maps, not the
    1-D ones of a head). At most ``limit``, evenly spaced from the first to the last.

    Args:
        model: a built Keras model.
        limit: how many at most (None: all).

    Returns:
        Layer paths in model order.

    Example:
        >>> nv.core.model.default_activation_layers(cnn)
        ['conv1', 'conv2', 'base/block2_conv', 'base/block3_conv']
    """
    entries = _plain_layers(model)
    info = input_info(model)
    by_rank: dict[int, list[str]] = {}
    for e in entries:
        rank = len(graph.output_shape(e.layer))
        if is_recurrent(e.layer):
            rank = max(rank, 3)
        if rank >= 3:
            by_rank.setdefault(rank, []).append(e.path)
    own_rank = len(info.shapes[0]) if info.kind in ("image", "volume", "sequence") else None
    if own_rank in by_rank:
        chosen = by_rank[own_rank]
    elif by_rank:
        chosen = by_rank[max(by_rank)]
    else:
        chosen = [e.path for e in entries]
    return _evenly(chosen, limit)


_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Resizing, keras.layers.UpSampling2D)


def _dense_prediction_head(model: keras.Model, last: str) -> int | None:
    """Classes of a segmenter's ``(N, H, W, classes)`` output (a KerasHub ``ImageSegmenter``,
    or a last spatial layer ending in softmax/sigmoid; not a backbone's feature map), else None.
    """
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1:
        return None
    shape = tuple(outputs[0].shape)
    if len(shape) != 4 or not all(d is None or d > 1 for d in shape[1:3]):
        return None
    segmenter = any("Segmenter" in c.__name__ for c in type(model).__mro__)
    if not segmenter:
        segmenter = activation_name(graph.find_layer(model, last)) in ("softmax", "sigmoid")
    return shape[-1] if segmenter else None


def default_cam_layer(model: keras.Model) -> str:
    """The layer class activation maps live on.

    - CNNs: the last layer with spatial output.
    - Dense-prediction models (segmenters such as SegFormer, DeepLabV3: the output is a
      ``(N, H, W, classes)`` map): the last spatial feature layer before the head: the trailing
      layers with ``classes`` channels (the output convolution, the final resize) and the
      resizes and dropouts between them and the features are skipped.
    - Image transformers without a spatial layer: their tokens (:func:`token_grid`: the last
      attention block's input on its grid; for Swin the last stage's merged grid; prefix
      tokens such as CLS, distillation and registers dropped).

    Raises:
        IncompatibleLayerError: no layer has spatial output (see
            :func:`keras_nnviz.core.graph.last_spatial_layer`) and no patch tokens.
    """
    try:
        last = graph.last_spatial_layer(model)
    except IncompatibleLayerError:
        tokens = token_grid(model)
        if tokens is None:
            raise
        return tokens.layer
    classes = _dense_prediction_head(model, last)
    if classes is None:
        return last
    entries = graph.walk(model, include_sublayers=False)
    entries = [e for e in entries if _compat.functional_graph(e.layer) is None]
    index = next(i for i, e in enumerate(entries) if e.path == last)
    head = True
    for e in reversed(entries[: index + 1]):
        shape = graph.output_shape(e.layer)
        if len(shape) != 4 or not all(d is None or d > 1 for d in shape[1:3]):
            continue
        if head and shape[-1] == classes:
            continue
        head = False
        if isinstance(e.layer, _PASS_THROUGH):
            continue
        return e.path
    return last


def embedding_layer(model: keras.Model) -> str | None:
    """Path of the model's token embedding: the first ``keras.layers.Embedding`` in model order
    (sub-layers of custom layers included, e.g. KerasHub's ``token_embedding``), or None.

    Token attributions of a text model are taken at this layer's output. A model of several
    towers (CLIP, SigLIP: images and token ids) gets the embedding of the tower its token ids
    flow into, not the first one in model order (the vision tower's position embedding).
    """
    entries = [
        e
        for e in graph.walk(model, include_sublayers=True)
        if isinstance(e.layer, keras.layers.Embedding)
    ]
    if not entries:
        return None
    found = token_inputs(model)
    if len(found) == 1 and len(getattr(model, "inputs", None) or []) > 1:
        downstream = downstream_of_input(model, found[0])
        inside = [e for e in entries if e.path.split("/")[0] in downstream]
        if inside:
            return inside[0].path
    return entries[0].path


def feature_layer(model: keras.Model) -> str | None:
    """The penultimate representation: the last flat layer (``(N, F)``, ``F > 2``) before the
    output layer, the default of embedding projections; None when there is none."""
    entries = graph.walk(model, include_sublayers=False)
    candidates = [
        e.path
        for e in entries[:-1]
        if not isinstance(e.layer, keras.Model)
        and len(graph.output_shape(e.layer)) == 2
        and (graph.output_shape(e.layer)[1] or 0) > 2
    ]
    return candidates[-1] if candidates else None


def nonlinear_layers(model: keras.Model, kinds: Sequence[str] | None = None) -> list[str]:
    """Layers ending in a nonlinearity (``"relu"``, ``"tanh"`` ...; ``kinds`` filters), the
    default of the dead-unit and activation-statistics diagnostics.

    Sub-layers of custom layers count (a block holding a ``Dense(activation="relu")``), the
    block itself does not; the cells of recurrent layers do not count (they run once per time
    step inside the layer's loop, where no single output can be recorded; the recurrent layer
    itself is listed)."""
    entries = graph.walk(model, include_sublayers=True)
    parents = {e.path.rsplit("/", 1)[0] for e in entries if "/" in e.path}
    paths: list[str] = []
    loops: list[str] = []
    for e in entries:
        if isinstance(e.layer, keras.Model) or any(e.path.startswith(p) for p in loops):
            continue
        if is_recurrent(e.layer):
            loops.append(e.path + "/")
        elif e.path in parents:
            # A block holding layers (KerasHub's TransformerEncoder has an ``activation``
            # setting): its output is not that activation's, its sub-layer's is.
            continue
        name = activation_name(e.layer)
        if name is not None and (kinds is None or name in kinds):
            paths.append(e.path)
    return paths


def activation_name(layer: keras.layers.Layer) -> str | None:
    """Name of the nonlinearity a layer ends with (``"relu"``, ``"tanh"`` ...), or None."""
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    if isinstance(layer, keras.layers.LeakyReLU):
        return "leaky_relu"
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return None if name == "linear" else name


def token_inputs(model: keras.Model) -> list[int]:
    """Indices in ``model.inputs`` of every input that may hold token ids: integer ``(N, T)``,
    not a padding mask, segment or type ids (KerasHub's names). An encoder-decoder model has
    two (encoder and decoder token ids)."""
    inputs = getattr(model, "inputs", None) or []
    return [
        i
        for i, t in enumerate(inputs)
        if len(t.shape) == 2
        and "int" in keras.backend.standardize_dtype(t.dtype)
        and not any(word in (t.name or "").lower() for word in ("mask", "segment", "type"))
    ]


def token_input(model: keras.Model) -> int | None:
    """Index in ``model.inputs`` of the integer token ids ``(N, T)`` of a text model: its one
    :func:`token_inputs` entry, when it has an :func:`embedding_layer` (KerasHub models also
    take a padding mask and segment ids), or None.

    The ids of this input are checked against that embedding's vocabulary
    (:func:`keras_nnviz.core.inputs.input_slots`)."""
    found = token_inputs(model)
    if len(found) == 1 and embedding_layer(model) is not None:
        return found[0]
    return None


def padding_mask_input(model: keras.Model) -> int | None:
    """Index in ``model.inputs`` of the ``(N, T)`` padding mask (KerasHub's ``padding_mask``):
    the positions a language model's target skips; None when there is none."""
    inputs = getattr(model, "inputs", None) or []
    for i, t in enumerate(inputs):
        if len(t.shape) == 2 and "padding_mask" in (t.name or ""):
            return i
    return None


def is_text_model(model: keras.Model) -> bool:
    """Whether the model reads text: its one input is integer ids ``(N, T)`` (:class:`InputInfo`
    kind ``"text"``), or it has a :func:`token_input` beside other inputs (KerasHub's padding
    mask and segment ids). Its attributions are per token, at :func:`embedding_layer`."""
    return input_info(model).kind == "text" or token_input(model) is not None


def patch_layer(model: keras.Model) -> str | None:
    """The patch embedding of an image transformer: the first layer after an image input whose
    output is a token sequence ``(N, T, C)`` (KerasHub ``ViTPatchingAndEmbedding``, or
    ``Conv2D`` + ``Reshape``); None for models with none."""
    if input_info(model).kind != "image":
        return None
    for e in _plain_layers(model):
        shape = graph.output_shape(e.layer)
        if len(shape) == 3 and shape[1] is not None and shape[1] > 1:
            return e.path
    return None


@dataclass(frozen=True)
class TokenGrid:
    """Where an image transformer's patch tokens are, and how they lie on the image.

    Attributes:
        layer: path of the token layer (output ``(N, T, C)``).
        grid: the layer's token grid ``(rows, cols)``: the patchifying convolution's output
            grid, or that grid merged by a power of 2 (Swin's later stages).
        prefix: tokens in front of the patches (CLS, distillation, register tokens):
            ``T - rows * cols``.
        patchify: path of that convolution.
        patches: the patchifying convolution's grid (the first layer's tokens).
    """

    layer: str
    grid: tuple[int, int]
    prefix: int
    patchify: str
    patches: tuple[int, int] = (0, 0)


def _grid_of(layer: keras.layers.Layer) -> tuple[int, int] | None:
    shape = graph.output_shape(layer)
    if not isinstance(layer, keras.layers.Conv2D) or len(shape) != 4:
        return None
    rows, cols = (shape[2], shape[3]) if layer.data_format == "channels_first" else shape[1:3]
    if rows is None or cols is None or rows * cols < 2:
        return None
    return int(rows), int(cols)


def _is_attention(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.MultiHeadAttention) or type(layer).__name__.endswith(
        "Attention"
    )


def token_grid(model: keras.Model, layer: graph.LayerRef | None = None) -> TokenGrid | None:
    """The patch grid of an image transformer's tokens (ViT, DeiT, DINOv2 ...), or None.

    The grid is found, not guessed from the token count: it is the output grid of the first
    ``Conv2D`` (sub-layers included) of an image model that is followed by token sequences
    ``(N, T, C)``; the prefix tokens (CLS, DeiT's distillation token, registers) are the ``T``
    tokens the grid does not hold. The default layer is the input of the last attention block:
    the sequence layer just before the last attention layer in model order (a pre-norm block's
    first normalisation, ``ln_1``), where class gradients still reach every patch token (after
    the last block only the CLS token feeds the head).

    Args:
        model: a built Keras model.
        layer: the token layer; default: as above.

    Returns:
        A :class:`TokenGrid`, or None (not an image model, no patchifying convolution, or the
        layer's tokens do not hold the grid).

    Example:
        >>> nv.core.model.token_grid(deit).prefix
        2
    """
    if input_info(model).kind != "image":
        return None
    entries = graph.walk(model, include_sublayers=True)
    found = next(((i, g) for i, e in enumerate(entries) if (g := _grid_of(e.layer))), None)
    if found is None:
        return None
    start, grid = found

    def holds_grid(e: graph.LayerEntry) -> bool:
        shape = graph.output_shape(e.layer)
        return len(shape) == 3 and shape[1] is not None and _on_grid(int(shape[1]), grid)

    if layer is not None:
        path = graph.layer_path(model, layer)
        entry = next((e for e in entries if e.path == path), None)
        if entry is None or not holds_grid(entry):
            return None
    else:
        attention = [i for i, e in enumerate(entries) if i > start and _is_attention(e.layer)]
        last = attention[-1] if attention else len(entries)
        inside = entries[last].path + "/" if attention else "\0"
        # the blocks holding the last attention layer are not its input
        before = [
            e
            for e in entries[start + 1 : last]
            if holds_grid(e) and not inside.startswith(e.path + "/")
        ]
        if not before:
            return None
        entry = before[-1]
    tokens = int(graph.output_shape(entry.layer)[1])
    own, prefix = _on_grid(tokens, grid)
    return TokenGrid(entry.path, own, prefix, entries[start].path, grid)


def _on_grid(tokens: int, grid: tuple[int, int]) -> tuple[tuple[int, int], int] | None:
    """How ``tokens`` tokens lie on the patch ``grid``: ``(grid, prefix)`` for the patches
    behind ``prefix`` extra tokens, or a grid merged by a power of 2 (Swin's patch merging,
    no prefix): ``((rows / f, cols / f), 0)``; None if neither."""
    patches = grid[0] * grid[1]
    if tokens >= patches:
        return grid, tokens - patches
    f = 2
    while grid[0] % f == 0 and grid[1] % f == 0:
        if (grid[0] // f) * (grid[1] // f) == tokens:
            return (grid[0] // f, grid[1] // f), 0
        f *= 2
    return None


def default_attribution(model: keras.Model) -> tuple[str, str | None]:
    """The attribution a report or CLI shows for this model: ``(method, layer)``.

    Image models with a spatial layer: Grad-CAM on :func:`default_cam_layer` (for an image
    transformer its patch tokens on the patch grid, :func:`token_grid`). Image transformers
    whose grid is not found (no patchifying ``Conv2D``): Grad-CAM on :func:`patch_layer` (one
    score per token; :func:`keras_nnviz.patch_attention_map` lays them on the image). Text
    models (also KerasHub's with a padding mask and segment ids): integrated gradients at the
    token embedding. Several inputs (image + tabular) or a subclassed model with a 2-D feature map:
    Grad-CAM on its last one. Anything else: saliency on the input.
    """
    info = input_info(model)
    if info.kind in ("image", "volume"):
        try:
            return "grad_cam", default_cam_layer(model)
        except IncompatibleLayerError:
            patches = patch_layer(model)
            return ("grad_cam", patches) if patches is not None else ("saliency", None)
    if is_text_model(model):
        layer = embedding_layer(model)
        if layer is not None:
            return "integrated_gradients", layer
    if info.kind in ("multi", "unknown"):
        # Image + tabular inputs, or a subclassed model (no symbolic inputs to classify): where a
        # 2-D feature map exists, Grad-CAM works on it as for any CNN.
        try:
            return "grad_cam", graph.last_spatial_layer(model, rank=2)
        except IncompatibleLayerError:
            pass
    return "saliency", None
