"""The bad-input table of a run's index: nothing ever loses it, distinct names stay distinct.

Rows follow :mod:`tests.test_bad_input`: a call, the expected
:class:`~keras_nnviz.errors.NNVizError` subclass and a phrase of its message (a row fails on any
other exception, a missing phrase, or a call that returns). The other tables here damage a
``log_dir`` on disk (its manifest, its journal) and assert what survives: a fit into it, the
report built from it, the entries written before.
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidArgumentError, NNVizError

Arg = InvalidArgumentError
JOURNAL = "nnviz_manifest.jsonl"


def _tiny_model(name: str = "tiny", layer_names: tuple[str, ...] = ("hidden",)) -> keras.Model:
    inputs = keras.Input((4,))
    h = inputs
    for layer in layer_names:
        h = keras.layers.Dense(4, activation="relu", name=layer)(h)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h), name=name)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _tiny_data(n: int = 32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input_index")
    return SimpleNamespace(root=root, logs=root / "logs", model=_tiny_model(), x=_tiny_data(4)[0])


def row(name, call, error, phrase):
    return pytest.param(call, error, phrase, id=name)


# -- reserved names: a page or a folder never replaces the run's index -----------------------

RESERVED = [
    "nnviz_manifest.json",
    "nnviz_manifest.jsonl",
    "NNVIZ_Manifest.JSON",  # one file on a case-insensitive file system
    ".nnviz_manifest.json.1.2.tmp",
    "nnviz_manifest.json.unknown-20260101T000000Z",
    ".nnviz",
    "projector_config.pbtxt",
]

ROWS = (
    [
        row(f"Report-filename-{name}", lambda m, n=name: nv.callbacks.Report(m.logs, filename=n),
            Arg, "manifest")
        for name in RESERVED
    ]
    + [
        row(f"callback-name-{name}", lambda m, n=name: nv.callbacks.WeightMatrices(m.logs, name=n),
            Arg, "manifest")
        for name in RESERVED
    ]
    + [
        row("Report-filename-separator", lambda m: nv.callbacks.Report(m.logs, filename="a/b.html"),
            Arg, "one plain file name"),
        row("Report-filename-backslash",
            lambda m: nv.callbacks.Report(m.logs, filename="a\\b.html"), Arg, "filename"),
        row("Report-filename-dotdot", lambda m: nv.callbacks.Report(m.logs, filename=".."),
            Arg, "filename"),
        row("Report-filename-empty", lambda m: nv.callbacks.Report(m.logs, filename=""),
            Arg, "filename"),
        row("Report-filename-nul", lambda m: nv.callbacks.Report(m.logs, filename="r\x00.html"),
            Arg, "filename"),
        row("Report-filename-int", lambda m: nv.callbacks.Report(m.logs, filename=3),
            Arg, "filename"),
        row("build_report-out-manifest",
            lambda m: nv.build_report(m.logs, out=m.logs / "nnviz_manifest.json"), Arg, "journal"),
        row("build_report-out-journal",
            lambda m: nv.build_report(m.logs, out=m.logs / "NNViz_Manifest.jsonl"), Arg, "index"),
        row("build_report-out-lock",
            lambda m: nv.build_report(m.logs, out=m.logs / ".nnviz" / "manifest.lock"),
            Arg, ".nnviz"),
        row("model_report-out-manifest",
            lambda m: nv.report.model_report(m.model, m.x, out=m.root / "nnviz_manifest.json"),
            Arg, "nnviz_manifest.json"),
        row("write_page-out-journal",
            lambda m: nv.report.write_page(nv.report.Page("t", []), m.root / JOURNAL),
            Arg, "nnviz_manifest.jsonl"),
    ]
)  # fmt: skip


@pytest.mark.parametrize(("call", "error", "phrase"), ROWS)
def test_bad_input_raises_a_named_error(m, call, error, phrase):
    with pytest.raises(NNVizError) as info:
        call(m)
    assert isinstance(info.value, error), f"{type(info.value).__name__}: {info.value}"
    assert phrase.lower() in str(info.value).lower(), str(info.value)


def test_a_refused_page_name_wrote_nothing(m):
    """The rows above refused before writing: the manifest of a run stays as it was."""
    log_dir = m.root / "untouched"
    x, y = _tiny_data()
    _tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=[nv.callbacks.Report(log_dir)])
    before = (log_dir / "nnviz_manifest.json").read_bytes()
    for name in ("nnviz_manifest.json", "Nnviz_Manifest.Json"):
        with pytest.raises(Arg):
            nv.build_report(log_dir, out=log_dir / name)
    assert (log_dir / "nnviz_manifest.json").read_bytes() == before
    assert nv.io.load_manifest(log_dir)["callbacks"]["report"]["runs"]


def test_reserved_names_are_the_files_the_library_writes():
    from keras_nnviz.io import manifest, paths
    from keras_nnviz.io.locks import LOCK_DIR
    from keras_nnviz.projection import PROJECTOR_CONFIG

    for name in (manifest.MANIFEST_NAME, manifest.JOURNAL_NAME, LOCK_DIR, PROJECTOR_CONFIG):
        assert paths.reserved(name) and paths.reserved(name.upper()), name
    for name in ("report.html", "weight_matrices", "nnviz", "manifest.json", ".nnviz_x"):
        assert not paths.reserved(name), name
