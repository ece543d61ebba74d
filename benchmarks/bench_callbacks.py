"""Training overhead of the default callback set on a 64×64 CNN, in one process.

Workload: ``_common.cnn64`` (2 classes) on ``--samples`` synthetic-localization images
(``nv.datasets.patch_localization``, 64×64×3), ``--epochs`` epochs, batch 32. Fits alternate
between no callbacks and the default set (WeightHistograms, ActivationMaps, GradCAM when the
attribution family is installed, EmbeddingProjection(pca)), each on a fresh model with the same
seed, so both arms pay the same tracing and do the same training work.

Printed: per arm the best and median fit wall time, the median steady-state epoch (epochs 2..N)
and the process CPU time (insensitive to other processes on a shared machine), with overhead %;
per callback the time it holds the training thread per epoch (median / max), at train begin
(validation, first trace) and at train end (final state, summaries, joining the writer thread —
the writer is shared, so the first callback to finish also waits for the others' queued work),
and its writer-thread time; then the callbacks' hooks replayed without training (their own work:
train begin, the epochs' snapshots, train end).

Run: ``python benchmarks/bench_callbacks.py [--samples 640] [--epochs 5] [--repeats 3]
[--diagnostics]`` (``--diagnostics`` adds DeadUnits and GradientFlow, which compute on a weight
snapshot on the writer thread).
Targets: overhead <= 3 %, blocking <= 50 ms per callback per epoch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))  # this checkout's keras_nnviz

from _common import cnn64, print_table  # noqa: E402


def default_callbacks(
    nv, log_dir, x_val, y_val, embed: int, background: bool = True, diagnostics: bool = False
):
    """The issue's default set; fixed inputs: 1 image, 8 images (Grad-CAM), ``embed`` points;
    with ``diagnostics`` also DeadUnits and GradientFlow on 256 images."""
    cbs = [
        nv.callbacks.WeightHistograms(log_dir),
        nv.callbacks.ActivationMaps(log_dir, x=x_val[:1], background=background),
    ]
    if hasattr(nv.callbacks, "GradCAM"):
        cbs.append(nv.callbacks.GradCAM(log_dir, x=x_val[:8]))
    cbs.append(
        nv.callbacks.EmbeddingProjection(
            log_dir,
            x=x_val[:embed],
            labels=y_val[:embed],
            layer="gap",
            method="pca",
            background=background,
        )
    )
    if diagnostics:
        cbs.append(nv.callbacks.DeadUnits(log_dir, x=x_val[:256], warn_fraction=1.0))
        cbs.append(nv.callbacks.GradientFlow(log_dir, x=x_val[:256], y=y_val[:256]))
    return cbs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model",
        choices=("cnn64", "mobilenet"),
        default="cnn64",
        help="cnn64, or a nested MobileNetV2 (weights=None, 64x64) under a pooling/dense head",
    )
    parser.add_argument("--samples", type=int, default=640)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--embed", type=int, default=128, help="points of the embedding")
    parser.add_argument(
        "--each", action="store_true", help="also fit with each callback alone (CPU cost split)"
    )
    parser.add_argument(
        "--foreground",
        action="store_true",
        help="third arm: forward passes on the training thread (background=False)",
    )
    parser.add_argument(
        "--diagnostics",
        action="store_true",
        help="add DeadUnits and GradientFlow (256 images each) to the set",
    )
    args = parser.parse_args()

    import keras

    import keras_nnviz as nv

    data = nv.datasets.patch_localization(args.samples + 512, size=64, channels=3, seed=0)
    x, y = data.x[: args.samples], data.y[: args.samples]
    x_val, y_val = data.x[args.samples :], data.y[args.samples :]

    class EpochClock(keras.callbacks.Callback):
        """Wall time at each epoch end; placed last, so it includes our callbacks' hooks."""

        def on_train_begin(self, logs=None):
            self.ends = [(time.perf_counter(), time.process_time())]

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append((time.perf_counter(), time.process_time()))

    def build():
        if args.model == "cnn64":
            model = cnn64(classes=2, seed=0)
        else:
            keras.utils.set_random_seed(0)
            base = keras.applications.MobileNetV2(
                weights=None, input_shape=(64, 64, 3), include_top=False
            )
            inp = keras.Input((64, 64, 3))
            h = keras.layers.GlobalAveragePooling2D(name="gap")(base(inp))
            out = keras.layers.Dense(2, activation="softmax")(h)
            model = keras.Model(inp, out, name="transfer")
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(with_callbacks: bool, only: int | None = None, background: bool = True):
        model = build()
        cbs = []
        if with_callbacks:
            log_dir = tempfile.mkdtemp(prefix="nnviz-bench-")
            cbs = default_callbacks(
                nv, log_dir, x_val, y_val, args.embed, background, args.diagnostics
            )
            if only is not None:
                cbs = [cbs[only]]
        clock = EpochClock()
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0, callbacks=[*cbs, clock])
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        # Steady state: epochs 2..N (the first one pays Keras's and our tracing).
        pairs = list(zip(clock.ends[1:-1], clock.ends[2:]))
        steady = statistics.median(b[0] - a[0] for a, b in pairs)
        steady_cpu = statistics.median(b[1] - a[1] for a, b in pairs)
        # every="auto" callbacks draw on some epochs only: the mean is what a fit pays
        steady_cpu_mean = statistics.mean(b[1] - a[1] for a, b in pairs)
        kind = "with" if with_callbacks else "without"
        kind += "" if background or not with_callbacks else " (foreground)"
        first = clock.ends[1][0] - clock.ends[0][0]
        print(f"  fit {kind} callbacks: wall {wall:.2f} s, CPU {cpu:.2f} s", flush=True)
        return {
            "wall": wall,
            "cpu": cpu,
            "steady": steady,
            "steady_cpu": steady_cpu,
            "steady_cpu_mean": steady_cpu_mean,
            "first": first,
            "cbs": cbs,
        }

    fit(False)  # warm up TF (thread pools, kernels) outside the timed runs
    plain, with_cbs, foreground = [], [], []
    for _ in range(args.repeats):  # alternate, so load drift hits both arms alike
        plain.append(fit(False))
        with_cbs.append(fit(True))
        if args.foreground:
            foreground.append(fit(True, background=False))
    stats = [r["cbs"] for r in with_cbs]

    def pct(key, agg, arm=with_cbs):
        a, b = agg(r[key] for r in plain), agg(r[key] for r in arm)
        return a, b, (b - a) / a * 100

    print(
        f"{args.model} (2 classes), {args.samples} images 64×64×3, batch 32, {args.epochs} "
        f"epochs, {args.repeats} alternating runs per arm"
    )
    rows = []
    for label, key, agg in [
        ("fit wall time, best run (s)", "wall", min),
        ("fit wall time, median run (s)", "wall", statistics.median),
        ("steady epoch wall time, median (s)", "steady", statistics.median),
        ("steady epoch process CPU time, median (s)", "steady_cpu", statistics.median),
        ("steady epoch process CPU time, mean (s)", "steady_cpu_mean", statistics.median),
        ("fit process CPU time, median (s)", "cpu", statistics.median),
    ]:
        a, b, o = pct(key, agg)
        rows.append((label, f"{a:.2f}", f"{b:.2f}", f"{o:+.1f} %"))
    print_table(rows, ("measure", "no callbacks", "default callbacks", "overhead"))
    if foreground:
        rows = []
        for label, key, agg in [
            ("fit wall time, best run (s)", "wall", min),
            ("steady epoch process CPU time, median (s)", "steady_cpu", statistics.median),
            ("fit process CPU time, median (s)", "cpu", statistics.median),
        ]:
            a, b, o = pct(key, agg, foreground)
            rows.append((label, f"{a:.2f}", f"{b:.2f}", f"{o:+.1f} %"))
        print_table(rows, ("measure", "no callbacks", "background=False", "overhead"))
        blocking = {}
        for run in foreground:
            for cb in run["cbs"]:
                blocking.setdefault(type(cb).__name__, []).extend(cb.stats.blocking)
        print(
            "background=False blocking/epoch median ms: "
            + ", ".join(f"{k} {statistics.median(v) * 1e3:.0f}" for k, v in blocking.items())
        )
    overhead = pct("wall", min)[2]
    setup = statistics.median(sum(cb.stats.train_begin for cb in run) for run in stats)
    first = statistics.median(r["first"] for r in plain)
    print(
        f"one-time setup of the set (train begin, summed): {setup:.2f} s = "
        f"{setup / first:.2f}x the plain fit's first epoch ({first:.2f} s)"
    )
    rows = []
    for i, cb in enumerate(stats[-1]):
        blocking = [b for run in stats for b in run[i].stats.blocking]
        rows.append(
            (
                type(cb).__name__,
                f"{statistics.median(blocking) * 1e3:.1f}",
                f"{max(blocking) * 1e3:.1f}",
                f"{statistics.median(run[i].stats.train_begin for run in stats) * 1e3:.0f}",
                f"{statistics.median(run[i].stats.train_end for run in stats) * 1e3:.0f}",
                f"{statistics.median(run[i].stats.background for run in stats) * 1e3:.0f}",
                f"{statistics.median(run[i].stats.snapshots for run in stats):.0f}",
            )
        )
    print_table(
        rows,
        (
            "callback",
            "blocking/epoch median ms",
            "max ms",
            "train begin ms",
            "train end ms",
            "writer thread ms (total)",
            "snapshots",
        ),
    )
    # Replay: the callbacks' hooks alone on an idle model (no training), to price our own work
    # without the noise of training next to it: fixed (begin + end) and per epoch.
    replays = []
    for _ in range(args.repeats):
        model = build()
        cbs = default_callbacks(
            nv,
            tempfile.mkdtemp(prefix="nnviz-replay-"),
            x_val,
            y_val,
            args.embed,
            diagnostics=args.diagnostics,
        )
        marks = [(time.perf_counter(), time.process_time())]
        for cb in cbs:
            cb.set_model(model)
            cb.on_train_begin()
        marks.append((time.perf_counter(), time.process_time()))
        for epoch in range(args.epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch)
                cb.on_epoch_end(epoch)
        for f in list(cbs[0]._futures):  # let the epochs' background work finish
            f.result()
        for cb in cbs:
            for f in list(cb._futures):
                f.result()
        marks.append((time.perf_counter(), time.process_time()))
        for cb in cbs:
            cb.on_train_end()
        marks.append((time.perf_counter(), time.process_time()))
        replays.append(marks)
    med = lambda i, j, k: statistics.median(m[j][k] - m[i][k] for m in replays)
    print_table(
        [
            (
                "train begin (validate, trace, first pass)",
                f"{med(0, 1, 0):.2f}",
                f"{med(0, 1, 1):.2f}",
            ),
            (
                f"{args.epochs} epochs of snapshots (incl. writer thread)",
                f"{med(1, 2, 0):.2f}",
                f"{med(1, 2, 1):.2f}",
            ),
            (
                "train end (final state, summaries, GIFs)",
                f"{med(2, 3, 0):.2f}",
                f"{med(2, 3, 1):.2f}",
            ),
        ],
        ("callback work alone, no training (median)", "wall s", "process CPU s"),
    )
    if args.each:
        base_cpu = statistics.median(r["cpu"] for r in plain)
        base_steady = statistics.median(r["steady_cpu"] for r in plain)
        rows = []
        for i, cb in enumerate(stats[-1]):
            alone = fit(True, only=i)
            rows.append(
                (
                    type(cb).__name__,
                    f"{alone['cpu'] - base_cpu:+.2f}",
                    f"{(alone['steady_cpu'] - base_steady) * 1e3:+.0f}",
                )
            )
        print_table(rows, ("callback alone", "fit CPU s vs plain", "steady epoch CPU ms"))
    if not hasattr(nv.callbacks, "GradCAM"):
        print("GradCAM: not in this build (attribution family not merged); benchmarked the others.")
    try:
        import tf_explain  # noqa: F401
    except ImportError:
        print("tf-explain: not installed, no comparison.")
    print(f"overhead (best runs) {overhead:+.1f} % (target <= 3 %)")


if __name__ == "__main__":
    main()
