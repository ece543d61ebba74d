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
    **dict.fromkeys(["AblationCAM", "ablation_cam"], ".attribution.ablation_cam"),
    **dict.fromkeys(
        [
            "EigenCAM",
            "GuidedGradCAM",
            "HiResCAM",
            "XGradCAM",
            "eigen_cam",
            "guided_grad_cam",
            "hires_cam",
            "xgrad_cam",
        ],  # fmt: skip
        ".attribution.cam_variants",
    ),
    **dict.fromkeys(["GradientShap", "gradient_shap"], ".attribution.gradient_shap"),
    **dict.fromkeys(["NoiseTunnel", "noise_tunnel"], ".attribution.noise_tunnel"),
    **dict.fromkeys(
        ["GuidedBackprop", "Saliency", "guided_backprop", "saliency"], ".attribution.gradients"
    ),
    **dict.fromkeys(
        ["GradientXInput", "IntegratedGradients", "gradient_x_input", "integrated_gradients"],
        ".attribution.integrated",
    ),
    **dict.fromkeys(["LRP", "lrp"], ".attribution.lrp"),
    **dict.fromkeys(["Occlusion", "occlusion"], ".attribution.occlusion"),
    **dict.fromkeys(["KernelShap", "Lime", "kernel_shap", "lime"], ".attribution.shapley"),
    **dict.fromkeys(["Rise", "rise"], ".attribution.rise"),
    **dict.fromkeys(["SobolAttribution", "sobol_attribution"], ".attribution.sobol"),
    **dict.fromkeys(
        ["FeatureAblation", "FeaturePermutation", "feature_ablation", "feature_permutation"],
        ".attribution.ablation",
    ),
    **dict.fromkeys(["DeepLift", "DeepShap", "deep_shap", "deeplift"], ".attribution.deeplift"),
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
    "distribute": ".core.distribute",
    **dict.fromkeys(["activation_stats", "dead_units", "gradient_flow"], ".diagnostics"),
    "diagnose": ".diagnosis",
    **dict.fromkeys(["find_layer", "last_spatial_layer", "list_layers"], ".core.graph"),
    **dict.fromkeys(["export_projector", "project"], ".projection"),
    **dict.fromkeys(["conv_filters", "get_weights", "weight_stats"], ".weights"),
    **_ATTRIBUTION,
    **dict.fromkeys(["deconv_view", "guided_view"], ".featureviz.views"),
    "maximize_activation": ".featureviz.optimize",
    "top_examples": ".featureviz.examples",
    **dict.fromkeys(["attention_rollout", "patch_attention_map"], ".attention.maps"),
    "get_attention": ".attention.capture",
    "attention_stats": ".attention.stats",
    "build_report": ".report",
    **dict.fromkeys(["image_text_map", "text_image_attribution"], ".crossmodal"),
    **dict.fromkeys(["text_to_image_attention", "vlm_attribution"], ".vlm"),
    "audio_text_alignment": ".audio_text",
    "explore": ".report.explorer",
}
_SUBMODULES = frozenset(
    [
        "attention",
        "attribution",
        "audio_text",
        "callbacks",
        "core",
        "crossmodal",
        "datasets",
        "diagnosis",
        "featureviz",
        "io",
        "metrics",
        "objectives",
        "plot",
        "report",
        "targets",
        "vlm",
    ]  # fmt: skip
)

# ``nv.io`` (items, sinks, manifest, writer) stays out of ``__all__``: ``from keras_nnviz import
# *`` must not shadow the standard library's ``io`` in the caller's namespace.
__all__ = [
    "AblationCAM",
    "AmbiguousLayerError",
    "CAM",
    "DeepLift",
    "DeepShap",
    "DiagnosisWarning",
    "EigenCAM",
    "FeatureAblation",
    "FeaturePermutation",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientShap",
    "GradientXInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "HiResCAM",
    "IncompatibleLayerError",
    "IntegratedGradients",
    "InvalidArgumentError",
    "InvalidInputError",
    "InvalidTargetError",
    "KernelShap",
    "LRP",
    "LayerCAM",
    "LayerNotFoundError",
    "Lime",
    "ManifestError",
    "ManifestWarning",
    "MethodWarning",
    "NNVizError",
    "NoiseTunnel",
    "NonFiniteWarning",
    "Occlusion",
    "Rise",
    "Saliency",
    "ScoreCAM",
    "SobolAttribution",
    "UnsupportedModelError",
    "XGradCAM",
    "__version__",
    "ablation_cam",
    "activation_stats",
    "architecture",
    "attention",
    "attention_rollout",
    "attention_stats",
    "attribution",
    "audio_text",
    "audio_text_alignment",
    "build_report",
    "callbacks",
    "cam",
    "clear_cache",
    "conv_filters",
    "core",
    "crossmodal",
    "datasets",
    "dead_units",
    "deconv_view",
    "deep_shap",
    "deeplift",
    "diagnose",
    "diagnosis",
    "distribute",
    "eigen_cam",
    "explain",
    "explore",
    "export_projector",
    "feature_ablation",
    "feature_permutation",
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
    "gradient_shap",
    "gradient_x_input",
    "guided_backprop",
    "guided_grad_cam",
    "guided_view",
    "hires_cam",
    "image_text_map",
    "integrated_gradients",
    "kernel_shap",
    "last_spatial_layer",
    "layer_cam",
    "lime",
    "list_layers",
    "lrp",
    "maximize_activation",
    "metrics",
    "noise_tunnel",
    "objectives",
    "occlusion",
    "patch_attention_map",
    "plot",
    "project",
    "report",
    "rise",
    "saliency",
    "score_cam",
    "sobol_attribution",
    "targets",
    "text_image_attribution",
    "text_to_image_attention",
    "top_examples",
    "vlm",
    "vlm_attribution",
    "weight_stats",
    "xgrad_cam",
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
        audio_text,
        callbacks,
        core,
        crossmodal,
        datasets,
        diagnosis,
        featureviz,
        metrics,
        objectives,
        plot,
        report,
        targets,
        vlm,
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
    from .attention.stats import attention_stats
    from .attribution.ablation import (
        FeatureAblation,
        FeaturePermutation,
        feature_ablation,
        feature_permutation,
    )
    from .attribution.ablation_cam import AblationCAM, ablation_cam
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
    from .attribution.cam_variants import (
        EigenCAM,
        GuidedGradCAM,
        HiResCAM,
        XGradCAM,
        eigen_cam,
        guided_grad_cam,
        hires_cam,
        xgrad_cam,
    )
    from .attribution.deeplift import DeepLift, DeepShap, deep_shap, deeplift
    from .attribution.gradient_shap import GradientShap, gradient_shap
    from .attribution.gradients import GuidedBackprop, Saliency, guided_backprop, saliency
    from .attribution.integrated import (
        GradientXInput,
        IntegratedGradients,
        gradient_x_input,
        integrated_gradients,
    )
    from .attribution.lrp import LRP, lrp
    from .attribution.noise_tunnel import NoiseTunnel, noise_tunnel
    from .attribution.occlusion import Occlusion, occlusion
    from .attribution.registry import explain
    from .attribution.rise import Rise, rise
    from .attribution.score_cam import ScoreCAM, score_cam
    from .attribution.shapley import KernelShap, Lime, kernel_shap, lime
    from .attribution.sobol import SobolAttribution, sobol_attribution
    from .audio_text import audio_text_alignment
    from .core.architecture import architecture
    from .core.compiled import clear_cache
    from .core.distribute import distribute
    from .core.graph import find_layer, last_spatial_layer, list_layers
    from .crossmodal import image_text_map, text_image_attribution
    from .diagnosis import diagnose
    from .diagnostics import activation_stats, dead_units, gradient_flow
    from .errors import (
        AmbiguousLayerError,
        DiagnosisWarning,
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
    from .report.explorer import explore
    from .vlm import text_to_image_attention, vlm_attribution
    from .weights import conv_filters, get_weights, weight_stats
