"""The diagnosis zoo and the Doctor callback's cost (issue 25).

1. Every training of ``tests/diagnosis/trainings.py`` (4 healthy, 15 sick: one per finding code)
   is built, then diagnosed with ``nv.diagnose``; printed per training: the expected code, the
   codes found (most severe first), whether the expected code is in the top two (healthy: no
   warning), the diagnosis wall time (first call on the model: includes tracing its passes) and
   a second call's time (passes cached). For the label-noise training: the precision of the top
   k = half-the-flipped-count suspect samples.
2. The Doctor callback's cost: a digits MLP (64-64-10, 1 438 training samples, batch 32) fit
   ``--epochs`` epochs without callbacks, with ``Doctor(x=x[:512], y=y[:512], every=1)`` and
   with the default ``every="auto"``, on fresh models with the same seed, alternating,
   ``--repeats`` times; printed: median fit wall times, the overhead as a fraction of the fit,
   the diagnoses taken (before training and the final state included) and the median time one
   epoch-end diagnosis held the training thread.

Run: ``python benchmarks/bench_diagnose.py [--epochs 10] [--repeats 3] [--only zoo|doctor]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))  # this checkout's keras_nnviz and tests

from _common import print_table  # noqa: E402


def zoo() -> None:
    import numpy as np

    import keras_nnviz as nv
    from tests.diagnosis import trainings

    rows = []
    for name, build in {**trainings.HEALTHY, **trainings.SICK}.items():
        start = time.perf_counter()
        case = build()
        trained = time.perf_counter() - start
        start = time.perf_counter()
        d = nv.diagnose(case.model, case.x, case.y, **case.kwargs)
        first = time.perf_counter() - start
        start = time.perf_counter()
        nv.diagnose(case.model, case.x, case.y, **case.kwargs)
        again = time.perf_counter() - start
        ok = d.healthy if not case.expect else all(c in d.codes[:2] for c in case.expect)
        extra = ""
        if "flipped" in case.extra:
            k = len(case.extra["flipped"]) // 2
            precision = np.isin(d.suspect_samples[:k], case.extra["flipped"]).mean()
            extra = f"top-{k} precision {precision:.2f}"
        rows.append(
            (
                name,
                ", ".join(case.expect) or "(healthy)",
                ", ".join(f"{f.code} ({f.severity})" for f in d.findings) or "none",
                "yes" if ok else "NO",
                f"{trained:.1f} s",
                f"{first:.2f} s",
                f"{again:.2f} s",
                extra,
            )
        )
    print_table(
        rows,
        ("training", "expected", "found", "named", "train", "diagnose", "again", "note"),
    )


def doctor(epochs: int, repeats: int) -> None:
    import keras

    import keras_nnviz as nv

    data = nv.datasets.digits()
    x, y = data.train.x.reshape(-1, 64), data.train.y

    def fit(every) -> tuple[float, float, int]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        callbacks = []
        if every is not None:
            log_dir = tempfile.mkdtemp()
            callbacks = [nv.callbacks.Doctor(log_dir, x=x[:512], y=y[:512], every=every)]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks)
        wall = time.perf_counter() - start
        stats = callbacks[0].stats if callbacks else None
        per = statistics.median(stats.blocking) if stats and stats.blocking else 0.0
        return wall, per, stats.snapshots if stats else 0

    arms = {None: [], 1: [], "auto": []}
    for _ in range(repeats):
        for every, runs in arms.items():
            runs.append(fit(every))
    base = statistics.median(r[0] for r in arms[None])
    rows = [(f"{epochs}", "no callback", f"{base:.2f} s", "", "", "")]
    for every in (1, "auto"):
        wall = statistics.median(r[0] for r in arms[every])
        rows.append(
            (
                f"{epochs}",
                f"Doctor(every={every!r})",
                f"{wall:.2f} s",
                f"{(wall - base) / base:+.1%}",
                f"{statistics.median(r[2] for r in arms[every]):.0f}",
                f"{statistics.median(r[1] for r in arms[every]) * 1000:.0f} ms",
            )
        )
    print_table(rows, ("epochs", "arm", "fit", "overhead", "diagnoses", "per epoch-end diagnosis"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["zoo", "doctor"])
    args = parser.parse_args()
    if args.only in (None, "zoo"):
        zoo()
    if args.only in (None, "doctor"):
        doctor(args.epochs, args.repeats)


if __name__ == "__main__":
    main()
