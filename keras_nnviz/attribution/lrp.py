"""Layer-wise relevance propagation (LRP) as gradient overrides inside the one compiled pass.

Relevance is read as gradient × input: every rule below changes only how the gradient crosses
a layer (forward values are exactly the model's), so that ``R = a * dscore/da`` at each layer's
input ``a`` is that rule's relevance (the formulation of zennit and LXT). One forward and one
backward pass, hooks through :func:`keras_nnviz.core.graph.forward` (the model is not changed).

Rules for the linear layers (``Dense``, ``EinsumDense``, ``Conv1D/2D/3D``), with ``z`` the
layer's pre-activation output:

- ``"epsilon"``: ``R_in = x * W^T (R_out / (z + eps * sign(z)))``; the bias absorbs its share,
  read in the same backward pass and reported as ``bias_relevance``.
- ``"zplus"``: positive weights only, bias ignored: ``R_in = x * W+^T (R_out / (W+ x))``
  (meant for non-negative inputs: the layers after a ReLU).
- ``"flat"``: ``R_in = W1^T (R_out / (W1 1))`` with ``W1`` all ones: relevance spread evenly
  over each output's receptive field (the first layer of a composite).

Every other nonlinearity is crossed by the identity rule ``R_in = R_out`` (elementwise
activations: fused, as layers, or called inside a layer's ``call`` through ``keras.activations``
/ ``keras.ops``; ``LayerNormalization`` and KerasHub's RMS/Layer norms: the normalisation is
treated as a constant scale, AttnLRP; a LayerNormalization's β is a bias). Linear operations
without weights (additions, pooling, reshapes, concatenation) conserve relevance under plain
gradient × input.
Softmax attention (every site ``keras_nnviz.attention.sites.find_sites`` knows: Keras
``MultiHeadAttention``, the KerasHub attention classes) is detached: its probabilities are
constants and relevance flows through the values only (CP-LRP, the attention part of AttnLRP).
Gates are detached the same way: a linear layer named ``*gate*`` or ``*router*`` (the gate
projection of a gated MLP such as Llama's, an MoE router) or Gemma's ``ffw_gating``, and the
activation of an MoE expert bank (Mixtral, Qwen-MoE), are constants, so ``up * act(gate)`` is
linear in ``up`` and relevance is not counted twice. GPT-OSS's expert GLU
``(up + 1) * gate * sigmoid(alpha * gate)`` multiplies two linear branches (the sigmoid is the
detached gate): AttnLRP's uniform rule gives each factor of ``up * gate`` half of its relevance,
and the ``1 * gate`` term's relevance goes to ``gate``.

At a token embedding (the default layer of a text model), a token's relevance is that of its
input embedding: token + position (+ segment) embeddings (``embedding="sum"``; read at each
embedding's output in the same backward pass, ``position_relevance`` says how much came from
position / segment embeddings); ``embedding="token"`` keeps the token embedding's share.

Composites (``rules=``): ``"epsilon_plus_flat"`` (zennit's EpsilonPlusFlat: epsilon on dense
layers, z+ on convolutions, flat on the first linear layer when relevance is read at the
model's input; with ``layer=`` every dense layer gets epsilon), ``"epsilon_plus"`` (the same
without flat), ``"epsilon"`` (epsilon everywhere; with ``epsilon`` -> 0 on a bias-free ReLU
network this is gradient × input), or a dict ``{layer path: rule}`` over a composite's choice.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..core.towers import embedding_companions
from ..errors import InvalidArgumentError
from . import _engine as E
from . import _maps as M
from ._quadrature import per_sample
from ._scoring import is_float
from .lrp_rules import (
    COMPOSITES,
    RULES,
    BiasProbes,
    elementwise_identity,
    lrp_hooks,
)
from .registry import Maps, method, run

__all__ = ["COMPOSITES", "lrp", "LRP", "LRPMaps", "lrp_hooks", "RULES"]


class LRP(E.Explainer):
    """Layer-wise relevance propagation (Bach et al. 2015; composites as zennit, attention as
    AttnLRP, Achtibat et al. 2024) in one forward and one backward pass (see
    :mod:`keras_nnviz.attribution.lrp`)."""

    method = "lrp"
    auxiliary_outputs = 3  # conservation error, bias relevance, position relevance

    def _options(
        self,
        *,
        rules: Any = "epsilon_plus_flat",
        epsilon: float = 1e-6,
        signed: bool = False,
        keep_channels: bool = False,
        embedding: str = "sum",
    ):
        if embedding not in ("sum", "token"):
            raise InvalidArgumentError(
                f"embedding must be 'sum' or 'token'; received {embedding!r}."
            )
        if isinstance(rules, str):
            if rules not in COMPOSITES:
                raise InvalidArgumentError(
                    f"rules must be one of {list(COMPOSITES)} or a dict {{layer path: rule}} "
                    f"with rules in {list(RULES)}; received {rules!r}."
                )
            key: Any = rules
        elif isinstance(rules, dict) and all(
            isinstance(k, str) and v in RULES for k, v in rules.items()
        ):
            for path in rules:
                graph.find_layer(self.model, path)
            key = tuple(sorted(rules.items()))
        else:
            raise InvalidArgumentError(
                f"rules must be one of {list(COMPOSITES)} or a dict {{layer path: rule}} with "
                f"rules in {list(RULES)}; received {rules!r}."
            )
        if (
            isinstance(epsilon, bool)
            or not isinstance(epsilon, int | float)
            or not (0 <= epsilon < 1)
        ):
            raise InvalidArgumentError(f"epsilon must be a float in [0, 1); received {epsilon!r}.")
        static = {
            "rules": key,
            "epsilon": float(epsilon),
            "signed": bool(signed),
            "keep_channels": bool(keep_channels),
            "embedding": embedding,
        }
        return static, {}

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        rules = opts["rules"] if isinstance(opts["rules"], str) else dict(opts["rules"])
        recorded: dict[int, tf.Tensor] = {}
        with (
            tf.GradientTape(watch_accessed_variables=False) as tape,
            elementwise_identity(opts["epsilon"]),
        ):
            probes = BiasProbes(tape.watch)
            hooks, first_flat = lrp_hooks(
                ctx.model, rules, opts["epsilon"], flat_first=self._layer is None, probes=probes
            )
            if self._layer is None:
                watched = [t for t in flat if is_float(t)]
                if not watched:  # the one "no float inputs" error
                    return self._scored_gradients(flat, indices, signs)
                tape.watch(watched)
                score, _, indices, signs = self.score(flat, indices, signs, outer=hooks)
            else:
                if opts["embedding"] == "sum":
                    for layer in embedding_companions(ctx.model, self.layer_path):
                        hook = functools.partial(_record_part, recorded, tape.watch)
                        hooks = graph.merge_hooks(hooks, {id(layer): (layer, hook)})
                score, act, indices, signs = self._activation(
                    flat, indices, signs, tape=tape, outer=hooks
                )
                watched = [act]
        parts = [p for p in recorded.values() if p.shape == watched[0].shape]
        grads = tape.gradient(score, [*watched, *parts, *probes.probes])
        n = len(watched) + len(parts)
        grads, part_grads, probe_grads = grads[: len(watched)], grads[len(watched) : n], grads[n:]
        score = tf.cast(score, tf.float32)
        values = [tf.cast(w, tf.float32) for w in watched]
        grads = [
            tf.zeros_like(v) if g is None else tf.cast(g, tf.float32) for g, v in zip(grads, values)
        ]
        as_is = first_flat is not None and self._layer is None
        relevance = [g if as_is else g * v for g, v in zip(grads, values)]
        position = tf.zeros_like(score)
        for g, p in zip(part_grads, parts):
            if g is not None:
                r = tf.cast(g, tf.float32) * tf.cast(p, tf.float32)
                relevance[0] = relevance[0] + r
                position = position + per_sample(tf.identity, [r])
        bias = probes.relevance(probe_grads)
        bias = tf.zeros_like(score) if bias is None else bias
        error = _conservation_error(relevance, score)
        layouts = self._layouts(flat)
        maps = []
        for r, cf in zip(relevance, layouts):
            m = r if opts["keep_channels"] else M.reduce_channels(r, "sum", cf)
            maps.append(M.finish(m, opts["signed"], opts["normalize"]))
        return [*maps, error, bias, position]

    def _assemble(self, maps, opts):
        aux = maps[-3:]
        out = super()._assemble(maps[:-3], opts)
        if isinstance(out, list):
            return [None if m is None else LRPMaps.wrap(m, *aux) for m in out]
        return LRPMaps.wrap(out, *aux)


def _record_part(parts: dict, watch, layer, call, args, kwargs):
    """Record (and watch) the first output of a position / segment embedding."""
    out = call(*args, **kwargs)
    if isinstance(out, tf.Tensor) and out.dtype.is_floating and id(layer) not in parts:
        watch(out)
        parts[id(layer)] = out
    return out


def _conservation_error(relevance: list[tf.Tensor], score: tf.Tensor) -> tf.Tensor:
    total = per_sample(tf.identity, relevance)
    return tf.abs(total - score) / tf.maximum(tf.abs(score), 1e-12)


class LRPMaps(np.ndarray):
    """LRP maps (a numpy array) and, per sample, where the score's relevance went.

    Attributes:
        conservation_error: ``(N,)`` ``|sum(relevance) - score| / |score|`` from the unnormalized
            relevance: what the map does not hold (biases, stabilizers, approximations).
        bias_relevance: ``(N,)`` the relevance the ε rule gave to biases (``Dense`` / ``Conv``
            biases, ``LayerNormalization``'s β): ``sum(relevance) + bias_relevance`` is the score
            up to the stabilizer and the rules' approximations.
        position_relevance: ``(N,)`` the part of ``sum(relevance)`` that came from position /
            segment embeddings added to the token embedding (``embedding="sum"``; 0 otherwise).

    Example:
        >>> maps = nv.lrp(model, x[:8])
        >>> maps.conservation_error.max()
    """

    conservation_error: np.ndarray
    bias_relevance: np.ndarray
    position_relevance: np.ndarray

    @classmethod
    def wrap(
        cls, maps: np.ndarray, error: np.ndarray, bias: np.ndarray, position: np.ndarray
    ) -> LRPMaps:
        out = np.asarray(maps).view(cls)
        out.conservation_error = np.asarray(error)
        out.bias_relevance = np.asarray(bias)
        out.position_relevance = np.asarray(position)
        return out

    def __array_finalize__(self, obj):
        for name in ("conservation_error", "bias_relevance", "position_relevance"):
            setattr(self, name, getattr(obj, name, None))


@method(LRP, kind="gradient", signed=True)
def lrp(
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
    rules: Any = "epsilon_plus_flat",
    epsilon: float = 1e-6,
    signed: bool = False,
    keep_channels: bool = False,
    embedding: str = "sum",
) -> Maps:
    """Layer-wise relevance propagation: the score redistributed layer by layer to the input.

    One forward and one backward pass with modified gradients (see
    :mod:`keras_nnviz.attribution.lrp` for the rules): CNN/MLP composites like zennit's and
    AttnLRP's treatment of softmax attention and normalisation layers. With ``normalize=False,
    signed=True`` the relevance sums to the score up to what biases and stabilizers absorb,
    reported per sample as ``.conservation_error``. With ``layer=``: relevance at that layer's
    output (per token at an embedding).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        rules: ``"epsilon_plus_flat"`` (default), ``"epsilon_plus"``, ``"epsilon"``, or a dict
            ``{layer path: "epsilon" | "zplus" | "flat"}`` overriding the default composite.
        epsilon: the stabilizer of the divisions (larger: less noisy, less conservative).
        signed: keep the sign (evidence for / against); default ``|.|``.
        keep_channels: per-channel relevance.
        embedding: at a token embedding, ``"sum"`` (default): each token's relevance is that of
            its input embedding, token + position (+ segment) embeddings, as the first block sees
            it (the position / segment part is in ``.position_relevance``); ``"token"``: the
            token embedding's share only.

    Returns:
        ``(N, *spatial)`` float32 maps as :class:`LRPMaps` (a numpy array) with
        ``.conservation_error`` per sample.

    Example:
        >>> maps = nv.lrp(model, x[:8], signed=True, normalize=False)
        >>> maps.conservation_error.max()
    """
    return run(LRP, locals())
