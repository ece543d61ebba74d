"""MirroredStrategy over two logical CPUs: fit with every callback completes and writes once.

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
    assert steps == [-1, 0, 1]  # Keras's epoch index; -1 before training
    manifest = sinks.load_manifest(tmp_path)
    frames = [e["path"] for e in manifest["entries"] if e["sink"] == "png" and e["kind"] == "frame"]
    assert len(frames) == len(set(frames)) > 0
    with Image.open(tmp_path / "activation_maps" / "conv1" / "animation.gif") as gif:
        assert gif.n_frames == 3
    assert (tmp_path / "projector_config.pbtxt").exists()
