"""What a snapshot is and when it is taken: the schedule, deferred results, timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError


class Later:
    """A compute result to finish on the writer thread (e.g. a pass on a weight snapshot).

    ``compute`` returns ``Later(fn)`` when it has frozen what it needs (cheaply) and the heavy
    part may run while training goes on; the writer thread calls ``fn()`` before ``render``.
    """

    def __init__(self, fn):
        self.fn = fn

    def resolve(self) -> Any:
        return self.fn()


def resolve(result: Any) -> Any:
    return result.resolve() if isinstance(result, Later) else result


@dataclass(frozen=True)
class Schedule:
    """When snapshots are taken: every ``n`` epochs, every ``n`` training batches, or ``"auto"``.

    ``"auto"`` (the default of every callback) snapshots at the epoch ends the fit's overhead
    budget plans (:class:`~keras_nnviz.callbacks.Budget`, shared by all the callbacks of the
    fit: 5 % of the training time unless told otherwise): the state before training and the
    final state always, in between as often as what each snapshot costs (training-thread plus
    writer-thread time) allows.
    """

    unit: str  # "epoch" | "batch" | "auto"
    n: int

    @classmethod
    def parse(cls, every: int | str) -> Schedule:
        """Parse ``every``: an int (epochs), ``"epoch:N"``, ``"batch:N"`` or ``"auto"``.

        Raises:
            InvalidArgumentError: anything else.
        """
        if every == "auto":
            return cls("auto", 1)
        if isinstance(every, int | np.integer) and not isinstance(every, bool) and every >= 1:
            return cls("epoch", int(every))
        if isinstance(every, str) and ":" in every:
            unit, _, count = every.partition(":")
            if unit.strip() in ("epoch", "batch") and count.strip().isdigit() and int(count) >= 1:
                return cls(unit.strip(), int(count))
        raise InvalidArgumentError(
            f"every must be a positive int (epochs), a string 'batch:N' / 'epoch:N' with N >= 1, "
            f"or 'auto'; received {every!r}. Examples: every=1, every=5, every='batch:100', "
            "every='auto' (as often as the fit's budget allows, 5 % of training time by default)."
        )

    def __str__(self) -> str:
        if self.unit == "auto":
            return "auto"
        return str(self.n) if self.unit == "epoch" else f"{self.unit}:{self.n}"

    def due(self, epochs_done: int) -> bool:
        """Whether a fixed epoch schedule snapshots at the end of epoch ``epochs_done`` (1 after
        the first); ``"auto"`` asks the fit's budget and ``"batch:N"`` draws in the batch hook
        (both False here)."""
        return self.unit == "epoch" and epochs_done % self.n == 0


@dataclass
class CallbackStats:
    """Timings of one callback during the last ``fit`` (seconds).

    Attributes:
        blocking: time each snapshot held the training thread (compute + hand-off).
        train_begin: time spent in ``on_train_begin`` (validation, first compute and trace).
        train_end: time ``on_train_end`` held the training thread (final state, summaries,
            waiting for the writer).
        background: total writer-thread time (rendering, encoding, disk, TensorBoard).
        snapshots: snapshots taken.
        errors: failures caught (warned once).
    """

    blocking: list[float] = field(default_factory=list)
    train_begin: float = 0.0
    train_end: float = 0.0
    background: float = 0.0
    snapshots: int = 0
    errors: int = 0
