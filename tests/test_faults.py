"""Fault injection during ``fit``: no training, run or log is lost.

A full disk (an injected ``ENOSPC`` on every write under ``log_dir``: CI needs no root for a
tmpfs), two processes training into one ``log_dir``, an interrupted fit and its resume, a
diverged (NaN) fit, hostile names, and the manifest's write volume. Every test asserts what
survives: the ``History``, a strictly valid manifest listing only files that exist, every frame.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import keras_nnviz as nv
from keras_nnviz import io as nvio
from keras_nnviz.callbacks import (
    TrainingDivergedWarning,
    VisualizationCallback,
    VisualizationWarning,
)
from keras_nnviz.callbacks.diagnostics import DeadUnitsWarning
from keras_nnviz.io.manifest import JOURNAL_NAME

ROOT = Path(__file__).resolve().parents[1]


def _strict(text: str):
    """JSON as any strict parser reads it (NaN / Infinity literals rejected)."""

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _strictly_valid(log_dir: Path) -> dict:
    """Parse the manifest files strictly; return the merged manifest."""
    base = log_dir / nvio.MANIFEST_NAME
    if base.exists():
        _strict(base.read_text())
    journal = log_dir / JOURNAL_NAME
    if journal.exists():
        for line in journal.read_text().splitlines():
            _strict(line)
    return nvio.load_manifest(log_dir)


def _listed_files_exist(log_dir: Path, manifest: dict) -> list[str]:
    paths = [e["path"] for e in manifest["entries"] if e["sink"] in ("png", "gif")]
    missing = [p for p in paths if not (log_dir / p).is_file()]
    assert not missing, missing
    return paths


def _tiny_model(name: str = "tiny") -> keras.Model:
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h), name=name)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _tiny_data(n: int = 64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


# -- full disk ----------------------------------------------------------------------------------


class FullDisk:
    """Every write under ``root`` fails with ENOSPC once :attr:`on` (os.open, open, io.open)."""

    def __init__(self, root: Path, monkeypatch):
        self.root, self.on, self.hits = str(root.resolve()), False, 0
        real_os_open, real_open = os.open, builtins.open

        def full(path):
            self.hits += 1
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

        def inside(path) -> bool:
            try:
                return self.on and os.path.abspath(os.fspath(path)).startswith(self.root)
            except TypeError:  # a file descriptor
                return False

        def os_open(path, flags, *args, **kwargs):
            if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                full(path)
            return real_os_open(path, flags, *args, **kwargs)

        def py_open(file, mode="r", *args, **kwargs):
            if inside(file) and any(c in mode for c in "wax+"):
                full(file)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", py_open)
        monkeypatch.setattr(io, "open", py_open)


def test_full_disk_during_fit_keeps_the_history_and_a_valid_manifest(tmp_path, monkeypatch):
    disk = FullDisk(tmp_path, monkeypatch)
    x, y = _tiny_data()
    fill = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: setattr(disk, "on", True))
    cbs = [
        fill,  # first: the disk is full before the callbacks write epoch 1
        nv.callbacks.WeightMatrices(tmp_path, sinks=["png", "gif"]),
        nv.callbacks.WeightHistograms(tmp_path, sinks=["png", "gif"]),
        nv.callbacks.Report(tmp_path),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _tiny_model().fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=cbs)
    disk.on = False
    assert len(history.history["loss"]) == 3  # fit returned its History
    assert disk.hits > 0
    messages = [str(w.message) for w in caught if issubclass(w.category, VisualizationWarning)]
    assert any("No space left on device" in m for m in messages), messages
    manifest = _strictly_valid(tmp_path)
    paths = _listed_files_exist(tmp_path, manifest)
    assert any(p.endswith("epoch_0000.png") for p in paths)  # written before the disk filled
    assert not any(p.endswith("epoch_0002.png") for p in paths)
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    # Space again: the next fit adds to the same manifest.
    history = _tiny_model().fit(
        x, y, epochs=1, verbose=0, callbacks=[nv.callbacks.WeightMatrices(tmp_path)]
    )
    manifest = _strictly_valid(tmp_path)
    assert len(manifest["callbacks"]["weight_matrices"]["runs"]) == 2
    assert not (tmp_path / JOURNAL_NAME).exists()  # compacted at train end


def test_full_disk_with_on_error_raise_stops_the_fit(tmp_path, monkeypatch):
    disk = FullDisk(tmp_path, monkeypatch)
    x, y = _tiny_data()
    fill = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: setattr(disk, "on", True))
    cb = nv.callbacks.WeightMatrices(tmp_path, sinks=["png"], on_error="raise")
    with pytest.raises(OSError, match="No space left on device"):
        _tiny_model().fit(x, y, epochs=3, verbose=0, callbacks=[fill, cb])
    disk.on = False
    nvio.BackgroundWriter.drain(timeout=60)
    _listed_files_exist(tmp_path, _strictly_valid(tmp_path))


# -- interrupt and resume ----------------------------------------------------------------------


def test_an_interrupted_fit_keeps_its_frames_and_the_resume_continues_them(tmp_path):
    x, y = _tiny_data()
    model = _tiny_model()

    def interrupt(epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt

    stop = keras.callbacks.LambdaCallback(on_epoch_end=interrupt)
    first = nv.callbacks.WeightMatrices(tmp_path, layers=["hidden"], sinks=["png", "gif"])
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, verbose=0, callbacks=[first, stop])
    nvio.BackgroundWriter.drain(timeout=60)
    manifest = _strictly_valid(tmp_path)  # never compacted: the journal holds the run
    frames = sorted(
        e["epoch"] for e in manifest["entries"] if e["kind"] == "frame" and e["sink"] == "png"
    )
    assert frames == [0, 1, 2]
    assert manifest["callbacks"]["weight_matrices"]["runs"][0]["ended"] is None
    _listed_files_exist(tmp_path, manifest)

    # Resume (new callbacks, as a restarted script would have): the same folder, every epoch.
    again = nv.callbacks.WeightMatrices(tmp_path, layers=["hidden"], sinks=["png", "gif"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", VisualizationWarning)  # no "folder in use"
        model.fit(x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[again])
    manifest = _strictly_valid(tmp_path)
    assert set(manifest["callbacks"]) == {"weight_matrices"}
    gifs = [e for e in manifest["entries"] if e["kind"] == "animation"]
    assert gifs and all(e["frames"] == 5 for e in gifs)  # epochs 0-4
    with Image.open(tmp_path / gifs[0]["path"]) as gif:
        assert gif.n_frames == 5
    runs = manifest["callbacks"]["weight_matrices"]["runs"]
    assert [r["ended"] is None for r in runs] == [True, False]
    assert not (tmp_path / JOURNAL_NAME).exists()


# -- diverged fit -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_nan_loss_is_reported_as_diverged_and_the_manifest_stays_json(tmp_path):
    digits = nv.datasets.digits()
    model = nv.datasets.digits_cnn()

    def poison(epoch, logs):
        # The output layer's weights become NaN, so epoch 2's loss is NaN on any CPU (a NaN
        # in conv1 would reach the loss only where ReLU passes NaN on; some kernels make it 0),
        # and its NaN gradients reach every layer, conv1 first in model order.
        if epoch == 0:
            kernel = model.get_layer("predictions").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    cbs = [
        keras.callbacks.LambdaCallback(on_epoch_end=poison),
        nv.callbacks.DeadUnits(tmp_path, x=digits.test.x[:32]),
        nv.callbacks.WeightMatrices(tmp_path, layers=["dense"], sinks=["png"]),
        nv.callbacks.Report(tmp_path),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(
            digits.train.x[:64], digits.train.y[:64], epochs=3, verbose=0, callbacks=cbs
        )
    assert np.isnan(history.history["loss"][-1])
    diverged = [str(w.message) for w in caught if w.category is TrainingDivergedWarning]
    assert len(diverged) == 1 and "'conv1'" in diverged[0] and "epoch 2" in diverged[0]
    dead = [str(w.message) for w in caught if w.category is DeadUnitsWarning]
    assert dead and all("not finite" in m for m in dead), dead  # never "100 % dead"
    raw = (tmp_path / nvio.MANIFEST_NAME).read_text()
    assert '"NaN"' in raw
    manifest = _strictly_valid(tmp_path)
    [fit] = manifest["fits"]
    assert set(fit["diverged"]) == {"epoch", "layer", "message"}
    assert (fit["diverged"]["epoch"], fit["diverged"]["layer"]) == (2, "conv1")
    for name, section in manifest["callbacks"].items():
        assert section["runs"][-1]["diverged"] == fit["diverged"], name
    assert np.isnan(fit["metrics"][-1]["loss"])  # read back as a float
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Training diverged" in page and "conv1" in page  # the report says so, first


# -- two writers --------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import json, sys, time, warnings
    from pathlib import Path
    import keras
    import keras_nnviz as nv
    from tests.test_faults import _tiny_data, _tiny_model

    log_dir, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    def barrier(logs=None):
        # Both fits are past their callbacks' train begin before either trains: they overlap.
        (log_dir.parent / f"ready-{me}").touch()
        deadline = time.time() + 90
        while not (log_dir.parent / f"ready-{other}").exists():
            assert time.time() < deadline, "the other writer never started"
            time.sleep(0.02)

    x, y = _tiny_data()
    model = _tiny_model(name=f"model_{me}")
    # every=1: this process has no test fixture pinning the fit-wide budget off, and the test
    # counts one frame per epoch.
    cbs = [
        nv.callbacks.WeightMatrices(log_dir, sinks=["png", "gif"], every=1),
        nv.callbacks.WeightHistograms(log_dir, sinks=["png"], every=1),
        nv.callbacks.Report(log_dir),
        keras.callbacks.LambdaCallback(on_train_begin=barrier),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=cbs)
    print("RESULT " + json.dumps({
        "folders": [cb._folder for cb in cbs[:2]],
        "errors": [cb.stats.errors for cb in cbs[:3]],
        "warnings": [str(w.message) for w in caught],
    }))
    """
)


@pytest.mark.slow
def test_two_processes_fitting_into_one_log_dir_keep_both_runs(tmp_path):
    log_dir = tmp_path / "logs"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(log_dir), me, other],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, err[-3000:]
        results.append(json.loads(lines[0][len("RESULT ") :]))
    assert all(r["errors"] == [0, 0, 0] for r in results)
    folders = sorted(f for r in results for f in r["folders"])
    assert folders == sorted(
        ["weight_matrices", "weight_matrices_2", "weight_histograms", "weight_histograms_2"]
    )
    said = [w for r in results for w in r["warnings"] if "in use by another running fit" in w]
    assert len(said) == 2  # the second writer of each folder says where it writes

    manifest = _strictly_valid(log_dir)
    assert len(manifest["fits"]) == 2 and len({f["id"] for f in manifest["fits"]}) == 2
    assert {f["model"] for f in manifest["fits"]} == {"model_a", "model_b"}
    assert set(manifest["callbacks"]["report"]["params"]["models"]) == {"model_a", "model_b"}
    paths = _listed_files_exist(log_dir, manifest)
    assert len(paths) == len(set(paths))
    for folder in folders:
        section = manifest["callbacks"][folder]
        assert len(section["runs"]) == 1 and section["runs"][0]["ended"] is not None
        frames = [
            e for e in manifest["entries"] if e["callback"] == folder and e["kind"] == "frame"
        ]
        by_tag: dict = {}
        for e in frames:
            by_tag.setdefault(e["tag"], []).append(e["epoch"])
        assert by_tag and all(sorted(v) == [0, 1, 2, 3] for v in by_tag.values()), by_tag
    for gif in (e for e in manifest["entries"] if e["kind"] == "animation"):
        assert gif["frames"] == 4
    # The report of the log_dir shows both runs, every frame.
    html = nv.report.build_report(log_dir, out=tmp_path / "both.html").read_text()
    pngs = [p for p in paths if p.endswith(".png")]
    assert html.count("data:image/png;base64") >= len(pngs)
    assert "model_a" in html and "model_b" in html


# -- hostile names ------------------------------------------------------------------------------


def test_hostile_layer_and_model_names_stay_inside_log_dir_and_json(tmp_path):
    # Keras refuses "/" in names and TensorFlow anything outside [A-Za-z0-9_.\\/>-] while
    # training: what is left that could climb out of a folder or break a page.
    names = ["..", "...", "a>b", "..-..-up", "._x"]
    inputs = keras.Input((4,))
    h = inputs
    for name in names:
        h = keras.layers.Dense(4, activation="relu", name=name)(h)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h), name="hostile")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _tiny_data(32)
    cbs = [
        nv.callbacks.WeightMatrices(tmp_path, sinks=["png", "gif"]),
        nv.callbacks.WeightHistograms(tmp_path, sinks=["png"]),
        nv.callbacks.Report(tmp_path),
    ]
    model.fit(x, y, epochs=1, verbose=0, callbacks=cbs)
    assert all(cb.stats.errors == 0 for cb in cbs), [cb._errors[:1] for cb in cbs]
    root = tmp_path.resolve()
    for path in tmp_path.rglob("*"):
        assert path.resolve().is_relative_to(root), path
    manifest = _strictly_valid(tmp_path)
    paths = _listed_files_exist(tmp_path, manifest)
    tags = " ".join(manifest["callbacks"]["weight_matrices"]["tags"])
    assert "a>b" in tags and ".." in tags.split("/")
    html = (tmp_path / "report.html").read_text()
    assert "a>b" not in html and "a&gt;b" in html
    assert all(".." not in Path(p).parts for p in paths)
    for bad in ("../x", "/abs", "a/b", "..", "x\x00y"):
        with pytest.raises(nv.InvalidArgumentError, match="one plain folder name"):
            nv.callbacks.WeightMatrices(tmp_path, name=bad)


def test_two_callbacks_of_one_class_with_the_default_name_get_their_own_folders(tmp_path):
    x, y = _tiny_data(32)
    cbs = [nv.callbacks.WeightMatrices(tmp_path, sinks=["png"]) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", VisualizationWarning)  # one fit: nothing to warn
        _tiny_model().fit(x, y, epochs=1, verbose=0, callbacks=cbs)
    assert [cb._folder for cb in cbs] == ["weight_matrices", "weight_matrices_2"]
    manifest = _strictly_valid(tmp_path)
    for folder in ("weight_matrices", "weight_matrices_2"):
        frames = [e for e in manifest["entries"] if e["callback"] == folder]
        assert frames and all(e["path"].startswith(folder + "/") for e in frames)
    _listed_files_exist(tmp_path, manifest)


# -- write volume -------------------------------------------------------------------------------


class Tiny(VisualizationCallback):
    """One 4x4 frame per snapshot: the manifest's cost, without rendering's."""

    folder = "tiny"

    def compute(self, model):
        return 0

    def render(self, result, when):
        yield nvio.ImageItem("t", pixels=np.zeros((4, 4, 3), np.uint8))


def test_manifest_bytes_grow_linearly_with_snapshots(tmp_path):
    x, y = _tiny_data(64)
    written = []
    for epochs in (1, 4):
        log_dir = tmp_path / f"e{epochs}"
        cb = Tiny(log_dir, every="batch:1", sinks=["png"])
        _tiny_model().fit(x, y, epochs=epochs, batch_size=4, verbose=0, callbacks=[cb])
        assert cb.stats.snapshots == 16 * epochs + 2  # + before training + train end
        written.append(nvio.Manifest.for_dir(log_dir).bytes_written)
    # Rewriting the whole manifest per snapshot grew ~ snapshots^2 (4x the snapshots: ~16x).
    assert 3.0 < written[1] / written[0] < 5.0, written


def _mount_tmpfs(path: Path, size: str) -> bool:
    """Mount a small tmpfs at ``path`` (root with mount rights only); False when not possible."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def test_a_really_full_disk_keeps_the_history_and_a_valid_manifest(tmp_path, monkeypatch):
    """A 48 KB tmpfs where the machine allows mounting one, else the injected ENOSPC: the same
    outcome is asserted either way."""
    log_dir = tmp_path / "small"
    mounted = _mount_tmpfs(log_dir, "48k")
    if not mounted:
        disk = FullDisk(log_dir, monkeypatch)
        disk.on = False
    x, y = _tiny_data()
    fill = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: mounted or setattr(disk, "on", e >= 1)
    )
    cbs = [
        fill,
        nv.callbacks.WeightMatrices(log_dir, sinks=["png", "gif"]),
        nv.callbacks.WeightHistograms(log_dir, sinks=["png", "gif"]),
        nv.callbacks.Report(log_dir),
    ]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = _tiny_model().fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=cbs)
        assert len(history.history["loss"]) == 6
        messages = [str(w.message) for w in caught if issubclass(w.category, VisualizationWarning)]
        assert any("No space left on device" in m for m in messages), messages
        manifest = _strictly_valid(log_dir)
        paths = _listed_files_exist(log_dir, manifest)
        assert any(p.endswith("epoch_0000.png") for p in paths)
        assert not [p for p in log_dir.rglob("*") if ".tmp" in p.name]
    finally:
        if mounted:
            subprocess.run(["umount", str(log_dir)], capture_output=True, timeout=30)
