"""Every callback: one constructor convention, unknown keywords rejected, copies that work."""

from __future__ import annotations

import copy
import inspect
import pickle

import keras
import pytest

import keras_nnviz as nv
from keras_nnviz.callbacks import VisualizationCallback

# (class, required keywords for a digits CNN given (x, y), a misspelled keyword, its fix)
TABLE = [
    (nv.callbacks.WeightHistograms, lambda x, y: {}, "layer", "layers"),
    (nv.callbacks.WeightMatrices, lambda x, y: {"layers": ["dense"]}, "max_filter", "max_filters"),
    (nv.callbacks.ActivationMaps, lambda x, y: {"x": x[:1], "layers": ["conv1"]}, "evry", "every"),
    (
        nv.callbacks.EmbeddingProjection,
        lambda x, y: {"x": x[:20], "labels": y[:20], "layer": "dense"},
        "label",
        "labels",
    ),
    (nv.callbacks.GradCAM, lambda x, y: {"x": x[:2]}, "layers", "layer"),
    (
        nv.callbacks.Attributions,
        lambda x, y: {"x": x[:2], "method": "integrated_gradients", "steps": 4},
        "step",
        "steps",
    ),
    (
        nv.callbacks.FeatureVisualization,
        lambda x, y: {"objectives": nv.objectives.class_logit(0), "steps": 2, "every": 1},
        "sed",
        "seed",
    ),
    (
        nv.callbacks.GradientFlow,
        lambda x, y: {"x": x[:16], "y": y[:16]},
        "kernel_only",
        "kernels_only",
    ),
    (
        nv.callbacks.DeadUnits,
        lambda x, y: {"x": x[:16], "warn_fraction": 1.0},
        "treshold",
        "threshold",
    ),
    (nv.callbacks.Doctor, lambda x, y: {"x": x[:16], "y": y[:16]}, "max_sample", "max_samples"),
    (nv.callbacks.Report, lambda x, y: {}, "file_name", "filename"),
]
CLASSES = [row[0] for row in TABLE] + [nv.callbacks.AttentionMaps, nv.callbacks.ImageTextMaps]


def test_the_table_covers_every_callback_class():
    exported = {
        obj
        for obj in vars(nv.callbacks).values()
        if isinstance(obj, type)
        and issubclass(obj, VisualizationCallback)
        and obj is not VisualizationCallback
    }
    assert exported == set(CLASSES)
    assert issubclass(nv.callbacks.Report, VisualizationCallback)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_log_dir_first_everything_else_keyword_only(cls):
    params = list(inspect.signature(cls).parameters.values())
    assert params[0].name == "log_dir"
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for p in params[1:]:
        assert p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD), p
    names = {p.name for p in params}
    # One name per concept: inputs are x, schedules every, layer lists layers.
    assert not names & {"inputs", "data", "freq", "period", "layer_names", "samples"}


@pytest.mark.parametrize("cls, make, typo, fix", TABLE, ids=lambda v: getattr(v, "__name__", ""))
def test_a_misspelled_keyword_fails_at_construction(tmp_path, digits, cls, make, typo, fix):
    kwargs = make(digits.test.x, digits.test.y)
    with pytest.raises(nv.InvalidArgumentError) as info:
        cls(tmp_path, **kwargs, **{typo: 1})
    message = str(info.value)
    assert f"{typo!r}" in message and f"did you mean {fix!r}" in message
    assert "log_dir" in message  # the valid keywords are listed
    assert cls(tmp_path, **kwargs).log_dir == tmp_path  # the same call without the typo works


@pytest.mark.parametrize("cls", [c for c in CLASSES if "x" in inspect.signature(c).parameters])
def test_the_old_positional_order_says_how_to_call(tmp_path, digits, cls):
    with pytest.raises(nv.InvalidArgumentError, match="log_dir first"):
        cls(digits.test.x[:2], tmp_path)
    with pytest.raises(nv.InvalidArgumentError, match="positionally"):
        cls(tmp_path, digits.test.x[:2])
    with pytest.raises(nv.InvalidArgumentError, match="needs x="):
        cls(tmp_path)


def _all_callbacks(log_dir, digits):
    x, y = digits.test.x, digits.test.y
    return [cls(log_dir, **make(x, y)) for cls, make, _, _ in TABLE]


def _fit(callbacks, digits, model=None):
    model = model or nv.datasets.digits_cnn()
    model.fit(
        digits.train.x[:64],
        digits.train.y[:64],
        epochs=1,
        batch_size=32,
        verbose=0,
        callbacks=callbacks,
    )
    return model


@pytest.mark.slow
def test_callbacks_survive_deepcopy_and_pickle_and_the_copies_train(tmp_path, digits):
    originals = _all_callbacks(tmp_path / "original", digits)
    fresh = [copy.deepcopy(cb) for cb in originals]  # KerasTuner copies before each trial
    _fit(originals, digits)  # afterwards they hold locks, futures, passes, the model
    used = [copy.deepcopy(cb) for cb in originals]
    pickled = [pickle.loads(pickle.dumps(cb)) for cb in originals]
    for group, name in ((fresh, "fresh"), (used, "used"), (pickled, "pickled")):
        for cb in group:
            cb.log_dir = tmp_path / name  # a trial of its own
        _fit(group, digits)
        for cb, original in zip(group, originals):
            assert type(cb) is type(original) and cb is not original
            assert cb.stats.errors == 0, (name, cb.name, cb._errors[:1])
            assert cb.stats.snapshots == (2 if cb.snapshots else 0), (name, cb.name)
        manifest = nv.io.load_manifest(tmp_path / name)
        assert set(manifest["callbacks"]) == {cb.name for cb in group}
        assert (tmp_path / name / "report.html").exists()
    # The copies share nothing that one fit changes: the original still holds its own results.
    assert originals[0].model is not None and used[0].model is not originals[0].model


@pytest.mark.slow
def test_attention_maps_copy_trains(tmp_path):
    keras.utils.set_random_seed(0)
    data = nv.datasets.flagged_value(64)
    model = nv.datasets.flagged_value_transformer()
    cb = nv.callbacks.AttentionMaps(tmp_path, x=data.x[:1], tokens=data.tokens[:1])
    model.fit(data.x, data.y, epochs=1, verbose=0, callbacks=[cb])
    for clone in (copy.deepcopy(cb), pickle.loads(pickle.dumps(cb))):
        model.fit(data.x, data.y, epochs=1, verbose=0, callbacks=[clone])
        assert clone.stats.errors == 0 and clone.stats.snapshots == 2
        assert clone.tokens is cb.tokens or clone.tokens.tolist() == cb.tokens.tolist()


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "a/b", "..", ""])
def test_a_name_that_leaves_log_dir_is_refused(tmp_path, name):
    with pytest.raises(nv.InvalidArgumentError, match="plain folder name"):
        nv.callbacks.WeightHistograms(tmp_path, name=name)
