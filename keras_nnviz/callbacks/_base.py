"""The base of every visualization callback: schedule, validation, compute, error policy, sinks.

A callback for a new family subclasses :class:`VisualizationCallback` and fills in three methods:

* :meth:`~VisualizationCallback.validate` (training thread, at train begin) resolves layers and
  checks arguments, raising an :class:`~keras_nnviz.errors.NNVizError` before the first epoch;
* :meth:`~VisualizationCallback.compute` (training thread, each snapshot) calls a compute function
  (``nv.get_weights``, ``nv.grad_cam`` ...) whose compiled pass is cached per model, and returns
  numpy — or freezes a weight snapshot (``CompiledPass.snapshot()``, about a millisecond) and
  returns :class:`Later`, so the pass itself runs on the writer thread while training goes on;
* :meth:`~VisualizationCallback.render` (writer thread) turns that numpy into items for the sinks;
  optionally :meth:`~VisualizationCallback.summarize` (writer thread, train end) adds annotated
  matplotlib figures.

Constructors follow one convention (:mod:`._options`): ``Cls(log_dir, *, ...)``; unknown
keywords fail at construction. Callbacks survive ``copy.deepcopy`` and ``pickle`` (KerasTuner
copies them per trial): a copy keeps the configuration and rebuilds the rest at train begin. A
deep copy writes into ``log_dir/copy_NN`` (NN counts the copies of one callback), so the trials
of a tuner sharing one ``log_dir`` keep their pictures apart.

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
(:class:`keras_nnviz.io.BackgroundWriter`), which ``on_train_end`` joins.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
import traceback
import warnings
from collections.abc import Collection, Iterable
from typing import Any, ClassVar

import keras

from .. import io as sinks_lib
from .._compat import functions_without_grappler
from ..core.numeric import single_threaded_blas
from ..errors import InvalidArgumentError, NNVizError
from ..io import Destination, Item, When
from ..io.locks import claim_folder
from ..io.paths import check_name
from . import _drawn, _fit, _options, _recorder
from ._budget import Budget, agree_across_workers
from ._inputs import (
    as_log_dir,
    check_log_dir,
    first_input,
    fixed_inputs,
    is_chief,
    multi_worker,
)
from ._schedule import CallbackStats, Later, Schedule, resolve

__all__ = [
    "CallbackStats",
    "Later",
    "Schedule",
    "VisualizationCallback",
    "TrainingDivergedWarning",
    "VisualizationWarning",
    "check_log_dir",
    "first_input",
    "fixed_inputs",
    "is_chief",
]


class VisualizationWarning(UserWarning):
    """A visualization failed during ``fit``; training went on (see ``on_error``)."""


class TrainingDivergedWarning(VisualizationWarning):
    """The loss (or a metric) of the fit turned NaN or infinite; names the first layer whose
    weights are not finite. Recorded in the manifest as the run's ``"diverged"``."""


class VisualizationCallback(keras.callbacks.Callback):
    """Base class: schedule + validation + compiled compute + background rendering + sinks.

    Args:
        log_dir: folder for everything written (created if needed). Use the same folder as
            ``keras.callbacks.TensorBoard`` to see both in one TensorBoard run.
        every: ``"auto"`` (default): at epoch ends, when the fit's overhead budget allows
            (the state before training and the final state always; see
            :class:`~keras_nnviz.callbacks.Budget`); or every N epochs (int), ``"batch:N"``
            every N training batches: a fixed schedule, whose cost still counts against the
            budget. ``on_train_end`` always writes the final state.
        budget: the :class:`~keras_nnviz.callbacks.Budget` shared with other callbacks; None
            (default): the fit's own, shared by every callback of the fit given none (5 % of
            the training time, or the one of ``with nv.callbacks.budget(...)``).
        sinks: None (PNG files, TensorBoard, GIF), or names/instances from
            :mod:`keras_nnviz.io`.
        on_error: ``"warn"`` (default): a failing visualization warns once and ``fit`` goes on;
            ``"raise"``: the error stops training.
        initial: also snapshot the model before training (``epoch_0000``); the first compute
            happens at train begin anyway, to fail early.
        name: folder and tag prefix (default: the callback's ``folder``). A folder another
            running callback writes to (of this fit, another fit, another process) is never
            shared: this callback then writes to ``<name>_2`` (``_3`` ...) and, when another fit
            holds it, warns; the manifest and the report list each under its folder.
        max_pending: snapshots waiting for the writer before the training thread waits.
        background: let callbacks that can run their pass on the writer thread, on a snapshot of
            the weights, while training goes on (True); False runs it on the training thread
            (blocks longer, competes less).

    Example:
        >>> cb = nv.callbacks.WeightHistograms("logs", every=2, sinks=["png"])
    """

    folder: ClassVar[str] = "visualization"
    title: ClassVar[str] = "Visualization"
    #: False for callbacks that only act at train end (``Report``): no snapshots, no ``every``.
    snapshots: ClassVar[bool] = True
    #: Attributes holding the user's inputs: deep copies share them (never modified) instead of
    #: duplicating arrays that may be large.
    shared_inputs: ClassVar[tuple[str, ...]] = ("x", "y", "labels", "tokens", "budget")

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _options.checked_init(cls.__dict__["__init__"])

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        every: int | str = "auto",
        budget: Budget | None = None,
        sinks: Any = None,
        on_error: str = "warn",
        initial: bool = True,
        name: str | None = None,
        max_pending: int = 4,
        background: bool = True,
    ):
        super().__init__()
        if on_error not in ("warn", "raise"):
            raise InvalidArgumentError(
                f"on_error must be 'warn' or 'raise'; received {on_error!r}."
            )
        self.log_dir = as_log_dir(log_dir, type(self).__name__)
        self.schedule = Schedule.parse(every) if self.snapshots else None
        if budget is not None and not isinstance(budget, Budget):
            raise InvalidArgumentError(
                f"budget must be a keras_nnviz.callbacks.Budget or None (the fit's shared one); "
                f"received {budget!r}. Example: budget=nv.callbacks.Budget(0.1)."
            )
        self.budget = budget
        self.sinks = sinks_lib.resolve_sinks(sinks)
        self.on_error = on_error
        self.initial = bool(initial)
        # One plain folder name: `name="../x"` or an absolute path would write outside log_dir.
        self.name = check_name(name, "name") if name is not None else self.folder
        self.max_pending = max(1, int(max_pending))
        self.background = bool(background)

    @classmethod
    def option_names(cls, given: dict[str, Any]) -> Collection[str] | None:
        """Keywords a subclass's ``**options`` accepts besides its named parameters.

        Default: the base options (``every``, ``sinks``, ``on_error`` ...). A subclass that
        forwards options to a compute function adds that function's keywords (``given`` holds
        the call's keywords, e.g. ``method=``); None accepts anything.
        """
        params = inspect.signature(VisualizationCallback.__dict__["__init__"]).parameters
        return [p for p in params if p not in ("self", "log_dir")]

    def _init_runtime(self) -> None:
        """State of one fit (rebuilt for copies): stats, error list, pending writes, hooks."""
        self.stats = CallbackStats()
        self._errors: list[tuple[When | None, BaseException, str]] = []
        self._errors_lock = threading.Lock()
        self._notices: list[tuple[str, type[Warning]]] = []
        self._warned = False
        self._futures: list = []
        self._diverged_recorded = False
        self._claim = None
        self._folder = self.name  # the folder this fit writes to (``name``, or ``name_2`` ...)
        if self.schedule is not None and self.schedule.unit == "batch":
            # Only batch-level schedules define a batch hook: Keras runs every callback's batch
            # hooks synchronously as soon as one callback overrides them.
            self.on_train_batch_end = self._on_train_batch_end

    # -- copies (KerasTuner deep-copies callbacks; pickle for configuration) ----------------

    def __getstate__(self) -> dict[str, Any]:
        state = {k: self.__dict__[k] for k in self._config_keys if k in self.__dict__}
        state["sinks"] = [_options.portable_sink(s) for s in self.sinks]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__init__()  # a fresh Keras callback: no model, no params
        self.__dict__.update(state)
        self.sinks = [_options.rebuild_sink(s) for s in state["sinks"]]
        self._config_keys = tuple(k for k in state if k not in ("_model", "params"))
        self._init_runtime()

    def __deepcopy__(self, memo: dict) -> VisualizationCallback:
        new = _options.copy_from_state(self, memo, self.shared_inputs)
        # Each copy writes into its own numbered sub-folder (log_dir/copy_01, copy_02 ...):
        # KerasTuner deep-copies the callbacks for every trial, and trials sharing one log_dir
        # must not overwrite each other's pictures. Set log_dir on a copy to choose otherwise.
        self._copies = getattr(self, "_copies", 0) + 1
        new.log_dir = self.log_dir / f"copy_{self._copies:02d}"
        return new

    # -- to implement -----------------------------------------------------------------------

    def validate(self, model: keras.Model) -> None:
        """Resolve layers and check inputs; raise an NNVizError for user mistakes."""

    def compute(self, model: keras.Model) -> Any:
        """Training thread: compiled TF compute, returns numpy (fast) or :class:`Later`."""
        raise NotImplementedError

    def render(self, result: Any, when: When) -> Iterable[Item]:
        """Writer thread: numpy → frames / histograms."""
        raise NotImplementedError

    def summarize(self) -> Iterable[Item]:
        """Writer thread, at train end: annotated summary figures (default: none)."""
        return ()

    def manifest_params(self) -> dict[str, Any]:
        """JSON-able parameters recorded in the manifest (called on the writer thread)."""
        return {}

    def notify(self, message: str, category: type[Warning]) -> None:
        """Warn from any thread: the warning is raised on the training thread, at the next
        epoch end or at train end (``warnings`` filters and ``pytest.warns`` see it there)."""
        with self._errors_lock:
            self._notices.append((message, category))

    # -- Keras hooks ------------------------------------------------------------------------

    def set_params(self, params):
        super().set_params(params)
        _recorder.announce(self)  # before any train begin: siblings find each other (one pass)

    def on_train_begin(self, logs=None):
        start = time.perf_counter()
        self._init_runtime()
        self._fit = _fit.join(self)
        self._multi_worker = multi_worker(self.model)
        agree = agree_across_workers(self.model.distribute_strategy) if self._multi_worker else None
        self._ledger = self._fit.ledger(self.budget, agree)
        self._clock = self._ledger.clock
        begun = self._clock()
        self._ledger.join(
            self, scheduled=self.schedule is not None and self.schedule.unit == "auto"
        )
        self._drawn: list[int] = []
        self._global_batch = 0
        self._epochs_done = 0  # Keras tells the real epoch (initial_epoch) in on_epoch_begin
        self._last_state: tuple | None = None
        self._initial = None
        self._when = When(0)
        self._writes = is_chief(self.model)
        self._folder = self.name
        try:
            if self._writes:
                check_log_dir(self.log_dir)
                self._claim_folder()
            self._dest = Destination(self.log_dir, self._folder)
            if self._writes:
                for sink in self.sinks:
                    sink.prepare(self._dest)
                self._manifest = sinks_lib.Manifest.for_dir(self.log_dir)
                self._manifest.refresh()  # what other processes wrote since
                self._fit.manifests.add(self._manifest)
            with functions_without_grappler():
                self.validate(self.model)  # user mistakes raise here, before the first epoch
                computed = self._clock()
                result = self._first_compute() if self.snapshots else None
            self._first_cost = self._clock() - computed  # tracing included: an upper bound
        except BaseException:
            if self._claim is not None:
                self._claim.release()
            self._fit.finished(self)  # Keras calls no on_train_end after a failed train begin
            raise
        self._started = sinks_lib.utc_now()
        if self._writes:
            self._submit(self._register_run)
        if result is not None and self.initial:
            # Written at the first on_epoch_begin, which tells the epoch training resumes from
            # (fit(initial_epoch=3) continues at epoch_0003, it does not overwrite epoch_0000).
            self._initial = result
        self.stats.train_begin = time.perf_counter() - start
        self._ledger.charge(self._clock() - begun, blocking=True)
        self._raise_or_warn()

    def _claim_folder(self) -> None:
        """Take a folder no other running callback writes to (``name``, else ``name_2`` ...):
        frames of two fits, or of two callbacks of one class, never overwrite each other."""
        if not self.snapshots:
            return  # writes no frames (Report): its manifest section is shared on purpose
        self._claim = claim_folder(self.log_dir, self.name)
        self._fit.claims.append(self._claim)
        self._folder = self._claim.name
        others = {getattr(cb, "_folder", None) for cb in self._fit.members if cb is not self}
        if self._folder != self.name and self.name not in others:
            # Held by another fit (this process or another one), not by a sibling callback.
            warnings.warn(
                f"{type(self).__name__}: {str(self.log_dir / self.name)!r} is in use by another "
                f"running fit; this one writes to {self._folder!r} so neither overwrites the "
                "other's frames.",
                VisualizationWarning,
                stacklevel=4,
            )

    def _first_compute(self) -> Any:
        try:
            # Resolved here, on the training thread: tracing happens now (never on the writer
            # thread while Keras might be tracing), and mistakes surface before training.
            return resolve(self.compute(self.model))
        except NNVizError:
            raise  # a mistake in the arguments, found while tracing: tell before training
        except Exception as exc:  # noqa: BLE001 - a visualization must not stop training
            self._fail(When(0), exc)
            return None

    def _flush_initial(self, epoch: int) -> None:
        if self._initial is not None:
            result, self._initial = self._initial, None
            # Resolved at train begin, tracing included: the plan takes that (plus the writer
            # thread's part) as this callback's cost until a snapshot at an epoch end measures
            # it (an upper bound: the first epoch draws only when the budget can afford it).
            self._hand_off(result, When(epoch, None, epoch), blocked=self._first_cost)

    def on_epoch_begin(self, epoch, logs=None):
        self._epochs_done = epoch
        self._flush_initial(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1
        found = self._fit.log_epoch(epoch + 1, logs)
        if found is not None:  # once per fit, by the callback that saw it first
            warnings.warn(found["message"], TrainingDivergedWarning, stacklevel=2)
        if self._fit.diverged is not None and not self._diverged_recorded and self._writes:
            self._diverged_recorded = True
            self._submit(lambda: self._record_diverged(dict(self._fit.diverged)))
        schedule = self.schedule
        if schedule is None:
            due = False
        elif schedule.unit == "auto":  # the fit's budget plans the epoch (same on all workers)
            due = self._ledger.due(self, self._epochs_done)
        else:
            due = schedule.due(self._epochs_done)
        if due:
            self._snapshot(When(self._epochs_done, None, self._epochs_done))
        elif self._writes:
            # The epoch's curves row, for reports read live; its append to the journal is also
            # the fit's heartbeat (``nnviz serve`` reads a silent unended fit as stopped).
            self._submit(self._save)
        self._raise_or_warn()

    def _on_train_batch_end(self, batch, logs=None):
        self._global_batch += 1
        if self._global_batch % self.schedule.n == 0:
            done = self._epochs_done
            self._snapshot(When(done, self._global_batch, self._global_batch))
            self._raise_or_warn()

    def on_train_end(self, logs=None):
        start = time.perf_counter()
        self._fit.end()
        try:
            self._flush_initial(self._epochs_done)  # fit ran no epoch
            batch = self._global_batch if self.schedule and self.schedule.unit == "batch" else None
            state = (self._epochs_done, batch)
            step = batch if batch is not None else self._epochs_done
            self._final_when = When(self._epochs_done, batch, step, final=True)
            if self.snapshots and state != self._last_state:
                self._snapshot(self._final_when, timed=False)
            self._spend = self._ledger.summary()  # read here: the fit's clock is this thread's
            if self._writes:
                self._submit(self._finish)
            self._wait(0)
            if self._writes and self._fit.last(self):
                self._compact()
        finally:
            self.stats.train_end = time.perf_counter() - start
            if self._claim is not None:
                self._claim.release()
            self._fit.finished(self)
        self._raise_or_warn()

    def _compact(self) -> None:
        """Last callback of the fit: fold each manifest's journal into its JSON index."""
        for manifest in list(self._fit.manifests):
            try:
                manifest.compact()
            except Exception as exc:  # noqa: BLE001 - the journal still holds everything
                self._fail(None, exc)

    # -- machinery --------------------------------------------------------------------------

    def _snapshot(self, when: When, timed: bool = True) -> None:
        start, begun = time.perf_counter(), self._clock()
        self._when = when  # what compute() is drawing (When(0) at train begin)
        try:
            with functions_without_grappler():
                result = self.compute(self.model)
                if not self.background:
                    result = resolve(result)
        except Exception as exc:  # noqa: BLE001 - a visualization must not stop training
            self._fail(when, exc)
        else:
            if result is not None:
                self._hand_off(result, when, blocked=self._clock() - begun)
        self._ledger.charge(self._clock() - begun, blocking=True)
        if timed:
            self.stats.blocking.append(time.perf_counter() - start)

    def _hand_off(self, result: Any, when: When, blocked: float | None = 0.0) -> None:
        self._last_state = (when.epoch, when.batch)
        self.stats.snapshots += 1
        self._ledger.drew(self, when.epoch)
        if not self._drawn or self._drawn[-1] != when.epoch:
            self._drawn.append(when.epoch)
        if not self._writes:
            return  # computed (collectives ran on every worker); only the chief writes
        self._wait(self.max_pending - 1)

        def write():
            start = self._clock()
            self._write(self.render(resolve(result), when), when)
            _drawn.mark_drawn(self.sinks, self.log_dir, self._folder, when)
            if blocked is not None:  # what this snapshot cost in all, for every="auto"
                self._ledger.measured(self, blocked + self._clock() - start)

        if blocked is not None:  # known now; the writer thread adds its part when done
            self._ledger.measured(self, blocked)
        self._submit(write, when)

    def _submit(self, fn, when: When | None = None) -> None:
        def task():
            start, begun = time.perf_counter(), self._clock()
            try:
                with single_threaded_blas(), functions_without_grappler():
                    fn()
            except Exception as exc:  # noqa: BLE001 - reported on the training thread
                self._fail(when, exc)
            finally:
                self.stats.background += time.perf_counter() - start
                self._ledger.charge(self._clock() - begun, blocking=False)

        try:
            self._futures.append(sinks_lib.BackgroundWriter.submit(task))
        except RuntimeError:  # the writer is shut down (interpreter exit): write here
            task()

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
        self._save()

    def _save(self) -> None:
        """Writer thread: store the fit's record (curves) and write the manifest."""
        self._fit.store(self._manifest)
        self._manifest.save()

    def _record_diverged(self, diverged: dict[str, Any]) -> None:
        """Writer thread: the run of this fit diverged (the report shows a banner)."""
        self._manifest.update_run(self._folder, self._fit.id, diverged=diverged)
        self._save()

    def _register_run(self) -> None:
        self._manifest.set_callback(
            self._folder,
            **{
                "class": type(self).__name__,
                "title": self.title,
                "every": str(self.schedule) if self.schedule else "train end",
                "params": self.manifest_params(),
            },
        )
        self._manifest.add_run(
            self._folder,
            {
                "started": self._started,
                "ended": None,
                "model": self.model.name,
                "epochs": None,
                "fit": self._fit.id,
            },
        )
        self._save()

    def _finish(self) -> None:
        try:
            self._write(self.summarize(), self._final_when)
            if self.snapshots:  # TensorBoard's list of the epochs drawn
                when, every = self._final_when, str(self.schedule)
                _drawn.write_schedule(
                    self.sinks, self.log_dir, self._folder, when, self._drawn, every, self._spend
                )
        finally:
            entries = []
            for sink in self.sinks:
                entries.extend(sink.finish(self._dest))
            self._manifest.add(entries)
            self._manifest.update_run(
                self._folder,
                self._fit.id,
                ended=sinks_lib.utc_now(),
                epochs=self._epochs_done,
                drawn=list(self._drawn),  # the epochs this callback drew (its schedule's choice)
                budget=self._spend,
            )
            with self._errors_lock:
                errors = list(self._errors)
            for i, (when, exc, _) in enumerate(errors):
                self._manifest.add_error(
                    self._folder,
                    {
                        "id": f"{self._fit.id}/{i}",
                        "time": sinks_lib.utc_now(),
                        "epoch": None if when is None else when.epoch,
                        "message": f"{type(exc).__name__}: {exc}",
                    },
                )
            self._save()

    def _fail(self, when: When | None, exc: BaseException) -> None:
        with self._errors_lock:
            self._errors.append((when, exc, traceback.format_exc()))
            self.stats.errors += 1

    def _raise_or_warn(self) -> None:
        """Report what the writer thread found, on the training thread: notices (warnings the
        callback raises on purpose), then caught failures (raise, or warn once per callback)."""
        with self._errors_lock:
            notices, self._notices = self._notices, []
        for message, category in notices:
            warnings.warn(message, category, stacklevel=3)
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
                f"{type(self).__name__} ({self._folder!r}) failed{where}: {type(exc).__name__}: "
                f"{exc}. Training continues; further failures of this callback are not "
                "reported again (they are listed in the manifest). Pass on_error='raise' to "
                f"stop instead.\n{trace}",
                VisualizationWarning,
                stacklevel=3,
            )


VisualizationCallback.__init__ = _options.checked_init(VisualizationCallback.__init__)
