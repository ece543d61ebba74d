"""Callbacks of the other families: attention, feature visualization, attribution."""

from __future__ import annotations

import functools
import inspect

import keras
import numpy as np
import pytest
from PIL import Image

import keras_nnviz as nv
from keras_nnviz import io as sinks
from tests.conftest import png_is_not_blank
from tests.test_sinks import read_events


@pytest.fixture(scope="module")
def attention_run(tmp_path_factory):
    keras.utils.set_random_seed(0)
    log_dir = tmp_path_factory.mktemp("attention")
    data = nv.datasets.flagged_value(512)
    model = nv.datasets.flagged_value_transformer()
    cb = nv.callbacks.AttentionMaps(log_dir, x=data.x[:1], tokens=data.tokens[:1])
    history = model.fit(data.x, data.y, epochs=3, batch_size=32, verbose=0, callbacks=[cb])
    return model, data, cb, log_dir, history


def test_attention_maps_frames_gif_events_and_summary(attention_run):
    model, data, cb, log_dir, history = attention_run
    assert cb.stats.errors == 0 and len(history.history["loss"]) == 3
    [path] = nv.attention.capture.attention_layers(model)
    folder = log_dir / "attention_maps" / path
    frames = sorted(p.name for p in folder.glob("epoch_*.png"))
    assert frames == [f"epoch_{e:04d}.png" for e in range(4)]
    with Image.open(folder / "animation.gif") as gif:
        assert gif.n_frames == 4
    summary = log_dir / "attention_maps" / "model_view" / "summary.png"
    assert png_is_not_blank(summary.read_bytes())
    steps = [
        s
        for t, s, plugin, _ in read_events(log_dir / "train" / "nnviz")
        if t == f"attention_maps/{path}"
    ]
    assert steps == [0, 1, 2]  # Keras's epoch steps; the state before training is PNG/GIF only
    manifest = sinks.load_manifest(log_dir)["callbacks"]["attention_maps"]
    assert manifest["params"]["tokens"] == [str(t) for t in data.tokens[0]]


def test_attention_frames_show_the_final_weights(attention_run):
    """The last frame's pixels come from the model's attention after training, not before."""
    model, data, cb, log_dir, _ = attention_run
    [path] = nv.attention.capture.attention_layers(model)
    final = nv.get_attention(model, data.x[:1])[path][0]
    assert np.allclose(cb._last[path], final, atol=1e-6)
    first = np.asarray(Image.open(log_dir / "attention_maps" / path / "epoch_0000.png"), float)
    last = np.asarray(Image.open(log_dir / "attention_maps" / path / "epoch_0003.png"), float)
    assert np.abs(first - last).mean() > 1.0


def test_attention_maps_need_an_attention_layer(tmp_path, digits):
    cb = nv.callbacks.AttentionMaps(tmp_path, x=digits.test.x[:1])
    cb.set_model(nv.datasets.digits_cnn())
    with pytest.raises(nv.IncompatibleLayerError):
        cb.on_train_begin()


@pytest.mark.slow
def test_feature_visualization_every_n_epochs_with_a_fixed_seed(tmp_path, digits, small_fit):
    objs = [nv.objectives.channel("conv2", k) for k in range(3)]
    model = nv.datasets.digits_cnn()
    cb = nv.callbacks.FeatureVisualization(tmp_path, objectives=objs, steps=16, every=2, warm=False)
    every = inspect.signature(nv.callbacks.FeatureVisualization).parameters["every"]
    assert cb.schedule.n == 2 and every.default == "auto"
    history = small_fit([cb], epochs=3, model=model)
    assert cb.stats.errors == 0 and len(history.history["loss"]) == 3
    folder = tmp_path / "feature_visualization" / "images"
    assert sorted(p.name for p in folder.glob("epoch_*.png")) == [
        "epoch_0000.png",
        "epoch_0002.png",
        "epoch_0003.png",
    ]
    assert png_is_not_blank((folder / "summary.png").read_bytes())
    # The final frame is the optimization of the trained model with the same seed.
    again = nv.maximize_activation(model, objs, steps=16, seed=0, progress=False).images
    np.testing.assert_allclose(cb._last, again, atol=1e-5)
    labels = sinks.load_manifest(tmp_path)["callbacks"]["feature_visualization"]["params"]
    assert labels["objectives"] == [str(o) for o in objs]


@pytest.mark.slow
def test_feature_visualization_warm_starts_from_the_previous_snapshot(tmp_path, small_fit):
    objs = [nv.objectives.channel("conv2", k) for k in range(3)]
    model = nv.datasets.digits_cnn()
    run = functools.partial(nv.maximize_activation, model, objs, seed=0, progress=False)
    first = run(steps=16)
    warm, cold = run(steps=4, init=first), run(steps=4)
    # four steps from the optimized images stay near them and score higher than four from noise
    assert np.abs(warm.images - first.images).mean() < np.abs(cold.images - first.images).mean()
    assert warm.objective[-1].mean() > cold.objective[-1].mean()
    with pytest.raises(nv.InvalidArgumentError, match="init"):
        run(steps=4, n=2, init=first)
    cb = nv.callbacks.FeatureVisualization(
        tmp_path, objectives=objs, steps=16, warm_steps=4, every=1
    )
    small_fit([cb], epochs=2, model=model)
    params = sinks.load_manifest(tmp_path)["callbacks"]["feature_visualization"]["params"]
    assert cb.stats.errors == 0 and params["warm_steps"] == 4
    # before training and after epoch 1: the warm steps; the final state: all the steps
    assert cb._previous.objective.shape == (16, 3)
    captions = {
        e["epoch"]: e["caption"]
        for e in sinks.load_manifest(tmp_path)["entries"]
        if e["callback"] == "feature_visualization"
        and e.get("sink") == "png"
        and e.get("kind") == "frame"
    }
    assert [captions[e].split(" steps")[0].split()[-1] for e in (0, 1, 2)] == ["4", "8", "24"]


def test_feature_visualization_bad_objective_fails_before_training(tmp_path, small_fit):
    cb = nv.callbacks.FeatureVisualization(
        tmp_path, objectives=nv.objectives.channel("conv9", 0), steps=4
    )
    with pytest.raises(nv.LayerNotFoundError):
        small_fit([cb], epochs=1)
    with pytest.raises(nv.InvalidArgumentError, match="progress"):
        nv.callbacks.FeatureVisualization(tmp_path, objectives=[], progress=True)


def test_grad_cam_frames_are_the_maps_of_the_model_at_that_epoch(run):
    cb = run.callback(nv.callbacks.GradCAM)
    x = run.data.test.x[:4]
    np.testing.assert_allclose(cb._last_maps, nv.grad_cam(run.model, x), atol=1e-5)
    folder = run.log_dir / "grad_cam" / "maps"
    first = np.asarray(Image.open(folder / "epoch_0000.png"), float)
    last = np.asarray(Image.open(folder / "epoch_0003.png"), float)
    assert first.shape == last.shape and np.abs(first - last).mean() > 1.0
    ig = next(c for c in run.callbacks if c.name == "integrated_gradients")
    assert ig._last_maps.min() < 0 < ig._last_maps.max()  # signed maps
    params = sinks.load_manifest(run.log_dir)["callbacks"]["integrated_gradients"]["params"]
    assert params["method"] == "integrated_gradients" and params["steps"] == 16


def test_attribution_arguments_fail_early(tmp_path, digits, small_fit):
    with pytest.raises(nv.InvalidArgumentError, match="method must be one of"):
        nv.callbacks.Attributions(tmp_path, x=digits.test.x[:2], method="no_such_method")
    cb = nv.callbacks.GradCAM(tmp_path, x=digits.test.x[:2], layer="dense")  # not spatial
    with pytest.raises(nv.NNVizError):
        small_fit([cb], epochs=1)
