"""Timing helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_time(
    fn: Callable[[], object], repeats: int = 7, warmup: int = 2, best: bool = False
) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` untimed calls; ``best``: the
    fastest call instead (on a shared, loaded CPU the run least disturbed by other processes)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) if best else statistics.median(times)


def cnn64(blocks: int = 3, classes: int = 10, seed: int = 0):
    """The shared benchmark model: a 64×64×3 CNN with ``blocks`` conv blocks, GAP, dense head."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((64, 64, 3), name="image")
    h = inputs
    for i, filters in enumerate([32, 64, 128, 128][:blocks], start=1):
        h = keras.layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"block{i}_conv1"
        )(h)
        h = keras.layers.Conv2D(
            filters, 3, padding="same", activation="relu", name=f"block{i}_conv2"
        )(h)
        if i < blocks:
            h = keras.layers.MaxPooling2D(name=f"block{i}_pool")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, outputs, name="cnn64")


def print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    """Print a Markdown table (copy-paste ready for benchmarks/README.md)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
