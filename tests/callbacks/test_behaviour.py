"""Callback behaviour: early validation, error policy, schedules, chief-only writes, no mutation."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from PIL import Image

import keras_nnviz as nv
from keras_nnviz import io as sinks
from keras_nnviz.callbacks import Schedule, VisualizationWarning
from keras_nnviz.errors import InvalidArgumentError, InvalidInputError, LayerNotFoundError
from tests.callbacks.conftest import finite


class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs += 1


# -- validation before the first epoch --------------------------------------------------------


def test_bad_layer_fails_before_training(tmp_path, digits, small_fit):
    model = nv.datasets.digits_cnn()
    before = [w.copy() for w in model.get_weights()]
    counter = EpochCounter()
    cb = nv.callbacks.ActivationMaps(tmp_path, x=digits.test.x[:1], layers=["conv1", "conv_2"])
    with pytest.raises(LayerNotFoundError, match="conv2"):  # the message suggests the fix
        small_fit([cb, counter], model=model)
    assert counter.epochs == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_unwritable_log_dir_fails_before_training(tmp_path, small_fit):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    counter = EpochCounter()
    cb = nv.callbacks.WeightHistograms(blocker / "logs")
    with pytest.raises(InvalidArgumentError, match="not a writable directory"):
        small_fit([cb, counter])
    assert counter.epochs == 0


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda d, x: nv.callbacks.ActivationMaps(d, x=x[:, :4]), InvalidInputError, "axis 1"),
        (lambda d, x: nv.callbacks.ActivationMaps(d, x=x[:2], sample=5), nv.NNVizError, "sample=5"),
        (
            lambda d, x: nv.callbacks.EmbeddingProjection(
                d, x=x[:10], labels=np.arange(4), layer="dense"
            ),
            InvalidInputError,
            "one label per sample",
        ),
        (
            lambda d, x: nv.callbacks.WeightMatrices(d, layers=["pool"]),
            nv.IncompatibleLayerError,
            "no weight matrix",
        ),
    ],
)
def test_bad_inputs_fail_before_training(tmp_path, digits, small_fit, make, error, match):
    counter = EpochCounter()
    with pytest.raises(error, match=match):
        small_fit([make(tmp_path, digits.test.x), counter])
    assert counter.epochs == 0


def test_arguments_are_checked_at_construction(tmp_path):
    with pytest.raises(InvalidArgumentError, match="batch:N"):
        nv.callbacks.WeightHistograms(tmp_path, every="often")
    with pytest.raises(InvalidArgumentError, match="on_error"):
        nv.callbacks.WeightHistograms(tmp_path, on_error="ignore")
    with pytest.raises(InvalidArgumentError, match="method"):
        nv.callbacks.EmbeddingProjection(tmp_path, x=None, layer="dense", method="lda")


def test_schedule_parsing():
    assert Schedule.parse(3) == Schedule("epoch", 3)
    assert Schedule.parse("batch:50") == Schedule("batch", 50)
    assert str(Schedule.parse("epoch:2")) == "2"
    assert Schedule.parse("auto") == Schedule("auto", 1) and str(Schedule.parse("auto")) == "auto"
    for bad in (0, -1, True, 1.5, "batch:0", "batch", "step:3"):
        with pytest.raises(InvalidArgumentError):
            Schedule.parse(bad)


@pytest.mark.parametrize(
    "every, epochs_done, due",
    [
        (2, 1, False),
        (2, 2, True),
        ("auto", 1, False),  # the fit's budget decides (tests/callbacks/test_budget.py)
        ("batch:5", 1, False),  # batch schedules draw in the batch hook
    ],
)
def test_schedule_due(every, epochs_done, due):
    assert Schedule.parse(every).due(epochs_done) is due


@pytest.mark.slow
def test_auto_schedule_thins_out_a_snapshot_that_costs_more_than_its_budget(tmp_path, small_fit):
    import time

    from keras_nnviz.callbacks._base import VisualizationCallback
    from keras_nnviz.io import ScalarItem

    class Slow(VisualizationCallback):  # each snapshot costs 0.3 s, an epoch ~50 ms
        folder = "slow"

        def compute(self, model):
            return float(np.linalg.norm(model.layers[-1].kernel.numpy()))

        def render(self, result, when):
            time.sleep(0.3)
            # a scalar: the manifest records it at every snapshot, the one before training too
            yield ScalarItem("kernel_norm", result)

    shared = nv.callbacks.Budget(0.05)
    slow = Slow(tmp_path, every="auto", budget=shared)
    fixed = Slow(tmp_path, every=1, name="fixed", budget=shared)
    small_fit([slow, fixed], epochs=5)
    manifest = sinks.load_manifest(tmp_path)
    epochs = lambda name: sorted(  # noqa: E731
        {
            e["epoch"]
            for e in manifest["entries"]
            if e["callback"] == name and e["epoch"] is not None
        }
    )
    # the initial state and the final state: the first epoch follows the budget too, and the
    # snapshot before training (0.3 s >> 5 % of an epoch) already spent it
    assert epochs("slow") == [0, 5]
    assert epochs("fixed") == [0, 1, 2, 3, 4, 5]
    assert manifest["callbacks"]["slow"]["every"] == "auto"
    assert manifest["callbacks"]["slow"]["runs"][-1]["drawn"] == [0, 5]


# -- failures during training ----------------------------------------------------------------


def test_failing_compute_warns_once_and_training_goes_on(tmp_path, digits, small_fit):
    cb = nv.callbacks.ActivationMaps(tmp_path, x=digits.test.x[:1], layers=["conv1"])
    calls = {"n": 0}
    real = cb.compute

    def flaky(model):
        calls["n"] += 1
        if calls["n"] > 1:  # the first compute (train begin) passes, every epoch fails
            raise RuntimeError("injected failure")
        return real(model)

    cb.compute = flaky
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = small_fit([cb], epochs=3)
    ours = [w for w in caught if issubclass(w.category, VisualizationWarning)]
    assert len(ours) == 1 and "injected failure" in str(ours[0].message)
    assert len(history.history["loss"]) == 3 and finite(history.history["loss"])
    assert cb.stats.errors == 4  # three epochs + the retry of the final state at train end
    m = sinks.load_manifest(tmp_path)
    assert len(m["callbacks"]["activation_maps"]["errors"]) == 4
    assert (tmp_path / "activation_maps" / "conv1" / "epoch_0000.png").exists()


def test_failing_render_on_writer_thread_warns_once(tmp_path, digits, small_fit, monkeypatch):
    cb = nv.callbacks.WeightMatrices(tmp_path, layers=["dense"])

    def broken(*args, **kwargs):
        raise ValueError("cannot draw")

    monkeypatch.setattr(nv.callbacks.weights._frames, "matrix_frame", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = small_fit([cb], epochs=2)
    ours = [w for w in caught if issubclass(w.category, VisualizationWarning)]
    assert len(ours) == 1 and "cannot draw" in str(ours[0].message)
    assert len(history.history["loss"]) == 2


def test_on_error_raise_stops_training(tmp_path, digits, small_fit, monkeypatch):
    cb = nv.callbacks.WeightHistograms(tmp_path, on_error="raise")
    real = nv.callbacks.weights.weight_snapshot
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:  # the initial snapshot at train begin
            raise RuntimeError("injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(nv.callbacks.weights, "weight_snapshot", flaky)
    counter = EpochCounter()
    with pytest.raises(RuntimeError, match="injected"):
        small_fit([cb, counter], epochs=3)
    assert counter.epochs == 1


# -- schedules -------------------------------------------------------------------------------


def test_every_n_epochs_and_final_state(tmp_path, digits, small_fit):
    cb = nv.callbacks.WeightMatrices(tmp_path, layers=["dense"], every=2, initial=False)
    small_fit([cb], epochs=3)
    frames = sorted(
        p.name for p in (tmp_path / "weight_matrices" / "dense" / "kernel").glob("*.png")
    )
    assert frames == ["epoch_0002.png", "epoch_0003.png"]  # every 2nd + the final state
    m = sinks.load_manifest(tmp_path)
    finals = [e["epoch"] for e in m["entries"] if e.get("final") and e["sink"] == "png"]
    assert finals == [3]


def test_batch_schedule_snapshots_every_n_batches(tmp_path, digits, small_fit):
    # 128 samples / 32 = 4 batches per epoch, 2 epochs: batches 3 and 6, then the final 8.
    cb = nv.callbacks.ActivationMaps(
        tmp_path, x=digits.test.x[:1], layers=["conv1"], every="batch:3"
    )
    other = nv.callbacks.WeightMatrices(tmp_path / "w", layers=["dense"])
    small_fit([cb, other], epochs=2)
    frames = sorted(p.name for p in (tmp_path / "activation_maps" / "conv1").glob("*.png"))
    assert frames == [
        "epoch_0000.png",
        "epoch_0000_batch_000003.png",
        "epoch_0001_batch_000006.png",
        "epoch_0002_batch_000008.png",
    ]
    # Epoch-level callbacks define no batch hook, so Keras keeps its async batch dispatch.
    assert "on_train_batch_end" not in vars(other) and "on_train_batch_end" in vars(cb)


# -- distribution and model safety -----------------------------------------------------------


def test_only_the_chief_writes(tmp_path, digits, small_fit, monkeypatch):
    monkeypatch.setattr(nv.callbacks._base, "is_chief", lambda model: False)
    cb = nv.callbacks.ActivationMaps(tmp_path / "logs", x=digits.test.x[:1], layers=["conv1"])
    small_fit([cb], epochs=2)
    assert cb.stats.snapshots == 3  # computed on every worker (collectives need everyone)
    assert not (tmp_path / "logs").exists()


def test_callbacks_leave_the_model_untouched(tmp_path, digits, snapshot):
    model = nv.datasets.digits_cnn()
    snap = snapshot(model)
    x, y = digits.test.x, digits.test.y
    cbs = [
        nv.callbacks.WeightHistograms(tmp_path),
        nv.callbacks.WeightMatrices(tmp_path),
        nv.callbacks.ActivationMaps(tmp_path, x=x[:1]),
        nv.callbacks.EmbeddingProjection(tmp_path, x=x[:20], labels=y[:20], layer="dense", every=1),
    ]
    for cb in cbs:  # drive the hooks as fit does, without training
        cb.set_model(model)
        cb.on_train_begin()
        cb.on_epoch_begin(0)
        cb.on_epoch_end(0)
        cb.on_train_end()
        assert cb.stats.errors == 0 and cb.stats.snapshots == 2
    snap.assert_unchanged()


@pytest.mark.slow
def test_recurrent_and_sequence_layers_get_state_heatmaps(tmp_path, zoo):
    case = zoo("recurrent")
    cb = nv.callbacks.ActivationMaps(tmp_path, x=case.x[:1], initial=False)
    cb.set_model(case.model)
    cb.on_train_begin()
    cb.on_train_end()
    assert cb.stats.errors == 0
    m = sinks.load_manifest(tmp_path)
    tags = m["callbacks"]["activation_maps"]["tags"]
    recurrent = [t for t in tags if t in cb._recurrent]
    assert recurrent, tags
    for tag in tags:
        assert (tmp_path / "activation_maps" / tag / "epoch_0000.png").exists()


@pytest.mark.slow
def test_background_pass_sees_the_end_of_epoch_weights(tmp_path, digits, small_fit):
    # The forward pass runs on the writer thread while the next epoch trains; the weight
    # snapshot must make it equal to a synchronous pass taken at the end of the epoch.
    x = digits.test.x[:40]
    cb = nv.callbacks.EmbeddingProjection(tmp_path, x=x, layer="dense", projector="every", every=1)
    truth = {}

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            truth[epoch + 1] = nv.get_activation(self.model, x, "dense")

    small_fit([cb, Recorder()], epochs=3)
    for epoch, expected in truth.items():
        path = tmp_path / "embedding_projection" / "dense" / f"epoch_{epoch:04d}" / "tensors.tsv"
        np.testing.assert_allclose(np.loadtxt(path, delimiter="\t"), expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(truth[1], truth[3], atol=1e-3)  # the weights did move meanwhile


def test_a_new_callback_is_a_few_lines(tmp_path, small_fit):
    from keras_nnviz.callbacks import _frames
    from keras_nnviz.callbacks._base import VisualizationCallback
    from keras_nnviz.io import HistogramItem, ImageItem

    class KernelNorms(VisualizationCallback):  # the example of the module docstring
        folder, title = "kernel_norms", "Kernel column norms"

        def validate(self, model):
            self._keys = [k for k, w in nv.get_weights(model).items() if w.ndim == 2]

        def compute(self, model):
            weights = nv.get_weights(model)
            return {k: np.linalg.norm(weights[k], axis=0) for k in self._keys}

        def render(self, result, when):
            for key, norms in result.items():
                yield HistogramItem(key, norms)
                yield ImageItem(
                    key, pixels=_frames.matrix_frame(norms[None], f"{key} {when.label}")
                )

    cb = KernelNorms(tmp_path, every=2)
    small_fit([cb], epochs=2)
    frames = sorted(p.name for p in (tmp_path / "kernel_norms" / "dense" / "kernel").glob("*.png"))
    assert frames == ["epoch_0000.png", "epoch_0002.png"]
    assert sinks.load_manifest(tmp_path)["callbacks"]["kernel_norms"]["class"] == "KernelNorms"


@pytest.mark.slow
def test_every_zoo_model_works_and_stays_untouched(tmp_path, zoo_case, snapshot):
    """Nested, multi-input/-output, 1-D, recurrent, mixed-precision and custom-layer models."""
    model = zoo_case.model
    snap = snapshot(model)
    x = zoo_case.x
    first = x[0] if isinstance(x, list) else next(iter(x.values())) if isinstance(x, dict) else x
    labels = np.arange(len(first)) % 2
    cbs = [
        nv.callbacks.WeightHistograms(tmp_path),
        nv.callbacks.ActivationMaps(tmp_path, x=x),
        nv.callbacks.EmbeddingProjection(tmp_path, x=x, labels=labels, layer=-1),
    ]
    for cb in cbs:
        cb.set_model(model)
        cb.on_train_begin()
        cb.on_epoch_end(0)
        cb.on_train_end()
        assert cb.stats.errors == 0, (cb.name, cb._errors[:1])
    snap.assert_unchanged()
    tags = sinks.load_manifest(tmp_path)["callbacks"]["activation_maps"]["tags"]
    assert tags and all(
        (tmp_path / "activation_maps" / t / "epoch_0001.png").exists() for t in tags
    )


@pytest.mark.slow
def test_a_second_fit_continues_the_numbering_and_the_manifest(tmp_path, digits, small_fit):
    model = nv.datasets.digits_cnn()
    cb = nv.callbacks.WeightMatrices(tmp_path, layers=["dense"])
    small_fit([cb], epochs=2, model=model)
    first = (tmp_path / "weight_matrices" / "dense" / "kernel" / "epoch_0000.png").read_bytes()
    small_fit([cb], epochs=4, model=model, initial_epoch=2)
    folder = tmp_path / "weight_matrices" / "dense" / "kernel"
    assert sorted(p.name for p in folder.glob("epoch_*.png")) == [
        f"epoch_{e:04d}.png" for e in range(5)
    ]
    assert (folder / "epoch_0000.png").read_bytes() == first  # not overwritten by the resume
    m = sinks.load_manifest(tmp_path)
    paths = [e["path"] for e in m["entries"] if e["sink"] == "png"]
    assert len(paths) == len(set(paths)) == 5  # epoch_0002 rewritten once, listed once
    assert len(m["callbacks"]["weight_matrices"]["runs"]) == 2
    with Image.open(folder / "animation.gif") as gif:
        assert gif.n_frames == 5  # the resumed run: epochs 0, 1 (first fit), 2, 3, 4


@pytest.mark.slow
def test_foreground_mode_computes_on_the_training_thread(tmp_path, digits, small_fit):
    x = digits.test.x[:40]
    kw = {"layer": "dense", "projector": "every", "every": 1}
    fg = nv.callbacks.EmbeddingProjection(tmp_path / "fg", x=x, background=False, **kw)
    bg = nv.callbacks.EmbeddingProjection(tmp_path / "bg", x=x, **kw)
    model = nv.datasets.digits_cnn()
    small_fit([fg, bg], epochs=2, model=model)
    assert fg.stats.errors == bg.stats.errors == 0
    for e in range(3):  # same weights at each snapshot, whichever thread ran the pass
        tsv = f"embedding_projection/dense/epoch_{e:04d}/tensors.tsv"
        np.testing.assert_allclose(
            np.loadtxt(tmp_path / "fg" / tsv, delimiter="\t"),
            np.loadtxt(tmp_path / "bg" / tsv, delimiter="\t"),
            rtol=1e-5,
            atol=1e-6,
        )
