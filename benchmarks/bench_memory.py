"""Peak memory of explaining a large input: Grad-CAM over 20,000 32×32 images.

Each case runs in a fresh subprocess: build a small 32×32×3 CNN and the input (float32, in the
baseline), warm up (trace, TensorFlow runtime), then reset the kernel's peak-RSS counter
(``/proc/self/clear_refs``), run the call and read the peak (``VmHWM``). A sampling thread also
records the peak of anonymous memory (``RssAnon``): with ``out=np.memmap`` the maps are file
pages, which count in RSS while dirty but can be written back and dropped by the kernel.

Target (issue 15): peak above baseline ≤ 1.3 × the output size (output + one batch).

Run: ``python benchmarks/bench_memory.py [--n 20000] [--batch-size 32]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CASES = ("grad_cam", "grad_cam_memmap", "grad_cam_dataset", "get_activation")


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _child(case: str, n: int, batch_size: int) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_nnviz as nv

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
    x = np.random.default_rng(0).random((n, 32, 32, 3), dtype=np.float32)

    tmp = tempfile.mkdtemp()
    out = None
    if case == "grad_cam_memmap":
        out = np.lib.format.open_memmap(
            os.path.join(tmp, "maps.npy"), "w+", np.float32, (n, 32, 32)
        )

    def run(data):
        if case == "get_activation":
            return nv.get_activation(model, data, "conv2", batch_size=batch_size)
        extra = {} if out is None else {"out": out}  # (keras_nnviz before out= existed too)
        return nv.grad_cam(model, data, batch_size=batch_size, **extra)

    data = x
    if case == "grad_cam_dataset":
        # from_tensor_slices copies x into TensorFlow: built before the baseline, like x.
        data = tf.data.Dataset.from_tensor_slices(x).batch(batch_size)
        # The first full pass over a from_tensor_slices dataset costs TensorFlow a transient
        # copy of x (+234 MB here, with or without keras_nnviz): pay it before the baseline.
        for _ in data:
            pass
    # Warm up on a slice (same batch size: same trace); the memmap case warms up in memory.
    saved, out = out, None
    run(x[: 2 * batch_size])
    out = saved
    import gc

    gc.collect()
    time.sleep(0.2)
    baseline = _status("VmRSS")
    anon_base = _status("RssAnon")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM (the peak RSS) to the current RSS
    anon_peak = [anon_base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            anon_peak[0] = max(anon_peak[0], _status("RssAnon"))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = run(data)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    peak = _status("VmHWM")
    output_bytes = int(result.nbytes)
    batch_bytes = output_bytes * batch_size // n
    return {
        "case": case,
        "n": n,
        "batch_size": batch_size,
        "output_mb": output_bytes / 2**20,
        "batch_mb": batch_bytes / 2**20,
        "input_mb": x.nbytes / 2**20,
        "peak_above_baseline_mb": (peak - baseline) / 2**20,
        "ratio": (peak - baseline) / output_bytes,
        "anon_peak_above_baseline_mb": (anon_peak[0] - anon_base) / 2**20,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.n, args.batch_size)))
        return
    print(
        f"{'case':<18} {'output MB':>9} {'peak-base MB':>12} {'ratio':>6} {'anon MB':>8} "
        f"{'time s':>7}"
    )
    for case in args.cases.split(","):
        cmd = [sys.executable, __file__, "--child", case, "--n", str(args.n)]
        cmd += ["--batch-size", str(args.batch_size)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{case:<18} {r['output_mb']:9.1f} {r['peak_above_baseline_mb']:12.1f} "
            f"{r['ratio']:6.2f} {r['anon_peak_above_baseline_mb']:8.1f} {r['seconds']:7.1f}"
        )


if __name__ == "__main__":
    main()
