"""The architecture graph: data from the model, the page in headless Chromium, `nnviz graph`."""

from __future__ import annotations

import time

import keras
import pytest

import keras_nnviz as nv
from keras_nnviz import cli
from tests.browser import chrome, console_errors, open_file  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A nested MobileNetV2 (transfer-learning shape) and a KerasHub BERT classifier, saved."""
    from tests import hub

    root = tmp_path_factory.mktemp("graphs")
    base = keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3), include_top=False)
    inp = keras.Input((64, 64, 3), name="image")
    h = keras.layers.GlobalAveragePooling2D(name="gap")(base(inp))
    model = keras.Model(inp, keras.layers.Dense(3, name="head")(h), name="transfer")
    paths = {"mobilenet": root / "transfer.keras", "bert": root / "bert.keras"}
    model.save(paths["mobilenet"])
    hub.bert_classifier().save(paths["bert"])
    return paths


def test_architecture_data_of_a_branching_multi_io_model(zoo):
    arch = nv.architecture(zoo("multi_input").model)
    inputs = [n["id"] for n in arch["nodes"] if n["is_input"]]
    assert len(inputs) == 2
    merges = [n["id"] for n in arch["nodes"] if sum(e[1] == n["id"] for e in arch["edges"]) == 2]
    assert merges, "the two branches must meet in a node with two incoming edges"
    assert all(n["group"] is None for n in arch["nodes"])
    shared_in = {a for a, _ in arch["edges"]} | {b for _, b in arch["edges"]}
    assert shared_in <= {n["id"] for n in arch["nodes"]}


def test_nested_model_is_a_group_with_its_layers(zoo):
    model = zoo("nested").model
    arch = nv.architecture(model)
    groups = [n for n in arch["nodes"] if n["is_group"]]
    assert [g["id"] for g in groups] == ["base"]
    inner = {n["id"] for n in arch["nodes"] if n["group"] == "base" and not n["is_input"]}
    assert "base/block1_conv" in inner
    assert inner <= set(nv.list_layers(model))  # the ids are the library's layer paths


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet", "bert"])
def test_nnviz_graph_page_shows_every_top_level_layer_offline(chrome, saved, name, tmp_path):  # noqa: F811
    out = tmp_path / f"{name}.html"
    assert cli.main(["graph", str(saved[name]), "--out", str(out)]) == 0
    model = keras.saving.load_model(saved[name])
    open_file(chrome, out)
    assert chrome.find_element("tag name", "body").get_attribute("data-rendered") == "1"
    assert console_errors(chrome) == []
    fetched = chrome.execute_script("return performance.getEntriesByType('resource').length;")
    assert fetched == 0
    shown = chrome.find_element("id", "nv-graph").text
    top = [layer.name for layer in model.layers]
    assert all(t in shown for t in top), [t for t in top if t not in shown]
    # Open the nested model: its inner layers appear.
    group = chrome.find_element("css selector", ".nv-closed")
    inner = [layer.name for layer in model.layers if isinstance(layer, keras.Model)][0]
    assert group.get_attribute("data-group") == inner
    before = len(chrome.find_elements("css selector", ".nv-node"))
    group.click()
    time.sleep(0.2)
    nested = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert len(chrome.find_elements("css selector", ".nv-node")) > before
    assert nested.layers[-1].name in chrome.find_element("id", "nv-graph").text
    # A layer's details.
    chrome.find_elements("css selector", ".nv-node")[-1].click()
    assert "parameters" in chrome.find_element("id", "nv-info").text
    assert console_errors(chrome) == []


@pytest.mark.slow
def test_nnviz_graph_writes_svg_and_refuses_other_suffixes(saved, tmp_path, capsys):
    out = tmp_path / "g.svg"
    assert cli.main(["graph", str(saved["mobilenet"]), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("<svg") and "block_16_project" in text  # nested layers drawn open
    assert cli.main(["graph", str(saved["mobilenet"]), "--out", str(tmp_path / "g.png")]) == 2
    assert ".svg" in capsys.readouterr().err


def _button(driver, text):
    (found,) = [
        b for b in driver.find_elements("css selector", ".nv-graph-tools button") if b.text == text
    ]
    return found


def test_repeated_blocks_collapse_and_open_one_at_a_time_and_export_png(
    chrome,  # noqa: F811
    saved,
    tmp_path,
):
    out = tmp_path / "mobilenet.html"
    assert cli.main(["graph", str(saved["mobilenet"]), "--out", str(out)]) == 0
    open_file(chrome, out)
    chrome.find_element("css selector", ".nv-closed").click()  # the nested MobileNetV2
    time.sleep(0.2)
    closed = [
        e.get_attribute("data-group") for e in chrome.find_elements("css selector", ".nv-closed")
    ]
    names = [c.rsplit("/", 1)[-1] for c in closed]
    assert names == [f"block_{k}\u2026" for k in range(1, 17)]  # 16 repeated blocks, closed

    def shown():
        return {
            e.get_attribute("data-id").rsplit("/", 1)[-1]
            for e in chrome.find_elements("css selector", ".nv-node")
        }

    assert "block_3_expand" not in shown() and "expanded_conv_project" in shown()
    chrome.find_element("css selector", f'.nv-closed[data-group="{closed[2]}"]').click()
    time.sleep(0.2)
    assert {"block_3_expand", "block_3_project_BN"} <= shown()
    chrome.find_element("css selector", f'.nv-closed[data-group="{closed[4]}"]').click()
    time.sleep(0.2)
    # Only the block opened last is open (the pair was not drawn in advance).
    assert "block_5_add" in shown() and "block_3_expand" not in shown()
    _button(chrome, "collapse all").click()
    time.sleep(0.2)
    assert "expanded_conv_project" not in shown()  # the nested model closed too
    _button(chrome, "PNG").click()
    time.sleep(1.0)
    assert int(chrome.find_element("id", "nv-graph").get_attribute("data-png-bytes")) > 1000
    assert console_errors(chrome) == []
    assert chrome.execute_script("return performance.getEntriesByType('resource').length;") == 0


def test_block_groups_keep_the_drawing_acyclic():
    from keras_nnviz.plot.architecture import repeated_blocks

    def node(name, kind="Dense"):
        return {
            "id": name,
            "name": name,
            "type": kind,
            "shape": "(N, 2)",
            "params": 1,
            "group": None,
            "is_group": False,
            "is_input": False,
            "is_output": False,
        }

    names = ["block_1_a", "block_1_b", "block_2_a", "block_2_b", "mid_x", "block_3_a", "block_3_b"]
    chain = [*names, "transformer_layer_0", "transformer_layer_1", "dense_1", "pool", "dense_2"]
    kinds = {
        "transformer_layer_0": "TransformerEncoder",
        "transformer_layer_1": "TransformerEncoder",
    }
    data = {
        "nodes": [node(n, kinds.get(n, "Dense")) for n in chain],
        "edges": [[a, b] for a, b in zip(chain, chain[1:], strict=False)],
    }
    data["edges"].append(["block_2_a", "mid_x"])  # block_2 reaches mid_x ...
    out = repeated_blocks(data)
    blocks = {n["name"]: n for n in out["nodes"] if n.get("block")}
    assert set(blocks) == {"block_1", "block_2", "block_3", "transformer_layer_* \u00d72"}
    assert blocks["block_2"]["params"] == 2
    members = {n["id"]: n["group"] for n in out["nodes"]}
    assert members["block_3_b"] == blocks["block_3"]["id"] and members["mid_x"] is None
    # dense_1 and dense_2 are plain layers with a pool between them: never one group.
    assert members["dense_1"] is None and members["dense_2"] is None
    # A block whose members have an outside layer between them is left alone.
    data["edges"].append(["mid_x", "block_3_b"])
    cyclic = {"nodes": data["nodes"], "edges": data["edges"] + [["block_3_a", "mid_x"]]}
    assert "block_3" not in {n["name"] for n in repeated_blocks(cyclic)["nodes"] if n.get("block")}


def test_hostile_layer_names_stay_text():
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, keras.layers.Dense(2, name="<script>alert(1)<\\script>")(inp))
    view = nv.plot.architecture(model)
    assert "<script>alert" not in view.svg and "&lt;script&gt;" in view.svg
    assert view.html.count("<script") == 2  # the JSON data block and the page's own script


def test_graph_search_opens_the_nested_model_zooms_and_shows_skip_edges(chrome, saved, tmp_path):  # noqa: F811
    # The MobileNetV2 inside is closed at first; a search for one of its layers opens it,
    # highlights both matches in turn and shows the layer's details; its 10 residual edges are
    # routed in lanes (visible), and the zoom buttons scale the drawing.
    out = tmp_path / "mobilenet.html"
    assert cli.main(["graph", str(saved["mobilenet"]), "--out", str(out)]) == 0
    open_file(chrome, out)
    assert chrome.find_elements("css selector", ".nv-match") == []
    box = chrome.find_element("css selector", ".nv-graph-search")
    box.send_keys("block_16_project")
    time.sleep(0.3)
    count = chrome.find_element("css selector", ".nv-graph-count")
    assert count.text == "1 of 2"  # block_16_project and block_16_project_BN
    matches = chrome.find_elements("css selector", ".nv-match")
    assert sorted(m.get_attribute("data-id").rsplit("/", 1)[-1] for m in matches) == [
        "block_16_project",
        "block_16_project_BN",
    ]
    current = chrome.find_element("css selector", ".nv-current").get_attribute("data-id")
    assert current.endswith("/block_16_project")
    assert current in chrome.find_element("id", "nv-info").text
    box.send_keys("\n")
    time.sleep(0.2)
    assert count.text == "2 of 2"
    assert (
        chrome.find_element("css selector", ".nv-current")
        .get_attribute("data-id")
        .endswith("/block_16_project_BN")
    )
    # The search opened block_16 alone (the last block: no residual edge); with every block open,
    # all 10 residual edges are routed in lanes.
    assert chrome.find_elements("css selector", ".nv-skip") == []
    _button(chrome, "expand all").click()
    time.sleep(0.2)
    assert len(chrome.find_elements("css selector", ".nv-skip")) == 10
    svg = chrome.find_element("css selector", "#nv-graph svg")
    width = float(svg.get_attribute("width"))
    _button(chrome, "+").click()
    svg = chrome.find_element("css selector", "#nv-graph svg")
    assert float(svg.get_attribute("width")) == pytest.approx(width * 1.25, abs=1)
    box.clear()
    box.send_keys("no such layer")
    time.sleep(0.2)
    assert count.text == "no layer matches"
    assert chrome.find_elements("css selector", ".nv-match") == []
    assert console_errors(chrome) == []
