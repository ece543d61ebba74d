"""Image-text maps (issue 26): the pointing game per method, and the time per image relative to
the model's forward pass.

The synthetic task (``tests/test_crossmodal.py``): black 32x32 images holding two 8x8 squares
of different colours (red, green, blue), one top-left and one bottom-right; the text names the
colour of one of them. A map *points* at the named square when its maximum lies inside it; the
pointing game is the fraction of images where it does (chance: the two squares cover 12.5 % of
the image).

Two dual encoders:

- ``hand-set``: the test's model, weights set by hand (a 1x1-conv colour detector, token k ->
  colour k, score = their dot product): the right answer is known exactly.
- ``trained``: the same shape of model learned from random init (3x3 conv 16 -> 1x1 conv 8
  image features -> average pool; token embedding 8; dot product), trained here on matched (1)
  and mismatched (0: the colour the image lacks) pairs, binary cross-entropy on the score as a
  logit; scored on new scenes.

Time per image: ``nv.image_text_map`` on ``--n`` pairs (after one warm-up call that traces),
divided by ``--n``, over the forward pass's time per image (the same pairs through the model's
compiled call). ``--hub`` adds tiny random-init KerasHub CLIP and SigLIP (time only: random
weights have no right answer). ``--figure PATH`` saves each method's maps on six scenes of the
trained model.

Run: ``python benchmarks/bench_crossmodal.py [--n 64] [--hub] [--figure docs/images/x.png]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # this checkout's keras_nnviz and tests

import numpy as np  # noqa: E402
from _common import median_time, print_table  # noqa: E402

METHODS = [
    ("grad_cam", {}),
    ("grad_cam_plus_plus", {}),
    ("layer_cam", {}),
    ("hires_cam", {}),
    ("score_cam", {}),
    ("saliency", {}),
    ("gradient_x_input", {}),
    ("integrated_gradients", {"steps": 32}),
    ("deeplift", {}),
    ("noise_tunnel", {}),
    ("occlusion", {}),
    ("rise", {}),
]
HUB_METHODS = [("grad_cam", {}), ("saliency", {}), ("integrated_gradients", {"steps": 32})]


def trained_dual_encoder(n: int = 2048, epochs: int = 6, seed: int = 0):
    """The dual encoder of the docstring, trained on ``n`` scenes (matched and mismatched)."""
    import keras
    from keras import layers as L

    from tests.test_crossmodal import scenes

    keras.utils.set_random_seed(seed)
    image = keras.Input((32, 32, 3), name="images")
    ids = keras.Input((2,), dtype="int32", name="token_ids")
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv")(image)
    feats = L.Conv2D(8, 1, activation="relu", name="image_features")(h)
    pooled = L.GlobalAveragePooling2D(name="pool")(feats)
    named = L.GlobalAveragePooling1D(name="named")(L.Embedding(4, 8, name="token_embedding")(ids))
    score = L.Dot(axes=1, name="score")([pooled, named])
    model = keras.Model([image, ids], score, name="trained_colour_match")
    images, texts, others, *_ = scenes(n, seed=seed + 1)
    absent = texts.copy()
    absent[:, 0] = 6 - texts[:, 0] - others[:, 0]  # the one colour of three not in the image
    x = [np.concatenate([images, images]), np.concatenate([texts, absent])]
    y = np.concatenate([np.ones(n), np.zeros(n)]).astype("float32")
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)],
    )
    hist = model.fit(x, y, epochs=epochs, batch_size=64, shuffle=True, verbose=0)
    return model, float(hist.history["binary_accuracy"][-1])


def best_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """The fastest call: the median drifts with the load of a shared CPU, so ratios of medians
    taken minutes apart can fall below 1."""
    return median_time(fn, repeats=repeats, warmup=warmup, best=True)


def pointing_game(maps: np.ndarray, boxes) -> float:
    hits = 0
    for m, (y, x) in zip(maps, boxes, strict=True):
        py, px = np.unravel_index(np.argmax(m), m.shape)
        hits += y <= py < y + 8 and x <= px < x + 8
    return hits / len(boxes)


def forward_time(model, x, repeats: int) -> float:
    import tensorflow as tf

    call = tf.function(lambda a, b: model([a, b], training=False))
    a, b = tf.constant(x[0]), tf.constant(x[1])
    return best_time(lambda: call(a, b).numpy(), repeats=repeats)


def method_time(model, images, texts, method, options, repeats: int) -> float:
    import keras_nnviz as nv

    def run():
        return nv.image_text_map(
            model,
            images,
            texts,
            method=method,
            batch_size=len(images),
            progress=False,
            **options,
        )

    return best_time(run, repeats=repeats, warmup=1)


def bench_synthetic(args, models) -> list[tuple]:
    import keras_nnviz as nv
    from tests.test_crossmodal import scenes

    images, texts, others, boxes, other_boxes = scenes(args.n, seed=123)
    rows = []
    for label, model in models.items():
        fwd = forward_time(model, [images, texts], args.repeats) / args.n
        first = len(rows)
        rows.append(None)  # the forward pass: its fastest time, measured beside every method
        for method, options in METHODS:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    kw = {"method": method, "progress": False, **options}
                    maps = nv.image_text_map(model, images, texts, **kw)
                    moved = nv.image_text_map(model, images, others, **kw)
                per = method_time(model, images, texts, method, options, args.repeats) / args.n
                # The forward pass again, right after: both under the same load.
                fwd = min(fwd, forward_time(model, [images, texts], args.repeats) / args.n)
            except Exception as exc:  # noqa: BLE001 - a method that cannot run is a row too
                rows.append((label, method, f"fails: {type(exc).__name__}", "", "", ""))
                continue
            warned = {
                type(w.message).__name__ for w in caught if "Method" in type(w.message).__name__
            }
            name = method + (" (warns)" if warned else "")
            rows.append(
                (
                    label,
                    name,
                    f"{pointing_game(maps, boxes):.0%}",
                    f"{pointing_game(moved, other_boxes):.0%}",
                    f"{per * 1e3:.3f}",
                    per,
                )
            )
        rows[first] = (label, "forward pass", "", "", f"{fwd * 1e3:.3f}", "1")
        for i in range(first + 1, len(rows)):
            if isinstance(rows[i][5], float):
                rows[i] = (*rows[i][:5], f"{rows[i][5] / fwd:.1f}")
    return rows


def bench_hub(args) -> list[tuple]:
    import tensorflow as tf

    import keras_nnviz as nv
    from tests import hub

    rng = np.random.default_rng(0)
    n = min(args.n, 16)
    images = rng.random((n, 32, 32, 3), dtype=np.float32)
    texts = rng.integers(1, hub.VOCABULARY, size=(n, 12)).astype("int32")
    rows = []
    for name, model in hub.dual_encoders().items():
        x = {"images": tf.constant(images), "token_ids": tf.constant(texts)}
        if any(i.name == "padding_mask" for i in model.inputs):
            x["padding_mask"] = tf.ones_like(x["token_ids"])
        call = tf.function(lambda d, m=model: m(d, training=False))
        fwd = best_time(lambda c=call, x=x: tf.nest.map_structure(np.asarray, c(x)), args.repeats)
        fwd /= n
        rows.append((name, "forward pass", f"{fwd * 1e3:.3f}", "1"))
        for method, options in HUB_METHODS:
            for what, fn in (
                ("image map", nv.image_text_map),
                ("tokens", nv.text_image_attribution),
            ):
                if what == "tokens" and method == "grad_cam":
                    continue
                try:
                    per = (
                        best_time(
                            lambda fn=fn, method=method, options=options, model=model: fn(
                                model,
                                images,
                                texts,
                                method=method,
                                batch_size=n,
                                progress=False,
                                **options,
                            ),
                            repeats=args.repeats,
                            warmup=1,
                        )
                        / n
                    )
                except Exception as exc:  # noqa: BLE001
                    rows.append((name, f"{what} {method}", f"fails: {type(exc).__name__}", ""))
                    continue
                rows.append((name, f"{what} {method}", f"{per * 1e3:.3f}", f"{per / fwd:.1f}"))
    return rows


def figure(path: str, model) -> None:
    from matplotlib.figure import Figure

    import keras_nnviz as nv
    from tests.test_crossmodal import scenes

    images, texts, _, boxes, _ = scenes(64, seed=123)
    names = {1: "red", 2: "green", 3: "blue"}
    shown = [m for m, _ in METHODS if m not in ("score_cam", "noise_tunnel")]
    fig = Figure(figsize=(1.5 * 6 + 0.4, 1.55 * len(shown) + 0.5), layout="constrained")
    rows = fig.subfigures(len(shown), 1)
    for sub, method in zip(rows, shown, strict=True):
        options = {"progress": False, **dict(METHODS)[method]}
        maps = nv.image_text_map(model, images, texts, method=method, **options)
        score = pointing_game(maps, boxes)
        nv.plot.image_text_maps(
            images[:6],
            maps[:6],
            [names[int(t)] for t in texts[:6, 0]],
            ncols=6,
            cell=1.5,
            title=f"{method}: pointing game {score:.0%} of 64",
            fig=sub,
        )
    fig.suptitle("Trained colour dual encoder: where each image matches its text, per method")
    nv.plot.save(fig, path, dpi=70)
    print(f"figure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="pairs per timed call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hub", action="store_true", help="also time tiny CLIP and SigLIP")
    parser.add_argument("--figure", default=None, help="save the trained model's maps here")
    args = parser.parse_args()

    from tests.test_crossmodal import colour_dual_encoder

    start = time.perf_counter()
    trained, accuracy = trained_dual_encoder()
    print(
        f"trained dual encoder: train accuracy {accuracy:.1%} ({time.perf_counter() - start:.0f} s)"
    )
    rows = bench_synthetic(args, {"hand-set": colour_dual_encoder(), "trained": trained})
    print_table(
        rows,
        ("model", "method", "pointing game", "other colour named", "ms / image", "× forward"),
    )
    if args.hub:
        print()
        print_table(bench_hub(args), ("model", "what", "ms / image", "× forward"))
    if args.figure:
        figure(args.figure, trained)


if __name__ == "__main__":
    main()
