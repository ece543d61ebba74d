"""LRP's cost against the forward pass (issue 23): ``nv.lrp`` is one forward and one backward
pass with gradient overrides inside the one compiled function.

Models: ``_common.cnn64`` (batch 32 of 64×64×3, random init) and a tiny random-init KerasHub
Llama causal LM (``bench_token_ig.build("llama")``, batch 8 of 16 tokens, relevance at the
token embedding). Contenders: the compiled forward pass (``tf.function(model)``), saliency,
gradient × input, and ``nv.lrp`` with each composite. Times are medians of ``--repeats`` rounds
after two warm-up calls, one process; each round calls every contender once (interleaved, so a
burst of load from other processes falls on all of them alike). Two clocks: wall time, and the
process's CPU time (all threads), which waiting for a shared CPU does not inflate; the cells
are multiples of the forward pass on the same clock.

Run: ``python benchmarks/bench_lrp.py [--repeats 7] [--only cnn,llama]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # this checkout's keras_nnviz, not an install

from _common import cnn64, print_table  # noqa: E402


def _models():
    import numpy as np
    from bench_token_ig import build, inputs

    x = np.random.default_rng(0).uniform(0, 1, (32, 64, 64, 3)).astype("float32")
    yield "cnn64 (32×64×64×3)", cnn64(), x, ("epsilon_plus_flat", "epsilon_plus", "epsilon")
    llama = build("llama")
    yield "tiny Llama (8×16 tokens)", llama, inputs(llama, 8, length=16), ("epsilon_plus_flat",)


def _interleaved(contenders: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """``{label: (median wall s, median CPU s)}``, every round calling each contender once."""
    for fn in contenders.values():
        fn(), fn()
    wall: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for label, fn in contenders.items():
            c, t = time.process_time(), time.perf_counter()
            fn()
            wall[label].append(time.perf_counter() - t)
            cpu[label].append(time.process_time() - c)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in contenders}


def _rows(name, model, x, composites, repeats: int) -> list[tuple[str, ...]]:
    import tensorflow as tf

    import keras_nnviz as nv

    forward = tf.function(lambda t: model(t, training=False))
    feed = {k: tf.constant(v) for k, v in x.items()} if isinstance(x, dict) else tf.constant(x)
    contenders = {
        "forward (compiled)": lambda: forward(feed),
        "saliency": lambda: nv.saliency(model, x, batch_size=64),
        "gradient × input": lambda: nv.gradient_x_input(model, x, batch_size=64),
    }
    for rules in composites:
        contenders[f"lrp {rules}"] = lambda r=rules: nv.lrp(model, x, rules=r, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = _interleaved(contenders, repeats)
    base_wall, base_cpu = times["forward (compiled)"]
    rows = []
    for label, (w, c) in times.items():
        rows.append(
            (
                name,
                label,
                f"{w * 1e3:.1f}",
                f"{w / base_wall:.1f}×",
                f"{c * 1e3:.1f}",
                f"{c / base_cpu:.1f}×",
            )
        )
        print(*rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    rows = []
    for name, model, x, composites in _models():
        if args.only and not any(k in name.lower() for k in args.only.split(",")):
            continue
        rows.extend(_rows(name, model, x, composites, args.repeats))
    print_table(rows, ("model", "method", "wall ms", "× forward", "CPU ms", "× forward (CPU)"))


if __name__ == "__main__":
    main()
