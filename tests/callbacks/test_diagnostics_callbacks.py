"""GradientFlow and DeadUnits callbacks: sick networks seen while they train."""

from __future__ import annotations

import threading
import warnings

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz import diagnostics
from keras_nnviz.callbacks.diagnostics import update_ratios
from tests.test_sinks import read_events


@pytest.fixture(scope="module")
def flat_digits():
    data = nv.datasets.digits()
    return data.train.x[:512].reshape(512, -1), data.train.y[:512]


def _mlp(lr, sick_layer=None, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((64,))
    h = inp
    for i in range(3):
        bias = keras.initializers.Constant(-10.0) if i == sick_layer else "zeros"
        h = keras.layers.Dense(
            32,
            activation="relu",
            kernel_initializer="he_normal",
            bias_initializer=bias,
            name=f"dense_{i}",
        )(h)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="out")(h))
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy")
    return model


class _Snapshots(keras.callbacks.Callback):
    """Weights at train begin and after every epoch: the manual reference for update ratios."""

    def on_train_begin(self, logs=None):
        self.weights = [nv.get_weights(self.model, trainable_only=True)]

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(nv.get_weights(self.model, trainable_only=True))


def _manual_ratio(before, after, layer):
    keys = [k for k in before if k.rsplit("/", 1)[0] == layer]
    delta = np.sqrt(sum(np.sum((after[k].astype(np.float64) - before[k]) ** 2) for k in keys))
    return delta / np.sqrt(sum(np.sum(before[k].astype(np.float64) ** 2) for k in keys))


def test_update_ratios_equal_manual_computation_and_plausible_range(flat_digits, tmp_path):
    x, y = flat_digits
    model = _mlp(lr=0.05)
    snaps = _Snapshots()
    cb = nv.callbacks.GradientFlow(tmp_path, x=x[:128], y=y[:128])
    history = model.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[snaps, cb])
    assert len(history.history["loss"]) == 3
    assert cb.history["step"] == [0, 1, 2, 3]
    layers = ["dense_0", "dense_1", "dense_2", "out"]
    assert list(cb.history["update_ratio"]) == layers
    for layer in layers:
        ratios = cb.history["update_ratio"][layer]
        assert np.isnan(ratios[0])  # nothing to compare the initial state with
        for epoch in (1, 2, 3):
            manual = _manual_ratio(snaps.weights[epoch - 1], snaps.weights[epoch], layer)
            assert ratios[epoch] == pytest.approx(manual, rel=1e-6)
            assert 1e-5 <= ratios[epoch] <= 1e-1
    rows = nv.gradient_flow(model, x[:128], y[:128])
    final = np.sqrt(
        sum(r["grad_norm"] ** 2 for r in rows if r["layer"] == "out" and len(r["shape"]) == 2)
    )
    assert cb.history["grad_norm"]["out"][-1] == pytest.approx(final, rel=1e-5)
    assert (tmp_path / "gradient_flow" / "layers" / "epoch_0003.png").exists()
    assert (tmp_path / "gradient_flow" / "layers" / "update_ratio.png").exists()
    assert (tmp_path / "gradient_flow" / "layers" / "grad_norm.png").exists()
    tags = {
        tag
        for tag, _, plugin, _ in read_events(tmp_path / "train" / "nnviz")
        if plugin == "scalars"
    }
    assert "gradient_flow/dense_0/grad_norm/scalar" in tags
    assert "gradient_flow/out/update_ratio/scalar" in tags


def test_learning_rate_zero_gives_update_ratio_exactly_zero(flat_digits, tmp_path):
    x, y = flat_digits
    cb = nv.callbacks.GradientFlow(tmp_path, x=x[:64], y=y[:64], sinks=["png"])
    _mlp(lr=0.0).fit(x[:256], y[:256], epochs=2, batch_size=64, verbose=0, callbacks=[cb])
    for ratios in cb.history["update_ratio"].values():
        assert ratios[1:] == [0.0, 0.0]
    assert update_ratios({"a/k": np.ones(3)}, {"a/k": np.ones(3)}) == {"a": 0.0}


def test_dead_units_callback_warns_once_naming_the_sick_layer(flat_digits, tmp_path, caplog):
    x, y = flat_digits
    cb = nv.callbacks.DeadUnits(tmp_path, x=x[:256], warn_fraction=0.5)
    model = _mlp(lr=0.01, sick_layer=2)  # the last hidden layer: nothing downstream dies with it
    with pytest.warns(nv.callbacks.DeadUnitsWarning) as record, caplog.at_level("WARNING"):
        model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[cb])
    dead_warnings = [w for w in record if issubclass(w.category, nv.callbacks.DeadUnitsWarning)]
    assert len(dead_warnings) == 1 and "'dense_2'" in str(dead_warnings[0].message)
    assert any("dense_2" in r.getMessage() for r in caplog.records if r.name == "keras_nnviz")
    fractions = cb.history["dead_fraction"]
    assert all(f >= 0.9 for f in fractions["dense_2"])
    assert all(f < 0.2 for f in fractions["dense_0"] + fractions["dense_1"])
    assert (tmp_path / "dead_units" / "layers" / "final.png").exists()
    manifest = nv.io.load_manifest(tmp_path)
    assert manifest["callbacks"]["dead_units"]["class"] == "DeadUnits"
    [fit] = manifest["fits"]  # one callback alone records the fit too
    assert fit["ended"] and [m["epoch"] for m in fit["metrics"]] == [1, 2]


def test_healthy_network_does_not_warn(flat_digits, tmp_path):
    x, y = flat_digits
    cb = nv.callbacks.DeadUnits(tmp_path, x=x[:256], sinks=["png"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", nv.callbacks.DeadUnitsWarning)
        _mlp(lr=0.01).fit(x, y, epochs=1, batch_size=64, verbose=0, callbacks=[cb])


def test_mistakes_fail_before_training(flat_digits, tmp_path):
    x, y = flat_digits
    with pytest.raises(nv.InvalidInputError, match="needs labels"):
        nv.callbacks.GradientFlow(tmp_path, x=x[:8], y=None)
    with pytest.raises(nv.InvalidArgumentError, match="warn_fraction"):
        nv.callbacks.DeadUnits(tmp_path, x=x[:8], warn_fraction=0)
    model = _mlp(lr=0.01)
    seen = []
    probe = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))
    with pytest.raises(nv.InvalidInputError, match="axis 1 should be 64"):
        model.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[nv.callbacks.GradientFlow(tmp_path, x=x[:8, :10], y=y[:8]), probe],
        )
    with pytest.raises(nv.LayerNotFoundError):
        model.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[nv.callbacks.DeadUnits(tmp_path, x=x[:8], layers=["nope"]), probe],
        )
    assert seen == []


def test_the_passes_run_on_the_writer_thread(flat_digits, tmp_path, monkeypatch):
    """Training only freezes the weights; the gradients and activations are computed later."""
    x, y = flat_digits
    threads = {"flow_rows": [], "count_dead_units": []}
    for name in threads:
        real = getattr(diagnostics, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            threads[_name].append(threading.current_thread().name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(diagnostics, name, spy)
    cbs = [
        nv.callbacks.GradientFlow(tmp_path, x=x[:128], y=y[:128], sinks=["png"]),
        nv.callbacks.DeadUnits(tmp_path, x=x[:128], sinks=["png"], warn_fraction=1.0),
    ]
    _mlp(lr=0.01).fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=cbs)
    main = threading.main_thread().name
    for name, seen in threads.items():
        # Train begin computes on the training thread (tracing, early errors); every epoch and
        # the final state on the writer thread.
        assert seen[0] == main and len(seen) == 4, (name, seen)
        assert all(t.startswith("nnviz-writer") for t in seen[1:]), (name, seen)
    for cb in cbs:
        assert cb.stats.errors == 0 and len(cb.stats.blocking) == 3
        assert max(cb.stats.blocking) < 2.0  # generous: the pass itself is not in it


def test_dead_units_warns_once_for_many_sick_layers(tmp_path):
    """A network with many dead layers gets one warning, worst layers first, not one per layer."""
    keras.utils.set_random_seed(0)
    layers = [keras.Input((8,))]
    for i in range(6):  # biases of -50: every ReLU unit is dead from the start
        layers.append(keras.layers.Dense(4, "relu", name=f"d{i}"))
    layers.append(keras.layers.Dense(2, name="out"))
    model = keras.Sequential(layers)
    for layer in model.layers[:-1]:
        layer.bias.assign(np.full(4, -50.0 - float(layer.name[1:]), "float32"))
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).uniform(0, 1, (32, 8)).astype("float32")
    cb = nv.callbacks.DeadUnits(tmp_path, x=x, sinks=["png"])
    with pytest.warns(nv.callbacks.DeadUnitsWarning) as record:
        model.fit(x, np.zeros((32, 2)), epochs=2, verbose=0, callbacks=[cb])
    dead = [w for w in record if issubclass(w.category, nv.callbacks.DeadUnitsWarning)]
    assert len(dead) == 1
    assert str(dead[0].message).startswith("6 layers: 'd0'") and "3 more" in str(dead[0].message)


def _recording_fit(x, y, log_dir):
    model = _mlp(lr=0.05)
    cbs = [
        nv.callbacks.DeadUnits(log_dir, x=x[:64], sinks=["png"]),
        nv.callbacks.EmbeddingProjection(log_dir, x=x[:32], layer="dense_1", sinks=["png"]),
    ]
    model.fit(x, y, epochs=1, batch_size=128, verbose=0, callbacks=cbs)
    return cbs


@pytest.mark.slow
def test_recording_callbacks_share_one_pass_unless_their_batches_cannot_afford_it(
    flat_digits, tmp_path, monkeypatch
):
    from keras_nnviz.callbacks import _recorder

    x, y = flat_digits
    dead, emb = _recording_fit(x, y, tmp_path / "shared")
    assert dead._probe.compiled is emb._probe.compiled
    assert (
        dead._probe.paths == ["dense_0", "dense_1", "dense_2"] and emb._probe.paths[0] == "dense_1"
    )
    monkeypatch.setattr(_recorder, "EXTRA_BYTES", 0)  # no batch may hold others' layers
    own_dead, own_emb = _recording_fit(x, y, tmp_path / "own")
    # DeadUnits' layers are the union but for the output layer Embedding adds: its own pass.
    assert not hasattr(own_dead._probe, "compiled") and not hasattr(own_emb._probe, "compiled")
    assert own_dead.history == dead.history
