"""One overhead budget for all the visualization callbacks of a fit.

A :class:`Budget` is a share of the training time (default 5 %) that every nnviz callback of
one ``fit`` spends together. Callbacks with ``every="auto"`` (the default) draw when the budget
allows; a callback with a fixed ``every=`` draws on its own schedule, and what it costs is
counted against the same budget. Each callback measures what its snapshots cost (time on the
training thread plus time on the writer thread); at every epoch end :func:`plan_epoch` decides,
once for the whole fit, which callbacks draw: the state before training and the final state
always; in between (the first epoch included), the callbacks that waited longest first, while
the overhead spent stays within ``fraction`` of the training time (keeping back what the final
snapshots will cost). What the callbacks spend before training (validation, tracing their
passes, the snapshot before training) counts too.

The budget of a fit is found through the fit (:class:`~keras_nnviz.callbacks._fit.Fit` holds
one :class:`Ledger` per budget): callbacks given no ``budget=`` share the fit's default one,
``fraction=0.05``, or the one made current by ``with nv.callbacks.budget(0.1): model.fit(...)``.

On several workers (MultiWorkerMirroredStrategy) each worker measures its own times; the plan's
inputs are agreed first (the mean over the workers, one small all-reduce per epoch), so every
worker draws the same epochs and their collectives meet.

The manifest's run record of each callback lists the epochs it drew (``"drawn"``) and the
budget (``"budget": {"fraction", "spent_s", "train_s"}``); the report shows them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError

__all__ = [
    "Budget",
    "Ledger",
    "Member",
    "agree_across_workers",
    "budget",
    "current",
    "plan_epoch",
]


class Budget:
    """A share of the training time that the nnviz callbacks of one fit may spend together.

    Args:
        fraction: the overhead allowed, as a share of the training time (0.05: 5 %); in (0, 1].
            None: no limit (``every="auto"`` callbacks draw every epoch).
        clock: seconds as a float (default ``time.perf_counter``); tests pass a fake clock.

    Example:
        >>> shared = nv.callbacks.Budget(0.10)
        >>> cbs = [nv.callbacks.GradCAM("logs", x=x[:4], budget=shared),
        ...        nv.callbacks.ActivationMaps("logs", x=x[:1], budget=shared)]
    """

    def __init__(self, fraction: float | None = 0.05, *, clock: Callable[[], float] | None = None):
        if fraction is not None and (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float | np.floating | np.integer)
            or not 0 < float(fraction) <= 1
        ):
            raise InvalidArgumentError(
                f"Budget fraction must be a number in (0, 1] (a share of the training time); "
                f"received {fraction!r}. Examples: 0.05 (5 %, the default), 0.2, None (no limit)."
            )
        self.fraction = None if fraction is None else float(fraction)
        self.clock = clock or time.perf_counter

    def __repr__(self) -> str:
        return f"Budget(fraction={self.fraction!r})"

    def __getstate__(self) -> dict[str, Any]:
        # A fake clock may be a lambda: copies and pickles measure with the real one.
        return {"fraction": self.fraction}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.fraction = state["fraction"]
        self.clock = time.perf_counter


_CURRENT = threading.local()
#: The budget of fits outside any ``with budget(...)`` block (None: a fresh 5 % one per fit).
DEFAULT: Budget | None = None


@contextlib.contextmanager
def budget(fraction: float | None = 0.05) -> Iterator[Budget]:
    """Make a :class:`Budget` the default of the fits started inside the ``with`` block.

    Callbacks given no ``budget=`` share it (one per fit: each fit measures its own time).

    Args:
        fraction: the overhead allowed, as a share of the training time (default 0.05);
            None: no limit.

    Returns:
        A context manager that yields the :class:`Budget`.

    Example:
        >>> with nv.callbacks.budget(0.10):
        ...     model.fit(x, y, epochs=20, callbacks=cbs)
    """
    made = Budget(fraction)
    stack = _CURRENT.__dict__.setdefault("stack", [])
    stack.append(made)
    try:
        yield made
    finally:
        stack.remove(made)


def current() -> Budget | None:
    """The budget of the innermost ``with budget(...)`` block on this thread, if any."""
    stack = getattr(_CURRENT, "stack", None)
    return stack[-1] if stack else DEFAULT


@dataclass(frozen=True)
class Member:
    """What the plan knows of one ``every="auto"`` callback.

    Attributes:
        cost: seconds its last snapshot cost (training + writer thread); None: not measured.
        last: the epoch of its last snapshot (None: none yet this fit).
    """

    cost: float | None
    last: int | None


def plan_epoch(
    epoch: int,
    *,
    first: int,
    final: int | None,
    fraction: float | None,
    train: float,
    spent: float,
    members: Sequence[Member],
) -> list[bool]:
    """Which callbacks draw at the end of epoch ``epoch`` (a pure function: same inputs, same
    plan on every worker).

    The final epoch draws everything (the final state; a fit stopped early draws it at train
    end), and so does the state before training (at train begin, outside this plan). Every
    other epoch, the first included, follows the budget: what is spendable by now is
    ``fraction * train - reserve * progress``, ``reserve`` being what the final snapshots
    will cost and ``progress`` the share of the epochs done, so the final state always fits and
    the snapshots spread over the fit instead of crowding its start. Callbacks that waited
    longest go first; each draws when its cost fits in what is left. Until a callback has drawn
    at an epoch end its cost is the one measured before training (its first compute, tracing
    included: an upper bound), so a fit whose tracing already ate the budget draws its first
    epoch only once training has paid for it.

    Args:
        epoch: epochs completed (1 after the first).
        first: the fit's first epoch end (``initial_epoch + 1``): where ``progress`` starts.
        final: the fit's last epoch (``params["epochs"]``), None when unknown.
        fraction: the budget's share of the training time (None: no limit, all draw).
        train: seconds of training so far, without the callbacks' training-thread time.
        spent: seconds the callbacks spent so far (training and writer thread, all of them).
        members: the ``every="auto"`` callbacks, in callback-list order.

    Returns:
        One bool per member.
    """
    if (final is not None and epoch >= final) or fraction is None:
        return [True] * len(members)
    reserve = sum(m.cost for m in members if m.cost is not None)
    progress = 0.0
    if final is not None:
        progress = (epoch - first + 1) / max(1, final - first + 1)
    credit = fraction * train - reserve * progress - spent
    waited = sorted(
        range(len(members)),
        key=lambda i: (-(epoch - (members[i].last if members[i].last is not None else -1)), i),
    )
    draw = [False] * len(members)
    for i in waited:
        cost = members[i].cost
        if cost is None:
            cost = 0.0 if credit > 0 else np.inf  # not measured (a failed first snapshot)
        if cost <= credit:
            draw[i] = True
            credit -= cost
    return draw


class Ledger:
    """What the callbacks sharing one :class:`Budget` spent during one fit (thread-safe)."""

    def __init__(self, owner: Budget, final: int | None, agree: Callable | None = None):
        self.budget = owner
        self.clock = owner.clock
        self.final = final
        self.agree = agree  # numbers -> the same numbers on every worker
        self.start = self.clock()
        self.spent = 0.0  # all overhead: training thread + writer thread
        self.blocking = 0.0  # the training-thread part (not training time)
        self.members: list[Any] = []  # every="auto" callbacks, in train-begin order
        self.cost: dict[int, float] = {}
        self.last: dict[int, int] = {}
        self.first: int | None = None
        self.plans: dict[int, set[int]] = {}
        self._lock = threading.Lock()

    def join(self, callback: Any, scheduled: bool) -> None:
        """Count ``callback``'s costs; ``scheduled``: the budget decides when it draws."""
        with self._lock:
            if scheduled and callback not in self.members:
                self.members.append(callback)

    def charge(self, seconds: float, blocking: bool) -> None:
        """Add overhead: ``blocking`` time held the training thread (else: writer thread)."""
        with self._lock:
            self.spent += seconds
            if blocking:
                self.blocking += seconds

    def measured(self, callback: Any, cost: float) -> None:
        """The last snapshot of ``callback`` cost ``cost`` seconds so far."""
        with self._lock:
            self.cost[id(callback)] = float(cost)

    def drew(self, callback: Any, epoch: int) -> None:
        with self._lock:
            self.last[id(callback)] = int(epoch)

    def due(self, callback: Any, epoch: int) -> bool:
        """Whether ``callback`` (a member) draws at the end of epoch ``epoch``; the first
        member to ask plans the epoch for all of them."""
        with self._lock:
            if epoch not in self.plans:
                self.plans[epoch] = self._plan(epoch)
            return id(callback) in self.plans[epoch]

    def _plan(self, epoch: int) -> set[int]:
        if self.first is None:
            self.first = epoch
        ids = [id(m) for m in self.members]
        numbers = [
            self.clock() - self.start,
            self.blocking,
            self.spent,
            *(self.cost.get(i, -1.0) for i in ids),
        ]
        if self.agree is not None:
            numbers = list(self.agree(numbers))
        elapsed, blocking, spent, *costs = numbers
        members = [
            Member(cost=None if c < 0 else float(c), last=self.last.get(i))
            for i, c in zip(ids, costs)
        ]
        draws = plan_epoch(
            epoch,
            first=self.first,
            final=self.final,
            fraction=self.budget.fraction,
            train=max(0.0, elapsed - blocking),
            spent=spent,
            members=members,
        )
        return {i for i, d in zip(ids, draws) if d}

    def summary(self) -> dict[str, float | None]:
        """``{"fraction", "spent_s", "train_s"}`` for the manifest."""
        with self._lock:
            train = max(0.0, self.clock() - self.start - self.blocking)
            return {
                "fraction": self.budget.fraction,
                "spent_s": round(self.spent, 4),
                "train_s": round(train, 4),
            }


def agree_across_workers(strategy: Any) -> Callable[[Sequence[float]], np.ndarray]:
    """A function giving every worker of ``strategy`` the same numbers (their mean over the
    replicas, an all-reduce), so the plan of an epoch is the same everywhere."""

    def agree(numbers: Sequence[float]) -> np.ndarray:
        import tensorflow as tf

        values = tf.constant(np.asarray(numbers, np.float64))
        per_replica = strategy.run(lambda: tf.identity(values))
        return np.asarray(strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None))

    return agree
