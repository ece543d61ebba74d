"""The report in headless Chromium: the architecture graph opens a layer's pictures and
histories, the epoch slider moves them, live pages reload (or poll their server) by themselves;
no console error, nothing fetched from outside."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.report import LiveStatus, Note, Page, Part, Section, write_page
from tests.browser import chrome, console_errors, open_file, screenshot_png  # noqa: F401
from tests.conftest import png_is_not_blank

pytestmark = pytest.mark.browser
INNER = "base/block2_conv"
MODELS = {}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A nested model (Sequential base inside a Functional model), 2 epochs, diagnostics on."""
    from tests.zoo import nested

    case = nested()  # a fresh model: training changes weights
    log_dir = tmp_path_factory.mktemp("browser_report")
    x = np.asarray(case.x)
    y = np.arange(len(x)) % 4
    keras.utils.set_random_seed(0)
    case.model.compile("adam", "sparse_categorical_crossentropy")
    case.model.fit(
        x,
        y,
        epochs=2,
        batch_size=5,
        verbose=0,
        callbacks=[
            nv.callbacks.ActivationMaps(log_dir, x=x[:1], layers=[INNER]),
            nv.callbacks.GradientFlow(log_dir, x=x, y=y),
            nv.callbacks.DeadUnits(log_dir, x=x),
            nv.callbacks.Report(log_dir),
        ],
    )
    MODELS[log_dir] = case.model  # the trained model, for the weight statistics
    return log_dir


def _click(driver, selector: str) -> None:
    element = driver.find_element("css selector", selector)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    driver.execute_script(
        "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}));", element
    )


@pytest.mark.slow
def test_graph_opens_a_layer_with_its_pictures_and_history(chrome, run):  # noqa: F811
    open_file(chrome, run / "report.html")
    assert chrome.find_element("tag name", "body").get_attribute("data-rendered") == "1"

    def ids():
        nodes = chrome.find_elements("css selector", ".nv-arch .nv-node")
        return [e.get_attribute("data-id") for e in nodes]

    top = ids()
    assert {"image", "base", "gap", "dense", "predictions"} <= set(top) and INNER not in top
    _click(chrome, '.nv-arch .nv-node[data-id="base"]')  # the nested model opens
    assert INNER in ids() and "base/block1_conv" in ids()
    _click(chrome, f'.nv-arch .nv-node[data-id="{INNER}"]')
    panel = chrome.find_element("css selector", ".nv-arch-panel")
    assert panel.get_attribute("data-layer") == INNER
    titles = [e.text for e in panel.find_elements("css selector", ".nv-figure-title")]
    assert f"Activation maps · {INNER}" in titles
    # The layer's weight statistics, computed when the final page was built.
    rows = [r.text.split() for r in panel.find_elements("css selector", ".nv-weight-stats tr")]
    assert rows[0] == ["weight", "shape", "mean", "std", "min", "max", "norm"]
    kernel = nv.get_weights(MODELS[run], [INNER])[f"{INNER}/kernel"]
    (row,) = [r for r in rows if r[0] == "kernel"]
    assert float(row[-1]) == pytest.approx(np.linalg.norm(kernel), rel=0.01)
    assert float(row[-3]) == pytest.approx(kernel.min(), rel=0.01)
    charts = [e.get_attribute("aria-label") for e in panel.find_elements("css selector", "svg")]
    assert "gradient norm ‖∇W‖" in charts and "dead-unit fraction" in charts
    assert "kernel histogram over training" in charts  # recorded by the Report callback

    def highlighted():
        return chrome.execute_script(
            "return Array.from(document.querySelectorAll('.nv-arch-panel .nv-hist-on'))"
            ".map(l => l.getAttribute('data-epoch'));"
        )

    assert highlighted() == ["2"]
    img = panel.find_element("css selector", "img")
    final = img.get_attribute("src")
    # The page's epoch slider moves the layer's pictures too.
    chrome.execute_script(
        "var s = document.getElementById('nv-epoch'); s.value = '1';"
        "s.dispatchEvent(new Event('input'));"
    )
    assert img.get_attribute("src") != final
    assert panel.find_element("css selector", ".nv-frame-label").text == "epoch 1"
    assert highlighted() == ["1"]
    assert console_errors(chrome) == []
    fetched = chrome.execute_script("return performance.getEntriesByType('resource').length;")
    assert fetched == 0
    assert png_is_not_blank(screenshot_png(chrome))


def test_layer_table_is_folded_after_the_pictures(chrome, run):  # noqa: F811
    open_file(chrome, run / "report.html")
    folded = chrome.find_element("css selector", "details.nv-fold")
    assert folded.get_attribute("open") is None
    assert not chrome.find_element("css selector", "details.nv-fold table").is_displayed()
    _click(chrome, "details.nv-fold > summary")
    assert chrome.find_element("css selector", "details.nv-fold table").is_displayed()


@pytest.mark.slow
def test_a_live_page_reloads_itself_until_it_goes_stale(chrome, tmp_path):  # noqa: F811
    section = Section("s", [Note("hello")])
    page = tmp_path / "live.html"
    write_page(Page("live", [Part("m", sections=[section])], live=LiveStatus(1, 3, 0.5)), page)
    open_file(chrome, page)
    chrome.execute_script("window.nvMark = 1;")
    deadline = time.monotonic() + 10
    while chrome.execute_script("return window.nvMark === 1;") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert chrome.execute_script("return window.nvMark === undefined;"), "no reload"
    assert "epoch 1 of 3" in chrome.find_element("id", "nv-live").text
    # No news for longer than stale_seconds: it stops and says training stopped.
    status = LiveStatus(1, 3, 0.5, stale_seconds=0.001)
    write_page(Page("live", [Part("m", sections=[section])], live=status), page)
    open_file(chrome, page)
    chrome.execute_script("window.nvMark = 2;")
    time.sleep(1.5)
    assert chrome.execute_script("return window.nvMark;") == 2  # not reloaded
    assert "stopped or was interrupted" in chrome.find_element("id", "nv-live").text
    assert console_errors(chrome) == []


@pytest.mark.slow
def test_small_frames_show_at_their_size_and_double_on_a_click(chrome, run):  # noqa: F811
    # At their own size the frames' titles stay crisp (doubled, they turned blocky); a click
    # doubles a small one with crisp pixels for a closer look, a second click shrinks it back.
    open_file(chrome, run / "report.html")
    img = chrome.find_element("css selector", "figure[data-frames] img.nv-zoomable")

    def width():
        return chrome.execute_script("return +arguments[0].getAttribute('width');", img)

    natural = chrome.execute_script("return arguments[0].naturalWidth;", img)
    assert width() == natural
    _click(chrome, "figure[data-frames] img.nv-zoomable")
    assert width() == 2 * natural and "nv-zoomed" in img.get_attribute("class")
    _click(chrome, "figure[data-frames] img.nv-zoomable")
    assert width() == natural
    assert console_errors(chrome) == []


@pytest.mark.slow
def test_a_served_page_polls_its_server_only(chrome, run):  # noqa: F811
    from keras_nnviz.cli.serve import make_server

    server = make_server(run, port=0)  # the run is the served folder itself
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        chrome.get(f"{base}/run/")
        chrome.get_log("browser")
        time.sleep(2.6)  # a poll of /api/state
        assert chrome.find_element("tag name", "body").get_attribute("data-rendered") == "1"
        names = chrome.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name);"
        )
        assert any("/api/state?run=" in n for n in names)
        assert names and all(n.startswith(base + "/") for n in names)
        assert console_errors(chrome) == []
        chrome.get(base + "/")
        assert chrome.find_element("tag name", "body").get_attribute("data-runs") == "1"
        assert "(the folder itself)" in chrome.find_element("id", "nv-runs").text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=20)


def test_hostile_names_in_the_graph_stay_text(chrome, tmp_path):  # noqa: F811
    from tests.report.test_report import INJECT_IMG, hostile_model

    x = np.zeros((2, 8, 8, 1), "float32")
    page = nv.report.model_report(
        hostile_model(), x, out=tmp_path / "report.html", sections=["architecture"]
    )
    open_file(chrome, page)
    nodes = chrome.find_elements("css selector", ".nv-arch .nv-node")
    assert INJECT_IMG in [n.get_attribute("data-id") for n in nodes]
    _click(chrome, ".nv-arch .nv-node:nth-of-type(3)")
    _click(chrome, f".nv-arch .nv-node[data-id='{INJECT_IMG}']")
    assert chrome.find_element("css selector", ".nv-arch-panel h4").text == INJECT_IMG
    assert chrome.execute_script("return window.nvInjected === undefined;")
    assert console_errors(chrome) == []


@pytest.mark.slow
def test_repeated_blocks_open_and_close_in_the_report(chrome, tmp_path):  # noqa: F811
    inputs = keras.Input((4,), name="x")
    h = inputs
    for k in (1, 2, 3):
        h = keras.layers.Dense(4, name=f"block_{k}_a")(h)
        h = keras.layers.Dense(4, name=f"block_{k}_b")(h)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(h))
    out = nv.report.model_report(
        model, np.zeros((2, 4), "float32"), out=tmp_path / "r.html", sections=["architecture"]
    )
    open_file(chrome, out)

    def shown():
        return {
            e.get_attribute("data-id") for e in chrome.find_elements("css selector", ".nv-node")
        }

    assert {"block_1\u2026", "block_2\u2026", "block_3\u2026", "head"} <= shown()
    assert "block_2_a" not in shown()
    _click(chrome, '.nv-closed[data-group="block_2\u2026"]')
    assert {"block_2_a", "block_2_b"} <= shown() and "block_1_a" not in shown()
    panel = chrome.find_element("css selector", ".nv-arch-panel")
    assert panel.get_attribute("data-layer") == "block_2\u2026"  # the block's own panel
    _click(chrome, '.nv-node[data-id="block_2_a"]')
    rows = [r.text.split()[0] for r in panel.find_elements("css selector", ".nv-weight-stats tr")]
    assert rows == ["weight", "kernel", "bias"]
    (button,) = [
        b
        for b in chrome.find_elements("css selector", ".nv-graph-tools button")
        if b.text == "expand all"
    ]
    button.click()
    assert {"block_1_a", "block_3_b"} <= shown()
    assert console_errors(chrome) == []
