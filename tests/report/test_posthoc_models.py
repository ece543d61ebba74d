"""The post-hoc report (``nv.report.model_report``) on models outside the toy zoo.

A section whose default has nothing to show says so in a note and draws what it can; a failure
that remains is a short note in the page, never a failed page. Each test builds the report with
only the sections it is about (fast) and reads the page the user would read.
"""

from __future__ import annotations

import html
import re

import keras
import numpy as np
import pytest
from keras import layers as L

import keras_nnviz as nv
from keras_nnviz.report import _sections
from keras_nnviz.report.posthoc import explain_view
from tests import zoo


class Pair(L.Layer):
    """A block returning a tuple, as DeiT / DINOv3 / T5 blocks do: (hidden, extra)."""

    def call(self, x):
        return (x * 2.0, x[:, 0] + 1.0)


def _init(seed: int):
    return keras.initializers.GlorotUniform(seed=seed)


@pytest.fixture(scope="module")
def m():
    """Tiny models (built once) and their inputs."""
    rng = np.random.default_rng(0)

    tok = keras.Input((7,), dtype="int32", name="ids")
    e = L.Embedding(20, 8, name="embed")(tok)
    g = L.GRU(5, return_sequences=False, name="gru", kernel_initializer=_init(1))(e)
    gru = keras.Model(tok, L.Dense(2, activation="softmax", name="out")(g), name="gru_text")

    seq = keras.Input((10, 4), name="seq")
    t = L.Dense(8, name="embed")(seq)
    a, _ = Pair(name="pair")(t)
    t = L.Dense(8, name="after")(a)
    t = L.GlobalAveragePooling1D(name="pool")(t)
    tuples = keras.Model(seq, L.Dense(3, activation="softmax", name="out")(t), name="tuples")

    # Patch-only attention: 16 tokens, all patches of the 8x8 image, no CLS token in front.
    img = keras.Input((8, 8, 3), name="image")
    p = L.Reshape((16, 12), name="patches")(img)
    p = L.Dense(8, name="patch_embed", kernel_initializer=_init(2))(p)
    p = L.MultiHeadAttention(2, 4, name="mha")(p, p)
    p = L.GlobalAveragePooling1D(name="pool")(p)
    vit = keras.Model(img, L.Dense(3, activation="softmax", name="out")(p), name="patch_vit")

    inp = keras.Input((8,), name="x")
    h = L.Dense(6, activation="relu", name="hidden")(inp)
    outputs = {"cls": L.Dense(3, name="cls")(h), "reg": L.Dense(1, name="reg")(h)}
    dict_out = keras.Model(inp, outputs, name="dict_out")

    cin = keras.Input((12, 12, 3), name="image")
    c = L.Conv2D(4, 3, activation="relu", name="conv", kernel_initializer=_init(3))(cin)
    c = L.GlobalAveragePooling2D(name="gap")(c)
    heads = {"cls": L.Dense(3, name="cls")(c), "reg": L.Dense(1, name="reg")(c)}
    dict_cnn = keras.Model(cin, heads, name="dict_cnn")

    return {
        "dict_cnn": dict_cnn,
        "small_images": rng.normal(size=(6, 12, 12, 3)).astype("float32"),
        "gru": gru,
        "ids": rng.integers(0, 20, size=(6, 7)).astype("int32"),
        "tuples": tuples,
        "seq": rng.normal(size=(6, 10, 4)).astype("float32"),
        "vit": vit,
        "images": rng.normal(size=(6, 8, 8, 3)).astype("float32"),
        "dict_out": dict_out,
        "flat": rng.normal(size=(6, 8)).astype("float32"),
        "multi_output": zoo.multi_output(),
        "multi_input": zoo.multi_input(),
        "subclassed": zoo.subclassed_pair()[0],
    }


def _report(tmp_path, model, x, sections) -> tuple[str, list[str]]:
    """The page (unescaped) and the progress lines of a report of ``sections``."""
    lines: list[str] = []
    out = nv.report.model_report(
        model, x, out=tmp_path / "report.html", sections=sections, progress=lines.append
    )
    return html.unescape(out.read_text(encoding="utf-8")), lines


def _images(page: str, alt: str) -> int:
    """Inline pictures with this alt text (one per figure drawn)."""
    pattern = rf'<img [^>]*src="data:image/png;base64,[^"]+" alt="{re.escape(alt)}"'
    return len(re.findall(pattern, page))


def _assert_done(lines: list[str]) -> None:
    assert lines and all(" done " in line for line in lines), lines


@pytest.mark.slow
@pytest.mark.parametrize("case", ["multi_output", "dict_cnn"])
def test_attribution_of_a_multi_output_model_explains_output_0_and_says_so(m, tmp_path, case):
    model = m[case].model if case == "multi_output" else m[case]
    x = m[case].x if case == "multi_output" else m["small_images"]
    page, lines = _report(tmp_path, model, x, ["attribution"])
    _assert_done(lines)
    first = model.output_names[0]
    note = f"The model has 2 outputs; these maps explain output 0 ('{first}')"
    assert page.count(note) == 1
    assert "Failed" not in page
    assert _images(page, "Grad-CAM") == 1
    # Drawn: the maps of output 0, as nv.grad_cam gives them.
    want = nv.grad_cam(model, x[:4], output=0)
    np.testing.assert_allclose(explain_view(model, x[:4], output=0).maps, want)


def test_activations_of_a_gru_without_sequences_show_its_states(m, tmp_path):
    page, lines = _report(tmp_path, m["gru"], m["ids"], ["activations"])
    _assert_done(lines)
    assert _images(page, "gru") == 1
    assert "hidden states (7 steps × 5 units)" in page  # every step, not only the last state
    assert "not drawn" not in page and "Failed" not in page


def test_activations_of_a_layer_returning_a_tuple_show_its_first_tensor(m, tmp_path):
    assert "pair" in nv.core.model.default_activation_layers(m["tuples"])
    page, lines = _report(tmp_path, m["tuples"], m["seq"], ["activations"])
    _assert_done(lines)
    assert _images(page, "pair") == 1
    assert "the first of the 2 tensors the layer returns" in page
    assert "not drawn" not in page and "Failed" not in page


def test_activations_of_dense_layers_are_drawn(m, tmp_path):
    # An MLP's default layers are (N, units) vectors: one strip each.
    page, lines = _report(tmp_path, m["dict_out"], m["flat"], ["activations"])
    _assert_done(lines)
    for path in ("hidden", "cls", "reg"):
        assert _images(page, path) == 1


def test_patch_only_attention_falls_back_to_the_mean_query(m, tmp_path):
    page, lines = _report(tmp_path, m["vit"], m["images"], ["attention"])
    _assert_done(lines)
    assert page.count("No CLS token in front of the patches (the 16 tokens are all patches)") == 1
    assert _images(page, "attention rollout") == 1
    assert "Failed" not in page


@pytest.mark.parametrize("case", ["subclassed", "multi_input"])
def test_grad_cam_is_included_for_subclassed_and_image_tabular_models(m, tmp_path, case):
    model, x = m[case].model, m[case].x
    page, lines = _report(tmp_path, model, x, ["attribution"])
    _assert_done(lines)
    assert _images(page, "Grad-CAM") == 1
    layer = nv.last_spatial_layer(model, rank=2)
    assert f"<dt>layer</dt><dd>{layer}</dd>" in page
    # The same maps nv.grad_cam gives (the image input of a multi-input model).
    view = explain_view(model, x[:3] if case == "subclassed" else [a[:3] for a in x])
    want = nv.grad_cam(model, x[:3] if case == "subclassed" else [a[:3] for a in x], layer=layer)
    want = want[0] if isinstance(want, list) else want
    assert view.kind == "image" and view.input == 0
    np.testing.assert_allclose(view.maps, want, rtol=1e-5, atol=1e-6)


def test_a_failing_section_is_a_short_note(m, tmp_path, monkeypatch):
    def broken(ctx):
        raise RuntimeError("first line of the cause\n" + "staging stack line\n" * 200)

    monkeypatch.setitem(_sections.BUILDERS, "weights", broken)
    page, lines = _report(tmp_path, m["dict_out"], m["flat"], ["architecture", "weights"])
    assert lines[1].startswith("weights") and "FAILED" in lines[1]
    assert "Failed: RuntimeError: first line of the cause" in page
    assert "staging stack line" not in page
    assert "architecture" in lines[0] and " done " in lines[0]


@pytest.mark.slow
def test_activations_of_keras_hub_t5_blocks_returning_tuples(tmp_path):
    from tests import hub

    model = hub.backbones()["t5"]
    page, lines = _report(tmp_path, model, hub.inputs(model), ["activations"])
    _assert_done(lines)
    blocks = [p for p in nv.core.model.default_activation_layers(model) if "layer_" in p]
    assert blocks  # T5's transformer layers return (hidden, position bias)
    for path in blocks:
        assert _images(page, path) == 1
    assert "the first of the 2 tensors the layer returns" in page
    assert "not drawn" not in page and "Failed" not in page


def test_the_graph_of_a_post_hoc_report_shows_the_pictures_it_drew(m, tmp_path):
    # A click on a layer finds the report's own pictures of it (tagged by layer path), and the
    # hints speak of this report, not of callbacks and an epoch slider it does not have.
    import json

    page, lines = _report(tmp_path, m["dict_out"], m["flat"], ["architecture", "activations"])
    _assert_done(lines)
    data = json.loads(
        re.search(r'<script type="application/json" id="nv-data">(.*?)</script>', page, re.S).group(
            1
        )
    )
    (graph,) = data["graphs"].values()
    assert graph["empty"] == "This report drew no picture of this layer."
    assert {t["tag"] for t in data["tags"].values()} >= {"hidden", "cls", "reg"}
    assert "epoch slider" not in page and "No callback recorded" not in page
