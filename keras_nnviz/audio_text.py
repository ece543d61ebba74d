"""Speech-to-text alignment: which moment of the audio each text token listens to.

A speech recognizer with an encoder-decoder transformer (KerasHub ``WhisperBackbone``,
``MoonshineBackbone``, or any Keras model whose text decoder cross-attends to audio frames)
reads the audio through its decoder's cross-attention: the weights from each text token to the
encoder's time steps are a token x time alignment. :func:`audio_text_alignment` captures them
(:func:`keras_nnviz.get_attention`, one compiled pass per batch) and stacks the layers;
:func:`keras_nnviz.plot.audio_text_alignment` draws them with the tokens on the y axis and time
on the x axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from .errors import IncompatibleLayerError

__all__ = ["audio_text_alignment", "cross_attention_layers"]


def cross_attention_layers(model: keras.Model) -> list[str]:
    """Paths of the decoder's cross-attention layers: attention layers whose name, or the
    attribute of the block holding them, says ``cross`` (the KerasHub decoders'
    ``cross_attention``; Moonshine's unnamed ``moonshine_multi_head_attention_1`` held as
    ``cross_attention``), in layer-tree order.

    Example:
        >>> nv.audio_text.cross_attention_layers(whisper)
        ['transformer_decoder_layer_0/cross_attention', 'transformer_decoder_layer_1/...']
    """
    from .attention.sites import find_sites

    return [s.path for s in find_sites(model) if s.cross]


def audio_text_alignment(
    model: keras.Model,
    x: Any,
    *,
    layers: Sequence[str] | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
) -> np.ndarray:
    """The decoder's cross-attention from each text token to each audio time step.

    Args:
        model: an encoder-decoder speech model (KerasHub ``WhisperBackbone``,
            ``MoonshineBackbone``, or any model whose decoder cross-attends to audio).
        x: the model's inputs (a dict or list: audio features, decoder token ids, masks).
        layers: cross-attention layers (default :func:`cross_attention_layers`).
        batch_size: samples per forward pass.
        progress: show a progress bar.
        allow_nonfinite: accept NaN/inf inputs.

    Returns:
        float32 ``(N, layers, heads, T_text, T_audio)``, layers in call order: row ``t`` is
        where token ``t``'s query looks in the audio (it adds up to 1 over the time steps).
        ``T_audio`` is the encoder's length: Whisper's convolutions halve the feature frames
        (one step = 20 ms of audio), Moonshine's take one step per 384 samples (24 ms at
        16 kHz). Rows of padded tokens are whatever the layer computed: ignore them.

    Raises:
        IncompatibleLayerError: the model has no cross-attention layer.

    Example:
        >>> a = nv.audio_text_alignment(whisper, {"encoder_features": feats,
        ...                                       "decoder_token_ids": ids,
        ...                                       "decoder_padding_mask": mask})
        >>> nv.plot.audio_text_alignment(a[0].mean(axis=(0, 1)), tokens, step_seconds=0.02)
    """
    from .attention.capture import get_attention

    if layers is None:
        layers = cross_attention_layers(model)
        if not layers:
            raise IncompatibleLayerError(
                f"Model {model.name!r} has no cross-attention layer (an attention layer named "
                "'cross...'); pass layers= with the decoder's attention layers over the audio."
            )
    found = get_attention(
        model, x, layers, batch_size=batch_size, progress=progress,
        allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    shapes = {tuple(a.shape) for a in found.values()}
    if len(shapes) != 1:
        raise IncompatibleLayerError(
            f"The layers' attention have different shapes {sorted(shapes)}: pass layers= of "
            "one decoder's cross-attention."
        )
    return np.stack(list(found.values()), axis=1).astype(np.float32)
