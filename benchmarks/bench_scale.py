"""Scale: callback overhead with and without the fit-wide budget; attention memory vs context;
memory vs dataset length (Grad-CAM into a memmap, activation_stats, diagnose).

``callbacks``: a nested MobileNetV2 (``keras.applications.MobileNetV2(weights=None)`` at 64×64
under a pooling/dense head) fitted ``--epochs`` epochs on ``--samples`` synthetic images
(``nv.datasets.patch_localization``), batch 32: plain, then with the first 1, 4 and 7 of
WeightHistograms, ActivationMaps, GradCAM, GradientFlow, DeadUnits, FeatureVisualization and
EmbeddingProjection, each set once with no limit (``nv.callbacks.budget(None)``: every callback
draws every epoch, the behaviour before the budget) and once with the default budget (5 % of the
training time); ``--counts 7 --fractions 0.05`` runs the issue's arm alone (plain and seven
callbacks in one process, after a one-epoch warm-up fit). ``--rounds`` (default 2) repeats the
plain fit and every arm, alternating, and each arm is compared with the plain fit of its round:
a process speeds up from fit to fit, so a fixed order would favour the later arm; round 1's
callback fits are the process's first (one-time imports and figures included). Each fit is a
fresh model with the same seed. Printed: wall time and process CPU time, their ratios to the
plain fit, the epochs each callback drew, and where each callback's time went (train begin:
validation, tracing, the snapshot before training; snapshots; train end; writer thread).

``attention``: a tiny KerasHub Llama (``--layers`` layers, default 2; 4 query heads, 2 key-value
heads, width 32) on one sequence of T
tokens, T in ``--lengths``. Each measurement runs in a fresh process and reports its peak RSS
(``ru_maxrss``) above the process once the model is built on 8 tokens: the forward pass alone
(``model(x)``, eager: it holds one layer's scores at a time), ``nv.get_attention`` (every map) and
``nv.attention_stats`` (entropy, distance, sink, top-8, and the 64×64 block map), and the bytes
each result holds.

``dataset``: ``nv.grad_cam`` of the digits CNN over a ``tf.data`` pipeline of N generated 8×8
images (``Dataset.range(N).map(...)``, batch 256) written into a ``np.memmap`` (``out=``), N in
``--sizes``, each in a fresh process: the peak anonymous memory (``RssAnon``, sampled every 20 ms;
the memmap's written pages are file-backed and the kernel may evict them, so they are left out)
above the process after building the model, and the wall time.

``devices``: throughput of ``nv.saliency`` and ``nv.grad_cam`` (images per second) against the
number of logical CPU devices, each count in a fresh process (logical devices are fixed before
TensorFlow initializes): 1 device without a strategy, then ``MirroredStrategy`` over 1, 2, 4 ...
logical CPUs (``strategy=``), on a random-init MobileNetV2 (``--size`` pixels, 10 classes) over
``--samples`` images in batches of ``--batch``: the best of ``--repeats`` calls after a
warm-up call (which traces every replica). Logical CPU devices share the process's CPU thread
pools: this measures what the split costs and that it scales as far as the cores do, not a
GPU's speed-up.

``stats``: ``nv.activation_stats`` and ``nv.diagnose`` of the same digits CNN over a ``tf.data``
pipeline of N generated ``(image, label)`` pairs (batch 256), N in ``--sizes``, each in a fresh
process: the same peak anonymous memory above the process after building and tracing, the wall
time, and for ``activation_stats`` the activations a pass that kept them (``get_activations`` then
numpy) would hold. Both stream: running summaries, and ``diagnose`` keeps its first
``max_samples`` (1,024) samples for the per-sample checks.

Run: ``python benchmarks/bench_scale.py callbacks [--samples 512] [--epochs 4] [--counts 7]
[--fractions 0.05]``,
``python benchmarks/bench_scale.py attention [--lengths 256 512 1024 2048]``,
``python benchmarks/bench_scale.py dataset [--sizes 10000 50000 200000]``,
``python benchmarks/bench_scale.py devices [--devices 1 2 4] [--samples 256]`` and
``python benchmarks/bench_scale.py stats [--sizes 10000 50000 200000]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))  # this checkout's keras_nnviz

from _common import print_table  # noqa: E402


def seven_callbacks(nv, log_dir, x_val, y_val):
    """The issue's seven, small fixed inputs."""
    return [
        nv.callbacks.WeightHistograms(log_dir),
        nv.callbacks.ActivationMaps(log_dir, x=x_val[:1]),
        nv.callbacks.GradCAM(log_dir, x=x_val[:8]),
        nv.callbacks.GradientFlow(log_dir, x=x_val[:64], y=y_val[:64]),
        nv.callbacks.DeadUnits(log_dir, x=x_val[:64], warn_fraction=1.0),
        nv.callbacks.FeatureVisualization(
            log_dir, objectives=[nv.objectives.class_logit(k) for k in range(2)], steps=32
        ),
        nv.callbacks.EmbeddingProjection(
            log_dir, x=x_val[:128], labels=y_val[:128], layer="gap", method="pca"
        ),
    ]


def bench_callbacks(args) -> None:
    import keras

    import keras_nnviz as nv

    data = nv.datasets.patch_localization(args.samples + 128, size=64, channels=3, seed=0)
    x, y = data.x[: args.samples], data.y[: args.samples]
    x_val, y_val = data.x[args.samples :], data.y[args.samples :]

    def build():
        keras.utils.set_random_seed(0)
        base = keras.applications.MobileNetV2(
            weights=None, input_shape=(64, 64, 3), include_top=False
        )
        inp = keras.Input((64, 64, 3))
        h = keras.layers.GlobalAveragePooling2D(name="gap")(base(inp))
        out = keras.layers.Dense(2, activation="softmax")(h)
        model = keras.Model(inp, out, name="transfer")
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(count: int, fraction, epochs: int = args.epochs):
        model = build()
        cbs = []
        if count:
            log_dir = tempfile.mkdtemp(prefix="nnviz-scale-")
            cbs = seven_callbacks(nv, log_dir, x_val, y_val)[:count]
        start, cpu = time.perf_counter(), time.process_time()
        with nv.callbacks.budget(fraction):
            model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=cbs)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        drawn = {}
        if cbs:
            manifest = nv.io.load_manifest(cbs[0].log_dir)
            for name, section in manifest["callbacks"].items():
                runs = section.get("runs") or []
                if runs and runs[-1].get("drawn") is not None:
                    drawn[name] = runs[-1]["drawn"]
        label = "none" if fraction is None else f"{fraction:.0%}"
        print(
            f"  {count} callbacks, budget {label}: {wall:.1f} s wall, {cpu:.1f} s CPU {drawn}",
            flush=True,
        )
        if cbs:  # where the time went, per callback (wall seconds; see CallbackStats)
            for cb in cbs:
                st = cb.stats
                print(
                    f"    {type(cb).__name__}: train begin {st.train_begin:.2f}, snapshots "
                    f"{sum(st.blocking):.2f}, train end {st.train_end:.2f}, writer thread "
                    f"{st.background:.2f}",
                    flush=True,
                )
        return wall, cpu, drawn

    fit(0, None, epochs=1)  # warm up TF (and build a first MobileNetV2) outside the timed runs
    # Rounds alternate the plain fit and each callback arm: a process gets faster fit after fit
    # (Keras's first epoch, mostly tracing, fell from 29.6 to 23.2 s over three fresh models in
    # one process), so a fixed order favours whichever arm runs later. Round 1's callback fits
    # are the first of the process (imports, first figures: what a fresh process pays once).
    plains: list[tuple[float, float]] = []
    arms: dict[tuple, list[tuple[float, float, dict]]] = {}
    for _ in range(args.rounds):
        plains.append(fit(0, None)[:2])
        for count in args.counts:
            for fraction in args.fractions:
                arms.setdefault((count, fraction), []).append(fit(count, fraction))
    rows = []
    for r, (plain, plain_cpu) in enumerate(plains, 1):
        rows.append((r, "plain fit", "—", f"{plain:.1f}", "1.00×", f"{plain_cpu:.1f}", "1.00×", ""))
        for (count, fraction), runs in arms.items():
            wall, cpu, drawn = runs[r - 1]
            label = "no limit (every epoch)" if fraction is None else f"{fraction:.0%}"
            chosen = "; ".join(f"{k}: {v}" for k, v in drawn.items()) if count == 7 else ""
            rows.append(
                (
                    r,
                    f"{count} callbacks",
                    label,
                    f"{wall:.1f}",
                    f"{wall / plain:.2f}×",
                    f"{cpu:.1f}",
                    f"{cpu / plain_cpu:.2f}×",
                    chosen,
                )
            )
    print_table(
        rows,
        (
            "round",
            "arm",
            "budget",
            "wall s",
            "vs plain (same round)",
            "CPU s",
            "vs plain",
            "epochs drawn (7 callbacks)",
        ),
    )


_CHILD = r"""
import json, resource, sys
import numpy as np
mode, length, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import keras_hub, keras_nnviz as nv
llama = keras_hub.models.LlamaBackbone(vocabulary_size=64, num_layers=layers, hidden_dim=32,
    intermediate_dim=64, num_query_heads=4, num_key_value_heads=2)
x = {"token_ids": np.random.default_rng(0).integers(5, 64, (1, length)).astype("int32"),
     "padding_mask": np.ones((1, length), "int32")}
short = {k: v[:, :8] for k, v in x.items()}
llama(short)  # build on 8 tokens: the high-water mark so far is TensorFlow's and the model's
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "forward":
    out = {"h": np.asarray(llama(x))}
elif mode == "maps":
    out = nv.get_attention(llama, x, batch_size=1)
else:
    out = {k: v for d in nv.attention_stats(llama, x, block=64, batch_size=1).values()
           for k, v in d.items()}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
held = sum(np.asarray(v).nbytes for v in out.values())
print(json.dumps({"before_mb": before / 1024, "peak_mb": peak / 1024, "held_mb": held / 2**20}))
"""


def bench_attention(args) -> None:
    rows = []
    for length in args.lengths:
        got = {}
        for mode in ("forward", "maps", "stats"):
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD, mode, str(length), str(args.layers)],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).parent.parent,
            )
            got[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  T={length} {mode}: {got[mode]}", flush=True)
        rise = {m: got[m]["peak_mb"] - got[m]["before_mb"] for m in got}
        rows.append(
            (
                str(length),
                f"{rise['forward']:+.0f}",
                f"{rise['maps']:+.0f}",
                f"{got['maps']['held_mb']:.1f}",
                f"{rise['stats']:+.0f}",
                f"{got['stats']['held_mb']:.2f}",
            )
        )
    print_table(
        rows,
        (
            "T",
            "forward (eager) peak MB",
            "get_attention peak MB",
            "maps held MB",
            "attention_stats peak MB",
            "stats held MB",
        ),
    )


_DATASET_CHILD = r"""
import json, sys, tempfile, threading, time
import numpy as np
import tensorflow as tf
n, what = int(sys.argv[1]), sys.argv[2]
import keras_nnviz as nv

def anon_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024

model = nv.datasets.digits_cnn()
tiny = np.zeros((2, 8, 8, 1), "float32")
# Build and trace outside the measure.
warm = {
    "grad_cam": lambda: nv.grad_cam(model, tiny),
    "activation_stats": lambda: nv.activation_stats(model, tiny),
    "diagnose": lambda: nv.diagnose(model, tiny, np.arange(2)),
}
warm[what]()
peak, done = [anon_mb()], threading.Event()
base = peak[0]

def sample():
    while not done.is_set():
        peak.append(anon_mb())
        time.sleep(0.02)

images = tf.data.Dataset.range(n).map(
    lambda i: (tf.random.stateless_uniform((8, 8, 1), tf.stack([i, i * 7 + 1])) * 16.0, i % 10)
)
watcher = threading.Thread(target=sample, daemon=True)
watcher.start()
start = time.perf_counter()
held = 0.0
if what == "grad_cam":
    out = np.memmap(tempfile.mktemp(suffix=".f32"), "float32", "w+", shape=(n, 8, 8))
    maps = nv.grad_cam(model, images.map(lambda x, y: x).batch(256), out=out, batch_size=256)
    assert maps.shape == (n, 8, 8) and np.isfinite(np.asarray(out[-1])).all()
    held = out.nbytes / 2**20
elif what == "activation_stats":
    rows = nv.activation_stats(model, images.batch(256))
    assert all(np.isfinite(r["std"]) for r in rows)
    # What a pass keeping the activations (get_activations, then numpy) would hold.
    per = sum(
        np.prod(model.get_layer(r["layer"]).output.shape[1:]) * 4 for r in rows
    )
    held = n * per / 2**20
else:
    d = nv.diagnose(model, images.batch(256))
    assert "dead_units" in d.checked and "label_noise" in d.checked
wall = time.perf_counter() - start
done.set(); watcher.join()
print(json.dumps({"base_mb": base, "peak_mb": max(peak), "wall_s": wall, "held_mb": held}))
"""


def _dataset_rows(what: str, sizes) -> list[tuple]:
    rows = []
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, "-c", _DATASET_CHILD, str(n), what],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent.parent,
        )
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {what} N={n}: {got}", flush=True)
        rows.append(
            (
                f"{n:,}",
                f"{got['held_mb']:.1f}",
                f"{got['peak_mb'] - got['base_mb']:+.1f}",
                f"{got['wall_s']:.1f}",
            )
        )
    return rows


def bench_dataset(args) -> None:
    rows = _dataset_rows("grad_cam", args.sizes)
    print_table(rows, ("images", "memmap MB", "peak anon memory above start MB", "wall s"))


_DEVICES_CHILD = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
count, samples, batch, size, mirrored, repeats = (int(a) for a in sys.argv[1:7])
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
import keras
import keras_nnviz as nv

keras.utils.set_random_seed(0)
model = keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), classes=10)
x = np.random.default_rng(0).random((samples, size, size, 3), dtype=np.float32)
strategy = None
if mirrored:
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])
got = {}
for name in ("saliency", "grad_cam"):
    fn = getattr(nv, name)
    fn(model, x, batch_size=batch, strategy=strategy)  # trace every replica, warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(model, x, batch_size=batch, strategy=strategy)
        times.append(time.perf_counter() - start)
    got[name] = samples / min(times)
print(json.dumps(got))
"""


def bench_devices(args) -> None:
    rows = []
    arms = [(1, 0)] + [(n, 1) for n in args.devices]
    for count, mirrored in arms:
        child = (count, args.samples, args.batch, args.size, mirrored, args.repeats)
        child = [str(v) for v in child]
        proc = subprocess.run(
            [sys.executable, "-c", _DEVICES_CHILD, *child],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent.parent,
        )
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        arm = f"MirroredStrategy, {count} logical CPU" if mirrored else "no strategy, 1 device"
        print(f"  {arm}: {got}", flush=True)
        rows.append((arm, f"{got['saliency']:.1f}", f"{got['grad_cam']:.1f}"))
    print_table(rows, ("arm", "saliency images/s", "grad_cam images/s"))


def bench_stats(args) -> None:
    for what in args.functions:
        rows = _dataset_rows(what, args.sizes)
        held = "activations a keeping pass holds MB" if what == "activation_stats" else "-"
        print(what)
        print_table(rows, ("samples", held, "peak anon memory above start MB", "wall s"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    cb = sub.add_parser("callbacks")
    cb.add_argument("--samples", type=int, default=512)
    cb.add_argument("--epochs", type=int, default=4)
    cb.add_argument("--counts", type=int, nargs="+", default=[1, 4, 7])
    cb.add_argument(
        "--fractions",
        type=lambda v: None if v == "none" else float(v),
        nargs="+",
        default=[None, 0.05],
        help="budgets of each callback arm ('none': no limit; default: none 0.05)",
    )
    cb.add_argument(
        "--rounds", type=int, default=2, help="rounds of the plain fit followed by every arm"
    )
    att = sub.add_parser("attention")
    att.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048, 4096])
    att.add_argument("--layers", type=int, default=2, help="decoder layers of the tiny Llama")
    data = sub.add_parser("dataset")
    data.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    dev = sub.add_parser("devices")
    dev.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    dev.add_argument("--samples", type=int, default=256)
    dev.add_argument("--batch", type=int, default=64)
    dev.add_argument("--size", type=int, default=64)
    dev.add_argument("--repeats", type=int, default=3, help="timed calls; the best counts")
    stats = sub.add_parser("stats")
    stats.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    stats.add_argument(
        "--functions",
        nargs="+",
        default=["activation_stats", "diagnose"],
        choices=["activation_stats", "diagnose"],
    )
    args = parser.parse_args()
    run = {
        "callbacks": bench_callbacks,
        "attention": bench_attention,
        "dataset": bench_dataset,
        "devices": bench_devices,
        "stats": bench_stats,
    }
    run[args.what](args)


if __name__ == "__main__":
    main()
