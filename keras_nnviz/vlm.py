"""Vision-language generation: what a generated token owes to the image, and to the prompt.

A vision-language model (KerasHub ``PaliGemmaCausalLM``, ``Gemma3CausalLM`` with its vision
encoder, or any Keras causal LM taking images beside token ids) turns the image into a sequence
of image tokens (its vision tower's output) and the prompt into token embeddings; the decoder
reads both.

* :func:`vlm_attribution` explains one generated token's logit on both at once. One path scales
  the image tokens and the prompt's token embeddings together, from zero to their values, so
  for integrated gradients the image patches' and the prompt tokens' attributions add up to the
  logit's change along that path, and split it into an image part and a text part.
* :func:`text_to_image_attention` reads each decoder layer's attention from the prompt's
  positions to the image tokens, laid out on the patch grid.

Both run through the library's core: the target is the one score language
(:mod:`keras_nnviz.core.targets`: ``None`` is the next token after the prompt, an int a given
token, :class:`keras_nnviz.targets.Token` a position), the work is one
:class:`~keras_nnviz.core.compiled.CompiledPass` per model and method, the batches one
:class:`~keras_nnviz.core.loop.BatchLoop`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .attribution._quadrature import midpoint_rule
from .core import graph, targets
from .core import model as M
from .core.compiled import compiled_pass
from .core.loop import BatchLoop
from .errors import IncompatibleLayerError, InvalidArgumentError, InvalidInputError

__all__ = [
    "model_inputs",
    "text_to_image_attention",
    "vision_layer",
    "vlm_attribution",
    "VLMAttribution",
]

# Integrated gradients' path from zero: the decoder's RMS normalizations of the scaled
# embeddings jump from 0 to their full value while alpha is tiny (about 1e-7 ... 1e-4 for
# KerasHub Gemma decoders), so the midpoint rule is graded (attribution._quadrature.midpoint_rule):
# half the points log-spaced on [_LOW, _SPLIT], half evenly spaced on [_SPLIT, 1]; below _LOW
# the score is still about its value at zero.
_LOW, _SPLIT = 1e-12, 0.05
_METHODS = ("integrated_gradients", "gradient_x_input", "saliency")


@dataclass(frozen=True)
class VLMAttribution:
    """One generated token's attribution, split between the image and the prompt.

    Attributes:
        image: float32 ``(N, gh, gw)``, one value per image patch on the patch grid (signed,
            except for saliency).
        text: float32 ``(N, T)``, one value per prompt position (0 at padding).
        image_total: ``(N,)`` sum of ``image``.
        text_total: ``(N,)`` sum of ``text``. For integrated gradients
            ``image_total + text_total`` is ``score - baseline_score`` up to
            :attr:`completeness_error`.
        image_share: ``(N,)`` the image's part of the attribution mass,
            ``|image|.sum() / (|image|.sum() + |text|.sum())``; ``text_share = 1 - image_share``.
        text_share: ``(N,)``.
        score: ``(N,)`` the explained logit.
        baseline_score: ``(N,)`` the logit with the image tokens and the prompt embeddings at
            zero (the start of the path).
        token: ``(N,)`` the token id explained.
        position: ``(N,)`` the prompt position whose logits give the next token.
        method: the method used.
    """

    image: np.ndarray
    text: np.ndarray
    image_total: np.ndarray
    text_total: np.ndarray
    image_share: np.ndarray
    text_share: np.ndarray
    score: np.ndarray
    baseline_score: np.ndarray
    token: np.ndarray
    position: np.ndarray
    method: str

    @property
    def completeness_error(self) -> np.ndarray:
        """``(N,)`` ``|image_total + text_total - (score - baseline_score)|``: how far the
        attributions are from adding up to the score's change (small for integrated
        gradients, meaningless for saliency)."""
        change = self.score - self.baseline_score
        return np.abs(self.image_total + self.text_total - change)


def vision_layer(model: keras.Model) -> str:
    """Path of a vision-language model's vision tower: the outermost layer holding a ``Conv2D``
    (the patch embedding), outside the text tower's token embedding, whose output is a token
    sequence ``(B, P, D)`` -- the image tokens the decoder reads (KerasHub PaliGemma's
    ``pali_gemma_vit``, Gemma 3's ``gemma3_vision_encoder``).

    Raises:
        IncompatibleLayerError: the model has no such layer (pass ``image_layer=``).

    Example:
        >>> nv.vlm.vision_layer(pali_gemma)
        'pali_gemma_backbone/pali_gemma_vit'
    """
    entries = graph.walk(model, include_sublayers=True)
    text = M.embedding_layer(model) or ""
    for e in entries:
        if e.layer is model or text == e.path or text.startswith(e.path + "/"):
            continue
        inside = [x.layer for x in entries if x.path.startswith(e.path + "/")]
        if not any(isinstance(x, keras.layers.Conv2D) for x in [e.layer, *inside]):
            continue
        if len(graph.output_shape(e.layer)) == 3:
            return e.path
    raise IncompatibleLayerError(
        f"Model {model.name!r} has no vision tower this function can find (a layer holding a "
        "Conv2D patch embedding whose output is image tokens (batch, patches, width)); pass "
        "image_layer= with the layer whose output the decoder reads as image tokens."
    )


def _image_input(model: keras.Model) -> int:
    found = [
        i
        for i, t in enumerate(model.inputs)
        if len(t.shape) in (4, 5) and "float" in keras.backend.standardize_dtype(t.dtype)
    ]
    if len(found) != 1:
        raise InvalidArgumentError(
            f"A vision-language model takes one image input (N, H, W, C) or (N, images, H, W, "
            f"C); model {model.name!r} takes {[(t.name, tuple(t.shape)) for t in model.inputs]}."
        )
    return found[0]


def _tokenizer_id(model: keras.Model, name: str) -> int | None:
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    value = getattr(tokenizer, name, None)
    return int(value) if isinstance(value, int | np.integer) and value >= 0 else None


def model_inputs(
    model: keras.Model,
    images: Any,
    prompts: Any,
    pad_id: int | None = None,
    image_token_id: int | None = None,
) -> tuple[list[np.ndarray], int]:
    """The model's inputs for images and prompts, aligned to ``model.inputs``, and the index
    of the image input.

    ``prompts`` are token ids ``(N, T)``, or a dict of the model's inputs holding at least
    ``"token_ids"``. What is missing is derived: ``padding_mask`` (ids other than ``pad_id``),
    PaliGemma's ``response_mask`` (zeros), Gemma 3's ``vision_indices`` and ``vision_mask``
    (the positions of ``image_token_id``, the image placeholder); images ``(N, H, W, C)`` get
    the images axis a model taking ``(N, images, H, W, C)`` needs.

    Args:
        model: a vision-language model (see :func:`vlm_attribution`).
        images: ``(N, H, W, C)`` images.
        prompts: ``(N, T)`` token ids, or a dict of the model's inputs with ``"token_ids"``.
        pad_id: the padding id (default: the tokenizer's, else 0).
        image_token_id: Gemma 3's image placeholder id (default: the tokenizer's).

    Returns:
        ``(inputs, image_index)``: numpy arrays in ``model.inputs`` order, and the position of
        the image input among them.

    Example:
        >>> x, at = nv.vlm.model_inputs(gemma3, images, ids, image_token_id=3)
    """
    given = dict(prompts) if isinstance(prompts, Mapping) else {"token_ids": prompts}
    if "token_ids" not in given:
        raise InvalidInputError(
            f"prompts must be token ids (N, T) or a dict of inputs with 'token_ids'; received "
            f"a dict with {sorted(given)}."
        )
    ids = np.asarray(given["token_ids"])
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise InvalidInputError(
            f"prompts must be token ids, an integer array (N, T); received {ids.dtype} "
            f"{ids.shape}. Tokenize strings with the model's tokenizer first."
        )
    image_at = _image_input(model)
    names = [t.name for t in model.inputs]
    images = np.asarray(images, dtype=np.float32)
    if len(model.inputs[image_at].shape) == 5 and images.ndim == 4:
        images = images[:, None]
    if len(images) != len(ids):
        raise InvalidInputError(
            f"images and prompts are pairs: {len(images)} images and {len(ids)} prompts; pass "
            "one prompt per image."
        )
    given[names[image_at]] = images
    if pad_id is None:
        pad_id = _tokenizer_id(model, "pad_token_id") or 0
    given.setdefault("padding_mask", (ids != pad_id).astype("int32"))
    given.setdefault("response_mask", np.zeros_like(ids, dtype="int32"))
    if "vision_indices" in names and "vision_indices" not in given:
        if image_token_id is None:
            image_token_id = _tokenizer_id(model, "image_placeholder_id")
        if image_token_id is None:
            raise InvalidArgumentError(
                f"Model {model.name!r} places image tokens at the prompt's image placeholders: "
                "pass image_token_id= (the placeholder's id), or vision_indices in prompts."
            )
        where = ids == image_token_id
        counts = set(where.sum(axis=1).tolist())
        if len(counts) != 1 or 0 in counts:
            raise InvalidInputError(
                f"Every prompt must hold the same number (> 0) of image placeholders "
                f"{image_token_id}; found {sorted(counts)} per prompt."
            )
        given["vision_indices"] = np.stack([np.flatnonzero(w) for w in where]).astype("int32")
        given.setdefault("vision_mask", where.astype("int32"))
    missing = [n for n in names if n not in given]
    if missing:
        raise InvalidArgumentError(
            f"Model {model.name!r} takes inputs {missing} beside the images and token ids; pass "
            "them in prompts as a dict."
        )
    return [np.asarray(given[n]) for n in names], image_at


def _scaling_hooks(layers, alpha, tape, store):
    """Hooks scaling each layer's first output by ``alpha`` (watched by ``tape``); a layer
    called again (the LM head reusing the token embedding, ``reverse=True``) is left alone."""

    def make(key):
        def hook(layer, call, args, kwargs):
            out = call(*args, **kwargs)
            if kwargs.get("reverse") or key in store:
                return out
            z = out * tf.cast(alpha, out.dtype)
            tape.watch(z)
            store[key] = (z, out)
            return z

        return hook

    return {id(layer): (layer, make(i)) for i, layer in enumerate(layers)}


def _body(paths, spec, method, steps, model, inputs, indices, signs):
    """The compiled pass: attributions of the target logit at the image tokens and the token
    embeddings (summed over their width), the score, the baseline score and the target."""
    entries = graph.walk(model, include_sublayers=True)
    layers = [graph.find_entry(model, p, entries).layer for p in paths]

    def run(alpha, indices, inputs, signs):
        store: dict[int, Any] = {}
        with tf.GradientTape() as tape:
            outputs = graph.forward(model, inputs, _scaling_hooks(layers, alpha, tape, store))
            if indices is None:
                half = tf.shape(signs)[0] // 2  # the clean copies: the first half
                indices = tf.tile(targets.predicted(spec, outputs, inputs)[0][:half], [2])
            score = targets.scores(spec, outputs, indices, signs, inputs=inputs)
        graph.check_called(model, paths, {paths[k]: v for k, v in store.items()})
        zs = [tf.cast(store[k][0], tf.float32) for k in range(2)]
        grads = tape.gradient(score, zs)
        values = [tf.cast(store[k][1], tf.float32) for k in range(2)]
        return score, indices, grads, values, outputs

    # The input (alpha = 1) and the baseline (alpha = 0) in one batch of twice the size: one
    # traced copy of the model instead of two.
    n = tf.shape(signs)[0]
    both = [tf.concat([t, t], 0) for t in inputs]
    ends = tf.reshape(tf.concat([tf.ones((n,)), tf.zeros((n,))], 0), (-1, 1, 1))
    given = None if spec.mode == "predicted" else tf.tile(indices, [2])
    score, indices, grads, values, outputs = run(ends, given, both, tf.tile(signs, [2]))
    score, baseline, indices = score[:n], score[n:], indices[:n]
    grads, values = [g[:n] for g in grads], [v[:n] for v in values]
    first = tf.nest.flatten(outputs)[spec.output or 0][:n]
    position = targets.positions(spec, first, inputs)
    if method == "integrated_gradients":
        alphas, weights = midpoint_rule(steps, split=_SPLIT, low=_LOW)

        def step(k, acc_image, acc_text):
            g = run(alphas[k], indices, inputs, signs)[2]
            return k + 1, acc_image + weights[k] * g[0], acc_text + weights[k] * g[1]

        _, gi, gt = tf.while_loop(
            lambda k, *_: k < steps, step, (tf.constant(0), *[tf.zeros_like(g) for g in grads])
        )
        grads = [gi, gt]
    if method == "saliency":
        attr = [tf.norm(g, axis=-1) for g in grads]
    else:
        attr = [tf.reduce_sum(g * v, axis=-1) for g, v in zip(grads, values)]
    return {
        "image": attr[0],
        "text": attr[1],
        "score": score,
        "baseline": baseline,
        "token": indices,
        "position": position,
    }


def _grid_shape(patches: int) -> tuple[int, int]:
    """The patch grid of ``patches`` image tokens: square, or one row when not square."""
    side = math.isqrt(patches)
    return (side, side) if side * side == patches else (1, patches)


def _grid(values: np.ndarray) -> np.ndarray:
    """``(..., P)`` image-token values on the patch grid ``(..., gh, gw)``."""
    return values.reshape(values.shape[:-1] + _grid_shape(values.shape[-1]))


def vlm_attribution(
    model: keras.Model,
    images: Any,
    prompts: Any,
    target: Any = None,
    *,
    method: str = "integrated_gradients",
    steps: int = 128,
    image_layer: str | None = None,
    text_layer: str | None = None,
    pad_id: int | None = None,
    image_token_id: int | None = None,
    batch_size: int = 8,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
) -> VLMAttribution:
    """What a vision-language model's next token owes to each image patch and prompt token.

    The token's logit is attributed at once to the image tokens (the vision tower's output,
    one per patch) and to the prompt's token embeddings: one path scales both from zero to
    their values. With integrated gradients the attributions of the patches and of the tokens
    add up to the logit's change along that path (``result.completeness_error`` says how
    closely), so ``image_total`` and ``text_total`` split it between the image and the text.

    Args:
        model: a vision-language causal LM: KerasHub ``PaliGemmaCausalLM``, ``Gemma3CausalLM``
            with a vision encoder, or any Keras model taking images and token ids and returning
            ``(N, T, vocabulary)`` logits.
        images: ``(N, H, W, C)`` images (``(N, 1, H, W, C)`` for Gemma 3 also works).
        prompts: ``(N, T)`` token ids, prompt ``i`` with image ``i``; or a dict of the model's
            inputs holding ``"token_ids"`` (see :func:`model_inputs` for what is derived).
        target: the score language of :mod:`keras_nnviz.core.targets`: None -- the token the
            model predicts after the prompt's last non-padding position; an int (or one per
            prompt) -- that token there; ``nv.targets.Token(token, position)`` -- another
            position.
        method: ``"integrated_gradients"`` (complete: attributions add up to the score's
            change), ``"gradient_x_input"`` (one gradient, signed) or ``"saliency"`` (the
            gradient's norm per patch / token, unsigned).
        steps: integrated-gradient points: half log-spaced near zero (where the decoder's
            normalizations of the scaled embeddings jump), half evenly spaced above 0.05.
        image_layer: the layer whose output the decoder reads as image tokens (default
            :func:`vision_layer`).
        text_layer: the token embedding (default
            :func:`keras_nnviz.core.model.embedding_layer`).
        pad_id: the padding id, for the padding mask (default: the tokenizer's, else 0).
        image_token_id: Gemma 3's image placeholder id (default: the tokenizer's).
        batch_size: prompts per compiled call.
        progress: show a progress bar.
        allow_nonfinite: accept NaN/inf inputs and results.

    Returns:
        A :class:`VLMAttribution`: ``image`` ``(N, gh, gw)`` on the patch grid, ``text``
        ``(N, T)``, their totals and shares, the score, the explained token and position.

    Raises:
        InvalidArgumentError: an unknown method, a model without one image input, inputs that
            cannot be derived.
        InvalidInputError: prompts that are not token ids, images and prompts of different
            counts.

    Example:
        >>> r = nv.vlm_attribution(pali_gemma, images, token_ids)
        >>> r.image.shape, r.text.shape, r.image_share
        >>> nv.plot.vlm_attribution(images[0], r.image[0], tokens, r.text[0],
        ...                         image_share=r.image_share[0])
    """
    if method not in _METHODS:
        raise InvalidArgumentError(
            f"vlm_attribution's method must be one of {list(_METHODS)}; received {method!r}."
        )
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise InvalidArgumentError(f"steps must be a positive int; received {steps!r}.")
    x, _ = model_inputs(model, images, prompts, pad_id, image_token_id)
    paths = (
        graph.layer_path(model, image_layer) if image_layer else vision_layer(model),
        graph.layer_path(model, text_layer) if text_layer else M.embedding_layer(model),
    )
    if paths[1] is None:
        raise IncompatibleLayerError(
            f"Model {model.name!r} has no token embedding; pass text_layer=."
        )
    resolved = targets.resolve(model, target, n=len(x[0]))
    vocabulary = getattr(graph.find_layer(model, paths[1]), "input_dim", None)
    shape = tuple(model.outputs[resolved.spec.output or 0].shape)
    if not resolved.spec.sequence or (vocabulary and shape[-1] != vocabulary):
        raise IncompatibleLayerError(
            f"vlm_attribution explains a language model's (N, T, vocabulary) logits; model "
            f"{model.name!r} returns {shape}. Pass the causal LM (PaliGemmaCausalLM, "
            "Gemma3CausalLM), not its backbone."
        )
    spec = resolved.spec
    key = ("vlm_attribution", paths, spec, method, int(steps))
    body = functools.partial(_body, paths, spec, method, int(steps))
    compiled = compiled_pass(
        model, key, body, autograph=False,
        args=[tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.float32)],
    )  # fmt: skip
    loop = BatchLoop(
        model, x, batch_size, allow_nonfinite=allow_nonfinite, progress=progress, heavy=True,
        what="vision-language attributions", target=target, results="vlm attributions",
    )  # fmt: skip
    parts: dict[str, list[np.ndarray]] = {}
    for batch in loop:
        indices, signs = resolved.batch(batch.start, batch.size)
        out = loop.call(compiled, batch.inputs, indices, signs)
        for k, v in out.items():
            parts.setdefault(k, []).append(np.asarray(v))
    r = {k: np.concatenate(v) for k, v in parts.items()}
    mask = (
        np.asarray(x[[t.name for t in model.inputs].index("padding_mask")]) != 0
        if ("padding_mask" in [t.name for t in model.inputs])
        else np.ones(r["text"].shape, bool)
    )
    text = np.where(mask, r["text"], 0.0).astype(np.float32)
    image = r["image"].reshape(len(text), -1).astype(np.float32)
    mass_image, mass_text = np.abs(image).sum(1), np.abs(text).sum(1)
    share = mass_image / np.where(mass_image + mass_text > 0, mass_image + mass_text, 1.0)
    return VLMAttribution(
        image=_grid(image),
        text=text,
        image_total=image.sum(1),
        text_total=text.sum(1),
        image_share=share.astype(np.float32),
        text_share=(1.0 - share).astype(np.float32),
        score=r["score"].astype(np.float32),
        baseline_score=r["baseline"].astype(np.float32),
        token=r["token"].astype(np.int64),
        position=r["position"].astype(np.int64),
        method=method,
    )


def text_to_image_attention(
    model: keras.Model,
    images: Any,
    prompts: Any,
    *,
    layers: Sequence[str] | None = None,
    pad_id: int | None = None,
    image_token_id: int | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
) -> dict[str, np.ndarray]:
    """Each decoder layer's attention from the prompt's positions to the image tokens, on the
    patch grid.

    The decoder's attention weights (:func:`keras_nnviz.get_attention`) are cut to the rows of
    the prompt's positions and the columns of the image tokens: a prefix before the prompt
    (PaliGemma) or the positions of the image placeholders inside it (Gemma 3, whose rows at
    those placeholders are the image tokens' own attention).

    Args:
        model: a vision-language causal LM (see :func:`vlm_attribution`) or its backbone.
        images: ``(N, H, W, C)`` images.
        prompts: ``(N, T)`` token ids, or a dict of inputs (see :func:`model_inputs`).
        layers: decoder attention layers (default: every attention layer outside the vision
            tower, :func:`vision_layer`).
        pad_id: the padding id (default: the tokenizer's, else 0).
        image_token_id: Gemma 3's image placeholder id (default: the tokenizer's).
        batch_size: prompts per forward pass.
        progress: show a progress bar.
        allow_nonfinite: accept NaN/inf inputs.

    Returns:
        ``{layer path: float32 (N, heads, T, gh, gw)}``: how much each prompt position's query
        puts on each image patch (a row's weights on the image add up to at most 1; the rest
        goes to text). Rows of padded positions are whatever the layer computed: ignore them.

    Example:
        >>> att = nv.text_to_image_attention(pali_gemma, images, token_ids)
        >>> att["pali_gemma_backbone/decoder_block_1/attention"].mean(axis=1)[0, -1]  # (gh, gw)
    """
    from .attention.capture import attention_layers, get_attention

    x, _ = model_inputs(model, images, prompts, pad_id, image_token_id)
    names = [t.name for t in model.inputs]
    if layers is None:
        vision = vision_layer(model)
        layers = [p for p in attention_layers(model) if not p.startswith(vision + "/")]
    found = get_attention(
        model, x, layers, batch_size=batch_size, progress=progress,
        allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    steps = x[names.index("token_ids")].shape[1]
    result = {}
    for path, att in found.items():
        if "vision_indices" in names:  # image tokens placed inside the prompt
            where = x[names.index("vision_indices")].astype(np.int64)
            cut = np.take_along_axis(att, where[:, None, None, :], axis=-1)
        elif att.shape[-1] > steps and att.shape[-2] == att.shape[-1]:  # an image prefix
            first = att.shape[-1] - steps
            cut = att[:, :, first:, :first]
        else:
            raise IncompatibleLayerError(
                f"Layer {path!r} attends over {att.shape[-1]} positions, which is not the "
                f"prompt's {steps} positions after image tokens; pass decoder layers= only."
            )
        result[path] = _grid(cut)
    return result
