"""The report's interactive embedding: its data (post-hoc and from the EmbeddingProjection
callback's points files), then in headless Chromium: hover shows the sample, search, zoom, pan,
colour by prediction, the epoch slider moves the points; no console error, nothing fetched."""

from __future__ import annotations

import json
import time

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.report._embedding import from_manifest, from_points, scaled
from tests.browser import chrome, console_errors, open_file  # noqa: F401
from tests.report.test_report import page_data

NAMES = [f"digit {i}" for i in range(10)]


def _digits(n=120):
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:n] / 16.0).astype("float32")[..., None], d.target[:n]


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(12, activation="relu", name="feat"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def test_points_are_scaled_into_the_unit_square_and_tokens_become_text():
    xy = np.array([[10.0, 0.0], [30.0, 4.0], [20.0, np.nan]])
    flat = np.array(scaled(xy)).reshape(-1, 2)
    assert np.abs(flat).max() == pytest.approx(1.0) and np.isfinite(flat).all()
    assert flat[0, 0] == pytest.approx(-1.0) and flat[1, 0] == pytest.approx(1.0)
    tokens = [["the", "cat", "[PAD]"], ["a", "dog", "ran"], ["x", "y", "z"]]
    block = from_points("emb", xy, labels=[0, 1, 1], preds=[0, 0, 1], tokens=tokens)
    data = block.payload()
    assert data["texts"] == ["the cat", "a dog ran", "x y z"]
    assert data["labels"] == [0, 1, 1] and data["preds"] == [0, 0, 1] and data["sprite"] is None
    # Labels that do not cover every point are dropped, not misaligned.
    assert from_points("emb", xy, labels=[0, 1]).labels is None


def test_manifest_points_align_pca_signs_and_skip_unreadable_files(tmp_path):
    a = np.array([[1.0, 2.0], [-1.0, -2.0], [0.5, 0.0]])
    files = {}
    for epoch, pts in ((0, a), (1, a * [-1.0, 1.0]), (2, None)):  # epoch 1: x mirrored
        path = tmp_path / f"{epoch}.json"
        if pts is not None:
            path.write_text(json.dumps({"xy": pts.ravel().tolist(), "labels": [0, 1, 2]}))
        files[epoch] = path
    entries = [{"epoch": e, "path": str(p)} for e, p in files.items()]
    block = from_manifest(
        "feat",
        entries,
        lambda e: e["path"] if e.get("path") and files[e["epoch"]].is_file() else None,
        str,
        lambda e: f"epoch {e['epoch']}",
    )
    assert [f["epoch"] for f in block.frames] == [0, 1]
    assert block.frames[0]["xy"] == block.frames[1]["xy"]  # the mirror was undone
    assert block.labels == [0, 1, 2] and block.frames[1]["label"] == "epoch 1"
    assert from_manifest("feat", entries[2:], lambda e: None, str, str) is None


@pytest.fixture(scope="module")
def posthoc(tmp_path_factory):
    x, y = _digits()
    out = tmp_path_factory.mktemp("embedding_posthoc") / "report.html"
    nv.report.model_report(_model(), x, y, out=out, class_names=NAMES, sections=["embedding"])
    return out, y


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    x, y = _digits(160)
    log_dir = tmp_path_factory.mktemp("embedding_fit")
    model = _model()
    model.compile("adam", "sparse_categorical_crossentropy")
    cb = nv.callbacks.EmbeddingProjection(
        log_dir, x=x[:80], labels=y[:80], class_names=NAMES, every=1, projector=False
    )
    model.fit(
        x, y, epochs=2, batch_size=40, verbose=0, callbacks=[cb, nv.callbacks.Report(log_dir)]
    )
    return log_dir / "report.html"


@pytest.mark.slow
def test_posthoc_embedding_data(posthoc):
    out, y = posthoc
    (emb,) = page_data(out.read_text(encoding="utf-8"))["embeddings"].values()
    assert emb["labels"] == [int(v) for v in y] and len(emb["preds"]) == len(y)
    assert emb["classes"] == NAMES and emb["sprite"]["cols"] == 11  # ceil(sqrt(120))
    assert "data:image/png;base64," in emb["sprite"]["src"]


def _point(driver, index):
    """Client coordinates of point ``index`` at the view's starting zoom."""
    return driver.execute_script(
        """var d = JSON.parse(document.getElementById('nv-data').textContent).embeddings;
        var e = d[Object.keys(d)[0]], xy = e.frames[e.frames.length - 1].xy, i = arguments[0];
        var r = document.querySelector('.nv-embed-canvas').getBoundingClientRect();
        return [r.left + 280 + xy[2 * i] * 189, r.top + 210 - xy[2 * i + 1] * 189];""",
        index,
    )


def _mouse(driver, event, x, y, extra=""):
    """Dispatch ``mousemove`` or ``wheel`` on the canvas at client ``(x, y)``."""
    ctor = "WheelEvent" if event == "wheel" else "MouseEvent"
    driver.execute_script(
        f"document.querySelector('.nv-embed-canvas').dispatchEvent(new {ctor}(arguments[0], "
        f"{{clientX: arguments[1], clientY: arguments[2], bubbles: true, "
        f"cancelable: true{extra}}}))",
        event,
        x,
        y,
    )


@pytest.mark.browser
@pytest.mark.slow
def test_hover_search_zoom_and_colour_in_chromium(chrome, posthoc):  # noqa: F811
    out, y = posthoc
    open_file(chrome, out)
    host = chrome.find_element("css selector", ".nv-embed")
    chrome.execute_script("arguments[0].scrollIntoView({block: 'center'});", host)
    x0, y0 = _point(chrome, 5)
    _mouse(chrome, "mousemove", x0, y0)
    assert host.get_attribute("data-hover") is not None  # the nearest point under the cursor
    shown = int(host.get_attribute("data-hover"))
    tip = chrome.find_element("css selector", ".nv-embed-tip")
    assert tip.is_displayed() and f"sample #{shown}" in tip.text
    assert f"label: {NAMES[y[shown]]}" in tip.text and "prediction: digit" in tip.text
    assert chrome.find_element("css selector", ".nv-embed-thumb").is_displayed()
    # Search: a class by name, then one sample by index.
    search = chrome.find_element("css selector", ".nv-embed-search")
    search.send_keys("=digit 3")
    assert host.get_attribute("data-matches") == str(int(np.sum(y == 3)))
    search.clear()
    search.send_keys("#7")
    assert host.get_attribute("data-matches") == "1"
    # Zoom at the cursor, then fit.
    _mouse(chrome, "wheel", x0, y0, ", deltaY: -100")
    assert float(host.get_attribute("data-scale")) > 1.1
    chrome.find_element("css selector", ".nv-embed-tools button").click()
    assert host.get_attribute("data-scale") == "1.000"
    # Colour by prediction: the legend lists predicted classes.
    chrome.execute_script(
        "var s = document.querySelector('.nv-embed-colour'); s.value = 'correct';"
        "s.dispatchEvent(new Event('change'));"
    )
    legend = chrome.find_element("css selector", ".nv-embed-legend").text
    assert "right" in legend or "wrong" in legend
    assert console_errors(chrome) == []
    assert chrome.execute_script("return performance.getEntriesByType('resource').length;") == 0


@pytest.mark.browser
@pytest.mark.slow
def test_the_epoch_slider_moves_the_points_and_a_drag_pans(chrome, trained):  # noqa: F811
    (emb,) = page_data(trained.read_text(encoding="utf-8"))["embeddings"].values()
    # Each snapshot's predictions travel with its points (they change as the model trains).
    assert (
        all(len(f["preds"]) == 80 for f in emb["frames"])
        and emb["preds"] == emb["frames"][-1]["preds"]
    )
    open_file(chrome, trained)
    host = chrome.find_element("css selector", ".nv-embed")
    assert host.get_attribute("data-frame") == "2"  # the trained state first
    chrome.execute_script(
        "var s = document.getElementById('nv-epoch'); s.value = '0';"
        "s.dispatchEvent(new Event('input'));"
    )
    assert host.get_attribute("data-frame") == "0"
    label = host.find_element("css selector", ".nv-frame-label").text
    assert label == "before training"
    before = chrome.execute_script("return document.querySelector('.nv-embed-canvas').toDataURL();")
    chrome.execute_script(
        "var c = document.querySelector('.nv-embed-canvas'), r = c.getBoundingClientRect();"
        "c.dispatchEvent(new MouseEvent('mousedown', {clientX: r.left + 100, clientY: r.top + 100,"
        " bubbles: true}));"
        "c.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + 160, clientY: r.top + 130,"
        " bubbles: true}));"
        "window.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));"
    )
    after = chrome.execute_script("return document.querySelector('.nv-embed-canvas').toDataURL();")
    assert before != after  # the points moved with the drag
    assert console_errors(chrome) == []
    assert chrome.execute_script("return performance.getEntriesByType('resource').length;") == 0


@pytest.mark.browser
@pytest.mark.slow
def test_nnviz_serve_shows_the_embedding_with_its_pictures(chrome, trained):  # noqa: F811
    import threading

    from keras_nnviz.cli.serve import make_server

    server = make_server(trained.parent, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        chrome.get(f"{base}/run/")
        host = chrome.find_element("css selector", ".nv-embed")
        for _ in range(100):  # the sprite is a file the server serves (embed=False)
            if host.get_attribute("data-sprite") == "1":
                break
            time.sleep(0.05)
        assert host.get_attribute("data-sprite") == "1"
        assert host.get_attribute("data-frame") == "2"
        names = chrome.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);"
        )
        assert names and all(n.startswith(base + "/") for n in names), names
        assert any(n.endswith("/sprite.png") for n in names)
        assert console_errors(chrome) == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=20)
