"""The interactive attention view in headless Chromium: loads offline, renders, reacts."""

from __future__ import annotations

import pytest

import keras_nnviz as nv
from tests.browser import canvas_data_url, chrome, console_errors, open_file, screenshot_png  # noqa: F401
from tests.conftest import png_is_not_blank

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The view of a real model: keras.io TransformerBlocks (MHA inside custom layers)."""
    from tests.zoo import transformer_block

    case = transformer_block()
    att = nv.get_attention(case.model, case.x)
    rollout = nv.attention_rollout(case.model, case.x)
    tokens = [f"tok{i}" for i in range(case.x.shape[1])]
    view = nv.plot.attention_html(att, tokens=tokens, rollout=rollout, title="browser test")
    folder = tmp_path_factory.mktemp("html")
    # What a notebook does with _repr_html_: put the fragment into its own page.
    notebook = folder / "notebook.html"
    notebook.write_text(
        f"<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
        f"<h3>cell output</h3>{view._repr_html_()}</body></html>",
        encoding="utf-8",
    )
    return view.save(folder / "attention.html")


@pytest.mark.slow
def test_page_loads_offline_without_console_errors(chrome, page):  # noqa: F811
    open_file(chrome, page)
    assert chrome.find_element("tag name", "body").get_attribute("data-rendered") == "1"
    assert console_errors(chrome) == []
    # Nothing was fetched: the page is one file.
    fetched = chrome.execute_script("return performance.getEntriesByType('resource').length;")
    assert fetched == 0
    assert png_is_not_blank(screenshot_png(chrome))
    thumbs = chrome.find_elements("css selector", ".nv-thumb")
    assert len(thumbs) == 2 + 4 + 1  # two layers' heads and the rollout


def test_selecting_another_head_changes_the_picture(chrome, page):  # noqa: F811
    from selenium.webdriver.support.ui import Select

    open_file(chrome, page)
    before = canvas_data_url(chrome, "nv-matrix")
    shot_before = screenshot_png(chrome)
    Select(chrome.find_element("id", "nv-head")).select_by_value("1")
    after = canvas_data_url(chrome, "nv-matrix")
    assert after != before
    assert screenshot_png(chrome) != shot_before
    assert "head 1" in chrome.find_element("id", "nv-info").text
    # Query and layer selection redraw too; clicking a thumbnail opens its layer and head.
    Select(chrome.find_element("id", "nv-query")).select_by_value("3")
    assert canvas_data_url(chrome, "nv-matrix") != after
    chrome.find_elements("css selector", ".nv-thumb")[4].click()  # encoder_2, head 2
    assert chrome.find_element("id", "nv-layer").get_attribute("value") == "1"
    assert chrome.find_element("id", "nv-head").get_attribute("value") == "2"
    shaded = chrome.execute_script(
        "return Array.from(document.querySelectorAll('#nv-text span'))"
        ".map(s => getComputedStyle(s).backgroundColor);"
    )
    assert len(shaded) == 10 and len(set(shaded)) > 3  # tokens shaded by their weights
    assert console_errors(chrome) == []


def test_head_view_draws_a_line_per_weight_and_one_colour_scale(chrome, page):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    open_file(chrome, page)
    Select(chrome.find_element("id", "nv-head")).select_by_value("-1")  # mean of heads
    lines = chrome.find_elements("css selector", "#nv-lines .nv-line")
    assert lines and {ln.get_attribute("data-head") for ln in lines} == {"0", "1"}
    legend = chrome.find_element("id", "nv-lines-legend").text
    assert "head 0" in legend and "head 1" in legend and "line opacity: weight" in legend
    # Hovering a query keeps only its lines.
    query = chrome.find_elements("css selector", "#nv-lines .nv-hq")[2]
    ActionChains(chrome).move_to_element(query).perform()
    hovered = chrome.find_elements("css selector", "#nv-lines .nv-line")
    assert hovered and {ln.get_attribute("data-query") for ln in hovered} == {"2"}
    assert len(hovered) < len(lines)
    # One colour rule: the tokens are shaded on the matrix's scale, each with its legend.
    assert (
        chrome.find_element("id", "nv-text-vmax").text == chrome.find_element("id", "nv-vmax").text
    )
    assert chrome.find_element("id", "nv-thumbs-vmax").text
    assert console_errors(chrome) == []


def test_notebook_display_renders_in_its_iframe(chrome, page):  # noqa: F811
    open_file(chrome, page.parent / "notebook.html")
    frame = chrome.find_element("tag name", "iframe")
    chrome.switch_to.frame(frame)
    try:
        assert chrome.find_element("tag name", "body").get_attribute("data-rendered") == "1"
        assert len(chrome.find_elements("css selector", ".nv-thumb")) == 7
    finally:
        chrome.switch_to.default_content()
    assert console_errors(chrome) == []


HOSTILE = [
    '<img src=x onerror="window.pwned=1">',
    "</script><script>window.pwned=2</script>",
    "<!--<script>",
    "__JS__",
    "__DATA__",
    "\u2028",
    "<svg onload=window.pwned=3>",
]


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory):
    """Tokens and a title carrying script payloads and the old template's placeholders."""
    import numpy as np

    rng = np.random.default_rng(0)
    att = rng.uniform(size=(1, 2, len(HOSTILE), len(HOSTILE))).astype("float32")
    att /= att.sum(axis=-1, keepdims=True)
    title = "__DATA__ <script>window.pwned=4</script> __JS__"
    view = nv.plot.attention_html({"enc/<b>mha</b>": att}, tokens=HOSTILE, title=title)
    folder = tmp_path_factory.mktemp("hostile")
    notebook = folder / "notebook.html"
    notebook.write_text(
        "<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
        f"<script>window.parentFlag='untouched'</script>{view._repr_html_()}</body></html>",
        encoding="utf-8",
    )
    return view.save(folder / "attention.html"), notebook, title


def test_script_payloads_render_as_text_and_never_run(chrome, hostile_page):  # noqa: F811
    page, _, title = hostile_page
    open_file(chrome, page)
    body = chrome.find_element("tag name", "body")
    assert body.get_attribute("data-rendered") == "1"  # the page still works
    assert chrome.execute_script("return window.pwned === undefined;")
    assert chrome.title == title  # the title is text, placeholders and all
    assert chrome.find_element("id", "nv-title").text == title
    shown = chrome.find_element("id", "nv-text").text
    assert "<img src=x" in shown and "__JS__" in shown
    csp = chrome.execute_script(
        "var m=document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]');"
        "return m && m.content;"
    )
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp


def test_notebook_iframe_is_sandboxed_from_the_notebook(chrome, hostile_page):  # noqa: F811
    _, notebook, _ = hostile_page
    open_file(chrome, notebook)
    frame = chrome.find_element("tag name", "iframe")
    assert frame.get_attribute("sandbox") == "allow-scripts"
    chrome.switch_to.frame(frame)
    try:
        assert chrome.find_element("tag name", "body").get_attribute("data-rendered") == "1"
        # An opaque origin: the page's script cannot reach the notebook around it.
        reach = chrome.execute_script(
            "try { return String(window.parent.parentFlag); } catch (e) { return 'blocked'; }"
        )
        assert reach == "blocked"
    finally:
        chrome.switch_to.default_content()
    assert chrome.execute_script("return window.pwned === undefined;")
