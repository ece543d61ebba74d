"""``Doctor``: :func:`keras_nnviz.diagnose` on a schedule during ``fit``; its findings go into
the manifest (the report's Diagnosis section, ``nnviz doctor LOGDIR``) and each new one warns
once."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from ..diagnosis import diagnose, per_sample_losses
from ..errors import DiagnosisWarning, InvalidArgumentError
from ..io import ScalarItem
from ._base import VisualizationCallback
from ._inputs import fixed_inputs

__all__ = ["Doctor"]

log = logging.getLogger("keras_nnviz")


class Doctor(VisualizationCallback):
    """Diagnose the training as it runs: what is wrong, where, and what to try.

    Each snapshot runs :func:`keras_nnviz.diagnose` on the fixed sample ``(x, y)`` with the
    fit's curves so far (loss, validation loss, accuracy) as its History, and with the
    per-sample losses of every earlier snapshot (they rank ``suspect_samples``). The findings
    are written into the manifest (``callbacks.doctor.params.findings``, read by the report's
    Diagnosis section and by ``nnviz doctor LOGDIR``); a finding whose code was not found
    before warns once (a :class:`~keras_nnviz.DiagnosisWarning` and a ``keras_nnviz`` log
    line). A failing diagnosis never stops the fit (``on_error="warn"``).

    The diagnosis runs on the training thread: a few forward passes and one backward pass over
    ``max_samples`` samples per snapshot (about 50 ms for a small MLP and 512 samples). The
    default ``every="auto"`` diagnoses at the epoch ends where that costs at most 2 % of the
    training time since the last diagnosis (and always before training and at its end);
    ``every=1`` diagnoses every epoch whatever it costs (see benchmarks/README.md).

    Args:
        log_dir: output folder.
        x: fixed training inputs (a few hundred samples).
        y: their labels (without them only the unit, input and attention checks run).
        every: ``"auto"`` (default: at most 2 % of the training time), epochs (int) or
            ``"batch:N"``.
        validation_data: ``(x_val, y_val)``, for a train/validation gap before any
            ``val_loss`` is logged.
        loss: the loss to differentiate (default: the compiled loss).
        x_new: inputs to check for being out of distribution.
        max_samples: samples of ``x`` diagnosed.
        batch_size: samples per pass.
        **options: see :class:`VisualizationCallback`.

    Attributes:
        diagnosis: the latest :class:`~keras_nnviz.diagnosis.Diagnosis` (None before the first).
        history: ``{"step": [...], "codes": [[...], ...]}``, one row per snapshot.

    Example:
        >>> doctor = nv.callbacks.Doctor("logs", x=x[:512], y=y[:512], every=2)
        >>> model.fit(x, y, epochs=10, validation_split=0.2, callbacks=[doctor])
        >>> print(doctor.diagnosis)
    """

    folder = "doctor"
    title = "Diagnosis"
    shared_inputs = ("x", "y", "x_new", "validation_data")

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        y: Any = None,
        every: int | str = "auto",
        validation_data: tuple[Any, Any] | None = None,
        loss: Any = None,
        x_new: Any = None,
        max_samples: int = 512,
        batch_size: int = 128,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise InvalidArgumentError(
                f"max_samples must be a positive int; received {max_samples!r}."
            )
        self.x, self.y, self.loss = x, y, loss
        self.validation_data, self.x_new = validation_data, x_new
        self.max_samples, self.batch_size = max_samples, int(batch_size)
        self.diagnosis = None
        self.history: dict[str, Any] = {}

    def manifest_params(self):
        return {"samples": self._n, "labels": self.y is not None}

    def validate(self, model):
        self._x = fixed_inputs(model, self.x, max_samples=self.max_samples)
        first = self._x[0] if isinstance(self._x, list) else self._x
        self._n = len(first)
        self._y = None if self.y is None else np.asarray(self.y)[: self._n]
        self._losses: list[np.ndarray] = []
        self._seen: set[str] = set()
        self.history = {"step": [], "codes": []}
        self.diagnosis = None

    def _curves(self) -> dict[str, list[float]]:
        rows = list(self._fit.metrics) if self._fit is not None else []
        keys = sorted({k for row in rows for k in row if k != "epoch"})
        return {k: [row.get(k, float("nan")) for row in rows] for k in keys}

    def compute(self, model):
        losses = None
        if self._y is not None:
            try:
                self._losses.append(
                    per_sample_losses(
                        model, self._x, self._y, loss=self.loss, batch_size=self.batch_size
                    )
                )
                losses = np.stack(self._losses[-5:])  # the recent snapshots' losses
            except Exception:  # noqa: BLE001 - ranking falls back to one pass's margins
                losses = None
        return diagnose(
            model,
            self._x,
            self._y,
            history=self._curves(),
            validation_data=self.validation_data,
            loss=self.loss,
            x_new=self.x_new,
            sample_losses=losses if losses is not None and np.isfinite(losses).all() else None,
            max_samples=self.max_samples,
            batch_size=self.batch_size,
        )

    def render(self, result, when):
        self.diagnosis = result
        self.history["step"].append(when.step)
        self.history["codes"].append(result.codes)
        fresh = [f for f in result.findings if f.severity != "info" and f.code not in self._seen]
        for finding in fresh:
            self._seen.add(finding.code)
            message = f"Doctor ({when.label}): {finding.line()} Try: {finding.advice}"
            log.warning(message)
            self.notify(message, DiagnosisWarning)
        self._manifest.set_callback(
            self._folder,
            params={
                "findings": [f.to_dict() for f in result.findings],
                "suspect_samples": list(result.suspect_samples[:100]),
                "checked": list(result.checked),
                "epoch": when.epoch,
                "seconds": result.seconds,
                "model": result.model,
            },
        )
        yield ScalarItem(
            "problems",
            float(sum(f.severity != "info" for f in result.findings)),
            caption="warnings and errors found",
        )
