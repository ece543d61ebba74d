"""LRP's cost against the forward pass (issue 23): ``nv.lrp`` is one forward and one backward
pass with gradient overrides inside the one compiled function.

Models: ``_common.cnn64`` (batch 32 of 64×64×3, random init) and a tiny random-init KerasHub
Llama causal LM (``bench_token_ig.build("llama")``, batch 8 of 16 tokens, relevance at the
token embedding). Contenders: the compiled forward pass (``tf.function(model)``), saliency,
gradient × input, and ``nv.lrp`` with each composite. Times are medians of ``--repeats`` calls
after two warm-up calls, one process; the cells are multiples of the forward pass.

Run: ``python benchmarks/bench_lrp.py [--repeats 7] [--only cnn,llama]``
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # this checkout's keras_nnviz, not an install

from _common import cnn64, median_time, print_table  # noqa: E402


def _models():
    import numpy as np
    from bench_token_ig import build, inputs

    x = np.random.default_rng(0).uniform(0, 1, (32, 64, 64, 3)).astype("float32")
    yield "cnn64 (32×64×64×3)", cnn64(), x, ("epsilon_plus_flat", "epsilon_plus", "epsilon")
    llama = build("llama")
    yield "tiny Llama (8×16 tokens)", llama, inputs(llama, 8, length=16), ("epsilon_plus_flat",)


def _rows(name, model, x, composites, repeats: int) -> list[tuple[str, ...]]:
    import tensorflow as tf

    import keras_nnviz as nv

    forward = tf.function(lambda t: model(t, training=False))
    feed = {k: tf.constant(v) for k, v in x.items()} if isinstance(x, dict) else tf.constant(x)
    t_forward = median_time(lambda: forward(feed), repeats)
    contenders = {
        "saliency": lambda: nv.saliency(model, x, batch_size=64),
        "gradient × input": lambda: nv.gradient_x_input(model, x, batch_size=64),
    }
    for rules in composites:
        contenders[f"lrp {rules}"] = lambda r=rules: nv.lrp(model, x, rules=r, batch_size=64)
    rows = [(name, "forward (compiled)", f"{t_forward * 1e3:.1f}", "1.0×")]
    for label, fn in contenders.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds = median_time(fn, repeats)
        rows.append((name, label, f"{seconds * 1e3:.1f}", f"{seconds / t_forward:.1f}×"))
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
    print_table(rows, ("model", "method", "ms", "× forward"))


if __name__ == "__main__":
    main()
