"""What the visualization callbacks of one ``model.fit`` share: the fit's record and its curves.

Keras hands one ``params`` dict to every callback of a fit's ``CallbackList``; callbacks with the
same ``params`` and model belong to one :class:`Fit`. The fit's training curves (each epoch's
logs) are kept here once and written to each manifest once, under ``"fits"``, whatever the number
of callbacks (each callback's run record names its fit); the ``Report`` callback builds its page
once every other callback of the fit has finished (:meth:`Fit.after_others`), wherever it sits in
the callback list.

Manifest (next to ``"callbacks"`` and ``"entries"``)::

    "fits": [{"id": "20260101T120000Z-1", "model": "digits_cnn", "started": t, "ended": t | null,
              "epochs": 3, "metrics": [{"epoch": 1, "loss": 0.9, "accuracy": 0.7, ...}, ...]}]
"""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any

from .. import io as sinks_lib

_FITS: list[Fit] = []
_LOCK = threading.Lock()
_COUNTER = itertools.count(1)


def plain_numbers(logs: dict | None) -> dict[str, float]:
    """The numeric entries of Keras logs, as floats (JSON-able)."""
    out = {}
    for key, value in (logs or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


class Fit:
    """One ``fit`` seen by its visualization callbacks."""

    def __init__(self, params: Any, model: Any):
        self.params = params
        self.model_ref = weakref.ref(model)
        self.model_name = getattr(model, "name", "model")
        self.id = f"{sinks_lib.utc_now().replace(':', '').replace('-', '')}-{next(_COUNTER)}"
        self.started = sinks_lib.utc_now()
        self.ended: str | None = None
        self.epochs = 0
        self.metrics: list[dict[str, float]] = []
        self.members: set = set()  # callbacks between their train begin and end
        self._waiters: list[tuple[set, Any]] = []
        self._lock = threading.Lock()

    def log_epoch(self, epoch: int, logs: dict | None) -> None:
        """Record one epoch's logs (every member reports it; the first one counts)."""
        with self._lock:
            self.epochs = max(self.epochs, epoch)
            if not self.metrics or self.metrics[-1]["epoch"] < epoch:
                self.metrics.append({"epoch": epoch, **plain_numbers(logs)})

    def end(self) -> None:
        """Training ended (the first member's train end says so; the rest is writing)."""
        with self._lock:
            self.ended = self.ended or sinks_lib.utc_now()

    def record(self) -> dict[str, Any]:
        """The manifest record of this fit (a copy)."""
        with self._lock:
            return {
                "id": self.id,
                "model": self.model_name,
                "started": self.started,
                "ended": self.ended,
                "epochs": self.epochs,
                "metrics": [dict(m) for m in self.metrics],
            }

    def store(self, manifest: sinks_lib.Manifest) -> None:
        """Write this fit's record into ``manifest`` (writer thread), replacing an older copy."""
        fits = manifest.data.setdefault("fits", [])
        record = self.record()
        for i, old in enumerate(fits):
            if old.get("id") == self.id:
                fits[i] = record
                return
        fits.append(record)

    def after_others(self, callback: Any, fn) -> None:
        """Call ``fn()`` once every member but ``callback`` has finished (now if none is left)."""
        with self._lock:
            pending = {cb for cb in self.members if cb is not callback}
            if pending:
                self._waiters.append((pending, fn))
                return
        fn()

    def finished(self, callback: Any) -> None:
        """``callback`` finished its train end: run what waited for it; forget an empty fit."""
        ready = []
        with self._lock:
            self.members.discard(callback)
            for entry in list(self._waiters):
                entry[0].discard(callback)
                if not entry[0]:
                    self._waiters.remove(entry)
                    ready.append(entry[1])
            empty = not self.members
        if empty:
            with _LOCK:
                if self in _FITS:
                    _FITS.remove(self)
        for fn in ready:
            fn()


def join(callback: Any) -> Fit:
    """The :class:`Fit` of ``callback``'s current ``fit`` (created by its first member).

    A callback driven by hand (no ``params``) is a fit of its own.
    """
    params, model = getattr(callback, "params", None), callback.model
    with _LOCK:
        # A fit whose train begin failed never finishes; a new fit of its model ends it.
        _FITS[:] = [f for f in _FITS if f.model_ref() is not None]
        _FITS[:] = [f for f in _FITS if f.model_ref() is not model or f.params is params]
        fit = next((f for f in _FITS if params and f.params is params), None)
        if fit is None:
            fit = Fit(params, model)
            _FITS.append(fit)
        fit.members.add(callback)
    return fit
