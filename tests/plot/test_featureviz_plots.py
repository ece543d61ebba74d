"""Feature-visualization plots render headless, keep images unstretched, and GIFs animate."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

import keras_nnviz as nv
from tests.conftest import png_is_not_blank

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("channels", [1, 3])
def test_optimized_images_grid_titled_by_unit(channels, tmp_path):
    images = RNG.uniform(size=(6, 8, 8, channels))
    titles = [f"conv2 ch {k}" for k in range(6)]
    fig = nv.plot.optimized_images(images, titles, ncols=3)
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    assert [ax.get_title() for ax in shown] == titles
    # Shown as they are in [0, 1]: no per-image contrast stretch hides weak images.
    if channels == 1:
        assert shown[0].images[0].norm.vmin == 0 and shown[0].images[0].norm.vmax == 1
    png = nv.plot.to_png(fig)
    assert png_is_not_blank(png)
    assert nv.plot.save(fig, tmp_path / "grid").stat().st_size > 1000


def test_optimized_images_default_titles_and_errors():
    fig = nv.plot.optimized_images(RNG.uniform(size=(2, 5, 5)))  # (K, H, W) gray stack
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["#0", "#1"]
    with pytest.raises(nv.InvalidArgumentError, match="titles"):
        nv.plot.optimized_images(RNG.uniform(size=(3, 4, 4, 3)), ["a", "b"])
    with pytest.raises(nv.InvalidInputError):
        nv.plot.optimized_images(RNG.uniform(size=(2, 2, 4, 4, 3)))


def test_optimized_vs_examples_side_by_side():
    optimized = RNG.uniform(size=(1, 8, 8, 1))
    examples = RNG.uniform(size=(6, 8, 8, 1))
    values = np.linspace(0.9, 0.4, 6)
    fig = nv.plot.optimized_vs_examples(
        optimized, examples, values, optimized_value=1.7, title="conv2 ch 5"
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0] == "optimized image\nactivation 1.7"
    assert titles[1:] == [f"{v:.3g}" for v in values]
    assert fig.get_suptitle() == "conv2 ch 5"
    assert png_is_not_blank(nv.plot.to_png(fig))
    # Examples outside [0, 1] (e.g. 0-255 data) are scaled for display.
    fig = nv.plot.optimized_vs_examples(optimized[0], examples * 255)
    assert png_is_not_blank(nv.plot.to_png(fig))


@pytest.mark.parametrize("shape", [(5, 8, 8, 1), (5, 4, 8, 8, 3)])
def test_save_gif_writes_an_animation(shape, tmp_path):
    frames = np.clip(np.cumsum(RNG.uniform(0, 0.2, size=shape), axis=0), 0, 1)
    path = nv.plot.save_gif(frames, tmp_path / "optimisation", duration=50)
    assert path.suffix == ".gif" and path.exists()
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        assert min(gif.size) >= 192  # tiny 8×8 images are enlarged to be visible
        gif.seek(4)
        last = np.asarray(gif.convert("RGB"))
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
    assert np.abs(last.astype(int) - first.astype(int)).mean() > 5


def test_save_gif_rejects_bad_frames(tmp_path):
    with pytest.raises(nv.InvalidInputError, match="frames"):
        nv.plot.save_gif(np.zeros((4, 4)), tmp_path / "x.gif")


@pytest.mark.parametrize("channels", [1, 3])
def test_backprop_views_signed_maps(channels):
    x = RNG.uniform(size=(3, 8, 8, channels))
    views = {"guided": RNG.normal(size=(3, 8, 8, channels)), "deconv": RNG.normal(size=x.shape)}
    fig = nv.plot.backprop_views(x, views, title="conv2 ch 1")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["input", "guided", "deconv"]
    if channels == 1:  # signed single-channel maps: diverging, zero-centred
        image = fig.axes[1].images[0]
        assert image.get_cmap().name == "RdBu_r" and image.norm.vmin == -image.norm.vmax
    assert png_is_not_blank(nv.plot.to_png(fig))
    with pytest.raises(nv.InvalidInputError, match="one map per input"):
        nv.plot.backprop_views(x, RNG.normal(size=(3, 4, 4, channels)))
