"""``nnviz serve`` as a dashboard: the runs table (metrics, hyperparameters) and /compare."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.cli.serve import make_server
from tests.bad_input import assert_named_error
from tests.browser import chrome, console_errors  # noqa: F401


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Two runs of a tiny MLP with different learning rates, and a KerasTuner-style trial."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    for name, lr in (("fast", 1e-2), ("slow", 1e-4)):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, "relu", name="hidden"),
             keras.layers.Dense(2, "softmax", name="out")]
        )  # fmt: skip
        model.compile(
            keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        cbs = [
            nv.callbacks.ActivationMaps(root / name, x=x[:1], layers=["hidden"]),
            nv.callbacks.Report(root / name, hparams={"lr": lr, "units": 8}, live=False),
        ]
        model.fit(x, y, epochs=3, verbose=0, callbacks=cbs)
    trial = root / "tuner" / "trial_07"
    (trial / "logs").mkdir(parents=True)
    (trial / "trial.json").write_text(
        json.dumps({"hyperparameters": {"values": {"lr": 0.05, "units": 4}}, "score": 0.42})
    )
    for f in (root / "slow").iterdir():
        if f.is_file():
            (trial / "logs" / f.name).write_bytes(f.read_bytes())
    return root


@pytest.fixture(scope="module")
def server(root):
    srv = make_server(root, 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _get(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
    conn.request("GET", path, headers={"Host": f"127.0.0.1:{server.server_port}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


@pytest.mark.slow
def test_the_runs_table_holds_final_metrics_and_hyperparameters(server):
    resp, body = _get(server, "/api/runs")
    runs = {r["run"]: r for r in json.loads(body)}
    assert set(runs) == {"fast", "slow", "tuner/trial_07/logs"}
    assert runs["fast"]["hparams"] == {"lr": 1e-2, "units": 8}
    assert runs["tuner/trial_07/logs"]["hparams"] == {"lr": 0.05, "units": 4, "trial score": 0.42}
    for r in runs.values():
        assert set(r["metrics"]) == {"loss", "accuracy"}
    # The final loss of the faster learner is lower: the metrics are each run's own.
    assert runs["fast"]["metrics"]["loss"] < runs["slow"]["metrics"]["loss"]


@pytest.mark.slow
def test_compare_overlays_the_curves_and_serves_each_runs_pictures(server):
    resp, body = _get(server, "/compare?runs=fast,slow,nope")
    assert resp.status == 200
    page = body.decode()
    data = json.loads(
        re.search(r'<script type="application/json" id="nv-data">(.*?)</script>', page, re.S).group(
            1
        )
    )
    assert [r["run"] for r in data["runs"]] == ["fast", "slow"]
    assert "not found: nope" in page
    fast = data["runs"][0]
    assert [e for e, _ in fast["curves"]["loss"]] == [1, 2, 3]
    frames = fast["frames"]["activation_maps: hidden"]
    assert [e for e, _ in frames] == [0, 1, 2, 3]  # before training, then each epoch
    resp, png = _get(server, frames[-1][1])  # linked under /run/fast/, served as listed
    assert resp.status == 200 and resp.getheader("Content-Type") == "image/png"
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("hparams", "phrase"),
    [
        (["lr"], "hparams must be a dict"),
        ({"lr": float("nan")}, "finite numbers"),
        ({"layers": [1, 2]}, "finite numbers"),
        ({3: 1.0}, "names must be strings"),
    ],
    ids=["a-list", "nan", "a-list-value", "int-key"],
)
def test_bad_hparams_are_named(tmp_path, hparams, phrase):
    assert_named_error(
        lambda: nv.callbacks.Report(tmp_path, hparams=hparams), nv.InvalidArgumentError, phrase
    )


@pytest.mark.browser
@pytest.mark.slow
def test_sort_tick_and_compare_in_the_browser(chrome, server):  # noqa: F811
    chrome.get(f"http://127.0.0.1:{server.server_port}/")
    head = chrome.find_element("css selector", "th[data-key='m:loss']")
    head.click()  # ascending loss: the fast learner first
    order = [
        r.get_attribute("data-run") for r in chrome.find_elements("css selector", "#nv-runs tr")
    ]
    assert order[0] == "fast"
    chrome.find_element("css selector", "th[data-key='m:loss']").click()  # descending
    order = [
        r.get_attribute("data-run") for r in chrome.find_elements("css selector", "#nv-runs tr")
    ]
    assert order[-1] == "fast"
    link = chrome.find_element("id", "nv-compare-link")
    assert "nv-off" in link.get_attribute("class")
    for row in chrome.find_elements("css selector", "#nv-runs tr"):
        if row.get_attribute("data-run") in ("fast", "slow"):
            row.find_element("css selector", "input[type=checkbox]").click()
    assert "compare 2 runs" in link.text
    chrome.get(link.get_attribute("href"))
    deadline = time.time() + 20
    while (
        time.time() < deadline
        and chrome.find_element("tag name", "body").get_attribute("data-rendered") != "1"
    ):
        time.sleep(0.1)
    paths = chrome.find_elements("css selector", "#nv-chart .nv-series")
    assert sorted(p.get_attribute("data-run") for p in paths) == ["fast", "slow"]
    assert len(chrome.find_elements("css selector", ".nv-run-frame img")) == 2
    assert console_errors(chrome) == []
