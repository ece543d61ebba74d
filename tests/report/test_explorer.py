"""The explorer (``nv.explore`` / ``nnviz explore``): maps on demand, over a loopback server."""

from __future__ import annotations

import http.client
import json
import time

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.report.explorer import Explorer
from tests.bad_input import assert_named_error
from tests.browser import chrome, console_errors  # noqa: F401


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    model = nv.datasets.digits_cnn()
    return model, data.test.x[:12], data.test.y[:12], data.class_names


@pytest.fixture(scope="module")
def served(cnn):
    model, x, y, names = cnn
    ex = Explorer(model, x, y, class_names=names)
    ex.serve(0)
    yield ex
    ex.close()


def _get(ex, path, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", ex.server.server_port, timeout=60)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{ex.server.server_port}"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def test_a_map_is_the_one_asked_for_and_cached(cnn, served):
    model, x, _, _ = cnn
    first = served.explain(2, "grad_cam")
    assert first["kind"] == "image" and first["png"].startswith("data:image/png;base64,")
    assert first["method"] == "grad_cam" and first["layer"] == nv.last_spatial_layer(model)
    assert first["target"] == int(np.argmax(model.predict(x[2:3], verbose=0)))
    assert served.explain(2, "grad_cam")["cached"] is True
    other = 1 if first["target"] != 1 else 2
    again = served.explain(2, "grad_cam", target=other)
    assert again["target"] == other and again["png"] != first["png"]
    sal = served.explain(2, "saliency", layer=None)
    assert sal["layer"] is None and sal["png"] != first["png"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"sample": 12}, "sample=12 is out of range"),
        ({"sample": 0, "method": "gradcam"}, "method must be one of"),
        ({"sample": 0, "method": "grad_cam", "layer": "nope"}, "layer must be one of"),
    ],
    ids=["sample-out-of-range", "unknown-method", "unknown-layer"],
)
def test_bad_choices_are_named(served, kwargs, named):
    assert_named_error(lambda: served.explain(**kwargs), nv.InvalidArgumentError, named)


def test_the_server_answers_its_own_address_with_safe_headers(served):
    resp, body = _get(served, "/")
    assert resp.status == 200
    policy = resp.getheader("Content-Security-Policy")
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    resp, body = _get(served, "/api/explain?sample=1&method=saliency")
    assert resp.status == 200 and json.loads(body)["method"] == "saliency"
    resp, body = _get(served, "/api/explain?sample=x")
    assert resp.status == 400 and "sample must be an integer" in json.loads(body)["error"]
    resp, _ = _get(served, "/", host="evil.example:80")
    assert resp.status == 421  # DNS rebinding: another site's name pointing here


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_shows_two_methods_side_by_side(chrome, served):  # noqa: F811
    from selenium.webdriver.support.ui import Select

    chrome.get(served.url)
    deadline = time.time() + 60
    while time.time() < deadline and not chrome.find_elements("css selector", ".nv-result img"):
        time.sleep(0.2)
    assert chrome.find_elements("css selector", ".nv-result img")
    chrome.find_elements("css selector", ".nv-sample")[5].click()
    Select(chrome.find_elements("css selector", ".nv-controls select")[1]).select_by_value(
        "saliency"
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        methods = [
            p.get_attribute("data-method")
            for p in chrome.find_elements("css selector", ".nv-result")
        ]
        if methods == [served.payload()["default_method"], "saliency"]:
            break
        time.sleep(0.2)
    assert methods == [served.payload()["default_method"], "saliency"]
    title = chrome.find_elements("css selector", ".nv-panel-title")[1].text
    assert title.startswith("saliency") and "the input" in title
    assert console_errors(chrome) == []
    fetched = chrome.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert all(u.startswith(served.url) for u in fetched), fetched  # only its own server
