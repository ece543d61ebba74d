"""The one place that touches Keras internals.

Keras 3 exposes no public API to run a functional graph with per-layer hooks, to list the
sub-layers a custom layer tracks, or to read a layer's output shape when the layer is called
more than once. Everything of that kind lives here, behind small functions, so a Keras release
that moves an internal breaks one module with one obvious fix (see tf-keras-vis issues #72/#87
for what scattering private imports costs).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import keras

try:  # Keras >= 3.0 keeps these in keras.src; names checked on 3.3 ... 3.15.
    from keras.src.models.functional import Functional as _Functional
    from keras.src.models.functional import operation_fn as _keras_operation_fn
except ImportError:  # pragma: no cover - exercised only on an unknown Keras layout
    _Functional = None
    _keras_operation_fn = None


def functional_graph(layer: Any) -> Any | None:
    """Return the Keras ``Functional`` graph that runs ``layer``, or None.

    Functional models are their own graph; a built ``Sequential`` delegates to a hidden
    Functional; subclassed models and plain layers have no graph.
    """
    if _Functional is None:
        return None
    if isinstance(layer, keras.Sequential):
        graph = getattr(layer, "_functional", None)
        return graph if isinstance(graph, _Functional) else None
    if isinstance(layer, _Functional):
        return layer
    return None


def run_graph(
    graph: Any,
    inputs: Any,
    wrap_operation: Callable[[Any, Callable], Callable],
    flat: bool = False,
) -> Any:
    """Execute a Functional ``graph`` on real tensors, letting the caller wrap every layer call.

    Args:
        graph: a Functional model (see :func:`functional_graph`).
        inputs: the inputs in any structure the model accepts.
        wrap_operation: ``(operation, default_call) -> call``; ``default_call`` calls the
            operation in inference mode (``training=False``) exactly as ``Functional.call`` does.
        flat: ``inputs`` is already a flat list of tensors in ``graph.inputs`` order with the
            right dtypes (skips Keras's structure matching, which warns on lists).

    Returns:
        The graph outputs, unpacked like ``Functional.call`` unpacks them.
    """
    flat_inputs = list(inputs) if flat else graph._standardize_inputs(inputs)

    def operation_fn(op):
        return wrap_operation(op, _keras_operation_fn(op, training=False))

    outputs = graph._run_through_graph(flat_inputs, operation_fn=operation_fn)
    if isinstance(outputs, list | tuple) and len(outputs) == 1:
        return outputs[0]
    return outputs


def tracked_sublayers(layer: Any) -> list[Any]:
    """Direct sub-layers a layer tracks (attributes that are layers), in assignment order."""
    return [sub for sub in getattr(layer, "_layers", []) if isinstance(sub, keras.layers.Layer)]


def node_output_shapes(layer: Any) -> list[tuple]:
    """Output shapes of a layer's first call in any graph, flattened; [] when never called."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return []
    return [tuple(t.shape) for t in nodes[0].output_tensors]


def build_input_shapes(layer: Any) -> list[tuple]:
    """The input shapes a layer (a subclassed model) was built with by its first call, or [].

    Keras records them in ``_build_shapes_dict`` (``{"input_shape": (1, 12, 12, 3)}``); a
    subclassed model has no ``inputs`` to read them from.
    """
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    found = []
    for value in shapes.values():
        if isinstance(value, tuple | list) and all(d is None or isinstance(d, int) for d in value):
            found.append(tuple(value))
    return found


def _shadow_attribute(obj: Any, name: str, value: Any) -> Callable[[], None]:
    """Set ``obj.<name>`` on the instance, bypassing Keras's ``__setattr__``; return the undo.

    Keras tracks what is assigned to a layer (sub-layers, variables); a temporary function must
    not enter that bookkeeping. The undo restores the instance exactly: an instance attribute
    that was there comes back, one that was not is deleted (the class attribute shows again).
    """
    had_own = name in obj.__dict__
    previous = obj.__dict__.get(name)
    object.__setattr__(obj, name, value)

    def undo() -> None:
        if had_own:
            object.__setattr__(obj, name, previous)
        else:
            object.__delattr__(obj, name)

    return undo


def intercept_call(layer: Any, replacement: Callable) -> Callable[[], None]:
    """Shadow ``layer.call`` with ``replacement`` on this instance; return the undo function.

    Used only while tracing, for layers no functional graph reaches (sub-layers of custom layers,
    layers of subclassed models). The class and every other instance are untouched; the undo
    restores the instance exactly (including a pre-existing instance attribute).
    """
    return _shadow_attribute(layer, "call", replacement)


def swap_activation(layer: Any, activation: Callable) -> Callable[[], None]:
    """Make ``layer`` apply ``activation`` instead of its own; return the undo function.

    Keras layers with a fused activation (``Dense(..., activation="relu")``, ``Conv2D``, ...)
    read ``self.activation`` at call time, which is an implementation detail, not an API: the
    guided-backprop / deconvnet ReLU rules swap it only while a call is traced, and the undo
    restores the instance exactly.

    Args:
        layer: a Keras layer with an ``activation`` attribute.
        activation: the function to apply in its place, ``(x) -> y``.

    Returns:
        ``undo()``, to call in ``finally``.

    Example:
        >>> undo = swap_activation(dense, guided_relu)
        >>> try:
        ...     y = dense(x)
        ... finally:
        ...     undo()
    """
    return _shadow_attribute(layer, "activation", activation)


def producing_layer(tensor: Any) -> Any | None:
    """The layer that produced a symbolic Keras tensor (``model.outputs[i]``), or None."""
    history = getattr(tensor, "_keras_history", None)
    return getattr(history, "operation", None) if history is not None else None


def inbound_layers(layer: Any) -> list[Any]:
    """Layers feeding the first call of ``layer`` in a functional graph, in argument order."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return []
    found = [producing_layer(t) for t in nodes[0].input_tensors]
    return [f for f in found if f is not None]


def attribute_name(parent: Any, layer: Any) -> str | None:
    """The public attribute of ``parent`` holding ``layer`` (a decoder block's
    ``"cross_attention"``), or None. Read from the instance's ``__dict__``, where Keras' attribute
    tracking leaves the layers a custom layer assigns to itself."""
    if parent is None:
        return None
    names = (k for k, v in vars(parent).items() if v is layer and not k.startswith("_"))
    return next(names, None)


def uses_flash_attention(layer: Any) -> bool:
    """True when an attention layer was built to use flash attention (which hides the weights).

    ``MultiHeadAttention`` / ``GroupQueryAttention`` keep the resolved setting (the argument or the
    global ``keras.config.enable_flash_attention()``) in a private attribute.
    """
    return bool(getattr(layer, "_flash_attention", False))


_OPS_LOCK = threading.RLock()


@contextlib.contextmanager
def observe_attention_ops(
    seen: Callable[[Any], None], transform: Callable[[Any], Any] | None = None
):
    """While tracing one attention layer's call, report every attention probability tensor.

    ``keras.ops.softmax`` (also reached as ``keras.ops.nn.softmax``) is wrapped so that its output
    is passed to ``seen``; ``keras.ops.dot_product_attention``, a fused op that never materializes
    the probabilities, is replaced by the explicit computation (scores = q·kᵀ·scale, masked,
    softmax, weighted sum of v) with the same result, and its probabilities are passed to
    ``seen``. KerasHub's T5, Swin and SegFormer attention call ``ops.softmax`` directly; RoFormer
    and ESM call only ``ops.dot_product_attention``. The public ``keras.ops`` namespaces are patched
    (Keras calls made through them see the wrapper) and restored in a ``finally``; a lock keeps
    two traces from interleaving. ``transform`` (optional) replaces each probability tensor
    after ``seen`` (LRP detaches them).
    """
    import keras

    namespaces = [keras.ops, keras.ops.nn]
    softmax = keras.ops.softmax

    def observed_softmax(x, axis=-1):
        out = softmax(x, axis=axis)
        seen(out)
        return out if transform is None else transform(out)

    def explicit_attention(query, key, value, bias=None, mask=None, scale=None, **kwargs):
        ops = keras.ops
        # Keras layout: (B, T, H, D); grouped queries share key/value heads.
        heads, kv_heads = query.shape[2], key.shape[2]
        if heads is not None and kv_heads is not None and heads != kv_heads:
            key = ops.repeat(key, heads // kv_heads, axis=2)
            value = ops.repeat(value, heads // kv_heads, axis=2)
        if scale is None:
            scale = 1.0 / float(query.shape[-1]) ** 0.5
        logits = ops.einsum("bqhd,bkhd->bhqk", query, key) * ops.cast(scale, query.dtype)
        if bias is not None:
            logits = logits + ops.cast(bias, logits.dtype)
        if mask is not None:
            big = ops.cast(-1e9 if logits.dtype == "float32" else -3e4, logits.dtype)
            logits = ops.where(ops.cast(mask, "bool"), logits, big)
        if kwargs.get("is_causal"):
            q_len, k_len = ops.shape(logits)[-2], ops.shape(logits)[-1]
            causal = ops.tril(ops.ones((q_len, k_len), "bool"), k_len - q_len)
            logits = ops.where(causal, logits, ops.cast(-1e9, logits.dtype))
        probs = softmax(logits, axis=-1)
        seen(probs)
        probs = probs if transform is None else transform(probs)
        return ops.einsum("bhqk,bkhd->bqhd", probs, value)

    with _OPS_LOCK:
        saved = [
            (ns, ns.__dict__.get("softmax"), ns.__dict__.get("dot_product_attention"))
            for ns in namespaces
        ]
        try:
            for ns in namespaces:
                if "softmax" in ns.__dict__:
                    ns.softmax = observed_softmax
                if "dot_product_attention" in ns.__dict__:
                    ns.dot_product_attention = explicit_attention
            yield
        finally:
            for ns, sm, dpa in saved:
                if sm is not None:
                    ns.softmax = sm
                if dpa is not None:
                    ns.dot_product_attention = dpa


def graph_links(graph: Any) -> list[tuple[Any, list[Any]]]:
    """Each call of a Functional ``graph``: ``(operation, producer operations)``, inputs first.

    A shared layer appears once per call; ``InputLayer`` operations are included (no producers).
    Read from the graph's nodes by depth, which Keras keeps for its own execution order.
    """
    calls = []
    for _, nodes in sorted(graph._nodes_by_depth.items(), key=lambda kv: -kv[0]):
        for node in nodes:
            calls.append((node.operation, [p.operation for p in node.parent_nodes]))
    return calls


def read_variables(variables: Any) -> list[Any]:
    """The current value of each Keras variable, as tensors that keep this moment's values.

    A plain TensorFlow resource variable is read with one raw ``ReadVariableOp`` (about 15 µs
    eagerly: 4 ms for the 260 variables of a MobileNetV2, as fast as a compiled read of all of
    them, without its ≈ 0.7 s of tracing and instantiation); the public reads add an identity
    and a gradient-tape check per variable (≈ 4× slower). TensorFlow copies a variable's buffer
    on write while a read of it is alive, so the values stay those of the read while training
    goes on. Anything else (a distributed variable under a strategy) takes the public read.
    """
    import tensorflow as tf
    from tensorflow.python.ops.resource_variable_ops import BaseResourceVariable

    values = []
    for var in variables:
        inner = var.value
        if isinstance(inner, BaseResourceVariable):
            values.append(tf.raw_ops.ReadVariableOp(resource=inner.handle, dtype=inner.dtype))
        else:
            values.append(tf.identity(inner))
    return values


@contextlib.contextmanager
def functions_without_grappler():
    """Compiled functions first called in this block, on this thread, skip Grappler.

    TensorFlow optimizes a function's graph with Grappler when it is first called, from the
    call options of the calling thread. For a pass that runs a handful of times (a callback's
    snapshot), that optimization is a third of its first call (0.2-0.8 s for a pass through a
    MobileNetV2) and gains nothing measurable on CPU (the same step time). The runtime caches
    an instantiation per call options, so every call of one pass must come from such a block
    to reuse it. Other threads (Keras's training loop) keep their options.
    """
    try:
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.eager import context

        ctx = context.context()
        local = ctx._thread_local_data
        previous = local.function_call_options
        options = ctx.function_call_options  # this thread's, created from the context's config
        config = config_pb2.ConfigProto()
        if options.config_proto_serialized:
            config.ParseFromString(options.config_proto_serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        lean = context.FunctionCallOptions(executor_type=options.executor_type, config_proto=config)
    except (ImportError, AttributeError):  # pragma: no cover - an unknown TensorFlow layout
        yield
        return
    ctx.function_call_options = lean
    try:
        yield
    finally:
        local.function_call_options = previous
