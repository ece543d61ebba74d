"""The Report callback: records each epoch's logs, writes ``log_dir/report.html`` at train end."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import keras

from .. import io as sinks_lib
from ..errors import InvalidArgumentError
from ._base import (
    VisualizationWarning,
    _plain_numbers,
    _single_threaded_blas,
    after_visualizations,
    check_log_dir,
    is_chief,
)


class Report(keras.callbacks.Callback):
    """Write a self-contained HTML report of the run when training ends.

    Records the training logs of every epoch (the curves) and the model's layer table in the
    manifest of ``log_dir``, then builds ``log_dir/<filename>`` with
    :func:`keras_nnviz.report.build_report` from everything the ``nv.callbacks.*`` callbacks
    wrote there: a section per callback, an epoch slider that swaps every picture, the curves
    and the layer table. It waits for the other visualization callbacks of the same ``fit`` to
    finish, wherever it sits in the callback list. Several models trained into one ``log_dir``
    (each fit with its own Report) appear as parts of one page.

    Args:
        log_dir: the folder shared with the other callbacks.
        filename: the page's file name inside ``log_dir``.
        title: page title (default: "keras_nnviz report · <model names>").
        embed: pictures inline as data URIs (one portable file) or linked (smaller page).
        on_error: ``"warn"`` (default) or ``"raise"`` when the page cannot be written.

    Attributes:
        path: the written report (None before train end or after a failure).

    Example:
        >>> cbs = [nv.callbacks.ActivationMaps(x[:1], "logs"), nv.callbacks.Report("logs")]
        >>> model.fit(x, y, epochs=5, callbacks=cbs)
        >>> cbs[-1].path
        PosixPath('logs/report.html')
    """

    name = "report"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        filename: str = "report.html",
        title: str | None = None,
        embed: bool = True,
        on_error: str = "warn",
    ):
        super().__init__()
        if not isinstance(log_dir, str | os.PathLike) or not str(log_dir):
            raise InvalidArgumentError(
                f"log_dir must be a folder path (str or Path); received {log_dir!r}."
            )
        if not isinstance(filename, str) or not filename or "/" in filename or "\\" in filename:
            raise InvalidArgumentError(
                f"filename must be a file name inside log_dir, e.g. 'report.html'; received "
                f"{filename!r}."
            )
        if on_error not in ("warn", "raise"):
            raise InvalidArgumentError(
                f"on_error must be 'warn' or 'raise'; received {on_error!r}."
            )
        self.log_dir = Path(os.fspath(log_dir))
        self.filename = filename
        self.title = title
        self.embed = bool(embed)
        self.on_error = on_error
        self.path: Path | None = None
        self.build_seconds = 0.0

    # Manifest updates run on the shared writer thread, like every other callback's.
    def _submit(self, fn) -> None:
        def task():
            with _single_threaded_blas():
                fn()

        self._futures.append(sinks_lib.BackgroundWriter.submit(task))

    def on_train_begin(self, logs=None):
        from ..report import model_facts

        self._futures: list = []
        self._metrics: list[dict[str, Any]] = []
        self._epochs = 0
        self.path = None
        self._writes = is_chief(self.model)
        if not self._writes:
            return
        check_log_dir(self.log_dir)
        self._manifest = sinks_lib.Manifest.for_dir(self.log_dir)
        facts = model_facts(self.model)
        name, started = self.model.name, sinks_lib.utc_now()

        def register():
            section = self._manifest.callback(self.name)
            section.update({"class": "Report", "title": "Report", "every": "train end"})
            models = section["params"].setdefault("models", {})
            models[name] = facts
            section["params"]["file"] = self.filename
            section["runs"].append(
                {"started": started, "ended": None, "model": name, "epochs": None, "metrics": []}
            )
            self._manifest.save()

        self._submit(register)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs = epoch + 1
        self._metrics.append({"epoch": epoch + 1, **_plain_numbers(logs)})
        if self._writes:
            metrics = list(self._metrics)
            self._submit(lambda: self._update_run(metrics=metrics))

    def _update_run(self, **fields: Any) -> None:
        runs = self._manifest.callback(self.name)["runs"]
        if runs:
            runs[-1].update(fields)
        self._manifest.save()

    def on_train_end(self, logs=None):
        if not self._writes:
            return
        self._submit(lambda: self._update_run(ended=sinks_lib.utc_now(), epochs=self._epochs))
        for future in self._futures:
            future.result()
        self._futures = []
        after_visualizations(self, self._build)

    def _build(self) -> None:
        from ..report import build_report

        start = time.perf_counter()
        try:
            self.path = build_report(
                self.log_dir,
                model=self.model,
                out=self.log_dir / self.filename,
                title=self.title,
                embed=self.embed,
            )
        except Exception as exc:  # noqa: BLE001 - the page must not cost the trained model
            if self.on_error == "raise":
                raise
            warnings.warn(
                f"Report could not write {self.log_dir / self.filename}: "
                f"{type(exc).__name__}: {exc}",
                VisualizationWarning,
                stacklevel=2,
            )
        finally:
            self.build_seconds = time.perf_counter() - start
