"""Every label draws: names with mathtext, line separators and control characters.

Class, layer and token names come from data the user may not have written. Each public plot, each
frame builder and the architecture SVG is given such names (one table row per place a name
enters) and must draw them as written: matplotlib never parses ``$…$`` as mathtext, Pillow's
layout never fails (a callback would lose the frame), and the SVG stays valid XML.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import keras
import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

import keras_nnviz as nv
from keras_nnviz import html
from keras_nnviz._text import REPLACEMENT, drawable, plot_text, xml_safe
from keras_nnviz.callbacks import _draw, _frames

# Mathtext (valid, invalid, a lone dollar, TeX commands), each line and paragraph separator
# Pillow's layout refuses, and characters neither a font nor XML 1.0 can carry.
HOSTILE = [
    "$x^2$",
    "a$b",
    "\\alpha_{1}",
    "$x_{$",
    "cat\rdog",
    "a\u2029b",
    "a\x85b\u2028c",
    "a\x00b\x01c",
    "a\ufffeb\uffffc",
    "a\ud800b",
    "tab\there\x0bvt",
]
# One character per class that must not reach a renderer as it is.
BREAKS = ["\r", "\n", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]
UNDRAWABLE = ["\x00", "\x01", "\x1b", "\x7f", "\x9f", "\ud800", "\udfff", "\ufdd0", "\ufffe"]
UNDRAWABLE += ["\uffff", "\U0001fffe", "\U0010ffff"]


def _seen(label: str) -> str:
    """What a reader should see for ``label``: the drawable text, whitespace runs as one."""
    return " ".join(drawable(label).split())


# -- the one normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize("char", BREAKS, ids=ascii)
def test_a_line_break_becomes_a_space(char):
    assert drawable(f"a{char}b") == "a b"


@pytest.mark.parametrize("char", UNDRAWABLE, ids=ascii)
def test_an_undrawable_character_becomes_visible(char):
    # Replaced, not dropped: "a\x00b" must not read as the different name "ab".
    assert drawable(f"a{char}b") == f"a{REPLACEMENT}b"
    assert xml_safe(f"a{char}b") == f"a{REPLACEMENT}b"


def test_ordinary_text_is_unchanged():
    text = "conv2d_1/kernel · 猫 é ∑ 😀 \\alpha $5"
    assert drawable(text) == text
    assert xml_safe(text) == text


def test_newlines_kept_where_the_renderer_lays_out_lines():
    assert drawable("a\r\nb\rc\nd", keep_newlines=True) == "a\nb\nc\nd"
    assert xml_safe("a\tb\nc\rd") == "a\tb\nc\rd"  # XML carries these as they are


@pytest.mark.parametrize("label", HOSTILE, ids=ascii)
def test_pillow_measures_and_draws_every_normalised_label(label):
    from PIL import ImageDraw

    image = Image.new("RGB", (200, 20), "white")
    ImageDraw.Draw(image).text((0, 0), drawable(label), fill="black", font=_draw.text_font(11))
    assert _draw.text_font(11).getlength(drawable(label)) > 0


@pytest.mark.parametrize("label", HOSTILE, ids=ascii)
def test_escaped_text_is_valid_xml(label):
    escaped = html.esc(label)
    root = ET.fromstring(
        f'<svg xmlns="http://www.w3.org/2000/svg"><text a="{escaped}">{escaped}</text></svg>'
    )
    text = next(iter(root))
    # XML parsers normalise line ends (and whitespace in attributes): compare word by word.
    shown = xml_safe(label).split()
    assert text.text.split() == shown and text.get("a").split() == shown


# -- matplotlib: every plot that draws a name -----------------------------------------------------

RNG = np.random.default_rng(0)
IMAGES = RNG.random((2, 8, 8, 3)).astype(np.float32)
MAPS = RNG.random((2, 8, 8)).astype(np.float32)


def _tokens(label):
    return [label, "b", "c", "d"]


PLOTS = {
    "image_grid-titles": lambda s: nv.plot.image_grid(IMAGES, titles=[s, "b"]),
    "optimized_images-titles": lambda s: nv.plot.optimized_images(IMAGES, titles=[s, "b"]),
    "rollout_overlay-titles": lambda s: nv.plot.rollout_overlay(IMAGES, MAPS, titles=[s, "b"]),
    "attribution_grid-class_names": lambda s: nv.plot.attribution_grid(
        IMAGES, MAPS, labels=[0, 1], class_names=[s, "b"]
    ),
    "attribution_grid-titles": lambda s: nv.plot.attribution_grid(IMAGES, MAPS, titles=[s, "b"]),
    "sequence_attribution-labels": lambda s: nv.plot.sequence_attribution(
        RNG.random(4), labels=_tokens(s)
    ),
    "neuron_trace-names": lambda s: nv.plot.neuron_trace({s: RNG.random(5)}, xlabel=s, ylabel=s),
    "rnn_states-tokens": lambda s: nv.plot.rnn_states(RNG.random((4, 3)), tokens=_tokens(s)),
    "attention_matrix-tokens": lambda s: nv.plot.attention_matrix(
        RNG.random((4, 4)), tokens=_tokens(s)
    ),
    "attention_model_view-names": lambda s: nv.plot.attention_model_view(
        {s: RNG.random((1, 2, 4, 4))}, tokens=_tokens(s)
    ),
    "attention_text-tokens": lambda s: nv.plot.attention_text(RNG.random(4), _tokens(s), query=0),
    "embedding-class_names": lambda s: nv.plot.embedding(
        RNG.random((6, 2)), labels=[0, 1, 0, 1, 0, 1], class_names=[s, "b"]
    ),
    "histograms-names": lambda s: nv.plot.histograms({s: RNG.random(20), "b": RNG.random(20)}),
    "ridgeline-labels": lambda s: nv.plot.ridgeline(
        [RNG.random(20), RNG.random(20)], labels=[s, "b"]
    ),
    "layer_epoch_heatmap-names": lambda s: nv.plot.layer_epoch_heatmap(
        {s: [1.0, 2.0], "b": [2.0, 3.0]}, label=s
    ),
    "backprop_views-names": lambda s: nv.plot.backprop_views(IMAGES, {s: IMAGES - 0.5}),
    "signed_attribution-title": lambda s: nv.plot.signed_attribution(MAPS[0] - 0.5, title=s),
    "heatmap_overlay-title": lambda s: nv.plot.heatmap_overlay(IMAGES[0], MAPS[0], title=s),
}


def _drawn_strings(fig) -> list[str]:
    """Every string the figure drew, as matplotlib lays it out (after its own mathtext pass)."""
    drawn = []
    for artist in fig.findobj(Text):
        text = artist.get_text()
        if not text:
            continue
        # _preprocess_math is what Text.draw uses: (string drawn, parsed as mathtext?).
        shown, is_math = artist._preprocess_math(text)
        if is_math and text.startswith("$\\mathdefault{"):
            continue  # matplotlib's own numbers on a log axis (10^-1), not a name
        assert not is_math, f"{text!r} is parsed as mathtext"
        drawn.append(" ".join(shown.split()))
    return drawn


@pytest.mark.parametrize("label", HOSTILE, ids=ascii)
@pytest.mark.parametrize("plot", list(PLOTS.values()), ids=list(PLOTS))
def test_every_plot_draws_a_name_as_written(plot, label):
    fig = plot(label)
    png = nv.plot.to_png(fig)  # draws every artist (tick labels included)
    assert Image.open(io.BytesIO(png)).size[0] > 0
    seen = _seen(label)
    assert any(seen in s for s in _drawn_strings(fig)), (seen, _drawn_strings(fig))


def test_plot_text_escapes_every_dollar_and_keeps_newlines():
    assert plot_text("$x^2$") == r"\$x^2\$"
    assert plot_text("a\r\nb") == "a\nb"


# -- Pillow: every frame builder ------------------------------------------------------------------


FRAMES = {
    "annotate": lambda s: _draw.annotate(
        np.zeros((20, 20, 3), np.uint8), s, ("viridis", -1.0, 1.0), subtitle=s, scale_label=s
    ),
    "caption_tile": lambda s: _draw.caption_tile(np.zeros((20, 60, 3), np.uint8), s),
    "feature_frame": lambda s: _frames.feature_frame(RNG.random((6, 6, 3)) - 0.5, s),
    "matrix_frame": lambda s: _frames.matrix_frame(RNG.random((4, 5)), s),
    "filters_frame": lambda s: _frames.filters_frame(RNG.random((4, 3, 3, 2)) - 0.5, s),
    "histogram_frame": lambda s: _frames.histogram_frame(RNG.random(50) - 0.5, s),
    "scatter_frame": lambda s: _frames.scatter_frame(
        RNG.random((6, 2)), np.array([0, 1, 0, 1, 0, 1]), s, class_names=[s, "b"]
    ),
    "bars_frame": lambda s: _frames.bars_frame({s: 1.0, "b": 2.0}, s, warn_at=1.5),
    "attribution_frame": lambda s: _frames.attribution_frame(IMAGES, MAPS, s, captions=[s, s]),
    "attention_frame": lambda s: _frames.attention_frame(RNG.random((2, 4, 4)), s, _tokens(s)),
    "labelled_matrix": lambda s: _draw.labelled_matrix(
        np.zeros((26, 26, 3), np.uint8), [s, "b"], [s, "b"], s
    ),
    "sequence_frame": lambda s: _frames.sequence_frame(RNG.random((2, 4)), s, [_tokens(s)] * 2),
}


@pytest.mark.parametrize("label", HOSTILE, ids=ascii)
@pytest.mark.parametrize("build", list(FRAMES.values()), ids=list(FRAMES))
def test_every_frame_draws_a_name(build, label):
    frame = build(label)
    assert frame.dtype == np.uint8 and frame.ndim == 3
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG")
    # The name is drawn, not dropped: the frame differs from the one with an empty name.
    blank = build("")
    assert frame.shape != blank.shape or np.any(frame != blank)


def test_gradcam_writes_frames_for_hostile_class_names(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(len(HOSTILE))(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = RNG.random((len(HOSTILE), 8, 8, 1)).astype(np.float32)
    y = np.arange(len(HOSTILE))
    callback = nv.callbacks.GradCAM(
        tmp_path, x=x[:3], y=y[:3], class_names=HOSTILE, on_error="raise"
    )
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    pngs = sorted(tmp_path.rglob("*.png"))
    assert pngs, "GradCAM wrote no frame"
    for path in pngs:
        assert Image.open(path).size[0] > 0


# -- XML: the architecture SVG --------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x0b", "\ufffe", "\uffff"], ids=ascii)
def test_architecture_svg_with_control_characters_in_a_layer_name_parses(char):
    inputs = keras.Input((4,))
    name = f"a{char}b"
    model = keras.Model(inputs, keras.layers.Dense(2, name=name)(inputs))
    assert any(layer.name == name for layer in model.layers)  # Keras kept the name as given
    svg = nv.plot.architecture(model).svg
    root = ET.fromstring(svg)
    texts = ["".join(el.itertext()) for el in root.iter()]
    shown = xml_safe(name)
    assert any(shown in t for t in texts), texts


def test_architecture_page_ids_match_the_svg_attributes():
    # The page's script finds a clicked node by its data-id: the payload must carry the same text.
    from keras_nnviz.plot.architecture import graph_payload

    inputs = keras.Input((4,))
    inner = keras.Sequential([keras.layers.Dense(2, name="d\x01e")], name="in\x00ner")
    model = keras.Model(inputs, keras.layers.Dense(2, name="a\x01b")(inner(inputs)))
    payload = graph_payload(nv.plot.architecture(model).data)
    ids = {n["id"] for n in payload["nodes"]}
    for svg in payload["svgs"].values():
        root = ET.fromstring(svg)
        attrs = {el.get("data-id") for el in root.iter() if el.get("data-id") is not None}
        groups = {el.get("data-group") for el in root.iter() if el.get("data-group") is not None}
        assert attrs and attrs <= ids, (attrs, ids)
        assert groups <= set(payload["groups"]), (groups, payload["groups"])
    assert xml_safe("in\x00ner") in payload["groups"]
