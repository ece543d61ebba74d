"""Compute functions under a tf.distribute strategy equal the one-device result.

MirroredStrategy over two logical CPU devices, and MultiWorkerMirroredStrategy with two worker
processes on 127.0.0.1 (TF_CONFIG, free ports, collective timeouts so nothing can hang).
Logical devices must be configured before TensorFlow initializes, and a multi-worker strategy
must be created at program start, so each runs in a fresh interpreter. The three processes
start together (one module fixture) and the tests wait for their own.

Batches of 4 over 11 samples: parts of 2 + 2 and, for the last batch, 2 + 1; a single sample
leaves one replica without samples (it runs the first part again; its result is dropped).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.core.distribute import Replicas, resolve
from keras_nnviz.errors import InvalidArgumentError
from tests.bad_input import assert_named_error

ROOT = Path(__file__).resolve().parents[2]

COMPARE = textwrap.dedent(
    """
    import json
    import numpy as np
    import keras
    import keras_nnviz as nv

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((11, 8, 8, 1), dtype=np.float32)

    def compare(model, strategy, names=("saliency", "grad_cam")):
        diffs, maps = {}, {}
        for name in names:
            one = getattr(nv, name)(model, x, batch_size=4)
            maps[name] = getattr(nv, name)(model, x, batch_size=4, strategy=strategy)
            assert maps[name].shape == one.shape, (name, maps[name].shape, one.shape)
            diffs[name] = float(np.abs(one - maps[name]).max())
        one = nv.saliency(model, x[:1], target=3)
        many = nv.saliency(model, x[:1], target=3, strategy=strategy)
        diffs["one_sample"] = float(np.abs(one - many).max())
        return diffs, maps
    """
)

MIRRORED_SETUP = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    """
)
MIRRORED_RUN = textwrap.dedent(
    """
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    model = nv.datasets.digits_cnn()  # built outside the strategy: one copy of the weights
    weights = [w.copy() for w in model.get_weights()]
    count = len(model.variables)
    result = {"replicas": strategy.num_replicas_in_sync, "outside": compare(model, strategy)[0]}
    result["unchanged"] = len(model.variables) == count and all(
        np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    one = nv.get_activations(model, x, ["conv2", "dense"], batch_size=4)
    with nv.distribute(strategy):  # the block's strategy reaches every compute function
        many = nv.get_activations(model, x, ["conv2", "dense"], batch_size=4)
        cams = nv.explain(model, x, method="grad_cam", batch_size=4)
    result["activations"] = max(float(np.abs(one[k] - many[k]).max()) for k in one)
    result["explain"] = float(np.abs(cams - nv.grad_cam(model, x, batch_size=4)).max())
    with strategy.scope():  # mirrored variables: each replica reads its own copy
        mirrored = nv.datasets.digits_cnn()
    mirrored.set_weights(weights)
    result["mirrored_variables"] = type(mirrored.variables[0].value).__name__
    result["inside"] = compare(mirrored, strategy, names=("grad_cam",))[0]
    result["statistics"] = statistics(model, strategy)
    print("RESULT " + json.dumps(result))
    """
)
STATISTICS = textwrap.dedent(
    """
    from keras_nnviz.diagnosis.stream import measure
    from keras_nnviz.core.distribute import replicas_for
    from keras_nnviz.diagnostics import gradient_flow_pass
    from keras_nnviz.core.loop import iterate
    from keras_nnviz.core.inputs import prepare

    def relative(a, b):  # largest relative difference over nested results; names must match
        if isinstance(a, dict):
            assert sorted(a) == sorted(b), (sorted(a), sorted(b))
            return max([relative(a[k], b[k]) for k in a], default=0.0)
        if isinstance(a, list | tuple) and a and not isinstance(a[0], int | float):
            assert len(a) == len(b)
            return max(relative(u, v) for u, v in zip(a, b))
        if isinstance(a, str | None):
            assert a == b, (a, b)
            return 0.0
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
        gap = np.abs(a - b)[~np.isnan(a)] / (np.abs(b[~np.isnan(a)]) + 1e-12)
        return float(gap.max(initial=0.0))

    def statistics(model, strategy):
        y = np.arange(11) % 10
        loss = "sparse_categorical_crossentropy"
        calls = {
            "dead_units": lambda **k: nv.dead_units(model, x, batch_size=4, **k),
            "activation_stats": lambda **k: nv.activation_stats(model, x, batch_size=4, **k),
            "gradient_flow": lambda **k: nv.gradient_flow(
                model, x, y, loss=loss, batch_size=4, **k),
        }
        diffs = {name: relative(call(strategy=strategy), call()) for name, call in calls.items()}
        # diagnose's one pass over the data (input scale, dead/saturated units, gradient flow)
        relu, flow = ["conv1", "conv2"], [gradient_flow_pass(model, loss, parts=p) for p in (0, 1)]
        data = prepare(model, x, 4)
        labels = [y[i : i + 4] for i in range(0, 11, 4)]
        def batches():
            return zip((b.inputs for b in iterate(data, 4)), labels)
        one = measure(model, batches(), relu, ["dense"], flow[0]).__dict__
        many = measure(model, batches(), relu, ["dense"], flow[1], replicas_for(strategy)).__dict__
        diffs["measure"] = relative(many, one)
        report = [nv.diagnose(model, x, y, batch_size=4, loss=loss, **k).to_json() for k in (
            {"strategy": strategy}, {})]
        same = [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in report]
        return {"diffs": diffs, "diagnose_equal": same[0] == same[1], "checked": same[0]["checked"]}
    """
)
MIRRORED = MIRRORED_SETUP + COMPARE + STATISTICS + MIRRORED_RUN

WORKER_SETUP = textwrap.dedent(
    """
    import tensorflow as tf
    # Collectives give up instead of hanging when the other worker is gone.
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=60)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    """
)
WORKER_RUN = textwrap.dedent(
    """
    model = nv.datasets.digits_cnn()  # the same seed on both workers: the same weights
    diffs, maps = compare(model, strategy)
    print("RESULT " + json.dumps({"replicas": strategy.num_replicas_in_sync, "diffs": diffs,
                                  "sum": float(maps["grad_cam"].sum())}))
    """
)
WORKER = WORKER_SETUP + COMPARE + WORKER_RUN


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(script: str, tf_config: dict | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=240)  # a deadlock fails here, never hangs CI
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, err[-3000:]
    return json.loads(lines[0][len("RESULT ") :])


@pytest.fixture(scope="module")
def processes():
    """The mirrored run and the two workers, started at once (they run side by side)."""
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = {"mirrored": _start(MIRRORED)}
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs[f"worker{index}"] = _start(WORKER, tf_config)
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_equals_one_device(processes):
    result = _result(processes["mirrored"])
    assert result["replicas"] == 2
    assert set(result["outside"]) == {"saliency", "grad_cam", "one_sample"}
    assert set(result["inside"]) == {"grad_cam", "one_sample"}  # the model built in the scope
    for diffs in (result["outside"], result["inside"]):
        assert max(diffs.values()) <= 1e-5, diffs
    assert result["unchanged"]  # no weight copied into, or variable added to, the user's model
    assert result["mirrored_variables"] == "MirroredVariable"
    assert result["activations"] <= 1e-5
    assert result["explain"] <= 1e-5
    stats = result["statistics"]  # activation_stats, dead_units, gradient_flow, diagnose
    assert set(stats["diffs"]) == {"dead_units", "activation_stats", "gradient_flow", "measure"}
    assert max(stats["diffs"].values()) <= 1e-5, stats["diffs"]
    assert stats["diagnose_equal"] and "vanishing_gradients" in stats["checked"]


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_workers_equal_one_device(processes):
    chief, worker = _result(processes["worker0"]), _result(processes["worker1"])
    assert chief["replicas"] == worker["replicas"] == 2
    for r in (chief, worker):
        assert max(r["diffs"].values()) <= 1e-5, r["diffs"]
    assert chief["sum"] == pytest.approx(worker["sum"], rel=1e-6)  # every worker gets it all


# ----------------------------------------------------------------------------------------------
# In this process: arguments and the split


@pytest.fixture(scope="module")
def model():
    return nv.datasets.digits_cnn()


X = np.zeros((2, 8, 8, 1), np.float32)
BAD = [
    ("a name", "mirrored", "received 'mirrored'"),
    ("a number", 2, "tf.distribute.Strategy instance"),
    ("the class", tf.distribute.MirroredStrategy, "strategy=MirroredStrategy()"),
    ("a device list", ["/cpu:0", "/cpu:1"], "received ['/cpu:0', '/cpu:1']"),
]


@pytest.mark.parametrize(
    "call",
    ["saliency", "grad_cam", "get_activations", "explain", "dead_units", "activation_stats"]
    + ["diagnose"],
)
@pytest.mark.parametrize("value, phrase", [r[1:] for r in BAD], ids=[r[0] for r in BAD])
def test_strategy_that_is_not_a_strategy_raises_a_named_error(model, call, value, phrase):
    fn = getattr(nv, call)
    error = assert_named_error(lambda: fn(model, X, strategy=value), InvalidArgumentError, phrase)
    assert "strategy must be a tf.distribute.Strategy" in str(error)


@pytest.mark.parametrize("value, phrase", [(None, "received None"), ("mirrored", "'mirrored'")])
def test_distribute_block_needs_a_strategy(value, phrase):
    def enter():
        with nv.distribute(value):
            pass

    assert_named_error(enter, InvalidArgumentError, phrase)


def test_block_sets_the_default_and_an_explicit_strategy_wins():
    default = tf.distribute.get_strategy()  # the default strategy: one replica, no devices
    other = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert resolve() is None
    with nv.distribute(default) as entered:
        assert entered is default and resolve() is default
        assert resolve(other) is other
    assert resolve() is None


@pytest.mark.parametrize(
    "size, count, ranges",
    [
        (4, 2, [(0, 2), (2, 4)]),
        (3, 2, [(0, 2), (2, 3)]),
        (1, 2, [(0, 1), (1, 1)]),
        (7, 3, [(0, 3), (3, 5), (5, 7)]),
    ],
)
def test_parts_are_contiguous_in_input_order(size, count, ranges):
    class Fake:
        num_replicas_in_sync = count

        class extended:
            worker_devices = ("/cpu:0",) * count

    assert Replicas(Fake).ranges(size) == ranges


@pytest.mark.parametrize(
    "make",
    [lambda: tf.distribute.OneDeviceStrategy("/cpu:0"), tf.distribute.get_strategy],
    ids=["one device", "default strategy"],
)
def test_one_replica_strategy_gives_the_one_device_result(model, make):
    x = np.random.default_rng(1).random((5, 8, 8, 1), dtype=np.float32)
    one = nv.grad_cam(model, x, batch_size=2)
    np.testing.assert_allclose(nv.grad_cam(model, x, batch_size=2, strategy=make()), one, atol=1e-6)


def test_statistics_under_one_replica_strategy_equal_one_device(model):
    """The per-part gradient pass (one row per part, merged by FlowSummary) and the joined
    activations, on one replica here; over two replicas in the subprocess above."""
    x = np.random.default_rng(2).random((5, 8, 8, 1), dtype=np.float32)
    y, loss, one_device = np.arange(5), "sparse_categorical_crossentropy", None
    for strategy in (None, tf.distribute.OneDeviceStrategy("/cpu:0")):
        rows = nv.gradient_flow(model, x, y, loss=loss, batch_size=2, strategy=strategy)
        dead = nv.dead_units(model, x, batch_size=2, strategy=strategy)
        if one_device is None:
            one_device = rows, dead
    for a, b in zip(rows, one_device[0]):
        assert a["name"] == b["name"]
        np.testing.assert_allclose(a["grad_norm"], b["grad_norm"], rtol=1e-5)
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
    for path, report in dead.items():
        np.testing.assert_array_equal(report["frequency"], one_device[1][path]["frequency"])


def test_errors_raised_on_a_replica_reach_the_caller_named(model):
    def failing(outputs):
        raise ValueError("boom")

    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert_named_error(
        lambda: nv.saliency(model, X, target=failing, strategy=one_device),
        nv.InvalidTargetError,
        "target callable 'failing' failed",
    )
