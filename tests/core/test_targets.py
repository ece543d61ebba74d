"""Target resolution: which output, which class, which score."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

import keras_nnviz as nv
from keras_nnviz.core import targets

L = keras.layers


def _model(activation="softmax", units=4):
    inputs = keras.Input((3,))
    outputs = L.Dense(units, activation=activation, name="head")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("head").set_weights(
        [np.arange(3 * units, dtype="float32").reshape(3, units) / 10 - 0.5, np.zeros(units)]
    )
    return model


X = np.array([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0], [0.0, 0.0, -3.0]], dtype="float32")


def _scores(model, resolved, probabilities=False, n=3):
    @tf.function
    def run(x, idx, sgn):
        outputs = model(x, training=False)
        if resolved.spec.mode == "predicted":
            idx, extra = targets.predicted(resolved.spec, outputs)
            sgn = sgn * extra
        return targets.scores(resolved.spec, outputs, idx, sgn, probabilities)

    idx, sgn = resolved.batch(0, n)
    return run(tf.constant(X[:n]), idx, sgn).numpy()


def _logits(model):
    dense = model.get_layer("head")
    return X @ np.asarray(dense.kernel) + np.asarray(dense.bias)


def test_int_sequence_onehot_and_none():
    model = _model()
    logits = _logits(model)
    assert np.allclose(_scores(model, targets.resolve(model, 2)), logits[:, 2], atol=1e-6)
    per_sample = targets.resolve(model, [0, 3, 1], n=3)
    assert np.allclose(_scores(model, per_sample), logits[[0, 1, 2], [0, 3, 1]], atol=1e-6)
    onehot = targets.resolve(model, np.eye(4)[[0, 3, 1]])
    assert np.array_equal(onehot.indices, [0, 3, 1])
    predicted = _scores(model, targets.resolve(model, None))
    assert np.allclose(predicted, logits.max(axis=1), atol=1e-6)
    probs = _scores(model, targets.resolve(model, 2), probabilities=True)
    assert np.allclose(probs, tf.nn.softmax(logits).numpy()[:, 2], atol=1e-6)


def test_sigmoid_unit_negative_and_predicted_class():
    model = _model("sigmoid", units=1)
    z = _logits(model)[:, 0]
    assert np.allclose(_scores(model, targets.resolve(model, 0)), z, atol=1e-6)
    assert np.allclose(_scores(model, targets.resolve(model, 0, negative=True)), -z, atol=1e-6)
    assert np.allclose(_scores(model, targets.resolve(model, None)), np.abs(z), atol=1e-6)
    p_other = _scores(model, targets.resolve(model, 0, negative=True), probabilities=True)
    assert np.allclose(p_other, 1 - 1 / (1 + np.exp(-z)), atol=1e-6)
    binary = targets.resolve(model, BinaryScore([True, False, True]))
    assert np.allclose(_scores(model, binary), z * [1, -1, 1], atol=1e-6)


def test_linear_outputs_callables_and_tf_keras_vis_scores():
    model = _model(None, units=2)
    out = _logits(model)
    assert np.allclose(_scores(model, targets.resolve(model, 1)), out[:, 1], atol=1e-6)
    fn = targets.resolve(model, lambda y: y[:, 0] * 2)
    assert fn.spec.mode == "callable"
    assert np.allclose(_scores(model, fn), out[:, 0] * 2, atol=1e-6)
    category = targets.resolve(model, CategoricalScore([1, 0, 1]))
    assert np.array_equal(category.indices, [1, 0, 1])
    assert targets.resolve(model, CategoricalScore(1)).index == 1
    fixed = targets.resolve(model, targets.Fixed(np.array([1, 1, 0]), np.array([1.0, -1, 1])))
    assert np.allclose(_scores(model, fixed), out[[0, 1, 2], [1, 1, 0]] * [1, -1, 1], atol=1e-6)


def test_multi_output_resolution(zoo):
    model = zoo("multi_output").model
    assert targets.output_names(model) == ["class_head", "box_head"]
    assert targets.resolve(model, 1, output="box_head").spec.output == 1
    assert targets.resolve(model, 0, output=0).n_units == 4
    both = targets.resolve(model, [lambda a: a[:, 0], lambda b: b[:, 1]])
    assert both.spec.per_output
    with pytest.raises(nv.InvalidTargetError, match="2 outputs"):
        targets.resolve(model, 0)
    with pytest.raises(nv.InvalidTargetError, match="1 score callables"):
        targets.resolve(model, [lambda a: a[:, 0]])
    with pytest.raises(nv.InvalidTargetError, match=r"target 2 .*'box_head' with 2 units"):
        targets.resolve(model, 2, output="box_head")


def test_bad_targets():
    model = _model()
    for bad, pattern in [
        (True, "received bool"),
        (1.5, "received float"),
        ([[0, 1], [2, 3]], "1-D sequence"),
        ([0.5, 1.0], "1-D sequence"),
    ]:
        with pytest.raises(nv.InvalidTargetError, match=pattern):
            targets.resolve(model, bad)
    with pytest.raises(nv.InvalidTargetError, match="2 per-sample targets for 3 samples"):
        targets.resolve(model, [0, 1], n=3)
    resolved = targets.resolve(model, [0, 1])
    with pytest.raises(nv.InvalidTargetError, match="more samples"):
        resolved.batch(0, 3)


def test_objective_targets_bind_once_and_share_a_structure():
    model = _model()
    a = targets.resolve(model, nv.objectives.channel("head", 1))
    b = targets.resolve(model, nv.objectives.channel("head", 3), negative=True)
    assert a.spec.mode == "objective" and a.spec == b.spec  # one trace for every channel
    assert [int(p) for p in a.params[1:]] == [1] and [int(p) for p in b.params[1:]] == [3]
    assert b.sign == -1.0
    assert a.spec != targets.resolve(model, nv.objectives.neuron("head", 1)).spec
    # The score is the objective's value: the chosen unit of the layer (softmax output here).
    maps = nv.saliency(model, X, nv.objectives.channel("head", 2), keep_channels=True)
    by_callable = nv.saliency(model, X, lambda out: out[:, 2], keep_channels=True)
    np.testing.assert_allclose(maps, by_callable, atol=1e-6)
    with pytest.raises(nv.LayerNotFoundError):
        targets.resolve(model, nv.objectives.channel("nope", 0))
    with pytest.raises(nv.IncompatibleLayerError, match="out of range"):
        targets.resolve(model, nv.objectives.channel("head", 9))
