"""What the visualization callbacks of one ``model.fit`` share: the fit's record and its curves.

Keras hands one ``params`` dict to every callback of a fit's ``CallbackList``; callbacks with the
same ``params`` and model belong to one :class:`Fit`. The fit's training curves (each epoch's
logs) are kept here once and written to each manifest once, under ``"fits"``, whatever the number
of callbacks (each callback's run record names its fit); the ``Report`` callback builds its page
once every other callback of the fit has finished (:meth:`Fit.after_others`), wherever it sits in
the callback list.

Manifest (next to ``"callbacks"`` and ``"entries"``)::

    "fits": [{"id": "20260101T120000Z-4242-1", "model": "digits_cnn", "started": t,
              "ended": t | null, "epochs": 3,
              "diverged": {"epoch": 3, "layer": "conv1" | null, "message": "..."},   when it did
              "metrics": [{"epoch": 1, "loss": 0.9, "accuracy": 0.7, ...}, ...]}]

The id holds the process id: two processes fitting into one ``log_dir`` never share one. A fit
also holds its callbacks' folder claims (:func:`keras_nnviz.io.locks.claim_folder`), released
when the fit ends or — after an interrupted fit, which Keras never ends — when the next fit on
its thread or of its model begins.

A fit whose loss (or any logged metric) turns NaN or infinite has *diverged*:
:meth:`Fit.log_epoch` finds the first layer with non-finite weights and the callbacks warn once
and record it (``"diverged"`` above, and in each callback's run record).
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import weakref
from typing import Any

from .. import io as sinks_lib
from . import _budget

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
        stamp = sinks_lib.utc_now().replace(":", "").replace("-", "")
        self.id = f"{stamp}-{os.getpid()}-{next(_COUNTER)}"
        self.thread = threading.get_ident()
        self.started = sinks_lib.utc_now()
        self.ended: str | None = None
        self.epochs = 0
        self.metrics: list[dict[str, float]] = []
        self.diverged: dict[str, Any] | None = None
        self.members: set = set()  # callbacks between their train begin and end
        self.claims: list = []  # folders held by members (released when the fit is over)
        self.manifests: set = set()  # compacted when the last member finishes
        self._stored: dict[int, tuple[dict, int]] = {}  # per manifest: header, metrics written
        self._waiters: list[tuple[set, Any]] = []
        self._ledgers: dict[int | None, _budget.Ledger] = {}
        self.lock = threading.Lock()  # also for what members share (``recording``)
        #: The layers the fit's shared recording pass records (:mod:`._recorder`), once known.
        self.recording: list[str] | None = None

    def ledger(self, owner: _budget.Budget | None, agree: Any = None) -> _budget.Ledger:
        """The fit's ledger of budget ``owner`` (None: the fit's default budget, shared by
        every callback given none: the current ``with nv.callbacks.budget(...)`` or 5 %)."""
        with self.lock:
            key = None if owner is None else id(owner)
            if key not in self._ledgers:
                chosen = owner or _budget.current() or _budget.Budget()
                final = (self.params or {}).get("epochs") if isinstance(self.params, dict) else None
                self._ledgers[key] = _budget.Ledger(chosen, final, agree)
            return self._ledgers[key]

    def log_epoch(self, epoch: int, logs: dict | None) -> dict[str, Any] | None:
        """Record one epoch's logs (every member reports it; the first one counts).

        Returns:
            The ``diverged`` record when this call found the fit diverged (once per fit).
        """
        with self.lock:
            self.epochs = max(self.epochs, epoch)
            if self.metrics and self.metrics[-1]["epoch"] >= epoch:
                return None
            row = plain_numbers(logs)
            self.metrics.append({"epoch": epoch, **row})
            bad = [k for k, v in row.items() if not math.isfinite(v)]
            if not bad or self.diverged is not None:
                return None
        self.diverged = diverged_record(self.model_ref(), epoch, {k: row[k] for k in bad})
        return self.diverged

    def end(self) -> None:
        """Training ended (the first member's train end says so; the rest is writing)."""
        with self.lock:
            self.ended = self.ended or sinks_lib.utc_now()

    def record(self) -> dict[str, Any]:
        """The manifest record of this fit (a copy)."""
        with self.lock:
            return {
                "id": self.id,
                "model": self.model_name,
                "started": self.started,
                "ended": self.ended,
                "epochs": self.epochs,
                "metrics": [dict(m) for m in self.metrics],
            }

    def store(self, manifest: sinks_lib.Manifest) -> None:
        """Add to ``manifest`` what changed in this fit's record since the last call (writer
        thread): the header when it changed, one event per new epoch — never the whole curve
        again, so writing stays linear in the number of snapshots."""
        record = self.record()
        if self.diverged is not None:
            record["diverged"] = self.diverged
        metrics = record.pop("metrics")
        with self.lock:
            header, written = self._stored.get(id(manifest), (None, 0))
            self._stored[id(manifest)] = (record, len(metrics))
        if record != header:
            manifest.update_fit(self.id, **record)
        for row in metrics[written:]:
            manifest.add_metrics(self.id, row)

    def after_others(self, callback: Any, fn) -> None:
        """Call ``fn()`` once every member but ``callback`` has finished (now if none is left)."""
        with self.lock:
            pending = {cb for cb in self.members if cb is not callback}
            if pending:
                self._waiters.append((pending, fn))
                return
        fn()

    def last(self, callback: Any) -> bool:
        """Whether ``callback`` is the only member still in its train end."""
        with self.lock:
            return self.members <= {callback}

    def release(self) -> None:
        """Release the members' folders (the fit is over, or was interrupted)."""
        with self.lock:
            claims, self.claims = self.claims, []
        for claim in claims:
            claim.release()

    def finished(self, callback: Any) -> None:
        """``callback`` finished its train end: run what waited for it; forget an empty fit."""
        ready = []
        with self.lock:
            self.members.discard(callback)
            for entry in list(self._waiters):
                entry[0].discard(callback)
                if not entry[0]:
                    self._waiters.remove(entry)
                    ready.append(entry[1])
            empty = not self.members
        if empty:
            self.release()
            with _LOCK:
                if self in _FITS:
                    _FITS.remove(self)
        for fn in ready:
            fn()


def diverged_record(model: Any, epoch: int, bad: dict[str, float]) -> dict[str, Any]:
    """``{"epoch", "layer", "message"}`` of a fit whose logs ``bad`` are not finite.

    ``layer``: the first layer (model order) with NaN/inf weights, or None when every weight
    is still finite (the loss alone overflowed, or the data holds NaN).
    """
    from ..weights import nonfinite_layers

    try:
        layers = nonfinite_layers(model) if model is not None else []
    except Exception:  # noqa: BLE001 - naming the layer is a courtesy; the warning still goes out
        layers = []
    values = ", ".join(f"{k} = {v}" for k, v in bad.items())
    if layers:
        more = f" ({len(layers)} layers in all)" if len(layers) > 1 else ""
        where = f"the first layer with NaN/inf weights is {layers[0]!r}{more}"
    else:
        where = "every weight is still finite (the loss overflowed, or the data holds NaN/inf)"
    message = (
        f"Training diverged at epoch {epoch}: {values}; {where}. Pictures from here on show a "
        "broken model: lower the learning rate, clip gradients (optimizer clipnorm=1.0), or "
        "check the inputs for NaN; keras.callbacks.TerminateOnNaN stops such a fit."
    )
    return {"epoch": int(epoch), "layer": layers[0] if layers else None, "message": message}


def join(callback: Any) -> Fit:
    """The :class:`Fit` of ``callback``'s current ``fit`` (created by its first member).

    A callback driven by hand (no ``params``) is a fit of its own.
    """
    params, model = getattr(callback, "params", None), callback.model
    thread = threading.get_ident()
    with _LOCK:
        # A fit that was interrupted (KeyboardInterrupt, an exception in another callback) or
        # whose train begin failed never finishes: a new fit of its model, or on its thread (one
        # thread runs one fit at a time), ends it and frees its folders.
        over = [
            f
            for f in _FITS
            if f.model_ref() is None
            or (f.params is not params and (f.model_ref() is model or f.thread == thread))
        ]
        _FITS[:] = [f for f in _FITS if f not in over]
        fit = next((f for f in _FITS if params and f.params is params), None)
        if fit is None:
            fit = Fit(params, model)
            _FITS.append(fit)
        fit.members.add(callback)
    for f in over:
        f.release()
    return fit
