"""nv.diagnose's parts without training: findings as text/HTML/JSON, the curve and label rules on
known numbers, bad input, and the model left untouched."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.diagnosis import Diagnosis, Finding, curve_findings, history_dict, rules
from keras_nnviz.errors import InvalidArgumentError, InvalidInputError
from tests.bad_input import assert_named_error


def _finding(code="dead_units", severity="warning", **kw):
    return Finding(code, severity, kw.pop("message", "m"), **kw)


def test_findings_sorted_most_severe_first_causes_before_symptoms():
    d = Diagnosis(
        [
            _finding("underfitting"),
            _finding("overfitting", "info"),
            _finding("divergence", "error"),
            _finding("dead_units"),
        ]
    )
    assert d.codes == ["divergence", "dead_units", "underfitting", "overfitting"]
    assert d.worst() == "error" and not d.healthy
    assert Diagnosis([_finding(severity="info")]).healthy


def test_text_json_and_html_round_trip_and_escape():
    f = _finding(
        message="<script>alert(1)</script>",
        layers=["a<b"],
        evidence={"ratio": np.float32(2.5), "values": np.arange(3), "bad": float("nan")},
        advice="try & see",
    )
    d = Diagnosis([f], suspect_samples=[3, 1], checked=["dead_units"], model="m")
    text = str(d)
    assert "dead_units" in text and "try: try & see" in text and "3, 1" in text
    data = json.loads(d.to_json())
    assert data["findings"][0]["evidence"]["ratio"] == 2.5
    assert data["findings"][0]["evidence"]["bad"] is None  # strict JSON
    assert data["findings"][0]["evidence"]["picture"] == "dead_units"
    back = Diagnosis.from_dict(data)
    assert back.codes == d.codes and back.suspect_samples == [3, 1]
    html = d._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html and "a&lt;b" in html
    with pytest.raises(ValueError, match="severity"):
        Finding("dead_units", "fatal", "m")


@pytest.mark.parametrize(
    "curves, code",
    [
        ({"loss": [1.0, float("nan"), float("nan")]}, "divergence"),
        ({"loss": [2.0, 1.5, 1.9, 1.6, 2.0, 1.7], "accuracy": [0.5] * 6}, "learning_rate_too_high"),
        ({"loss": [2.30, 2.29, 2.29, 2.28], "accuracy": [0.1] * 4}, "learning_rate_too_low"),
        ({"loss": [2.0, 1.5, 1.2, 1.19, 1.19, 1.185], "accuracy": [0.5] * 6}, "underfitting"),
        (
            {"loss": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05], "val_loss": [1.0, 0.6, 0.5, 0.6, 0.7, 0.8]},
            "overfitting",
        ),
    ],
)
def test_curve_rules(curves, code):
    found, checked = curve_findings(history_dict(curves))
    assert [f.code for f in found] == [code]
    assert code in checked


def test_healthy_curves_give_nothing():
    curves = {
        "loss": [1.5, 0.6, 0.3, 0.2, 0.15, 0.12],
        "accuracy": [0.6, 0.85, 0.92, 0.95, 0.96, 0.97],
        "val_loss": [1.0, 0.5, 0.35, 0.3, 0.28, 0.27],
    }
    assert curve_findings(history_dict(curves))[0] == []


def test_label_noise_rule_on_known_probabilities():
    rng = np.random.default_rng(0)
    n, k = 400, 4
    true = rng.integers(0, k, n)
    probs = np.full((n, k), 0.02)
    probs[np.arange(n), true] = 0.94
    given = true.copy()
    flipped = rng.choice(n, 80, replace=False)
    given[flipped] = (true[flipped] + 1) % k
    found, suspects = rules.label_noise(probs, given)
    assert [f.code for f in found] == ["label_noise"]
    assert set(suspects) == set(flipped)
    # a model that predicts one class for everyone blames no label
    flat = np.tile([0.9, 0.04, 0.03, 0.03], (n, 1))
    assert rules.label_noise(flat, given)[0] == []


def test_attention_rule():
    uniform = np.full((4, 2, 6, 6), 1 / 6)
    peaked = np.zeros((4, 2, 6, 6))
    peaked[..., 0] = 1.0
    rng = np.random.default_rng(0)
    mixed = rng.dirichlet(np.full(6, 0.3), size=(4, 2, 6))
    assert rules.attention_findings({"a": uniform})[0].evidence["a"]["kind"] == "uniform"
    assert rules.attention_findings({"a": peaked})[0].evidence["a"]["kind"] == "single-token"
    assert rules.attention_findings({"a": mixed}) == []
    # one collapsed layer of two: an info, not a warning
    assert rules.attention_findings({"a": uniform, "b": mixed})[0].severity == "info"
    assert rules.attention_findings({"a": uniform})[0].severity == "warning"


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)],
        name="small",
    )
    x = np.random.default_rng(0).normal(size=(40, 6)).astype("float32")
    y = np.arange(40) % 3
    return model, x, y


@pytest.mark.slow
def test_untouched_model_and_inferred_loss(small):
    model, x, y = small
    before = [w.copy() for w in model.get_weights()]
    d = nv.diagnose(model, x, y, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not model.compiled
    assert "dead_units" in d.checked and "label_noise" in d.checked
    assert nv.diagnosis.infer_loss(model, y) == "sparse_categorical_crossentropy"
    assert nv.diagnosis.per_sample_losses(model, x, y).shape == (40,)
    # no labels: only the checks that need none
    assert "label_noise" not in nv.diagnose(model, x).checked


@pytest.mark.parametrize(
    "call, error, phrase",
    [
        (lambda m, x, y: nv.diagnose(m, x, y[:5]), InvalidInputError, "one label per sample"),
        (lambda m, x, y: nv.diagnose(m, x, y, history=3), InvalidArgumentError, "History"),
        (lambda m, x, y: nv.diagnose(m, x, y, max_samples=0), InvalidArgumentError, "max_samples"),
        (lambda m, x, y: nv.diagnose(m, x[:0]), InvalidInputError, "empty"),
        (
            lambda m, x, y: nv.diagnose(m, x, y, validation_data=x),
            InvalidInputError,
            "validation_data",
        ),
        (lambda m, x, y: nv.diagnose(m, x, y + 5), InvalidInputError, "class index"),
        (
            lambda m, x, y: nv.diagnose(m, x, y, sample_losses=np.zeros((2, 3))),
            InvalidArgumentError,
            "sample_losses",
        ),
    ],
    ids=[
        "label-rows",
        "history",
        "max-samples",
        "empty",
        "validation-data",
        "label-range",
        "sample-losses",
    ],
)
def test_bad_input(small, call, error, phrase):
    model, x, y = small
    assert_named_error(lambda: call(model, x, y), error, phrase)


def test_shortcut_rule_on_known_maps():
    from keras_nnviz.diagnosis.shortcut import shortcut_findings

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 10)
    spread = rng.random((40, 8, 8))
    # each class looks at its own quarter of the image: no shortcut
    own = spread.copy()
    for c in range(4):
        r, q = divmod(c, 2)
        own[labels == c, 4 * r : 4 * r + 4, 4 * q : 4 * q + 4] += 3.0
    own /= own.sum(axis=(1, 2), keepdims=True)
    assert shortcut_findings(own, labels) == []
    corner = spread.copy()
    corner[:, :2, :2] += 10.0  # every class: the same corner
    corner /= corner.sum(axis=(1, 2), keepdims=True)
    found = shortcut_findings(corner, labels)
    assert [f.code for f in found] == ["shortcut"]
    assert found[0].evidence["region"] == [0, 0, 1, 1]
