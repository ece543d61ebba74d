"""Attribution: which input features a model's score depends on.

Gradient methods (:mod:`.gradients`, :mod:`.integrated`): saliency / SmoothGrad / VarGrad,
gradient × input, integrated gradients, guided backprop / deconvnet. Class activation maps
(:mod:`.cam`): CAM, Grad-CAM, Grad-CAM++, Layer-CAM, Score-CAM. Perturbation: occlusion.
Each exists as a function (``nv.grad_cam``) and as a class compiled once and reused
(``nv.GradCAM(model, layer=...)(x, target=...)``).
"""

from .api import gradient_x_input, guided_backprop, integrated_gradients, occlusion, saliency
from .cam import CAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM
from .cam_api import cam, grad_cam, grad_cam_plus_plus, layer_cam, score_cam
from .gradients import GuidedBackprop, Saliency, modified_backprop, relu_hooks
from .integrated import GradientXInput, IntegratedGradients
from .occlusion import Occlusion

__all__ = [
    "CAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientXInput",
    "GuidedBackprop",
    "IntegratedGradients",
    "LayerCAM",
    "Occlusion",
    "Saliency",
    "ScoreCAM",
    "cam",
    "grad_cam",
    "grad_cam_plus_plus",
    "gradient_x_input",
    "guided_backprop",
    "integrated_gradients",
    "layer_cam",
    "modified_backprop",
    "occlusion",
    "relu_hooks",
    "saliency",
    "score_cam",
]
