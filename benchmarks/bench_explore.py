"""Click-to-map time of ``nv.explore`` in headless Chromium: the digits CNN and a tiny KerasHub
ViT (tests/hub.py's config, random weights).

For each method: the first map (its pass is traced then) and five clicks on other samples, each
timed from the click to the page's ``data-shown`` mark (the map drawn). Run from the repository
root: ``python benchmarks/bench_explore.py`` (a few minutes on two cores: IG's first trace on the
ViT is long).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402

import keras_nnviz as nv  # noqa: E402
from tests.browser import console_errors, make_driver  # noqa: E402

METHODS = ["saliency", "integrated_gradients"]


def _models():
    from tests import hub

    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    cnn = nv.datasets.digits_cnn()
    cnn.fit(data.train.x, data.train.y, epochs=1, verbose=0)
    yield "digits CNN", cnn, data.test.x[:16], data.test.y[:16]
    x = np.random.default_rng(0).random((16, 32, 32, 3)).astype("float32")
    yield "KerasHub ViT (tiny)", hub.vit_classifier(), x, np.arange(16) % 3


def _bench(driver, ex) -> None:
    from selenium.webdriver.support.ui import Select

    def shown():
        return driver.find_element("tag name", "body").get_attribute("data-shown")

    def timed(action) -> float:
        before, t0 = shown(), time.perf_counter()
        action()
        while shown() in (before, None):
            time.sleep(0.005)
        return (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    driver.get(ex.url)
    while shown() is None:
        time.sleep(0.005)
    print(
        f"  page + first map ({ex.payload()['default_method']}): "
        f"{(time.perf_counter() - t0) * 1000:.0f} ms"
    )
    samples = driver.find_elements("css selector", ".nv-sample")

    def clicks(name):
        times = [timed(samples[k].click) for k in (3, 5, 7, 9, 11)]
        print(
            f"  {name}: click -> map median {np.median(times):.0f} ms "
            f"({', '.join(f'{t:.0f}' for t in times)})"
        )

    clicks(ex.payload()["default_method"])
    for method in METHODS:
        select = driver.find_elements("css selector", ".nv-controls select")[1]
        first = timed(lambda s=select, m=method: Select(s).select_by_value(m))
        print(f"  {method}: first map (trace) {first:.0f} ms")
        clicks(method)
    errors = console_errors(driver)
    assert not errors, errors


def main() -> None:
    driver = make_driver(tempfile.mkdtemp())
    try:
        for name, model, x, y in _models():
            print(name)
            ex = nv.explore(model, x, y)
            try:
                _bench(driver, ex)
            finally:
                ex.close()
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
