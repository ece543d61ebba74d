"""Image-text plots: maps over images with their texts, phrases side by side, the hover page."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from tests.bad_input import assert_named_error
from tests.browser import canvas_data_url, chrome, console_errors, open_file, screenshot_png  # noqa: F401


def _scene():
    """A black image with a red square top-left and a blue one bottom-right, and the maps of
    three phrases: 'red' on the red square, 'blue' on the blue one, 'green' nowhere."""
    image = np.zeros((16, 16, 3), "float32")
    image[1:6, 1:6, 0] = 1.0
    image[10:15, 10:15, 2] = 1.0
    maps = np.zeros((3, 16, 16), "float32")
    maps[0, 1:6, 1:6] = 1.0
    maps[2, 10:15, 10:15] = 1.0
    return image, maps, ["red", "green", "blue"]


def test_image_text_maps_titles_each_image_with_its_text():
    image, maps, texts = _scene()
    fig = nv.plot.image_text_maps(np.stack([image] * 3), maps, texts)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["“red”", "“green”", "“blue”"]
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.get_visible()]
    # The red map brightens the red square only; the empty map leaves the image as it is.
    assert not np.allclose(shown[0][2, 2], image[2, 2]) and np.allclose(
        shown[0][12, 12], image[12, 12]
    )
    np.testing.assert_allclose(shown[1], image)


def test_image_phrase_maps_puts_the_image_first_and_the_scores_under_the_phrases():
    image, maps, texts = _scene()
    fig = nv.plot.image_phrase_maps(image, maps, texts, scores=[2.0, 0.0, 1.5])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "image" and titles[1] == "“red”\nscore 2" and len(titles) == 4


@pytest.mark.parametrize(
    ("call", "phrase"),
    [
        (lambda i, m, t: nv.plot.image_text_maps(np.stack([i] * 2), m, t), "one map per text"),
        (lambda i, m, t: nv.plot.image_phrase_maps(i, m, t[:2]), "one text per map"),
        (lambda i, m, t: nv.plot.image_text_html(i, m * np.nan, t), "NaN"),
        (lambda i, m, t: nv.plot.image_text_html(i, m, t, scores=[1.0]), "3 finite numbers"),
    ],
    ids=["maps-vs-images", "texts-vs-maps", "nan-maps", "scores"],
)
def test_bad_input_is_named(call, phrase):
    image, maps, texts = _scene()
    assert_named_error(lambda: call(image, maps, texts), nv.InvalidInputError, phrase)


def test_the_hover_page_escapes_the_phrases_and_loads_nothing():
    image, maps, _ = _scene()
    html = nv.plot.image_text_html(image, maps, ["<img src=x onerror=alert(1)>", "b", "c"]).html
    assert "<img src=x" not in html and "Content-Security-Policy" in html
    assert "http://" not in html and "https://" not in html


@pytest.mark.browser
@pytest.mark.slow
def test_hovering_a_phrase_draws_its_map_over_the_image(chrome, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains

    image, maps, texts = _scene()
    page = nv.plot.image_text_html(image, maps, texts, scores=[2.0, 0.0, 1.5]).save(
        tmp_path / "match.html"
    )
    open_file(chrome, page)
    body = chrome.find_element("tag name", "body")
    bare = canvas_data_url(chrome, "nv-image")
    assert body.get_attribute("data-shown") == ""
    phrases = chrome.find_elements("css selector", "#nv-phrases li")
    assert [p.find_element("class name", "nv-text").text for p in phrases] == texts
    ActionChains(chrome).move_to_element(phrases[0]).perform()
    assert body.get_attribute("data-shown") == "red"
    red = canvas_data_url(chrome, "nv-image")
    # Pixel (2, 2) of the 16x16 image (the red square) is drawn at 20x: sample the canvas.
    pixel = (
        "var c=document.getElementById('nv-image').getContext('2d');"
        "return Array.from(c.getImageData(arguments[0], arguments[1], 1, 1).data);"
    )
    on_red, on_blue = chrome.execute_script(pixel, 50, 50), chrome.execute_script(pixel, 250, 250)
    assert red != bare and on_red[1] > 100  # the red square brightened (inferno's yellow)
    assert on_blue[:3] == [0, 0, 255]  # the blue square untouched by the 'red' map
    ActionChains(chrome).move_to_element(phrases[2]).perform()
    assert body.get_attribute("data-shown") == "blue"
    assert chrome.execute_script(pixel, 50, 50)[:3] == [255, 0, 0]
    assert chrome.execute_script(pixel, 250, 250)[1] > 100
    ActionChains(chrome).move_to_element(chrome.find_element("id", "nv-title")).perform()
    assert body.get_attribute("data-shown") == "" and canvas_data_url(chrome, "nv-image") == bare
    fetched = chrome.execute_script("return performance.getEntriesByType('resource').length;")
    assert fetched == 0 and console_errors(chrome) == []
    (tmp_path / "shot.png").write_bytes(screenshot_png(chrome))
