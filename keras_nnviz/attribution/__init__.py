"""Attribution: which input features (or which positions of a layer's output) a score depends on.

Gradient methods (:mod:`.gradients`, :mod:`.integrated`): saliency / SmoothGrad / VarGrad,
gradient × input, integrated gradients, guided backprop / deconvnet; with ``layer=`` they
attribute to that layer's output (per-token scores at an embedding). Class activation maps
(:mod:`.cam`): CAM, Grad-CAM, Grad-CAM++, Layer-CAM, Score-CAM. Perturbation: occlusion.
Any target (:mod:`keras_nnviz.targets`) works, objectives included: every method can explain a
unit of any layer.

Each method exists as a function (``nv.grad_cam``), registered in :mod:`.registry` (which
documents the arguments they share and the shape of results), and as a class compiled once and
reused (``nv.GradCAM(model, layer=...)(x, target=...)``); :func:`explain` runs any of them by
name. A new method subclasses :class:`Explainer` and overrides its ``compute(ctx)``, which takes
one :class:`ComputeContext` (see :class:`Explainer`).
"""

from . import cam, gradients, integrated, occlusion  # noqa: F401 (each registers its methods)
from ._engine import ComputeContext, Explainer  # noqa: F401 (in __all__: the extension point)
from .gradients import modified_backprop, relu_hooks  # noqa: F401 (in __all__)
from .registry import METHODS, explain  # noqa: F401 (in __all__)

# The functions and classes come from the registry: adding a method touches its module only.
globals().update({m.name: m.function for m in METHODS.values()})
globals().update({m.cls.__name__: m.cls for m in METHODS.values()})

__all__ = sorted(
    [m.name for m in METHODS.values()]
    + [m.cls.__name__ for m in METHODS.values()]
    + ["METHODS", "ComputeContext", "Explainer", "explain", "modified_backprop", "relu_hooks"]
)
