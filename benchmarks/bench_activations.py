"""get_activations for every layer of a 64×64 CNN vs a compiled forward pass, same batch.

Run: ``python benchmarks/bench_activations.py [--batch 32] [--repeats 9]``
Target: ratio <= 1.2 (fetching every intermediate costs little more than the forward pass).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import cnn64, median_time, print_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    import keras_nnviz as nv

    model = cnn64()
    x = np.random.default_rng(0).uniform(size=(args.batch, 64, 64, 3)).astype("float32")
    layers = nv.list_layers(model)

    forward = tf.function(lambda t: model(t, training=False))
    t_forward = median_time(lambda: forward(tf.constant(x)).numpy(), repeats=args.repeats)
    t_acts = median_time(
        lambda: nv.get_activations(model, x, layers, batch_size=args.batch), repeats=args.repeats
    )
    t_forward2 = median_time(lambda: forward(tf.constant(x)).numpy(), repeats=args.repeats)
    t_forward = min(t_forward, t_forward2)  # alternate to cancel drift; take the faster floor
    total_mb = sum(a.nbytes for a in nv.get_activations(model, x, layers).values()) / 2**20

    print(
        f"model cnn64: {len(layers)} layers, batch {args.batch}, "
        f"{total_mb:.1f} MiB of activations per batch"
    )
    print_table(
        [
            ("compiled forward pass (floor)", f"{t_forward * 1e3:.1f}", "1.00"),
            (
                f"nv.get_activations ({len(layers)} layers)",
                f"{t_acts * 1e3:.1f}",
                f"{t_acts / t_forward:.2f}",
            ),
        ],
        ("what", "median ms", "× forward"),
    )
    print(f"ratio {t_acts / t_forward:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
