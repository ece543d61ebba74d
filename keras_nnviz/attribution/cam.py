"""Class activation maps: CAM, Grad-CAM, Grad-CAM++, Layer-CAM (Score-CAM: :mod:`.score_cam`).

One compiled function per (model, layer, target kind, options) runs the model once with a hook
on the chosen layer that watches its output on the gradient tape, so layers inside nested base
models and sub-layers of custom layers work (a Keras sub-model cannot reach them: "Graph
disconnected"). The map is computed, upsampled to each input of matching spatial rank
(bilinear ``tf.image.resize`` by default) and normalized inside the same function.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat
from ..core import graph, targets
from ..core.model import TokenGrid, token_grid
from ..errors import IncompatibleLayerError, InvalidArgumentError
from . import _engine as E
from . import _maps as M
from .registry import Maps, method, run

__all__ = [
    "CAM",
    "CamExplainer",
    "cam",
    "grad_cam",
    "grad_cam_plus_plus",
    "GradCAM",
    "GradCAMPlusPlus",
    "layer_cam",
    "LayerCAM",
]


class CamExplainer(E.Explainer):
    """Layer-based maps, upsampled to every input of the layer's spatial rank: one array for a
    single-input model, a list aligned to ``model.inputs`` (None where no map fits) otherwise;
    with ``upsample=None`` one array at the layer's resolution."""

    needs_layer = True
    uses_gradient = True

    def _options(self, *, upsample: str | None = "bilinear"):
        M.check_upsample(upsample)
        return {"upsample": upsample}, {}

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        if self.uses_gradient:
            grads, acts, indices, signs = self.gradients(flat, indices, signs)
            act, grad = acts[0], grads[0]
        else:
            _, act, indices, signs = self._activation(flat, indices, signs)
            act, grad = tf.cast(act, tf.float32), None
        act, grad = self._spatial(act), None if grad is None else self._spatial(grad)
        cam = tf.nn.relu(self._cam(act, grad, indices, signs, opts))
        return self._place(cam, flat, opts)

    def _cam(self, act, grads, indices, signs, opts) -> tf.Tensor:
        raise NotImplementedError

    def _token_grid(self) -> TokenGrid | None:
        """The patch grid when the layer holds an image transformer's tokens ``(N, T, C)``."""
        if len(graph.output_shape(self._layer)) != 3:
            return None
        return token_grid(self.model, self.layer_path)

    def _spatial(self, t: tf.Tensor) -> tf.Tensor:
        """The layer's output as ``(N, *spatial, C)``: channels last (every CAM weights and sums
        channels on the last axis), an image transformer's patch tokens on their grid (prefix
        tokens dropped)."""
        t = M.channels_last(t, self._layer_cf)
        tokens = self._token_grid()
        if tokens is None:
            return t
        patches = t[:, tokens.prefix :]
        return tf.reshape(patches, [-1, *tokens.grid, tf.shape(t)[-1]])

    def _place(self, cam: tf.Tensor, flat: list, opts: dict) -> list[tf.Tensor]:
        """Upsample to every input of the same spatial rank, then normalize per sample."""
        rank = cam.shape.rank  # batch + spatial axes
        sized = [
            (t, cf)
            for t, cf in zip(flat, self._input_layouts(flat))
            if t.shape.rank == rank + 1 and E.is_float(t)
        ]
        if opts["upsample"] is None or not sized:
            sized_maps = [cam]
        else:
            mode = opts["upsample"]
            sized_maps = [M.upsample(cam, M.spatial_size(t, cf), mode) for t, cf in sized]
        return [M.normalize_maps(m) if opts["normalize"] else m for m in sized_maps]

    def _assemble(self, maps, opts):
        rank = 4 if self._token_grid() is not None else len(graph.output_shape(self._layer))
        if self._slots is None or opts["upsample"] is None:
            return maps[0]
        fits = [len(s.shape) == rank and tf.as_dtype(s.dtype).is_floating for s in self._slots]
        return E.place(maps, fits) if any(fits) else maps[0]


def spatial_axes(t: tf.Tensor) -> list[int]:
    return M.spatial_axes(t)


class GradCAM(CamExplainer):
    """Grad-CAM (Selvaraju et al. 2017): channels weighted by their mean gradient.

    Example:
        >>> explainer = nv.GradCAM(model, layer="base/block3_conv")
        >>> maps = explainer(x, target=3)      # compiled on the first call, reused after
    """

    method = "grad_cam"

    def _cam(self, act, grads, indices, signs, opts):
        weights = tf.reduce_mean(grads, axis=spatial_axes(grads), keepdims=True)
        return tf.reduce_sum(act * weights, axis=-1)


class GradCAMPlusPlus(CamExplainer):
    """Grad-CAM++ (Chattopadhyay et al. 2018), with the closed-form alphas of the paper.

    The paper's ``exp(score)`` factor is a positive per-sample constant and is left out (it
    overflows float32 for large logits and cancels in the normalized map).
    """

    method = "grad_cam_plus_plus"

    def _cam(self, act, grads, indices, signs, opts):
        axes = spatial_axes(grads)
        g2, g3 = tf.square(grads), tf.pow(grads, 3)
        total = tf.reduce_sum(act, axis=axes, keepdims=True)
        denom = 2.0 * g2 + g3 * total
        alphas = g2 / tf.where(tf.equal(g2, 0.0), tf.ones_like(denom), denom)
        norm = tf.reduce_sum(alphas, axis=axes, keepdims=True)
        alphas = alphas / tf.where(tf.equal(norm, 0.0), tf.ones_like(norm), norm)
        weights = tf.reduce_sum(alphas * tf.nn.relu(grads), axis=axes, keepdims=True)
        return tf.reduce_sum(act * weights, axis=-1)


class LayerCAM(CamExplainer):
    """Layer-CAM (Jiang et al. 2021): positive gradients weight each location separately, so
    earlier, higher-resolution layers give sharp maps."""

    method = "layer_cam"

    def _cam(self, act, grads, indices, signs, opts):
        return tf.reduce_sum(act * tf.nn.relu(grads), axis=-1)


class CAM(CamExplainer):
    """CAM (Zhou et al. 2016) for ``layer -> global average pooling -> dense`` heads: the
    dense weights of the class weight the channels. Needs no gradient."""

    method = "cam"
    uses_gradient = False

    def _cam(self, act, grads, indices, signs, opts):
        model = self.model
        if self._spec.mode not in ("index", "predicted"):
            raise InvalidArgumentError(
                "CAM weights channels by the dense weights of one class, so target must be None, "
                "an int or one int per sample; use nv.grad_cam for score callables and "
                "objectives."
            )
        if not self._spec.logits:
            raise InvalidArgumentError(
                "CAM weights channels by the dense weights of a class logit; it has no "
                "probability form (logits=False). Use nv.grad_cam(..., logits=False)."
            )
        dense = _cam_head(model, self.layer_path, self._spec.output)
        kernel = tf.cast(graph.find_layer(model, dense).kernel, tf.float32)
        weights = tf.transpose(tf.gather(kernel, indices, axis=1))  # (N, C)
        shape = tf.concat([tf.shape(weights)[:1], tf.ones([act.shape.rank - 2], tf.int32), [-1]], 0)
        return tf.reduce_sum(act * tf.reshape(weights, shape), axis=-1) * _expand(signs, act)


def _expand(v: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.reshape(v, tf.concat([[-1], tf.ones([like.shape.rank - 2], tf.int32)], 0))


_SKIP = (keras.layers.Activation, keras.layers.Dropout, keras.layers.Softmax)
_GAP = (
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)


def _through_models(layer):
    """A nested model stands for the layer producing its output."""
    while _compat.functional_graph(layer) is not None:
        produced = [_compat.producing_layer(t) for t in layer.outputs]
        if len(produced) != 1 or produced[0] is None:
            return layer
        layer = produced[0]
    return layer


def _single_inbound(layer):
    found = _compat.inbound_layers(layer)
    return _through_models(found[0]) if len(found) == 1 else None


def _cam_head(model: keras.Model, layer_path: str, output: int) -> str:
    """Path of the dense layer of a ``layer -> GAP -> dense [-> softmax]`` head."""
    problem = (
        f"CAM needs the head {layer_path!r} -> global average pooling -> Dense (-> softmax) "
        f"for output {targets.output_names(model)[output]!r}"
    )
    fix = " Use nv.grad_cam, which equals CAM on such heads and works on any model."
    if _compat.functional_graph(model) is None:
        return _called_cam_head(model, layer_path, problem, fix)
    node = _through_models(_compat.producing_layer(model.outputs[output]))
    while isinstance(node, _SKIP):
        node = _single_inbound(node)
    if not isinstance(node, keras.layers.Dense):
        found = "nothing" if node is None else f"{type(node).__name__} {node.name!r}"
        raise IncompatibleLayerError(f"{problem}; the output comes from {found}.{fix}")
    dense = node
    node = _single_inbound(dense)
    while isinstance(node, keras.layers.Dropout):
        node = _single_inbound(node)
    if not isinstance(node, _GAP):
        found = "nothing" if node is None else f"{type(node).__name__} {node.name!r}"
        raise IncompatibleLayerError(f"{problem}; Dense {dense.name!r} is fed by {found}.{fix}")
    source = _single_inbound(node)
    if source is not graph.find_layer(model, layer_path):
        name = "nothing" if source is None else repr(source.name)
        raise IncompatibleLayerError(
            f"{problem}; the pooling is fed by {name}, not by the chosen layer. Pass "
            f"layer={name if source is not None else '...'}.{fix}"
        )
    return graph.layer_path(model, dense)


def _called_cam_head(model: keras.Model, layer_path: str, problem: str, fix: str) -> str:
    """The head of a subclassed model, which has no layer graph: the layers its call runs
    after ``layer_path`` must be global average pooling then one Dense (Dropout / activations
    between them allowed), and the Dense's output must equal Dense(GAP(layer output)) on a
    random input, so a head that only looks right (an extra op between them) is refused."""
    order = list(graph.traced_shapes(model))  # layers in the order one call ran them
    chosen = graph.find_layer(model, layer_path)
    after = order[order.index(chosen) + 1 :] if chosen in order else []
    skip = (keras.layers.Dropout, keras.layers.Activation, keras.layers.Softmax)
    steps = [layer for layer in after if not isinstance(layer, skip)]
    if len(steps) != 2 or not (
        isinstance(steps[0], _GAP) and isinstance(steps[1], keras.layers.Dense)
    ):
        found = ", ".join(f"{type(x).__name__} {x.name!r}" for x in steps[:4]) or "nothing"
        raise IncompatibleLayerError(
            f"{problem}; {type(model).__name__} {model.name!r} is subclassed and its call runs "
            f"{found} after {layer_path!r}.{fix}"
        )
    gap, dense = steps
    paths = {layer_path: chosen, "dense": dense}
    records: dict = {}
    shapes = _compat.build_input_shapes(model)
    if len(shapes) != 1:
        raise IncompatibleLayerError(
            f"{problem}; {type(model).__name__} {model.name!r} is subclassed with "
            f"{len(shapes)} inputs, so its head cannot be checked.{fix}"
        )
    rng = np.random.default_rng(0)
    x = rng.random((2, *[9 if d is None else d for d in shapes[0][1:]])).astype("float32")
    with tf.init_scope():  # eager, even when asked while a pass is being traced
        graph.forward(model, x, graph.recording_hooks(paths, records, first_tensor=True))
        logits = tf.matmul(gap(records[layer_path]), tf.cast(dense.kernel, tf.float32))
        if dense.use_bias:
            logits += tf.cast(dense.bias, tf.float32)
        expected = dense.activation(logits)
    if not np.allclose(np.asarray(expected), np.asarray(records["dense"]), rtol=1e-4, atol=1e-5):
        raise IncompatibleLayerError(
            f"{problem}; in {type(model).__name__} {model.name!r} Dense {dense.name!r} is not "
            f"fed by the pooled {layer_path!r} alone.{fix}"
        )
    return graph.layer_path(model, dense)


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)

# The arguments every CAM documents the same way.


@method(CAM, kind="cam", title="CAM")
def cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    layer: graph.LayerRef | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    negative: bool = False,
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    upsample: str | None = "bilinear",
) -> Maps:
    """CAM for ``layer -> global average pooling -> Dense`` heads (no gradients).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.
    ``layer`` is any layer with spatial output, by path (also inside a nested base model,
    ``"base/block3_conv"``, or a custom layer); default: the last spatial layer.

    Args:
        upsample: ``"bilinear"`` (``tf.image.resize``), ``"align_corners"`` (as
            ``scipy.ndimage.zoom(order=1)``, tf-keras-vis), ``"nearest"``, or None for one
            map at the layer's resolution.

    Returns:
        ``(N, *input_spatial)`` float32 maps.

    Raises:
        IncompatibleLayerError: the head is not ``layer -> GAP -> Dense``.

    Example:
        >>> maps = nv.cam(model, x[:8])
    """
    return run(CAM, locals())


@method(GradCAM, kind="cam", title="Grad-CAM", slug="gradcam")
def grad_cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    layer: graph.LayerRef | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    negative: bool = False,
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    upsample: str | None = "bilinear",
) -> Maps:
    """Grad-CAM: ``relu(sum_k mean(d score / d A_k) * A_k)`` at ``layer``, upsampled.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.
    ``layer`` is any layer with spatial output, by path (also inside a nested base model,
    ``"base/block3_conv"``, or a custom layer); default: the last spatial layer.

    Args:
        upsample: ``"bilinear"`` (``tf.image.resize``), ``"align_corners"`` (as
            ``scipy.ndimage.zoom(order=1)``, tf-keras-vis), ``"nearest"``, or None for one
            map at the layer's resolution.

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.grad_cam(model, x[:8], layer="base/block3_conv")
        >>> unit = nv.grad_cam(model, x[:8], nv.objectives.channel("conv3", 5), layer="conv2")
    """
    return run(GradCAM, locals())


@method(GradCAMPlusPlus, kind="cam", title="Grad-CAM++")
def grad_cam_plus_plus(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    layer: graph.LayerRef | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    negative: bool = False,
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    upsample: str | None = "bilinear",
) -> Maps:
    """Grad-CAM++: per-location alpha-weighted positive gradients (better for several
    instances of a class).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.
    ``layer`` is any layer with spatial output, by path (also inside a nested base model,
    ``"base/block3_conv"``, or a custom layer); default: the last spatial layer.

    Args:
        upsample: ``"bilinear"`` (``tf.image.resize``), ``"align_corners"`` (as
            ``scipy.ndimage.zoom(order=1)``, tf-keras-vis), ``"nearest"``, or None for one
            map at the layer's resolution.

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.grad_cam_plus_plus(model, x[:8])
    """
    return run(GradCAMPlusPlus, locals())


@method(LayerCAM, kind="cam", title="Layer-CAM")
def layer_cam(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    layer: graph.LayerRef | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    negative: bool = False,
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    upsample: str | None = "bilinear",
) -> Maps:
    """Layer-CAM: ``relu(sum_k relu(d score / d A_k) * A_k)`` per location; sharp on early
    layers.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.
    ``layer`` is any layer with spatial output, by path (also inside a nested base model,
    ``"base/block3_conv"``, or a custom layer); default: the last spatial layer.

    Args:
        upsample: ``"bilinear"`` (``tf.image.resize``), ``"align_corners"`` (as
            ``scipy.ndimage.zoom(order=1)``, tf-keras-vis), ``"nearest"``, or None for one
            map at the layer's resolution.

    Returns:
        ``(N, *input_spatial)`` float32 maps in [0, 1].

    Example:
        >>> maps = nv.layer_cam(model, x[:8], layer="block2_conv2")
    """
    return run(LayerCAM, locals())
