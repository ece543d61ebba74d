"""The Report callback: writes ``log_dir/report.html`` once the fit's callbacks have finished."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError
from ._base import VisualizationCallback, VisualizationWarning


class Report(VisualizationCallback):
    """Write a self-contained HTML report of the run when training ends.

    Records the model's layer table in the manifest of ``log_dir`` (the training curves are
    recorded once per fit by every visualization callback, this one included), then builds
    ``log_dir/<filename>`` with :func:`keras_nnviz.report.build_report` from everything the
    ``nv.callbacks.*`` callbacks wrote there: a section per callback, an epoch slider that swaps
    every picture, the curves and the layer table. It waits for the other visualization
    callbacks of the same ``fit`` to finish, wherever it sits in the callback list. Several
    models trained into one ``log_dir`` (each fit with its own Report) appear as parts of one
    page.

    Args:
        log_dir: the folder shared with the other callbacks.
        filename: the page's file name inside ``log_dir``.
        title: page title (default: "keras_nnviz report · <model names>").
        embed: pictures inline as data URIs (one portable file) or linked (smaller page).
        on_error: ``"warn"`` (default) or ``"raise"`` when the page cannot be written.

    Attributes:
        path: the written report (None before train end or after a failure).
        build_seconds: time the page took to build.

    Example:
        >>> cbs = [nv.callbacks.ActivationMaps("logs", x=x[:1]), nv.callbacks.Report("logs")]
        >>> model.fit(x, y, epochs=5, callbacks=cbs)
        >>> cbs[-1].path
        PosixPath('logs/report.html')
    """

    folder = "report"  # the section the report reader looks for (report._manifest)
    title = "Report"
    snapshots = False

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        filename: str = "report.html",
        title: str | None = None,
        embed: bool = True,
        on_error: str = "warn",
    ):
        super().__init__(log_dir, sinks=[], on_error=on_error)
        if not isinstance(filename, str) or not filename or "/" in filename or "\\" in filename:
            raise InvalidArgumentError(
                f"filename must be a file name inside log_dir, e.g. 'report.html'; received "
                f"{filename!r}."
            )
        self.filename = filename
        self.page_title = title
        self.embed = bool(embed)

    def _init_runtime(self) -> None:
        super()._init_runtime()
        self.path: Path | None = None
        self.build_seconds = 0.0

    def validate(self, model):
        from ..report import model_facts

        self._facts = model_facts(model) if self._writes else None

    def manifest_params(self) -> dict[str, Any]:
        # Every model reported into this log_dir keeps its layer table (one part each).
        models = dict(self._manifest.callback(self.name)["params"].get("models") or {})
        models[self.model.name] = self._facts
        return {"models": models, "file": self.filename}

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._writes:
            self._fit.after_others(self, self._build)

    def _build(self) -> None:
        from ..report import build_report

        start = time.perf_counter()
        try:
            self.path = build_report(
                self.log_dir,
                model=self.model,
                out=self.log_dir / self.filename,
                title=self.page_title,
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
