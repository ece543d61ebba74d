"""Attention weights of Keras attention layers, attention rollout and patch maps for ViTs.

- :mod:`.sites`: where each attention layer's probabilities exist (Keras and KerasHub classes,
  hand-written attention) and how they are read; :func:`register_attention_site` teaches it a
  new attention class (the built-in ones are registered the same way).
- :mod:`.capture`: :func:`get_attention` finds every attention layer (in nested models and inside
  custom layers) and reads the weights the model uses, in one compiled pass per batch.
- :mod:`.stats`: :func:`attention_stats`: per layer, head and query entropy, distance, sink
  mass, top-k keys and block-pooled maps, reduced inside the pass (long contexts, no T² maps).
- :mod:`.windows` / :mod:`.layout`: windowed attention (Swin, ViTDet, SAM) laid out per image
  on the full token grid; :func:`attention_layout` says which grid each layer's queries and
  keys lie on (SegFormer's reduced keys), its prefix tokens and attention sinks.
- :mod:`.maps`: :func:`attention_rollout` / :func:`rollout` and :func:`patch_attention_map`,
  which lays a CLS (or mean) row onto the image of a vision transformer.
"""

from .capture import attention_layers, attention_pass, attention_paths, get_attention, in_call_order
from .layout import attention_layout
from .maps import HEAD_FUSIONS, attention_rollout, patch_attention_map, rollout
from .sites import (
    ATTENTION_TYPES,
    MULTI_HEAD_TYPES,
    SINGLE_HEAD_TYPES,
    SiteRule,
    register_attention_site,
    site_rules,
)
from .stats import STATS, attention_stats
from .windows import Layout, Windows

__all__ = [
    "ATTENTION_TYPES",
    "HEAD_FUSIONS",
    "Layout",
    "MULTI_HEAD_TYPES",
    "SINGLE_HEAD_TYPES",
    "STATS",
    "SiteRule",
    "Windows",
    "attention_layers",
    "attention_layout",
    "attention_pass",
    "attention_paths",
    "attention_rollout",
    "attention_stats",
    "get_attention",
    "in_call_order",
    "patch_attention_map",
    "register_attention_site",
    "rollout",
    "site_rules",
]
