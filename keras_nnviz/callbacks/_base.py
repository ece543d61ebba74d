"""The base of every visualization callback: schedule, validation, compute, error policy, sinks.

A callback for a new family subclasses :class:`VisualizationCallback` and fills in three methods:

* :meth:`~VisualizationCallback.validate` (training thread, at train begin) resolves layers and
  checks arguments, raising an :class:`~keras_nnviz.errors.NNVizError` before the first epoch;
* :meth:`~VisualizationCallback.compute` (training thread, each snapshot) calls a compute function
  (``nv.get_weights``, ``nv.grad_cam`` ...) whose compiled ``tf.function`` is cached per model,
  and returns numpy — or freezes a weight snapshot and returns :class:`Later` so the forward pass
  itself runs on the writer thread (:mod:`._snapshot`);
* :meth:`~VisualizationCallback.render` (writer thread) turns that numpy into items for the sinks;
  optionally :meth:`~VisualizationCallback.summarize` (writer thread, train end) adds annotated
  matplotlib figures.

Example — a complete callback (the frame helpers live in ``keras_nnviz.callbacks._frames``)::

    class KernelNorms(VisualizationCallback):
        folder, title = "kernel_norms", "Kernel column norms"

        def validate(self, model):
            self._keys = [k for k, w in nv.get_weights(model).items() if w.ndim == 2]
            if not self._keys:
                raise nv.IncompatibleLayerError("No Dense kernel to show.")

        def compute(self, model):                      # training thread
            weights = nv.get_weights(model)
            return {k: np.linalg.norm(weights[k], axis=0) for k in self._keys}

        def render(self, result, when):                # writer thread
            for key, norms in result.items():
                yield HistogramItem(key, norms)
                frame = _frames.matrix_frame(norms[None], f"{key} · {when.label}")
                yield ImageItem(key, pixels=frame)

Everything after ``compute`` runs on one background thread
(:class:`keras_nnviz.sinks.BackgroundWriter`), which ``on_train_end`` joins.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np

from .. import io as sinks_lib
from ..errors import InvalidArgumentError, InvalidInputError, NNVizError
from ..inputs import prepare
from ..io import Destination, Item, When


class VisualizationWarning(UserWarning):
    """A visualization failed during ``fit``; training went on (see ``on_error``)."""


class Later:
    """A compute result to finish on the writer thread (e.g. a forward pass on a weight snapshot).

    ``compute`` returns ``Later(fn)`` when it has frozen what it needs (cheaply) and the heavy
    part may run while training goes on; the writer thread calls ``fn()`` before ``render``.
    """

    def __init__(self, fn):
        self.fn = fn

    def resolve(self) -> Any:
        return self.fn()


@dataclass(frozen=True)
class Schedule:
    """When snapshots are taken: every ``n`` epochs or every ``n`` training batches."""

    unit: str  # "epoch" | "batch"
    n: int

    @classmethod
    def parse(cls, every: int | str) -> Schedule:
        """Parse ``every``: an int (epochs), ``"epoch:N"`` or ``"batch:N"``.

        Raises:
            InvalidArgumentError: anything else.
        """
        if isinstance(every, int | np.integer) and not isinstance(every, bool) and every >= 1:
            return cls("epoch", int(every))
        if isinstance(every, str) and ":" in every:
            unit, _, count = every.partition(":")
            if unit.strip() in ("epoch", "batch") and count.strip().isdigit() and int(count) >= 1:
                return cls(unit.strip(), int(count))
        raise InvalidArgumentError(
            f"every must be a positive int (epochs) or a string 'batch:N' / 'epoch:N' with N >= 1; "
            f"received {every!r}. Examples: every=1, every=5, every='batch:100'."
        )

    def __str__(self) -> str:
        return str(self.n) if self.unit == "epoch" else f"{self.unit}:{self.n}"


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


def is_chief(model: keras.Model) -> bool:
    """Whether this worker writes: under MultiWorkerMirroredStrategy only the chief does."""
    try:
        extended = model.distribute_strategy.extended
    except AttributeError:
        return True
    return bool(getattr(extended, "should_checkpoint", True))


def check_log_dir(log_dir: Path) -> None:
    """Create ``log_dir`` and prove it is writable, or raise a clear error."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".nnviz-write-test-", dir=log_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InvalidArgumentError(
            f"log_dir {str(log_dir)!r} is not a writable directory ({type(exc).__name__}: "
            f"{exc.strerror or exc}). Pass a folder you can create and write to, e.g. "
            "log_dir='logs/run1'."
        ) from None


def fixed_inputs(model: keras.Model, x: Any, max_samples: int | None = None) -> Any:
    """Validate a callback's fixed inputs once and keep them as model-ready numpy.

    Datasets are read once (up to ``max_samples`` samples, default 256): the same samples must be
    shown every epoch.

    Returns:
        One array for single-input models, else a list of arrays in ``model.inputs`` order.
    """
    if x is None:
        raise InvalidInputError("This callback needs inputs x to visualize; received None.")
    data = prepare(model, x, batch_size=max_samples or 256)
    if data.arrays is not None:
        arrays = [a[:max_samples] if max_samples else a for a in data.arrays]
    else:
        limit = max_samples or 256
        chunks: list[list[np.ndarray]] = []
        got = 0
        for batch in data.batches(limit):
            flat = batch if isinstance(batch, list) else [batch]
            chunks.append([np.asarray(t) for t in flat])
            got += len(chunks[-1][0])
            if got >= limit:
                break
        if not chunks:
            raise InvalidInputError("The dataset given as x is empty; pass at least one sample.")
        arrays = [np.concatenate([c[i] for c in chunks])[:limit] for i in range(len(chunks[0]))]
    return arrays[0] if len(arrays) == 1 else arrays


def first_input(x: Any) -> np.ndarray:
    """The first input array of a fixed-input structure (for image previews)."""
    return x[0] if isinstance(x, list) else x


_BLAS = None


def _single_threaded_blas():
    """Numpy's BLAS on one thread while the writer works.

    Right after TensorFlow ran an op, its OpenMP threads spin for a while; a multi-threaded
    OpenBLAS call then fights them for the cores: a 128×128 SVD (the PCA of an embedding) took
    0.76 s instead of 3 ms here. The writer's arrays are small, one thread is plenty. (The limit
    is process-wide for its duration; TensorFlow itself does not use this BLAS.)
    """
    global _BLAS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - installed with scikit-learn
        return contextlib.nullcontext()
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


# Callbacks between their on_train_begin and the end of their on_train_end, and functions waiting
# for them: the Report callback builds its page only once every visualization of the same fit
# has written its last frames, wherever it sits in the callback list.
_IN_FIT: weakref.WeakSet = weakref.WeakSet()
_WAITERS: list[tuple[set, Any]] = []
_WAITERS_LOCK = threading.Lock()


def after_visualizations(callback: keras.callbacks.Callback, fn) -> None:
    """Call ``fn()`` once every :class:`VisualizationCallback` of ``callback``'s fit has finished.

    The fit is recognized by the ``params`` dict Keras hands to every callback of one
    ``CallbackList``. With none pending (the usual case when ``callback`` comes last), ``fn``
    runs now; otherwise at the end of the last pending one's ``on_train_end``.
    """
    params = getattr(callback, "params", None)
    pending = {
        cb
        for cb in list(_IN_FIT)
        if cb is not callback and cb.model is callback.model and params and cb.params is params
    }
    if not pending:
        fn()
        return
    with _WAITERS_LOCK:
        _WAITERS.append((pending, fn))


def _finished(callback: VisualizationCallback) -> None:
    _IN_FIT.discard(callback)
    ready = []
    with _WAITERS_LOCK:
        for entry in list(_WAITERS):
            entry[0].discard(callback)
            if not entry[0]:
                _WAITERS.remove(entry)
                ready.append(entry[1])
    for fn in ready:
        fn()


def _plain_numbers(logs: dict | None) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _resolve(result: Any) -> Any:
    return result.resolve() if isinstance(result, Later) else result


class VisualizationCallback(keras.callbacks.Callback):
    """Base class: schedule + validation + compiled compute + background rendering + sinks.

    Args:
        log_dir: folder for everything written (created if needed). Use the same folder as
            ``keras.callbacks.TensorBoard`` to see both in one TensorBoard run.
        every: snapshot every N epochs (int), or ``"batch:N"`` every N training batches.
            ``on_train_end`` always writes the final state.
        sinks: None (PNG files, TensorBoard, GIF), or names/instances from
            :mod:`keras_nnviz.sinks`.
        on_error: ``"warn"`` (default): a failing visualization warns once and ``fit`` goes on;
            ``"raise"``: the error stops training.
        initial: also snapshot the model before training (``epoch_0000``); the first compute
            happens at train begin anyway, to fail early.
        name: folder and tag prefix (default: the callback's ``folder``); give two callbacks of
            one class different names when they share a ``log_dir``.
        max_pending: snapshots waiting for the writer before the training thread waits.
        background: let callbacks that can (ActivationMaps, EmbeddingProjection) run their
            forward pass on the writer thread, on a snapshot of the weights, while training goes
            on (True); False runs it on the training thread (blocks longer, competes less).
    """

    folder: ClassVar[str] = "visualization"
    title: ClassVar[str] = "Visualization"
    default_every: ClassVar[int | str] = 1

    def __init__(
        self,
        log_dir: str | os.PathLike,
        every: int | str | None = None,
        sinks: Any = None,
        on_error: str = "warn",
        initial: bool = True,
        name: str | None = None,
        max_pending: int = 4,
        background: bool = True,
    ):
        super().__init__()
        if not isinstance(log_dir, str | os.PathLike) or not str(log_dir):
            raise InvalidArgumentError(
                f"log_dir must be a folder path (str or Path); received {log_dir!r}."
            )
        if on_error not in ("warn", "raise"):
            raise InvalidArgumentError(
                f"on_error must be 'warn' or 'raise'; received {on_error!r}."
            )
        self.log_dir = Path(os.fspath(log_dir))
        self.schedule = Schedule.parse(self.default_every if every is None else every)
        self.sinks = sinks_lib.resolve_sinks(sinks)
        self.on_error = on_error
        self.initial = bool(initial)
        self.name = name or self.folder
        self.max_pending = max(1, int(max_pending))
        self.background = bool(background)
        self.stats = CallbackStats()
        self._errors: list[tuple[When | None, BaseException, str]] = []
        self._errors_lock = threading.Lock()
        self._warned = False
        self._futures: list = []
        if self.schedule.unit == "batch":
            # Only batch-level schedules define a batch hook: Keras runs every callback's batch
            # hooks synchronously as soon as one callback overrides them.
            self.on_train_batch_end = self._on_train_batch_end

    # -- to implement -----------------------------------------------------------------------

    def validate(self, model: keras.Model) -> None:
        """Resolve layers and check inputs; raise an NNVizError for user mistakes."""

    def compute(self, model: keras.Model) -> Any:
        """Training thread: compiled TF compute, returns numpy (fast)."""
        raise NotImplementedError

    def render(self, result: Any, when: When) -> Iterable[Item]:
        """Writer thread: numpy → frames / histograms."""
        raise NotImplementedError

    def summarize(self) -> Iterable[Item]:
        """Writer thread, at train end: annotated summary figures (default: none)."""
        return ()

    def manifest_params(self) -> dict[str, Any]:
        """JSON-able parameters recorded in the manifest."""
        return {}

    # -- Keras hooks ------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        start = time.perf_counter()
        _IN_FIT.add(self)
        self.stats = CallbackStats()
        self._errors.clear()
        self._warned = False
        self._futures = []
        self._global_batch = 0
        self._metrics: list[dict[str, Any]] = []
        self._epochs_done = 0  # Keras tells the real epoch (initial_epoch) in on_epoch_begin
        self._last_state: tuple | None = None
        self._writes = is_chief(self.model)
        self._dest = Destination(self.log_dir, self.name)
        if self._writes:
            check_log_dir(self.log_dir)
            for sink in self.sinks:
                sink.prepare(self._dest)
            self._manifest = sinks_lib.Manifest.for_dir(self.log_dir)
        self.validate(self.model)  # user mistakes raise here, before the first epoch
        self._started = sinks_lib.utc_now()
        self._initial = None
        try:
            # Resolved here, on the training thread: tracing happens now (never on the writer
            # thread while Keras might be tracing), and mistakes surface before training.
            result = _resolve(self.compute(self.model))
        except NNVizError:
            raise  # a mistake in the arguments, found while tracing: tell before training
        except Exception as exc:  # noqa: BLE001 - a visualization must not stop training
            self._fail(When(0), exc)
            result = None
        if self._writes:
            self._submit(self._register_run)
        if result is not None and self.initial:
            # Written at the first on_epoch_begin, which tells the epoch training resumes from
            # (fit(initial_epoch=3) continues at epoch_0003, it does not overwrite epoch_0000).
            self._initial = result
        self.stats.train_begin = time.perf_counter() - start
        self._raise_or_warn()

    def _flush_initial(self, epoch: int) -> None:
        if self._initial is not None:
            result, self._initial = self._initial, None
            self._hand_off(result, When(epoch, None, epoch))

    def on_epoch_begin(self, epoch, logs=None):
        self._epochs_done = epoch
        self._flush_initial(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1
        self._metrics.append({"epoch": epoch + 1, **_plain_numbers(logs)})
        if self.schedule.unit == "epoch" and self._epochs_done % self.schedule.n == 0:
            self._snapshot(When(self._epochs_done, None, self._epochs_done))
        self._raise_or_warn()

    def _on_train_batch_end(self, batch, logs=None):
        self._global_batch += 1
        if self._global_batch % self.schedule.n == 0:
            done = self._epochs_done
            self._snapshot(When(done, self._global_batch, self._global_batch))
            self._raise_or_warn()

    def on_train_end(self, logs=None):
        start = time.perf_counter()
        try:
            self._flush_initial(self._epochs_done)  # fit ran no epoch
            batch = self._global_batch if self.schedule.unit == "batch" else None
            state = (self._epochs_done, batch)
            step = batch if batch is not None else self._epochs_done
            self._final_when = When(self._epochs_done, batch, step, final=True)
            if state != self._last_state:
                self._snapshot(self._final_when, timed=False)
            if self._writes:
                self._submit(self._finish)
            self._wait(0)
        finally:
            self.stats.train_end = time.perf_counter() - start
            _finished(self)
        self._raise_or_warn()

    # -- machinery --------------------------------------------------------------------------

    def _snapshot(self, when: When, timed: bool = True) -> None:
        start = time.perf_counter()
        try:
            result = self.compute(self.model)
        except Exception as exc:  # noqa: BLE001 - a visualization must not stop training
            self._fail(when, exc)
        else:
            if not self.background and isinstance(result, Later):
                try:
                    result = result.resolve()
                except Exception as exc:  # noqa: BLE001 - a visualization must not stop training
                    self._fail(when, exc)
                    result = None
            if result is not None:
                self._hand_off(result, when)
        if timed:
            self.stats.blocking.append(time.perf_counter() - start)

    def _hand_off(self, result: Any, when: When) -> None:
        self._last_state = (when.epoch, when.batch)
        self.stats.snapshots += 1
        if not self._writes:
            return  # computed (collectives ran on every worker); only the chief writes
        self._wait(self.max_pending - 1)
        self._submit(lambda: self._write(self.render(_resolve(result), when), when), when)

    def _submit(self, fn, when: When | None = None) -> None:
        def task():
            start = time.perf_counter()
            try:
                with _single_threaded_blas():
                    fn()
            except Exception as exc:  # noqa: BLE001 - reported on the training thread
                self._fail(when, exc)
            finally:
                self.stats.background += time.perf_counter() - start

        self._futures.append(sinks_lib.BackgroundWriter.submit(task))

    def _wait(self, keep: int) -> None:
        """Wait until at most ``keep`` of this callback's tasks are pending."""
        self._futures = [f for f in self._futures if not f.done()]
        while len(self._futures) > keep:
            self._futures.pop(0).result()

    def _write(self, items: Iterable[Item], when: When | None) -> None:
        entries: list[dict] = []
        for item in items:
            if isinstance(item, sinks_lib.FileItem):
                entries.extend(item.records)
                continue
            for sink in self.sinks:
                entries.extend(sink.write(self._dest, item, when))
        self._manifest.add(entries)
        runs = self._manifest.callback(self.name)["runs"]
        if runs:
            runs[-1]["metrics"] = list(self._metrics)  # the curves, for reports read live
        self._manifest.save()

    def _register_run(self) -> None:
        section = self._manifest.callback(self.name)
        section.update(
            {
                "class": type(self).__name__,
                "title": self.title,
                "every": str(self.schedule),
                "params": self.manifest_params(),
            }
        )
        section["runs"].append(
            {
                "started": self._started,
                "ended": None,
                "model": self.model.name,
                "epochs": None,
                "metrics": [],
            }
        )
        self._manifest.save()

    def _finish(self) -> None:
        try:
            self._write(self.summarize(), self._final_when)
        finally:
            entries = []
            for sink in self.sinks:
                entries.extend(sink.finish(self._dest))
            self._manifest.add(entries)
            section = self._manifest.callback(self.name)
            if section["runs"]:
                section["runs"][-1].update(
                    {"ended": sinks_lib.utc_now(), "epochs": self._epochs_done}
                )
            with self._errors_lock:
                for when, exc, _ in self._errors:
                    section["errors"].append(
                        {
                            "time": sinks_lib.utc_now(),
                            "epoch": None if when is None else when.epoch,
                            "message": f"{type(exc).__name__}: {exc}",
                        }
                    )
            self._manifest.save()

    def _fail(self, when: When | None, exc: BaseException) -> None:
        with self._errors_lock:
            self._errors.append((when, exc, traceback.format_exc()))
            self.stats.errors += 1

    def _raise_or_warn(self) -> None:
        """Report caught failures on the training thread: raise, or warn once per callback."""
        with self._errors_lock:
            if not self._errors:
                return
            when, exc, trace = self._errors[-1]
            if self.on_error == "raise":
                self._errors.clear()
        if self.on_error == "raise":
            raise exc
        if not self._warned:
            self._warned = True
            where = "" if when is None else f" at {when.label}"
            warnings.warn(
                f"{type(self).__name__} ({self.name!r}) failed{where}: {type(exc).__name__}: "
                f"{exc}. Training continues; further failures of this callback are not "
                "reported again (they are listed in the manifest). Pass on_error='raise' to "
                f"stop instead.\n{trace}",
                VisualizationWarning,
                stacklevel=3,
            )
