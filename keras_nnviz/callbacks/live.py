"""LiveView: one notebook output cell that follows training, epoch by epoch.

The cell shows "training in progress — epoch k of N", the training curves and the newest picture
of each tag the other ``nv.callbacks.*`` callbacks wrote to ``log_dir``. It is one IPython display
(``display(..., display_id=True)``) updated in place each epoch, so the notebook does not grow an
output per epoch; it works in Jupyter, JupyterLab, VS Code and Colab (all honour display ids).
The content is a page from :func:`keras_nnviz.html.document` in a sandboxed iframe, pictures as
data URIs (a notebook cannot reach files beside it in Colab); a picture already encoded is not
encoded again.
"""

from __future__ import annotations

import base64
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from .. import assets, validation
from ..errors import InvalidArgumentError
from ..html import document, esc, sandboxed_iframe
from ..io import MANIFEST_NAME, BackgroundWriter
from ..io.paths import contained
from ._base import VisualizationWarning
from ._fit import plain_numbers
from ._inputs import as_log_dir
from ._options import copy_from_state

__all__ = [
    "LiveView",
]


class _Cell:
    """What the notebook displays: the sandboxed iframe (``_repr_html_``)."""

    def __init__(self, html: str):
        self.html = html

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return "<keras_nnviz LiveView: shown in a notebook>"


class LiveView(keras.callbacks.Callback):
    """Follow training in one notebook output cell: progress, curves and the newest pictures.

    Add it beside the other callbacks (same ``log_dir``); each epoch it replaces its one output
    with the epoch's state. Outside a notebook it does nothing (and says so once).

    Args:
        log_dir: the folder shared with the other ``nv.callbacks.*`` callbacks.
        max_pictures: newest pictures shown (one per tag, in the order the callbacks wrote them).
        height: the cell's height in pixels (default: from the pictures shown).
        on_error: ``"warn"`` (default) or ``"raise"`` when the view cannot be updated.
        display: the display function (default ``IPython.display.display``); it is called as
            ``display(obj, display_id=True)`` and returns a handle with ``update(obj)``.

    Attributes:
        updates: how many times the cell was drawn.
        html: the last page shown.

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[nv.callbacks.ActivationMaps("logs", x=x[:1]),
        ...                                       nv.callbacks.LiveView("logs")])
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        max_pictures: int = 6,
        height: int | None = None,
        on_error: str = "warn",
        display: Callable[..., Any] | None = None,
    ):
        super().__init__()
        # Every option checked here, not at train begin: a height of "300px" or max_pictures=True
        # (a bool is an int to Python) must fail before the fit starts, not during it.
        validation.choice("on_error", on_error, ("warn", "raise"))
        max_pictures = validation.positive_int("max_pictures", max_pictures, minimum=0)
        if height is not None:
            height = validation.positive_int("height", height, minimum=1)
        if display is not None and not callable(display):
            raise InvalidArgumentError(
                f"display must be None (IPython's display) or a function called as "
                f"display(obj, display_id=True); received {type(display).__name__}."
            )
        self.log_dir = as_log_dir(log_dir, "LiveView")
        self.max_pictures = max_pictures
        self.height = height
        self.on_error = on_error
        self.display = display
        self._config = ("log_dir", "max_pictures", "height", "on_error", "display")
        self._reset()

    def _reset(self) -> None:
        self.updates = 0
        self.html = ""
        self._handle = None
        self._metrics: list[dict[str, float]] = []
        self._pending: int | None = None
        self._future = None
        self._uris: dict[Path, tuple[float, str]] = {}
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._warned = False

    # KerasTuner deep-copies callbacks: copies keep the configuration, not the running state.
    def __getstate__(self) -> dict[str, Any]:
        return {k: self.__dict__[k] for k in self._config} | {"_config": self._config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        keras.callbacks.Callback.__init__(self)
        self.__dict__.update(state)
        self._reset()

    def __deepcopy__(self, memo: dict) -> LiveView:
        return copy_from_state(self, memo, shared=("display",))

    # -- Keras hooks ------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._reset()
        show = self.display
        if show is None:
            try:
                from IPython import get_ipython
                from IPython.display import display as show
            except ImportError:
                get_ipython = None  # noqa: N806 - the IPython function's name
            if get_ipython is None or get_ipython() is None:
                warnings.warn(
                    "LiveView shows training in a notebook output cell; there is no notebook "
                    "here, so it does nothing. Open log_dir/report.html (nv.callbacks.Report) "
                    "or run `nnviz serve LOGDIR` instead.",
                    VisualizationWarning,
                    stacklevel=2,
                )
                return
        self._epochs = (getattr(self, "params", None) or {}).get("epochs")
        self._started = time.monotonic()
        self._handle = show(self._frame(self._page(0, running=True)), display_id=True)

    def on_epoch_end(self, epoch, logs=None):
        self._metrics.append({"epoch": epoch + 1, **plain_numbers(logs)})
        self._pending = epoch + 1
        self._raise_or_warn()

    def on_epoch_begin(self, epoch, logs=None):
        # The other callbacks queued their pictures of the last epoch on the writer thread at
        # its end; a job queued now runs after them and never blocks training.
        done, self._pending = self._pending, None
        if self._handle is None or done is None:
            return
        if self._future is not None and not self._future.done():
            return  # the writer is behind: the next update shows the newer epoch
        self._future = BackgroundWriter.submit(lambda: self._update(done, True))

    def on_train_end(self, logs=None):
        if self._handle is None:
            return
        epoch = self._metrics[-1]["epoch"] if self._metrics else 0
        # Train end: wait for the writer so the cell ends on the final pictures.
        BackgroundWriter.submit(lambda: self._update(epoch, False)).result()
        self._raise_or_warn()

    # -- drawing ----------------------------------------------------------------------------

    def _update(self, epoch: int, running: bool) -> None:
        try:
            self._handle.update(self._frame(self._page(epoch, running)))
        except Exception as exc:  # noqa: BLE001 - a view must not stop training
            with self._lock:
                self._errors.append(exc)

    def _frame(self, page: str) -> _Cell:
        return _Cell(sandboxed_iframe(page, self._height, "keras_nnviz live view"))

    def _page(self, epoch: int, running: bool) -> str:
        from ..report._curves import svg_charts

        pictures = self._pictures()
        of = f" of {self._epochs}" if self._epochs else ""
        if running:
            status = f'<div class="nv-live">training in progress — epoch {epoch}{of}</div>'
        else:
            took = time.monotonic() - self._started
            status = (
                f'<div class="nv-live nv-done">training finished — {epoch} epoch(s) in '
                f"{took:.0f} s</div>"
            )
        figures = "".join(
            f'<figure><div class="nv-t">{esc(title)}</div><img src="{esc(uri)}" '
            f'alt="{esc(title)}"><figcaption>{esc(caption)}</figcaption></figure>'
            for title, uri, caption, _ in pictures
        )
        curves = svg_charts(self._metrics) if len(self._metrics) > 0 else ""
        body = f'{status}<div class="nv-row">{curves}</div><div class="nv-row">{figures}</div>'
        rows = -(-len(pictures) // 3)
        tallest = max((h for *_, h in pictures), default=0)
        self._height = self.height or 40 + (230 if curves else 0) + rows * (min(tallest, 300) + 60)
        self.html = document(
            title="keras_nnviz live view",
            css=assets.text("live.css"),
            body=body,
            script="",
            data={},
        )
        self.updates += 1
        return self.html

    def _pictures(self) -> list[tuple[str, str, str, int]]:
        """(title, data URI, caption, height) of the newest frame of each tag of this model."""
        from ..report import _manifest

        if self.max_pictures == 0 or not (self.log_dir / MANIFEST_NAME).is_file():
            return []
        manifest = _manifest.read(self.log_dir)
        name = getattr(self.model, "name", None)
        sections = manifest.get("callbacks") or {}
        newest: dict[tuple[str, str], dict] = {}
        for e in manifest.get("entries") or []:
            section = sections.get(e.get("callback")) or {}
            runs = section.get("runs") or []
            if e.get("kind") != "frame" or e.get("media") != "image/png" or not runs:
                continue
            if runs[-1].get("model") != name:
                continue
            key = (e["callback"], e.get("tag", ""))
            old = newest.get(key)
            if old is None or (e.get("epoch") or 0, e.get("batch") or 0) >= (
                old.get("epoch") or 0,
                old.get("batch") or 0,
            ):
                newest[key] = e
        out = []
        for (callback, tag), e in list(newest.items())[: self.max_pictures]:
            path = contained(self.log_dir, e.get("path"))
            if path is None or not path.is_file():
                continue
            title = f"{(sections.get(callback) or {}).get('title') or callback} · {tag}"
            out.append((title, self._uri(path), e.get("caption", ""), int(e.get("height") or 0)))
        return out

    def _uri(self, path: Path) -> str:
        """A data URI of the file, encoded once per version of it."""
        mtime = path.stat().st_mtime
        cached = self._uris.get(path)
        if cached is None or cached[0] != mtime:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            cached = (mtime, f"data:image/png;base64,{data}")
            self._uris[path] = cached
        return cached[1]

    def _raise_or_warn(self) -> None:
        with self._lock:
            errors, self._errors = self._errors, []
        if not errors:
            return
        if self.on_error == "raise":
            raise errors[-1]
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"LiveView could not update its cell: {type(errors[-1]).__name__}: "
                f"{errors[-1]}. Training continues.",
                VisualizationWarning,
                stacklevel=3,
            )
