"""Activation maximization: optimized images beat the data, classes come out right, smoother
images from the Fourier recipe, one compiled step, reproducible, nested/gray/RGB models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz import objectives as O
from keras_nnviz.featureviz import compiled_steps, objective_values
from keras_nnviz.featureviz import transforms as T

L = keras.layers


def _tv(images):
    """Mean absolute difference of neighbouring pixels, down plus right (per image)."""
    dy = np.abs(np.diff(images, axis=-3)).mean(axis=(-3, -2, -1))
    dx = np.abs(np.diff(images, axis=-2)).mean(axis=(-3, -2, -1))
    return dy + dx


@pytest.fixture(scope="module")
def digits():
    """The trained 8×8 grayscale digits CNN (trained once for this module) and all images."""
    model, data = nv.datasets.trained_digits_cnn()
    return model, np.concatenate([data.train.x, data.test.x])


@pytest.fixture(scope="module")
def channel_run(digits):
    """Four live channels of the last conv layer, optimized together with default settings."""
    model, x = digits
    dataset = nv.get_activation(model, x, "conv2").mean(axis=(1, 2))  # (N, 32)
    channels = [int(c) for c in np.flatnonzero(dataset.max(axis=0) > 0)[:4]]
    objs = [O.channel("conv2", k) for k in channels]
    snap_weights = [w.copy() for w in model.get_weights()]
    history = nv.maximize_activation(model, objs, steps=256, progress=False, history=True)
    images = history.images
    return model, x, channels, objs, images, history, dataset, snap_weights


@pytest.mark.slow
def test_optimized_images_beat_every_dataset_image(channel_run):
    model, x, channels, objs, images, _, dataset, _ = channel_run
    assert images.shape == (4, 8, 8, 1)
    assert images.min() >= 0 and images.max() <= 1
    for i, (k, obj) in enumerate(zip(channels, objs)):
        optimized = objective_values(model, images[i : i + 1], obj)[0]
        best = dataset[:, k].max()
        assert optimized > best, (k, optimized, best)
        # The same number from the plain activation API: scoring is not self-serving.
        act = nv.get_activation(model, images[i : i + 1], "conv2")[0, ..., k].mean()
        np.testing.assert_allclose(optimized, act, rtol=1e-5)


@pytest.mark.slow
def test_objective_rises_over_the_optimisation(channel_run):
    *_, history, _, _ = channel_run
    steps = history.objective.shape[0]
    assert history.objective.shape == (256, 4)
    tenth = steps // 10
    first, last = history.objective[:tenth].mean(axis=0), history.objective[-tenth:].mean(axis=0)
    assert np.all(last > first * 1.5), (first, last)
    assert history.frames.shape[1:] == (4, 8, 8, 1)
    assert history.frame_steps[0] == 0 and history.frame_steps[-1] == 256
    assert len(history.frames) == len(history.frame_steps)


@pytest.mark.slow
def test_model_is_unchanged_and_step_compiled_once(channel_run, snapshot):
    model, x, channels, objs, *_, snap_weights = channel_run
    for before, after in zip(snap_weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    snap = snapshot(model)
    # Other channels, same structure: the cached step is reused, not retraced.
    other = [O.channel("conv2", k) for k in (5, 6, 7, 8)]
    nv.maximize_activation(model, other, steps=3, progress=False)
    sessions = [s for s in compiled_steps(model) if len(s.plan.objectives) == 4]
    assert len(sessions) == 1 and sessions[0].trace_count == 1
    snap.assert_unchanged()


@pytest.mark.slow
def test_class_logits_give_images_classified_as_that_class(digits):
    model, _ = digits
    classes = [0, 3, 7]
    images = nv.maximize_activation(
        model, [O.class_logit(c) for c in classes], progress=False
    ).images
    probs = model.predict(images, verbose=0)
    assert list(probs.argmax(axis=1)) == classes
    assert np.all(probs.max(axis=1) > 0.9)


@pytest.mark.slow
def test_value_range_maps_images_to_what_the_model_expects(digits):
    model, _ = digits
    inp = keras.Input((8, 8, 1))
    wrapped = keras.Model(inp, model(L.Rescaling(1 / 255.0)(inp)), name="expects_0_255")
    obj = O.channel("digits_cnn/conv2", 4)
    a = nv.maximize_activation(
        wrapped, obj, steps=30, value_range=(0, 255), progress=False, transforms=None
    ).images
    b = nv.maximize_activation(
        model, O.channel("conv2", 4), steps=30, progress=False, transforms=None
    ).images
    np.testing.assert_allclose(a, b, atol=1e-3)
    c = nv.maximize_activation(wrapped, obj, steps=30, progress=False, transforms=None).images
    assert np.abs(a - c).max() > 0.05  # without the mapping the model sees other inputs


@pytest.mark.slow
def test_same_seed_same_images_other_seed_other_images(digits):
    model, _ = digits
    obj = O.neuron("conv2", 3)
    run = lambda seed: (
        nv.maximize_activation(model, obj, steps=25, seed=seed, progress=False).images
    )
    a, b, c = run(1), run(1), run(2)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.abs(a - c).max() > 0.05


@pytest.mark.slow
def test_diversity_makes_a_batch_differ(digits):
    # The property is measured where diversity acts, robustly to how training went on this CPU:
    # the unit is the most active channel (a hard-coded channel may be nearly dead on another
    # machine's trained model, leaving its images at their random, already spread-out start), and
    # each figure is a mean over three seeds.
    model, x = digits
    channel = int(np.argmax(nv.get_activation(model, x, "conv2").mean(axis=(0, 1, 2))))
    base = O.channel("conv2", channel)

    def gram_cosine(images):  # mean pairwise cosine of conv1 Gram matrices: what diversity lowers
        acts = nv.get_activation(model, images, "conv1")
        acts = acts.reshape(len(images), -1, acts.shape[-1])
        grams = np.stack([(a.T @ a).ravel() for a in acts])
        grams /= np.linalg.norm(grams, axis=1, keepdims=True)
        return np.mean([grams[i] @ grams[j] for i in range(3) for j in range(i)])

    def spread(images):  # mean pairwise pixel distance
        flat = images.reshape(3, -1)
        return np.mean([np.abs(flat[i] - flat[j]).mean() for i in range(3) for j in range(i)])

    def measure(obj):
        runs = [
            nv.maximize_activation(model, obj, n=3, steps=128, seed=s, progress=False).images
            for s in range(3)
        ]
        return np.mean([gram_cosine(r) for r in runs]), np.mean([spread(r) for r in runs])

    cos_base, spread_base = measure(base)
    cos_diverse, spread_diverse = measure(base - 30.0 * O.diversity("conv1"))
    # Gram matrices of ReLU features are all nearly parallel (cosine ~1), so the penalty needs a
    # large weight; at 30 it separates the most and the least active channels alike here.
    assert cos_diverse < cos_base - 0.01  # measured here: 0.967 vs 0.99999994
    assert spread_diverse > 4 * spread_base  # measured here: 0.30 vs 0.0014


@pytest.mark.slow
def test_progress_bar_and_bigger_size_on_fixed_size_model(digits, capsys):
    model, _ = digits
    images = nv.maximize_activation(model, O.channel("conv1", 2), steps=4, size=16).images
    assert images.shape == (1, 16, 16, 1)
    out = capsys.readouterr().out
    assert "4/4" in out and "objective" in out


# ----------------------------------------------------------------------------------------------
# Fourier + decorrelation + transforms vs pixel parameterization (RGB model)


@pytest.fixture(scope="module")
def rgb_digits():
    """Digits enlarged to 24×24 and coloured at random; a small 3-conv RGB CNN trained on them."""
    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    rng = np.random.default_rng(0)
    x = np.kron(data.train.x[..., 0], np.ones((3, 3), np.float32))[..., None]
    x = x * rng.uniform(0.2, 1.0, size=(len(x), 1, 1, 3)).astype(np.float32)
    inp = keras.Input((24, 24, 3))
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
    h = L.MaxPooling2D()(h)
    h = L.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = L.MaxPooling2D()(h)
    h = L.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
    h = L.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, L.Dense(10, activation="softmax")(h), name="rgb_digits")
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, data.train.y, epochs=3, batch_size=32, verbose=0)
    return model, x


@pytest.mark.slow
def test_fourier_recipe_is_smoother_than_pixels_at_comparable_activation(rgb_digits):
    model, x = rgb_digits
    dataset = nv.get_activation(model, x, "conv3").mean(axis=(1, 2))
    channels = [int(c) for c in np.flatnonzero(dataset.max(axis=0) > 0)[:4]]
    objs = [O.channel("conv3", k) for k in channels]
    fourier = nv.maximize_activation(model, objs, steps=256, progress=False).images
    hist = nv.maximize_activation(
        model,
        objs,
        steps=256,
        param="pixel",
        decorrelate=False,
        transforms=None,
        progress=False,
        history=True,
        history_every=1,
    )
    pixel = hist.images
    assert fourier.shape == (4, 24, 24, 3)
    tv_fourier, tv_pixel, tv_matched = _tv(fourier), _tv(pixel), []
    for i, (k, obj) in enumerate(zip(channels, objs)):
        act_fourier = objective_values(model, fourier[i : i + 1], obj)[0]
        assert act_fourier > 1.5 * dataset[:, k].max()  # a real maximizer, not a grey image
        # The pixel run's first snapshot that reaches the Fourier image's activation.
        trajectory = objective_values(model, hist.frames[:, i], obj)
        reached = np.flatnonzero(trajectory >= act_fourier)
        assert reached.size, "pixel optimisation never reached the Fourier activation"
        tv_matched.append(_tv(hist.frames[reached[0], i]))
    # Same budget: about half the total variation.
    assert np.all(tv_fourier < 0.7 * tv_pixel), (tv_fourier, tv_pixel)
    # Same activation: still clearly smoother.
    assert tv_fourier.mean() < 0.85 * np.mean(tv_matched), (tv_fourier, tv_matched)


# ----------------------------------------------------------------------------------------------
# Model kinds: nested, RGB, fully convolutional


def test_nested_models_inner_layer_rgb(zoo, snapshot):
    case = zoo("nested")
    snap = snapshot(case.model)
    obj = O.channel("base/block2_conv", 2)
    hist = nv.maximize_activation(case.model, obj, steps=64, progress=False, history=True)
    images = hist.images
    assert images.shape == (1, 12, 12, 3)
    assert (
        objective_values(case.model, images, obj)[0]
        > objective_values(case.model, case.x, obj).max()
    )
    assert hist.objective[-6:].mean() > hist.objective[:6].mean()
    snap.assert_unchanged()


@pytest.mark.parametrize(
    "name",
    ["sequential", "functional", "seq_in_seq", "multi_output", "mixed_float16", "custom_layer"],
)
def test_every_image_model_of_the_zoo(zoo, snapshot, name):
    case = zoo(name)
    snap = snapshot(case.model)
    layer = "block/inner_conv" if name == "custom_layer" else case.spatial_layer
    # The channel firing most on the zoo inputs (see the redirect test for dead ones).
    peak = nv.get_activation(case.model, case.x, layer).max(axis=(0, 1, 2))
    objs = [O.channel(layer, int(np.argmax(peak)))]
    if name == "multi_output":
        objs.append(O.class_logit(2, output="class_head"))
    hist = nv.maximize_activation(case.model, objs, steps=16, progress=False, history=True)
    images = hist.images
    assert images.shape == (len(objs), 12, 12, 3) and np.isfinite(images).all()
    assert np.all(hist.objective[-3:].mean(axis=0) > hist.objective[:3].mean(axis=0))
    snap.assert_unchanged()


def test_redirected_relu_rescues_a_channel_dead_at_the_grey_start(zoo):
    model = zoo("sequential").model
    obj = O.channel("conv2", 0)  # fires on random inputs, exactly 0 on near-grey images
    assert objective_values(model, np.full((1, 12, 12, 3), 0.5, "float32"), obj)[0] == 0
    with pytest.warns(UserWarning, match="stayed exactly 0.*redirect_relu=True"):
        stuck = nv.maximize_activation(
            model, obj, steps=96, progress=False, redirect_relu=False
        ).images
    assert objective_values(model, stuck, obj)[0] == 0
    hist = nv.maximize_activation(model, obj, steps=96, progress=False, history=True)
    rescued = hist.images
    assert objective_values(model, rescued, obj)[0] > 0
    assert hist.objective[0, 0] == 0 and hist.objective[-1, 0] > 0
    # The redirect variant is a second compiled step, built only because the unit was dead.
    (session,) = [s for s in compiled_steps(model) if s.plan.layer_paths == ["conv2"]]
    assert sorted(session.passes) == ["plain", "redirect", "render"] and session.trace_count == 2
    nv.maximize_activation(model, O.channel("conv2", 1), steps=4, progress=False)
    assert session.trace_count == 2  # another unit, same structure: both variants reused


def test_dead_unit_gives_a_clear_warning():
    inp = keras.Input((6, 6, 1))
    dead = L.Conv2D(2, 3, activation="relu", name="dead", bias_initializer="zeros")
    model = keras.Model(inp, dead(inp))
    dead.set_weights([-np.ones((3, 3, 1, 2), "float32"), np.zeros(2, "float32")])
    with pytest.warns(UserWarning, match=r"dead ch 1.*stayed exactly 0"):
        nv.maximize_activation(model, O.channel("dead", 1), steps=3, progress=False)


def test_fully_convolutional_model_takes_any_size():
    inp = keras.Input((None, None, 3))
    h = L.Conv2D(4, 3, activation="relu", name="c1", kernel_initializer=keras.initializers.Ones())
    out = L.Conv2D(3, 3, name="c2", kernel_initializer=keras.initializers.GlorotUniform(1))(h(inp))
    model = keras.Model(inp, out)
    images = nv.maximize_activation(
        model, O.layer_norm("c2"), size=(16, 20), steps=8, progress=False
    ).images
    assert images.shape == (1, 16, 20, 3)
    with pytest.raises(nv.InvalidArgumentError, match="size="):
        nv.maximize_activation(model, O.channel("c2", 0), steps=1, progress=False)


def test_custom_transforms_and_user_optimizer_untouched(zoo):
    model = zoo("sequential").model
    calls = []

    def flip(images, seed):
        calls.append(seed)  # traced once: a Python side effect
        return tf.reverse(images, axis=[2])

    opt = keras.optimizers.SGD(0.5)
    images = nv.maximize_activation(
        model,
        O.channel("conv2", 1),
        steps=6,
        transforms=[T.pad(1), T.jitter(2), flip, T.random_rotate(5)],
        optimizer=opt,
        progress=False,
    ).images
    assert images.shape == (1, 12, 12, 3) and len(calls) == 1
    assert not opt.built and int(opt.iterations.numpy()) == 0


# ----------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"param": "wavelet"}, "param"),
        ({"transforms": "lucid"}, "transforms"),
        ({"transforms": [3]}, "transforms"),
        ({"steps": 0}, "steps"),
        ({"n": -1}, "n must"),
        ({"history": True, "history_every": 0.5}, "history_every"),
        ({"value_range": (1, 0)}, "value_range"),
        ({"value_range": "0-255"}, "value_range"),
        ({"size": (1, 8)}, "size"),
        ({"optimizer": "nope"}, "optimizer"),
        ({"optimizer": 0.05}, "optimizer"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments(zoo, kwargs, match):
    model = zoo("sequential").model
    with pytest.raises(nv.InvalidArgumentError, match=match):
        nv.maximize_activation(model, O.channel("conv2", 0), progress=False, **kwargs)


@pytest.mark.parametrize("name", ["multi_input", "conv1d"])
def test_models_without_a_single_image_input(zoo, name):
    with pytest.raises(nv.UnsupportedModelError):
        nv.maximize_activation(zoo(name).model, O.channel("conv1", 0), steps=1, progress=False)


def test_transform_factories_validate():
    with pytest.raises(nv.InvalidArgumentError):
        T.pad(-1)
    with pytest.raises(nv.InvalidArgumentError):
        T.random_scale((1.2, 0.8))
    with pytest.raises(nv.InvalidArgumentError):
        T.random_rotate(-3)
    assert [t.name for t in T.standard((224, 224))] == [
        "pad(12, 0.5)",
        "jitter(8)",
        "random_scale(0.9, 1.1)",
        "random_rotate(10)",
        "jitter(4)",
    ]
    assert [t.name for t in T.standard((8, 8))] == ["random_scale(0.9, 1.1)", "random_rotate(10)"]


def test_transforms_are_seeded_and_keep_or_change_size_as_documented():
    images = tf.random.stateless_uniform((2, 16, 16, 3), seed=[0, 1])
    seed = tf.constant([3, 4])
    for t in T.standard((64, 64)):
        a, b = t(images, seed), t(images, seed)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert T.pad(2)(images, seed).shape == (2, 20, 20, 3)
    assert T.jitter(3)(images, seed).shape == (2, 13, 13, 3)
    assert T.random_scale()(images, seed).shape == (2, 16, 16, 3)
    rotated = T.random_rotate(30)(images, seed)
    other = T.random_rotate(30)(images, tf.constant([3, 5]))
    assert np.abs(rotated.numpy() - other.numpy()).max() > 1e-3


def test_fast_sparse_warp_equals_tensorflows_projective_transform():
    images = tf.random.stateless_uniform((3, 20, 17, 3), seed=[1, 2])
    seed = tf.constant([4, 9])
    dynamic = tf.TensorSpec((None, None, None, 3))
    for t in (T.random_rotate(25), T.random_scale((0.7, 1.3))):
        fast = t(images, seed)  # static shape: sparse-matrix warp
        reference = tf.function(lambda im, t=t: t(im, seed), input_signature=[dynamic])(images)
        np.testing.assert_allclose(fast.numpy(), reference.numpy(), atol=1e-5)
        assert np.abs(fast.numpy() - images.numpy()).max() > 0.05  # it did move pixels


# ----------------------------------------------------------------------------------------------
# Top dataset examples


def test_top_examples_rank_samples_by_channel_mean(zoo):
    case = zoo("nested")
    top = nv.top_examples(case.model, case.x, "base/block2_conv", 3, n=4)
    act = nv.get_activation(case.model, case.x, "base/block2_conv")[..., 3].mean(axis=(1, 2))
    np.testing.assert_array_equal(top.indices, np.argsort(-act, kind="stable")[:4])
    np.testing.assert_allclose(top.values, act[top.indices], rtol=1e-6)
    np.testing.assert_array_equal(top.images, case.x[top.indices])
    ds = tf.data.Dataset.from_tensor_slices(case.x).batch(3)
    from_ds = nv.top_examples(case.model, ds, "base/block2_conv", 3, n=4, reduce="mean")
    np.testing.assert_array_equal(from_ds.indices, top.indices)
    np.testing.assert_allclose(from_ds.images, top.images)
    top_max = nv.top_examples(case.model, case.x, "base/block2_conv", 3, n=2, reduce="max")
    peak = nv.get_activation(case.model, case.x, "base/block2_conv")[..., 3].max(axis=(1, 2))
    np.testing.assert_allclose(top_max.values, np.sort(peak)[::-1][:2], rtol=1e-6)
    with pytest.raises(nv.IncompatibleLayerError, match=r"0 \.\.\. 7"):
        nv.top_examples(case.model, case.x, "base/block2_conv", 8)
    with pytest.raises(nv.InvalidArgumentError):
        nv.top_examples(case.model, case.x, "base/block2_conv", 1, reduce="median")
