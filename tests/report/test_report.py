"""The HTML report from a real training run: sections, frames, curves, layer table, escaping."""

from __future__ import annotations

import json
import re
import urllib.parse

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.html import script_json
from keras_nnviz.report import _curves, _manifest

EPOCHS = 2


def page_data(html: str) -> dict:
    """The frames JSON the page script reads."""
    match = re.search(r'<script type="application/json" id="nv-data">(.*?)</script>', html, re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """digits CNN, 2 epochs, Report *first* in the list: it must wait for the others."""
    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    x, y = data.test.x, data.test.y
    log_dir = tmp_path_factory.mktemp("report_run")
    model = nv.datasets.digits_cnn()
    report = nv.callbacks.Report(log_dir)
    callbacks = [
        report,
        nv.callbacks.WeightHistograms(log_dir),
        nv.callbacks.ActivationMaps(log_dir, x=x[:1], layers=["conv1", "dense"]),
        nv.callbacks.GradCAM(log_dir, x=x[:4]),
        nv.callbacks.EmbeddingProjection(
            log_dir,
            x=x[:60],
            labels=y[:60],
            layer="dense",
            class_names=data.class_names,
            every=1,
        ),
    ]
    model.fit(
        data.train.x[:256],
        data.train.y[:256],
        validation_data=(x[:64], y[:64]),
        epochs=EPOCHS,
        batch_size=32,
        verbose=0,
        callbacks=callbacks,
    )
    html = (log_dir / "report.html").read_text(encoding="utf-8")
    return model, log_dir, report, html


def test_report_is_written_at_train_end(run):
    model, log_dir, report, html = run
    assert report.path == log_dir / "report.html"
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for title in ["Weight histograms", "Activation maps", "Grad-CAM", "Embedding projection"]:
        assert f"<h3>{title}</h3>" in html, title
    assert "<h3>Training curves</h3>" in html and "<h3>Layers</h3>" in html


def test_every_tag_has_a_frame_per_epoch_and_summaries_arrived(run):
    _, log_dir, _, html = run
    frames = page_data(html)["frames"]
    series = [f for f in frames.values() if len(f) > 1]
    # overview, conv1, dense, Grad-CAM maps: each before training + each epoch.
    assert len(series) == 4
    for f in series:
        assert [fr["epoch"] for fr in f] == list(range(EPOCHS + 1))
        assert f[0]["label"] == "before training" and f[-1]["label"] == f"epoch {EPOCHS}"
        assert len({fr["src"] for fr in f}) == len(f)  # different pictures
    # Train-end summaries of callbacks listed *after* Report are in: it waited for them.
    assert "overview · ridgeline (end of training)" in html
    assert "projector_config.pbtxt" not in html  # files for TensorBoard, not for the page
    # The embedding is interactive: its points over training, not pictures (the slider moves it).
    (emb,) = page_data(html)["embeddings"].values()
    assert [f["epoch"] for f in emb["frames"]] == list(range(EPOCHS + 1))
    assert emb["title"] == "dense" and len(emb["labels"]) == len(emb["frames"][0]["xy"]) // 2
    assert emb["sprite"]["src"].startswith("data:image/png;base64,")
    # The epoch slider spans the frames.
    assert page_data(html)["epochs"] == list(range(EPOCHS + 1))
    assert 'id="nv-epoch" min="0" max="2"' in html


def test_pictures_are_inline_and_nothing_is_fetched(run):
    _, _, _, html = run
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for frames in page_data(html)["frames"].values():
        assert all(f["src"].startswith("data:image/png;base64,") for f in frames)
    # No network: no absolute URL in an attribute (the SVG namespace is not fetched).
    urls = re.findall(r'(?:src|href)="(https?:[^"]*)"', html)
    assert urls == []
    assert "Content-Security-Policy" in html and "default-src &#x27;none&#x27;" in html


def test_curves_show_each_epoch_of_training_and_validation(run):
    _, _, _, html = run
    charts = re.findall(r'<svg class="nv-chart".*?</svg>', html, re.S)
    names = [re.search(r'aria-label="([^"]+)"', c).group(1) for c in charts]
    assert names == ["loss", "accuracy"]
    for chart in charts:
        assert chart.count("<polyline") == 2  # training and validation
        assert chart.count("<circle") == 2 * EPOCHS
        assert 'class="nv-marker"' in chart


def test_layer_table_lists_every_layer(run):
    model, _, _, html = run
    table = html[html.index("<h3>Layers</h3>") :]
    table = table[: table.index("</table>")]
    for path in nv.list_layers(model):
        assert f"<td>{path}</td>" in table.replace(' class=""', "")
    assert f"{model.count_params():,}" in html


def test_build_report_after_training_links_files(run, tmp_path):
    model, log_dir, _, _ = run
    out = tmp_path / "elsewhere" / "page.html"
    path = nv.build_report(log_dir, model=model, out=out, embed=False, title="linked")
    html = path.read_text(encoding="utf-8")
    assert "<title>linked</title>" in html
    srcs = [f["src"] for frames in page_data(html)["frames"].values() for f in frames]
    assert srcs and not any(s.startswith("data:") for s in srcs)
    for src in srcs:  # relative to the page, and they resolve to the frames on disk
        assert (out.parent / urllib.parse.unquote(src)).resolve().is_file(), src
    assert path.stat().st_size < (log_dir / "report.html").stat().st_size / 5


def test_build_report_errors_name_the_fix(tmp_path):
    with pytest.raises(nv.InvalidArgumentError, match="nnviz_manifest.json"):
        nv.build_report(tmp_path)
    with pytest.raises(nv.InvalidArgumentError, match="not a folder"):
        nv.build_report(tmp_path / "missing")
    with pytest.raises(nv.InvalidArgumentError, match="filename"):
        nv.callbacks.Report(tmp_path, filename="a/b.html")


# ----------------------------------------------------------------------------------------------
# Escaping: user-provided names never become markup

INJECT_IMG = "<img src=x onerror=window.nvInjected=1>"
INJECT_SVG = "<svg onload=window.nvInjected=2>"
INJECT_SCRIPT = "<script>window.nvInjected=3</script>"


def hostile_model() -> keras.Model:
    """Layer and model names full of markup (Keras forbids only "/").

    TensorFlow refuses such names as name scopes, so this model cannot run (and a failed call
    leaves Keras's name-scope stack dirty for the rest of the process): the test only lists it,
    which is what ``nnviz report`` shows first.
    """
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="<script>")(inputs)
    h = keras.layers.Flatten(name=INJECT_IMG)(h)
    h = keras.layers.Dense(8, activation="relu", name='dense"&amp;')(h)
    out = keras.layers.Dense(3, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, out, name=INJECT_SVG)


@pytest.fixture(scope="module")
def hostile_pages(tmp_path_factory):
    """A training report with hostile labels, and a post-hoc report of the hostile model."""
    folder = tmp_path_factory.mktemp("hostile")
    data = nv.datasets.digits()
    x, y = data.test.x[:48], data.test.y[:48] % 3
    names = [INJECT_SCRIPT, INJECT_IMG, "&lt;"]
    log_dir = folder / "run"
    model = nv.datasets.digits_cnn()
    model.fit(
        data.train.x[:64],
        data.train.y[:64],
        epochs=1,
        verbose=0,
        callbacks=[
            nv.callbacks.ActivationMaps(log_dir, x=x[:1], layers=["conv1"], name=INJECT_IMG),
            nv.callbacks.EmbeddingProjection(
                log_dir,
                x=x,
                labels=y,
                layer="dense",
                class_names=names,
                projector=False,
                every=1,
            ),
            nv.callbacks.Report(log_dir, title=INJECT_SCRIPT),
        ],
    )
    posthoc = nv.report.model_report(
        hostile_model(),
        x,
        out=folder / "posthoc" / "report.html",
        class_names=names,
        sections=["architecture", "weights"],  # nothing that runs the model
    )
    return posthoc, log_dir / "report.html"


def test_user_names_are_escaped(hostile_pages):
    posthoc, trained = (p.read_text(encoding="utf-8") for p in hostile_pages)
    for html in (posthoc, trained):
        # Our own two script elements only; no injected element of any kind.
        assert len(re.findall(r"<script\b", html, re.I)) == 2
        assert "<img src=x" not in html and "<svg onload" not in html
        data = html[html.index('id="nv-data">') + len('id="nv-data">') :]
        data = data[: data.index("</script>")]
        assert "<" not in data and ">" not in data  # JSON escapes them as \\u003c / \\u003e
    assert "<td>&lt;script&gt;</td>" in posthoc.replace(' class=""', "")
    assert "&lt;img src=x onerror=window.nvInjected=1&gt;" in posthoc
    assert "&lt;svg onload=window.nvInjected=2&gt;" in posthoc
    assert "dense&quot;&amp;amp;" in posthoc  # quote and ampersand escaped once, not decoded
    assert "<title>&lt;script&gt;window.nvInjected=3&lt;/script&gt;</title>" in trained
    assert "&lt;img src=x onerror=window.nvInjected=1&gt;" in trained  # the callback's name
    assert "<td>&lt;script&gt;/kernel</td>" in posthoc.replace(' class=""', "")  # weights table
    assert "Failed" not in posthoc and "failed" not in posthoc


def test_script_json_cannot_close_its_script_element():
    text = script_json({"a": "</script><script>alert(1)</script>", "b": "&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><script>alert(1)</script>", "b": "&"}


# ----------------------------------------------------------------------------------------------
# Small pieces


def test_metric_groups_put_loss_first_and_pair_validation():
    rows = [{"epoch": 1, "accuracy": 0.5, "loss": 1.0, "val_loss": 1.2, "val_accuracy": 0.4}]
    assert _curves.metric_groups(rows) == [
        ("loss", ["loss", "val_loss"]),
        ("accuracy", ["accuracy", "val_accuracy"]),
    ]


@pytest.mark.parametrize(
    "lo, hi", [(0.0, 1.0), (0.013, 0.0171), (-3.2, 250.0), (1e-5, 3e-5), (5.0, 5.0)]
)
def test_nice_ticks_cover_the_range_with_round_steps(lo, hi):
    ticks = _curves.nice_ticks(lo, hi)
    assert ticks and all(lo - 1e-12 <= t <= hi + 1e-12 for t in ticks)
    if hi > lo:
        assert 2 <= len(ticks) <= 7
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0])
        mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
        assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5, 10))


def test_merged_metrics_continue_or_replace_earlier_runs():
    first = {"metrics": [{"epoch": e, "loss": 1.0 / e} for e in (1, 2, 3)]}
    resumed = {"metrics": [{"epoch": e, "loss": 0.1} for e in (4, 5)]}
    restarted = {"metrics": [{"epoch": e, "loss": 9.0} for e in (1, 2)]}
    assert [m["epoch"] for m in _manifest.merged_metrics([first, resumed])] == [1, 2, 3, 4, 5]
    assert _manifest.merged_metrics([first, restarted]) == restarted["metrics"]
    assert _manifest.merged_metrics([]) == []
