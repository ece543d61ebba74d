"""Plots: numpy in, ``matplotlib.figure.Figure`` out. Never imports TensorFlow or pyplot.

Every function accepts plain arrays (as returned by keras_nnviz's compute functions) and returns a
Figure that Jupyter displays by itself (no ``%matplotlib inline`` needed). Every function also
draws into the caller's figure: ``fig=`` a Figure or SubFigure (``fig.subfigures``), or ``ax=``
an axes (multi-panel plots take its grid cell); it then returns the top-level figure. One
convention: the data positional, ``title=``, ``ax=`` and ``fig=`` keyword-only and last in every
function (declared once, :data:`keras_nnviz.plot._base.FRAME_OPTIONS`). Save with :func:`save` or
get PNG bytes with :func:`to_png`.
"""

from ._base import mosaic, save, to_png
from .activations import feature_maps, neuron_trace, rnn_states
from .diagnostics import activation_stats, dead_units, gradient_flow, layer_epoch_heatmap
from .embedding import embedding
from .images import image_grid
from .overlay import heatmap_overlay, overlay_rgb
from .weights import filter_grid, histograms, ridgeline, weight_matrix

# --- attribution ---
# isort: split
from .attribution import attribution_grid, sequence_attribution, signed_attribution

# --- feature visualization ---
# isort: split
from .featureviz import backprop_views, optimized_images, optimized_vs_examples, save_gif

__all__ = [
    "activation_stats",
    "dead_units",
    "gradient_flow",
    "layer_epoch_heatmap",
    "embedding",
    "feature_maps",
    "filter_grid",
    "heatmap_overlay",
    "histograms",
    "image_grid",
    "mosaic",
    "neuron_trace",
    "overlay_rgb",
    "ridgeline",
    "rnn_states",
    "save",
    "to_png",
    "weight_matrix",
    # --- attribution ---
    "attribution_grid",
    "sequence_attribution",
    "signed_attribution",
    # --- feature visualization ---
    "backprop_views",
    "optimized_images",
    "optimized_vs_examples",
    "save_gif",
]

# --- attention ---
from .attention import (  # noqa: E402
    attention_matrix,
    attention_model_view,
    attention_text,
    rollout_overlay,
)
from .attention_html import AttentionHTML, attention_html  # noqa: E402
from .attention_stats import attention_distance, attention_stat_heatmap  # noqa: E402
from .token_html import TokenHTML, token_html  # noqa: E402

__all__ += [
    "AttentionHTML",
    "TokenHTML",
    "token_html",
    "attention_html",
    "attention_distance",
    "attention_matrix",
    "attention_model_view",
    "attention_stat_heatmap",
    "attention_text",
    "rollout_overlay",
]

# --- image-text ---
# isort: split
from .crossmodal import (  # noqa: E402
    ImageTextHTML,
    image_phrase_maps,
    image_text_html,
    image_text_maps,
)

__all__ += ["ImageTextHTML", "image_phrase_maps", "image_text_html", "image_text_maps"]

# --- generation across modalities ---
# isort: split
from .generation import audio_text_alignment, vlm_attribution  # noqa: E402

__all__ += ["audio_text_alignment", "vlm_attribution"]

# --- architecture ---
# isort: split
from .architecture import ArchitectureView, architecture  # noqa: E402

__all__ += ["ArchitectureView", "architecture"]
