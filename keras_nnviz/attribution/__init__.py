"""Attribution: which input features (or which positions of a layer's output) a score depends on.

Gradient methods (:mod:`.gradients`, :mod:`.integrated`): saliency / SmoothGrad / VarGrad,
gradient × input, integrated gradients, guided backprop / deconvnet; with ``layer=`` they
attribute to that layer's output (per-token scores at an embedding). Class activation maps
(:mod:`.cam`): CAM, Grad-CAM, Grad-CAM++, Layer-CAM, Score-CAM; HiRes-CAM, XGrad-CAM,
Eigen-CAM, Guided Grad-CAM (:mod:`.cam_variants`), Ablation-CAM. Reference-based: DeepLIFT,
DeepSHAP (:mod:`.deeplift`), GradientSHAP; the noise tunnel wraps any gradient method.
Perturbation: occlusion (:mod:`.occlusion`); KernelSHAP and LIME (:mod:`.shapley`), RISE
(:mod:`.rise`), feature ablation and permutation (:mod:`.ablation`), Sobol attribution
(:mod:`.sobol`) over the feature groups of :mod:`.features`.
Any target (:mod:`keras_nnviz.core.targets`) works, objectives included: every method can explain a
unit of any layer.

Each method exists as a function (``nv.grad_cam``), registered in :mod:`.registry` (which
documents the arguments they share and the shape of results), and as a class compiled once and
reused (``nv.GradCAM(model, layer=...)(x, target=...)``); :func:`explain` runs any of them by
name. A new method subclasses :class:`Explainer` and overrides its ``compute(ctx)``, which takes
one :class:`ComputeContext` (see :class:`Explainer`).
"""

# Importing each method's module registers its methods. ``cam`` and ``occlusion`` name both a
# module and its function: the package attribute is the function (nv.attribution.cam(...)).
from . import features
from ._engine import ComputeContext, Explainer
from .ablation import FeatureAblation, FeaturePermutation, feature_ablation, feature_permutation
from .ablation_cam import AblationCAM, ablation_cam
from .cam import (
    CAM,
    GradCAM,
    GradCAMPlusPlus,
    LayerCAM,
    cam,
    grad_cam,
    grad_cam_plus_plus,
    layer_cam,
)
from .cam_variants import (
    EigenCAM,
    GuidedGradCAM,
    HiResCAM,
    XGradCAM,
    eigen_cam,
    guided_grad_cam,
    hires_cam,
    xgrad_cam,
)
from .deeplift import DeepLift, DeepShap, deep_shap, deeplift
from .gradient_shap import GradientShap, gradient_shap
from .gradients import (
    GuidedBackprop,
    Saliency,
    guided_backprop,
    modified_backprop,
    relu_hooks,
    saliency,
)
from .integrated import GradientXInput, IntegratedGradients, gradient_x_input, integrated_gradients
from .lrp import LRP, lrp
from .noise_tunnel import NoiseTunnel, noise_tunnel
from .occlusion import Occlusion, occlusion
from .registry import METHODS, explain
from .rise import Rise, rise
from .score_cam import ScoreCAM, score_cam
from .shapley import KernelShap, Lime, kernel_shap, lime
from .sobol import SobolAttribution, sobol_attribution

# Literal, so static tools see every name; tests/test_packaging.py checks it covers the registry.
__all__ = [
    "ablation_cam",
    "AblationCAM",
    "CAM",
    "cam",
    "ComputeContext",
    "deep_shap",
    "deeplift",
    "DeepLift",
    "DeepShap",
    "eigen_cam",
    "EigenCAM",
    "explain",
    "Explainer",
    "feature_ablation",
    "feature_permutation",
    "FeatureAblation",
    "FeaturePermutation",
    "features",
    "grad_cam",
    "grad_cam_plus_plus",
    "GradCAM",
    "GradCAMPlusPlus",
    "gradient_shap",
    "gradient_x_input",
    "GradientShap",
    "GradientXInput",
    "guided_backprop",
    "guided_grad_cam",
    "GuidedBackprop",
    "GuidedGradCAM",
    "hires_cam",
    "HiResCAM",
    "integrated_gradients",
    "IntegratedGradients",
    "kernel_shap",
    "KernelShap",
    "layer_cam",
    "LayerCAM",
    "lime",
    "Lime",
    "lrp",
    "LRP",
    "METHODS",
    "modified_backprop",
    "noise_tunnel",
    "NoiseTunnel",
    "occlusion",
    "Occlusion",
    "relu_hooks",
    "Rise",
    "rise",
    "saliency",
    "Saliency",
    "score_cam",
    "ScoreCAM",
    "sobol_attribution",
    "SobolAttribution",
    "xgrad_cam",
    "XGradCAM",
]
