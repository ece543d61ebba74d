"""Scores that jump along the integrated-gradients path (top-k expert routing, hard thresholds):
the jump rule keeps completeness against the real f(baseline) and says how much it placed; and
LRP's uniform product rule on GPT-OSS's expert GLU."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from tests import hub

W = np.array([1.0, -2.0, 0.5, 3.0], "float32")
JUMP = 2.0


@functools.cache
def threshold_model() -> keras.Model:
    """``f(x) = w . x + JUMP * [x_0 > 0.5]``: from a zero baseline to ``x`` with ``x_0 > 0.5``
    the path crosses the threshold once, at ``alpha = 0.5 / x_0``."""
    inputs = keras.Input((4,))
    smooth = keras.layers.Dense(
        1, use_bias=False, kernel_initializer=keras.initializers.Constant(W[:, None])
    )(inputs)
    step = keras.layers.Lambda(
        lambda t: JUMP * keras.ops.cast(keras.ops.greater(t[:, :1], 0.5), "float32")
    )(inputs)
    return keras.Model(inputs, keras.layers.Add()([smooth, step]))


@pytest.mark.slow
def test_a_jump_is_shared_by_the_rule_and_completeness_holds():
    x = np.array([[0.8, 0.3, -0.6, 0.2], [0.4, 0.3, -0.6, 0.2]], "float32")  # 2nd: no crossing
    with pytest.warns(nv.MethodWarning, match="jumps along the path for 1 of 2"):
        maps = nv.integrated_gradients(threshold_model(), x, 0, signed=True, normalize=False)
    smooth = W * x
    # the jump rule: JUMP shared in proportion to |gradient x delta| at the jump (= |w_i x_i|)
    expected = smooth.copy()
    expected[0] += JUMP * np.abs(smooth[0]) / np.abs(smooth[0]).sum()
    np.testing.assert_allclose(maps, expected, atol=2e-3)
    assert maps.completeness_error.max() <= 1e-3
    total = smooth[0].sum() + JUMP
    np.testing.assert_allclose(maps.jump_share[0], JUMP / abs(total), rtol=1e-2)
    assert maps.jump_share[1] == 0.0 and maps.steps.max() <= 512


@pytest.mark.slow
def test_jumps_at_different_places_are_each_found_on_their_own_grid():
    """16 samples crossing the threshold at 16 different ``alpha``: each is refined on its own
    grid with its own budget (a grid shared by the batch bisected towards all 16 jumps at once
    and used all 512 points)."""
    x = np.random.default_rng(0).uniform(-1, 1, (16, 4)).astype("float32")
    x[:, 0] = np.linspace(0.52, 0.98, 16)  # crossing at alpha = 0.5 / x_0
    with pytest.warns(nv.MethodWarning, match="jumps along the path for 16 of 16"):
        maps = nv.integrated_gradients(threshold_model(), x, 0, signed=True, normalize=False)
    assert maps.completeness_error.max() <= 1e-3
    total = (W * x).sum(axis=1) + JUMP
    np.testing.assert_allclose(maps.jump_share, JUMP / np.abs(total), rtol=1e-2)
    assert maps.steps.max() <= 256


R = np.array([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, -1.0, 1.0]], "float32")  # router, (2, 4)
B = np.array([0.0, 0.4], "float32")  # expert 1 leads at the zero baseline
E = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, -2.0]], "float32")  # experts, (2, 4)
C = np.array([0.5, 0.0], "float32")  # the experts' biases


@functools.cache
def routed_model() -> keras.Model:
    """Top-1 routing between two affine experts, ``f(x) = E_e . x + c_e`` with
    ``e = argmax(R x + b)`` (picked by ``keras.ops.top_k``)."""
    inputs = keras.Input((4,))
    logits = keras.layers.Dense(
        2,
        kernel_initializer=keras.initializers.Constant(R.T),
        bias_initializer=keras.initializers.Constant(B),
    )(inputs)
    experts = keras.layers.Dense(
        2,
        kernel_initializer=keras.initializers.Constant(E.T),
        bias_initializer=keras.initializers.Constant(C),
    )(inputs)

    def route(t):
        logits, experts = t
        picked = keras.ops.top_k(logits, 1)[1][:, 0]
        return keras.ops.sum(keras.ops.one_hot(picked, 2) * experts, axis=1, keepdims=True)

    return keras.Model(inputs, keras.layers.Lambda(route)([logits, experts]))


@pytest.mark.slow
def test_a_routing_jump_goes_to_the_features_that_move_the_router():
    x = np.array([[0.5, 0.3, 0.6, -0.2], [0.9, -0.4, 0.2, 0.7]], "float32")
    with pytest.warns(nv.MethodWarning, match="jumps along the path for 2 of 2"):
        maps = nv.integrated_gradients(routed_model(), x, 0, signed=True, normalize=False)
    # exact: the path alpha * x leaves expert 2 (b favours it) for expert 1 where the router
    # margin m(alpha) = alpha (R_1 - R_2) . x + (b_1 - b_2) crosses zero
    dm = x @ (R[0] - R[1])
    cross = (B[1] - B[0]) / dm
    assert ((cross > 0) & (cross < 1)).all()  # both paths switch experts once
    smooth = x * (cross[:, None] * E[1] + (1 - cross[:, None]) * E[0])
    jump = cross * (x @ (E[0] - E[1])) + C[0] - C[1]  # from expert 2's f(x*) to expert 1's
    contributions = x * (R[0] - R[1])
    expected = smooth + jump[:, None] * contributions / dm[:, None]
    np.testing.assert_allclose(maps, expected, atol=2e-3)
    assert maps.completeness_error.max() <= 1e-3
    np.testing.assert_allclose(maps.routed_share, maps.jump_share, rtol=1e-6)
    total = x @ E[0] + C[0] - C[1]
    np.testing.assert_allclose(maps.jump_share, np.abs(jump / total), rtol=1e-2)


def test_fixed_steps_report_no_jump_share():
    x = np.array([[0.8, 0.3, -0.6, 0.2]], "float32")
    maps = nv.integrated_gradients(threshold_model(), x, 0, signed=True, steps=16)
    assert maps.jump_share.tolist() == [0.0]
    assert maps.completeness_error[0] > 0.3  # the midpoint rule misses the jump: and says so


def _moe(name: str, width: int = 16):
    import keras_hub

    gqa = dict(
        vocabulary_size=hub.VOCABULARY,
        num_layers=2,
        hidden_dim=width,
        intermediate_dim=width,
        num_query_heads=width // 8,
        num_key_value_heads=width // 16,
        num_experts=4,
    )
    task, backbone, extra = {
        "mixtral": ("MixtralCausalLM", "MixtralBackbone", {}),
        "qwen3_moe": (
            "Qwen3MoeCausalLM",
            "Qwen3MoeBackbone",
            dict(moe_intermediate_dim=width, top_k=2, head_dim=8),
        ),
        "gpt_oss": ("GptOssCausalLM", "GptOssBackbone", dict(head_dim=8)),
    }[name]
    keras.utils.set_random_seed(0)
    bb = getattr(keras_hub.models, backbone)(**gqa, **extra)
    return getattr(keras_hub.models, task)(backbone=bb, preprocessor=None)


# (family, width, input seed): paths on which the routing does change (the width-16 Qwen3-MoE's
# jumps stay below the tolerance on every path tried, so it gets width 32)
MOE = [("mixtral", 16, 0), ("qwen3_moe", 32, 0), ("gpt_oss", 16, 1)]


@pytest.fixture(scope="module", params=MOE, ids=[m[0] for m in MOE])
def moe(request):
    name, width, seed = request.param
    model = _moe(name, width)
    return name, model, hub.inputs(model, n=2, length=8, seed=seed)


@pytest.mark.slow
def test_token_ig_adds_up_on_top_k_moe_llms(moe):
    name, model, x = moe
    with pytest.warns(nv.MethodWarning):
        maps = nv.integrated_gradients(model, x, signed=True, normalize=False)
    assert maps.shape == (2, 8)
    assert maps.completeness_error.max() <= 0.02, (name, maps.completeness_error)
    assert (maps.jump_share > 0).any(), name  # the routing does jump on these paths
    assert maps.steps.max() <= 512
    if name == "gpt_oss":
        lrp = nv.lrp(model, x, signed=True, normalize=False)
        assert lrp.conservation_error.max() <= 0.01
