"""The bad-input table of a run's index: nothing ever loses it, distinct names stay distinct.

Rows follow :mod:`tests.test_bad_input`: a call, the expected
:class:`~keras_nnviz.errors.NNVizError` subclass and a phrase of its message (a row fails on any
other exception, a missing phrase, or a call that returns). The other tables here damage a
``log_dir`` on disk (its manifest, its journal) and assert what survives: a fit into it, the
report built from it, the entries written before.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidArgumentError
from tests.bad_input import assert_named_error

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
    assert_named_error(lambda: call(m), error, phrase)


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


# -- a finished run, then its index damaged ---------------------------------------------------

import json  # noqa: E402
import shutil  # noqa: E402
import warnings  # noqa: E402

from keras_nnviz.errors import ManifestError, ManifestWarning  # noqa: E402
from keras_nnviz.io.manifest import JOURNAL_NAME, MANIFEST_NAME  # noqa: E402


def _fit(log_dir, model=None, epochs=1):
    """A tiny fit writing frames (WeightMatrices) and a final page (Report) into ``log_dir``."""
    x, y = _tiny_data()
    cbs = [
        nv.callbacks.WeightMatrices(log_dir, sinks=["png"]),
        nv.callbacks.Report(log_dir, live=False, embed=False),
    ]
    (model or _tiny_model()).fit(x, y, epochs=epochs, verbose=0, callbacks=cbs)
    return cbs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished run's log_dir (never changed: rows copy it)."""
    log_dir = tmp_path_factory.mktemp("finished") / "logs"
    _fit(log_dir)
    return log_dir


def _copy(run, tmp_path):
    log_dir = tmp_path / "logs"
    shutil.copytree(run, log_dir)
    return log_dir


def _manifest_warnings(record, name):
    return [w for w in record if issubclass(w.category, ManifestWarning) and name in str(w.message)]


# A manifest of another (or no) format: read, and never compacted to empty.

FOREIGN = [
    pytest.param(lambda d: d.pop("format"), id="no-format"),
    pytest.param(lambda d: d.update(format="other.tool"), id="other-format"),
    pytest.param(lambda d: d.update(format=None, version=7), id="null-format"),
]


@pytest.mark.parametrize("damage", FOREIGN)
def test_a_manifest_of_unknown_format_keeps_its_entries_through_the_next_fit(run, tmp_path, damage):
    log_dir = _copy(run, tmp_path)
    path = log_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    earlier = {e["path"] for e in data["entries"] if e["sink"] == "png"}
    assert len(earlier) >= 3  # frames of epoch 0 and 1 of three layers
    damage(data)
    original = json.dumps(data).encode()
    path.write_bytes(original)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _fit(log_dir, _tiny_model("second"))
    said = _manifest_warnings(record, str(path))
    assert len(said) == 1, [str(w.message) for w in record]
    assert "format" in str(said[0].message)
    manifest = nv.io.load_manifest(log_dir)
    assert manifest["format"] == "keras_nnviz.manifest"
    assert earlier <= {e["path"] for e in manifest["entries"]}  # every earlier entry survives
    assert {f["model"] for f in manifest["fits"]} == {"tiny", "second"}
    [kept] = log_dir.glob(MANIFEST_NAME + ".unknown-*")
    assert kept.read_bytes() == original  # and the file as it was, byte for byte
    assert "tiny" in (log_dir / "report.html").read_text()


UNUSABLE = [
    pytest.param(b"not json at all", id="not-json"),
    pytest.param(b"[1, 2, 3]", id="a-list"),
    pytest.param(b'{"format": "keras_nnviz.manifest", "entries": 3}', id="entries-not-a-list"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
    pytest.param(b'{"entries": [], "callbacks": "x"}', id="callbacks-not-an-object"),
]


@pytest.mark.parametrize("raw", UNUSABLE)
def test_an_unusable_manifest_is_kept_aside_not_compacted_over(tmp_path, raw):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / MANIFEST_NAME).write_bytes(raw)
    with pytest.raises(ManifestError, match=MANIFEST_NAME):
        nv.build_report(log_dir)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _fit(log_dir)
    assert len(_manifest_warnings(record, MANIFEST_NAME)) == 1
    [kept] = log_dir.glob(MANIFEST_NAME + ".unknown-*")
    assert kept.read_bytes() == raw
    assert nv.io.load_manifest(log_dir)["fits"][0]["model"] == "tiny"
    assert (log_dir / "report.html").is_file()


# Malformed journal lines: skipped with one warning, never block a fit or a report.

BAD_LINES = [
    pytest.param(b'{"op": "entry"}\n', id="entry-without-entry"),
    pytest.param(b'{"op": 5}\n', id="op-a-number"),
    pytest.param(b"[]\n", id="a-list"),
    pytest.param(b'{"op": "entry", "entry": {"tag": 1}}\n', id="entry-tag-a-number"),
    pytest.param(b'{"op": "run", "name": "weight_matrices", "run": 3}\n', id="run-not-object"),
    pytest.param(b'{"op": "metrics", "id": "f", "row": {"epoch": "x"}}\n', id="metrics-epoch"),
    pytest.param(b'{"op": "callback", "name": "x", "fields": {"tags": 5}}\n', id="tags-a-number"),
    pytest.param(
        b'{"op": "entry", "entry": {"callback": "a", "tag": "\xff\xfe"}}\n', id="non-utf8"
    ),
    pytest.param(b'{"op": "entry", "entry": {"callback": "weight_ma', id="truncated-last-line"),
    pytest.param(  # well-formed lines whose values break what later lines (the next fit) add to
        b'{"op": "callback", "name": "weight_matrices", "fields": {"runs": 5, "tags": {}}}\n'
        b'{"op": "fit", "id": "x", "fields": {"metrics": 5}}\n'
        b'{"op": "metrics", "id": "x", "row": {"epoch": 1, "loss": "low"}}\n',
        id="fields-of-the-wrong-type",
    ),
]


@pytest.mark.parametrize("line", BAD_LINES)
def test_a_malformed_journal_line_is_skipped_with_a_warning(run, tmp_path, line):
    log_dir = _copy(run, tmp_path)
    before = len(nv.io.load_manifest(log_dir)["entries"])
    (log_dir / JOURNAL_NAME).write_bytes(line)
    with pytest.warns(ManifestWarning, match=JOURNAL_NAME) as record:
        manifest = nv.io.load_manifest(log_dir)
    assert len(_manifest_warnings(record, JOURNAL_NAME)) == 1
    assert len(manifest["entries"]) == before  # nothing lost, nothing half-added
    with pytest.warns(ManifestWarning, match=JOURNAL_NAME):
        assert nv.build_report(log_dir).is_file()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        cbs = _fit(log_dir, _tiny_model("second", ("wide",)))  # the next fit trains, writes
    assert all(cb.stats.errors == 0 for cb in cbs), [cb._errors[:1] for cb in cbs]
    assert _manifest_warnings(record, JOURNAL_NAME)
    manifest = nv.io.load_manifest(log_dir)
    assert {"tiny", "second"} <= {f.get("model") for f in manifest["fits"]}
    assert len(manifest["entries"]) > before
    assert not (log_dir / JOURNAL_NAME).exists()  # folded in at train end


# One schema check in front of the report: damaged parts left out, or one named error.


def _entries_of(d, callback):
    return [e for e in d["entries"] if e["callback"] == callback]


def _first_png(d):
    return next(e for e in d["entries"] if e.get("sink") == "png")


def _set(getter, key, value):
    def damage(d):
        getter(d)[key] = value

    return damage


DAMAGED = [
    pytest.param(lambda d: _first_png(d).pop("tag"), id="entry-no-tag"),
    pytest.param(_set(_first_png, "tag", 3), id="entry-tag-a-number"),
    pytest.param(_set(_first_png, "tag", ["a"]), id="entry-tag-a-list"),
    pytest.param(lambda d: _first_png(d).pop("callback"), id="entry-no-callback"),
    pytest.param(_set(_first_png, "epoch", "one"), id="entry-epoch-text"),
    pytest.param(_set(_first_png, "path", {"x": 1}), id="entry-path-an-object"),
    pytest.param(_set(_first_png, "kind", 7), id="entry-kind-a-number"),
    pytest.param(lambda d: d["entries"].insert(0, "x"), id="entry-a-string"),
    pytest.param(lambda d: d["entries"].insert(0, None), id="entry-null"),
    pytest.param(lambda d: d["fits"][0]["metrics"][0].update(loss="high"), id="metric-text"),
    pytest.param(lambda d: d["fits"][0]["metrics"][0].update(loss=[1]), id="metric-a-list"),
    pytest.param(lambda d: d["fits"][0]["metrics"].insert(0, {"epoch": "1"}), id="metric-epoch"),
    pytest.param(lambda d: d["fits"].insert(0, 5), id="fit-a-number"),
    pytest.param(_set(lambda d: d, "fits", {}), id="fits-an-object"),
    pytest.param(_set(lambda d: d["callbacks"], "weight_matrices", []), id="section-a-list"),
    pytest.param(_set(lambda d: d["callbacks"]["weight_matrices"], "tags", 5), id="tags-a-number"),
    pytest.param(_set(lambda d: d["callbacks"]["weight_matrices"], "tags", [[1]]), id="tag-list"),
    pytest.param(_set(lambda d: d["callbacks"]["weight_matrices"], "runs", [3]), id="run-number"),
    pytest.param(_set(lambda d: d["callbacks"]["weight_matrices"], "errors", "x"), id="errors"),
    pytest.param(_set(lambda d: d["callbacks"]["weight_matrices"], "params", []), id="params"),
    pytest.param(
        _set(lambda d: d["callbacks"]["report"]["params"]["models"], "tiny", {"params": "many"}),
        id="model-facts",
    ),
    pytest.param(
        lambda d: d["callbacks"]["report"]["params"]["models"]["tiny"].update(params="NaN"),
        id="model-params-nan",
    ),
    pytest.param(
        lambda d: d["callbacks"]["report"]["params"]["models"]["tiny"].pop("layers"),
        id="model-no-layers",
    ),
    pytest.param(
        lambda d: d["callbacks"]["report"]["params"]["models"]["tiny"].update(
            architecture={"nodes": [{"id": 1}], "edges": 5}
        ),
        id="architecture-graph",
    ),
    pytest.param(lambda d: d["fits"][0].update(epochs={"a": 1}), id="fit-epochs-object"),
]


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_manifest_renders_without_the_damaged_part(run, tmp_path, damage):
    log_dir = _copy(run, tmp_path)
    path = log_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    with pytest.warns(ManifestWarning, match=MANIFEST_NAME) as record:
        page = nv.build_report(log_dir, out=tmp_path / "page.html")
    assert len(_manifest_warnings(record, MANIFEST_NAME)) == 1
    html = page.read_text(encoding="utf-8")
    assert "tiny" in html and "hidden" in html  # the rest of the page is there


def test_the_schema_check_keeps_a_whole_manifest_whole(run):
    """The check leaves a manifest the library wrote as it is (nothing dropped, no warning)."""
    from keras_nnviz.io._schema import check_index

    data = json.loads((run / MANIFEST_NAME).read_text())
    checked, dropped = check_index(data, "m")
    assert dropped == [] and checked == data


def test_a_deeply_nested_parameter_renders_as_its_type(run, tmp_path):
    log_dir = _copy(run, tmp_path)
    path = log_dir / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["callbacks"]["weight_matrices"]["params"]["deep"] = json.loads("[" * 500 + "]" * 500)
    path.write_text(json.dumps(data))
    html = nv.build_report(log_dir, out=tmp_path / "page.html").read_text(encoding="utf-8")
    assert "hidden" in html and "deep" in html


# -- distinct names stay distinct on disk -------------------------------------------------------

from keras_nnviz.io.items import Destination  # noqa: E402

COLLIDING = [
    pytest.param(("a>b", "a_b"), id="sanitised-char"),
    pytest.param(("..", "_", "__"), id="dotdot-underscore"),
    pytest.param(("a/..", "a", "a/__"), id="trailing-dotdot"),
    pytest.param(("a/.", "a"), id="trailing-dot"),
    pytest.param(("a//b", "a/b"), id="empty-segment"),
    pytest.param(("/a", "a"), id="leading-slash"),
    pytest.param(("a\\b", "a/b", "a_b"), id="backslash"),
    pytest.param(("x:y", "x?y", "x*y", "x_y"), id="windows-chars"),
    pytest.param(("", "_"), id="empty"),
]


@pytest.mark.parametrize("tags", COLLIDING)
def test_distinct_tags_get_distinct_folders_inside_the_callback_folder(tmp_path, tags):
    dest = Destination(tmp_path, "cb")
    folders = [dest.folder(t) for t in tags]
    assert len(set(folders)) == len(tags), folders
    for tag, folder in zip(tags, folders, strict=True):
        assert folder == dest.folder(tag)  # stable: the same tag, the same folder
        assert folder.resolve().is_relative_to((tmp_path / "cb").resolve()), folder
        assert ".." not in folder.relative_to(tmp_path).parts


def test_usual_layer_names_keep_their_folders(tmp_path):
    dest = Destination(tmp_path, "cb")
    for tag in ("conv1", "block1_conv2", "base/block1/conv", "dense-3.kernel", "attn@2", "é"):
        assert dest.folder(tag) == tmp_path / "cb" / tag


def test_layers_whose_names_sanitise_alike_keep_their_own_frames(tmp_path):
    names = ("a>b", "a_b", "..", "_")  # legal Keras layer names, pairwise one folder before
    cbs = _fit(tmp_path, _tiny_model("twins", names), epochs=1)
    assert all(cb.stats.errors == 0 for cb in cbs), [cb._errors[:1] for cb in cbs]
    manifest = nv.io.load_manifest(tmp_path)
    frames = [e for e in manifest["entries"] if e["sink"] == "png" and e["kind"] == "frame"]
    by_tag = {}
    for e in frames:
        by_tag.setdefault(e["tag"], []).append(e["path"])
    layer_tags = {t.split("/")[0]: t for t in by_tag}
    assert set(names) <= set(layer_tags), sorted(by_tag)
    paths = [p for ps in by_tag.values() for p in ps]
    assert len(paths) == len(set(paths))  # no frame replaced another's
    assert all((tmp_path / p).is_file() for p in paths)
    folders = {name: {str(Path(p).parent) for p in by_tag[layer_tags[name]]} for name in names}
    assert len(set().union(*folders.values())) == len(names)  # one folder per layer
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    for name in names:
        assert f"{name}/kernel".replace(">", "&gt;") in html  # the original names, shown


def test_line_separators_inside_a_journal_line_do_not_split_it(tmp_path):
    """A caption with U+2028 / U+0085 / U+001C is one JSON line (written unescaped)."""
    manifest = nv.io.Manifest(tmp_path)
    captions = ["a\u2028b", "c\x85d", "e\x1cf", "g\u2029h"]
    manifest.add(
        [{"callback": "cb", "tag": "t", "path": f"cb/t/{i}.png", "caption": c}
         for i, c in enumerate(captions)]
    )  # fmt: skip
    manifest.save()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ManifestWarning)  # nothing skipped
        read = nv.io.load_manifest(tmp_path)
    assert [e["caption"] for e in read["entries"]] == captions
