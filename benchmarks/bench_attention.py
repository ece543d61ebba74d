"""get_attention / attention_rollout vs a compiled forward pass and the do-it-yourself way.

Run: ``python benchmarks/bench_attention.py [--batch 32] [--tokens 64] [--repeats 9]``

Models: a 4-layer transformer encoder (width 128, 4 heads, MLP 256) on ``--tokens`` tokens, built
twice with the same layers: functional (each MultiHeadAttention a graph node) and keras.io-style
(each MHA inside a custom block layer, invisible to the graph). The do-it-yourself baseline is
what a Keras user writes today for the functional one: a sub-model returning every MHA's input,
then each MHA re-called eagerly with ``return_attention_scores=True`` (it cannot reach MHAs inside
custom layers at all). Target: get_attention <= 1.3x the compiled forward pass.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # the keras_nnviz of this checkout

from _common import median_time, print_table  # noqa: E402


def build(
    tokens: int,
    dim: int = 128,
    heads: int = 4,
    depth: int = 4,
    custom: bool = False,
    with_scores: bool = False,
):
    import keras

    import keras_nnviz as nv

    keras.utils.set_random_seed(0)
    inputs = keras.Input((tokens, dim), name="tokens")
    h, scores = inputs, []
    for i in range(1, depth + 1):
        if custom:
            h = nv.datasets.TransformerEncoder(dim, heads, 2 * dim, name=f"encoder_{i}")(h)
            continue
        n = keras.layers.LayerNormalization(epsilon=1e-6, name=f"norm1_{i}")(h)
        mha = keras.layers.MultiHeadAttention(heads, dim // heads, name=f"mha_{i}")
        if with_scores:
            a, s = mha(n, n, return_attention_scores=True)
            scores.append(s)
        else:
            a = mha(n, n)
        h = keras.layers.Add(name=f"add1_{i}")([h, a])
        n = keras.layers.LayerNormalization(epsilon=1e-6, name=f"norm2_{i}")(h)
        m = keras.layers.Dense(2 * dim, activation="gelu", name=f"mlp_in_{i}")(n)
        m = keras.layers.Dense(dim, name=f"mlp_out_{i}")(m)
        h = keras.layers.Add(name=f"add2_{i}")([h, m])
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(h[:, 0])
    name = "custom" if custom else "functional"
    return keras.Model(inputs, [outputs, *scores] if scores else outputs, name=name)


def diy_attention(model, depth: int = 4):
    """A user's own way for the functional model: sub-model to MHA inputs + eager re-calls."""
    import keras

    mhas = [model.get_layer(f"mha_{i}") for i in range(1, depth + 1)]
    feeds = keras.Model(model.inputs, [model.get_layer(f"norm1_{i}").output for i in range(1, 5)])

    def run(x):
        inputs = feeds([x])
        return [mha(h, h, return_attention_scores=True)[1].numpy() for mha, h in zip(mhas, inputs)]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    import keras_nnviz as nv

    x = np.random.default_rng(0).normal(size=(args.batch, args.tokens, 128)).astype("float32")
    rows = []
    for custom in (False, True):
        model = build(args.tokens, custom=custom)
        forward = tf.function(lambda t, m=model: m([t], training=False))
        floor = lambda f=forward: f(tf.constant(x)).numpy()  # noqa: E731
        t_forward = median_time(floor, repeats=args.repeats)
        t_att = median_time(
            lambda m=model: nv.get_attention(m, x, batch_size=args.batch), repeats=args.repeats
        )
        t_roll = median_time(
            lambda m=model: nv.attention_rollout(m, x, batch_size=args.batch),
            repeats=args.repeats,
        )
        t_forward = min(t_forward, median_time(floor, repeats=args.repeats))
        label = "MHA in custom layers" if custom else "functional MHA"
        rows.append((f"{label}: compiled forward (floor)", f"{t_forward * 1e3:.1f}", "1.00"))
        rows.append(
            (f"{label}: nv.get_attention", f"{t_att * 1e3:.1f}", f"{t_att / t_forward:.2f}")
        )
        rows.append(
            (f"{label}: nv.attention_rollout", f"{t_roll * 1e3:.1f}", f"{t_roll / t_forward:.2f}")
        )
        if not custom:
            # Floor for any capture: the same model built to return its scores (Keras then
            # computes attention with einsums instead of the fused kernel).
            twin = build(args.tokens, with_scores=True)
            twin.set_weights(model.get_weights())
            scored = tf.function(lambda t, m=twin: m([t], training=False))
            t_twin = median_time(
                lambda f=scored: [o.numpy() for o in f(tf.constant(x))], repeats=args.repeats
            )
            rows.insert(
                1,
                (
                    "functional MHA: model built to return scores",
                    f"{t_twin * 1e3:.1f}",
                    f"{t_twin / t_forward:.2f}",
                ),  # fmt: skip
            )
            diy = diy_attention(model)
            t_diy = median_time(lambda d=diy: d(x), repeats=args.repeats)
            rows.append(
                (
                    "functional MHA: sub-model + eager re-calls",
                    f"{t_diy * 1e3:.1f}",
                    f"{t_diy / t_forward:.2f}",
                )  # fmt: skip
            )
    print(f"4 encoder layers, width 128, 4 heads, {args.tokens} tokens, batch {args.batch}")
    print_table(rows, ("what", "median ms", "× forward"))


if __name__ == "__main__":
    main()
