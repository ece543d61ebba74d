"""Fitting in with the tools users already run: TensorBoard (steps, run folders, projector) and
KerasTuner. Everything is checked by reading what was written (event files, pbtxt, PNGs)."""

from __future__ import annotations

import glob

import keras
import keras_tuner  # in the test extras (setup.py)
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.io import decode_png


def _events(run_dir) -> list[tuple[str, int, bytes | float]]:
    """(tag, step, value) of every summary in one run folder, read with TensorBoard's own
    loader; value: PNG bytes for images, float for scalars."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    out = []
    for tag in acc.Tags()["tensors"]:
        for event in acc.Tensors(tag):
            value = tf.make_ndarray(event.tensor_proto)
            if value.dtype == object:  # an image summary: [width, height, png]; or Keras's graph
                if value.ndim == 1:
                    out.append((tag, event.step, value[2]))
            else:
                out.append((tag, event.step, float(value)))
    return out


class _LiveReader(keras.callbacks.Callback):
    """After each epoch (after Keras's TensorBoard wrote it), read the `train` run the way
    TensorBoard does while training runs."""

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir
        self.seen: list[list[int]] = []

    def on_epoch_end(self, epoch, logs=None):
        steps = sorted(s for tag, s, _ in _events(self.run_dir) if tag == "epoch_loss")
        self.seen.append(steps)


@pytest.mark.slow
def test_frames_share_keras_epoch_steps_and_keras_curves_stay_visible_live(tmp_path, digits):
    keras.utils.set_random_seed(0)
    model = nv.datasets.digits_cnn()
    live = _LiveReader(tmp_path / "train")
    cb = nv.callbacks.ActivationMaps(tmp_path, x=digits.test.x[:1], layers=["conv1"])
    model.fit(
        digits.train.x[:64],
        digits.train.y[:64],
        validation_data=(digits.test.x[:32], digits.test.y[:32]),
        epochs=3,
        batch_size=32,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(tmp_path), cb, live],
    )
    # TensorBoard's loader sees Keras's curve of every finished epoch while training runs.
    assert live.seen == [[0], [0, 1], [0, 1, 2]]
    keras_steps = sorted(s for tag, s, _ in _events(tmp_path / "train") if tag == "epoch_loss")
    assert keras_steps == [0, 1, 2]  # Keras: epoch index, 0-based
    events = _events(tmp_path / "train" / "nnviz")
    ours = {s: v for tag, s, v in events if tag == "activation_maps/conv1"}
    assert sorted(ours) == [0, 1, 2]  # Keras's steps; before training has none (not written)
    # the schedule's marks sit at the same steps (valued the epoch drawn)
    assert {s: v for t, s, v in events if t == "nnviz/drawn/activation_maps"} == {0: 1, 1: 2, 2: 3}
    folder = tmp_path / "activation_maps" / "conv1"
    for step in (0, 1, 2):  # the frame at Keras's step e is the picture after epoch e + 1
        png = (folder / f"epoch_{step + 1:04d}.png").read_bytes()
        np.testing.assert_array_equal(decode_png(ours[step]), decode_png(png))
    # One writer per run folder: ours never writes into Keras's `train`.
    assert not {t for t, _, _ in _events(tmp_path / "train")} & {"activation_maps/conv1"}


def _token_model() -> keras.Model:
    inputs = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 4, name="embed")(inputs)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="out")(h))


def test_projector_config_keeps_keras_entry_and_ours(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, (32, 6)), rng.integers(0, 2, 32)
    model = _token_model()
    model.compile("adam", "sparse_categorical_crossentropy")

    def fit():
        callbacks = [
            keras.callbacks.TensorBoard(tmp_path, embeddings_freq=1),
            nv.callbacks.EmbeddingProjection(
                tmp_path, x=x, labels=y, layer="pool", every=1, sinks=["png"]
            ),
        ]
        model.fit(x, y, epochs=1, verbose=0, callbacks=callbacks)
        config = ProjectorConfig()
        text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), config)
        return [e.tensor_name for e in config.embeddings]

    names = fit()
    keras_name = "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    assert keras_name in names  # Keras's entry, written at train begin, is still there
    ours = [n for n in names if n.startswith("embedding_projection/")]
    assert len(ours) == 1 and len(names) == 2
    assert fit().count(keras_name) == 1  # a second fit: merged again, nothing duplicated


@pytest.mark.slow
def test_keras_tuner_search_with_three_callbacks_keeps_every_trials_pictures(tmp_path, digits):
    x, y = digits.train.x[:64], digits.train.y[:64]

    def build(hp):
        keras.utils.set_random_seed(0)
        model = nv.datasets.digits_cnn()
        lr = hp.Choice("lr", [1e-3, 3e-3])
        model.compile(
            keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model

    logs = tmp_path / "logs"
    callbacks = [
        nv.callbacks.WeightHistograms(logs, sinks=["png"]),
        nv.callbacks.ActivationMaps(logs, x=digits.test.x[:1], layers=["conv1"], sinks=["png"]),
        nv.callbacks.GradCAM(logs, x=digits.test.x[:2], y=digits.test.y[:2], sinks=["png"]),
    ]
    tuner = keras_tuner.RandomSearch(
        build,
        objective="val_accuracy",
        max_trials=2,
        directory=tmp_path / "tuner",
        project_name="p",
        seed=0,
    )
    tuner.search(
        x, y, validation_data=(x[:32], y[:32]), epochs=1, batch_size=32, verbose=0,
        callbacks=callbacks,
    )  # fmt: skip
    assert len(tuner.oracle.trials) == 2
    # Each trial trained deep copies writing into their own sub-folder: nothing overwritten.
    trials = sorted(p.name for p in logs.iterdir() if p.is_dir())
    assert trials == ["copy_01", "copy_02"]
    for trial in trials:
        for folder in ("weight_histograms/overview", "activation_maps/conv1", "grad_cam/maps"):
            frames = sorted(glob.glob(str(logs / trial / folder / "epoch_*.png")))
            assert [f[-14:] for f in frames] == ["epoch_0000.png", "epoch_0001.png"], (
                trial,
                folder,
            )
    assert not list(logs.glob("*/epoch_*.png")) and not (logs / "weight_histograms").exists()
    # The originals were only copied, never trained.
    assert all(getattr(cb, "model", None) is None for cb in callbacks)
