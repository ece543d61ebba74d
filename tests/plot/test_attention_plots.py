"""Every attention view renders headless to a non-blank PNG; the HTML view is self-contained."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

import keras_nnviz as nv
from tests.conftest import png_is_not_blank

RNG = np.random.default_rng(0)
WORDS = ["the", "cat", "sat", "on", "the", "mat", "because", "it", "was", "warm"]


def _softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _attention(heads=3, tq=10, tk=10, n=2):
    return _softmax(RNG.normal(scale=2.0, size=(n, heads, tq, tk))).astype("float32")


ATT = {"encoder_1/mha": _attention(2), "encoder_2/mha": _attention(4)}
IMAGES = RNG.uniform(size=(3, 8, 8, 1)).astype("float32")
MAPS = RNG.uniform(size=(3, 8, 8)).astype("float32")

CASES = {
    "matrix_one_head": lambda: nv.plot.attention_matrix(ATT["encoder_1/mha"][0], WORDS, head=1),
    "matrix_mean": lambda: nv.plot.attention_matrix(ATT["encoder_2/mha"][0], WORDS),
    "matrix_cross": lambda: nv.plot.attention_matrix(
        _attention(1, 4, 10)[0, 0], tokens=WORDS, query_tokens=["le", "chat", "est", "assis"]
    ),
    "matrix_long": lambda: nv.plot.attention_matrix(_attention(1, 60, 60)[0, 0]),
    "model_view": lambda: nv.plot.attention_model_view(ATT, tokens=WORDS),
    "model_view_own": lambda: nv.plot.attention_model_view(ATT, sample=1, share_scale=False),
    "text_query": lambda: nv.plot.attention_text(ATT["encoder_1/mha"][0].mean(0), WORDS, query=1),
    "text_importance": lambda: nv.plot.attention_text(
        RNG.uniform(size=40), [f"w{i}" for i in range(40)]
    ),
    "rollout_overlay": lambda: nv.plot.rollout_overlay(IMAGES, MAPS, titles=["a", "b", "c"]),
    "rollout_overlay_single_rgb": lambda: nv.plot.rollout_overlay(
        RNG.uniform(size=(16, 16, 3)), RNG.uniform(size=(4, 4))
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_attention_view_renders_to_non_blank_png(name, tmp_path):
    fig = CASES[name]()
    assert isinstance(fig, Figure)
    png = nv.plot.to_png(fig)
    assert png_is_not_blank(png)
    assert nv.plot.save(fig, tmp_path / name).stat().st_size > 1000


def test_matrix_has_token_labels_colorbar_and_a_sequential_map():
    fig = nv.plot.attention_matrix(ATT["encoder_1/mha"][0], WORDS, head=0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == WORDS
    assert [t.get_text() for t in ax.get_yticklabels()] == WORDS
    image = ax.images[0]
    assert image.get_cmap().name == "viridis" and image.norm.vmin == 0.0
    np.testing.assert_allclose(image.get_array(), ATT["encoder_1/mha"][0, 0], atol=1e-6)
    assert any(a.get_label() == "<colorbar>" for a in fig.axes)


def test_model_view_grid_is_layers_by_heads():
    fig = nv.plot.attention_model_view(ATT)
    visible = [a for a in fig.axes if a.get_visible() and a.images]
    assert len(visible) == 2 + 4
    assert {a.get_ylabel() for a in visible} >= {"encoder_1/mha", "encoder_2/mha"}


def test_text_view_shades_by_weight():
    weights = np.array([0.0, 0.1, 0.9])
    fig = nv.plot.attention_text(weights, ["a", "b", "c"], query=0)
    texts = {t.get_text(): t for t in fig.axes[0].texts}
    light = texts["a"].get_bbox_patch().get_facecolor()
    dark = texts["c"].get_bbox_patch().get_facecolor()
    assert sum(light[:3]) > sum(dark[:3])  # more attention, darker background
    assert texts["a"].get_fontweight() == "bold"  # the query token is marked


def test_view_argument_errors():
    with pytest.raises(nv.InvalidArgumentError, match="query"):
        nv.plot.attention_text(np.ones((3, 3)) / 3, ["a", "b", "c"])
    with pytest.raises(nv.InvalidInputError, match="labels"):
        nv.plot.attention_matrix(np.ones((3, 3)) / 3, tokens=["a", "b"])
    with pytest.raises(nv.InvalidArgumentError, match="head"):
        nv.plot.attention_matrix(ATT["encoder_1/mha"][0], head=5)
    with pytest.raises(nv.InvalidInputError):
        nv.plot.attention_model_view(ATT["encoder_1/mha"])
    with pytest.raises(nv.InvalidInputError):
        nv.plot.rollout_overlay(IMAGES, MAPS[:2])


# ----------------------------------------------------------------------------------------------
# HTML view (the browser test lives in test_attention_browser.py)


def test_html_is_self_contained_and_saves(tmp_path):
    view = nv.plot.attention_html(ATT, tokens=WORDS, rollout=RNG.dirichlet(np.ones(10), (2, 10)))
    doc = view.html
    assert doc.startswith("<!DOCTYPE html>") and "</html>" in doc
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", doc), "external resource"
    assert "<script src" not in doc and "@import" not in doc
    assert '"name":"rollout"' in doc and '"name":"encoder_2/mha"' in doc
    path = view.save(tmp_path / "attention")
    assert path.suffix == ".html" and path.read_text(encoding="utf-8") == doc
    frame = view._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "&lt;script" in frame and "<script" not in frame


def test_html_input_errors():
    with pytest.raises(nv.InvalidInputError, match="heads"):
        nv.plot.attention_html({"a": np.ones(5)})
    with pytest.raises(nv.InvalidArgumentError, match="sample"):
        nv.plot.attention_html(ATT, sample=7)
    with pytest.raises(nv.InvalidInputError, match="max_values"):
        nv.plot.attention_html(ATT, max_values=100)


def test_single_panel_views_draw_into_given_axes():
    fig = Figure(figsize=(10, 4))
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    assert nv.plot.attention_matrix(ATT["encoder_1/mha"][0], WORDS, ax=left) is fig
    assert nv.plot.attention_text(RNG.uniform(size=10), WORDS, query=2, ax=right) is fig
    assert png_is_not_blank(nv.plot.to_png(fig))
