"""The bad-input table: every public function, plot, callback constructor, the report and the CLI
on wrong input.

One row each: a call, the expected :class:`~keras_nnviz.errors.NNVizError` subclass and a phrase
of its message. A row fails on any other exception (a raw ``TypeError`` / ``ValueError`` /
``IndexError`` from inside, a TensorFlow ``StagingError``), on a missing phrase, and when the
call returns instead of raising. ``VALUE_ROWS`` are inputs that used to give a silently wrong
result (or a wrong rejection): they assert the value now returned. ``CLI_ROWS`` run
``nnviz ...`` through :func:`keras_nnviz.cli.main` and expect exit code 2 with one message line.

Models are the session's tiny zoo models; nothing here trains.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    InvalidInputError,
    InvalidTargetError,
    LayerNotFoundError,
    UnsupportedModelError,
)
from tests.bad_input import assert_cli_exits_2, assert_named_error
from tests.conftest import build_case
from tests.zoo import transformer_functional

Arg, Inp, Tgt, Lay, Mod, Inc = (
    InvalidArgumentError,
    InvalidInputError,
    InvalidTargetError,
    LayerNotFoundError,
    UnsupportedModelError,
    IncompatibleLayerError,
)


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    """The tiny models and data every row uses (built once)."""
    cnn = build_case("functional")
    mi = build_case("multi_input")
    mo = build_case("multi_output")
    rnn = build_case("recurrent")
    tr = transformer_functional()

    class Sub(keras.Model):  # a subclassed model: no functional graph
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    sub = Sub()
    sub(np.zeros((1, 4), np.float32))
    root = tmp_path_factory.mktemp("bad_input")
    saved = str(root / "cnn.keras")
    cnn.model.save(saved)
    garbage = root / "garbage.keras"
    garbage.write_bytes(os.urandom(256))
    from PIL import Image

    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(root / "image.png")
    np.savez(root / "objects.npz", x=np.array([object(), 1], dtype=object))
    np.savez(root / "nan.npz", x=np.full((2, 12, 12, 3), np.nan, np.float32))
    np.savez(root / "good.npz", x=cnn.x[:4], y=np.arange(4) % 4)
    np.savez(root / "bad_y.npz", x=cnn.x[:4], y=np.array([0, 1, 9, 2]))
    log_dir = root / "logs"
    log_dir.mkdir()
    return SimpleNamespace(
        cnn=cnn.model,
        x=cnn.x[:4],
        mi=mi.model,
        xmi=[a[:4] for a in mi.x],
        mo=mo.model,
        xmo=mo.x[:4],
        rnn=rnn.model,
        xr=rnn.x[:4],
        tr=tr.model,
        xt=tr.x[:4],
        sub=sub,
        root=root,
        saved=saved,
        garbage=str(garbage),
        logs=str(log_dir),
        maps=np.random.default_rng(0).random((4, 12, 12)).astype(np.float32),
    )


def row(name, call, error, phrase):
    return pytest.param(call, error, phrase, id=name)


NAN_IMAGES = np.full((2, 12, 12, 3), np.nan, np.float32)


def flow(m, y):
    """gradient_flow of the image model with labels ``y``."""
    return nv.gradient_flow(m.cnn, m.x, y, loss="sparse_categorical_crossentropy")


# -- attribution methods: the same bad values for every registered method ---------------------

METHOD_NAMES = [
    "saliency",
    "integrated_gradients",
    "gradient_x_input",
    "guided_backprop",
    "occlusion",
    "cam",
    "grad_cam",
    "grad_cam_plus_plus",
    "layer_cam",
    "score_cam",
    "kernel_shap",
    "lime",
    "rise",
    "feature_ablation",
    "feature_permutation",
    "sobol_attribution",
]


def _method_rows():
    rows = []
    for name in METHOD_NAMES:

        def fn(m, *args, _name=name, **kw):
            return getattr(nv, _name)(*args, **kw)

        rows += [
            row(
                f"{name}-string-x",
                lambda m, f=fn: f(m, m.cnn, np.full((2, 12, 12, 3), "a")),
                Inp,
                "not numeric",
            ),
            row(f"{name}-one-sample-no-batch", lambda m, f=fn: f(m, m.cnn, m.x[0]), Inp, "x[None]"),
            row(
                f"{name}-wrong-size",
                lambda m, f=fn: f(m, m.cnn, np.zeros((2, 13, 12, 3))),
                Inp,
                "axis 1 should be 12",
            ),
            row(f"{name}-empty", lambda m, f=fn: f(m, m.cnn, m.x[:0]), Inp, "empty batch"),
            row(
                f"{name}-nan", lambda m, f=fn: f(m, m.cnn, NAN_IMAGES), Inp, "allow_nonfinite=True"
            ),
            row(
                f"{name}-batch-size-0",
                lambda m, f=fn: f(m, m.cnn, m.x, batch_size=0),
                Arg,
                "batch_size must be an int >= 1",
            ),
            row(
                f"{name}-progress-str",
                lambda m, f=fn: f(m, m.cnn, m.x, progress="yes"),
                Arg,
                "progress must be None",
            ),
            row(f"{name}-target-out-of-range", lambda m, f=fn: f(m, m.cnn, m.x, 99), Tgt, "99"),
            row(f"{name}-not-a-model", lambda m, f=fn: f(m, "model.keras", m.x), Mod, "str"),
            row(
                f"{name}-unknown-option",
                lambda m, f=fn: f(m, m.cnn, m.x, stepz=3),
                Arg,
                "has no option 'stepz'",
            ),
        ]
    return rows


ROWS = _method_rows() + [
    # attribution: layers, outputs, targets, options
    row("grad_cam-unknown-layer", lambda m: nv.grad_cam(m.cnn, m.x, layer="conv9"), Lay, "conv9"),
    row(
        "grad_cam-dense-layer",
        lambda m: nv.grad_cam(m.cnn, m.x, layer="predictions"),
        Inc,
        "without spatial axes",
    ),
    row("saliency-layer-bad-type", lambda m: nv.saliency(m.cnn, m.x, layer=3.5), Lay, "3.5"),
    row("grad_cam-output-out-of-range", lambda m: nv.grad_cam(m.mo, m.xmo, output=5), Tgt, "5"),
    row(
        "grad_cam-output-unknown-name",
        lambda m: nv.grad_cam(m.mo, m.xmo, output="boxes"),
        Tgt,
        "boxes",
    ),
    row("grad_cam-multi-output-no-output", lambda m: nv.grad_cam(m.mo, m.xmo), Tgt, "output="),
    row("grad_cam-targets-wrong-count", lambda m: nv.grad_cam(m.cnn, m.x, [0, 1]), Tgt, "2"),
    row("grad_cam-target-negative", lambda m: nv.grad_cam(m.cnn, m.x, -1), Tgt, "-1"),
    row("grad_cam-target-string", lambda m: nv.grad_cam(m.cnn, m.x, "cat"), Tgt, "cat"),
    row("grad_cam-target-float", lambda m: nv.grad_cam(m.cnn, m.x, 1.5), Tgt, "1.5"),
    row(
        "grad_cam-target-callable-raises",
        lambda m: nv.grad_cam(m.cnn, m.x, lambda out: out[:, 99] + "x"),
        Tgt,
        "target",
    ),
    row(
        "grad_cam-negative-str",
        lambda m: nv.grad_cam(m.cnn, m.x, negative="no"),
        Arg,
        "negative must be True or False",
    ),
    row(
        "grad_cam-normalize-str",
        lambda m: nv.grad_cam(m.cnn, m.x, normalize="yes"),
        Arg,
        "normalize must be True or False",
    ),
    row(
        "grad_cam-allow-nonfinite-str",
        lambda m: nv.grad_cam(m.cnn, m.x, allow_nonfinite="no"),
        Arg,
        "allow_nonfinite must be True or False",
    ),
    row(
        "grad_cam-batch-size-str",
        lambda m: nv.grad_cam(m.cnn, m.x, batch_size="8"),
        Arg,
        "batch_size must be an int",
    ),
    row(
        "grad_cam-batch-size-float",
        lambda m: nv.grad_cam(m.cnn, m.x, batch_size=8.0),
        Arg,
        "batch_size must be an int",
    ),
    row(
        "grad_cam-upsample-bad",
        lambda m: nv.grad_cam(m.cnn, m.x, upsample="cubic"),
        Arg,
        "upsample must be one of",
    ),
    row(
        "grad_cam-out-wrong-shape",
        lambda m: nv.grad_cam(m.cnn, m.x, out=np.zeros((4, 5, 5))),
        Arg,
        "out has shape (4, 5, 5)",
    ),
    row(
        "grad_cam-out-int-dtype",
        lambda m: nv.grad_cam(m.cnn, m.x, out=np.zeros((4, 12, 12), np.int32)),
        Arg,
        "dtype",
    ),
    row(
        "grad_cam-out-read-only",
        lambda m: nv.grad_cam(
            m.cnn, m.x, out=np.broadcast_to(np.zeros(12, np.float32), (4, 12, 12))
        ),
        Arg,
        "read-only",
    ),
    row(
        "grad_cam-out-list",
        lambda m: nv.grad_cam(m.cnn, m.x, out=[[0.0]]),
        Arg,
        "writable numpy array",
    ),
    row(
        "grad_cam-float64-overflow",
        lambda m: nv.grad_cam(m.cnn, np.full((2, 12, 12, 3), 1e300)),
        Inp,
        "beyond the range of float32",
    ),
    row(
        "grad_cam-inf",
        lambda m: nv.grad_cam(m.cnn, np.full((2, 12, 12, 3), np.inf)),
        Inp,
        "NaN/inf",
    ),
    row(
        "grad_cam-ragged-list",
        lambda m: nv.grad_cam(m.cnn, [[1, 2], [3]]),
        Inp,
        "could not turn list into an array",
    ),
    row("grad_cam-dict-wrong-keys", lambda m: nv.grad_cam(m.cnn, {"pixels": m.x}), Inp, "missing"),
    row("grad_cam-multi-input-one-array", lambda m: nv.grad_cam(m.mi, m.xmi[0]), Inp, "2 inputs"),
    row(
        "grad_cam-multi-input-batch-mismatch",
        lambda m: nv.grad_cam(m.mi, [m.xmi[0], m.xmi[1][:2]]),
        Inp,
        "different numbers",
    ),
    row(
        "grad_cam-multi-input-three-arrays",
        lambda m: nv.grad_cam(m.mi, [*m.xmi, m.xmi[1]]),
        Inp,
        "3 arrays",
    ),
    row(
        "grad_cam-dataset-wrong-spec",
        lambda m: nv.grad_cam(m.cnn, tf.data.Dataset.from_tensor_slices(np.zeros((4, 7)))),
        Inp,
        "rank",
    ),
    row(
        "grad_cam-dataset-empty",
        lambda m: nv.grad_cam(m.cnn, tf.data.Dataset.from_tensor_slices(m.x[:0]).batch(2)),
        Inp,
        "empty",
    ),
    row(
        "grad_cam-dataset-infinite",
        lambda m: nv.grad_cam(m.cnn, tf.data.Dataset.from_tensor_slices(m.x).repeat()),
        Inp,
        "infinite",
    ),
    row("grad_cam-scalar-x", lambda m: nv.grad_cam(m.cnn, 3.0), Inp, "scalar"),
    row(
        "grad_cam-subclassed-target",
        lambda m: nv.saliency(m.sub, np.ones((2, 4), "f4"), 7),
        Tgt,
        "7",
    ),
    row(
        "saliency-noise-nan",
        lambda m: nv.saliency(m.cnn, m.x, smooth_samples=4, noise=np.nan),
        Arg,
        "noise",
    ),
    row(
        "saliency-noise-negative",
        lambda m: nv.saliency(m.cnn, m.x, smooth_samples=4, noise=-1),
        Arg,
        "noise",
    ),
    row(
        "saliency-smooth-samples-negative",
        lambda m: nv.saliency(m.cnn, m.x, smooth_samples=-1),
        Arg,
        "smooth_samples",
    ),
    row("ig-steps-0", lambda m: nv.integrated_gradients(m.cnn, m.x, steps=0), Arg, "steps"),
    row(
        "ig-baseline-nan",
        lambda m: nv.integrated_gradients(m.cnn, m.x, baseline=np.full((12, 12, 3), np.nan)),
        Arg,
        "baseline",
    ),
    row(
        "ig-baseline-string",
        lambda m: nv.integrated_gradients(m.cnn, m.x, baseline="zeros"),
        Arg,
        "baseline",
    ),
    row(
        "ig-baseline-wrong-shape",
        lambda m: nv.integrated_gradients(m.cnn, m.x, baseline=np.zeros((5, 5))),
        Arg,
        "baseline",
    ),
    row("occlusion-value-nan", lambda m: nv.occlusion(m.cnn, m.x, value=np.nan), Arg, "value"),
    row("occlusion-patch-0", lambda m: nv.occlusion(m.cnn, m.x, patch=0), Arg, "patch"),
    row("score_cam-max-n-0", lambda m: nv.score_cam(m.cnn, m.x, max_n=0), Arg, "max_n"),
    row("guided-rule-bad", lambda m: nv.guided_backprop(m.cnn, m.x, rule="lrp"), Arg, "rule"),
    row(
        "explain-unknown-method",
        lambda m: nv.explain(m.cnn, m.x, method="shap"),
        Arg,
        "method must be one of",
    ),
    row(
        "explain-method-not-str",
        lambda m: nv.explain(m.cnn, m.x, method=None),
        Arg,
        "method must be one of",
    ),
    row("GradCAM-weights-bad", lambda m: nv.GradCAM(m.cnn, weights="frozen"), Arg, "weights"),
    row(
        "token-ids-2**40",
        lambda m: nv.saliency(m.tr, np.full((2, 10), 2**40, np.int64)),
        Inp,
        "wrap",
    ),
    row("token-ids-floats", lambda m: nv.saliency(m.tr, m.xt + 0.5), Inp, "integer ids"),
    row(
        "token-id-out-of-vocabulary",
        lambda m: nv.saliency(m.tr, np.where(m.xt == m.xt[0, 0], 99, m.xt)),
        Inp,
        "outside the vocabulary",
    ),
    row("token-id-negative", lambda m: nv.get_attention(m.tr, -m.xt - 1), Inp, "vocabulary"),
    # activations
    row(
        "get_activations-unknown-layer",
        lambda m: nv.get_activations(m.cnn, m.x, ["conv9"]),
        Lay,
        "conv9",
    ),
    row(
        "get_activations-layer-bad-type",
        lambda m: nv.get_activations(m.cnn, m.x, [1.5]),
        Lay,
        "1.5",
    ),
    row(
        "get_activations-empty-dataset",
        lambda m: nv.get_activations(m.cnn, tf.data.Dataset.from_tensor_slices(m.x[:0])),
        Inp,
        "empty",
    ),
    row(
        "get_activations-wrong-rank",
        lambda m: nv.get_activations(m.cnn, m.x[..., 0]),
        Inp,
        "rank 4",
    ),
    row(
        "get_activations-batch-size-neg",
        lambda m: nv.get_activations(m.cnn, m.x, batch_size=-1),
        Arg,
        "batch_size",
    ),
    row(
        "get_activations-progress-int",
        lambda m: nv.get_activations(m.cnn, m.x, progress=2),
        Arg,
        "progress",
    ),
    row(
        "get_activations-not-a-model",
        lambda m: nv.get_activations(np.zeros(3), m.x),
        Mod,
        "ndarray",
    ),
    row("get_activations-nan", lambda m: nv.get_activations(m.cnn, NAN_IMAGES), Inp, "NaN"),
    row("get_activation-unknown", lambda m: nv.get_activation(m.cnn, m.x, "nope"), Lay, "nope"),
    row(
        "get_channel-out-of-range",
        lambda m: nv.get_channel(m.cnn, m.x, "conv1", 99),
        Inc,
        "Channel 99",
    ),
    row("get_channel-str", lambda m: nv.get_channel(m.cnn, m.x, "conv1", "3"), Inc, "Channel"),
    row(
        "get_neuron-bad-position",
        lambda m: nv.get_neuron(m.cnn, m.x, "conv1", 0, position=(99, 0)),
        Inc,
        "Position",
    ),
    row(
        "get_rnn_states-not-rnn",
        lambda m: nv.get_rnn_states(m.rnn, m.xr, "predictions"),
        Inc,
        "not a recurrent layer",
    ),
    row(
        "get_rnn_states-wrong-shape",
        lambda m: nv.get_rnn_states(m.rnn, m.xr[:, :, :2], "lstm"),
        Inp,
        "axis 2 should be 4",
    ),
    row(
        "channel_summary-reduce",
        lambda m: nv.activations.channel_summary(m.maps, reduce="sum"),
        Arg,
        "reduce",
    ),
    row("find_layer-unknown", lambda m: nv.find_layer(m.cnn, "conv_1"), Lay, "conv1"),
    row("list_layers-not-model", lambda m: nv.list_layers("cnn"), Mod, "str"),
    # attention
    row("get_attention-no-attention", lambda m: nv.get_attention(m.cnn, m.x), Inc, "attention"),
    row(
        "get_attention-unknown-layer",
        lambda m: nv.get_attention(m.tr, m.xt, ["mha_9"]),
        Lay,
        "mha_9",
    ),
    row(
        "get_attention-float-tokens",
        lambda m: nv.get_attention(m.tr, m.xt + 0.5),
        Inp,
        "integer ids",
    ),
    row(
        "attention_rollout-head-fusion",
        lambda m: nv.attention_rollout(m.tr, m.xt, head_fusion="median"),
        Arg,
        "head_fusion",
    ),
    row(
        "attention_rollout-discard-nan",
        lambda m: nv.attention_rollout(m.tr, m.xt, discard_ratio=np.nan),
        Arg,
        "discard_ratio",
    ),
    row(
        "attention_rollout-discard-1",
        lambda m: nv.attention_rollout(m.tr, m.xt, discard_ratio=1.0),
        Arg,
        "discard_ratio",
    ),
    row(
        "patch_attention_map-1d",
        lambda m: nv.patch_attention_map(np.ones(5), (8, 8)),
        Inp,
        "attention",
    ),
    # featureviz / objectives
    row(
        "maximize-channel-out-of-range",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.channel("conv1", 99), steps=2),
        Inc,
        "99",
    ),
    row(
        "maximize-unknown-layer",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.channel("conv9", 0), steps=2),
        Lay,
        "conv9",
    ),
    row(
        "maximize-steps-0",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.channel("conv1", 0), steps=0),
        Arg,
        "steps",
    ),
    row(
        "maximize-n-0",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.channel("conv1", 0), n=0),
        Arg,
        "n ",
    ),
    row(
        "maximize-param-bad",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.channel("conv1", 0), param="dct"),
        Arg,
        "param",
    ),
    row(
        "maximize-value-range-reversed",
        lambda m: nv.maximize_activation(
            m.cnn, nv.objectives.channel("conv1", 0), value_range=(1, 0)
        ),
        Arg,
        "value_range",
    ),
    row(
        "maximize-objective-str", lambda m: nv.maximize_activation(m.cnn, "conv1"), Arg, "objective"
    ),
    row(
        "maximize-class-out-of-range",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.class_logit(9), steps=2),
        Tgt,
        "9",
    ),
    row(
        "objectives-channel-str",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.channel("conv1", "a"), steps=1),
        Arg,
        "channel",
    ),
    row(
        "objectives-direction-empty",
        lambda m: nv.maximize_activation(m.cnn, nv.objectives.direction("conv1", []), steps=1),
        Inc,
        "vector",
    ),
    row("top_examples-channel", lambda m: nv.top_examples(m.cnn, m.x, "conv1", 99), Inc, "99"),
    row("top_examples-n-0", lambda m: nv.top_examples(m.cnn, m.x, "conv1", 0, n=0), Arg, "n"),
    row(
        "top_examples-reduce",
        lambda m: nv.top_examples(m.cnn, m.x, "conv1", 0, reduce="sum"),
        Arg,
        "reduce",
    ),
    # weights / diagnostics
    row("get_weights-unknown", lambda m: nv.get_weights(m.cnn, "nope"), Lay, "nope"),
    row("weight_stats-not-model", lambda m: nv.weight_stats(42), Mod, "int"),
    row("conv_filters-dense", lambda m: nv.conv_filters(m.cnn, "predictions"), Inc, "Dense"),
    row(
        "dead_units-threshold-str",
        lambda m: nv.dead_units(m.cnn, m.x, threshold="0"),
        Arg,
        "threshold",
    ),
    row(
        "dead_units-threshold-nan",
        lambda m: nv.dead_units(m.cnn, m.x, threshold=np.nan),
        Arg,
        "threshold",
    ),
    row("dead_units-empty", lambda m: nv.dead_units(m.cnn, m.x[:0]), Inp, "empty"),
    row(
        "dead_units-batch-size",
        lambda m: nv.dead_units(m.cnn, m.x, batch_size=0),
        Arg,
        "batch_size",
    ),
    row(
        "activation_stats-margin-nan",
        lambda m: nv.activation_stats(m.cnn, m.x, margin=np.nan),
        Arg,
        "margin",
    ),
    row("gradient_flow-labels-out-of-range", lambda m: flow(m, np.array([0, 1, 2, 9])), Inp, "9"),
    row("gradient_flow-labels-negative", lambda m: flow(m, np.array([0, -1, 2, 1])), Inp, "-1"),
    row("gradient_flow-labels-nan", lambda m: flow(m, np.array([0, np.nan, 2, 1])), Inp, "NaN"),
    row(
        "gradient_flow-labels-str", lambda m: flow(m, np.array(["a", "b", "c", "d"])), Inp, "labels"
    ),
    row("gradient_flow-labels-count", lambda m: flow(m, np.array([0, 1])), Inp, "2"),
    row(
        "gradient_flow-onehot-wrong-width",
        lambda m: nv.gradient_flow(m.cnn, m.x, np.eye(7)[:4], loss="categorical_crossentropy"),
        Inp,
        "7",
    ),
    row("gradient_flow-onehot-for-sparse", lambda m: flow(m, np.eye(4)), Inp, "one-hot"),
    row(
        "gradient_flow-dataset",
        lambda m: nv.gradient_flow(m.cnn, tf.data.Dataset.from_tensor_slices(m.x), np.arange(4)),
        Inp,
        "tf.data",
    ),
    # projection
    row(
        "project-strings",
        lambda m: nv.project(np.array([["a", "b"], ["c", "d"]]), method="pca"),
        Inp,
        "numeric",
    ),
    row("project-empty", lambda m: nv.project(np.zeros((0, 4)), method="pca"), Inp, "empty"),
    row("project-1d", lambda m: nv.project(np.zeros(4), method="pca"), Inp, "(N, features)"),
    row("project-method", lambda m: nv.project(np.zeros((5, 4)), method="lda"), Arg, "method"),
    row(
        "project-n-components-0",
        lambda m: nv.project(np.ones((5, 4)), method="pca", n_components=0),
        Arg,
        "n_components",
    ),
    row(
        "project-tsne-unknown-option",
        lambda m: nv.project(np.ones((5, 4)), method="tsne", speed=3),
        Arg,
        "speed",
    ),
    row("project-nan", lambda m: nv.project(np.full((5, 4), np.nan), method="pca"), Inp, "NaN"),
    # metrics
    row(
        "pointing-empty",
        lambda m: nv.metrics.pointing_game(np.zeros((0, 4, 4)), np.zeros((0, 4, 4))),
        Inp,
        "empty",
    ),
    row(
        "pointing-nan-maps",
        lambda m: nv.metrics.pointing_game(np.full((2, 4, 4), np.nan), np.ones((2, 4, 4))),
        Inp,
        "NaN",
    ),
    row(
        "pointing-shape-mismatch",
        lambda m: nv.metrics.pointing_game(np.ones((2, 4, 4)), np.ones((2, 5, 5))),
        Inp,
        "shape",
    ),
    row(
        "pointing-tolerance-neg",
        lambda m: nv.metrics.pointing_game(np.ones((2, 4, 4)), np.ones((2, 4, 4)), tolerance=-1),
        Arg,
        "tolerance",
    ),
    row(
        "deletion-baseline-wrong-shape",
        lambda m: nv.metrics.deletion_auc(m.cnn, m.x, m.maps, baseline=np.zeros((5, 5))),
        Arg,
        "baseline",
    ),
    row(
        "deletion-baseline-string",
        lambda m: nv.metrics.deletion_auc(m.cnn, m.x, m.maps, baseline="zeros"),
        Arg,
        "baseline",
    ),
    row(
        "deletion-steps-0",
        lambda m: nv.metrics.deletion_auc(m.cnn, m.x, m.maps, steps=0),
        Arg,
        "steps",
    ),
    row(
        "deletion-maps-mismatch",
        lambda m: nv.metrics.deletion_auc(m.cnn, m.x, m.maps[:2]),
        Inp,
        "maps",
    ),
    row(
        "deletion-maps-nan",
        lambda m: nv.metrics.deletion_auc(m.cnn, m.x, np.full_like(m.maps, np.nan)),
        Inp,
        "NaN",
    ),
    row(
        "insertion-input-index",
        lambda m: nv.metrics.insertion_auc(m.cnn, m.x, m.maps, input=3),
        Arg,
        "input",
    ),
    row(
        "randomization-method",
        lambda m: nv.metrics.randomization_similarity(m.cnn, m.x, method="shap"),
        Arg,
        "method",
    ),
    # plots
    row(
        "plot-feature_maps-sample",
        lambda m: nv.plot.feature_maps(np.ones((2, 4, 4, 3)), sample=99),
        Arg,
        "sample",
    ),
    row(
        "plot-feature_maps-rank",
        lambda m: nv.plot.feature_maps(np.ones((1,) * 6)),
        Inp,
        "feature_maps",
    ),
    row(
        "plot-attribution_grid-empty",
        lambda m: nv.plot.attribution_grid(np.zeros((0, 4, 4, 3)), np.zeros((0, 4, 4))),
        Inp,
        "empty",
    ),
    row(
        "plot-attribution_grid-labels-length",
        lambda m: nv.plot.attribution_grid(
            np.ones((2, 4, 4, 3)), np.ones((2, 4, 4)), labels=[0, 1, 2]
        ),
        Inp,
        "labels",
    ),
    row(
        "plot-attribution_grid-count-mismatch",
        lambda m: nv.plot.attribution_grid(np.ones((3, 4, 4, 3)), np.ones((2, 4, 4))),
        Inp,
        "3",
    ),
    row(
        "plot-gradient_flow-bad-rows",
        lambda m: nv.plot.gradient_flow([{"a": 1}]),
        Inp,
        "gradient_flow",
    ),
    row("plot-gradient_flow-empty", lambda m: nv.plot.gradient_flow([]), Inp, "empty"),
    row("plot-image_grid-1d", lambda m: nv.plot.image_grid(np.ones(4)), Inp, "image_grid"),
    row(
        "plot-image_grid-empty",
        lambda m: nv.plot.image_grid(np.zeros((0, 4, 4))),
        Inp,
        "at least one",
    ),
    row(
        "plot-heatmap_overlay-rank",
        lambda m: nv.plot.heatmap_overlay(np.ones((4, 4, 3)), np.ones(4)),
        Inp,
        "heatmap",
    ),
    row(
        "plot-heatmap_overlay-alpha",
        lambda m: nv.plot.heatmap_overlay(np.ones((4, 4, 3)), np.ones((4, 4)), alpha=2),
        Arg,
        "alpha",
    ),
    row(
        "plot-attention_matrix-1d",
        lambda m: nv.plot.attention_matrix(np.ones(4)),
        Inp,
        "attention_matrix",
    ),
    row(
        "plot-attention_matrix-tokens",
        lambda m: nv.plot.attention_matrix(np.ones((3, 3)), tokens=["a"]),
        Inp,
        "tokens",
    ),
    row(
        "plot-embedding-labels-length",
        lambda m: nv.plot.embedding(np.ones((5, 2)), labels=[0, 1]),
        Inp,
        "labels",
    ),
    row("plot-embedding-3d", lambda m: nv.plot.embedding(np.ones((5, 2, 2))), Inp, "embedding"),
    row("plot-histograms-empty", lambda m: nv.plot.histograms({}), Inp, "empty"),
    row("plot-rnn_states-1d", lambda m: nv.plot.rnn_states(np.ones(4)), Inp, "rnn_states"),
    row(
        "plot-weight_matrix-empty",
        lambda m: nv.plot.weight_matrix(np.zeros((0, 3))),
        Inp,
        "empty",
    ),
    row("plot-dead_units-empty", lambda m: nv.plot.dead_units({}), Inp, "empty"),
    row("plot-mosaic-empty", lambda m: nv.plot.mosaic([]), Inp, "empty"),
    row(
        "plot-save_gif-empty",
        lambda m: nv.plot.save_gif(np.zeros((0, 4, 4)), str(m.root / "x.gif")),
        Inp,
        "frames",
    ),
    row(
        "plot-save-not-figure", lambda m: nv.plot.save("fig", str(m.root / "x.png")), Arg, "Figure"
    ),
    row(
        "plot-signed_attribution-empty",
        lambda m: nv.plot.signed_attribution(np.zeros((0, 0))),
        Inp,
        "empty",
    ),
    row(
        "plot-sequence_attribution-labels",
        lambda m: nv.plot.sequence_attribution(np.ones(4), labels=["a"]),
        Inp,
        "labels",
    ),
    row(
        "plot-attention_html-sample",
        lambda m: nv.plot.attention_html(np.ones((2, 1, 3, 3)), sample=5),
        Arg,
        "sample",
    ),
    row("plot-neuron_trace-empty", lambda m: nv.plot.neuron_trace(np.zeros(0)), Inp, "empty"),
    # callbacks constructors
    row("cb-GradCAM-x-first", lambda m: nv.callbacks.GradCAM(m.x), Arg, "log_dir"),
    row(
        "cb-GradCAM-unknown-kw",
        lambda m: nv.callbacks.GradCAM(m.logs, x=m.x, evry=2),
        Arg,
        "did you mean 'every'",
    ),
    row("cb-GradCAM-no-x", lambda m: nv.callbacks.GradCAM(m.logs), Arg, "x="),
    row(
        "cb-Attributions-method",
        lambda m: nv.callbacks.Attributions(m.logs, x=m.x, method="shap"),
        Arg,
        "method",
    ),
    row("cb-every-str", lambda m: nv.callbacks.GradCAM(m.logs, x=m.x, every="often"), Arg, "every"),
    row("cb-every-0", lambda m: nv.callbacks.GradCAM(m.logs, x=m.x, every=0), Arg, "every"),
    row("cb-on-error", lambda m: nv.callbacks.Report(m.logs, on_error="ignore"), Arg, "on_error"),
    row(
        "cb-name-traversal",
        lambda m: nv.callbacks.Attributions(m.logs, x=m.x, name="../x"),
        Arg,
        "name",
    ),
    row(
        "cb-max-samples-0",
        lambda m: nv.callbacks.Attributions(m.logs, x=m.x, max_samples=0),
        Arg,
        "max_samples",
    ),
    row(
        "cb-DeadUnits-threshold-nan",
        lambda m: nv.callbacks.DeadUnits(m.logs, x=m.x, threshold=np.nan),
        Arg,
        "threshold",
    ),
    row(
        "cb-Embedding-method",
        lambda m: nv.callbacks.EmbeddingProjection(m.logs, x=m.x, method="lda"),
        Arg,
        "method",
    ),
    row("cb-log-dir-int", lambda m: nv.callbacks.WeightHistograms(123), Arg, "log_dir"),
    row(
        "cb-WeightHistograms-bins",
        lambda m: nv.callbacks.WeightHistograms(m.logs, bins=0),
        Arg,
        "bins",
    ),
    row(
        "cb-ActivationMaps-nan-x",
        lambda m: nv.callbacks.ActivationMaps(m.logs, x=NAN_IMAGES).validate(m.cnn),
        Inp,
        "NaN",
    ),
    row(
        "cb-FeatureVisualization-no-objectives",
        lambda m: nv.callbacks.FeatureVisualization(m.logs),
        Arg,
        "objectives",
    ),
    # report
    row(
        "build_report-missing-dir",
        lambda m: nv.build_report(str(m.root / "nowhere")),
        Arg,
        "nowhere",
    ),
    row(
        "build_report-empty-log-dir", lambda m: nv.build_report(m.logs), Arg, "nnviz_manifest.json"
    ),
    row("build_report-log-dir-int", lambda m: nv.build_report(3), Arg, "log_dir"),
]


@pytest.mark.parametrize(("call", "error", "phrase"), ROWS)
def test_bad_input_raises_a_named_error(m, call, error, phrase):
    assert_named_error(lambda: call(m), error, phrase)


# -- inputs that used to give a silently wrong result (or a wrong rejection) ------------------


def _grad_cam_0d_target(m):
    np.testing.assert_allclose(nv.grad_cam(m.cnn, m.x, np.array(3)), nv.grad_cam(m.cnn, m.x, 3))


def _project_numpy_int(m):
    points = nv.project(
        np.random.default_rng(0).random((6, 4)), method="pca", n_components=np.int64(2)
    )
    assert points.shape == (6, 2)


def _save_to_a_folder(m):
    import matplotlib.pyplot as plt

    fig = plt.figure()
    folder = m.root / "figs"
    folder.mkdir(exist_ok=True)
    with pytest.raises(InvalidArgumentError, match="folder"):
        nv.plot.save(fig, str(folder))
    assert not (m.root / "figs.png").exists()
    plt.close(fig)


def _dataset_with_labels(m):
    ds = tf.data.Dataset.from_tensor_slices((m.x, np.arange(4))).batch(3)
    np.testing.assert_allclose(nv.grad_cam(m.cnn, ds), nv.grad_cam(m.cnn, m.x), atol=1e-6)


def _activations_dataset(m):
    ds = tf.data.Dataset.from_tensor_slices(m.x).batch(3)
    got = nv.get_activation(m.cnn, ds, "conv1")
    np.testing.assert_allclose(got, nv.get_activation(m.cnn, m.x, "conv1"), atol=1e-6)


def _allow_nonfinite(m):
    # A layer without ReLU: whether ReLU passes a NaN on or makes it 0 depends on the CPU.
    inp = keras.Input((6, 6, 1))
    linear = keras.Model(inp, keras.layers.Conv2D(2, 3, name="linear")(inp))
    x = np.ones((3, 6, 6, 1), np.float32)
    x[0, 0, 0, 0] = np.nan
    acts = nv.get_activation(linear, x, "linear", allow_nonfinite=True)
    assert np.isnan(acts[0]).any() and np.isfinite(acts[1:]).all()


def _pointing_game_hits(m):
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 1] = maps[1, 3, 3] = 1
    masks = np.zeros((2, 4, 4))
    masks[:, 1, 1] = 1
    result = nv.metrics.pointing_game(maps, masks)
    assert result.rate == 0.5 and list(result.hits) == [True, False]


def _dead_units_threshold(m):
    report = nv.dead_units(m.cnn, m.x, threshold=np.float32(0.0))
    assert report and all(0.0 <= r["dead_fraction"] <= 1.0 for r in report.values())


def _out_numpy(m):
    buf = np.full((4, 12, 12), -1.0, np.float32)
    got = nv.grad_cam(m.cnn, m.x, out=buf, batch_size=3)
    assert got is buf
    np.testing.assert_allclose(buf, nv.grad_cam(m.cnn, m.x), atol=1e-6)


def _weight_stats_nan(m):
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Dense(5)(inp)))
    weights = model.get_weights()
    weights[0][:] = np.nan
    model.set_weights(weights)
    rows = nv.weight_stats(model)
    assert rows[0]["nonfinite"] == 1.0 and np.isnan(rows[0]["std"])  # said, not a LinAlgError
    assert all(r["nonfinite"] == 0.0 for r in rows[1:])


VALUE_ROWS = [
    pytest.param(_weight_stats_nan, id="weight_stats-nan-weights"),
    pytest.param(_grad_cam_0d_target, id="grad_cam-0d-array-target"),
    pytest.param(_project_numpy_int, id="project-numpy-int-components"),
    pytest.param(_save_to_a_folder, id="plot-save-to-folder-not-sibling-png"),
    pytest.param(_dataset_with_labels, id="grad_cam-dataset-x-y"),
    pytest.param(_activations_dataset, id="get_activation-dataset"),
    pytest.param(_allow_nonfinite, id="allow_nonfinite-lets-nan-through"),
    pytest.param(_pointing_game_hits, id="pointing_game-values"),
    pytest.param(_dead_units_threshold, id="dead_units-numpy-threshold"),
    pytest.param(_out_numpy, id="grad_cam-out-ndarray"),
]


@pytest.mark.parametrize("check", VALUE_ROWS)
def test_input_gives_the_right_value(m, check):
    check(m)


# -- the command line -------------------------------------------------------------------------


def _report(m, data, *extra):
    """``nnviz report`` of the saved CNN on ``data`` (a file in the fixture folder)."""
    return ["report", m.saved, "--data", str(m.root / data), "--out", str(m.root / "r"), *extra]


def _cli_rows():
    def r(name, argv, phrase):
        return pytest.param(argv, phrase, id=name)

    return [
        r("layers-missing-file", lambda m: ["layers", str(m.root / "none.keras")], "not found"),
        r("layers-garbage-file", lambda m: ["layers", m.garbage], "not a"),
        r("report-missing-data", lambda m: _report(m, "none.npz"), "none.npz"),
        r("report-object-npz", lambda m: _report(m, "objects.npz"), "object"),
        r("report-nan-data", lambda m: _report(m, "nan.npz"), "NaN"),
        r("report-labels-too-few", lambda m: _report(m, "good.npz", "--labels", "a,b"), "labels"),
        r("report-y-out-of-range", lambda m: _report(m, "bad_y.npz"), "9"),
        r("report-sections", lambda m: _report(m, "good.npz", "--sections", "nope"), "nope"),
        r(
            "report-max-samples-0",
            lambda m: _report(m, "good.npz", "--max-samples", "0"),
            "max-samples",
        ),
        r(
            "gradcam-missing-image",
            lambda m: ["gradcam", m.saved, str(m.root / "none.png")],
            "none.png",
        ),
        r(
            "gradcam-bad-layer",
            lambda m: ["gradcam", m.saved, str(m.root / "image.png"), "--layer", "conv9"],
            "conv9",
        ),
        r(
            "graph-bad-suffix",
            lambda m: ["graph", m.saved, "--out", str(m.root / "g.pdf")],
            "g.pdf",
        ),
    ]


@pytest.mark.parametrize(("argv", "phrase"), _cli_rows())
def test_cli_bad_input_exits_2(m, capsys, argv, phrase):
    assert_cli_exits_2(argv(m), capsys, phrase, one_line=False)


def test_the_table_is_large():
    assert len(ROWS) + len(VALUE_ROWS) + len(_cli_rows()) >= 150
