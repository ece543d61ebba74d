"""The batch loop over a ``tf.distribute`` strategy: each batch split across the replicas.

Every compute function takes ``strategy=`` (one of the batch options, next to ``batch_size``)
and :func:`distribute` sets it for a block of code. Under a strategy with ``R`` replicas
:class:`~keras_nnviz.core.loop.BatchLoop` cuts each batch into ``R`` contiguous parts (sizes
differing by at most one), builds each part's arguments exactly as for a batch of its own
(its class indices, baselines, masks by sample offset), runs the compiled pass once per replica
with ``strategy.run`` on values from ``experimental_distribute_values_from_function`` and joins
the parts in input order: ``experimental_local_results`` on one worker, ``strategy.gather`` over
several (MultiWorkerMirroredStrategy: every worker walks the same input and returns the whole
result). A deterministic method gives the one-device result; a random one (SmoothGrad, RISE,
GradientSHAP ...) draws its noise per part, as it would with ``batch_size`` the part's size.

The user's model is neither copied nor cloned. Variables created outside ``strategy.scope()``
stay on their device and every replica reads them from there (nothing to copy between logical
CPU devices; one copy of the weights per batch between GPUs). A model built or loaded under
``strategy.scope()`` has mirrored variables, and each replica reads its local copy. Entering
``strategy.scope()`` alone distributes nothing (a fit's callbacks run inside it): pass
``strategy=`` or use :func:`distribute`.

``strategy.run`` is called eagerly: it runs the pass's one ``tf.function`` on each replica's
device in that replica's thread, so a strategy adds no trace (TensorFlow's "Using
MirroredStrategy eagerly has significant overhead" warning is filtered: the overhead, about
2 ms per batch, is the threads').
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import tensorflow as tf

from ..errors import InvalidArgumentError

__all__ = [
    "check",
    "distribute",
    "local_replicas",
    "on_parts",
    "Replicas",
    "replicas_for",
    "resolve",
]

_CURRENT: contextvars.ContextVar[tf.distribute.Strategy | None] = contextvars.ContextVar(
    "keras_nnviz_strategy", default=None
)


def check(strategy: Any) -> tf.distribute.Strategy | None:
    """A ``strategy`` argument: None or a ``tf.distribute.Strategy`` instance.

    Raises:
        InvalidArgumentError: anything else (a strategy class, a device name, a number).
    """
    if strategy is None or isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if isinstance(strategy, type) and issubclass(strategy, tf.distribute.Strategy):
        hint = f" Create one: strategy={strategy.__name__}()."
    else:
        hint = ""
    text = repr(strategy)
    text = text if len(text) <= 80 else text[:77] + "..."
    raise InvalidArgumentError(
        f"strategy must be a tf.distribute.Strategy instance (MirroredStrategy(), "
        f"MultiWorkerMirroredStrategy(), TPUStrategy(...)) or None (one device); received "
        f"{text} ({type(strategy).__name__}).{hint}"
    )


def resolve(strategy: Any = None) -> tf.distribute.Strategy | None:
    """The strategy a loop runs under: ``strategy`` when given, else the one a
    :func:`distribute` block set, else None (one device)."""
    strategy = check(strategy)
    return strategy if strategy is not None else _CURRENT.get()


@contextlib.contextmanager
def distribute(strategy: tf.distribute.Strategy) -> Iterator[tf.distribute.Strategy]:
    """Run every keras_nnviz computation inside the block under ``strategy``.

    The same as passing ``strategy=strategy`` to each compute function called in the block
    (an explicit ``strategy=`` wins), for code that calls them for you: ``nv.explain``, the
    metrics, the report.

    Args:
        strategy: a ``tf.distribute.Strategy`` instance.

    Returns:
        A context manager yielding ``strategy``.

    Raises:
        InvalidArgumentError: ``strategy`` is not a ``tf.distribute.Strategy``.

    Example:
        >>> strategy = tf.distribute.MirroredStrategy()
        >>> with nv.distribute(strategy):
        ...     maps = nv.grad_cam(model, x)
    """
    if check(strategy) is None:
        raise InvalidArgumentError(
            "nv.distribute needs a tf.distribute.Strategy instance, e.g. "
            "nv.distribute(tf.distribute.MirroredStrategy()); received None."
        )
    token = _CURRENT.set(strategy)
    try:
        yield strategy
    finally:
        _CURRENT.reset(token)


def local_replicas(strategy: tf.distribute.Strategy) -> int | None:
    """Replicas of ``strategy`` on this worker; None for TensorFlow's default strategy (no
    devices of its own: what ``tf.distribute.get_strategy()`` returns outside any scope), under
    which a loop runs as without a strategy."""
    try:
        return len(strategy.extended.worker_devices)
    except RuntimeError:
        return None


class _EagerRunNote(logging.Filter):
    """Drops TensorFlow's note on running MirroredStrategy eagerly (see the module doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Using MirroredStrategy eagerly" not in record.getMessage()


_NOTE = _EagerRunNote()


def _part_ranges(size: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous ``(begin, end)`` ranges over ``size`` samples, sizes differing by
    at most one (the first ones larger); empty ranges at the end when ``size < count``."""
    base, extra = divmod(size, count)
    ranges, begin = [], 0
    for i in range(count):
        end = begin + base + (1 if i < extra else 0)
        ranges.append((begin, end))
        begin = end
    return ranges


def _joined(leaf: Any) -> bool:
    """Whether a result leaf is per sample (joined over the parts): a numeric tensor, batch
    axis first. Strings, scalars and None (names, keys, constants) are alike on every replica."""
    if not isinstance(leaf, tf.Tensor):
        return False
    return leaf.dtype != tf.string and leaf.shape.rank not in (None, 0)


class Replicas:
    """Runs one batch's parts on the replicas of ``strategy`` and joins the results.

    Args:
        strategy: a ``tf.distribute.Strategy``.

    Attributes:
        count: replicas in sync (over every worker).

    Example:
        >>> replicas = Replicas(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        >>> result = replicas.run(compiled, 10, lambda begin, end: (x[begin:end],))
    """

    def __init__(self, strategy: tf.distribute.Strategy):
        self.strategy = strategy
        self.count = int(strategy.num_replicas_in_sync)
        self._local = local_replicas(strategy)
        if self._local is None:
            raise ValueError("The default strategy has no replicas to run on.")
        logger = tf.get_logger()
        if _NOTE not in logger.filters:
            logger.addFilter(_NOTE)

    def ranges(self, size: int) -> list[tuple[int, int]]:
        """Each replica's ``(begin, end)`` within a batch of ``size`` samples."""
        return _part_ranges(size, self.count)

    def run(
        self,
        fn: Callable[..., Any],
        size: int,
        args: Callable[[int, int], Sequence[Any]],
        **kwargs: Any,
    ) -> Any:
        """``fn(*args(begin, end), **kwargs)`` on each replica's part of a batch of ``size``
        samples, joined in input order.

        Args:
            fn: one batch's computation (a compiled pass); every numeric non-scalar leaf of its
                result must have the batch axis first.
            size: samples in the batch.
            args: the arguments of the part ``begin ... end - 1`` (tensors or nests of them).
            **kwargs: arguments every replica gets as they are (e.g. snapshot ``values=``).

        Returns:
            ``fn``'s result nest for the whole batch, numeric leaves as tensors.
        """
        ranges = self.ranges(size)
        # A replica without samples (a batch smaller than the replica count) runs the first
        # part again: collectives need every replica; its result is dropped.
        used = [end > begin for begin, end in ranges]
        parts = [tuple(args(b, e)) if ok else None for (b, e), ok in zip(ranges, used)]
        parts = [p if p is not None else parts[0] for p in parts]
        values = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: parts[ctx.replica_id_in_sync_group]
        )
        per_replica = self.strategy.run(
            lambda *a, **k: fn(*a, **k), args=tuple(values), kwargs=kwargs
        )
        local = self.strategy.experimental_local_results(per_replica)
        first = local[0]
        if self.count == self._local:  # one worker: this worker holds every part
            kept = [r for r, ok in zip(local, used) if ok]
            return tf.nest.map_structure(
                lambda leaf, *rest: tf.concat(rest, 0) if _joined(leaf) else leaf, first, *kept
            )
        sizes = [e - b if ok else ranges[0][1] for (b, e), ok in zip(ranges, used)]

        def gather(leaf: tf.Tensor, value: Any) -> tf.Tensor:
            if not _joined(leaf):
                return leaf
            whole = self.strategy.gather(value, axis=0)
            pieces = tf.split(whole, sizes, axis=0)
            return tf.concat([p for p, ok in zip(pieces, used) if ok], 0)

        return tf.nest.map_structure(gather, first, per_replica)


def replicas_for(strategy: Any = None) -> Replicas | None:
    """The replicas a batch is split across: those of ``strategy`` (or of an enclosing
    ``nv.distribute`` block); None for one device (no strategy, or the default strategy).

    Raises:
        InvalidArgumentError: ``strategy`` is not a ``tf.distribute.Strategy``.
    """
    strategy = resolve(strategy)
    if strategy is None or local_replicas(strategy) is None:
        return None
    return Replicas(strategy)


def on_parts(replicas: Replicas | None, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on one batch (every arg a nest of tensors, batch axis first); under
    ``replicas`` each runs ``fn`` on its contiguous part of every arg, joined in input order
    (:meth:`~keras_nnviz.core.distribute.Replicas.run`)."""
    if replicas is None:
        return fn(*args)
    size = int(tf.nest.flatten(args[0])[0].shape[0])

    def part(begin: int, end: int) -> tuple[Any, ...]:
        return tuple(tf.nest.map_structure(lambda t: t[begin:end], a) for a in args)

    return replicas.run(fn, size, part)
