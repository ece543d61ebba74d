"""keras_nnviz: make a Keras 3 neural network visible.

Compute functions take a model and numpy/tensors/datasets and return numpy; ``nv.plot`` turns
numpy into matplotlib Figures; callbacks (``nv.callbacks``) run both during ``model.fit``.

Example:
    >>> import keras_nnviz as nv
    >>> nv.list_layers(model)
    >>> acts = nv.get_activations(model, x[:32])
    >>> nv.plot.feature_maps(acts["conv2"]).savefig("conv2.png")
"""

import os as _os
import sys as _sys

# Keep TensorFlow's C++ start-up chatter out of users' terminals unless they asked for it.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if _sys.argv[:1] == ["-m"]:  # being imported by ``python -m keras_nnviz``: the CLI's stderr
    try:  # must hold its own messages only, so TensorFlow is imported with fd 2 silenced
        from nnviz_cli import import_tensorflow_quietly as _quiet_import
    except ImportError:  # pragma: no cover - a copy of the package without its launcher
        pass
    else:
        _quiet_import()

from . import callbacks, core, datasets, graph, inputs, plot  # noqa: E402

# ``nv.io`` (items, sinks, manifest, writer) stays out of ``__all__``: ``from keras_nnviz import
# *`` must not shadow the standard library's ``io`` in the caller's namespace.
from . import io as io  # noqa: E402
from ._version import __version__  # noqa: E402
from .activations import (  # noqa: E402
    get_activation,
    get_activations,
    get_channel,
    get_neuron,
    get_rnn_states,
)
from .architecture import architecture  # noqa: E402
from .core.compiled import clear_cache  # noqa: E402
from .diagnostics import activation_stats, dead_units, gradient_flow  # noqa: E402
from .errors import (  # noqa: E402
    AmbiguousLayerError,
    IncompatibleLayerError,
    InvalidArgumentError,
    InvalidInputError,
    InvalidTargetError,
    LayerNotFoundError,
    MethodWarning,
    NNVizError,
    NonFiniteWarning,
    UnsupportedModelError,
)
from .graph import find_layer, last_spatial_layer, list_layers  # noqa: E402
from .projection import export_projector, project  # noqa: E402
from .weights import conv_filters, get_weights, weight_stats  # noqa: E402

# --- attribution ---
# isort: split
from . import attribution, metrics, targets  # noqa: E402
from .attribution import *  # noqa: E402, F403 (the registered methods and their classes)

# --- feature visualization ---
# isort: split
from . import featureviz, objectives  # noqa: E402
from .featureviz import deconv_view, guided_view, maximize_activation, top_examples  # noqa: E402

__all__ = [
    "AmbiguousLayerError",
    "IncompatibleLayerError",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidTargetError",
    "LayerNotFoundError",
    "MethodWarning",
    "NNVizError",
    "NonFiniteWarning",
    "UnsupportedModelError",
    "__version__",
    "activation_stats",
    "architecture",
    "callbacks",
    "clear_cache",
    "core",
    "export_projector",
    "conv_filters",
    "dead_units",
    "datasets",
    "find_layer",
    "get_activation",
    "get_activations",
    "get_channel",
    "get_neuron",
    "get_rnn_states",
    "get_weights",
    "gradient_flow",
    "graph",
    "inputs",
    "last_spatial_layer",
    "list_layers",
    "plot",
    "project",
    "weight_stats",
    # --- attribution (the registered methods and their classes follow below) ---
    "attribution",
    "metrics",
    "targets",
    # --- feature visualization ---
    "deconv_view",
    "featureviz",
    "guided_view",
    "maximize_activation",
    "objectives",
    "top_examples",
]

__all__ += [
    n for n in attribution.__all__ if n not in ("METHODS", "modified_backprop", "relu_hooks")
]

# --- attention ---
from . import attention  # noqa: E402
from .attention import attention_rollout, get_attention, patch_attention_map  # noqa: E402

__all__ += ["attention", "attention_rollout", "get_attention", "patch_attention_map"]

# --- report / front door ---
from . import report  # noqa: E402
from .report import build_report  # noqa: E402

__all__ += ["build_report", "report"]
