"""Views of attention_stats: numpy in, a Figure out; cells and dots say what the data says."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidArgumentError


@pytest.fixture
def stats():
    rng = np.random.default_rng(0)
    out = {}
    for layer, heads in enumerate((4, 4, 2)):  # the last layer has fewer heads
        sink = rng.random((2, heads, 6)).astype("float32")
        sink[:, 0] = 0.9
        out[f"block_{layer}/attention"] = {
            "entropy": rng.random((2, heads, 6)).astype("float32"),
            "sink": sink,
            "distance": np.full((2, heads, 6), 1.0 + layer, "float32"),
        }
    return out


def test_heatmap_has_a_cell_per_layer_and_head(stats):
    fig = nv.plot.attention_stat_heatmap(stats, stat="sink")
    ax = fig.axes[0]
    table = ax.images[0].get_array()
    assert table.shape == (3, 4) and table.mask[2, 2:].all()  # missing heads left blank
    np.testing.assert_allclose(table[:, 0], 0.9)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "block_0/attention"


def test_distance_plot_draws_the_layer_means(stats):
    fig = nv.plot.attention_distance(stats, context=7)
    line = next(ln for ln in fig.axes[0].lines if ln.get_label() == "layer mean")
    np.testing.assert_allclose(line.get_ydata(), [1.0, 2.0, 3.0])


def test_missing_statistic_says_how_to_compute_it(stats):
    with pytest.raises(InvalidArgumentError, match="stats=\\('topk'"):
        nv.plot.attention_stat_heatmap(stats, stat="topk")
