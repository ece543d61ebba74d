"""The Report callback: ``log_dir/report.html``, rewritten after every epoch and final at train end.

Live pages are cheap on purpose: they are built on the background writer thread (the training
thread only queues the job), they link the PNG files already on disk instead of re-reading and
base64-encoding every picture each epoch, and a page still waiting to be written when the next
epoch ends is not queued twice. The final page (train end) is self-contained as before
(``embed=True``): one file to mail or move.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..io.paths import check_name
from ._base import VisualizationCallback, VisualizationWarning

__all__ = [
    "BINS",
    "Report",
    "WEIGHTS_FILE",
]

#: File (in the Report's folder) of per-layer kernel histograms over training, for the graph.
WEIGHTS_FILE = "weight_histograms.json"
BINS = 30


class Report(VisualizationCallback):
    """Write an HTML report of the run: live while training, self-contained at the end.

    Records the model's layer table and architecture graph in the manifest of ``log_dir`` (the
    training curves are recorded once per fit by every visualization callback, this one
    included), then builds ``log_dir/<filename>`` with :func:`keras_nnviz.report.build_report`
    from everything the ``nv.callbacks.*`` callbacks wrote there: a section per callback, an
    epoch slider that swaps every picture, the curves, the architecture graph (click a layer for
    its pictures) and the layer table.

    With ``live=True`` (default) the page is rewritten once every callback of the fit has
    written an epoch (when the next epoch begins), says "training in progress — epoch k of N"
    and reloads itself every ``reload_seconds``; a fit that is interrupted (``KeyboardInterrupt``)
    leaves the last of these pages, which stops reloading after a while and says that training
    stopped. Live pages link the PNG files beside them; at train end the final page is written
    without reloading, pictures embedded when ``embed=True``. Writing never stops training: a
    failure warns (or raises with ``on_error="raise"``). Several models trained into one
    ``log_dir`` (each fit with its own Report) appear as parts of one page.

    Args:
        log_dir: the folder shared with the other callbacks.
        filename: the page's file name inside ``log_dir`` (not one the library writes itself:
            ``nnviz_manifest.json``, its ``.jsonl`` journal, ``.nnviz``, ...).
        title: page title (default: "keras_nnviz report · <model names>").
        embed: final page's pictures inline as data URIs (one portable file) or linked.
        live: rewrite the page after every epoch while training runs.
        reload_seconds: how often a live page reloads itself.
        hparams: the run's hyperparameters (names to numbers, strings or booleans), recorded in
            the manifest: ``nnviz serve`` shows them as columns of its runs table, to sort and
            compare runs by.
        on_error: ``"warn"`` (default) or ``"raise"`` when the page cannot be written.

    Raises:
        InvalidArgumentError: ``filename`` is not one plain file name or is reserved.

    Attributes:
        path: the written report (None before the first page or after a failure).
        build_seconds: time the final page took to build.
        live_seconds: writer-thread time of each live page.

    Example:
        >>> cbs = [nv.callbacks.ActivationMaps("logs", x=x[:1]), nv.callbacks.Report("logs")]
        >>> model.fit(x, y, epochs=5, callbacks=cbs)   # open logs/report.html while it runs
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
        live: bool = True,
        reload_seconds: float = 5.0,
        hparams: Mapping[str, Any] | None = None,
        on_error: str = "warn",
    ):
        super().__init__(log_dir, sinks=[], on_error=on_error)
        # One plain file name, and none the library writes itself: a page written over
        # nnviz_manifest.json or its journal would lose the run's index.
        check_name(filename, "filename", kind="file")
        if not isinstance(reload_seconds, int | float) or not 0.5 <= float(reload_seconds) <= 3600:
            raise InvalidArgumentError(
                f"reload_seconds must be a number of seconds in [0.5, 3600]; received "
                f"{reload_seconds!r}. Example: reload_seconds=5."
            )
        self.filename = filename
        self.page_title = title
        self.embed = bool(embed)
        self.live = bool(live)
        self.reload_seconds = float(reload_seconds)
        self.hparams = _hparams(hparams)

    def _init_runtime(self) -> None:
        super()._init_runtime()
        self.path: Path | None = None
        self.build_seconds = 0.0
        self.live_seconds: list[float] = []
        self._live_epoch: int | None = None
        self._live_future: concurrent.futures.Future | None = None
        self._epoch_start = time.monotonic()
        self._longest_epoch = 0.0
        self._kernels: list[tuple[str, Any]] = []
        self._histograms: dict[str, list[dict[str, Any]]] = {}

    def validate(self, model):
        from ..report import model_facts
        from ..report._model import architecture_data

        self._facts = None
        if self._writes:
            self._facts = model_facts(model)
            self._facts["architecture"] = architecture_data(model)  # once per fit, not per page
        self._planned = (getattr(self, "params", None) or {}).get("epochs")
        if self._writes and self.live:
            from ..weights import weight_variables

            keyed = weight_variables(model, trainable_only=True)
            self._kernels = [(k, v) for k, v in keyed if len(v.shape) >= 2]  # matrices, kernels
            self._record_weights(0)

    def _record_weights(self, epoch: int) -> None:
        """Freeze the kernels now (one compiled read, about a millisecond); histogram them on
        the writer thread: the graph's "weight histogram over training" of each layer."""
        if not self._kernels:
            return
        from ..weights import weight_snapshot

        frozen = weight_snapshot(self.model, self._kernels)
        self._submit(lambda: self._write_histograms(epoch, frozen()))

    def _write_histograms(self, epoch: int, weights: dict[str, np.ndarray]) -> None:
        for key, w in weights.items():
            w = np.asarray(w).ravel()
            w = w[np.isfinite(w)]
            if not w.size:
                continue
            lo, hi = float(w.min()), float(w.max())
            counts, _ = np.histogram(w, bins=BINS, range=(lo, hi if hi > lo else lo + 1e-6))
            rows = self._histograms.setdefault(key, [])
            rows[:] = [r for r in rows if r["epoch"] != epoch]
            rows.append({"epoch": epoch, "lo": lo, "hi": hi, "counts": counts.tolist()})
        folder = self.log_dir / self.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / WEIGHTS_FILE
        tmp = folder / f".{WEIGHTS_FILE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps({self.model.name: self._histograms}), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def manifest_params(self) -> dict[str, Any]:
        # Every model reported into this log_dir keeps its layer table (one part each).
        models = dict(self._manifest.callback(self.name)["params"].get("models") or {})
        models[self.model.name] = self._facts
        params = {"models": models, "file": self.filename}
        hparams = dict(self._manifest.callback(self.name)["params"].get("hparams") or {})
        if self.hparams:
            hparams[self.model.name] = self.hparams
        if hparams:
            params["hparams"] = hparams  # per model, as the layer tables
        return params

    def _register_run(self) -> None:
        super()._register_run()
        if isinstance(self._planned, int):  # "epoch k of N" for pages built from logs
            self._manifest.update_run(self._folder, self._fit.id, planned_epochs=self._planned)
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._longest_epoch = max(self._longest_epoch, time.monotonic() - self._epoch_start)
        if self._writes and self.live:
            self._record_weights(epoch + 1)
            # Built when the next epoch begins: by then every callback of the fit, wherever it
            # sits in the list, has queued its pictures of this epoch ahead of the page.
            self._live_epoch = epoch + 1

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._epoch_start = time.monotonic()
        done, self._live_epoch = self._live_epoch, None
        if done is None:
            return
        if self._live_future is not None and not self._live_future.done():
            return  # the writer is behind: the page in the queue will show the newer epoch
        # A page with no news for much longer than an epoch takes stops reloading: training
        # was interrupted (no train end, so no final page).
        stale = max(300.0, 20 * self.reload_seconds, 3 * self._longest_epoch)
        self._submit(lambda: self._write_live(done, stale))
        self._live_future = self._futures[-1]

    def _write_live(self, epoch: int, stale: float) -> None:
        """Writer thread: the page of a fit in progress (linked pictures, reloads itself)."""
        from ..report import LiveStatus, build_report

        start = time.perf_counter()
        self.path = build_report(
            self.log_dir,
            model=None,  # the facts and the graph recorded at train begin: nothing to recompute
            out=self.log_dir / self.filename,
            title=self.page_title,
            embed=False,
            live=LiveStatus(
                epoch, self._planned if isinstance(self._planned, int) else None,
                reload_seconds=self.reload_seconds,
                stale_seconds=stale,
            ),
        )  # fmt: skip
        self.live_seconds.append(time.perf_counter() - start)

    def on_train_end(self, logs=None):
        self._live_epoch = None  # the final page replaces the last live one
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


def _hparams(value: Any) -> dict[str, Any]:
    """``hparams`` as a plain dict of JSON scalars, or a named error."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"hparams must be a dict of names to numbers, strings or booleans; received "
            f"{type(value).__name__}. Example: hparams={{'lr': 1e-3, 'units': 64}}."
        )
    out = {}
    for key, v in value.items():
        if isinstance(v, np.generic):
            v = v.item()
        ok = isinstance(v, bool | int | str) or (isinstance(v, float) and math.isfinite(v))
        if not isinstance(key, str) or not ok:
            raise InvalidArgumentError(
                f"hparams[{key!r}] = {v!r}: names must be strings and values finite numbers, "
                "strings or booleans."
            )
        out[key] = v
    return out
