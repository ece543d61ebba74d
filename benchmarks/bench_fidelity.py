"""Cost versus fidelity: the same map for less compute (adaptive IG, SmoothGrad noise, Score-CAM).

One process, same model and inputs for every contender. Model: ``_common.cnn64`` (2 classes)
trained on ``nv.datasets.patch_localization`` 64×64×3 (640 images, 4 epochs; the weights are
cached in the temp folder, ``--weights``), explained on held-out images, each sample's
predicted class. Fidelity is the mean per-image Pearson correlation of the [0, 1] maps with a
high-sample reference of the same method; for integrated gradients also the relative
completeness error ``|sum(A) - (f(x) - f(0))| / |f(x) - f(0)|``. Times are medians of
``--repeats`` calls after a warm-up.

- Integrated gradients: ``steps="auto"`` (default) against fixed step counts (midpoint rule);
  reference ``steps=256``. Plus a model with a sharp nonlinearity (a steep sigmoid whose
  integral is known in closed form) where 64 steps are not enough.
- SmoothGrad (noise 0.2, as ``bench_attribution.py`` and tf-keras-vis; ``--noise 0.1`` is
  keras_nnviz's default): ``sampling="iid" | "antithetic" | "simplex" | "sobol" |
  "antithetic_sobol"`` at 4–20 samples against an i.i.d. 256-sample reference (mean
  over two seeds), and tf-keras-vis ``Saliency(smooth_samples=n)`` on a logits copy.
- Score-CAM: default channel selection against every channel on the trained cnn64
  (``block3_conv2``, 128 channels) and on a nested ResNet50 (``keras.applications``,
  ``weights=None``, 64×64, nested as a layer of a functional model; its default layer,
  2×2×2048), and tf-keras-vis ``Scorecam``.

- Perturbation methods (issue 24, ``--only pert``): KernelSHAP, LIME and RISE at growing budgets
  against a 2048-evaluation reference of the same method (another seed), on 8 held-out images
  (``--pert-images``, ``--pert-reference``);
  then every perturbation method, Grad-CAM and occlusion scored by the faithfulness metrics
  (deletion / insertion AUC, pointing game on the patch masks).
- Issue 24's gradient methods (``--only new``): time (× forward pass), deletion / insertion AUC
  and pointing game on the same held-out localization images, Grad-CAM and integrated gradients
  as the yardsticks; Ablation-CAM's 64-channel default and GradientSHAP's 16 draws against their
  full / 256-draw references.

- Token attribution (``--only text``, issue 23): IG, LRP, saliency and attention rollout on a
  tiny KerasHub BERT classifier and a tiny Llama causal LM trained in the script on
  deciding-token tasks: deciding token top-1, deletion / insertion AUC, cost (see
  ``_text_fidelity.py``).

Run: ``python benchmarks/bench_fidelity.py [--repeats 3] [--plot fidelity.png] [--skip-resnet]``
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # this checkout's keras_nnviz, not an install

from _common import cnn64, print_table  # noqa: E402

NOISE = 0.2
LAYER = "block3_conv2"
CURVE_STEPS = 400


def timed(fn, repeats: int, warm=None) -> tuple[float, object]:
    """Median seconds of ``fn()`` over ``repeats`` calls after a warm-up call (of ``warm``,
    a cheaper call of the same compiled variant, when given), and its last result."""
    (warm or fn)()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def corr(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    values = [np.corrcoef(u.ravel(), v.ravel())[0, 1] for u, v in zip(a, b)]
    return float(np.mean(np.nan_to_num(values)))


def trained_cnn64(path: str):
    import keras

    import keras_nnviz as nv

    model = cnn64(classes=2)
    data = nv.datasets.patch_localization(640 + 64, size=64, channels=3, seed=0)
    if os.path.exists(path):
        model.load_weights(path)
    else:
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
        model.fit(data.x[:640], data.y[:640], epochs=4, batch_size=32, verbose=0)
        model.save_weights(path)
    return model, data.x[640:]


def nv_masks(n: int):
    """The patch masks of the held-out images of :func:`trained_cnn64`."""
    import keras_nnviz as nv

    return nv.datasets.patch_localization(640 + 64, size=64, channels=3, seed=0).masks[640:][:n]


def bench_ig(model, x, repeats):
    import numpy as np

    import keras_nnviz as nv

    rows, curve = [], []
    ref = nv.integrated_gradients(model, x, steps=256)
    raw = dict(signed=True, normalize=False)
    t64 = None
    for steps in [8, 16, 32, 64, "auto"]:
        t, maps = timed(lambda s=steps: nv.integrated_gradients(model, x, steps=s), repeats)
        err = nv.integrated_gradients(model, x, steps=steps, **raw).completeness_error
        points = float(np.mean(maps.steps))
        c = corr(maps, ref)
        t64 = t if steps == 64 else t64
        curve.append((str(steps), t, points, c, float(err.max())))
        rows.append(
            (f"steps={steps}", f"{t * 1e3:.0f}", f"{points:.1f}", f"{c:.4f}", f"{err.max():.2%}")
        )
    auto = curve[-1]
    checks = [
        ("IG auto: completeness error <= 1 %", auto[4] <= 0.01),
        ("IG auto: corr >= 0.98 with steps=256", auto[3] >= 0.98),
        (f"IG auto: time <= 30 % of steps=64 ({auto[1] / t64:.0%})", auto[1] <= 0.3 * t64),
    ]
    return rows, curve, checks


def bench_ig_sharp():
    import keras
    import numpy as np

    import keras_nnviz as nv

    k, c = 400.0, 0.5
    inputs = keras.Input((8,))
    h = keras.layers.Activation("sigmoid")(keras.layers.Rescaling(k, offset=-k * c)(inputs))
    outputs = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(h)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).uniform(0, 1, (16, 8)).astype("float32")
    raw = dict(signed=True, normalize=False)
    auto = nv.integrated_gradients(model, x, 0, **raw)
    fixed = nv.integrated_gradients(model, x, 0, steps=64, **raw)
    span = f"{auto.steps.min()}–{auto.steps.max()}"
    rows = [
        ("steps=64", "64", f"{fixed.completeness_error.max():.2%}"),
        ("steps='auto'", span, f"{auto.completeness_error.max():.2%}"),
    ]
    ok = auto.steps.min() > 64 and auto.completeness_error.max() <= 0.01
    return rows, [("IG auto on a sharp model: > 64 steps and error <= 1 %", bool(ok))]


def _logits_copy(model):
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.layers[-1].activation = keras.activations.linear
    return copy


def bench_smoothgrad(model, x, classes, repeats, noise=NOISE):
    import keras_nnviz as nv

    sg = lambda n, s, seed: nv.saliency(  # noqa: E731
        model, x, classes, smooth_samples=n, noise=noise, sampling=s, seed=seed, progress=False
    )
    ref = sg(256, "iid", 12345)
    default = inspect.signature(nv.saliency).parameters["sampling"].default
    times = {n: timed(lambda n=n: sg(n, default, 0), repeats)[0] for n in (4, 8, 16, 20)}
    rows, curves = [], {}
    for scheme in ("iid", "antithetic", "simplex", "sobol", "antithetic_sobol"):
        for n in (4, 8, 16, 20):
            c = statistics.mean(corr(sg(n, scheme, seed), ref) for seed in (1, 2))
            curves.setdefault(scheme, []).append((n, times[n], c))
            rows.append((f"ours {scheme}", str(n), f"{times[n] * 1e3:.0f}", f"{c:.4f}"))
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    tkv = Saliency(_logits_copy(model), clone=False)
    score = CategoricalScore(list(classes))
    for n in (8, 20):
        run = lambda n=n: tkv(score, x, smooth_samples=n, smooth_noise=noise)  # noqa: E731
        t, maps = timed(run, repeats)
        c = corr(maps, ref)
        curves.setdefault("tf-keras-vis", []).append((n, t, c))
        rows.append(("tf-keras-vis", str(n), f"{t * 1e3:.0f}", f"{c:.4f}"))
    default8 = next(c for n, _, c in curves[default] if n == 8)
    tkv20_t, tkv20_c = curves["tf-keras-vis"][-1][1:]
    equal = [(n, t) for n, t, c in curves[default] if c >= tkv20_c]
    speed = tkv20_t / equal[0][1] if equal else float("nan")
    checks = [
        (
            f"SmoothGrad default ({default}), 8 samples: corr >= 0.95 ({default8:.3f})",
            default8 >= 0.95,
        ),  # fmt: skip
        (
            f"SmoothGrad at tf-keras-vis(20)'s fidelity ({tkv20_c:.3f}): "
            f"{equal[0][0] if equal else '>20'} samples, {speed:.1f}× faster (target >= 5×)",
            speed >= 5,
        ),
    ]
    return rows, curves, checks


def bench_score_cam(model, x, classes, repeats, label, layer=None, ks=(8, 16, 32, 64), tkv=True):
    import keras_nnviz as nv

    def run(n=None, **options):
        return nv.score_cam(model, x[:n], classes[:n], layer=layer, progress=False, **options)

    # the full method warms up on one image (same compiled pass): it is the slow one
    t_full, full = timed(
        lambda: run(channels="all"), max(1, repeats // 3), lambda: run(1, channels="all")
    )
    rows = [(label, "all", f"{t_full * 1e3:.0f}", "1.00", "1.0000")]
    curves = {}
    for ranking in ("activation", "std"):
        for k in ks:
            t, maps = timed(lambda k=k, r=ranking: run(channels=r, max_channels=k), repeats)
            c = corr(maps, full)
            curves.setdefault(ranking, []).append((k, t, c))
            rows.append(
                (label, f"{ranking} {k}", f"{t * 1e3:.0f}", f"{t / t_full:.3f}", f"{c:.4f}")
            )
    t_def, default = timed(lambda: run(), repeats)
    c_def = corr(default, full)
    rows.append((label, "default", f"{t_def * 1e3:.0f}", f"{t_def / t_full:.3f}", f"{c_def:.4f}"))
    if tkv:
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.scores import CategoricalScore

        cam = Scorecam(model)
        score = CategoricalScore(list(classes))
        for k in (None, 32):
            go = lambda k=k: cam(score, x, penultimate_layer=layer, max_N=k or -1)  # noqa: E731
            t, maps = timed(go, max(1, repeats // 3) if k is None else repeats)
            c = corr(maps, full)
            curves.setdefault("tf-keras-vis", []).append((k or 128, t, c))
            rows.append(
                (f"{label} tf-keras-vis", f"max_N={k}", f"{t * 1e3:.0f}", f"{t / t_full:.3f}",
                 f"{c:.4f}")
            )  # fmt: skip
    check = (
        f"Score-CAM default on {label}: corr >= 0.95 ({c_def:.3f}), time <= 1/8 of full "
        f"({t_def / t_full:.3f})",
        c_def >= 0.95 and t_def <= t_full / 8,
    )
    return rows, curves, [check] if "ResNet" in label else []  # the target


def bench_perturbation(model, x, masks, repeats, reference=2048, budgets=True):
    """Budget vs fidelity of the sampled perturbation methods; metrics of every method."""
    import numpy as np

    import keras_nnviz as nv

    classes = np.argmax(model.predict(x, verbose=0), axis=-1)
    quiet = {"progress": False}
    rows, checks = [], []
    sampled = [
        ("kernel_shap", nv.kernel_shap, (64, 128, 256, 512)),
        ("lime", nv.lime, (64, 128, 256, 512)),
        ("rise", nv.rise, (250, 500, 1000)),
    ]
    for name, fn, sizes in sampled if budgets else []:
        ref = fn(model, x, classes, samples=reference, seed=1, **quiet)
        for samples in sizes:
            t, maps = timed(
                lambda f=fn, s=samples: f(model, x, classes, samples=s, **quiet), repeats
            )
            rows.append((name, str(samples), f"{t * 1e3:.0f}", f"{corr(maps, ref):.3f}"))
    metric_rows = []
    contenders = {
        "grad_cam": lambda: nv.grad_cam(model, x, classes, layer=LAYER),
        "occlusion": lambda: nv.occlusion(model, x, classes, patch=8, stride=8, **quiet),
        "kernel_shap": lambda: nv.kernel_shap(model, x, classes, **quiet),
        "kernel_shap (superpixels)": lambda: nv.kernel_shap(
            model, x, classes, features="superpixels", **quiet
        ),
        "lime": lambda: nv.lime(model, x, classes, **quiet),
        "rise": lambda: nv.rise(model, x, classes, **quiet),
        "feature_ablation": lambda: nv.feature_ablation(model, x, classes, **quiet),
        "feature_permutation": lambda: nv.feature_permutation(model, x, classes, **quiet),
    }
    scores = {}
    for name, run in contenders.items():
        t, maps = timed(run, 1)
        # 64 steps of 1/64 of the pixels (one grid cell): at 20 steps every method removes the
        # 6 × 6 patch in the first step and all curves are equal.
        deletion = nv.metrics.deletion_auc(model, x, maps, classes, steps=64).auc.mean()
        insertion = nv.metrics.insertion_auc(model, x, maps, classes, steps=64).auc.mean()
        # a tolerance of one grid cell (8 px): the maximum of a cell-constant map is the cell's
        # first pixel, which need not be the patch's even when the cell holds it
        pointing = nv.metrics.pointing_game(maps, masks, tolerance=8).rate
        scores[name] = (deletion, insertion, pointing)
        metric_rows.append(
            (name, f"{t * 1e3:.0f}", f"{deletion:.3f}", f"{insertion:.3f}", f"{pointing:.2f}")
        )
    random = np.random.default_rng(0).random(masks.shape).astype(np.float32)
    checks.append(
        (
            "every perturbation method deletes faster than a random map",
            all(
                v[0] < nv.metrics.deletion_auc(model, x, random, classes, steps=64).auc.mean()
                for k, v in scores.items()
                if k not in ("grad_cam", "occlusion")
            ),
        )
    )
    return rows, metric_rows, checks


def bench_new_methods(model, repeats, n=16):
    """Cost and faithfulness of the issue-24 gradient methods on held-out localization images."""
    import numpy as np
    import tensorflow as tf

    import keras_nnviz as nv

    data = nv.datasets.patch_localization(640 + 64, size=64, channels=3, seed=0)
    x, masks = data.x[640 : 640 + n], data.masks[640 : 640 + n]
    classes = np.argmax(model.predict(x, verbose=0), axis=-1)
    background = data.x[:16]
    forward = tf.function(lambda t: model(t, training=False))
    t_forward, _ = timed(lambda: forward(tf.constant(x)).numpy(), repeats)
    cam = {"layer": LAYER, "progress": False}
    methods = {
        "Grad-CAM (yardstick)": lambda: nv.grad_cam(model, x, classes, **cam),
        "integrated gradients (yardstick)": lambda: nv.integrated_gradients(model, x, classes),
        "HiRes-CAM": lambda: nv.hires_cam(model, x, classes, **cam),
        "XGrad-CAM": lambda: nv.xgrad_cam(model, x, classes, **cam),
        "Eigen-CAM": lambda: nv.eigen_cam(model, x, classes, **cam),
        "Ablation-CAM (64 channels)": lambda: nv.ablation_cam(model, x, classes, **cam),
        "Guided Grad-CAM": lambda: nv.guided_grad_cam(model, x, classes, **cam),
        "DeepLIFT": lambda: nv.deeplift(model, x, classes),
        "DeepSHAP (16 references)": lambda: nv.deep_shap(
            model, x, classes, baselines=background, progress=False
        ),
        "GradientSHAP (16 draws)": lambda: nv.gradient_shap(
            model, x, classes, baselines=background, seed=0, progress=False
        ),
        "noise tunnel (saliency, 8)": lambda: nv.noise_tunnel(
            model, x, classes, seed=0, progress=False
        ),
    }
    rows, maps = [], {}
    for name, run in methods.items():
        seconds, result = timed(run, repeats)
        maps[name] = np.asarray(result)
        # 400 steps of ~10 pixels: the decisive 6x6 patch is 0.9 % of the image, so the default
        # 20 steps (5 % each) remove it in the first step for every map that ranks it top 5 %.
        curve = {"steps": CURVE_STEPS, "batch_size": 512}
        deletion = nv.metrics.deletion_auc(model, x, maps[name], classes, **curve).auc.mean()
        insertion = nv.metrics.insertion_auc(model, x, maps[name], classes, **curve).auc.mean()
        pointing = nv.metrics.pointing_game(maps[name], masks).rate
        rows.append(
            (
                name,
                f"{seconds * 1e3:.0f}",
                f"{seconds / t_forward:.1f}",
                f"{deletion:.3f}",
                f"{insertion:.3f}",
                f"{pointing:.2f}",
            )
        )
    full = nv.ablation_cam(model, x, classes, max_channels=None, **cam)
    many = nv.gradient_shap(
        model, x, classes, baselines=background, samples=256, seed=1, progress=False
    )
    budget = [
        ("Ablation-CAM 64 of 128 channels vs all", corr(maps["Ablation-CAM (64 channels)"], full)),
        ("GradientSHAP 16 draws vs 256", corr(maps["GradientSHAP (16 draws)"], many)),
    ]
    return rows, budget, t_forward


def nested_resnet50():
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    inputs = keras.Input((64, 64, 3))
    h = keras.layers.GlobalAveragePooling2D()(base(inputs))
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs)


def _curves(ax, curves: dict) -> None:
    """One line per contender: ``[(label, seconds, correlation), ...]``."""
    for name, points in curves.items():
        ax.plot([t * 1e3 for _, t, _ in points], [c for *_, c in points], "o-", label=name)
        for label, t, c in points:
            ax.annotate(str(label), (t * 1e3, c), fontsize=7)
    ax.axhline(0.95, ls="--", color="gray", lw=0.8)
    ax.legend(fontsize=8)


def plot(path, ig, sg, sc):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))  # a section not run stays empty
    ax = axes[0]
    for label, t, points, c, _ in ig:
        ax.scatter(t * 1e3, c, color="C3" if label == "auto" else "C0")
        ax.annotate(f"{label} ({points:.0f} pts)", (t * 1e3, c), fontsize=8)
    ax.set(xlabel="ms (8 images)", ylabel="corr. with steps=256", title="Integrated gradients")
    ax = axes[1]
    for label, t, _, _, err in ig:
        ax.scatter(t * 1e3, max(err, 1e-5), color="C3" if label == "auto" else "C0")
        ax.annotate(label, (t * 1e3, max(err, 1e-5)), fontsize=8)
    ax.axhline(0.01, ls="--", color="gray", lw=0.8)
    ax.set(xlabel="ms (8 images)", ylabel="max completeness error", yscale="log",
           title="IG completeness (dashed: 1 %)")  # fmt: skip
    _curves(axes[2], sg)
    axes[2].set(xlabel="ms (16 images)", ylabel="corr. with 256-sample i.i.d.",
                title=f"SmoothGrad (noise {NOISE}; labels: samples)")  # fmt: skip
    _curves(axes[3], sc)
    axes[3].set(xlabel="ms (8 images)", ylabel="corr. with all channels", xscale="log",
                title="Score-CAM, cnn64 block3_conv2 (labels: channels)")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", default="fidelity.png")
    parser.add_argument(
        "--weights", default=os.path.join(tempfile.gettempdir(), "nnviz_cnn64_patch.weights.h5")
    )
    parser.add_argument("--skip-resnet", action="store_true")
    parser.add_argument(
        "--only", default="ig,sg,sc,new", help="comma list of ig, sg, sc, pert, new, text"
    )
    parser.add_argument("--noise", type=float, default=NOISE, help="SmoothGrad noise")
    parser.add_argument("--images", type=int, default=16, help="SmoothGrad images (16-32)")
    parser.add_argument("--pert-images", type=int, default=8, help="perturbation images")
    parser.add_argument("--pert-reference", type=int, default=2048, help="reference budget")
    parser.add_argument("--pert-skip-budgets", action="store_true", help="metrics only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import keras
    import numpy as np
    import tensorflow as tf

    only = args.only.split(",")
    if "text" in only:
        import _text_fidelity

        rows = _text_fidelity.text_rows(args.repeats)
        print("\nToken attribution on trained deciding-token tasks (issue 23)")
        print_table(rows, _text_fidelity.HEADER)
        if only == ["text"]:
            return
    model, held_out = trained_cnn64(args.weights)
    print(
        f"TF {tf.__version__}, Keras {keras.__version__}, CPU; medians of {args.repeats}; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    checks, ig, sg, sc = [], [], {}, {}
    if "ig" in only:
        rows, ig, c = bench_ig(model, held_out[:8], args.repeats)
        print("\nIntegrated gradients, trained cnn64, 8 images (reference steps=256)")
        print_table(rows, ("setting", "ms", "points / sample", "corr", "max completeness err"))
        sharp_rows, c2 = bench_ig_sharp()
        print("\nIntegrated gradients, steep sigmoid (k=400), 16 vectors")
        print_table(sharp_rows, ("setting", "points", "max completeness err"))
        checks += c + c2
    x = held_out[: args.images]
    classes = np.argmax(model.predict(x, verbose=0), axis=-1)
    if "sg" in only:
        rows, sg, c = bench_smoothgrad(model, x, classes, args.repeats, args.noise)
        print(
            f"\nSmoothGrad, trained cnn64, {len(x)} images, noise {args.noise} "
            "(reference: 256 i.i.d. samples)"
        )
        print_table(rows, ("contender", "samples", "ms", "corr"))
        checks += c
    if "sc" in only:
        rows, sc, c = bench_score_cam(model, x[:8], classes[:8], args.repeats, "cnn64", LAYER)
        checks += c
        if not args.skip_resnet:
            net = nested_resnet50()
            xr = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
            cls = np.argmax(net.predict(xr, verbose=0), axis=-1)
            more, _, c = bench_score_cam(
                net, xr, cls, 1, "ResNet50 (nested)", ks=(64, 256), tkv=False
            )
            rows += more
            checks += c
        print("\nScore-CAM (reference: every channel)")
        print_table(rows, ("model", "channels", "ms", "× full time", "corr with full"))
    if "pert" in only:
        k = args.pert_images
        masks = nv_masks(len(held_out))[:k]
        rows, metric_rows, c = bench_perturbation(
            model,
            held_out[:k],
            masks,
            args.repeats,
            args.pert_reference,
            not args.pert_skip_budgets,
        )
        print(
            f"\nPerturbation methods, trained cnn64, {k} images "
            f"(reference: {args.pert_reference} evaluations, another seed)"
        )
        print_table(rows, ("method", "samples", "ms", "corr with reference"))
        print("\nFaithfulness of each method's default map (same images)")
        print_table(metric_rows, ("method", "ms", "deletion AUC ↓", "insertion AUC ↑", "pointing"))
        checks += c
    if "new" in only:
        rows, budget, t_forward = bench_new_methods(model, args.repeats)
        print(
            f"\nIssue 24 gradient methods, trained cnn64, 16 held-out images (forward pass "
            f"{t_forward * 1e3:.0f} ms); deletion: lower is better, insertion / pointing: higher"
        )
        header = ("method", "ms", "× forward", "deletion AUC", "insertion AUC", "pointing")
        print_table(rows, header)
        print_table([(label, f"{c:.3f}") for label, c in budget], ("budget", "corr"))
    if args.plot and (ig or sg or sc):
        plot(args.plot, ig, sg, sc)
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}")


if __name__ == "__main__":
    main()
