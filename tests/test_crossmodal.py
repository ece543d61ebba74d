"""Cross-modal explanations: image-text maps and token attributions of a match score."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers as L

import keras_nnviz as nv
from tests import hub
from tests.bad_input import assert_named_error

COLOURS = {1: (1.0, 0.0, 0.0), 2: (0.0, 1.0, 0.0), 3: (0.0, 0.0, 1.0)}  # token id -> RGB


def colour_dual_encoder() -> keras.Model:
    """A dual encoder whose right answer is known: the image tower detects pure red, green and
    blue (a 1x1 convolution, ReLU), the text tower maps token k to colour k, and the score is
    their dot product: how much of the named colour the image holds, and where."""
    image = keras.Input((32, 32, 3), name="images")
    ids = keras.Input((2,), dtype="int32", name="token_ids")
    detect = L.Conv2D(3, 1, activation="relu", name="colour_detector")
    feats = detect(image)
    pooled = L.GlobalAveragePooling2D(name="pool")(feats)
    emb = L.Embedding(4, 3, name="token_embedding")
    named = L.GlobalAveragePooling1D(name="named")(emb(ids))  # token 0 embeds to zero
    score = L.Dot(axes=1, name="score")([pooled, named])
    model = keras.Model([image, ids], score, name="colour_match")
    detect.set_weights([(3 * np.eye(3) - 1).reshape(1, 1, 3, 3).astype("float32"), np.zeros(3)])
    emb.set_weights([np.vstack([np.zeros(3), np.eye(3)]).astype("float32")])
    return model


def scenes(n: int, seed: int = 0):
    """Black 32x32 images with two squares of different colours; the text names one of them.
    Returns images, texts (N, 2) naming one square (its colour, then token 0), the same naming
    the other square, and the boxes of the named and the other square."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 32, 32, 3), "float32")
    texts, others = np.zeros((n, 2), "int32"), np.zeros((n, 2), "int32")
    boxes, other_boxes = [], []
    for i in range(n):
        a, b = rng.choice([1, 2, 3], size=2, replace=False)
        ya, xa = rng.integers(0, 8, size=2)
        yb, xb = rng.integers(16, 24, size=2)
        if rng.random() < 0.5:  # the named square is top-left or bottom-right
            (ya, xa), (yb, xb) = (yb, xb), (ya, xa)
        images[i, ya : ya + 8, xa : xa + 8] = COLOURS[a]
        images[i, yb : yb + 8, xb : xb + 8] = COLOURS[b]
        texts[i, 0], others[i, 0] = a, b
        boxes.append((ya, xa))
        other_boxes.append((yb, xb))
    return images, texts, others, boxes, other_boxes


@pytest.fixture(scope="module")
def task():
    return (colour_dual_encoder(), *scenes(24))


def _pointing_game(maps, boxes) -> float:
    hits = 0
    for m, (y, x) in zip(maps, boxes, strict=True):
        py, px = np.unravel_index(np.argmax(m), m.shape)
        hits += y <= py < y + 8 and x <= px < x + 8
    return hits / len(boxes)


@pytest.mark.parametrize("method", ["grad_cam", "saliency", "integrated_gradients"])
def test_the_map_points_at_the_named_object(task, method):
    model, images, texts, others, boxes, other_boxes = task
    maps = nv.image_text_map(model, images, texts, method=method)
    assert maps.shape == (24, 32, 32) and maps.min() >= 0 and maps.max() <= 1
    assert _pointing_game(maps, boxes) == 1.0
    # Naming the other square's colour moves the map to that square: the text decides.
    moved = nv.image_text_map(model, images, others, method=method)
    assert _pointing_game(moved, other_boxes) == 1.0


def test_the_named_colour_token_carries_the_score(task):
    model, images, texts, *_ = task
    scores = nv.text_image_attribution(model, images, texts, method="gradient_x_input")
    assert scores.shape == (24, 2)
    # The score is linear in the text embedding: gradient x input at the colour token is the
    # whole score, and the filler token (embedded to zero) gets nothing.
    direct = np.asarray(model.predict([images, texts], verbose=0)).reshape(-1)
    np.testing.assert_allclose(scores[:, 0], direct, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(scores[:, 1], 0.0, atol=1e-7)


def test_match_score_takes_the_diagonal_of_a_similarity_matrix():
    import tensorflow as tf

    logits = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(nv.crossmodal.match_score({"v": logits}).numpy(), [1.0, 4.0])
    np.testing.assert_array_equal(nv.crossmodal.match_score(tf.constant([[5.0], [6.0]])), [5, 6])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_keras_hub_dual_encoders_run(name):
    model = hub.dual_encoders()[name]
    rng = np.random.default_rng(0)
    images = rng.random((2, 32, 32, 3), dtype=np.float32)
    texts = rng.integers(1, hub.VOCABULARY, size=(2, 12)).astype("int32")
    maps = nv.image_text_map(model, images, texts)
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()
    tokens = nv.text_image_attribution(model, images, texts, method="saliency")
    assert tokens.shape == (2, 12) and np.isfinite(tokens).all()
    # Integrated gradients need the text embedding's rank; SigLIP's text tower runs only at its
    # position table's length, so the shape comes from one traced call on the texts themselves.
    tokens = nv.text_image_attribution(model, images, texts, steps=4)
    assert tokens.shape == (2, 12) and np.isfinite(tokens).all()


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (lambda m, i, t: nv.image_text_map(m, i, t[:3]), nv.InvalidInputError, "are pairs"),
        (lambda m, i, t: nv.image_text_map(m, i, t.astype("float32")), nv.InvalidInputError,
         "token ids"),
        (lambda m, i, t: nv.image_text_map(m, i[..., 0], t), nv.InvalidArgumentError,
         "one image input"),
    ],
    ids=["unpaired", "float-texts", "no-image-input"],
)  # fmt: skip
def test_bad_input_is_named(task, call, error, phrase):
    model, images, texts, *_ = task
    if phrase == "one image input":
        model = keras.Model(model.inputs[1], model.get_layer("named").output)
    assert_named_error(lambda: call(model, images, texts), error, phrase)
