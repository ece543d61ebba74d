"""Every plot renders headless to a non-blank PNG, with titles and colorbars where promised."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

import keras_nnviz as nv
from tests.conftest import png_is_not_blank

RNG = np.random.default_rng(0)


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


CASES = {
    "weight_matrix": lambda: nv.plot.weight_matrix(RNG.normal(size=(3, 3, 4, 8))),
    "weight_matrix_vector": lambda: nv.plot.weight_matrix(RNG.normal(size=16)),
    "histograms": lambda: nv.plot.histograms(
        {"a/kernel": RNG.normal(size=200), "b/kernel": RNG.uniform(size=50)}
    ),
    "histograms_over_epochs": lambda: nv.plot.histograms(
        {"a/kernel": [RNG.normal(scale=s, size=300) for s in (1, 1.5, 2)]},
        row_labels=["epoch 1", "epoch 2", "epoch 3"],
    ),
    "ridgeline": lambda: nv.plot.ridgeline([RNG.normal(loc=m, size=500) for m in range(4)]),
    "filter_grid_gray": lambda: nv.plot.filter_grid(RNG.normal(size=(12, 3, 3, 4))),
    "filter_grid_rgb": lambda: nv.plot.filter_grid(RNG.normal(size=(6, 5, 5, 3))),
    "filter_grid_1d": lambda: nv.plot.filter_grid(RNG.normal(size=(6, 5, 2))),
    "feature_maps": lambda: nv.plot.feature_maps(np.maximum(RNG.normal(size=(2, 8, 8, 40)), 0)),
    "feature_maps_signed_1d": lambda: nv.plot.feature_maps(RNG.normal(size=(20, 6))),
    "feature_maps_dense": lambda: nv.plot.feature_maps(RNG.normal(size=32)),
    "neuron_trace": lambda: nv.plot.neuron_trace(
        {"u0": RNG.normal(size=30), "u1": RNG.normal(size=30)}
    ),
    "rnn_states": lambda: nv.plot.rnn_states(
        np.tanh(RNG.normal(size=(12, 16))), tokens=[f"t{i}" for i in range(12)]
    ),
    "embedding": lambda: nv.plot.embedding(
        RNG.normal(size=(90, 2)),
        labels=np.repeat([0, 1, 2], 30),
        class_names=["zero", "one", "two"],
    ),
    "embedding_3d": lambda: nv.plot.embedding(RNG.normal(size=(40, 3)), labels=RNG.normal(size=40)),
    "image_grid": lambda: nv.plot.image_grid(RNG.uniform(size=(5, 8, 8, 1)), titles=list("abcde")),
    "image_grid_rgb": lambda: nv.plot.image_grid([RNG.uniform(size=(8, 8, 3))] * 3),
    "heatmap_overlay": lambda: nv.plot.heatmap_overlay(
        RNG.uniform(size=(16, 16, 3)), RNG.uniform(size=(4, 4)), title="map"
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_plot_renders_to_non_blank_png(name, tmp_path):
    fig = CASES[name]()
    assert isinstance(fig, Figure)
    png = nv.plot.to_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_is_not_blank(png)
    path = nv.plot.save(fig, tmp_path / name)
    assert path.suffix == ".png" and path.stat().st_size > 1000


@pytest.mark.parametrize(
    "name", ["weight_matrix", "feature_maps", "rnn_states", "filter_grid_gray", "heatmap_overlay"]
)
def test_heatmaps_have_colorbars(name):
    assert _colorbars(CASES[name]())


def test_signed_weights_use_a_zero_centred_diverging_map():
    fig = nv.plot.weight_matrix(np.array([[-1.0, 3.0], [0.5, 0.0]]))
    image = fig.axes[0].images[0]
    assert image.get_cmap().name == "RdBu_r"
    assert image.norm.vmin == -3.0 and image.norm.vmax == 3.0


def test_magnitudes_use_a_sequential_map():
    fig = nv.plot.feature_maps(np.abs(RNG.normal(size=(4, 4, 3))))
    assert fig.axes[0].images[0].get_cmap().name == "viridis"


def test_plots_draw_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot(1, 2, 1)
    assert nv.plot.weight_matrix(RNG.normal(size=(4, 4)), ax=ax) is fig
    assert nv.plot.neuron_trace(RNG.normal(size=5), ax=fig.add_subplot(1, 2, 2)) is fig


def test_titles():
    fig = nv.plot.histograms({"x": RNG.normal(size=10)}, title="weights at epoch 3")
    assert fig.get_suptitle() == "weights at epoch 3"
    assert nv.plot.rnn_states(RNG.normal(size=(3, 2))).axes[0].get_title().startswith("hidden")


def test_mosaic_and_overlay_rgb():
    tiles = [np.full((2, 3), i, dtype=float) for i in range(5)]
    m = nv.plot.mosaic(tiles, ncols=3, pad=1)
    assert m.shape == (5, 11)
    assert m[0, 4] == 1 and m[3, 0] == 3 and m[0, 3] == 0
    rgb = nv.plot.overlay_rgb(RNG.uniform(size=(8, 8)), RNG.uniform(size=(2, 2)))
    assert rgb.shape == (8, 8, 3) and rgb.min() >= 0 and rgb.max() <= 1


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(nv.InvalidInputError, match="rank 2"):
        nv.plot.rnn_states(np.zeros(4))
    with pytest.raises(nv.InvalidInputError, match=r"\(N, 2\)"):
        nv.plot.embedding(np.zeros((4, 5)))


def test_plot_modules_do_not_import_tensorflow():
    import importlib
    import pathlib

    root = pathlib.Path(importlib.import_module("keras_nnviz.plot").__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "import tensorflow" not in text and "import keras" not in text, path
        assert (
            "import matplotlib.pyplot" not in text and "from matplotlib import pyplot" not in text
        ), path
    assert "keras_nnviz.plot" in sys.modules


def test_long_figure_titles_wrap_instead_of_being_clipped():
    from matplotlib.figure import Figure

    from keras_nnviz.plot import _base

    narrow = _base.finish(Figure(figsize=(3, 2)), None, "a title far too long for three inches")
    assert "\n" in narrow.get_suptitle()
    wide = _base.finish(Figure(figsize=(8, 2)), None, "a title far too long for three inches")
    assert wide.get_suptitle() == "a title far too long for three inches"
