"""The noise tunnel (Captum's ``NoiseTunnel``): any gradient method averaged over noisy copies of
the input — SmoothGrad (Smilkov et al. 2017), SmoothGrad² and VarGrad (Adebayo et al. 2018).

The wrapped method's own ``compute`` runs inside the noise tunnel's compiled pass on chunks of
noisy copies (the library's noise, :func:`keras_nnviz.attribution._sampling.add_noise`, as
SmoothGrad uses), so one trace covers every chunk; its maps are averaged unnormalized, then
normalized once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import IncompatibleLayerError, InvalidArgumentError
from . import _engine as E
from . import _maps as M
from . import _sampling as S
from . import registry
from .gradient_shap import check_stdev, random_seed
from .gradients import fold, tile
from .registry import Maps, method, run

__all__ = ["NT_TYPES", "noise_tunnel", "NoiseTunnel"]

NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _tunnelled(attribution: Any) -> registry.Method:
    """The registered gradient method named (or given as a function) by ``attribution``."""
    name = attribution if isinstance(attribution, str) else getattr(attribution, "__name__", None)
    found = registry.METHODS.get(name) if isinstance(name, str) else None
    usable = [
        m.name
        for m in registry.METHODS.values()
        if m.kind == "gradient" and getattr(m.cls, "noise_tunnel", True)
    ]
    if found is None or found.name not in usable:
        raise InvalidArgumentError(
            f"attribution must be a gradient method the noise tunnel can wrap, by name or "
            f"function ({', '.join(usable)}); received {attribution!r}."
        )
    return found


def _per_sample(spec: Any, extra: Any, n: tf.Tensor, m: tf.Tensor) -> Any:
    """The wrapped method's extra tensor for ``m`` tiled copies: per-sample tensors (a free
    batch axis) are broadcast to ``n`` rows and tiled; scalars and seeds stay."""
    if not tf.is_tensor(extra) or extra.shape.rank is None or extra.shape.rank == 0:
        return extra
    per_sample = (
        spec.shape.rank is not None and spec.shape.rank > 0 and spec.shape[0] is None
        if isinstance(spec, tf.TensorSpec)
        else extra.shape.rank >= 2
    )
    if not per_sample:
        return extra
    full = tf.broadcast_to(extra, tf.concat([[n], tf.shape(extra)[1:]], 0))
    return tile(full, m)


class NoiseTunnel(E.Explainer):
    """The noise tunnel over a registered gradient method (see :func:`noise_tunnel`)."""

    method = "noise_tunnel"
    heavy = True
    noise_tunnel = False  # not around itself

    def _inner(self, name: str) -> E.Explainer:
        return E.cached(registry.get(name).cls, self.model, self.layer_path)

    def _options(
        self,
        *,
        attribution: str | Callable = "saliency",
        attribution_options: dict | None = None,
        nt_type: str = "smoothgrad",
        samples: int = 8,
        stdev: float = 0.1,
        seed: int | None = None,
        sampling: str = "simplex",
    ):
        wrapped = _tunnelled(attribution)
        if nt_type not in NT_TYPES:
            raise InvalidArgumentError(
                f"nt_type must be one of {list(NT_TYPES)}; received {nt_type!r}."
            )
        samples = M.check_positive_int("samples", samples, minimum=2 if nt_type == "vargrad" else 1)
        S.check_sampling(sampling)
        if attribution_options is not None and not isinstance(attribution_options, dict):
            raise InvalidArgumentError(
                f"attribution_options must be a dict of {wrapped.name}'s own options; received "
                f"{attribution_options!r}."
            )
        inner_options = dict(attribution_options or {})
        E.check_options(wrapped.cls, inner_options)
        inner_static, inner_dynamic = self._inner(wrapped.name)._options(**inner_options)
        signed = nt_type == "smoothgrad" and (
            inner_static.get("signed", False) or inner_static.get("keep_channels", False)
        )
        static = {
            "attribution": wrapped.name,
            "inner": tuple(sorted(inner_static.items())),
            "nt_type": nt_type,
            "sampling": sampling,
            "signed": bool(signed),
        }
        dynamic = {
            "inner": inner_dynamic,
            "samples": samples,
            "stdev": check_stdev(stdev),
            "seed": random_seed(seed),
        }
        return static, dynamic

    def _extra_signature(self, opts):
        scalar = tf.TensorSpec((), tf.int32)
        inner = self._inner(opts["attribution"])._extra_signature(dict(opts["inner"]))
        own = (scalar, scalar, tf.TensorSpec((), tf.float32), tf.TensorSpec((2,), tf.int32))
        return (*own, inner)

    def _extras(self, batch, opts, dynamic, start, size):
        inner_dynamic = {**dynamic["inner"], "batch_size": dynamic["batch_size"]}
        inner = self._inner(opts["attribution"])
        return (
            tf.constant(dynamic["samples"], tf.int32),
            tf.constant(max(1, dynamic["batch_size"] // size), tf.int32),
            tf.constant(dynamic["stdev"], tf.float32),
            tf.constant([dynamic["seed"], start], tf.int32),
            inner._extras(batch, dict(opts["inner"]), inner_dynamic, start, size),
        )

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        samples, chunk, stdev, seed, inner_extras = ctx.extras
        flat, opts = ctx.inputs, ctx.options
        wrapped = registry.get(opts["attribution"])
        noised = [(i, t) for i, t in enumerate(flat) if E.is_float(t)]
        if not noised:
            raise IncompatibleLayerError(
                f"The noise tunnel adds noise to the float inputs, and model "
                f"{ctx.model.name!r} has none (token ids). Use nv.saliency(..., "
                "smooth_samples=n), which adds its noise to the embedding output."
            )
        # The class is fixed on the clean inputs: the wrapped method then scores that class.
        indices, signs = ctx.indices, ctx.signs
        spec = self._spec
        if spec.mode == "predicted":
            _, _, indices, signs = self.score(flat, indices, signs)
            spec = dataclasses.replace(spec, mode="index")
        inner = wrapped.cls._tracer(ctx.model, self.layer_path, spec, self._params)
        inner_opts = {**dict(opts["inner"]), "normalize": False}
        inner_sig = inner._extra_signature(dict(opts["inner"]))
        seeds, sums = S.noise_plan(noised, samples, seed, opts["sampling"])
        n = tf.shape(indices)[0]

        def maps_of(start, stop):
            m = stop - start
            tiled = [tile(t, m) for t in flat]
            tiled = [
                S.add_noise(t, start, stop, seeds[i], opts["sampling"], samples, stdev, sums.get(i))
                if E.is_float(t)
                else t
                for i, t in enumerate(tiled)
            ]
            extras = tf.nest.map_structure(
                lambda s, e: _per_sample(s, e, n, m), inner_sig, inner_extras
            )
            sub = E.ComputeContext(
                ctx.model, tiled, tf.tile(indices, [m]), tf.tile(signs, [m]), extras, inner_opts
            )
            maps = inner.compute(sub)
            maps = maps[: len(maps) - wrapped.cls.auxiliary_outputs]
            return [fold(x, m) for x in maps] + [fold(tf.square(x), m) for x in maps]

        # The first chunk gives the loop's shapes; the rest run in a while_loop.
        first = tf.minimum(chunk, samples)
        init = maps_of(tf.constant(0), first)

        def body(start, stop, acc):
            return tuple(a + s for a, s in zip(acc, maps_of(start + first, stop + first)))

        acc = M.chunked_loop(samples - first, chunk, body, tuple(init))
        half = len(acc) // 2
        count = tf.cast(samples, tf.float32)
        means = [a / count for a in acc[:half]]
        squares = [a / count for a in acc[half:]]
        if opts["nt_type"] == "smoothgrad":
            result = means
        elif opts["nt_type"] == "smoothgrad_sq":
            result = squares
        else:
            result = [tf.nn.relu(s - tf.square(mu)) for s, mu in zip(squares, means)]
        if not opts["normalize"]:
            return result
        return [M.normalize_maps(r, signed=opts["signed"]) for r in result]


@method(NoiseTunnel, kind="gradient", signed=True, title="Noise tunnel")
def noise_tunnel(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    layer: graph.LayerRef | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    negative: bool = False,
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    attribution: str | Callable = "saliency",
    attribution_options: dict | None = None,
    nt_type: str = "smoothgrad",
    samples: int = 8,
    stdev: float = 0.1,
    seed: int | None = None,
    sampling: str = "simplex",
) -> Maps:
    """Any gradient method over ``samples`` noisy copies of the input: their mean
    (``"smoothgrad"``), mean square (``"smoothgrad_sq"``) or variance (``"vargrad"``).

    The wrapped method runs with its own options and ``normalize=False`` on each noisy copy,
    inside this method's one compiled pass; the explained class is fixed on the clean input.
    ``noise_tunnel(model, x, attribution="saliency")`` averages ``|gradient|`` maps (Captum's
    ``NoiseTunnel(Saliency)``), where ``nv.saliency(model, x, smooth_samples=n)`` takes
    ``|mean gradient|``; for signed per-feature SmoothGrad pass
    ``attribution_options={"keep_channels": True}``. Noise is added to the float inputs
    (with ``layer=``, the wrapped method still attributes to that layer's output).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        attribution: the wrapped gradient method, by name (``"integrated_gradients"``) or
            function (``nv.deeplift``); not ``gradient_shap``, which draws noise itself.
            (Captum's ``attribution_method``; the name ``method=`` belongs to
            :func:`~keras_nnviz.attribution.registry.explain`.)
        attribution_options: the wrapped method's own options (``{"steps": 16}``).
        nt_type: ``"smoothgrad"``, ``"smoothgrad_sq"`` or ``"vargrad"`` (Captum's names).
        samples: noisy copies per sample (``vargrad``: at least 2).
        stdev: noise standard deviation as a fraction of each sample's value range
            (``max - min``), as ``nv.saliency``'s ``noise=`` (Captum's ``stdevs`` is absolute).
        seed: noise seed (None: a fresh one each call).
        sampling: how the copies are drawn, as for ``nv.saliency``: ``"simplex"`` (default),
            ``"antithetic"``, ``"sobol"``, ``"antithetic_sobol"`` or ``"iid"``.

    Returns:
        Maps shaped as the wrapped method's.

    Example:
        >>> maps = nv.noise_tunnel(model, x[:8], attribution="integrated_gradients",
        ...                        attribution_options={"steps": 8}, samples=8, seed=0)
    """
    return run(NoiseTunnel, locals())
