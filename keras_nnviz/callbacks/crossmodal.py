"""Image-text alignment during training: where each fixed image matches its text, per snapshot."""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from ..attribution import registry
from ..crossmodal import image_text_map
from ..errors import InvalidArgumentError, InvalidInputError
from ..io import ImageItem
from . import _frames
from ._base import VisualizationCallback

__all__ = [
    "ImageTextMaps",
]

#: The callback's default method is image_text_map's (a CAM at the image tower).
DEFAULT_METHOD: str = inspect.signature(image_text_map).parameters["method"].default


class ImageTextMaps(VisualizationCallback):
    """Watch the image-text alignment form: each fixed image's map for its text, every snapshot.

    Calls :func:`keras_nnviz.image_text_map` (Grad-CAM at the image tower by default, or any
    attribution method; one compiled pass per model, reused every epoch) on fixed (image, text)
    pairs and writes one frame per snapshot (tag ``maps``): each image beside its map over it,
    captioned with its text, on one shared scale. At train end a figure of the final maps with
    the texts as titles (``summary``). Early in fine-tuning the maps are diffuse or on the wrong
    object; as the towers align they settle on the region the text names.

    Args:
        log_dir: output folder.
        images: ``(N, H, W, C)`` images (at most ``max_samples`` are used).
        texts: ``(N, T)`` token ids, text ``i`` paired with image ``i``.
        captions: the texts as strings (one per pair), written under each map; default the
            token ids.
        method: an attribution method (``"grad_cam"``, ``"saliency"``,
            ``"integrated_gradients"`` ...), as for :func:`keras_nnviz.image_text_map`.
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        max_samples: pairs shown.
        name: folder name (default ``image_text_maps``).
        **options: :func:`keras_nnviz.image_text_map`'s options (``layer=``, ``score=``,
            ``pad_id=``, ``steps=`` ...) and those of :class:`VisualizationCallback`
            (``sinks``, ``on_error``, ``initial`` ...); an unknown keyword fails at construction.

    Example:
        >>> cb = nv.callbacks.ImageTextMaps(
        ...     "logs", images=val_images[:4], texts=val_ids[:4], captions=val_captions[:4]
        ... )
        >>> model.fit(pairs, labels, epochs=5, callbacks=[cb])
    """

    folder = "image_text_maps"
    title = "Image-text maps"
    shared_inputs = (*VisualizationCallback.shared_inputs, "images", "texts", "captions")
    #: Set by the callback itself, not options.
    _RESERVED = ("model", "images", "texts", "method", "progress", "batch_size")

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        images: Any,
        texts: Any,
        captions: Any = None,
        method: str = DEFAULT_METHOD,
        every: int | str = "auto",
        max_samples: int = 8,
        name: str | None = None,
        **options: Any,
    ):
        base = {k: options.pop(k) for k in VisualizationCallback.option_names({}) if k in options}
        super().__init__(log_dir, every=every, name=name, **base)
        registry.get(method)  # an unknown name lists the methods, at construction
        self.images = images
        self.texts = texts
        self.captions = captions
        self.method = method
        self.max_samples = int(max_samples)
        self.options = options

    @classmethod
    def option_names(cls, given):
        params = inspect.signature(image_text_map).parameters
        own = [p for p in params if p not in cls._RESERVED and p != "options"]
        method = registry.get(given.get("method", DEFAULT_METHOD)).function
        extra = inspect.signature(method).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in extra):
            return None  # the method takes options it does not list: it checks them itself
        return [*super().option_names(given), *own, *(p.name for p in extra)]

    def manifest_params(self):
        scalars = (int, float, str, bool)
        # The texts in words (the frames draw them too): the report's facts list them.
        params = {"method": self.method, "pairs": self._n, "texts": " · ".join(self._captions)}
        params.update({k: v for k, v in self.options.items() if isinstance(v, scalars)})
        return params

    def validate(self, model):
        n = self.max_samples
        images, texts = np.asarray(self.images)[:n], np.asarray(self.texts)[:n]
        if len(images) == 0:
            raise InvalidInputError("ImageTextMaps needs at least one (image, text) pair.")
        self._images, self._texts, self._n = images, texts, len(images)
        self._captions = self._caption_list()
        self._last: np.ndarray | None = None
        # The first compute (at train begin) checks the model, the pairs and the method, and
        # traces the one compiled pass.

    def _caption_list(self) -> list[str]:
        if self.captions is None:
            return [f"#{i} " + " ".join(str(t) for t in row) for i, row in enumerate(self._texts)]
        captions = [str(c) for c in list(self.captions)[: self._n]]
        if len(captions) != self._n:
            raise InvalidArgumentError(
                f"captions holds {len(captions)} strings for {self._n} (image, text) pairs; "
                "pass one caption per pair."
            )
        return captions

    def compute(self, model):
        return image_text_map(
            model,
            self._images,
            self._texts,
            method=self.method,
            batch_size=self._n,
            progress=False,
            **self.options,
        )

    def render(self, result, when):
        self._last = result
        pixels = _frames.attribution_frame(
            list(self._images),
            result,
            f"{self.name} · {when.label}",
            [f"“{c}”" for c in self._captions],
            self.method,
        )
        yield ImageItem(
            "maps",
            pixels=pixels,
            caption=f"{self.method}: where each image matches its text ({self._n} pairs) · "
            f"{when.label}",
        )

    def summarize(self):
        if self._last is None:
            return
        from ..plot import image_text_maps, to_png

        fig = image_text_maps(
            self._images, self._last, self._captions, title="Image-text maps, end of training"
        )
        yield ImageItem(
            "summary",
            png=to_png(fig, dpi=80),
            caption="each image's map for its text at the end of training",
            kind="summary",
        )
