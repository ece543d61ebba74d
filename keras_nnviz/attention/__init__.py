"""Attention weights of Keras attention layers, attention rollout and patch maps for ViTs.

- :mod:`.capture`: :func:`get_attention` finds every ``MultiHeadAttention`` /
  ``GroupQueryAttention`` / ``Attention`` / ``AdditiveAttention`` (in nested models and inside
  custom layers) and reads the weights the model uses, in one compiled pass per batch.
- :mod:`.maps`: :func:`attention_rollout` / :func:`rollout` and :func:`patch_attention_map`,
  which lays a CLS (or mean) row onto the image of a vision transformer.
"""

from .capture import (
    ATTENTION_TYPES,
    MULTI_HEAD_TYPES,
    SINGLE_HEAD_TYPES,
    attention_layers,
    attention_pass,
    attention_paths,
    get_attention,
)
from .maps import HEAD_FUSIONS, attention_rollout, patch_attention_map, rollout

__all__ = [
    "ATTENTION_TYPES",
    "HEAD_FUSIONS",
    "MULTI_HEAD_TYPES",
    "SINGLE_HEAD_TYPES",
    "attention_layers",
    "attention_pass",
    "attention_paths",
    "attention_rollout",
    "get_attention",
    "patch_attention_map",
    "rollout",
]
