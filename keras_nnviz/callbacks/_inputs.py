"""What a callback checks once at train begin: where it writes, whether it writes, its inputs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import validation
from ..core import graph
from ..core.inputs import prepare
from ..core.loop import head
from ..errors import InvalidArgumentError, InvalidInputError


class NothingToShowWarning(UserWarning):
    """A callback's default has nothing to show on this model (no ReLU layer to watch, no 2-D
    layer for Grad-CAM ...): it draws nothing and says so once; training goes on."""


def nothing_to_show(callback: Any, reason: str) -> str:
    """Tell once (a :class:`NothingToShowWarning` at train begin) that ``callback`` draws
    nothing on this model, and why; returns the message (for the manifest).

    For defaults only: a layer or option the user named that does not fit still raises.
    """
    message = (
        f"{type(callback).__name__}: {reason} It draws nothing on this model; training goes on."
    )
    callback.notify(message, NothingToShowWarning)
    return message


def is_chief(model: keras.Model) -> bool:
    """Whether this worker writes: under MultiWorkerMirroredStrategy only the chief does."""
    try:
        extended = model.distribute_strategy.extended
    except AttributeError:
        return True
    return bool(getattr(extended, "should_checkpoint", True))


def multi_worker(model: keras.Model) -> bool:
    """Whether several workers run this fit (MultiWorkerMirroredStrategy across tasks): they
    must take the same snapshots at the same epochs, whatever each one measures."""
    try:
        resolver = model.distribute_strategy.cluster_resolver
    except AttributeError:
        return False
    if resolver is None:
        return False
    spec = resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in spec.jobs) > 1


def as_log_dir(log_dir: Any, owner: str) -> Path:
    """``log_dir`` as a Path, or an error that shows the callback convention."""
    if not isinstance(log_dir, str | os.PathLike) or not str(log_dir):
        shown = f"a {type(log_dir).__name__}" if hasattr(log_dir, "shape") else repr(log_dir)
        raise InvalidArgumentError(
            f"log_dir must be a folder path (str or Path); received {shown}. Callbacks take "
            f"log_dir first and everything else by keyword, like keras.callbacks.TensorBoard: "
            f"{owner}('logs', x=x_val[:8], ...)."
        )
    return Path(validation.path_like("log_dir", log_dir))


def check_log_dir(log_dir: Path) -> None:
    """Create ``log_dir`` and prove it is writable, or raise a clear error."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".nnviz-write-test-", dir=log_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InvalidArgumentError(
            f"log_dir {str(log_dir)!r} is not a writable directory ({type(exc).__name__}: "
            f"{exc.strerror or exc}). Pass a folder you can create and write to, e.g. "
            "log_dir='logs/run1'."
        ) from None


def fixed_inputs(model: keras.Model, x: Any, max_samples: int | None = None) -> Any:
    """Validate a callback's fixed inputs once and keep them as model-ready numpy.

    Datasets are read once (up to ``max_samples`` samples, default 256): the same samples must be
    shown every epoch.

    Returns:
        One array for single-input models, else a list of arrays in ``model.inputs`` order.
    """
    if x is None:
        raise InvalidInputError("This callback needs inputs x to visualize; received None.")
    data = prepare(model, x, batch_size=max_samples or 256)
    if data.arrays is not None:
        arrays = [a[:max_samples] if max_samples else a for a in data.arrays]
    else:
        arrays = head(data, max_samples or 256)
        if not arrays:
            raise InvalidInputError("The dataset given as x is empty; pass at least one sample.")
    return arrays[0] if len(arrays) == 1 else arrays


def one_sample(model: keras.Model, x: Any, sample: int) -> Any:
    """Sample ``sample`` of ``x`` as a batch of one (a list for multi-input models).

    Raises:
        InvalidInputError: ``sample`` is not an index of ``x``.
    """
    arrays = fixed_inputs(model, x, max_samples=sample + 1)
    n = len(first_input(arrays))
    if not 0 <= sample < n:
        raise InvalidInputError(
            f"sample={sample} is out of range: x has {n} samples (valid 0 ... {n - 1})."
        )
    if isinstance(arrays, list):
        return [a[sample : sample + 1] for a in arrays]
    return arrays[sample : sample + 1]


def first_input(x: Any) -> np.ndarray:
    """The first input array of a fixed-input structure (for image previews)."""
    return x[0] if isinstance(x, list) else x


def resolve_layers(model: keras.Model, layers: Any) -> list[str] | None:
    """Canonical paths of ``layers=`` (one reference or a list), or None when not given."""
    if layers is None:
        return None
    if isinstance(layers, str | int | keras.layers.Layer):
        layers = [layers]
    return graph.layer_paths(model, list(layers))
