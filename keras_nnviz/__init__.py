"""keras_nnviz: make a Keras 3 neural network visible.

Compute functions take a model and numpy/tensors/datasets and return numpy; ``nv.plot`` turns
numpy into matplotlib Figures; callbacks (``nv.callbacks``) run both during ``model.fit``.

``import keras_nnviz`` is lazy (PEP 562): a name is imported, and with it TensorFlow, when it is
first used, so ``nnviz --help`` answers without loading TensorFlow. Static tools see every name
through the ``TYPE_CHECKING`` imports below.

Example:
    >>> import keras_nnviz as nv
    >>> nv.list_layers(model)
    >>> acts = nv.get_activations(model, x[:32])
    >>> nv.plot.feature_maps(acts["conv2"]).savefig("conv2.png")
"""

from __future__ import annotations

import importlib as _importlib
import os as _os
from typing import TYPE_CHECKING, Any

from . import errors as _errors
from ._version import __version__

# Keep TensorFlow's C++ start-up chatter out of users' terminals unless they asked for it.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name -> the module that defines it ("" for a submodule of the package of that name). The
# attribution methods are defined in their own modules (cam, gradients, integrated, occlusion)
# through the registry; tests/test_project.py checks this table covers the registry.
_ATTRIBUTION = {
    **dict.fromkeys(
        [
            "CAM",
            "GradCAM",
            "GradCAMPlusPlus",
            "LayerCAM",
            "cam",
            "grad_cam",
            "grad_cam_plus_plus",
            "layer_cam",
        ],  # fmt: skip
        ".attribution.cam",
    ),
    **dict.fromkeys(["ScoreCAM", "score_cam"], ".attribution.score_cam"),
    **dict.fromkeys(
        ["GuidedBackprop", "Saliency", "guided_backprop", "saliency"], ".attribution.gradients"
    ),
    **dict.fromkeys(
        ["GradientXInput", "IntegratedGradients", "gradient_x_input", "integrated_gradients"],
        ".attribution.integrated",
    ),
    **dict.fromkeys(["LRP", "lrp"], ".attribution.lrp"),
    **dict.fromkeys(["Occlusion", "occlusion"], ".attribution.occlusion"),
    "explain": ".attribution.registry",
}
_LAZY: dict[str, str] = {
    # Every error and warning class of errors.py (a light module: no TensorFlow).
    **dict.fromkeys((n for n in _errors.__all__ if n[:1].isupper()), ".errors"),
    **dict.fromkeys(
        ["get_activation", "get_activations", "get_channel", "get_neuron", "get_rnn_states"],
        ".activations",
    ),
    "architecture": ".core.architecture",
    "clear_cache": ".core.compiled",
    **dict.fromkeys(["activation_stats", "dead_units", "gradient_flow"], ".diagnostics"),
    **dict.fromkeys(["find_layer", "last_spatial_layer", "list_layers"], ".core.graph"),
    **dict.fromkeys(["export_projector", "project"], ".projection"),
    **dict.fromkeys(["conv_filters", "get_weights", "weight_stats"], ".weights"),
    **_ATTRIBUTION,
    **dict.fromkeys(["deconv_view", "guided_view"], ".featureviz.views"),
    "maximize_activation": ".featureviz.optimize",
    "top_examples": ".featureviz.examples",
    **dict.fromkeys(["attention_rollout", "patch_attention_map"], ".attention.maps"),
    "get_attention": ".attention.capture",
    "build_report": ".report",
}
_SUBMODULES = frozenset(
    [
        "attention",
        "attribution",
        "callbacks",
        "core",
        "datasets",
        "featureviz",
        "io",
        "metrics",
        "objectives",
        "plot",
        "report",
        "targets",
    ]  # fmt: skip
)

# ``nv.io`` (items, sinks, manifest, writer) stays out of ``__all__``: ``from keras_nnviz import
# *`` must not shadow the standard library's ``io`` in the caller's namespace.
__all__ = [
    "AmbiguousLayerError",
    "CAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientXInput",
    "GuidedBackprop",
    "IncompatibleLayerError",
    "IntegratedGradients",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidTargetError",
    "LayerCAM",
    "LayerNotFoundError",
    "LRP",
    "ManifestError",
    "ManifestWarning",
    "MethodWarning",
    "NNVizError",
    "NonFiniteWarning",
    "Occlusion",
    "Saliency",
    "ScoreCAM",
    "UnsupportedModelError",
    "__version__",
    "activation_stats",
    "architecture",
    "attention",
    "attention_rollout",
    "attribution",
    "build_report",
    "callbacks",
    "cam",
    "clear_cache",
    "conv_filters",
    "core",
    "datasets",
    "dead_units",
    "deconv_view",
    "explain",
    "export_projector",
    "featureviz",
    "find_layer",
    "get_activation",
    "get_activations",
    "get_attention",
    "get_channel",
    "get_neuron",
    "get_rnn_states",
    "get_weights",
    "grad_cam",
    "grad_cam_plus_plus",
    "gradient_flow",
    "gradient_x_input",
    "guided_backprop",
    "guided_view",
    "integrated_gradients",
    "last_spatial_layer",
    "layer_cam",
    "list_layers",
    "lrp",
    "maximize_activation",
    "metrics",
    "objectives",
    "occlusion",
    "patch_attention_map",
    "plot",
    "project",
    "report",
    "saliency",
    "score_cam",
    "targets",
    "top_examples",
    "weight_stats",
]


def __getattr__(name: str) -> Any:
    """Import ``name`` on first use (PEP 562) and keep it as a module attribute."""
    if name in _SUBMODULES:
        value = _importlib.import_module(f".{name}", __name__)
    elif name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"io"})


if TYPE_CHECKING:  # what static tools and IDEs read; at run time __getattr__ imports on use
    from . import (
        attention,
        attribution,
        callbacks,
        core,
        datasets,
        featureviz,
        metrics,
        objectives,
        plot,
        report,
        targets,
    )
    from . import io as io
    from .activations import (
        get_activation,
        get_activations,
        get_channel,
        get_neuron,
        get_rnn_states,
    )
    from .attention.capture import get_attention
    from .attention.maps import attention_rollout, patch_attention_map
    from .attribution.cam import (
        CAM,
        GradCAM,
        GradCAMPlusPlus,
        LayerCAM,
        cam,
        grad_cam,
        grad_cam_plus_plus,
        layer_cam,
    )
    from .attribution.gradients import GuidedBackprop, Saliency, guided_backprop, saliency
    from .attribution.integrated import (
        GradientXInput,
        IntegratedGradients,
        gradient_x_input,
        integrated_gradients,
    )
    from .attribution.lrp import LRP, lrp
    from .attribution.occlusion import Occlusion, occlusion
    from .attribution.registry import explain
    from .attribution.score_cam import ScoreCAM, score_cam
    from .core.architecture import architecture
    from .core.compiled import clear_cache
    from .core.graph import find_layer, last_spatial_layer, list_layers
    from .diagnostics import activation_stats, dead_units, gradient_flow
    from .errors import (
        AmbiguousLayerError,
        IncompatibleLayerError,
        InvalidArgumentError,
        InvalidInputError,
        InvalidTargetError,
        LayerNotFoundError,
        ManifestError,
        ManifestWarning,
        MethodWarning,
        NNVizError,
        NonFiniteWarning,
        UnsupportedModelError,
    )
    from .featureviz.examples import top_examples
    from .featureviz.optimize import maximize_activation
    from .featureviz.views import deconv_view, guided_view
    from .projection import export_projector, project
    from .report import build_report
    from .weights import conv_filters, get_weights, weight_stats
