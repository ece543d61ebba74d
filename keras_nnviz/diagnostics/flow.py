"""Gradient flow: the gradient norm of every weight and layer on a batch of labelled data, and
the labels it needs (one check for single- and multi-output models).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..core.compiled import CompiledPass, compiled_pass
from ..core.loop import Batch, BatchLoop
from ..errors import InvalidArgumentError, InvalidInputError, UnsupportedModelError

__all__ = [
    "check_labels",
    "flow_rows",
    "FlowSummary",
    "gradient_flow",
    "gradient_flow_pass",
    "label_arrays",
    "label_rows",
    "labels_batches",
    "layer_gradient_norms",
    "resolve_loss",
    "trainable_values",
    "variable_names",
]


# ----------------------------------------------------------------------------------------------
# Gradient flow


def resolve_loss(model: keras.Model, loss: Any) -> Any:
    """The loss to differentiate: ``loss=`` or a fresh copy of the compiled one (one, or a
    list/dict per output).

    Raises:
        UnsupportedModelError: the model is not compiled and ``loss`` is None.
        InvalidArgumentError: an unknown loss name.

    The model's own compiled loss object is never called: Keras's CompileLoss updates metric
    trackers when called, which would change the model's compile state.
    """
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise UnsupportedModelError(
                f"Model {model.name!r} is not compiled with a loss, so gradient_flow does not know "
                "what to differentiate. Pass loss= (e.g. loss='sparse_categorical_crossentropy' "
                "or a keras.losses.Loss)."
            )
    if isinstance(loss, dict | list | tuple):
        return type(loss)(
            {k: keras.losses.get(v) for k, v in loss.items()}
            if isinstance(loss, dict)
            else [keras.losses.get(v) for v in loss]
        )
    try:
        return keras.losses.get(loss)
    except ValueError as exc:
        raise InvalidArgumentError(f"Unknown loss {loss!r}: {exc}") from None


def _total_loss(loss_fn, y_true, y_pred, output_names):
    """Sum of per-output mean losses for single/multi-output models."""
    if isinstance(y_pred, dict):  # a model with dict outputs: the labels come in output order
        y_pred = [y_pred[name] for name in output_names]
    preds = y_pred if isinstance(y_pred, list | tuple) else [y_pred]
    trues = y_true if isinstance(y_true, list | tuple) else [y_true]
    if isinstance(loss_fn, dict):
        fns = [loss_fn.get(name) for name in output_names]
    elif isinstance(loss_fn, list | tuple):
        fns = list(loss_fn)
    else:
        fns = [loss_fn] * len(preds)
    total = 0.0
    for fn, t, p in zip(fns, trues, preds):
        if fn is None:
            continue
        total += tf.reduce_mean(tf.cast(fn(t, tf.cast(p, tf.float32)), tf.float32))
    return total


def _gradient_flow_body(loss_fn, output_names, model, inputs, y_true):
    """Pass body: the (mean) loss and its gradient for every trainable weight, in float32.

    The gradient is taken with respect to what the weights read: the variables (live pass) or
    the snapshot values a snapshot pass maps them to, so one body serves both.
    """
    variables = list(model.trainable_weights)
    with tf.GradientTape() as tape:
        sources = [v.value for v in variables]
        tape.watch(sources)
        # training=False: batch statistics and dropout must not change (nor be updated).
        y_pred = graph.forward(model, inputs, {})
        loss = _total_loss(loss_fn, y_true, y_pred, output_names)
    grads = tape.gradient(loss, sources)
    # Embedding gradients arrive as IndexedSlices; the dense form is what norms are taken of.
    return loss, [
        tf.zeros_like(v) if g is None else tf.cast(tf.convert_to_tensor(g), tf.float32)
        for g, v in zip(grads, sources)
    ]


def _flow_parts_body(loss_fn, output_names, model, inputs, y_true):
    """:func:`_gradient_flow_body` of one part of a batch as a row of per-part results (batch
    axis first: the parts are joined like samples): ``(loss[1], [grad[1, ...]], count[1])``."""
    loss, grads = _gradient_flow_body(loss_fn, output_names, model, inputs, y_true)
    count = tf.shape(tf.nest.flatten(inputs)[0])[:1]
    return loss[None], [g[None] for g in grads], count


def gradient_flow_pass(
    model: keras.Model, loss: Any = None, weights: str = "live", parts: bool = False
) -> CompiledPass:
    """The cached pass behind :func:`gradient_flow`: ``pass(batch, labels) -> (loss, grads)``.

    Args:
        model: a built Keras model.
        loss: as for :func:`gradient_flow`.
        weights: ``"live"``, or ``"snapshot"`` to run on :meth:`CompiledPass.snapshot` values
            (the callbacks compute on the writer thread while training goes on).
        parts: the pass run on each replica's part of a batch (``tf.distribute``): it returns
            ``(loss[1], [grad[1, ...]], count[1])``, one row per part once joined, which
            :meth:`FlowSummary.update_parts` merges.
    """
    key = ("compiled", id(getattr(model, "loss", None))) if loss is None else ("given", id(loss))
    loss_fn = resolve_loss(model, loss)
    names = list(getattr(model, "output_names", []) or [])
    body = _flow_parts_body if parts else _gradient_flow_body
    return compiled_pass(
        model,
        ("gradient_flow", key, weights) + (("parts",) if parts else ()),
        functools.partial(body, loss_fn, names),
        args=None,  # labels: any dtype and shape the loss accepts
        weights=weights,
    )


def trainable_values(
    model: keras.Model, flow: CompiledPass, values: Sequence[tf.Tensor] | None = None
) -> list[np.ndarray]:
    """The trainable weights as numpy, in ``model.trainable_weights`` order: the live ones, or
    those of a snapshot (``values`` of ``flow``)."""
    if values is None:
        return [np.asarray(v.numpy()) for v in model.trainable_weights]
    position = {id(v): i for i, v in enumerate(flow.variables)}
    return [np.asarray(values[position[id(v)]]) for v in model.trainable_weights]


def label_arrays(model: keras.Model, y: Any) -> np.ndarray | list[np.ndarray]:
    """Labels as ``model.fit`` takes them, as numpy: one array, or for a multi-output model a
    list aligned to the model's outputs (a dict keyed by output name is put in output order).

    Args:
        model: the model the labels are for.
        y: an array, a list/tuple (one per output) or a dict ``{output name: array}``.

    Raises:
        InvalidInputError: ``y`` is None, a dict whose keys are not the model's output names,
            or a list whose length is not the number of outputs.
    """
    if y is None:
        raise InvalidInputError(
            "gradient_flow needs labels y (the targets the loss compares predictions with); "
            "received y=None."
        )
    names = list(getattr(model, "output_names", None) or [])
    if isinstance(y, dict):
        if sorted(y) != sorted(names):
            raise InvalidInputError(
                f"labels given as a dict need one entry per output of model {model.name!r}: "
                f"keys {names}; received keys {sorted(map(str, y))}."
            )
        return [np.asarray(y[name]) for name in names]
    if isinstance(y, list | tuple):
        if len(names) > 1 and len(y) != len(names):
            raise InvalidInputError(
                f"labels given as a list need one array per output of model {model.name!r} "
                f"({len(names)}: {names}); received {len(y)}."
            )
        return [np.asarray(v) for v in y]
    return np.asarray(y)


def label_rows(labels: np.ndarray | list[np.ndarray]) -> int:
    """Samples in labels from :func:`label_arrays`: the rows of the first array (0 for a
    scalar)."""
    first = labels[0] if isinstance(labels, list) else labels
    return int(first.shape[0]) if first.ndim else 0


def labels_batches(
    model: keras.Model, y: Any, n: int, batch_size: int
) -> list[tf.Tensor | list[tf.Tensor]]:
    """Labels (:func:`label_arrays`) cut into batches of ``batch_size`` aligned to ``n`` inputs.

    Raises:
        InvalidInputError: as :func:`label_arrays`, or an array without one row per sample.
    """
    labels = label_arrays(model, y)
    arrays = labels if isinstance(labels, list) else [labels]
    for arr in arrays:
        if arr.shape[:1] != (n,):
            raise InvalidInputError(
                f"Labels have {arr.shape[0] if arr.ndim else 0} rows but x has {n} samples; "
                "pass one label per sample."
            )
    out: list[tf.Tensor | list[tf.Tensor]] = []
    for start in range(0, n, batch_size):
        parts = [tf.convert_to_tensor(a[start : start + batch_size]) for a in arrays]
        out.append(parts if isinstance(labels, list) else parts[0])
    return out


def check_labels(model: keras.Model, loss_fn: Any, y: Any) -> None:
    """Labels a loss can use: numeric, finite, and for the crossentropies in their output's
    range (sparse: class indices ``0 ... units-1``; categorical: rows of width ``units``); for
    a multi-output model each output's labels against its own loss. Anything else would fail
    deep inside the loss or give a meaningless gradient.

    Args:
        model: the model.
        loss_fn: the resolved loss (one, or a list/dict per output).
        y: labels as :func:`label_arrays` takes them.

    Raises:
        InvalidInputError: labels the loss cannot use, naming the output and what would work.
    """
    y = label_arrays(model, y)
    arrays = y if isinstance(y, list) else [y]
    for arr in arrays:
        if arr.dtype.kind not in "biuf":
            raise InvalidInputError(
                f"labels must be numeric (class indices or one-hot rows); received dtype "
                f"{arr.dtype}. Map class names to indices first."
            )
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise InvalidInputError("labels contain NaN/inf values; clean them first.")
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != len(arrays):
        return  # not paired with outputs (a subclassed model has no symbolic outputs)
    if isinstance(loss_fn, dict):
        names = list(getattr(model, "output_names", None) or [])
        fns = [loss_fn.get(name) for name in names]
    elif isinstance(loss_fn, list | tuple):
        fns = list(loss_fn)
    else:
        fns = [loss_fn] * len(arrays)
    for output, arr, fn in zip(outputs, arrays, fns):
        if fn is not None:
            _check_output_labels(output, arr, fn)


def _check_output_labels(output: Any, arr: np.ndarray, loss_fn: Any) -> None:
    """:func:`check_labels` for one output and its loss."""
    units = output.shape[-1]
    name = str(getattr(loss_fn, "name", None) or getattr(loss_fn, "__name__", "")).lower()
    if "sparse" in name and units:
        if arr.ndim > 1 and arr.shape[-1] > 1:
            raise InvalidInputError(
                f"labels of shape {arr.shape} look one-hot, but the loss {name!r} takes class "
                "indices (N,): pass y.argmax(-1), or loss='categorical_crossentropy'."
            )
        if arr.size and (arr.min() < 0 or arr.max() >= units or np.any(arr != np.round(arr))):
            bad = arr[(arr < 0) | (arr >= units) | (arr != np.round(arr))].ravel()[0]
            raise InvalidInputError(
                f"label {bad!r} is not a class index of output {output.name!r} with "
                f"{units} classes (valid 0 ... {units - 1})."
            )
    elif "categorical" in name and units and (arr.ndim < 2 or arr.shape[-1] != units):
        raise InvalidInputError(
            f"labels of shape {arr.shape} do not fit the loss {name!r} on output "
            f"{output.name!r} with {units} classes: pass one-hot rows (N, {units}), or "
            "loss='sparse_categorical_crossentropy' with class indices."
        )


def gradient_flow(
    model: keras.Model,
    x: Any,
    y: Any,
    *,
    loss: Any = None,
    batch_size: int = 256,
    strategy: tf.distribute.Strategy | None = None,
) -> list[dict[str, Any]]:
    """How strongly the loss gradient reaches each weight, for one batch of data.

    The gradient is that of the mean loss over all of ``x`` (computed in chunks of
    ``batch_size`` and combined exactly), in inference mode (dropout off, batch-norm statistics
    frozen and not updated). Regularization penalties are not included.

    Args:
        model: a built Keras model.
        x: inputs (numpy, tensor, list/dict for multi-input models). Datasets are not accepted
            here: labels must line up with x.
        y: labels, as for ``model.fit``: for a multi-output model a list in output order or a
            dict ``{output name: labels}``.
        loss: loss to differentiate; default: the loss the model was compiled with (a fresh
            instance; the model's compiled loss and its metrics are not touched).
        batch_size: chunk size for the forward/backward passes.
        strategy: a ``tf.distribute.Strategy`` whose replicas share each chunk, each taking
            the gradient of its part's mean loss; the parts are weighted by their sizes (None:
            the one of an enclosing ``nv.distribute`` block, else one device).

    Returns:
        One row per trainable weight, in layer order: ``name``, ``layer``, ``shape``,
        ``grad_mean_abs``, ``grad_max_abs``, ``grad_norm``, ``weight_norm``, ``ratio``
        (``grad_norm / weight_norm``, NaN for an all-zero weight) and ``loss``.

    Raises:
        UnsupportedModelError: the model has no compiled loss and ``loss`` is None.
        InvalidInputError: missing labels or labels not matching x.

    Example:
        >>> rows = nv.gradient_flow(model, x_batch, y_batch)
        >>> nv.plot.gradient_flow(rows)
    """
    if isinstance(x, tf.data.Dataset):
        raise InvalidInputError(
            "gradient_flow takes arrays x and y (one batch); received a tf.data.Dataset. Take one "
            "batch: x, y = next(iter(dataset))."
        )
    loop = BatchLoop(model, x, batch_size, check=False, strategy=strategy)
    label_batches = labels_batches(model, y, loop.n, batch_size)
    check_labels(model, resolve_loss(model, loss), y)
    if loop.replicas is None:
        flow = gradient_flow_pass(model, loss)
        return flow_rows(model, flow, zip((b.inputs for b in loop), label_batches), loop.n)
    flow = gradient_flow_pass(model, loss, parts=True)
    summary = FlowSummary()
    for batch, labels in zip(loop, label_batches):
        summary.update_parts(*loop.run(flow, batch, _with_labels(batch, labels)))
    return summary.rows(model, flow, n=loop.n)


def _with_labels(batch: Batch, labels: Any) -> Callable[[Batch], tuple[Any, Any]]:
    """The arguments of a part of ``batch``: its inputs and its rows of ``labels``."""

    def args(part: Batch) -> tuple[Any, Any]:
        begin = part.start - batch.start
        rows = tf.nest.map_structure(lambda t: t[begin : begin + part.size], labels)
        return part.inputs, rows

    return args


class FlowSummary:
    """Running sums of :func:`flow_rows`: feed each batch's mean loss and gradients
    (:meth:`update`), read the rows at the end (:meth:`rows`). Memory: one gradient per
    weight, whatever the number of batches; the result is the gradient of the mean loss over
    every sample fed.

    Example:
        >>> summary = FlowSummary()
        >>> for inputs, labels in batches:
        ...     summary.update(*flow(inputs, labels), count=len(labels))
        >>> rows = summary.rows(model, flow)
    """

    def __init__(self) -> None:
        self.samples = 0
        self.loss = 0.0
        self.grads: list[np.ndarray] | None = None

    def update(self, loss: Any, grads: Sequence[Any], count: int) -> None:
        """Add one batch of ``count`` samples: its mean ``loss`` and the gradients of it."""
        self.samples += count
        self.loss += float(loss) * count
        scaled = [np.asarray(g, dtype=np.float64) * count for g in grads]
        self.grads = scaled if self.grads is None else [a + b for a, b in zip(self.grads, scaled)]

    def update_parts(self, losses: Any, grads: Sequence[Any], counts: Any) -> None:
        """Add the parts of a batch, one row each (a :func:`gradient_flow_pass` with
        ``parts=True`` joined over the replicas): mean losses, gradients and sample counts."""
        counts = np.asarray(counts)
        for i, count in enumerate(counts):
            if count:
                self.update(np.asarray(losses)[i], [np.asarray(g)[i] for g in grads], int(count))

    def rows(
        self,
        model: keras.Model,
        flow: CompiledPass,
        values: Sequence[tf.Tensor] | None = None,
        names: dict[int, str] | None = None,
        n: int | None = None,
    ) -> list[dict[str, Any]]:
        """The rows of :func:`gradient_flow`; ``n``: the samples to average over (default: the
        samples fed)."""
        n = n or max(self.samples, 1)
        variables = list(model.trainable_weights)
        names = variable_names(model, variables) if names is None else names
        rows = []
        for var, w, grad in zip(variables, trainable_values(model, flow, values), self.grads):
            grad = grad / n
            w = np.asarray(w, dtype=np.float64)
            g_norm = float(np.linalg.norm(grad))
            w_norm = float(np.linalg.norm(w))
            name = names.get(id(var), getattr(var, "path", var.name))
            rows.append(
                {
                    "name": name,
                    "layer": name.rsplit("/", 1)[0],
                    "shape": tuple(w.shape),
                    "grad_mean_abs": float(np.mean(np.abs(grad))),
                    "grad_max_abs": float(np.max(np.abs(grad))) if grad.size else 0.0,
                    "grad_norm": g_norm,
                    "weight_norm": w_norm,
                    "ratio": g_norm / w_norm if w_norm > 0 else float("nan"),
                    "loss": self.loss / n,
                }
            )
        return rows


def flow_rows(
    model: keras.Model,
    flow: CompiledPass,
    batches: Iterable[tuple[Any, Any]],
    n: int | None = None,
    values: Sequence[tf.Tensor] | None = None,
    names: dict[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``flow`` (:func:`gradient_flow_pass`) over ``(inputs, labels)`` batches of ``n``
    samples in all (None: counted); the rows of :func:`gradient_flow`.

    Args:
        values: the snapshot to compute on, for a snapshot pass (weight norms come from it too).
        names: :func:`variable_names` of the model, when already known.
    """
    summary = FlowSummary()
    for batch, labels in batches:
        loss_value, grads = flow(batch, labels, values=values)
        summary.update(loss_value, grads, int(tf.nest.flatten(batch)[0].shape[0]))
    return summary.rows(model, flow, values, names, n)


def variable_names(model: keras.Model, variables: Sequence[Any]) -> dict[int, str]:
    """Map id(variable) -> ``"layer_path/weight"`` as used by :func:`~keras_nnviz.get_weights`."""
    from ..weights import owned_weights

    entries = [
        e
        for e in graph.walk(model, include_sublayers=False)
        if not isinstance(e.layer, keras.Model)
    ]
    return {id(var): key for key, var in owned_weights(entries)}


def layer_gradient_norms(
    rows: Sequence[dict[str, Any]], kernels_only: bool = True
) -> dict[str, float]:
    """Collapse :func:`gradient_flow` rows to one gradient norm per layer.

    Args:
        rows: rows from :func:`gradient_flow`.
        kernels_only: use only kernel-like weights (rank ≥ 2), the usual gradient-flow view.

    Returns:
        ``{layer_path: norm}`` (root-sum-square over the layer's selected weights), layer order.
    """
    out: dict[str, float] = {}
    for row in rows:
        if kernels_only and len(row["shape"]) < 2:
            continue
        out[row["layer"]] = float(np.hypot(out.get(row["layer"], 0.0), row["grad_norm"]))
    return out
