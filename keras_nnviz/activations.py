"""Activations of any layers, channels and neurons, and recurrent states over time."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from . import validation
from .core import graph
from .core.compiled import CompiledPass, compiled_pass, layer_pass
from .core.loop import BatchLoop
from .core.model import layer_channels_first
from .core.sinks import BatchOutput, keyed_out
from .errors import IncompatibleLayerError, InvalidArgumentError

__all__ = [
    "channel_summary",
    "check_channel",
    "concat",
    "get_activation",
    "get_activations",
    "get_channel",
    "get_neuron",
    "get_rnn_states",
    "rnn_parts",
    "run_batches",
]


def concat(parts: list[np.ndarray]) -> np.ndarray:
    """Join per-batch arrays along the batch axis.

    One batch: the array itself; copying tens of MiB costs as much as a forward pass.
    """
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _numpy(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [np.asarray(v) for v in value]
    return np.asarray(value)


_EMPTY = "The input has no samples (an empty tf.data.Dataset?)."


def run_batches(
    compiled: CompiledPass,
    model: keras.Model,
    x: Any,
    batch_size: int,
    progress: bool | None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    sizes: bool = False,
    empty: str | None = None,
) -> Iterator[Any]:
    """Run a compiled pass on ``x`` batch by batch; yield each batch's result.

    ``progress``: a Keras progress bar over the samples when True (None: none; these passes
    are one forward pass per batch). ``sizes``: yield ``(data, result)``, ``data`` the
    :class:`~keras_nnviz.core.inputs.PreparedInput` (its sizes preallocate the output). A result
    holding NaN/inf warns once (after the last batch), naming the first layer with non-finite
    weights, unless ``allow_nonfinite``. ``empty``: the message of the error raised when ``x``
    holds no samples (None: nothing is yielded). ``strategy``: split each batch across a
    ``tf.distribute`` strategy's replicas (the pass's results have the batch axis first). The
    loop is :class:`~keras_nnviz.core.loop.BatchLoop`.
    """
    loop = BatchLoop(
        model,
        x,
        batch_size,
        allow_nonfinite=allow_nonfinite,
        progress=progress,
        empty=empty,
        strategy=strategy,
    )
    for batch in loop:
        out = loop.run(compiled, batch)
        yield (loop.data, out) if sizes else out


@validation.batch_options
def get_activations(
    model: keras.Model,
    x: Any,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    out: Mapping[Any, Any] | None = None,
    **batch: Any,
) -> dict[str, np.ndarray]:
    """Outputs of chosen layers for inputs ``x``, one compiled forward pass per batch.

    Args:
        model: a built Keras model; layers of nested models are reachable by path.
        x: numpy array, tensor, list/dict of them (multi-input) or a ``tf.data.Dataset``.
        layers: layer references (paths, names, indices, layer objects), one reference, or None
            for every layer in :func:`~keras_nnviz.list_layers` (or, with ``out=``, its layers).
        out: ``{layer: target}`` to write each layer's activations into instead of new arrays,
            batch by batch (memory: one batch, whatever the length of ``x``): a target is a
            writable float array of the result's shape (``np.memmap``,
            ``np.lib.format.open_memmap``) or a ``.npy`` path (rows appended as they come, so a
            ``tf.data.Dataset`` of unknown length works; returned memory-mapped read-only). A
            layer with several outputs takes a list of targets. See
            :mod:`keras_nnviz.core.sinks`.
        batch_size: samples per forward pass; only one batch of intermediates lives on the graph
            side at a time.
        progress: show a progress bar over the samples (None: no bar, the pass is light).
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising, and NaN/inf results
            without a :class:`~keras_nnviz.errors.NonFiniteWarning` (which names the first
            layer with non-finite weights).
        strategy: a ``tf.distribute.Strategy`` whose replicas share each batch (None: the one
            of an enclosing ``nv.distribute`` block, else one device).

    Returns:
        ``{path: array}`` with the batch axis first. Floating outputs come back as float32 (also
        from ``mixed_float16`` models). A layer with several outputs maps to a list of arrays.

    Example:
        >>> acts = nv.get_activations(model, x_test[:64], ["base/block1_conv", "dense"])
        >>> acts["base/block1_conv"].shape
        (64, 32, 32, 16)

        A dataset larger than memory, one layer to disk:

        >>> nv.get_activations(model, dataset, out={"dense": "dense.npy"})["dense"].shape
        (200000, 64)
    """
    targets = _layer_targets(model, out)
    if layers is None:
        layers = list(targets) if targets is not None else graph.list_layers(model)
    elif isinstance(layers, str | int | keras.layers.Layer):
        layers = [layers]
    probe = layer_pass(model, list(layers))
    given = keyed_out(targets, list(probe.paths))
    # Every layer's (flattened) outputs go into arrays preallocated from the first batch (or
    # into out=): the peak is the result plus one batch, not the result twice.
    sink, structure = None, None
    for data, result in run_batches(probe, model, x, **batch, sizes=True, empty=_EMPTY):
        values = [_numpy(result["layers"][path]) for path in probe.paths]
        if sink is None:
            structure = [len(v) if isinstance(v, list) else None for v in values]
            flat, names = _flat_targets(given, probe.paths, structure)
            sink = BatchOutput(data.n, flat, batches=data.n_batches, names=names)
        sink.write([a for v in values for a in (v if isinstance(v, list) else [v])])
    flat = iter(sink.result())
    return {
        path: next(flat) if k is None else [next(flat) for _ in range(k)]
        for path, k in zip(probe.paths, structure)
    }


def _layer_targets(model: keras.Model, out: Any) -> dict[str, Any] | None:
    """``out=`` of :func:`get_activations` keyed by canonical layer paths."""
    if out is None:
        return None
    if not isinstance(out, Mapping):
        raise InvalidArgumentError(
            "out must be a dict {layer: array or .npy path} (one entry per layer); received "
            f"{type(out).__name__}. For one layer: nv.get_activation(model, x, layer, out=...)."
        )
    return {graph.layer_path(model, ref): target for ref, target in out.items()}


def _flat_targets(
    given: list[Any] | None, paths: Sequence[str], structure: list[int | None]
) -> tuple[list[Any] | None, list[str]]:
    """Targets and their names, one per array of the flattened per-layer outputs."""
    names = [
        f"out[{p!r}]" if k is None else f"out[{p!r}][{i}]"
        for p, k in zip(paths, structure)
        for i in range(k or 1)
    ]
    if given is None:
        return None, names
    flat: list[Any] = []
    for path, k, target in zip(paths, structure, given):
        if k is None:
            flat.append(target)
        elif isinstance(target, list | tuple) and len(target) == k:
            flat.extend(target)
        else:
            raise InvalidArgumentError(
                f"out[{path!r}]: layer {path!r} has {k} outputs; pass a list of {k} targets "
                f"(arrays or .npy paths); received {type(target).__name__}."
            )
    return flat, names


@validation.batch_options
def get_activation(
    model: keras.Model,
    x: Any,
    layer: graph.LayerRef,
    *,
    out: Any = None,
    **batch: Any,
) -> np.ndarray:
    """Output of one layer; shorthand for ``get_activations(...)[path]``.

    ``out=``: a writable float array of the result's shape (``np.memmap`` too) or a ``.npy``
    path to write the activations into, batch by batch (see :func:`get_activations`).

    Example:
        >>> fmap = nv.get_activation(model, x[:8], "conv2")   # (8, H, W, C)
    """
    path = graph.layer_path(model, layer)
    return get_activations(
        model,
        x,
        [path],
        out=None if out is None else {path: out},
        **batch,
    )[path]


@validation.batch_options
def get_channel(
    model: keras.Model,
    x: Any,
    layer: graph.LayerRef,
    channel: int,
    **batch: Any,
) -> np.ndarray:
    """One channel of a layer's output: ``(N, *spatial)``. The channel axis is the last one,
    or axis 1 for a channels-first layer (``data_format="channels_first"``; see
    :func:`keras_nnviz.core.model.layer_channels_first`).

    Raises:
        IncompatibleLayerError: ``channel`` outside ``[0, channels)``.

    Example:
        >>> nv.get_channel(model, x, "conv2", 5).shape
        (16, 6, 6)
    """
    act = get_activation(
        model,
        x,
        layer,
        **batch,
    )
    axis = 1 if layer_channels_first(model, graph.find_layer(model, layer)) else -1
    index = check_channel(channel, act.shape[axis], graph.layer_path(model, layer))
    return np.take(act, index, axis=axis)


def check_channel(channel: Any, channels: int, path: str) -> int:
    """``channel`` as an index into ``channels`` (negative from the end), or a clear error."""
    if (
        isinstance(channel, bool)
        or not isinstance(channel, int | np.integer)
        or not -channels <= channel < channels
    ):
        raise IncompatibleLayerError(
            f"Channel {channel!r} is out of range for layer {path!r} with {channels} channels "
            f"(valid 0 ... {channels - 1})."
        )
    return int(channel)


@validation.batch_options
def get_neuron(
    model: keras.Model,
    x: Any,
    layer: graph.LayerRef,
    channel: int,
    *,
    position: Sequence[int] | None = None,
    **batch: Any,
) -> np.ndarray:
    """Activation of one unit per sample: ``(N,)``.

    Args:
        model: a built Keras model.
        x: inputs.
        layer: layer reference.
        channel: channel / unit index on the channel axis (the last, or 1 when the layer is
            channels-first).
        position: spatial index for feature maps; default: the centre.
        batch_size: samples per forward pass.
        progress: show a progress bar over the samples.
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising.

    Example:
        >>> nv.get_neuron(model, x, "conv2", 5)          # centre unit of channel 5
    """
    fmap = get_channel(
        model,
        x,
        layer,
        channel,
        **batch,
    )
    spatial = fmap.shape[1:]
    if position is None:
        position = tuple(s // 2 for s in spatial)
    position = tuple(position)
    if len(position) != len(spatial) or any(not 0 <= p < s for p, s in zip(position, spatial)):
        raise IncompatibleLayerError(
            f"Position {position} does not fit the spatial shape {spatial} of layer "
            f"{graph.layer_path(model, layer)!r}."
        )
    return fmap[(slice(None), *position)]


# ----------------------------------------------------------------------------------------------
# Recurrent states


def rnn_parts(layer: keras.layers.Layer) -> list[keras.layers.RNN]:
    """The RNN layers making up a recurrent layer (two for Bidirectional)."""
    if isinstance(layer, keras.layers.Bidirectional):
        return [layer.forward_layer, layer.backward_layer]
    if isinstance(layer, keras.layers.RNN):
        return [layer]
    raise IncompatibleLayerError(
        f"Layer {layer.name!r} is a {type(layer).__name__}, not a recurrent layer. "
        "get_rnn_states works on SimpleRNN, GRU, LSTM, keras.layers.RNN and Bidirectional; "
        "use get_activations for other layers."
    )


def _sequence_rnns(layer: keras.layers.Layer) -> list[keras.layers.RNN]:
    """``return_sequences=True`` RNNs sharing the layer's cells (same weights, no copies)."""
    return [
        keras.layers.RNN(
            rnn.cell,
            return_sequences=True,
            go_backwards=rnn.go_backwards,
            zero_output_for_mask=getattr(rnn, "zero_output_for_mask", False),
            unroll=rnn.unroll,
        )
        for rnn in rnn_parts(layer)
    ]


def _rnn_states_body(path: str, parts: list, model: keras.Model, inputs: Any) -> tf.Tensor:
    """Pass body: hidden states at every time step of one recurrent layer.

    The layer's own call is kept (the model's outputs are unchanged); alongside it, the
    ``return_sequences=True`` RNNs of :func:`_sequence_rnns` run on the very inputs, initial
    state and mask the layer received.
    """
    layer = graph.find_layer(model, path)
    record: dict[str, tf.Tensor] = {}

    def hook(lyr, call, args, kwargs):
        out = call(*args, **kwargs)
        if path not in record:
            sequences = args[0] if args else kwargs["sequences"]
            initial = kwargs.get("initial_state", args[1] if len(args) > 1 else None)
            record[path] = _states(parts, sequences, initial)
        return out

    graph.forward(model, inputs, {id(layer): (layer, hook)})
    graph.check_called(model, [path], record)
    return tf.cast(record[path], tf.float32)


def _states(parts: list, sequences, initial_state):
    out = []
    if initial_state is not None and len(parts) == 2:
        initial_state = list(tf.nest.flatten(initial_state))
        half = len(initial_state) // 2
        initials = [initial_state[:half], initial_state[half:]]
    else:
        initials = [initial_state] * len(parts)
    for seq, initial in zip(parts, initials):
        kwargs = {"initial_state": initial} if initial is not None else {}
        states = seq(sequences, training=False, **kwargs)
        # A go_backwards RNN emits states in processing order; align them with input time.
        out.append(tf.reverse(states, axis=[1]) if seq.go_backwards else states)
    return out[0] if len(out) == 1 else tf.concat(out, axis=-1)


@validation.batch_options
def get_rnn_states(
    model: keras.Model,
    x: Any,
    layer: graph.LayerRef,
    *,
    out: Any = None,
    **batch: Any,
) -> np.ndarray:
    """Hidden state of a recurrent layer at every time step: ``(N, T, units)``.

    Works for SimpleRNN, GRU, LSTM (the hidden state ``h``), generic ``keras.layers.RNN`` and
    ``Bidirectional`` (forward and time-aligned backward states concatenated: ``2 * units``),
    also when the layer was built with ``return_sequences=False``. States of ``go_backwards``
    layers are put back in input time order. Masked steps repeat the last state, as Keras does.

    Args:
        model: a built Keras model.
        x: inputs.
        layer: reference to the recurrent layer.
        out: a writable float array ``(N, T, units)`` (``np.memmap`` too) or a ``.npy`` path to
            write the states into, batch by batch (see :mod:`keras_nnviz.core.sinks`).
        batch_size: samples per forward pass.
        progress: show a progress bar over the samples (None: no bar).
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising.

    Returns:
        float32 array ``(N, T, units)``.

    Raises:
        IncompatibleLayerError: the layer is not recurrent.

    Example:
        >>> states = nv.get_rnn_states(model, x_seq[:16], "lstm")
        >>> nv.plot.rnn_states(states[0])
    """
    path = graph.layer_path(model, layer)
    parts = _sequence_rnns(graph.find_layer(model, path))  # validates before compiling
    probe = compiled_pass(
        model, ("rnn_states", path), functools.partial(_rnn_states_body, path, parts)
    )
    sink = None
    for data, states in run_batches(probe, model, x, **batch, sizes=True, empty=_EMPTY):
        sink = sink or BatchOutput(data.n, out, batches=data.n_batches)
        sink.write([np.asarray(states)])
    return sink.result()[0]


def channel_summary(activation: np.ndarray, *, reduce: str = "mean") -> np.ndarray:
    """Reduce a feature map ``(N, *spatial, C)`` to one value per sample and channel ``(N, C)``.

    Args:
        activation: a layer output with channels last.
        reduce: ``"mean"``, ``"max"`` or ``"std"`` over the spatial axes.

    Example:
        >>> nv.activations.channel_summary(acts["conv2"], reduce="max").shape
        (64, 32)
    """
    funcs = {"mean": np.mean, "max": np.max, "std": np.std}
    if reduce not in funcs:
        raise InvalidArgumentError(f"reduce must be one of {list(funcs)}; received {reduce!r}.")
    axes = tuple(range(1, activation.ndim - 1))
    return funcs[reduce](activation, axis=axes) if axes else activation
