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


#: Share of the training time one ``every="auto"`` callback may spend on its snapshots.
AUTO_BUDGET = 0.02


@dataclass(frozen=True)
class Schedule:
    """When snapshots are taken: every ``n`` epochs, every ``n`` training batches, or ``"auto"``.

    ``"auto"`` snapshots at an epoch end when the callback's last snapshot (training-thread
    plus writer-thread time) costs at most :data:`AUTO_BUDGET` of the time training ran since
    that snapshot: every epoch when a snapshot is cheap against an epoch, less often when it is
    not (an embedding of 128 images on a 640-image epoch), so visualizing never costs more than
    about 2 % of the fit per such callback. The first epoch and the final state always draw.
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
            "every='auto' (as often as costs <= 2 % of training time)."
        )

    def __str__(self) -> str:
        if self.unit == "auto":
            return "auto"
        return str(self.n) if self.unit == "epoch" else f"{self.unit}:{self.n}"

    def due(self, epochs_done: int, cost: float | None, elapsed: float, pending: bool) -> bool:
        """Whether to snapshot at the end of epoch ``epochs_done`` (epoch schedules).

        Args:
            epochs_done: epochs finished (1 after the first).
            cost: seconds the last measured snapshot took (None: none measured yet).
            elapsed: seconds since the last snapshot was taken.
            pending: the last snapshot is still being written (its cost is not known yet).
        """
        if self.unit == "epoch":
            return epochs_done % self.n == 0
        if self.unit != "auto" or pending:
            return False  # the last snapshot's cost is not known yet
        return cost is None or AUTO_BUDGET * elapsed >= cost  # None: draw, and measure


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
