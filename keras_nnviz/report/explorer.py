"""Explain any sample on demand: ``nv.explore(model, x, y)`` and ``nnviz explore MODEL DATA``.

A local page (127.0.0.1 only, the loopback server of :mod:`keras_nnviz.localhost`) where the user
picks a sample, a target class (the top-k predictions shown with their probabilities), a method
and a layer, and gets the map computed then, through the same compiled pass every function uses
(:func:`keras_nnviz.report.views.explain_view`, as the post-hoc report and ``nnviz gradcam``
draw it). A second method can be shown side by side. Maps are cached per (sample, method,
target, layer); the first request of a method traces it once, later ones reuse the trace.

``GET /api/explain?sample=&method=&target=&layer=`` returns the map as JSON: the overlay as a PNG
data URL for an image model, one score per token for a text model, and the milliseconds it took.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import keras
import numpy as np

from .. import assets, validation
from .. import html as html_page
from ..errors import InvalidArgumentError, NNVizError
from ..localhost import HOST, LocalHandler, make_local_server
from ._context import ReportContext, as_arrays
from .views import explain_view

__all__ = ["Explorer", "explore"]

MAX_SAMPLES = 512  # the page lists this many samples at most (thumbnails travel inline)
CACHE = 256  # maps kept
MIN_SIDE = 192  # image maps are enlarged (nearest) to at least this many pixels a side


def _png(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _enlarged(rgb: np.ndarray) -> np.ndarray:
    k = max(1, int(np.ceil(MIN_SIDE / max(1, min(rgb.shape[:2])))))
    return np.repeat(np.repeat(rgb, k, axis=0), k, axis=1) if k > 1 else rgb


def _thumb(image: np.ndarray) -> str:
    from ..plot._base import as_display_image

    img, _ = as_display_image(image)
    img = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img[..., :3]
    return _png((np.clip(img, 0, 1) * 255).astype(np.uint8))


class Explorer:
    """A model, its samples and the maps asked for so far; :meth:`serve` puts it on a page.

    Args:
        model: a built Keras model (not changed).
        x: samples (numpy, a list for several inputs, or a ``tf.data.Dataset``); the first
            ``max_samples`` are offered.
        y: their true labels (class indices), shown beside the predictions.
        class_names: names of the classes.
        tokens: for a text model, the tokens of each sample (``(N, T)`` strings).
        max_samples: samples offered (at most 512).

    Example:
        >>> ex = nv.explore(model, x_test[:64], y_test[:64])   # prints the page's address
        >>> ex.explain(3, "grad_cam")["ms"]
        >>> ex.close()
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any = None,
        *,
        class_names: Sequence[str] | None = None,
        tokens: Any = None,
        max_samples: int = 128,
    ) -> None:
        from ..attribution import registry
        from ..core import graph

        max_samples = validation.positive_int("max_samples", max_samples)
        x = as_arrays(model, x, min(max_samples, MAX_SAMPLES))
        self.ctx = ReportContext(
            model, x, y, class_names, tokens, None, featureviz_steps=0, runs_model=True
        )
        if y is not None and len(np.asarray(y)) < self.ctx.n:
            raise InvalidArgumentError(
                f"y has {len(np.asarray(y))} labels for {self.ctx.n} samples; pass one per sample."
            )
        self.methods = registry.names()
        self.payload_layers = graph.list_layers(model)
        self._cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # one compute at a time: the page may ask for two at once
        self.server = None

    @property
    def n(self) -> int:
        """How many samples are offered."""
        return self.ctx.n

    def _sample(self, i: int) -> Any:
        x = self.ctx.x
        return [a[i : i + 1] for a in x] if isinstance(x, list) else x[i : i + 1]

    def explain(
        self,
        sample: int,
        method: str | None = None,
        target: int | None = None,
        layer: str | None = None,
    ) -> dict[str, Any]:
        """One sample's map, as the page shows it.

        Args:
            sample: index of the sample.
            method: a registered method (``nv.attribution.names()``); None: the model's default.
            target: the class to explain; None: the predicted class.
            layer: the layer to explain at; None: the method's default for this model.

        Returns:
            ``{"kind": "image" | "tokens" | "other", "png" (image: the map over the sample) or
            "scores" (tokens: one per token), "method", "layer", "target", "ms"}``.
        """
        sample = validation.index("sample", sample, self.n) % self.n
        if method is not None:
            validation.choice("method", method, self.methods)
        if layer is not None:
            validation.choice("layer", layer, self.payload_layers)
        key = (sample, method, target, layer)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return {**self._cache[key], "cached": True}
            start = time.perf_counter()
            view = explain_view(
                self.ctx.model, self._sample(sample), target, method=method, layer=layer
            )
            ms = (time.perf_counter() - start) * 1000
            result = self._render(view, sample)
            pred = self.ctx.pred
            result.update(
                method=view.method,
                layer=view.layer,
                target=int(pred[sample]) if target is None and pred is not None else target,
                ms=round(ms, 1),
                cached=False,
            )
            self._cache[key] = result
            while len(self._cache) > CACHE:
                self._cache.popitem(last=False)
            return result

    def _render(self, view: Any, sample: int) -> dict[str, Any]:
        from ..plot.overlay import overlay_rgb

        m = np.asarray(view.maps[0], dtype=np.float64)
        signed = bool(np.nanmin(m) < 0)
        if view.kind == "image":
            x = self.ctx.x
            image = (x[view.input] if isinstance(x, list) else x)[sample]
            # Signed maps are drawn as magnitudes over the image (the page says so).
            rgb = overlay_rgb(image, np.abs(m) if signed else m, alpha=0.55)
            return {"kind": "image", "png": _png(_enlarged((rgb * 255).astype(np.uint8))),
                    "signed": signed}  # fmt: skip
        if view.kind == "tokens":
            return {"kind": "tokens", "scores": [float(v) for v in m.reshape(-1)],
                    "signed": signed}  # fmt: skip
        return {"kind": "other", "scores": [float(v) for v in m.reshape(-1)[:4096]],
                "signed": signed}  # fmt: skip

    def payload(self, top_k: int = 5) -> dict[str, Any]:
        """What the page shows before any request: samples, predictions, methods, layers."""
        from ..attribution import registry
        from ..core.model import default_attribution

        ctx = self.ctx
        probs, pred = ctx.probs, ctx.pred
        names = list(ctx.class_names) if ctx.class_names is not None else None
        y = None if ctx.y is None else np.asarray(ctx.y)
        samples = []
        for i in range(ctx.n):
            s: dict[str, Any] = {"i": i}
            if ctx.is_image:
                first = ctx.x[0] if isinstance(ctx.x, list) else ctx.x
                s["thumb"] = _thumb(first[i])
            if ctx.tokens is not None:
                s["tokens"] = [str(t) for t in list(ctx.tokens[i])]
            if y is not None and y.ndim == 1:
                s["label"] = int(y[i])
            if probs is not None:
                order = np.argsort(-probs[i])[:top_k]
                s["top"] = [[int(k), float(probs[i][k])] for k in order]
                s["pred"] = int(pred[i])
            samples.append(s)
        method, layer = default_attribution(ctx.model)
        return {
            "samples": samples,
            "class_names": names,
            "methods": [
                {"name": n, "title": registry.get(n).title, "kind": registry.get(n).kind}
                for n in self.methods
            ],
            "default_method": method,
            "default_layer": layer,
            "layers": self.payload_layers,
            "model": ctx.model.name,
        }

    def page(self) -> str:
        """The explorer page (fetches maps from the server it is served by)."""
        from .. import __version__

        title = f"keras_nnviz explorer · {self.ctx.model.name}"
        body = (
            f"<h1>{html_page.esc(title)}</h1>"
            '<p class="nv-sub">Pick a sample, a class, a method and a layer: the map is computed '
            "now, through the compiled pass (the first map of a method traces it; later ones "
            f"take milliseconds). keras_nnviz {html_page.esc(__version__)}</p>"
            '<div id="nv-explore"></div>'
        )
        return html_page.document(
            title=title,
            css=assets.text("explore.css"),
            body=body,
            script=assets.text("explore.js"),
            data=self.payload(),
            connect_self=True,
        )

    def serve(self, port: int = 0) -> str:
        """Serve the page on 127.0.0.1 in a background thread; returns its address."""
        if self.server is None:
            self.server = make_local_server(_Handler, port, explorer=self)
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str | None:
        """The page's address while it is served."""
        return None if self.server is None else f"http://{HOST}:{self.server.server_port}/"

    def close(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Handler(LocalHandler):
    explorer: Explorer  # set by make_local_server

    def route(self, path: str, query: dict[str, str]) -> None:
        if path == "/":
            self.page(HTTPStatus.OK, self.explorer.page())
        elif path == "/api/explain":
            try:
                result = self.explorer.explain(
                    _int(query, "sample", 0),
                    query.get("method") or None,
                    _int(query, "target", None),
                    query.get("layer") or None,
                )
            except NNVizError as exc:  # a bad choice: say what works, as every function does
                self.json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
                return
            self.json(result)
        else:
            self.text(HTTPStatus.NOT_FOUND, "not found")


def _int(query: dict[str, str], name: str, default: int | None) -> int | None:
    value = query.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidArgumentError(f"{name} must be an integer; received {value!r}.") from None


def explore(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    class_names: Sequence[str] | None = None,
    tokens: Any = None,
    max_samples: int = 128,
    port: int = 0,
) -> Explorer:
    """Explore a model's explanations in the browser: any sample, class, method and layer.

    Starts a local server (127.0.0.1, a background thread) and prints its address; the page
    computes each map when asked (``GET /api/explain``), through the compiled pass.

    Args:
        model: a built Keras model (not changed).
        x: the samples to offer (numpy, a list for several inputs, or a ``tf.data.Dataset``).
        y: their true labels, shown beside the predictions.
        class_names: class names for the labels and the target list.
        tokens: for a text model, the tokens of each sample.
        max_samples: samples offered (the first ones; at most 512).
        port: the port (0: a free one).

    Returns:
        The :class:`Explorer` (``.url``, ``.explain(...)``, ``.close()``).

    Example:
        >>> ex = nv.explore(model, x_test[:64], y_test[:64], class_names=names)
        nnviz explore: http://127.0.0.1:51234/
    """
    explorer = Explorer(
        model, x, y, class_names=class_names, tokens=tokens, max_samples=max_samples
    )
    print(f"nnviz explore: {explorer.serve(port)}")
    return explorer
