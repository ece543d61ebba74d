"""Compile once, batch always; targets; inputs; options of the attribution methods."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

import keras_nnviz as nv
from keras_nnviz.attribution import _engine
from keras_nnviz.attribution.gradients import modified_backprop
from tests.attribution._models import correlations, images, plain_cnn

L = keras.layers


@pytest.fixture(scope="module")
def model():
    return plain_cnn(seed=5)


@pytest.fixture(scope="module")
def x():
    return images(10, seed=2)


def test_class_form_compiles_once_for_any_batch_size_and_classes(model, x):
    explainer = nv.GradCAM(model, layer="c2")
    a = explainer(x, target=1, batch_size=4)  # 3 batches of 4, 4 and 2
    b = explainer(x[:3], target=[0, 1, 2])
    c = explainer(tf.constant(x[:7]), target=np.arange(7) % 5, batch_size=32)
    assert explainer.trace_count == 1
    assert a.shape == (10, 16, 16) and b.shape == (3, 16, 16) and c.shape == (7, 16, 16)
    explainer(x, target=None)  # the predicted class is computed in the graph: one more variant
    explainer(x[:2], target=None)
    assert explainer.trace_count == 2


def test_function_form_reuses_one_cached_explainer(model, x):
    first = nv.saliency(model, x[:4], target=2)
    cached = _engine.cached(nv.Saliency, model)
    traces = cached.trace_count
    for n in (1, 5, 10):
        nv.saliency(model, x[:n], target=n % 5)
    assert cached.trace_count == traces
    assert _engine.cached(nv.Saliency, model) is cached
    np.testing.assert_allclose(nv.saliency(model, x[:4], target=2), first, atol=1e-6)
    # Layer names and paths resolve to the same cached CAM explainer.
    assert _engine.cached(nv.GradCAM, model, "c2") is _engine.cached(nv.GradCAM, model, 2)


def test_batches_numpy_tensor_and_dataset_give_the_same_maps(model, x):
    # (oneDNN picks kernels by batch size: equal up to float32 rounding.)
    reference = nv.grad_cam(model, x, target=3)
    np.testing.assert_allclose(nv.grad_cam(model, x, 3, batch_size=3), reference, atol=1e-5)
    np.testing.assert_allclose(nv.grad_cam(model, tf.constant(x), 3), reference, atol=1e-5)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(len(x)))).batch(4)
    np.testing.assert_allclose(nv.grad_cam(model, dataset, 3), reference, atol=1e-5)
    per_sample = [3] * 10
    unbatched = tf.data.Dataset.from_tensor_slices(x)
    got = nv.integrated_gradients(model, unbatched, per_sample, steps=8, batch_size=4)
    # Chunks of path points follow batch_size, so only the summation order differs.
    np.testing.assert_allclose(got, nv.integrated_gradients(model, x, 3, steps=8), atol=1e-4)


def _manual_logit_gradients(model, x, classes):
    """d logit / d x computed by calling the layers one by one (no keras_nnviz code)."""
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        h = model.get_layer("c1")(t)
        h = model.get_layer("pool")(h)
        h = model.get_layer("c2")(h)
        h = model.get_layer("gap")(h)
        dense = model.get_layer("predictions")
        logits = tf.matmul(h, dense.kernel) + dense.bias
        score = tf.gather(logits, classes, axis=1, batch_dims=1)
    return tape.gradient(score, t).numpy()


def test_scores_are_logits_behind_softmax_and_raw_maps_are_raw(model, x, snapshot):
    snap = snapshot(model)
    classes = np.arange(10) % 5
    raw = nv.saliency(model, x, classes, keep_channels=True, normalize=False)
    np.testing.assert_allclose(raw, _manual_logit_gradients(model, x, classes), atol=1e-5)
    probs = nv.saliency(model, x, classes, keep_channels=True, normalize=False, logits=False)
    assert not np.allclose(probs, raw, atol=1e-5)
    snap.assert_unchanged()


def test_target_forms_agree(model, x):
    classes = [4, 3, 2, 1, 0, 4, 3, 2, 1, 0]
    reference = nv.grad_cam(model, x, classes)
    np.testing.assert_allclose(nv.grad_cam(model, x, CategoricalScore(classes)), reference)
    onehot = np.eye(5)[classes]
    np.testing.assert_allclose(nv.grad_cam(model, x, onehot), reference)
    # A callable gets the outputs (probabilities here); logits=False scores those too.
    by_callable = nv.saliency(model, x, lambda out: out[:, 2])
    np.testing.assert_allclose(by_callable, nv.saliency(model, x, 2, logits=False), atol=1e-6)
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    np.testing.assert_allclose(nv.grad_cam(model, x), nv.grad_cam(model, x, predicted), atol=1e-6)


@pytest.fixture(scope="module")
def binary_model():
    inputs = keras.Input((16, 16, 3))
    h = L.Conv2D(6, 3, activation="relu", name="conv")(inputs)
    h = L.GlobalAveragePooling2D()(h)
    outputs = L.Dense(1, activation="sigmoid", name="prob")(h)
    model = keras.Model(inputs, outputs)
    keras.utils.set_random_seed(4)
    model.get_layer("prob").set_weights([np.random.normal(size=(6, 1)), np.array([-0.1])])
    return model


def test_sigmoid_negative_explains_the_other_class(binary_model, x):
    positive = nv.gradient_x_input(binary_model, x, 0, signed=True)
    negative = nv.gradient_x_input(binary_model, x, 0, signed=True, negative=True)
    np.testing.assert_allclose(negative, -positive, atol=1e-6)
    np.testing.assert_allclose(
        nv.gradient_x_input(binary_model, x, BinaryScore(False), signed=True), negative, atol=1e-6
    )
    # None explains each sample's predicted class: positive where p >= 0.5, else negative.
    p = binary_model.predict(x, verbose=0)[:, 0]
    chosen = nv.gradient_x_input(binary_model, x, None, signed=True)
    expected = np.where((p >= 0.5)[:, None, None], positive, negative)
    np.testing.assert_allclose(chosen, expected, atol=1e-6)


def test_regression_head_of_a_multi_output_model(zoo):
    case = zoo("multi_output")
    for target in (0, 1, lambda box: box[:, 0] - box[:, 1]):
        maps = nv.grad_cam(case.model, case.x, target, output="box_head")
        assert maps.shape == (10, 12, 12)
    by_index = nv.saliency(case.model, case.x, 1, output=1)
    by_callable = nv.saliency(case.model, case.x, lambda outs: outs[1][:, 1])
    np.testing.assert_allclose(by_callable, by_index, atol=1e-6)


@pytest.mark.slow
def test_mixed_precision_maps_are_float32_and_match_the_float32_model(zoo):
    case = zoo("mixed_float16")
    twin = keras.models.clone_model(case.model, clone_function=_float32_layer)
    twin.set_weights(case.model.get_weights())
    predicted = twin.predict(case.x, verbose=0).argmax(axis=1)
    for fn in (nv.grad_cam, nv.saliency):
        mixed = fn(case.model, case.x, predicted)
        full = fn(twin, case.x, predicted)
        assert mixed.dtype == np.float32
        keep = np.ptp(full.reshape(10, -1), axis=1) > 0
        assert keep.sum() >= 5
        assert correlations(mixed[keep], full[keep]).min() > 0.98


def _float32_layer(layer):
    config = layer.get_config()
    config["dtype"] = "float32"
    return type(layer).from_config(config)


def test_volumes_and_sequences():
    inputs = keras.Input((6, 8, 8, 1))
    h = L.Conv3D(4, 3, padding="same", activation="relu", name="conv3d")(inputs)
    h = L.GlobalAveragePooling3D()(h)
    outputs = L.Dense(3, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    vol = np.random.default_rng(0).uniform(size=(2, 6, 8, 8, 1)).astype("float32")
    assert nv.grad_cam(model, vol).shape == (2, 6, 8, 8)
    assert nv.cam(model, vol, upsample=None).shape == (2, 6, 8, 8)
    assert nv.saliency(model, vol).shape == (2, 6, 8, 8)
    assert nv.occlusion(model, vol, patch=(2, 4, 4)).shape == (2, 6, 8, 8)


def test_upsample_modes_and_layer_resolution(model, x):
    small = nv.grad_cam(model, x, 1, upsample=None)
    assert small.shape == (10, 8, 8)
    nearest = nv.grad_cam(model, x, 1, upsample="nearest")
    np.testing.assert_allclose(nearest[:, ::2, ::2], small, atol=1e-6)
    # Corner-aligned bilinear keeps the corner values of the layer's map exactly.
    corners = nv.grad_cam(model, x, 1, upsample="align_corners", normalize=False)
    raw = nv.grad_cam(model, x, 1, upsample=None, normalize=False)
    np.testing.assert_allclose(
        corners[:, [0, -1]][:, :, [0, -1]], raw[:, [0, -1]][:, :, [0, -1]], atol=1e-6
    )


def test_keep_channels_signed_and_raw_values(model, x):
    assert nv.saliency(model, x, 1, keep_channels=True).shape == (10, 16, 16, 3)
    signed = nv.integrated_gradients(model, x, 1, steps=8, signed=True)
    assert signed.min() < 0 < signed.max() and np.abs(signed).max() <= 1 + 1e-6
    unsigned = nv.integrated_gradients(model, x, 1, steps=8)
    assert unsigned.min() >= 0
    raw = nv.gradient_x_input(model, x, 1, signed=True, normalize=False, keep_channels=True)
    np.testing.assert_allclose(raw, _manual_logit_gradients(model, x, [1] * 10) * x, atol=1e-5)


def test_smoothgrad_and_vargrad(model, x):
    a = nv.saliency(model, x, 1, smooth_samples=6, seed=3)
    b = nv.saliency(model, x, 1, smooth_samples=6, seed=3, batch_size=64)  # other chunking
    np.testing.assert_allclose(a, nv.saliency(model, x, 1, smooth_samples=6, seed=3), atol=1e-6)
    assert not np.allclose(a, nv.saliency(model, x, 1, smooth_samples=6, seed=4), atol=1e-3)
    assert correlations(a, b).min() > 0.5  # same noise level, different draws
    vargrad = nv.saliency(model, x, 1, smooth_samples=6, vargrad=True, seed=3)
    assert vargrad.shape == (10, 16, 16) and vargrad.min() >= 0
    vanilla = nv.saliency(model, x, 1)
    assert not np.allclose(a, vanilla, atol=1e-3)


def test_guided_and_deconv_rules_leave_the_model_untouched(model, x, snapshot):
    snap = snapshot(model)
    guided = nv.guided_backprop(model, x, 1, keep_channels=True, normalize=False)
    deconv = nv.guided_backprop(model, x, 1, rule="deconv", keep_channels=True, normalize=False)
    plain = nv.saliency(model, x, 1, keep_channels=True, normalize=False)
    assert not np.allclose(guided, plain, atol=1e-6)
    assert not np.allclose(deconv, guided, atol=1e-6)
    snap.assert_unchanged()
    assert model.get_layer("c1").activation is keras.activations.relu


@pytest.mark.slow
def test_modified_backprop_is_reusable_with_extra_hooks(model, x):
    conv = model.get_layer("c2")
    seen = []

    def record(layer, call, args, kwargs):
        out = call(*args, **kwargs)
        seen.append(out)
        return out

    @tf.function
    def unit_gradients(inputs):
        grads, _ = modified_backprop(
            model,
            [inputs],
            lambda outputs: tf.reduce_mean(seen[-1][..., 0], axis=[1, 2]),
            rule="deconv",
            hooks={id(conv): (conv, record)},
        )
        return grads[0]

    grads = unit_gradients(tf.constant(x)).numpy()
    assert grads.shape == x.shape and np.abs(grads).sum() > 0


def test_integrated_gradients_baselines(model, x):
    for baseline in (None, 0.5, "blur", x[0], x[::-1].copy(), lambda b: b * 0.1):
        maps = nv.integrated_gradients(model, x, 1, baseline=baseline, steps=4)
        assert maps.shape == (10, 16, 16)
    same = nv.integrated_gradients(model, x, 1, baseline=x, steps=4, normalize=False)
    assert np.abs(same).max() == 0.0  # no path, no attribution


def test_multi_input_baselines_and_maps(zoo):
    case = zoo("multi_input")
    maps = nv.integrated_gradients(case.model, case.x, 0, baseline=[0.0, "blur"], steps=4)
    assert [m.shape for m in maps] == [(10, 12, 12), (10, 5)]
    gradients = nv.saliency(case.model, {"image": case.x[0], "meta": case.x[1]}, 0)
    np.testing.assert_allclose(gradients[0], nv.saliency(case.model, case.x, 0)[0], atol=1e-6)


@pytest.mark.slow
def test_score_cam_max_channels_and_occlusion_options(model, x):
    full = nv.score_cam(model, x[:4], 1)
    fewer = nv.score_cam(model, x[:4], 1, max_channels=3)
    assert full.shape == fewer.shape == (4, 16, 16)
    assert nv.score_cam(model, x[:4], 1, max_channels=100).shape == (4, 16, 16)
    occ = nv.occlusion(model, x[:4], 1, patch=4, stride=4, signed=True, normalize=False)
    assert occ.shape == (4, 16, 16) and occ.min() < 0 < occ.max()


def test_progress_bar_on_request(model, x, capsys):
    nv.integrated_gradients(model, x, 1, steps=4, batch_size=4, progress=True)
    assert "10/10" in capsys.readouterr().out
    nv.integrated_gradients(model, x, 1, steps=4, batch_size=4, progress=False)
    assert capsys.readouterr().out == ""


def test_design_contract_names_exist():
    for name in [
        "saliency",
        "integrated_gradients",
        "gradient_x_input",
        "guided_backprop",
        "cam",
        "grad_cam",
        "grad_cam_plus_plus",
        "layer_cam",
        "score_cam",
        "occlusion",
        "GradCAM",
        "metrics",
    ]:
        assert hasattr(nv, name) and name in nv.__all__, name
    for name in ["deletion_auc", "insertion_auc", "pointing_game", "randomization_similarity"]:
        assert callable(getattr(nv.metrics, name)), name
    for name in ["attribution_grid", "signed_attribution", "sequence_attribution"]:
        assert name in nv.plot.__all__, name


def test_cached_explainers_do_not_keep_a_model_alive():
    import gc
    import weakref

    model = plain_cnn(seed=9)
    nv.grad_cam(model, images(2))
    nv.saliency(model, images(2), smooth_samples=2)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


def test_explaining_many_models_triggers_no_retracing_warning(caplog):
    import logging

    tf_logger = tf.get_logger()
    tf_logger.addHandler(caplog.handler)  # TensorFlow's logger does not propagate to root
    try:
        with caplog.at_level(logging.WARNING, logger="tensorflow"):
            for seed in range(6):
                nv.grad_cam(plain_cnn(seed=20 + seed), images(2), 1)
    finally:
        tf_logger.removeHandler(caplog.handler)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
