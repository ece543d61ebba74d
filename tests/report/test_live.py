"""The live report: rewritten after every epoch, valid after an interrupt, final without reload."""

from __future__ import annotations

import json
import re
import urllib.parse
import warnings
from html.parser import HTMLParser
from pathlib import Path

import keras
import pytest

import keras_nnviz as nv
from keras_nnviz.io import BackgroundWriter
from keras_nnviz.report import LiveStatus, Page, Part, Section, render

EPOCHS = 3
VOID = {"meta", "link", "img", "input", "br", "hr", "source", "col", "wbr", "area", "base"}


class _Checker(HTMLParser):
    """Every element closed in order (SVG's self-closed ones too), nothing left open."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()


def assert_valid_page(path: Path) -> tuple[str, dict]:
    """A whole document: balanced elements, a strict-JSON data block, a CSP, pictures on disk."""
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert checker.errors == [] and checker.stack == []
    match = re.search(r'<script type="application/json" id="nv-data">(.*?)</script>', html, re.S)
    assert match
    data = json.loads(match.group(1), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert "Content-Security-Policy" in html and len(re.findall(r"<script\b", html)) == 2
    for frames in data["frames"].values():
        for frame in frames:
            if not frame["src"].startswith("data:"):
                assert (path.parent / urllib.parse.unquote(frame["src"])).is_file()
    return html, data


class _Probe(keras.callbacks.Callback):
    """Reads the page when each epoch begins (after the writer caught up); interrupts one."""

    def __init__(self, page: Path, interrupt_epoch: int | None = None):
        super().__init__()
        self.page, self.interrupt_epoch, self.seen = page, interrupt_epoch, {}

    def on_epoch_begin(self, epoch, logs=None):
        BackgroundWriter.submit(lambda: None).result()  # what was queued before is written
        if self.page.exists():
            self.seen[epoch] = assert_valid_page(self.page)

    def on_train_batch_end(self, batch, logs=None):
        if self.interrupt_epoch is not None and len(self.seen) >= self.interrupt_epoch:
            raise KeyboardInterrupt


def _fit(log_dir, callbacks, epochs=EPOCHS):
    data = nv.datasets.digits()
    keras.utils.set_random_seed(0)
    model = nv.datasets.digits_cnn()
    return model.fit(
        data.train.x[:96],
        data.train.y[:96],
        epochs=epochs,
        batch_size=32,
        verbose=0,
        callbacks=callbacks,
    )


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """3-epoch fit with Report and ActivationMaps, interrupted by Ctrl-C in epoch 2."""
    log_dir = tmp_path_factory.mktemp("live")
    x = nv.datasets.digits().test.x[:1]
    probe = _Probe(log_dir / "report.html", interrupt_epoch=1)
    report = nv.callbacks.Report(log_dir)
    cbs = [report, probe, nv.callbacks.ActivationMaps(log_dir, x=x, layers=["conv1"])]
    with pytest.raises(KeyboardInterrupt):
        _fit(log_dir, cbs)
    BackgroundWriter.submit(lambda: None).result()
    return log_dir, report, probe


def test_page_after_epoch_1_says_in_progress_epoch_1_of_3(interrupted):
    log_dir, report, probe = interrupted
    html, data = probe.seen[1]  # read when epoch 2 began: every callback had written epoch 1
    assert "training in progress — epoch 1 of 3" in html
    assert data["live"]["epoch"] == 1 and data["live"]["epochs"] == 3
    assert data["live"]["every_ms"] == 5000 and data["live"]["state_url"] is None
    # Cheap while training: the pictures are linked, not re-encoded into the page each epoch.
    srcs = [f["src"] for frames in data["frames"].values() for f in frames]
    assert srcs and not any(s.startswith("data:") for s in srcs)
    assert [f["epoch"] for f in data["frames"][next(iter(data["frames"]))]] == [0, 1]
    assert len(report.live_seconds) == 1


def test_an_interrupted_fit_leaves_a_valid_page(interrupted):
    log_dir, _, _ = interrupted
    html, data = assert_valid_page(log_dir / "report.html")
    assert "in progress" in html and "epoch 1 of 3" in html
    # It stops reloading once it has had no news for much longer than an epoch.
    assert data["live"]["stale_ms"] >= 300_000


@pytest.mark.slow
def test_the_final_page_does_not_reload_and_embeds(tmp_path):
    report = nv.callbacks.Report(tmp_path, reload_seconds=1)
    _fit(tmp_path, [report, nv.callbacks.WeightMatrices(tmp_path, layers=["dense"])], epochs=2)
    html, data = assert_valid_page(report.path)
    assert data["live"] is None and "in progress" not in html and 'id="nv-live"' not in html
    srcs = [f["src"] for frames in data["frames"].values() for f in frames]
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert len(report.live_seconds) == 1  # after epoch 1; the final page follows epoch 2
    # Kernel histograms per layer and epoch, for the graph (before training, epochs 1 and 2).
    hists = json.loads((tmp_path / "report" / "weight_histograms.json").read_text())
    rows = hists["digits_cnn"]["dense/kernel"]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert all(sum(r["counts"]) == 512 * 32 for r in rows)
    assert {"conv1/kernel", "conv2/kernel", "predictions/kernel"} <= set(hists["digits_cnn"])


@pytest.mark.slow
def test_a_failing_page_warns_and_training_goes_on(tmp_path):
    (tmp_path / "report.html").mkdir()  # the page cannot replace a folder
    report = nv.callbacks.Report(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _fit(tmp_path, [report], epochs=2)
    assert len(history.history["loss"]) == 2
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any("report.html" in m for m in messages)


def test_reload_seconds_is_checked(tmp_path):
    with pytest.raises(nv.InvalidArgumentError, match="reload_seconds"):
        nv.callbacks.Report(tmp_path, reload_seconds=0)


def test_a_diverged_run_shows_a_banner(tmp_path):
    manifest = {
        "format": "keras_nnviz.manifest",
        "version": 1,
        "updated": "2026-01-01T00:00:00Z",
        "callbacks": {
            "maps": {
                "class": "ActivationMaps",
                "title": "Activation maps",
                "tags": [],
                "runs": [
                    {
                        "model": "<b>net</b>",
                        "started": "t",
                        "ended": "t",
                        "epochs": 3,
                        "diverged": {"epoch": 3, "layer": "dense", "message": "loss is NaN"},
                    }
                ],
            }
        },
        "entries": [],
    }
    (tmp_path / "nnviz_manifest.json").write_text(json.dumps(manifest))
    html, _ = assert_valid_page(nv.build_report(tmp_path))
    banner = re.search(r'<p class="nv-alarm">(.*?)</p>', html)
    assert banner, "no diverged banner"
    assert "Training diverged" in banner.group(1) and "epoch 3" in banner.group(1)
    assert "dense" in banner.group(1) and "loss is NaN" in banner.group(1)
    assert "&lt;b&gt;net&lt;/b&gt;" in banner.group(1)  # escaped like every name
    manifest["callbacks"]["maps"]["runs"][0].pop("diverged")
    (tmp_path / "nnviz_manifest.json").write_text(json.dumps(manifest))
    assert 'class="nv-alarm"' not in nv.build_report(tmp_path).read_text(encoding="utf-8")


def test_long_tables_are_folded_and_come_after_the_pictures():
    from keras_nnviz.report import Figure, Frame, Table

    rows = [[f"layer{i}", "Dense", "(None, 4)", "20"] for i in range(30)]
    section = Section(
        "s",
        [Table(["a", "b", "c", "d"], rows, caption="layers"), Figure("pic", [Frame("data:,")])],
    )
    html = render(Page("t", [Part("m", sections=[section])], live=LiveStatus(2, 5)))
    assert '<details class="nv-fold"><summary>30 rows · layers' in html
    assert html.index("<figure") < html.index("<details")
    assert "training in progress — epoch 2 of 5" in html
    short = render(Page("t", [Part("m", sections=[Section("s", [Table(["a"], [["x"]])])])]))
    assert "<details" not in short
