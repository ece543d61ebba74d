"""The post-hoc report of an image-text model: the image-text match section."""

from __future__ import annotations

import pytest

import keras_nnviz as nv
from tests.test_crossmodal import colour_dual_encoder, scenes


@pytest.mark.slow
def test_an_image_text_model_gets_the_match_section(tmp_path):
    model = colour_dual_encoder()
    images, texts, *_ = scenes(4)
    words = [[{1: "red", 2: "green", 3: "blue"}[int(t[0])], "[pad]"] for t in texts]
    out = nv.report.model_report(
        model, [images, texts], tokens=words, sections=["crossmodal"], out=tmp_path / "r.html"
    )
    page = out.read_text(encoding="utf-8")
    assert "Image-text match" in page and "Failed" not in page
    assert page.count("<img") >= 2  # the maps and the token attribution


def test_a_single_input_model_has_no_match_section(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    out = nv.report.model_report(
        model, [[0.0] * 4], sections=["crossmodal"], out=tmp_path / "r.html"
    )
    assert "Image-text match" not in out.read_text(encoding="utf-8")
