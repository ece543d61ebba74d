"""Distributed fits: every callback computes on every replica/worker, only the chief writes.

MirroredStrategy over two logical CPUs, and MultiWorkerMirroredStrategy with two worker
processes on 127.0.0.1 (TF_CONFIG, free ports, collective timeouts so nothing can hang).

Logical devices must be configured before TensorFlow initializes its devices, which the rest of
the test session already did, so the fit runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from keras_nnviz import io as sinks
from tests.test_sinks import read_events

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import keras_nnviz as nv
    from tests.callbacks.conftest import every_callback

    log_dir = sys.argv[1]
    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = nv.datasets.digits_cnn()
    cbs = every_callback(log_dir, data)
    # Every epoch drawn (no conftest fixture here): the test counts snapshots per epoch, and
    # under the default budget the first epoch follows the budget and a slow machine skips it.
    with nv.callbacks.budget(None):
        history = model.fit(data.train.x[:256], data.train.y[:256], epochs=2, batch_size=32,
                            verbose=0, callbacks=cbs)
    print("RESULT " + json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "loss": history.history["loss"],
        "errors": {cb.name: cb.stats.errors for cb in cbs},
        "snapshots": {cb.name: cb.stats.snapshots for cb in cbs},
    }))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_fit_with_every_callback_writes_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["replicas"] == 2
    assert len(result["loss"]) == 2 and result["loss"][1] < result["loss"][0]
    assert set(result["errors"].values()) == {0}
    assert set(result["snapshots"].values()) == {3}  # before training + 2 epochs
    # Written once: one event file, one frame per tag and step, GIFs of 3 frames.
    run_dir = tmp_path / "train" / "nnviz"
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    steps = [s for tag, s, _, _ in read_events(run_dir) if tag == "activation_maps/conv1"]
    assert steps == [0, 1]  # Keras's epoch index; the state before training is PNG/GIF only
    manifest = sinks.load_manifest(tmp_path)
    frames = [e["path"] for e in manifest["entries"] if e["sink"] == "png" and e["kind"] == "frame"]
    assert len(frames) == len(set(frames)) > 0
    with Image.open(tmp_path / "activation_maps" / "conv1" / "animation.gif") as gif:
        assert gif.n_frames == 3
    assert (tmp_path / "projector_config.pbtxt").exists()


WORKER = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    # Collectives give up instead of hanging when the other worker is gone.
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=90)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)

    # Keras 3.15's own fit fails under this strategy with two workers, callbacks or not (a
    # plain fit raises too): it reduces the whole (x, y) batch structure at once (symbolic
    # build: "Attempt to convert a value (PerReplica ...) to a Tensor") and reduces scalar
    # losses along axis 0 ("Invalid reduction dimension 0 for input with 0 dimensions").
    # Reduce leaf by leaf, scalars without an axis, so the fit runs and our callbacks are what
    # is tested.
    reduce = strategy.reduce

    def rank(v):
        return len(strategy.experimental_local_results(v)[0].shape)

    strategy.reduce = lambda op, value, axis=None: tf.nest.map_structure(
        lambda v: reduce(op, v, axis=axis if axis is None or rank(v) > axis else None), value
    )
    import keras
    import keras_nnviz as nv
    from tests.callbacks.conftest import every_callback

    log_dir = sys.argv[1]
    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    with strategy.scope():
        model = nv.datasets.digits_cnn()
    cbs = [*every_callback(log_dir, data), nv.callbacks.Report(log_dir)]
    # Every epoch drawn (no conftest fixture here): the test counts snapshots per epoch, and
    # under the default budget the first epoch follows the budget and a slow machine skips it.
    with nv.callbacks.budget(None):
        history = model.fit(data.train.x[:256], data.train.y[:256], epochs=2, batch_size=32,
                            verbose=0, callbacks=cbs)
    print("RESULT " + json.dumps({
        "chief": model.distribute_strategy.extended.should_checkpoint,
        "replicas": strategy.num_replicas_in_sync,
        "loss": history.history["loss"],
        "errors": {cb.name: cb.stats.errors for cb in cbs},
        "snapshots": {cb.name: cb.stats.snapshots for cb in cbs},
    }))
    """
)


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_only_the_chief_writes(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps(tf_config),
        }
        # Each worker gets its own folder: whatever a non-chief wrote would show there.
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tmp_path / f"worker{index}")],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=240)  # a deadlock fails here, never hangs CI
            lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
            assert proc.returncode == 0 and lines, err[-3000:]
            results.append(json.loads(lines[0][len("RESULT ") :]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    chief, worker = results
    assert (chief["chief"], worker["chief"]) == (True, False)
    assert chief["replicas"] == worker["replicas"] == 2
    assert chief["loss"] == pytest.approx(worker["loss"])  # one synchronized training
    assert chief["loss"][1] < chief["loss"][0]
    for r in results:
        assert set(r["errors"].values()) == {0}, r["errors"]
        # Every worker computes every snapshot (collectives would hang otherwise) ...
        assert {v for k, v in r["snapshots"].items() if k != "report"} == {3}
    # ... only the chief writes.
    assert not (tmp_path / "worker1").exists() or not any((tmp_path / "worker1").rglob("*"))
    log_dir = tmp_path / "worker0"
    manifest = sinks.load_manifest(log_dir)
    names = {cb for cb in manifest["callbacks"]}
    assert {"weight_histograms", "activation_maps", "grad_cam", "report"} <= names
    assert not any(n.endswith("_2") for n in names)
    paths = [e["path"] for e in manifest["entries"] if e["sink"] in ("png", "gif")]
    assert paths and all((log_dir / p).is_file() for p in paths)
    with Image.open(log_dir / "activation_maps" / "conv1" / "animation.gif") as gif:
        assert gif.n_frames == 3
    html = (log_dir / "report.html").read_text()
    assert html.count("data:image/png;base64") >= len([p for p in paths if p.endswith(".png")])
