"""Attribution: which input features (or which positions of a layer's output) a score depends on.

Gradient methods (:mod:`.gradients`, :mod:`.integrated`): saliency / SmoothGrad / VarGrad,
gradient × input, integrated gradients, guided backprop / deconvnet; with ``layer=`` they
attribute to that layer's output (per-token scores at an embedding). Class activation maps
(:mod:`.cam`): CAM, Grad-CAM, Grad-CAM++, Layer-CAM, Score-CAM. Perturbation: occlusion.
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
from ._engine import ComputeContext, Explainer
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
from .occlusion import Occlusion, occlusion
from .registry import METHODS, explain
from .score_cam import ScoreCAM, score_cam

# Literal, so static tools see every name; tests/test_packaging.py checks it covers the registry.
__all__ = [
    "CAM",
    "METHODS",
    "ComputeContext",
    "Explainer",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientXInput",
    "GuidedBackprop",
    "IntegratedGradients",
    "LayerCAM",
    "LRP",
    "Occlusion",
    "Saliency",
    "ScoreCAM",
    "cam",
    "explain",
    "grad_cam",
    "grad_cam_plus_plus",
    "gradient_x_input",
    "guided_backprop",
    "integrated_gradients",
    "layer_cam",
    "lrp",
    "modified_backprop",
    "occlusion",
    "relu_hooks",
    "saliency",
    "score_cam",
]
