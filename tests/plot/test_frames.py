"""Training-time frames read at a glance: every frame kind is rendered and the labels it must
carry (classes, tokens, axis names, channel counts, legends) are checked among the strings
actually drawn into its pixels; summary figures are checked through their matplotlib artists."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import ImageDraw

import keras_nnviz as nv
from keras_nnviz.callbacks import _draw, _frames
from keras_nnviz.io import decode_png

RNG = np.random.default_rng(0)
TOKENS = ["[CLS]", "the", "cat", "sat", "on", "mat"]


@pytest.fixture
def drawn(monkeypatch):
    """Every string Pillow draws while the test runs (frames are pixels, not artists)."""
    texts: list[str] = []
    original = ImageDraw.ImageDraw.text

    def record(self, xy, text, *args, **kwargs):
        texts.append(str(text))
        return original(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    return texts


def _count(frame: np.ndarray, patch: np.ndarray) -> int:
    """How many times ``patch`` appears in ``frame`` pixel for pixel."""
    ph, pw = patch.shape[:2]
    return sum(
        np.array_equal(frame[y : y + ph, x : x + pw], patch)
        for y in range(frame.shape[0] - ph + 1)
        for x in range(frame.shape[1] - pw + 1)
        if np.array_equal(frame[y, x : x + pw], patch[0])
    )


def _blank_fraction(pixels: np.ndarray) -> float:
    return float((pixels.reshape(-1, 3) == 255).all(axis=1).mean())


def test_gradcam_frame_shows_input_and_overlay_with_classes(drawn):
    images = RNG.uniform(size=(3, 8, 8, 1))
    maps = RNG.uniform(size=(3, 4, 4))
    captions = [f"#{i} · pred {c} · true {t}" for i, (c, t) in enumerate([(1, 1), (2, 7), (0, 0)])]
    frame = _frames.attribution_frame(images, maps, "grad_cam · epoch 2", captions, "grad_cam")
    assert frame.dtype == np.uint8 and _blank_fraction(frame) < 0.8
    for caption in captions:
        assert caption in drawn
    assert any("input | map over the input" in t for t in drawn)
    assert "grad_cam (shared scale)" in drawn  # what the colour strip measures


def test_heat_blend_keeps_cold_pixels_as_the_input_and_the_strip_matches():
    image = RNG.uniform(size=(4, 4, 3))
    heat = np.zeros((4, 4))
    heat[0, 0] = 1.0
    out = _draw.heat_blend(image, heat, hi=1.0)
    shown = _draw.rgb_image(image)
    # Zero heat: the input itself (dimmed evenly, so the colours stand out).
    np.testing.assert_allclose(out[1:, 1:], shown[1:, 1:] * _draw.BASE_DIM, atol=1)
    image[0, 0], image[1, 1], image[2, 2] = 0.5, 0.0, 1.0  # a mid-grey pixel under the heat
    out = _draw.heat_blend(image, heat, hi=1.0)
    # The hottest pixel has the colour of the strip's top end (both blended over mid-grey).
    np.testing.assert_allclose(out[0, 0], _draw.heat_bar()[-1], atol=2)


def test_signed_attribution_frame_uses_one_zero_centred_scale(drawn):
    maps = RNG.normal(size=(2, 8, 8))
    frame = _frames.attribution_frame(
        RNG.uniform(size=(2, 8, 8)), maps, "ig", ["#0 · pred 3", "#1 · pred 5"], "IG"
    )
    m = float(np.abs(maps).max())
    assert f"{-m:.3g}" in drawn and f"{m:.3g}" in drawn and "0" in drawn
    assert "#0 · pred 3" in drawn and "IG (+ for, − against)" in drawn
    assert frame.shape[0] > 100


def test_attention_frame_labels_tokens_and_axes(drawn):
    heads = RNG.dirichlet(np.ones(6), size=(3, 6))
    _draw._label_strip.cache_clear()
    frame = _frames.attention_frame(heads, "enc/mha · epoch 1", tokens=TOKENS)
    # Drawn once (queries and keys are the same tokens) and put on both axes of every head.
    assert sum(t == "cat" for t in drawn) == 1
    strip = _draw._label_strip(tuple(TOKENS), 6 * 13, 10)
    for placed in (strip, np.rot90(strip)):  # left of each matrix; turned, below it
        assert _count(frame, placed) == 3
    assert {"head 0", "head 1", "head 2"} <= set(drawn)
    assert any("rows: query" in t and "columns: key" in t for t in drawn)
    # Cells are big enough for a 10-pixel label per token.
    assert frame.shape[0] > 6 * 12
    drawn.clear()
    _frames.attention_frame(heads, "enc/mha · epoch 1")  # no tokens: no token labels
    assert "cat" not in drawn and any("rows: query" in t for t in drawn)


def test_activation_frame_says_which_channels(drawn):
    _frames.feature_frame(RNG.uniform(size=(6, 6, 40)), "conv2 · epoch 1", max_channels=16)
    assert any("channels 0-15 of 40" in t for t in drawn)
    assert "ch 15" in drawn and "ch 16" not in drawn


def test_reference_lines_have_legends(drawn):
    _frames.histogram_frame(RNG.normal(size=300), "dense/kernel")
    assert "value 0" in drawn  # the red zero line
    drawn.clear()
    _frames.bars_frame({"a": 0.2, "b": 0.8}, "dead units", limit=1.0, warn_at=0.5)
    assert "warn at 0.5" in drawn  # the dotted line
    assert "≥ 0.5" in drawn  # the red bars


def test_sequence_frame_writes_tokens(drawn):
    _frames.sequence_frame(RNG.uniform(size=(2, 6)), "saliency", [TOKENS, TOKENS])
    assert sum(t == "sat" for t in drawn) == 2


def test_headers_are_never_cut_when_they_fit_900_pixels():
    title = "a rather long header line that used to be cut at 260 pixels · epoch 12"
    frame = _draw.annotate(np.zeros((10, 10, 3), np.uint8), title, subtitle="rows: a · b")
    assert frame.shape[1] >= _draw.text_width(title, 11)


def test_model_view_summary_labels_are_readable_and_say_the_scaling():
    att = {"l0": RNG.dirichlet(np.ones(6), size=(1, 2, 6))}
    fig = nv.plot.attention_model_view(att, tokens=TOKENS, title="Attention at the end")
    # One colour rule with the per-epoch frames: a shared scale, said in the title, a colorbar.
    assert "(shared scale)" in " ".join(fig.get_suptitle().split())
    assert any(ax.get_ylabel() == "attention weight" for ax in fig.axes)
    own = nv.plot.attention_model_view(att, tokens=TOKENS, share_scale=False)
    assert "each panel scaled to its own maximum" in " ".join(own.get_suptitle().split())
    labels = [t for ax in fig.axes for t in ax.get_yticklabels() + ax.get_xticklabels()]
    assert {t.get_text() for t in labels} >= set(TOKENS)
    assert min(t.get_fontsize() for t in labels) >= 7
    names = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    assert any("query" in n for n in names) and any("key" in n for n in names)


def test_reference_lines_in_summary_figures_have_legend_entries():
    fig = nv.plot.dead_units({"c": {"dead_fraction": 0.6, "dead": 3, "units": 5}})
    entries = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "warn at 50%" in entries and "≥ 50% dead" in entries
    rows = [{"layer": "c", "mean": 0.2, "std": 0.1, "zeros": 0.5, "saturated": 0.0,
             "activation": "relu"}]  # fmt: skip
    fig = nv.plot.activation_stats(rows)
    entries = {
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    }
    assert {"mean ± std", "zero", "exactly zero", "saturated"} <= entries


def test_long_axes_titles_wrap_instead_of_being_cut():
    fig = nv.plot.sequence_attribution(
        RNG.uniform(size=8), title="Saliency of sample 0 per position (predicted class), long"
    )
    assert "\n" in fig.axes[0].get_title()


@pytest.mark.slow
def test_gradcam_callback_frames_carry_predicted_and_true_class(tmp_path, drawn):
    keras.utils.set_random_seed(0)
    digits = nv.datasets.digits()
    model = nv.datasets.digits_cnn()
    names = [f"digit {k}" for k in range(10)]
    cb = nv.callbacks.GradCAM(
        tmp_path, x=digits.test.x[:3], y=digits.test.y[:3], class_names=names, sinks=["png"]
    )
    model.fit(digits.train.x[:32], digits.train.y[:32], epochs=1, verbose=0, callbacks=[cb])
    assert cb.stats.errors == 0
    predicted = model.predict(digits.test.x[:3], verbose=0).argmax(axis=1)
    for i in range(3):
        caption = f"#{i} · pred digit {predicted[i]} · true digit {digits.test.y[i]}"
        # A caption wider than its tile is broken into lines at " · ", never cut.
        assert caption in " · ".join(drawn), caption
    frame = decode_png((tmp_path / "grad_cam" / "maps" / "epoch_0001.png").read_bytes())
    assert _blank_fraction(frame) < 0.8
