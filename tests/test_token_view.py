"""Token scores in pictures and in an offline HTML page (signed: red for, blue against)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidInputError


def test_token_html_is_offline_escaped_and_signed():
    scores = np.array([[0.5, -1.0, 2.0], [0.0, 0.1, 0.2]])
    words = [["the", "<img src=x onerror=alert(1)>", "good"], ["a", "b", "c"]]
    view = nv.plot.token_html(scores, words, labels=["positive", "negative"], title="IG")
    page = view.html
    assert "Content-Security-Policy" in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert 'sandbox="allow-scripts"' in view._repr_html_()
    colours = re.findall(r"background:(#[0-9a-f]{6})", page)
    assert len(colours) == 6
    red = [int(c[1:3], 16) - int(c[5:7], 16) for c in colours]  # red minus blue channel
    assert red[2] > 0 > red[1]  # +2.0 red, -1.0 blue
    assert abs(red[3]) < 10  # 0 is white on the shared scale
    with pytest.raises(InvalidInputError, match="T tokens per sample"):
        nv.plot.token_html(scores, ["only", "two"])


def test_token_html_scales_each_row_unless_asked_to_share():
    # Row 2's scores are 10x smaller: on its own scale its strongest token is as dark as row 1's.
    scores = np.array([[1.0, 2.0, 0.0], [0.1, 0.2, 0.0]])
    own = re.findall(r"background:(#[0-9a-f]{6})", nv.plot.token_html(scores, ["a", "b", "c"]).html)
    assert own[1] == own[4] and own[0] == own[3]
    shared = nv.plot.token_html(scores, ["a", "b", "c"], scale="shared").html
    colours = re.findall(r"background:(#[0-9a-f]{6})", shared)
    assert colours[1] != colours[4] and "scaled all rows to 2" in shared
    with pytest.raises(InvalidInputError, match="'row' or 'shared'"):
        nv.plot.token_html(scores, ["a", "b", "c"], scale="global")


def test_attention_text_shades_signed_scores_on_a_centred_scale():
    fig = nv.plot.attention_text(np.array([1.0, -0.5, 0.0]), ["good", "bad", "."])
    boxes = [t.get_bbox_patch().get_facecolor() for t in fig.axes[0].texts]
    assert boxes[0][0] > boxes[0][2] and boxes[1][2] > boxes[1][0]
    assert fig.axes[1].get_xlim() == (-1.0, 1.0)
