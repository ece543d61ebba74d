"""The one compiled pass: caching, one trace for every batch size, snapshots, clean errors."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.core import graph
from keras_nnviz.core.compiled import (
    CompiledPass,
    cached_passes,
    collect_layers,
    compiled_pass,
    layer_pass,
)
from keras_nnviz.errors import IncompatibleLayerError, InvalidTargetError


def _double_outputs(model, inputs):
    return 2.0 * graph.forward(model, inputs, {})


def test_a_pass_is_cached_per_key_and_traced_once_for_every_batch_size(zoo):
    case = zoo("functional")
    p = compiled_pass(case.model, ("double",), _double_outputs)
    assert compiled_pass(case.model, ("double",), _double_outputs) is p
    for n in (1, 4, 7):
        out = p([tf.constant(case.x[:n])])
        np.testing.assert_allclose(out, 2.0 * case.model.predict(case.x[:n], verbose=0), atol=1e-5)
    assert p.trace_count == 1
    assert cached_passes(case.model)[("double",)] is p


def test_clear_cache_forgets_one_model_or_all(zoo):
    a, b = zoo("sequential").model, zoo("functional").model
    pa = compiled_pass(a, "k", _double_outputs)
    compiled_pass(b, "k", _double_outputs)
    nv.clear_cache(a)
    assert cached_passes(a) == {} and "k" in cached_passes(b)
    assert compiled_pass(a, "k", _double_outputs) is not pa
    nv.clear_cache()
    assert cached_passes(b) == {}


def test_snapshot_pass_computes_on_the_frozen_weights(zoo):
    case = zoo("sequential")
    model = case.model
    live = layer_pass(model, ["gap"])
    frozen = layer_pass(model, ["gap"], weights="snapshot")
    batch = [tf.constant(case.x[:3])]
    values = frozen.snapshot()
    before = np.asarray(live(batch)["layers"]["gap"])
    saved = [v.numpy() for v in model.weights]
    try:
        for v in model.weights:
            v.assign(v * 0.5)
        after = np.asarray(live(batch)["layers"]["gap"])
        assert not np.allclose(before, after)
        from_snapshot = collect_layers(frozen, [batch], values)["gap"]
        np.testing.assert_allclose(from_snapshot, before, atol=1e-6)
    finally:
        for v, s in zip(model.weights, saved):
            v.assign(s)


def _raises_while_tracing(model, inputs):
    raise InvalidTargetError("a helpful message")


def test_an_error_raised_while_tracing_reaches_the_user_as_itself(zoo):
    case = zoo("sequential")
    p = CompiledPass(case.model, _raises_while_tracing)
    with pytest.raises(InvalidTargetError) as info:
        p([tf.constant(case.x[:2])])
    assert str(info.value) == "a helpful message"  # no "in user code: File ..." staging stack


def test_a_layer_that_is_not_called_gets_the_one_clear_error():
    inp = keras.Input((4,))
    used = keras.layers.Dense(3, name="used")
    unused = keras.layers.Dense(3, name="unused")
    model = keras.Model(inp, used(inp))
    unused.build((None, 4))
    model._tracker.unlock()  # attach an uncalled sub-layer, as a custom model may hold one
    model.spare = unused
    model._tracker.lock()
    p = CompiledPass(model, functools.partial(_record_missing, ["used", "never"]))
    with pytest.raises(IncompatibleLayerError, match="were not called"):
        p([tf.ones((2, 4))])


def _record_missing(paths, model, inputs):
    records = {}
    layer = graph.find_layer(model, "used")
    graph.forward(model, inputs, graph.recording_hooks({"used": layer}, records))
    graph.check_called(model, paths, records)
    return records["used"]


def test_snapshot_pass_needs_values(zoo):
    p = layer_pass(zoo("sequential").model, ["gap"], weights="snapshot")
    with pytest.raises(ValueError, match="snapshot"):
        p([tf.ones((1, 12, 12, 3))])


def _gated(model, inputs):
    """A body that branches in Python on a tensor value (as a user's loss or objective may):
    it traces only with AutoGraph. (Keras 3 never converts a model's own ``call``.)"""
    out = graph.forward(model, inputs, {})
    if tf.reduce_sum(out) > 0:
        return out
    return -out


def test_a_pass_traces_without_autograph_and_falls_back_when_the_body_needs_it(zoo):
    case = zoo("functional")
    batch = [tf.constant(case.x[:2])]
    plain = CompiledPass(case.model, _double_outputs)
    plain(batch)
    assert not plain.autograph and plain.trace_count == 1  # Keras 3 layers never need it
    gated = CompiledPass(case.model, _gated)
    out = np.asarray(gated(batch))
    assert gated.autograph and gated.trace_count == 1  # the failed trace is not counted
    expected = case.model.predict(case.x[:2], verbose=0)
    np.testing.assert_allclose(out, expected if expected.sum() > 0 else -expected, atol=1e-5)
    gated([tf.constant(case.x[:5])])
    assert gated.trace_count == 1


def test_a_mistake_found_while_tracing_does_not_retrace_with_autograph(zoo):
    p = CompiledPass(zoo("sequential").model, _raises_while_tracing)
    with pytest.raises(InvalidTargetError):
        p([tf.ones((1, 12, 12, 3))])
    assert not p.autograph and p.trace_count == 1
