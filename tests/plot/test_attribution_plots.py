"""Attribution plots: image | map | overlay grids, signed maps, sequences."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import keras_nnviz as nv
from tests.conftest import png_is_not_blank

RNG = np.random.default_rng(0)


def _colorbars(fig):
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _cmaps(fig):
    return {im.get_cmap().name for ax in fig.axes for im in ax.get_images()}


@pytest.mark.slow
def test_attribution_grid_rows_titles_and_colorbar():
    images = RNG.uniform(size=(3, 16, 16, 3))
    maps = RNG.uniform(size=(3, 8, 8))  # a lower-resolution map is drawn at image size
    fig = nv.plot.attribution_grid(
        images, maps, labels=[2, 0, 1], class_names=["cat", "dog", "owl"], method="Grad-CAM"
    )
    assert isinstance(fig, Figure)
    assert png_is_not_blank(nv.plot.to_png(fig))
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 9
    assert [ax.get_title() for ax in panels[:3]] == ["input", "Grad-CAM", "overlay"]
    assert [panels[i].get_ylabel() for i in (0, 3, 6)] == ["owl", "cat", "dog"]
    assert len(_colorbars(fig)) == 1
    assert panels[1].get_images()[0].get_extent() == [-0.5, 15.5, 15.5, -0.5]
    gray = nv.plot.attribution_grid(RNG.uniform(size=(2, 8, 8)), RNG.uniform(size=(2, 8, 8)))
    assert png_is_not_blank(nv.plot.to_png(gray))
    with pytest.raises(nv.InvalidInputError, match="one map per image"):
        nv.plot.attribution_grid(images, maps[:2])


def test_signed_attribution_is_diverging_and_symmetric():
    attr = RNG.normal(size=(12, 12, 3))
    fig = nv.plot.signed_attribution(attr, image=RNG.uniform(size=(12, 12)), title="IG")
    assert png_is_not_blank(nv.plot.to_png(fig))
    assert "RdBu_r" in _cmaps(fig)
    (signed,) = [im for ax in fig.axes for im in ax.get_images() if im.get_cmap().name == "RdBu_r"]
    lo, hi = signed.get_clim()
    assert lo == pytest.approx(-hi) and hi == pytest.approx(np.abs(attr.sum(-1)).max())
    assert len(_colorbars(fig)) == 1
    single = nv.plot.signed_attribution(RNG.normal(size=(6, 6)))
    assert len([ax for ax in single.axes if ax.get_label() != "<colorbar>"]) == 1


def test_sequence_attribution_with_signal_tokens_and_bars():
    attr = RNG.normal(size=20)
    fig = nv.plot.sequence_attribution(attr, sequence=RNG.normal(size=(20, 3)), title="IG")
    assert png_is_not_blank(nv.plot.to_png(fig))
    assert "RdBu_r" in _cmaps(fig)  # signed: diverging
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3 and ax.get_title() == "IG"
    bars = nv.plot.sequence_attribution(np.abs(attr), labels=[f"t{i}" for i in range(20)])
    assert png_is_not_blank(nv.plot.to_png(bars))
    assert [t.get_text() for t in bars.axes[0].get_xticklabels()][:2] == ["t0", "t1"]
    assert len(_colorbars(bars)) == 1


def test_attribution_plots_do_not_import_tensorflow_or_pyplot():
    module = sys.modules["keras_nnviz.plot.attribution"]
    source = Path(module.__file__).read_text()
    assert "tensorflow" not in source and "pyplot" not in source
