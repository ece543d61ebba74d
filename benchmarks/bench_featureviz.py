"""Activation maximization steps/second: nv.maximize_activation vs tf-keras-vis, same model.

Both optimize the logit of class 3 of the shared 64×64×3 CNN (``_common.cnn64``) for a batch of
images, one process, after a warm-up call (our trace; tf-keras-vis has none).

- tf-keras-vis ``ActivationMaximization`` with ``ReplaceToLinear`` (its documented way to reach
  the logits) and its default input modifiers (Jitter, Rotate2D) and regularizers
  (TotalVariation2D, Norm): an eager loop.
- ``nv.maximize_activation`` default: Fourier parameterization, colour decorrelation, the
  standard transforms (pad/jitter/scale/rotate/jitter), Adam — one compiled step.
- ``nv.maximize_activation(redirect_relu=False)``: the same without Lucid's redirected-ReLU
  gradient (a custom gradient at every ReLU, which also stops oneDNN fusing conv+bias+ReLU).
- ``nv.maximize_activation(param="pixel", transforms=None, redirect_relu=False)``: the plain
  compiled loop; and the floor, a bare ``tf.function`` gradient-ascent step on the pixels.

Run: ``python benchmarks/bench_featureviz.py [--steps 64] [--batch 1 8] [--repeats 5]``
Target: >= 3x tf-keras-vis's steps/second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import cnn64, print_table  # noqa: E402


def interleaved_medians(fns, repeats: int) -> list[float]:
    """Median wall time of each function, timed in turns after one untimed warm-up call each."""
    import statistics
    import time

    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def floor_loop(model, batch: int, steps: int):
    """The least a compiled optimizer can do per step: forward, input gradient, update."""
    import tensorflow as tf

    x = tf.Variable(tf.random.uniform((batch, 64, 64, 3)))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            score = tf.reduce_sum(model(x, training=False)[:, 3])
        x.assign_add(0.01 * tape.gradient(score, x))
        return score

    def run():
        for _ in range(steps - 1):
            step()
        step().numpy()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import warnings

    import numpy as np
    import tensorflow as tf

    # tf-keras-vis passes a list to a single-input model; Keras warns on every step.
    warnings.filterwarnings("ignore", message="The structure of `inputs`")
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    import keras_nnviz as nv

    model = cnn64()
    visualizer = ActivationMaximization(model, model_modifier=ReplaceToLinear(), clone=True)
    objective = nv.objectives.class_logit(3)
    print(
        f"device: {tf.config.list_logical_devices()[-1].device_type}, model cnn64 64×64×3, "
        f"{args.steps} steps per call, median of {args.repeats}"
    )
    rows = []
    for batch in args.batch:
        seed = tf.random.uniform((batch, 64, 64, 3), 0, 1)

        def peer(batch=batch, seed=seed):
            visualizer(
                CategoricalScore([3] * batch),
                seed_input=seed,
                input_range=(0.0, 1.0),
                steps=args.steps,
            )

        def ours(batch=batch, **kwargs):
            return lambda: nv.maximize_activation(
                model, [objective] * batch, steps=args.steps, progress=False, **kwargs
            )

        # Interleaved repeats: the three runs see the same machine load (shared CI machines
        # drift by 2x within a minute).
        t_peer, t_ours, t_fast, t_plain, t_floor = interleaved_medians(
            [
                peer,
                ours(),
                ours(redirect_relu=False),
                ours(param="pixel", transforms=None, redirect_relu=False),
                floor_loop(model, batch, args.steps),
            ],
            args.repeats,
        )
        rate = lambda t: args.steps / t
        for what, t in [
            ("tf-keras-vis ActivationMaximization", t_peer),
            ("nv.maximize_activation default (Fourier, decorrelate, transforms)", t_ours),
            ("nv.maximize_activation default, redirect_relu=False", t_fast),
            ("nv.maximize_activation pixel, no transforms, no redirect", t_plain),
            ("floor: bare compiled gradient step on the pixels", t_floor),
        ]:
            rows.append((f"{what}, batch {batch}", f"{rate(t):.1f}", f"{t_peer / t:.2f}"))
        # The optimized images must be real: they maximize the class for both.
        images = nv.maximize_activation(
            model, [objective] * batch, steps=args.steps, progress=False
        ).images
        assert np.all(model.predict(images, verbose=0).argmax(axis=1) == 3)
    print_table(rows, ("what", "steps/s", "× tf-keras-vis"))


if __name__ == "__main__":
    main()
