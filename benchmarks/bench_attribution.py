"""Attribution speed: keras_nnviz vs tf-keras-vis (and xplique / tf-explain when importable).

Same model (``_common.cnn64``: 64×64×3, 3 conv blocks), same batch of 32 images and classes, one
process, median of ``--repeats`` runs after warm-up. Floor: a compiled forward pass.

Perturbation rows (issue 24, :mod:`_perturbation`): KernelSHAP, LIME, RISE, feature ablation and
permutation on the first ``--pert-batch`` images (default 8), against xplique and a hand-written
eager loop ("eager loop": numpy perturbations, the model called eagerly on chunks of copies).

Run: ``python benchmarks/bench_attribution.py [--batch 32] [--repeats 5]
[--group all|gradient|perturbation] [--methods CAM SHAP]`` (``--methods``: only the rows whose
name holds one of these words).

The Captum / pytorch-grad-cam gradient methods (issue 24) have no TensorFlow peer installed here
(tf-keras-vis has none of them; xplique is not installed beside TF 2.21): their peer is a
hand-written eager loop in the style of those libraries (``eager``: GradientTape on a layer
sub-model, numpy SVD, one head call per ablated channel, one gradient call per GradientSHAP
draw).
Targets: Grad-CAM >= 5× faster than tf-keras-vis and <= 1.2× the forward pass; SmoothGrad(20)
>= 4× faster; Score-CAM(32 channels by std, as tf-keras-vis max_N) >= 2× faster.

Peers get their documented best setup: tf-keras-vis and xplique explain a logits copy of the
model (tf-keras-vis: ``ReplaceToLinear`` on its own clone; its Score-CAM takes the softmax
model, as its docs say); keras_nnviz explains the softmax model itself (it scores the logits
inside the graph). tf-explain takes one class per call (the first class is used for the batch).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # this checkout's keras_nnviz, not an install

import _perturbation as P  # noqa: E402
from _common import cnn64, print_table  # noqa: E402

LAYER = "block3_conv2"
SMOOTH, NOISE, MAX_N = 20, 0.2, 32
SHAP_SAMPLES, REFERENCES = 16, 8


def _logits_copy(model):
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.get_layer("predictions").activation = keras.activations.linear
    return copy


def ours(model, x, classes):
    import keras_nnviz as nv

    return {
        "Grad-CAM": lambda: nv.grad_cam(model, x, classes, layer=LAYER),
        "Grad-CAM++": lambda: nv.grad_cam_plus_plus(model, x, classes, layer=LAYER),
        "Saliency": lambda: nv.saliency(model, x, classes),
        f"SmoothGrad({SMOOTH})": lambda: nv.saliency(
            model, x, classes, smooth_samples=SMOOTH, noise=NOISE
        ),
        f"Score-CAM(std, {MAX_N} channels)": lambda: nv.score_cam(
            model, x, classes, layer=LAYER, max_channels=MAX_N, channels="std", progress=False
        ),
        **_new_methods(nv, model, x, classes),
    }


def _references(x):
    import numpy as np

    return np.random.default_rng(1).uniform(size=(REFERENCES, *x.shape[1:])).astype("float32")


def _new_methods(nv, model, x, classes):
    """The rows of issue 24's gradient half (Captum / pytorch-grad-cam parity)."""
    refs = _references(x)
    cam = {"layer": LAYER}
    return {
        "HiRes-CAM": lambda: nv.hires_cam(model, x, classes, **cam),
        "XGrad-CAM": lambda: nv.xgrad_cam(model, x, classes, **cam),
        "Eigen-CAM": lambda: nv.eigen_cam(model, x, classes, **cam),
        "Guided Grad-CAM": lambda: nv.guided_grad_cam(model, x, classes, **cam),
        "Ablation-CAM(all 128 channels)": lambda: nv.ablation_cam(
            model, x, classes, max_channels=None, progress=False, **cam
        ),
        "DeepLIFT": lambda: nv.deeplift(model, x, classes),
        f"DeepSHAP({REFERENCES} references)": lambda: nv.deep_shap(
            model, x, classes, baselines=refs, progress=False
        ),
        f"GradientSHAP({SHAP_SAMPLES})": lambda: nv.gradient_shap(
            model, x, classes, baselines=refs, samples=SHAP_SAMPLES, seed=0, progress=False
        ),
        f"NoiseTunnel(saliency, {SMOOTH})": lambda: nv.noise_tunnel(
            model, x, classes, samples=SMOOTH, stdev=NOISE, seed=0, progress=False
        ),
    }


def eager(model, x, classes):
    """Hand-written eager loops (the peers' style) for the methods no installed peer has."""
    import keras
    import numpy as np
    import tensorflow as tf

    logits = _logits_copy(model)
    sub = keras.Model(logits.inputs, [logits.get_layer(LAYER).output, logits.output])
    gap, dense = logits.get_layer("gap"), logits.get_layer("predictions")
    pick = tf.one_hot(classes, 10)
    refs = _references(x)

    def tape():
        with tf.GradientTape() as t:
            a, out = sub(x)
            score = tf.reduce_sum(out * pick, axis=-1)
        return a.numpy(), t.gradient(score, a).numpy(), score.numpy()

    def finish(cam):
        cam = np.maximum(cam, 0)[..., None]
        up = tf.image.resize(cam, x.shape[1:3]).numpy()[..., 0]
        lo, hi = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
        return (up - lo) / np.where(hi > lo, hi - lo, 1)

    def hires():
        a, g, _ = tape()
        return finish((a * g).sum(-1))

    def xgrad():
        a, g, _ = tape()
        w = (a * g).sum(axis=(1, 2)) / (a.sum(axis=(1, 2)) + 1e-7)
        return finish((a * w[:, None, None]).sum(-1))

    def eigen():
        a = sub(x)[0].numpy()
        maps = []
        for sample in a:
            rows = sample.reshape(-1, sample.shape[-1])
            rows = rows - rows.mean(0)
            maps.append((rows @ np.linalg.svd(rows, full_matrices=False)[2][0]).reshape(16, 16))
        return finish(np.stack(maps))

    def ablation():
        a, _, y = tape()
        drops = []
        for k in range(a.shape[-1]):
            ablated = a.copy()
            ablated[..., k] = 0
            drops.append((y - (dense(gap(ablated)).numpy() * pick.numpy()).sum(-1)) / y)
        return finish((a * np.stack(drops, -1)[:, None, None]).sum(-1))

    def gradient_shap():
        rng = np.random.default_rng(0)
        total = np.zeros_like(x)
        for _ in range(SHAP_SAMPLES):
            b = refs[rng.integers(0, len(refs), len(x))]
            alpha = rng.uniform(size=(len(x), 1, 1, 1)).astype("float32")
            point = tf.constant(b + alpha * (x - b))
            with tf.GradientTape() as t:
                t.watch(point)
                score = tf.reduce_sum(logits(point) * pick, axis=-1)
            total += t.gradient(score, point).numpy() * (x - b)
        return np.abs((total / SHAP_SAMPLES).sum(-1))

    return {
        "HiRes-CAM": hires,
        "XGrad-CAM": xgrad,
        "Eigen-CAM": eigen,
        "Ablation-CAM(all 128 channels)": ablation,
        f"GradientSHAP({SHAP_SAMPLES})": gradient_shap,
    }


def tf_keras_vis(model, x, classes):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    score = CategoricalScore(list(classes))
    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    gradcam_pp = GradcamPlusPlus(model, model_modifier=ReplaceToLinear(), clone=True)
    saliency = Saliency(model, model_modifier=ReplaceToLinear(), clone=True)
    scorecam = Scorecam(model)
    return {
        "Grad-CAM": lambda: gradcam(score, x, penultimate_layer=LAYER),
        "Grad-CAM++": lambda: gradcam_pp(score, x, penultimate_layer=LAYER),
        "Saliency": lambda: saliency(score, x),
        f"SmoothGrad({SMOOTH})": lambda: saliency(
            score, x, smooth_samples=SMOOTH, smooth_noise=NOISE
        ),
        f"Score-CAM(std, {MAX_N} channels)": lambda: scorecam(
            score, x, penultimate_layer=LAYER, max_N=MAX_N
        ),
        # tf-keras-vis's SmoothGrad is the noise tunnel's smoothgrad over saliency
        f"NoiseTunnel(saliency, {SMOOTH})": lambda: saliency(
            score, x, smooth_samples=SMOOTH, smooth_noise=NOISE
        ),
    }


def xplique(model, x, classes):
    import tensorflow as tf
    from xplique.attributions import GradCAM, GradCAMPP, Saliency, SmoothGrad

    logits = _logits_copy(model)
    y = tf.one_hot(classes, 10)
    n = len(x)
    explainers = {
        "Grad-CAM": GradCAM(logits, conv_layer=LAYER, batch_size=n),
        "Grad-CAM++": GradCAMPP(logits, conv_layer=LAYER, batch_size=n),
        "Saliency": Saliency(logits, batch_size=n),
        f"SmoothGrad({SMOOTH})": SmoothGrad(logits, nb_samples=SMOOTH, noise=NOISE, batch_size=n),
    }
    return {name: (lambda e=e: e.explain(x, y)) for name, e in explainers.items()}


def tf_explain(model, x, classes):
    from tf_explain.core.grad_cam import GradCAM
    from tf_explain.core.smoothgrad import SmoothGrad
    from tf_explain.core.vanilla_gradients import VanillaGradients

    c = int(classes[0])
    return {
        "Grad-CAM": lambda: GradCAM().explain((x, None), model, c, layer_name=LAYER),
        "Saliency": lambda: VanillaGradients().explain((x, None), model, c),
        f"SmoothGrad({SMOOTH})": lambda: SmoothGrad().explain(
            (x, None), model, c, num_samples=SMOOTH, noise=NOISE
        ),
    }


def interleaved_medians(runs: dict, repeats: int, warmup: int) -> dict[str, float]:
    """Median seconds per contender, timing them in turn (round robin) after warm-up.

    A contender that raises is reported and dropped.
    """
    alive = {}
    for name, run in runs.items():
        try:
            for _ in range(warmup):
                run()
            alive[name] = run
        except Exception as exc:
            print(f"{name}: failed ({type(exc).__name__}: {str(exc)[:120]})")
    samples: dict[str, list[float]] = {name: [] for name in alive}
    for _ in range(repeats):
        for name, run in alive.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--group", choices=("all", "gradient", "perturbation"), default="all")
    parser.add_argument("--pert-batch", type=int, default=8, help="images of perturbation rows")
    parser.add_argument("--pert-samples", type=int, default=P.SAMPLES, help="KernelSHAP/LIME/RISE")
    parser.add_argument("--pert-designs", type=int, default=P.DESIGNS, help="Sobol designs")
    parser.add_argument("--methods", nargs="*", default=None, help="only rows naming these")
    args = parser.parse_args()
    P.SAMPLES, P.DESIGNS = args.pert_samples, args.pert_designs
    warnings.filterwarnings("ignore")

    import keras
    import numpy as np
    import tensorflow as tf

    model = cnn64()
    x = np.random.default_rng(0).uniform(size=(args.batch, 64, 64, 3)).astype("float32")
    classes = np.arange(args.batch) % 10

    forward = tf.function(lambda t: model(t, training=False))
    run_forward = lambda: forward(tf.constant(x)).numpy()

    k = args.pert_batch
    gradient = args.group in ("all", "gradient")
    perturbation = args.group in ("all", "perturbation")

    def with_perturbation(rows, extra):
        """A peer's gradient rows and / or its perturbation rows (on the first k images)."""

        def make(model, x, classes):
            found = dict(rows(model, x, classes)) if gradient and rows is not None else {}
            if perturbation and extra is not None:
                found.update(extra(model, _logits_copy(model), x[:k], classes[:k]))
            return found

        return make

    peers = {
        "keras_nnviz": with_perturbation(ours, lambda m, lg, xs, cs: P.ours(m, xs, cs)),
        "tf-keras-vis": with_perturbation(tf_keras_vis, None),
        "eager": with_perturbation(eager, None),
    }
    if perturbation:
        peers["eager loop"] = with_perturbation(None, P.eager_loop)
    missing = []
    for name, module, fn, extra in [
        ("xplique", "xplique", xplique, P.xplique),
        ("tf-explain", "tf_explain", tf_explain, None),
    ]:
        if importlib.util.find_spec(module) is None:
            missing.append(name)
        else:
            peers[name] = with_perturbation(fn, extra)
    runners: dict[str, dict[str, object]] = {}
    for peer, make in peers.items():
        try:
            for method, run in make(model, x, classes).items():
                if args.methods and not any(w in method for w in args.methods):
                    continue
                runners.setdefault(method, {})[peer] = run
        except Exception as exc:  # a peer that does not run here is reported, not fatal
            print(f"{peer}: cannot set up ({type(exc).__name__}: {exc})")
    # Round robin per method (forward pass included): load drift on a shared machine hits
    # every contender alike instead of whoever happens to run during a busy minute.
    times: dict[str, dict[str, float]] = {}
    floors = []
    for method, contenders in runners.items():
        contenders = {"forward": run_forward, **contenders}
        slow = (
            any(w in method for w in ("Smooth", "Score", "SHAP", "Ablation", "Noise"))
            or method in P.row_names().values()
        )
        result = interleaved_medians(contenders, args.repeats, warmup=1 if slow else 2)
        floors.append(result.pop("forward"))
        times[method] = result
    t_forward = statistics.median(floors)

    others = [p for p in peers if p != "keras_nnviz" and any(p in t for t in times.values())]
    rows = [("compiled forward pass (floor)", f"{t_forward * 1e3:.0f}", "1.00")]
    rows[0] += tuple("" for _ in others) * 2
    for method, by_peer in times.items():
        mine = by_peer.get("keras_nnviz")
        if mine is None:
            continue
        floor = floors[list(times).index(method)]
        row = (method, f"{mine * 1e3:.0f}", f"{mine / floor:.2f}")
        row += tuple(f"{by_peer[p] * 1e3:.0f}" if p in by_peer else "n/a" for p in others)
        row += tuple(f"{by_peer[p] / mine:.1f}×" if p in by_peer else "n/a" for p in others)
        rows.append(row)
    header = ("method", "keras_nnviz ms", "× forward")
    header += tuple(f"{p} ms" for p in others) + tuple(f"speed-up vs {p}" for p in others)
    print(
        f"model cnn64, batch {args.batch}, median of {args.repeats} (round robin); "
        f"TF {tf.__version__}, Keras {keras.__version__}; '× forward' uses the forward pass "
        "timed in the same round robin"
    )
    print_table(rows, header)
    if missing:
        print(f"not installed (not timed): {', '.join(missing)}")
    tkv = {
        m: t["tf-keras-vis"] / t["keras_nnviz"]
        for m, t in times.items()
        if "tf-keras-vis" in t and "keras_nnviz" in t
    }
    if not gradient or "Grad-CAM" not in times:
        return
    checks = [
        ("Grad-CAM >= 5x tf-keras-vis", tkv.get("Grad-CAM", 0) >= 5),
        (
            "Grad-CAM <= 1.2x forward",
            times["Grad-CAM"].get("keras_nnviz", 1e9) / floors[list(times).index("Grad-CAM")]
            <= 1.2,
        ),
        ("SmoothGrad >= 4x tf-keras-vis", tkv.get(f"SmoothGrad({SMOOTH})", 0) >= 4),
        ("Score-CAM >= 2x tf-keras-vis", tkv.get(f"Score-CAM(std, {MAX_N} channels)", 0) >= 2),
    ]
    for label, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}")


if __name__ == "__main__":
    main()
