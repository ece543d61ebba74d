"""An explanation ready to draw: what the post-hoc report's attribution section and
``nnviz gradcam`` show.

Below both :mod:`.posthoc` and :mod:`._sections` (each imports it; it imports neither), so the
report's modules import one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["View", "explain_view"]


@dataclass
class View:
    """An explanation ready to draw.

    Attributes:
        method: the attribution method used.
        layer: the layer it was taken at (None: the input).
        maps: ``(N, H, W)`` on the images of an image model (token maps of an image transformer
            already laid on the image), or ``(N, T)`` one score per token of a text model.
        kind: ``"image"``, ``"tokens"`` or ``"other"``.
        input: index in ``model.inputs`` of the input the maps lie on (0 for one input; the
            image of an image + tabular model).
    """

    method: str
    layer: str | None
    maps: np.ndarray
    kind: str
    input: int = 0


def explain_view(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    method: str | None = None,
    layer: str | None = None,
    output: int | str | None = None,
) -> View:
    """Explain ``x`` with a method that applies to the model, as the report and CLI show it.

    Without ``method`` the model decides (:func:`keras_nnviz.core.model.default_attribution`):
    Grad-CAM on the last 2-D layer of a CNN, Grad-CAM on the patch grid of an image transformer
    (laid on the image by :func:`keras_nnviz.patch_attention_map`), integrated gradients at the
    token embedding of a text model, saliency otherwise. A CAM method without ``layer`` uses the
    same layer choice.

    Args:
        model: a built Keras model.
        x: inputs (a list aligned to ``model.inputs`` for several).
        target: as for every attribution function (None: the predicted class).
        method: an attribution method name (``nv.attribution.names()``), or None.
        layer: the layer to explain at, or None for the default.
        output: the output to explain, for multi-output models.

    Returns:
        The :class:`View`.

    Example:
        >>> view = nv.report.explain_view(vit, images[:4])
        >>> view.method, view.layer, view.maps.shape
        ('grad_cam', 'vi_t_backbone/vit_patching_and_embedding', (4, 32, 32))
    """
    from .. import attention
    from ..attribution import explain, registry
    from ..core import model as M

    default_method, default_layer = M.default_attribution(model)
    if method is None:
        method, layer = default_method, layer if layer is not None else default_layer
    elif layer is None and registry.get(method).kind == "cam":
        # A CAM lives on a layer: the model's default one, if its default method has one.
        if registry.get(default_method).kind != "cam":
            raise InvalidArgumentError(
                f"{method} needs a layer with spatial or token axes and model {model.name!r} has "
                f"no default one; pass a layer, or use method={default_method!r}."
            )
        layer = default_layer
    elif (
        layer is None and M.token_input(model) is not None and registry.get(method).cls.takes_layer
    ):
        layer = M.embedding_layer(model)  # token ids have no gradient: their embedding does
    maps = explain(model, x, target, method=method, layer=layer, output=output, progress=False)
    index = 0
    if isinstance(maps, list):
        index = next(i for i, m in enumerate(maps) if m is not None)
        maps = maps[index]
    maps = np.asarray(maps)
    info = M.input_info(model)
    arrays = list(x.values()) if isinstance(x, dict) else x if isinstance(x, list | tuple) else [x]
    shown = np.asarray(arrays[min(index, len(arrays) - 1)])
    # A subclassed model has no symbolic inputs to classify, and an image + tabular model is
    # "multi": the array the maps lie on says whether they are drawn on an image.
    image = info.kind == "image" or (
        info.kind in ("multi", "unknown") and shown.ndim == 4 and shown.shape[-1] in (1, 3, 4)
    )
    if info.kind == "image" and maps.ndim == 2:  # token scores of an image transformer
        maps = attention.patch_attention_map(maps, shown.shape[1:3])
    if image and maps.ndim == 3:
        kind = "image"
    elif maps.ndim == 2 and (info.kind == "sequence" or M.is_text_model(model)):
        kind = "tokens"
    else:
        kind = "other"
    return View(method, layer, maps, kind, index)
