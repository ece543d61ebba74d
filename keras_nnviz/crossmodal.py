"""Cross-modal explanations: where in an image a text matches, and which words made the match.

For a model that scores an image against a text (a dual encoder such as KerasHub
``CLIPBackbone`` or ``SigLIPBackbone``, or any Keras model taking an image and token ids and
returning a match score), the score of each (image, text) pair is explained with the library's
own methods, through the one compiled pass:

* :func:`image_text_map` — where in each image its text matches: Grad-CAM (or any CAM) at the
  image tower's last layer that keeps the image's positions (patch tokens laid out on the patch
  grid, prefix tokens found), or a gradient method at the pixels; ``(N, H, W)``.
* :func:`text_image_attribution` — which tokens of each text made its image's score:
  integrated gradients (or any gradient method) at the text tower's token embedding; ``(N, T)``,
  for :func:`keras_nnviz.plot.token_html`.

The score of pair ``i`` is the model's match logit ``logits[i, i]`` (a dual encoder's
``(images, texts)`` similarity matrix; pairs are taken in batches, so image ``i`` meets text
``i``), or its ``(N,)`` / ``(N, 1)`` output; ``score=`` takes any callable instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .errors import InvalidArgumentError, InvalidInputError

__all__ = ["image_text_map", "match_score", "text_image_attribution"]


def match_score(outputs: Any) -> tf.Tensor:
    """The match score of each (image, text) pair from a model's outputs, inside the trace.

    A square ``(B, B)`` similarity matrix (a dual encoder's image-text logits, the first such
    output when there are several) gives its diagonal; a ``(B,)`` or ``(B, 1)`` output is the
    score itself.

    Args:
        outputs: the model's output tensor, or the list (or dict) of its outputs.

    Returns:
        ``(B,)`` scores.
    """
    if isinstance(outputs, Mapping):  # KerasHub dual encoders return {"vision_logits", ...}
        outputs = list(outputs.values())
    candidates = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    for out in candidates:
        if len(out.shape) == 2 and out.shape[-1] != 1:
            return tf.linalg.diag_part(out)
        if len(out.shape) == 1 or (len(out.shape) == 2 and out.shape[-1] == 1):
            return tf.reshape(out, [-1])
    raise InvalidInputError(
        "The model's outputs hold no image-text score: expected a square (images, texts) "
        f"similarity matrix or a (N,) / (N, 1) score; received shapes "
        f"{[tuple(o.shape) for o in candidates]}. Pass score=callable(outputs) -> (N,)."
    )


def _slots(model: keras.Model) -> tuple[int, int, int | None]:
    """``(image input, token input, padding-mask input or None)`` of an image-text model."""
    from .core import model as M

    inputs = getattr(model, "inputs", None) or []
    images = [i for i, t in enumerate(inputs) if len(t.shape) == 4]
    tokens = M.token_inputs(model)
    if len(images) != 1 or len(tokens) != 1:
        raise InvalidArgumentError(
            f"An image-text model takes one image input (N, H, W, C) and one token-id input "
            f"(N, T); model {model.name!r} takes {[(t.name, tuple(t.shape)) for t in inputs]}."
        )
    return images[0], tokens[0], M.padding_mask_input(model)


def _pairs(
    model: keras.Model, images: Any, texts: Any, pad_id: int
) -> tuple[list[np.ndarray], int, int]:
    """The model's inputs for the pairs (image ``i``, text ``i``), aligned to ``model.inputs``,
    with the indices of the image and the token-id inputs."""
    image_at, text_at, mask_at = _slots(model)
    images, texts = np.asarray(images), np.asarray(texts)
    if texts.ndim != 2 or not np.issubdtype(texts.dtype, np.integer):
        raise InvalidInputError(
            f"texts must be token ids, an integer array (N, T); received {texts.dtype} "
            f"{texts.shape}. Tokenize strings with the model's tokenizer first."
        )
    if len(images) != len(texts):
        raise InvalidInputError(
            f"images and texts are pairs: {len(images)} images and {len(texts)} texts; pass one "
            "text per image (repeat an image to match several texts)."
        )
    x: list[Any] = [None] * len(model.inputs)
    x[image_at], x[text_at] = images, texts
    if mask_at is not None:
        x[mask_at] = (texts != pad_id).astype(np.asarray(texts).dtype)
    missing = [model.inputs[i].name for i, v in enumerate(x) if v is None]
    if missing:
        raise InvalidArgumentError(
            f"model {model.name!r} takes inputs {missing} beside the image and the token ids; "
            "explain it with nv.explain and a target callable instead."
        )
    return x, image_at, text_at


def image_text_map(
    model: keras.Model,
    images: Any,
    texts: Any,
    *,
    method: str = "grad_cam",
    layer: str | None = None,
    score: Callable[[Any], Any] | None = None,
    pad_id: int = 0,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    **options: Any,
) -> np.ndarray:
    """Where in each image its text matches: the pair's score explained on the image.

    Args:
        model: an image-text model (KerasHub ``CLIPBackbone``, ``SigLIPBackbone``, or any model
            with one image input and one token-id input returning a match score).
        images: ``(N, H, W, C)`` images.
        texts: ``(N, T)`` token ids, text ``i`` paired with image ``i``.
        method: an attribution method (a key of ``nv.attribution.METHODS``): a CAM (``"grad_cam"``,
            ``"grad_cam_plus_plus"``, ``"layer_cam"`` ...) at the image tower's ``layer``, or a
            gradient method (``"saliency"``, ``"integrated_gradients"`` ...) at the pixels.
        layer: the image tower's layer a CAM explains at (default: its last layer that keeps the
            image's positions, :func:`keras_nnviz.core.towers.image_tower_layer`).
        score: ``callable(outputs) -> (N,)``; default :func:`match_score`.
        pad_id: the padding token id, for a model that also takes a padding mask.
        batch_size: pairs per compiled call.
        progress: show a progress bar.
        allow_nonfinite: accept NaN/inf inputs and results.
        **options: the method's own options (``steps=`` ...).

    Returns:
        float32 ``(N, H, W)`` maps on the images, each scaled to [0, 1].

    Example:
        >>> maps = nv.image_text_map(clip, images, token_ids)
        >>> nv.plot.image_text_maps(images, maps, texts=["a red square", "a blue circle"])
    """
    from .attention import patch_attention_map
    from .attribution import registry
    from .core.towers import image_tower_layer

    x, image_at, _ = _pairs(model, images, texts, pad_id)
    if registry.get(method).kind == "cam" and layer is None:
        layer = image_tower_layer(model, image_at)
        if layer is None:
            raise InvalidArgumentError(
                f"{method} needs a layer of the image tower with the image's positions, and "
                f"model {model.name!r} has none of its own; pass layer=, or a gradient method."
            )
    maps = registry.explain(
        model, x, score or match_score, method=method, layer=layer, batch_size=batch_size,
        progress=progress, allow_nonfinite=allow_nonfinite, **options,
    )  # fmt: skip
    if isinstance(maps, list):
        maps = maps[image_at]
    maps = np.asarray(maps, dtype=np.float32)
    size = np.asarray(images).shape[1:3]
    if maps.ndim == 2:  # patch tokens: on the patch grid, prefix tokens dropped
        return patch_attention_map(maps, size, query="mean")
    if maps.ndim == 4:  # per-channel pixel attributions: their magnitude
        maps = np.abs(maps).sum(axis=-1)
    if maps.shape[1:3] != tuple(size):
        maps = tf.image.resize(maps[..., None], size, method="bilinear").numpy()[..., 0]
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    return ((maps - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)


def text_image_attribution(
    model: keras.Model,
    images: Any,
    texts: Any,
    *,
    method: str = "integrated_gradients",
    layer: str | None = None,
    score: Callable[[Any], Any] | None = None,
    pad_id: int = 0,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    **options: Any,
) -> np.ndarray:
    """Which tokens of each text made its image's score: one signed value per token.

    Args:
        model: an image-text model (see :func:`image_text_map`).
        images: ``(N, H, W, C)`` images.
        texts: ``(N, T)`` token ids, text ``i`` paired with image ``i``.
        method: a gradient method (``"integrated_gradients"``, ``"saliency"``,
            ``"gradient_x_input"`` ...) taken at the text tower's token embedding.
        layer: the embedding layer (default: the text tower's token embedding,
            :func:`keras_nnviz.core.model.embedding_layer`).
        score: ``callable(outputs) -> (N,)``; default :func:`match_score`.
        pad_id: the padding token id, for a model that also takes a padding mask.
        batch_size: pairs per compiled call.
        progress: show a progress bar.
        allow_nonfinite: accept NaN/inf inputs and results.
        **options: the method's own options.

    Returns:
        float32 ``(N, T)``, signed and not normalized unless ``signed=``/``normalize=`` say
        otherwise (for integrated gradients they add up to the score's change from the
        baseline); show it with :func:`keras_nnviz.plot.token_html`.

    Example:
        >>> scores = nv.text_image_attribution(clip, images, token_ids)
        >>> nv.plot.token_html(scores, tokens)
    """
    from .attribution import registry
    from .core import model as M

    x, _, text_at = _pairs(model, images, texts, pad_id)
    layer = layer or M.embedding_layer(model)
    accepted = inspect.signature(registry.get(method).function).parameters
    for key, value in (("signed", True), ("normalize", False)):  # raw, signed token values
        if key in accepted:
            options.setdefault(key, value)
    maps = registry.explain(
        model, x, score or match_score, method=method, layer=layer, batch_size=batch_size,
        progress=progress, allow_nonfinite=allow_nonfinite, **options,
    )  # fmt: skip
    if isinstance(maps, list):
        maps = maps[text_at]
    maps = np.asarray(maps, dtype=np.float32)
    return maps.sum(axis=-1) if maps.ndim == 3 else maps
