"""``nnviz demo`` end to end, and its report in headless Chromium (offline, no errors, slider)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from keras_nnviz.io import decode_png
from tests.browser import chrome, console_errors, open_file, screenshot_png  # noqa: F401
from tests.conftest import png_is_not_blank
from tests.test_sinks import read_events

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Run the console-script launcher as a user would (2 epochs to keep CI short)."""
    out = tmp_path_factory.mktemp("demo") / "nnviz-demo"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "keras_nnviz", "demo", "--out", str(out), "--epochs", "2"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    return done, out, time.perf_counter() - start


@pytest.mark.slow
def test_demo_trains_both_models_and_writes_the_report(demo):
    done, out, seconds = demo
    assert done.returncode == 0, done.stderr[-3000:]
    assert seconds < 120, f"nnviz demo --epochs 2 took {seconds:.0f} s"
    lines = done.stdout.splitlines()
    assert any(line.startswith("[1/2] CNN") for line in lines)
    assert any(line.startswith("[2/2] transformer") for line in lines)
    assert sum("epoch 2/2" in line for line in lines) == 2
    assert f"report: {(out / 'report.html').resolve()}" in done.stdout
    # TensorFlow's start-up chatter stays out of a user's terminal
    assert "oneDNN" not in done.stderr and "cuda" not in done.stderr.lower(), done.stderr
    manifest = json.loads((out / "nnviz_manifest.json").read_text())
    assert manifest  # the callbacks' record the report was built from
    for saved in (
        "models/digits_cnn.keras",
        "models/flagged_transformer.keras",
        "data/digits_test.npz",
        "data/flagged_test.npz",
    ):
        assert (out / saved).is_file(), saved
    html = (out / "report.html").read_text(encoding="utf-8")
    for title in (
        "Grad-CAM",
        "Attention maps",
        "Feature visualization",
        "Embedding projection",
        "Gradient flow",
        "Weight histograms",
        "Training curves",
    ):
        assert f"<h3>{title}" in html, title


@pytest.mark.slow
def test_tensorboard_shows_each_models_keras_curves_and_ours_at_the_same_steps(demo):
    """What the closing hint promises: per model, Keras's loss and accuracy (train and
    validation) and our summaries in a run beside them, the picture after epoch e at Keras's
    step for epoch e, nothing at a negative step."""
    done, out, _ = demo
    assert done.returncode == 0, done.stderr[-3000:]
    [hint] = [line for line in done.stdout.splitlines() if line.startswith("also:")]
    assert f"tensorboard --logdir {out} " in hint and "per model, cnn and transformer" in hint
    plugins = {}
    runs = {p.parent.relative_to(out).as_posix() for p in out.rglob("events.out.tfevents.*")}
    assert runs == {
        f"{model}/{run}"
        for model in ("cnn", "transformer")
        for run in ("train", "validation", "train/nnviz")
    }  # one folder of runs per model; no run shared by both models
    for model in ("cnn", "transformer"):
        for run in ("train", "validation"):  # Keras's epoch index: 0, 1 for two epochs
            steps = {}
            for tag, step, _, _ in read_events(out / model / run):
                steps.setdefault(tag, []).append(step)
            assert sorted(steps["epoch_loss"]) == sorted(steps["epoch_accuracy"]) == [0, 1], run
        ours = read_events(out / model / "train" / "nnviz")
        assert {step for _, step, _, _ in ours} == {0, 1}, model  # not -1: before training
        # the epochs each callback drew (a scalar per drawn epoch, a train-end text)
        schedule = {tag.split("/")[1] for tag, _, _, _ in ours if tag.startswith("nnviz/")}
        assert schedule == {"drawn", "schedule"}, model
        plugins[model] = {plugin for tag, _, plugin, _ in ours if not tag.startswith("nnviz/")}
    # what the hint lists: pictures and histograms for both, scalars for the CNN
    assert plugins == {
        "cnn": {"images", "histograms", "scalars"},
        "transformer": {"images", "histograms"},
    }
    # The frame at Keras's step e is the picture after epoch e + 1 (the PNG of that epoch).
    frames = {
        step: value.tensor.string_val[2]
        for tag, step, _, value in read_events(out / "cnn" / "train" / "nnviz")
        if tag == "activation_maps/conv1"
    }
    assert sorted(frames) == [0, 1]
    for step, png in frames.items():
        on_disk = (out / "activation_maps" / "conv1" / f"epoch_{step + 1:04d}.png").read_bytes()
        np.testing.assert_array_equal(decode_png(png), decode_png(on_disk))


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_offline_and_the_epoch_slider_swaps_pictures(chrome, demo):  # noqa: F811
    done, out, _ = demo
    assert done.returncode == 0, done.stderr[-3000:]
    open_file(chrome, out / "report.html")
    assert console_errors(chrome) == []
    fetched = chrome.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; });"
    )
    assert [u for u in fetched if not u.startswith("data:")] == []
    assert png_is_not_blank(screenshot_png(chrome))

    def sources():
        return [img.get_attribute("src") for img in chrome.find_elements("css selector", "img")]

    last = sources()
    label = chrome.find_element("id", "nv-epoch-label").text
    chrome.execute_script(
        "var s = document.getElementById('nv-epoch'); s.value = s.min;"
        "s.dispatchEvent(new Event('input'));"
    )
    first = sources()
    changed = sum(a != b for a, b in zip(last, first))
    assert changed >= 5, f"only {changed} pictures changed when the epoch slider moved"
    assert chrome.find_element("id", "nv-epoch-label").text != label
    assert console_errors(chrome) == []
