"""Activation maximization: optimize images so that objectives grow, in one compiled step.

One compiled pass (:mod:`keras_nnviz.core.compiled`) does a whole optimization step: render the
parameterized images, apply the random transforms, run the model with
:func:`keras_nnviz.core.graph.forward` hooks recording the layers the objectives read, score every
image, take the gradient with respect to the parameters and apply the optimizer. It is built
once per (model, objective structure, image shape, settings) and reused for every step and
every later call with the same structure: channel indices, positions, vectors and weights are
tensors fed to the step, so visualizing channel 5 after channel 3 does not retrace.
"""

from __future__ import annotations

import functools
import json
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat
from .. import objectives as objectives_mod
from ..attribution.relu_rules import rule_hooks
from ..core import graph
from ..core.compiled import CompiledPass, cached_passes, compiled_pass
from ..errors import InvalidArgumentError, UnsupportedModelError
from . import transforms as tfm
from .param import PARAMS, ImageParam

__all__ = [
    "check_range",
    "compiled_steps",
    "Maximization",
    "maximize_activation",
    "model_input",
    "objective_scores",
    "positive_int",
]


@dataclass(frozen=True)
class Maximization:
    """Result of :func:`maximize_activation` (the same shape of result whatever the options).

    Attributes:
        images: ``(K * n, H, W, C)`` the optimized images in [0, 1], objective by objective.
        objective: ``(steps, K * n)`` every image's objective value at every step (measured
            on the transformed image the step optimized).
        frames: ``(F, K * n, H, W, C)`` snapshots of the images in [0, 1] for a GIF
            (:func:`keras_nnviz.plot.save_gif`); ``F == 0`` unless ``history=True``.
        frame_steps: ``(F,)`` the step after which each frame was taken (0 = the start).
        param: the image parameters at the end (Fourier coefficients or pixels before the
            sigmoid): pass the result as ``init=`` to continue from these images.
    """

    images: np.ndarray
    objective: np.ndarray
    frames: np.ndarray
    frame_steps: np.ndarray
    param: np.ndarray | None = None


@dataclass(frozen=True)
class _ModelInput:
    model_hw: tuple[int | None, int | None]
    channels: int
    dtype: tf.DType


def model_input(model: keras.Model) -> _ModelInput:
    inputs = getattr(model, "inputs", None)
    if not isinstance(model, keras.Model) or _compat.functional_graph(model) is None or not inputs:
        graph.walk(model)  # raises the foundation's error for non-Keras or unbuilt models
        raise UnsupportedModelError(
            f"maximize_activation needs a Functional or Sequential model with a known input; "
            f"{model.name!r} ({type(model).__name__}) has none. Wrap it: "
            "inp = keras.Input((H, W, C)); keras.Model(inp, model(inp))."
        )
    if len(inputs) != 1:
        raise UnsupportedModelError(
            f"maximize_activation optimizes the image of a single-input model; model "
            f"{model.name!r} has {len(inputs)} inputs. Build a single-input model around the "
            "image branch (fix the other inputs inside it)."
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] is None:
        raise UnsupportedModelError(
            f"maximize_activation needs an image input (batch, height, width, channels); model "
            f"{model.name!r} takes shape {shape}."
        )
    dtype = tf.as_dtype(keras.backend.standardize_dtype(inputs[0].dtype))
    if not dtype.is_floating:
        raise UnsupportedModelError(
            f"Model {model.name!r} takes {dtype.name} input; images must be floating point."
        )
    return _ModelInput((shape[1], shape[2]), int(shape[3]), dtype)


def _size(size: Any, model_hw: tuple) -> tuple[int, int]:
    if size is None:
        if None in model_hw:
            raise InvalidArgumentError(
                f"The model accepts any image size {model_hw}; pass size=(height, width)."
            )
        return int(model_hw[0]), int(model_hw[1])
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    h, w = tfm.pair(size, int, f"size must be an int or (height, width); received {size!r}.")
    if h < 2 or w < 2:
        raise InvalidArgumentError(f"size must be at least 2×2; received {(h, w)}.")
    return h, w


def _optimizer_config(optimizer: Any) -> tuple[type, dict]:
    if optimizer is None:
        return keras.optimizers.Adam, {"learning_rate": 0.05}
    if isinstance(optimizer, str):
        try:
            optimizer = keras.optimizers.get(optimizer)
        except ValueError:
            raise InvalidArgumentError(
                f"Unknown optimizer {optimizer!r}; pass a keras optimizer or a name such as 'adam'."
            ) from None
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise InvalidArgumentError(
            f"optimizer must be a keras.optimizers.Optimizer, its name or None; received "
            f"{type(optimizer).__name__}."
        )
    # A fresh copy is made from the config: the caller's optimizer state is never touched.
    return type(optimizer), optimizer.get_config()


_SEED = tf.TensorSpec([], tf.int32)
_STEP = tf.TensorSpec([], tf.int32)
_KIND = "maximize_activation"


class _Session:
    """The state of one optimization setting: image parameters, optimizer, settings.

    Its compiled passes (:mod:`keras_nnviz.core.compiled`) live in the core registry, keyed by
    ``(_KIND, key, variant)``: ``"render"`` (seed in, images out), built with the session, and
    the step variants ``"plain"`` / ``"redirect"``, built on first use. Each pass's body holds
    the session, so the registry keeps it as long as the model lives (``nv.clear_cache``
    forgets it).
    """

    def __init__(self, key: tuple, plan, settings: dict, transforms: list[tfm.Transform], opt):
        self.key = key
        self.plan = plan
        self.settings = settings
        self.transforms = transforms
        n = len(plan.objectives) * settings["n"]
        self.param = ImageParam(
            n,
            settings["size"],
            settings["channels"],
            kind=settings["param"],
            decorrelate=settings["decorrelate"],
            decay_power=settings["decay_power"],
        )
        opt_cls, opt_config = opt
        self.optimizer = opt_cls.from_config(opt_config)
        self.optimizer.build([self.param.variable])
        self._optimizer_start = [np.array(v.numpy()) for v in self.optimizer.variables]
        self._args = [
            _STEP,
            [tf.TensorSpec(np.shape(p), tf.as_dtype(np.asarray(p).dtype)) for p in plan.params],
        ]
        self.passes: dict[str, CompiledPass] = {}

    @property
    def trace_count(self) -> int:
        """Traces of the step variants (the render pass is not counted)."""
        return sum(p.trace_count for v, p in self.passes.items() if v != "render")

    def step(self, model: keras.Model, redirect: bool, *args):
        """One optimization step; ``redirect`` picks the variant with redirected ReLU gradients.

        Each variant is one compiled pass, traced on first use: runs whose units fire from the
        start never build the redirect variant (its custom gradients cost about a third of a
        step on CPU: they also stop oneDNN from fusing convolution, bias and ReLU).
        """
        variant = "redirect" if redirect else "plain"
        if variant not in self.passes:
            self.passes[variant] = compiled_pass(
                model,
                (_KIND, self.key, variant),
                functools.partial(_step_body, self, redirect),
                inputs=_SEED,
                args=self._args,
                # Without AutoGraph converting every Keras call the step traces in about half
                # the time (a nested MobileNetV2: 3.0 s of CPU instead of 5.4 s), with the same
                # images; a user's objective that needs AutoGraph gets it (the pass's fallback).
                autograph=None,
            )
        return self.passes[variant](*args)

    def render(self, seed: tf.Tensor) -> np.ndarray:
        """The current images ``(K * n, H, W, C)`` in [0, 1]."""
        return self.passes["render"](seed).numpy()

    def reset(self, seed: int) -> None:
        self.param.reset(seed)
        for var, value in zip(self.optimizer.variables, self._optimizer_start):
            var.assign(value)

    def model_images(self, images: tf.Tensor, seed: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """The transformed images as the model takes them (size, value range, dtype)."""
        x = images
        for i, transform in enumerate(self.transforms):
            x = transform(x, tf.stack([seed, step * 64 + i]))
        model_hw = self.settings["model_hw"]
        if None not in model_hw and tuple(x.shape[1:3]) != tuple(model_hw):
            x = tf.image.resize(x, model_hw, method="bilinear")
        lo, hi = self.settings["value_range"]
        x = lo + x * (hi - lo)
        return tf.cast(x, self.settings["dtype"])


def objective_scores(
    model: keras.Model,
    plan: objectives_mod.Plan,
    params: list[tf.Tensor],
    images: tf.Tensor,
    x: tf.Tensor,
    per_objective: int | None,
    hooks: dict | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """In a trace: run ``model`` on ``x`` recording the plan's layers, score ``images``.

    Returns:
        ``(values, dead)`` per image, see :func:`keras_nnviz.objectives.evaluate`.

    Raises:
        IncompatibleLayerError: a layer an objective reads was not called.
    """
    wanted = set(plan.layer_paths)
    layers = {
        e.path: e.layer for e in graph.walk(model, include_sublayers=True) if e.path in wanted
    }
    records: dict[str, Any] = {}
    all_hooks = graph.recording_hooks(layers, records, first_tensor=True)
    if hooks:
        all_hooks = graph.merge_hooks(hooks, all_hooks)
    outputs = graph.forward(model, [x], all_hooks)
    graph.check_called(model, plan.layer_paths, records)
    recorded = {p: tf.cast(t, tf.float32) for p, t in records.items()}
    return objectives_mod.evaluate(
        plan, params, images, recorded, tf.nest.flatten(outputs), per_objective, return_dead=True
    )


def _step_body(session: _Session, redirect: bool, model, seed, step, params):
    """Pass body: render, transform, score, and one optimizer step on the image parameters."""
    hooks = rule_hooks(model, "redirect") if redirect else None
    with tf.GradientTape() as tape:
        images = session.param.images()
        x = session.model_images(images, seed, step)
        values, dead = objective_scores(
            model, session.plan, params, images, x, session.settings["n"], hooks
        )
        loss = -tf.reduce_sum(values)
    grads = tape.gradient(loss, [session.param.variable])
    session.optimizer.apply_gradients(zip(grads, [session.param.variable]))
    return values, dead


def _render_body(session: _Session, model, seed):
    """Pass body: the current images (the seed input only gives the pass a signature)."""
    del model, seed
    return session.param.images()


def _session(model: keras.Model, key: tuple, make) -> _Session:
    """The session cached for ``key`` (found through its render pass), or a new one."""
    render_key = (_KIND, key, "render")
    cached = cached_passes(model).get(render_key)
    if cached is not None:
        return cached.body.args[0]  # the partial's first argument: its session
    session = make()
    session.passes["render"] = compiled_pass(
        model, render_key, functools.partial(_render_body, session), inputs=_SEED
    )
    return session


def compiled_steps(model: keras.Model) -> list[_Session]:
    """The optimization sessions cached for ``model`` (for tests and debugging)."""
    return [
        p.body.args[0]
        for key, p in cached_passes(model).items()
        if isinstance(key, tuple) and key[0] == _KIND and key[-1] == "render"
    ]


def check_range(value_range: Any) -> tuple[float, float]:
    """The model's input range, e.g. (0, 1), (-1, 1) or (0, 255)."""
    return tfm.range_pair(value_range, "value_range", strict=True)


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive int; received {value!r}.")
    return int(value)


def maximize_activation(
    model: keras.Model,
    objectives: objectives_mod.Objective | Sequence[objectives_mod.Objective],
    *,
    steps: int = 256,
    size: int | tuple[int, int] | None = None,
    n: int = 1,
    param: str = "fourier",
    decorrelate: bool = True,
    transforms: str | Sequence[Any] | None = "standard",
    optimizer: keras.optimizers.Optimizer | str | None = None,
    seed: int = 0,
    value_range: tuple[float, float] = (0, 1),
    decay_power: float = 1.0,
    redirect_relu: bool = True,
    history: bool = False,
    history_every: int | None = None,
    progress: bool | None = None,
    init: Maximization | None = None,
) -> Maximization:
    """Optimize input images so that each objective is as large as possible.

    Lucid's recipe, compiled: images parameterized in Fourier space with ``1/f`` scaling,
    decorrelated colours, a sigmoid into [0, 1], random pad/jitter/scale/rotate each step, Adam
    with learning rate 0.05. The model is run, never changed.

    Args:
        model: a built single-input image model (Functional or Sequential; nested models
            inside are fine).
        objectives: an :class:`~keras_nnviz.objectives.Objective`, or a list of K of them to
            optimize together in one batch.
        steps: optimization steps.
        size: ``(H, W)`` (or one int) of the optimized images. Default: the model's input size.
            Fully convolutional models take any size; for fixed-size models images of another
            size are resized to the model's size after the transforms.
        n: images per objective (different random starts; add
            ``- w * objectives.diversity(layer)`` to make them differ).
        param: ``"fourier"`` or ``"pixel"`` (plain per-pixel variables).
        decorrelate: colour decorrelation for 3-channel images (ignored for other counts).
        transforms: ``"standard"`` (scaled to the image size, see
            :func:`keras_nnviz.featureviz.transforms.standard`), None, or a list of transforms.
        optimizer: a Keras optimizer (a fresh copy of its config is used) or name; default
            ``Adam(0.05)``.
        seed: random seed of the initialization and the transforms: the same seed gives the
            same images on one machine.
        value_range: the input range the model expects; the [0, 1] images are mapped to it
            (e.g. ``(-1, 1)`` or ``(0, 255)``). Returned images stay in [0, 1].
        decay_power: exponent of the Fourier ``1/f`` scaling (higher: smoother).
        redirect_relu: Lucid's redirected ReLU gradient, used for the steps in which some
            image's unit is exactly 0 (dead ReLUs, e.g. at the grey start): where a ReLU blocks
            every gradient of an image, gradients that would raise its inputs pass anyway
            (forward values unchanged). Once the units fire, the plain step is used.
        history: keep snapshots of the images (``frames``) for a GIF.
        history_every: steps between snapshots (default: about 32 snapshots).
        progress: show a Keras progress bar (None: shown, the optimization is long).
        init: a previous result of the same objectives and settings: start from its images
            (a warm start: far fewer steps follow a model that changed a little, e.g. during
            training) instead of the seed's random start; the optimizer state starts afresh.

    Returns:
        A :class:`Maximization`: ``.images`` ``(K * n, H, W, C)`` in [0, 1], ordered objective
        by objective, the objective values of every step and, with ``history=True``, frames.

    Raises:
        LayerNotFoundError: an objective names a layer not in the model.
        IncompatibleLayerError: channel or position out of range, position on a dense layer.
        InvalidArgumentError: bad steps/size/n/param/transforms/value_range/optimizer.
        UnsupportedModelError: not a single-input image model.

    Example:
        >>> channels = [nv.objectives.channel("conv2", c) for c in range(8)]
        >>> images = nv.maximize_activation(model, channels, steps=256).images
        >>> nv.plot.optimized_images(images, titles=[str(c) for c in channels])
    """
    steps = positive_int(steps, "steps")
    n = positive_int(n, "n")
    if param not in PARAMS:
        raise InvalidArgumentError(f"param must be one of {list(PARAMS)}; received {param!r}.")
    info = model_input(model)
    hw = _size(size, info.model_hw)
    model_hw = tuple(hw if None in info.model_hw else info.model_hw)
    lo, hi = check_range(value_range)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidArgumentError(f"seed must be an int; received {seed!r}.")
    every = positive_int(history_every or max(1, steps // 32), "history_every") if history else 0
    objs = objectives_mod.as_objectives(objectives)
    ctx = objectives_mod.BindContext(model, (*model_hw, info.channels), info.dtype)
    plan = objectives_mod.bind(objs, ctx)
    # Transforms act on the optimized image (size `hw`), before any resize to the model size.
    transform_list = tfm.resolve(transforms, hw)
    opt = _optimizer_config(optimizer)
    settings = {
        "n": n,
        "size": hw,
        "model_hw": model_hw,
        "channels": info.channels,
        "dtype": info.dtype,
        "param": param,
        "decorrelate": bool(decorrelate),
        "decay_power": float(decay_power),
        "value_range": (lo, hi),
    }
    key = (
        plan.key,
        tuple(sorted((k, str(v)) for k, v in settings.items())),
        tuple(t.key for t in transform_list),
        opt[0].__name__,
        json.dumps(opt[1], sort_keys=True, default=str),
    )
    session = _session(model, key, lambda: _Session(key, plan, settings, transform_list, opt))
    session.plan = plan  # same structure; the new plan's parameter values are fed below
    session.reset(int(seed))
    if init is not None:
        start = getattr(init, "param", None)
        shape = tuple(session.param.variable.shape)
        if start is None or tuple(np.shape(start)) != shape:
            raise InvalidArgumentError(
                f"init must be a Maximization of the same objectives, n, size and param; "
                f"received one whose parameters have shape {np.shape(start)}, expected {shape}."
            )
        variable = session.param.variable
        variable.assign(np.asarray(start).astype(variable.numpy().dtype))

    seed_t = tf.constant(int(seed) % (2**31 - 1), tf.int32)
    params = [tf.constant(p) for p in plan.params]
    frames, frame_steps, values = [], [], []
    if every:
        frames.append(session.render(seed_t))
        frame_steps.append(0)
    bar = None if progress is False else keras.utils.Progbar(steps, stateful_metrics=["objective"])
    report_every = max(1, steps // 100)
    redirect = False  # switched on while some image's unit is dead (exactly 0)
    dead_steps = None
    for i in range(steps):
        value, dead = session.step(model, redirect, seed_t, tf.constant(i, tf.int32), params)
        values.append(value)
        dead = dead.numpy()
        dead_steps = dead if dead_steps is None else dead_steps & dead
        redirect = bool(redirect_relu) and bool(dead.any())
        if bar is not None and ((i + 1) % report_every == 0 or i + 1 == steps):
            bar.update(i + 1, values=[("objective", float(np.mean(values[-1].numpy())))])
        if every and ((i + 1) % every == 0 or i + 1 == steps):
            frames.append(session.render(seed_t))
            frame_steps.append(i + 1)
    images = frames[-1] if every else session.render(seed_t)
    _warn_if_stuck(dead_steps, objs, n, bool(redirect_relu))
    trajectory = np.stack([v.numpy() for v in values])  # (steps, K * n)
    stacked = np.stack(frames) if frames else np.zeros((0, *images.shape), np.float32)
    param = np.array(session.param.variable.numpy())
    return Maximization(images, trajectory, stacked, np.asarray(frame_steps, np.int64), param)


def _warn_if_stuck(dead_every_step: np.ndarray, objs: list, n: int, redirect: bool) -> None:
    """Warn about objectives whose units were exactly 0 at every step: nothing was optimized."""
    stuck = dead_every_step.reshape(len(objs), n).all(axis=1)
    if stuck.any():
        names = [str(o) for o, s in zip(objs, stuck) if s]
        fix = (
            "More steps may get it firing (redirected-ReLU gradients raise dead units slowly)"
            if redirect
            else "Pass redirect_relu=True so gradients can raise dead units"
        )
        warnings.warn(
            f"Objectives {names} stayed exactly 0 for the whole optimization: the unit is "
            "inactive (a ReLU at or below zero) on every image tried, so the images barely "
            f"changed. {fix}, or pick a unit that fires on some data (see nv.top_examples).",
            stacklevel=3,
        )
