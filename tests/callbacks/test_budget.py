"""The fit-wide overhead budget: plans from fake costs, fits on a fake clock (no timing)."""

from __future__ import annotations

import threading
import warnings

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz import io as sinks
from keras_nnviz.callbacks import Budget, VisualizationWarning
from keras_nnviz.callbacks._base import VisualizationCallback
from keras_nnviz.callbacks._budget import Ledger, Member, agree_across_workers, plan_epoch
from keras_nnviz.errors import InvalidArgumentError
from keras_nnviz.io import ScalarItem
from keras_nnviz.io.sinks import RUN


class FakeClock:
    """Seconds that pass only when a test says so, on the thread that says so: the training
    thread's time never leaks into the writer thread's measurements (no race on ticks)."""

    def __init__(self):
        self._now: dict[int, float] = {}
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now.get(threading.get_ident(), 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            key = threading.get_ident()
            self._now[key] = self._now.get(key, 0.0) + seconds


# -- the plan, a pure function ------------------------------------------------------------------


def test_the_final_epoch_draws_everything_whatever_it_costs():
    expensive = [Member(cost=100.0, last=0), Member(cost=None, last=None)]
    args = dict(first=1, final=10, fraction=0.05, train=1.0, spent=500.0, members=expensive)
    assert plan_epoch(10, **args) == [True, True]
    assert plan_epoch(5, **args) == [False, False]


def test_the_first_epoch_draws_only_what_the_budget_affords():
    # Tracing before training (charged to the budget) ate it: the first epoch waits ...
    members = [Member(cost=2.0, last=0), Member(cost=0.1, last=0)]
    args = dict(first=1, final=10, fraction=0.05, members=members)
    assert plan_epoch(1, train=10.0, spent=30.0, **args) == [False, False]
    # ... unless the training so far pays for it: the cheap one fits, the dear one does not
    assert plan_epoch(1, train=100.0, spent=4.5, **args) == [False, True]
    assert plan_epoch(1, train=1000.0, spent=4.5, **args) == [True, True]


def test_the_callback_that_waited_longest_draws_first():
    members = [Member(cost=1.0, last=2), Member(cost=1.0, last=1), Member(cost=1.0, last=2)]
    args = dict(first=1, final=None, fraction=0.1, train=30.0, members=members)
    assert plan_epoch(3, spent=1.0, **args) == [True, True, False]  # credit 2: the two oldest
    assert plan_epoch(3, spent=1.5, **args) == [False, True, False]  # credit 1.5: the oldest
    assert plan_epoch(3, spent=3.0, **args) == [False, False, False]
    assert plan_epoch(3, spent=0.0, **{**args, "fraction": None}) == [True] * 3  # no limit


def test_a_simulated_fit_stays_within_its_budget_and_spreads_the_snapshots():
    """20 epochs of 10 s; callbacks costing 0.5 %, 2 % and 10 % of an epoch; a 5 % budget."""
    costs, epochs, fraction, epoch_s = [0.05, 0.2, 1.0], 20, 0.05, 10.0
    last: list[int | None] = [0, 0, 0]
    drawn: list[list[int]] = [[0], [0], [0]]
    spent = sum(costs)  # the snapshot before training
    for epoch in range(1, epochs + 1):
        members = [Member(cost=c, last=e) for c, e in zip(costs, last)]
        plan = plan_epoch(
            epoch,
            first=1,
            final=epochs,
            fraction=fraction,
            train=epoch * epoch_s,
            spent=spent,
            members=members,
        )
        for i, draw in enumerate(plan):
            if draw:
                spent += costs[i]
                last[i] = epoch
                drawn[i].append(epoch)
        if 1 < epoch < epochs and any(plan):
            # an in-between draw never overspends what the budget allowed by now
            assert spent <= fraction * epoch * epoch_s + 1e-9
    assert spent <= fraction * epochs * epoch_s  # the final state fitted too (kept back)
    # the snapshots before training ate the budget of two epochs (the first epoch follows the
    # budget too); then the cheap ones draw most epochs and the dear one every fourth, the one
    # that waited longest going first
    assert drawn == [
        [0, 3, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20],
        [0, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20],
        [0, 7, 11, 15, 19, 20],
    ]


def test_budget_rejects_bad_fractions():
    for bad in (0, -0.1, 1.5, "5%", True):
        with pytest.raises(InvalidArgumentError, match="fraction"):
            Budget(bad)
    with pytest.raises(InvalidArgumentError, match="budget must be"):
        nv.callbacks.WeightHistograms("logs", budget=0.1)


def test_the_plan_uses_the_numbers_the_workers_agreed_on():
    clock = FakeClock()
    ledger = Ledger(
        Budget(0.5, clock=clock), final=10, agree=lambda numbers: [100.0, 0.0, 0.0, 1.0]
    )
    member = object()
    ledger.join(member, scheduled=True)
    ledger.measured(member, 1000.0)  # this worker measured much more than the agreed 1 s
    assert ledger.due(member, 1)  # first epoch
    ledger.drew(member, 1)
    assert ledger.due(member, 2)  # agreed: 100 s trained, 1 s per snapshot


def test_agreement_on_one_worker_keeps_the_numbers():
    import tensorflow as tf

    agree = agree_across_workers(tf.distribute.get_strategy())
    np.testing.assert_allclose(agree([3.0, 0.5, -1.0]), [3.0, 0.5, -1.0])


# -- fits on a fake clock -----------------------------------------------------------------------


class Costly(VisualizationCallback):
    """Each snapshot costs ``cost`` seconds of the fake clock on the training thread."""

    folder = "costly"

    def __init__(
        self, log_dir, *, clock: FakeClock, cost: float, writer_cost=0.0, fail=False, **options
    ):
        super().__init__(log_dir, **options)
        self.clock, self.cost, self.writer_cost, self.fail = clock, cost, writer_cost, fail

    def compute(self, model):
        self.clock.advance(self.cost)
        if self.fail and self._epochs_done > 0:
            raise RuntimeError("injected failure")
        return float(self.cost)

    def render(self, result, when):
        self.clock.advance(self.writer_cost)  # the writer thread's part of the snapshot
        yield ScalarItem("cost", result)


class Ticker(keras.callbacks.Callback):
    """An epoch of training takes ``seconds`` of the fake clock; at its end the snapshots of
    ``waits`` are written (so what the writer thread measured is known to the plan)."""

    def __init__(self, clock: FakeClock, seconds: float, waits=()):
        super().__init__()
        self.clock, self.seconds, self.waits = clock, seconds, waits

    def on_epoch_end(self, epoch, logs=None):
        self.clock.advance(self.seconds)
        for cb in self.waits:
            cb._wait(0)


@pytest.fixture(scope="module")
def tiny():
    def fit(callbacks, epochs):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(x, x[:, :2], epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks)
        return caught

    return fit


def tensorboard_events(run_dir) -> dict[str, list[tuple[int, float | str]]]:
    """``{tag: [(step, value)]}`` of one run folder, read with TensorBoard's own loader."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        values = []
        for event in acc.Tensors(tag):
            value = tf.make_ndarray(event.tensor_proto)
            if value.dtype == object:
                value = value.item().decode() if value.ndim == 0 else None
            else:
                value = float(value)
            values.append((event.step, value))
        out[tag] = sorted(values)
    return out


def drawn_epochs(log_dir, name):
    runs = sinks.load_manifest(log_dir)["callbacks"][name]["runs"]
    return runs[-1]["drawn"]


@pytest.mark.slow
def test_callbacks_of_a_fit_share_one_budget_and_the_manifest_says_what_each_drew(tmp_path, tiny):
    clock = FakeClock()
    shared = Budget(0.05, clock=clock)
    cheap = Costly(tmp_path, clock=clock, cost=0.03, writer_cost=0.02, name="cheap", budget=shared)
    dear = Costly(tmp_path, clock=clock, cost=1.0, name="dear", budget=shared)
    fixed = Costly(tmp_path, clock=clock, cost=0.01, name="fixed", budget=shared, every=2)
    tiny([Ticker(clock, 10.0, waits=[cheap]), cheap, dear, fixed], epochs=10)
    assert cheap._ledger is dear._ledger is fixed._ledger  # one ledger for the fit
    # 10 s epochs, 5 %: 0.5 s a epoch, 1.05 s kept back for the final state; before training
    # the three spent 1.06 s (their first computes and the cheap one's writer thread), so the
    # plan's credit is 0.395 * epoch - spent: the first epoch follows the budget like any other,
    # the cheap one draws from epoch 3 and the dear one when a second has been put by
    assert drawn_epochs(tmp_path, "cheap") == [0, 3, 4, 5, 6, 7, 8, 9, 10]
    assert drawn_epochs(tmp_path, "dear") == [0, 6, 9, 10]
    assert drawn_epochs(tmp_path, "fixed") == [0, 2, 4, 6, 8, 10]  # every= overrides
    summary = sinks.load_manifest(tmp_path)["callbacks"]["dear"]["runs"][-1]["budget"]
    assert summary["fraction"] == 0.05 and summary["train_s"] == pytest.approx(100.0)
    assert summary["spent_s"] == pytest.approx(0.05 * 9 + 1.0 * 4 + 0.01 * 6)
    assert summary["spent_s"] <= 0.05 * summary["train_s"]
    # the report lists what each callback drew
    from keras_nnviz.report._manifest import schedule_facts

    section = sinks.load_manifest(tmp_path)["callbacks"]["dear"]
    assert ("drew epochs", "0, 6, 9, 10") in schedule_facts(section)
    # and TensorBoard: a point at each epoch end drawn (step epoch - 1, value the epoch; the
    # state before training has no step), and a train-end text listing them all
    events = tensorboard_events(tmp_path / RUN)
    for name, drawn in (("dear", [6, 9, 10]), ("cheap", [3, 4, 5, 6, 7, 8, 9, 10])):
        assert events[f"nnviz/drawn/{name}"] == [(e - 1, float(e)) for e in drawn]
    assert events["nnviz/drawn/fixed"] == [(e - 1, float(e)) for e in (2, 4, 6, 8, 10)]
    ((step, text),) = events["nnviz/schedule/dear"]
    assert step == 9 and "drew epochs: 0, 6, 9, 10" in text and "budget: 5%" in text
    assert "every: 2" in events["nnviz/schedule/fixed"][0][1]


@pytest.mark.slow
def test_callbacks_given_no_budget_share_the_fit_default(tmp_path, tiny):
    clock = FakeClock()
    with nv.callbacks.budget(0.5) as chosen:
        chosen.clock = clock
        a = Costly(tmp_path, clock=clock, cost=0.5, name="a")
        b = Costly(tmp_path, clock=clock, cost=0.5, name="b")
        tiny([Ticker(clock, 1.0), a, b], epochs=10)
    assert a._ledger is b._ledger and a._ledger.budget is chosen
    # 50 % of 1 s epochs, 1 s kept back for the final state, 1 s spent before training:
    # credit 0.4 * epoch - spent. The two 0.5 s snapshots take turns, the one that waited
    # longest first (the first epoch is no exception).
    assert drawn_epochs(tmp_path, "a") == [0, 4, 7, 9, 10]
    assert drawn_epochs(tmp_path, "b") == [0, 5, 8, 10]


@pytest.mark.slow
def test_a_failing_callback_never_breaks_the_fit_or_the_others_schedule(tmp_path, tiny):
    clock = FakeClock()
    shared = Budget(0.05, clock=clock)
    broken = Costly(tmp_path, clock=clock, cost=0.01, name="broken", budget=shared, fail=True)
    good = Costly(tmp_path, clock=clock, cost=0.01, name="good", budget=shared)
    caught = tiny([Ticker(clock, 10.0), broken, good], epochs=4)
    assert any(issubclass(w.category, VisualizationWarning) for w in caught)
    assert drawn_epochs(tmp_path, "good") == [0, 1, 2, 3, 4]
    assert drawn_epochs(tmp_path, "broken") == [0]  # only the snapshot before training worked
    assert sinks.load_manifest(tmp_path)["callbacks"]["broken"]["errors"]
