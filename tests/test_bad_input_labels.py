"""The bad-input table, continued: callback options and paths (issue 21).

Same conventions as ``tests/test_bad_input.py``: one row each, a call, the expected
:class:`~keras_nnviz.errors.NNVizError` subclass and a phrase of its message; any other exception,
a missing phrase or a call that returns fails the row. ``VALUE_ROWS`` check that the valid
neighbours of those inputs are still taken, as the number given. ``CLI_ROWS`` run ``nnviz ...``
and expect exit code 2 with one message line.

Options are checked at construction: a bool is an int to Python and a string such as ``"300px"``
would only fail at train begin, after the fit started.
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidArgumentError
from tests.bad_input import assert_cli_exits_2, assert_named_error

Arg = InvalidArgumentError
NUL = "logs\x00x"
X = np.zeros((2, 8, 8, 1), np.float32)
Y = np.zeros(2, np.int64)


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input_labels")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    return SimpleNamespace(logs=str(root / "logs"), root=root, model=model)


def row(name, call, error, phrase):
    return pytest.param(call, error, phrase, id=name)


def _live(**options):
    return lambda m: nv.callbacks.LiveView(m.logs, **options)


# -- callback options: a bool, a string or a fraction where an int is expected -----------------

OPTION_ROWS = [
    row("LiveView-height-px", _live(height="300px"), Arg, "height"),
    row("LiveView-height-true", _live(height=True), Arg, "height"),
    row("LiveView-height-0", _live(height=0), Arg, "height"),
    row("LiveView-height-float", _live(height=300.5), Arg, "height"),
    row("LiveView-max-pictures-true", _live(max_pictures=True), Arg, "max_pictures"),
    row("LiveView-max-pictures-str", _live(max_pictures="6"), Arg, "max_pictures"),
    row("LiveView-max-pictures-neg", _live(max_pictures=-1), Arg, "max_pictures"),
    row("LiveView-on-error", _live(on_error="ignore"), Arg, "on_error"),
    row("LiveView-display-not-callable", _live(display="ipython"), Arg, "display"),
    row(
        "GradCAM-every-true",
        lambda m: nv.callbacks.GradCAM(m.logs, x=X, every=True),
        Arg,
        "every",
    ),
    row(
        "GradCAM-every-str-number",
        lambda m: nv.callbacks.GradCAM(m.logs, x=X, every="10"),
        Arg,
        "every",
    ),
    row(
        "GradCAM-max-pending-true",
        lambda m: nv.callbacks.GradCAM(m.logs, x=X, max_pending=True),
        Arg,
        "max_pending",
    ),
    row(
        "GradCAM-max-pending-0",
        lambda m: nv.callbacks.GradCAM(m.logs, x=X, max_pending=0),
        Arg,
        "max_pending",
    ),
    row(
        "Attributions-max-samples-true",
        lambda m: nv.callbacks.Attributions(m.logs, x=X, max_samples=True),
        Arg,
        "max_samples",
    ),
    row(
        "WeightHistograms-bins-str",
        lambda m: nv.callbacks.WeightHistograms(m.logs, bins="10"),
        Arg,
        "bins",
    ),
    row(
        "WeightHistograms-bins-true",
        lambda m: nv.callbacks.WeightHistograms(m.logs, bins=True),
        Arg,
        "bins",
    ),
    row(
        "WeightHistograms-max-panels-true",
        lambda m: nv.callbacks.WeightHistograms(m.logs, max_panels=True),
        Arg,
        "max_panels",
    ),
    row(
        "WeightHistograms-max-panels-str",
        lambda m: nv.callbacks.WeightHistograms(m.logs, max_panels="24"),
        Arg,
        "max_panels",
    ),
    row(
        "WeightHistograms-ridgeline-rows-float",
        lambda m: nv.callbacks.WeightHistograms(m.logs, ridgeline_rows=1.5),
        Arg,
        "ridgeline_rows",
    ),
    row(
        "WeightHistograms-ridgeline-rows-0",
        lambda m: nv.callbacks.WeightHistograms(m.logs, ridgeline_rows=0),
        Arg,
        "ridgeline_rows",
    ),
    row(
        "Report-reload-seconds-true",
        lambda m: nv.callbacks.Report(m.logs, reload_seconds=True),
        Arg,
        "reload_seconds",
    ),
    row(
        "Report-reload-seconds-str",
        lambda m: nv.callbacks.Report(m.logs, reload_seconds="5"),
        Arg,
        "reload_seconds",
    ),
]

# -- a NUL byte in a path: every callback, the report writers and their out= -------------------

CALLBACKS = [
    "ActivationMaps",
    "AttentionMaps",
    "Attributions",
    "DeadUnits",
    "EmbeddingProjection",
    "FeatureVisualization",
    "GradCAM",
    "GradientFlow",
    "LiveView",
    "Report",
    "WeightHistograms",
    "WeightMatrices",
]

PATH_ROWS = [
    *[
        row(f"{name}-log-dir-nul", lambda m, n=name: getattr(nv.callbacks, n)(NUL), Arg, "NUL")
        for name in CALLBACKS
    ],
    row(
        "GradCAM-log-dir-nul-keyword",
        lambda m: nv.callbacks.GradCAM(log_dir=NUL, x=X),
        Arg,
        "NUL",
    ),
    row("build_report-log-dir-nul", lambda m: nv.build_report(NUL), Arg, "NUL"),
    row(
        "build_report-out-nul",
        lambda m: nv.build_report(m.root, out=str(m.root / "r\x00.html")),
        Arg,
        "NUL",
    ),
    row(
        "model_report-out-nul",
        lambda m: nv.report.model_report(m.model, np.zeros((2, 4), np.float32), out="r\x00.html"),
        Arg,
        "NUL",
    ),
]

ROWS = OPTION_ROWS + PATH_ROWS


@pytest.mark.parametrize(("call", "error", "phrase"), ROWS)
def test_bad_input_raises_a_named_error(m, call, error, phrase):
    assert_named_error(lambda: call(m), error, phrase)


# -- the valid neighbours are still taken, as the number given ---------------------------------


def _value(name, call, attribute, expected):
    return pytest.param(call, attribute, expected, id=name)


VALUE_ROWS = [
    _value("LiveView-height-int", _live(height=300), "height", 300),
    _value("LiveView-height-numpy", _live(height=np.int64(250)), "height", 250),
    _value("LiveView-height-none", _live(height=None), "height", None),
    _value("LiveView-max-pictures-0", _live(max_pictures=0), "max_pictures", 0),
    _value("LiveView-max-pictures-3", _live(max_pictures=3), "max_pictures", 3),
    _value(
        "WeightHistograms-max-panels",
        lambda m: nv.callbacks.WeightHistograms(m.logs, max_panels=np.int32(5)),
        "max_panels",
        5,
    ),
    _value(
        "Report-reload-seconds-int",
        lambda m: nv.callbacks.Report(m.logs, reload_seconds=2),
        "reload_seconds",
        2.0,
    ),
]


@pytest.mark.parametrize(("call", "attribute", "expected"), VALUE_ROWS)
def test_valid_option_is_taken(m, call, attribute, expected):
    value = getattr(call(m), attribute)
    assert value == expected and type(value) is type(expected)


# -- the command line --------------------------------------------------------------------------


CLI_ROWS = [
    pytest.param(lambda m: ["serve", NUL], "NUL", id="serve-logdir-nul"),
]


@pytest.mark.parametrize(("argv", "phrase"), CLI_ROWS)
def test_cli_bad_input_exits_2(m, capsys, argv, phrase):
    assert_cli_exits_2(argv(m), capsys, phrase, one_line=True)
