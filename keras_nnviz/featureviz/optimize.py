"""Activation maximization: optimize images so that objectives grow, in one compiled step.

One ``tf.function`` does a whole optimization step: render the parameterized images, apply the
random transforms, run the model with :func:`keras_nnviz.graph.forward` hooks recording the
layers the objectives read, score every image, take the gradient with respect to the
parameters and apply the optimizer. It is built once per (model, objective structure, image
shape, settings) and reused for every step and every later call with the same structure:
channel indices, positions, vectors and weights are tensors fed to the step, so visualizing
channel 5 after channel 3 does not retrace.
"""

from __future__ import annotations

import functools
import json
import numbers
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, graph, objectives
from ..attribution.relu_rules import rule_hooks
from ..errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    UnsupportedModelError,
    format_list,
)
from ..graph import merge_hooks
from . import transforms as tfm
from .param import PARAMS, ImageParam


class History(NamedTuple):
    """What ``return_history=True`` adds.

    Attributes:
        frames: ``(F, K, H, W, C)`` snapshots of the images in [0, 1], for a GIF
            (:func:`keras_nnviz.plot.save_gif`).
        frame_steps: ``(F,)`` the step after which each frame was taken (0 = the start).
        objective: ``(steps, K)`` every image's objective value at every step (measured on the
            transformed image the step optimized).
    """

    frames: np.ndarray
    frame_steps: np.ndarray
    objective: np.ndarray


@dataclass(frozen=True)
class _ModelInput:
    model_hw: tuple[int | None, int | None]
    channels: int
    dtype: tf.DType


def _model_input(model: keras.Model) -> _ModelInput:
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
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"size must be an int or (height, width); received {size!r}."
        ) from None
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


class _Session:
    """Variables, optimizer and the compiled step for one cache key."""

    def __init__(self, model, plan, settings: dict, transforms: list[tfm.Transform], opt):
        self._model_ref = weakref.ref(model)
        self.plan = plan
        self.settings = settings
        self.transforms = transforms
        self.trace_count = 0
        n = len(plan.objectives) * settings["batch"]
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
        hooks_layers = {}
        for entry in graph.walk(model, include_sublayers=True):
            if entry.path in plan.layer_paths:
                hooks_layers[entry.path] = entry.layer
        self._layers = hooks_layers
        self._signature = [
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
            [tf.TensorSpec(np.shape(p), tf.as_dtype(np.asarray(p).dtype)) for p in plan.params],
        ]
        self._steps: dict[bool, Any] = {}
        # functools.partial, not a method or closure: TensorFlow keys its "frequent retracing"
        # warning on the function's code object, shared by every session's method or closure.
        self.render = tf.function(functools.partial(self.param.images))

    def step(self, redirect: bool, *args):
        """One optimization step; ``redirect`` picks the variant with redirected ReLU gradients.

        Each variant is one ``tf.function``, traced on first use: runs whose units fire from
        the start never build the redirect variant (its custom gradients cost about a third of
        a step on CPU: they also stop oneDNN from fusing convolution, bias and ReLU).
        """
        if redirect not in self._steps:
            run = functools.partial(self._step, redirect=redirect)
            self._steps[redirect] = tf.function(run, input_signature=self._signature)
        return self._steps[redirect](*args)

    def reset(self, seed: int) -> None:
        self.param.reset(seed)
        for var, value in zip(self.optimizer.variables, self._optimizer_start):
            var.assign(value)

    def _model_images(self, images, seed, step):
        x = images
        for i, transform in enumerate(self.transforms):
            x = transform(x, tf.stack([seed, step * 64 + i]))
        model_hw = self.settings["model_hw"]
        if None not in model_hw and tuple(x.shape[1:3]) != tuple(model_hw):
            x = tf.image.resize(x, model_hw, method="bilinear")
        lo, hi = self.settings["value_range"]
        x = lo + x * (hi - lo)
        return tf.cast(x, self.settings["dtype"])

    def _step(self, seed, step, params, redirect):
        self.trace_count += 1  # Python side effect: counts traces, not calls
        model = self._model_ref()
        records: dict[str, Any] = {}
        hooks = graph.recording_hooks(self._layers, records, first_tensor=True)
        if redirect:
            hooks = merge_hooks(rule_hooks(model, "redirect"), hooks)
        with tf.GradientTape() as tape:
            images = self.param.images()
            x = self._model_images(images, seed, step)
            outputs = graph.forward(model, [x], hooks)
            missing = [p for p in self.plan.layer_paths if p not in records]
            if missing:
                raise IncompatibleLayerError(
                    f"Layers {format_list(missing)} are not called when model {model.name!r} "
                    "runs on its input (they do not lie between the input and the outputs), so "
                    "objectives on them cannot be maximized."
                )
            layers = {p: tf.cast(t, tf.float32) for p, t in records.items()}
            outs = tf.nest.flatten(outputs)
            values, dead = objectives.evaluate(
                self.plan, params, images, layers, outs, self.settings["batch"], return_dead=True
            )
            loss = -tf.reduce_sum(values)
        grads = tape.gradient(loss, [self.param.variable])
        self.optimizer.apply_gradients(zip(grads, [self.param.variable]))
        return values, dead


_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compiled_steps(model: keras.Model) -> list[_Session]:
    """The compiled optimization sessions cached for ``model`` (for tests and debugging)."""
    return list(_SESSIONS.get(model, {}).values())


def _check_range(value_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"value_range must be (low, high), e.g. (0, 1), (-1, 1) or (0, 255); received "
            f"{value_range!r}."
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise InvalidArgumentError(f"value_range needs finite low < high; received {value_range}.")
    return lo, hi


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive int; received {value!r}.")
    return int(value)


def maximize_activation(
    model: keras.Model,
    objective: objectives.Objective | Sequence[objectives.Objective],
    steps: int = 256,
    size: int | tuple[int, int] | None = None,
    batch: int = 1,
    param: str = "fourier",
    decorrelate: bool = True,
    transforms: str | Sequence[Any] | None = "standard",
    optimizer: keras.optimizers.Optimizer | str | None = None,
    seed: int = 0,
    progress: bool = True,
    return_history: bool = False,
    value_range: tuple[float, float] = (0, 1),
    decay_power: float = 1.0,
    history_every: int | None = None,
    redirect_relu: bool = True,
) -> np.ndarray | tuple[np.ndarray, History]:
    """Optimize input images so that each objective is as large as possible.

    Lucid's recipe, compiled: images parameterized in Fourier space with ``1/f`` scaling,
    decorrelated colours, a sigmoid into [0, 1], random pad/jitter/scale/rotate each step, Adam
    with learning rate 0.05. The model is run, never changed.

    Args:
        model: a built single-input image model (Functional or Sequential; nested models
            inside are fine).
        objective: an :class:`~keras_nnviz.objectives.Objective`, or a list of K of them to
            optimize together in one batch.
        steps: optimization steps.
        size: ``(H, W)`` (or one int) of the optimized images. Default: the model's input size.
            Fully convolutional models take any size; for fixed-size models images of another
            size are resized to the model's size after the transforms.
        batch: images per objective (different random starts; add
            ``- w * objectives.diversity(layer)`` to make them differ).
        param: ``"fourier"`` or ``"pixel"`` (plain per-pixel variables).
        decorrelate: colour decorrelation for 3-channel images (ignored for other counts).
        transforms: ``"standard"`` (scaled to the image size, see
            :func:`keras_nnviz.featureviz.transforms.standard`), None, or a list of transforms.
        optimizer: a Keras optimizer (a fresh copy of its config is used) or name; default
            ``Adam(0.05)``.
        seed: random seed of the initialization and the transforms: the same seed gives the
            same images on one machine.
        progress: show a Keras progress bar.
        return_history: also return a :class:`History` (snapshots for a GIF, objective values).
        value_range: the input range the model expects; the [0, 1] images are mapped to it
            (e.g. ``(-1, 1)`` or ``(0, 255)``). Returned images stay in [0, 1].
        decay_power: exponent of the Fourier ``1/f`` scaling (higher: smoother).
        history_every: steps between snapshots (default: about 32 snapshots).
        redirect_relu: Lucid's redirected ReLU gradient, used for the steps in which some
            image's unit is exactly 0 (dead ReLUs, e.g. at the grey start): where a ReLU blocks
            every gradient of an image, gradients that would raise its inputs pass anyway
            (forward values unchanged). Once the units fire, the plain step is used.

    Returns:
        Images ``(K * batch, H, W, C)`` in [0, 1], ordered objective by objective; with
        ``return_history=True`` a tuple ``(images, history)``.

    Raises:
        LayerNotFoundError: an objective names a layer not in the model.
        IncompatibleLayerError: channel or position out of range, position on a dense layer.
        InvalidArgumentError: bad steps/size/param/transforms/value_range/optimizer.
        UnsupportedModelError: not a single-input image model.

    Example:
        >>> channels = [nv.objectives.channel("conv2", k) for k in range(8)]
        >>> images = nv.maximize_activation(model, channels, steps=256)
        >>> nv.plot.optimized_images(images, titles=[str(c) for c in channels])
    """
    steps = _positive_int(steps, "steps")
    batch = _positive_int(batch, "batch")
    if param not in PARAMS:
        raise InvalidArgumentError(f"param must be one of {list(PARAMS)}; received {param!r}.")
    info = _model_input(model)
    hw = _size(size, info.model_hw)
    model_hw = tuple(hw if None in info.model_hw else info.model_hw)
    lo, hi = _check_range(value_range)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidArgumentError(f"seed must be an int; received {seed!r}.")
    objs = objectives.as_objectives(objective)
    ctx = objectives.BindContext(model, (*model_hw, info.channels), info.dtype)
    plan = objectives.bind(objs, ctx)
    # Transforms act on the optimized image (size `hw`), before any resize to the model size.
    transform_list = tfm.resolve(transforms, hw)
    opt = _optimizer_config(optimizer)
    settings = {
        "batch": batch,
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
    per_model = _SESSIONS.setdefault(model, {})
    if key not in per_model:
        per_model[key] = _Session(model, plan, settings, transform_list, opt)
    session = per_model[key]
    session.plan = plan  # same structure; the new plan's parameter values are fed below
    session.reset(int(seed))

    seed_t = tf.constant(int(seed) % (2**31 - 1), tf.int32)
    params = [tf.constant(p) for p in plan.params]
    every = history_every or max(1, steps // 32)
    frames, frame_steps, values = [], [], []
    if return_history:
        frames.append(session.render().numpy())
        frame_steps.append(0)
    bar = keras.utils.Progbar(steps, stateful_metrics=["objective"]) if progress else None
    report_every = max(1, steps // 100)
    redirect = False  # switched on while some image's unit is dead (exactly 0)
    dead_steps = None
    for i in range(steps):
        value, dead = session.step(redirect, seed_t, tf.constant(i, tf.int32), params)
        values.append(value)
        dead = dead.numpy()
        dead_steps = dead if dead_steps is None else dead_steps & dead
        redirect = bool(redirect_relu) and bool(dead.any())
        if bar is not None and ((i + 1) % report_every == 0 or i + 1 == steps):
            bar.update(i + 1, values=[("objective", float(np.mean(values[-1].numpy())))])
        if return_history and ((i + 1) % every == 0 or i + 1 == steps):
            frames.append(session.render().numpy())
            frame_steps.append(i + 1)
    images = session.render().numpy()
    _warn_if_stuck(dead_steps, objs, batch, bool(redirect_relu))
    trajectory = np.stack([v.numpy() for v in values])  # (steps, K * batch)
    if not return_history:
        return images
    return images, History(np.stack(frames), np.asarray(frame_steps), trajectory)


def _warn_if_stuck(dead_every_step: np.ndarray, objs: list, batch: int, redirect: bool) -> None:
    """Warn about objectives whose units were exactly 0 at every step: nothing was optimized."""
    stuck = dead_every_step.reshape(len(objs), batch).all(axis=1)
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
