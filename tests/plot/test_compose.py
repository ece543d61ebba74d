"""Plots compose into the user's figures (``fig=`` a Figure or SubFigure, ``ax=`` a grid cell)
and display inline in a fresh Jupyter kernel by themselves."""

from __future__ import annotations

import inspect

import nbformat
import numpy as np
import pytest
from matplotlib.figure import Figure, SubFigure

import keras_nnviz as nv
from tests.conftest import png_is_not_blank

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(size=(3, 8, 8, 1))
ATTENTION = {"enc/mha": RNG.dirichlet(np.ones(5), size=(1, 2, 5))}

# Every plot function that draws several axes, with arguments for a small case.
MULTI_PANEL = {
    "attribution_grid": lambda **kw: nv.plot.attribution_grid(
        IMAGES, RNG.uniform(size=(3, 4, 4)), labels=[0, 1, 2], **kw
    ),
    "feature_maps": lambda **kw: nv.plot.feature_maps(RNG.uniform(size=(6, 6, 5)), **kw),
    "filter_grid": lambda **kw: nv.plot.filter_grid(RNG.normal(size=(6, 3, 3, 2)), **kw),
    "image_grid": lambda **kw: nv.plot.image_grid(IMAGES, **kw),
    "histograms": lambda **kw: nv.plot.histograms({"a": RNG.normal(size=50), "b": [1, 2]}, **kw),
    "optimized_images": lambda **kw: nv.plot.optimized_images(IMAGES, **kw),
    "optimized_vs_examples": lambda **kw: nv.plot.optimized_vs_examples(
        IMAGES[0], IMAGES, values=[3.0, 2.0, 1.0], **kw
    ),
    "backprop_views": lambda **kw: nv.plot.backprop_views(
        IMAGES, RNG.normal(size=IMAGES.shape), **kw
    ),
    "attention_model_view": lambda **kw: nv.plot.attention_model_view(
        ATTENTION, tokens=list("abcde"), **kw
    ),
    "rollout_overlay": lambda **kw: nv.plot.rollout_overlay(
        IMAGES[..., 0], RNG.uniform(size=(3, 8, 8)), **kw
    ),
    "activation_stats": lambda **kw: nv.plot.activation_stats(
        [
            {
                "layer": "c1",
                "mean": 0.3,
                "std": 0.1,
                "zeros": 0.4,
                "saturated": 0.0,
                "activation": "relu",
            },
            {
                "layer": "d",
                "mean": 0.1,
                "std": 0.2,
                "zeros": 0.0,
                "saturated": 0.1,
                "activation": None,
            },
        ],
        **kw,
    ),  # fmt: skip
    "signed_attribution_with_image": lambda **kw: nv.plot.signed_attribution(
        RNG.normal(size=(8, 8)), image=IMAGES[0], **kw
    ),
}


# The positional parameters of every figure-returning plot: the data (arrays and their per-item
# labels); everything else is keyword-only.
DATA_PARAMETERS = {
    "audio_text_alignment": ["weights", "tokens"],
    "vlm_attribution": ["image", "patches", "tokens", "token_values"],
    "activation_stats": ["rows"],
    "attention_distance": ["stats"],
    "attention_matrix": ["scores", "tokens", "query_tokens"],
    "attention_model_view": ["attention"],
    "attention_stat_heatmap": ["stats"],
    "attention_text": ["weights", "tokens"],
    "attribution_grid": ["images", "maps", "labels"],
    "backprop_views": ["inputs", "views"],
    "dead_units": ["report"],
    "embedding": ["points", "labels"],
    "feature_maps": ["activation"],
    "filter_grid": ["filters"],
    "gradient_flow": ["rows"],
    "heatmap_overlay": ["image", "heatmap"],
    "histograms": ["values"],
    "image_grid": ["images", "titles"],
    "image_phrase_maps": ["image", "maps", "texts"],
    "image_text_maps": ["images", "maps", "texts"],
    "layer_epoch_heatmap": ["values", "epochs"],
    "neuron_trace": ["values", "x"],
    "optimized_images": ["images", "titles"],
    "optimized_vs_examples": ["optimized", "examples", "values"],
    "ridgeline": ["arrays", "labels"],
    "rnn_states": ["states", "tokens"],
    "rollout_overlay": ["images", "maps", "titles"],
    "sequence_attribution": ["attribution", "sequence", "labels"],
    "signed_attribution": ["attribution", "image"],
    "weight_matrix": ["weight"],
}


def test_every_plot_function_takes_the_frame_options_keyword_only_and_last():
    """No plot is left out, and one convention: every public function returning a figure ends
    with keyword-only ``title=None, ax=None, fig=None`` (the one declaration in
    ``plot._base.FRAME_OPTIONS``), the data alone positional, so ``ax`` is never a
    positional slot that means something else in the next function."""
    from keras_nnviz.plot._base import FRAME_OPTIONS

    checked = []
    for name in nv.plot.__all__:
        fn = getattr(nv.plot, name)
        if not inspect.isfunction(fn) or inspect.signature(fn).return_annotation != "Figure":
            continue
        params = list(inspect.signature(fn).parameters.values())
        last = params[-len(FRAME_OPTIONS) :]
        assert [(p.name, p.default) for p in last] == [("title", None), ("ax", None), ("fig", None)]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in last), name
        assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params), name
        positional = [p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        assert positional == DATA_PARAMETERS[name], name  # the data; every option keyword-only
        checked.append(name)
    assert sorted(checked) == sorted(DATA_PARAMETERS)  # no plot left out, none forgotten here


def test_frame_options_refuse_positional_use_and_unknown_keywords():
    fig = Figure()
    ax = fig.add_subplot(1, 1, 1)
    states = RNG.normal(size=(6, 4))
    with pytest.raises(TypeError):
        nv.plot.rnn_states(states, None, ax)  # ax (or max_units) is no positional slot
    with pytest.raises(TypeError, match="axes"):
        nv.plot.rnn_states(states, axes=ax)
    assert nv.plot.rnn_states(states, ax=ax, title="mine") is fig
    assert ax.get_title() == "mine"
    assert (
        nv.plot.dead_units({"c": {"dead_fraction": 0.2, "dead": 1, "units": 5}}).axes[0].get_title()
        == "dead units"
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MULTI_PANEL))
def test_multi_panel_plots_draw_into_a_user_subfigure(name):
    fig = Figure(figsize=(12, 5), layout="constrained")
    mine, theirs = fig.subfigures(1, 2)
    mine.add_subplot(1, 1, 1).plot([0, 1], [1, 0])  # the user's own panel stays
    out = MULTI_PANEL[name](fig=theirs)
    assert out is fig  # the top-level figure comes back
    axes = theirs.axes + [ax for sub in theirs.subfigs for ax in sub.axes]
    drawn = [ax for ax in axes if ax.images or ax.patches or ax.lines or ax.collections]
    assert drawn, name
    assert len(mine.axes) == 1  # nothing drawn outside the subfigure it was given
    assert png_is_not_blank(nv.plot.to_png(fig, dpi=40))


@pytest.mark.parametrize("name", ["image_grid", "attention_model_view", "histograms"])
def test_multi_panel_plots_take_the_cell_of_a_user_axes(name):
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot([0, 1])
    assert MULTI_PANEL[name](ax=right) is fig
    assert right not in fig.axes and left in fig.axes  # its cell became a subfigure
    [sub] = fig.subfigs
    assert isinstance(sub, SubFigure) and sub.axes
    assert png_is_not_blank(nv.plot.to_png(fig, dpi=40))


def test_single_panel_plots_add_one_axes_to_a_user_subfigure():
    fig = Figure(layout="constrained")
    a, b = fig.subfigures(1, 2)
    assert nv.plot.weight_matrix(RNG.normal(size=(4, 4)), fig=a) is fig
    assert nv.plot.dead_units({"c": {"dead_fraction": 0.6, "dead": 3, "units": 5}}, fig=b) is fig
    assert len(a.axes) == 2 and len(b.axes) == 1  # weight_matrix: the map and its colorbar


def test_ax_and_fig_together_are_refused():
    fig = Figure()
    with pytest.raises(nv.InvalidArgumentError, match="not both"):
        nv.plot.image_grid(IMAGES, fig=fig, ax=fig.add_subplot(1, 1, 1))


@pytest.mark.slow
def test_a_figure_displays_inline_in_a_fresh_kernel_without_matplotlib_magic(tmp_path):
    """nbclient runs a real ipykernel: no %matplotlib inline, no pyplot import."""
    from nbclient import NotebookClient

    code = (
        "import numpy as np, keras_nnviz as nv\n"
        "nv.plot.image_grid(np.random.default_rng(0).uniform(size=(4, 8, 8, 1)))"
    )
    plain = "from matplotlib.figure import Figure\nFigure()"  # the baseline: no display hook
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell(plain)]
    )
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": "."}}
    ).execute()
    ours, baseline = (c.outputs[-1]["data"] for c in nb.cells)
    assert "image/png" in ours
    import base64

    assert png_is_not_blank(base64.b64decode(ours["image/png"]))
    assert "image/png" not in baseline  # a plain Figure shows only its text repr there
