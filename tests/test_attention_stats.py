"""attention_stats: every statistic equals numpy on get_attention's maps; block maps; rollout."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidArgumentError
from tests import hub
from tests import zoo as zoo_mod


def numpy_stats(maps: np.ndarray, k: int, sink_tokens: int) -> dict[str, np.ndarray]:
    """The definitions, on a full (N, H, Tq, Tk) map."""
    tq, tk = maps.shape[-2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(maps > 0, maps * np.log(maps), 0.0)
    gap = np.abs((np.arange(tq) + tk - tq)[:, None] - np.arange(tk)[None, :])
    order = np.argsort(-maps, axis=-1, kind="stable")[..., :k]
    return {
        "entropy": -plogp.sum(-1),
        "distance": (maps * gap).sum(-1),
        "sink": maps[..., :sink_tokens].sum(-1),
        "topk_weight": np.take_along_axis(maps, order, -1),
    }


def numpy_blocks(maps: np.ndarray, b: int) -> np.ndarray:
    """Mean over each block's queries of the sum over its keys."""
    n, h, tq, tk = maps.shape
    nq, nk = -(-tq // b), -(-tk // b)
    out = np.zeros((n, h, nq, nk))
    for i in range(nq):
        for j in range(nk):
            out[..., i, j] = maps[..., i * b : (i + 1) * b, j * b : (j + 1) * b].sum(-1).mean(-1)
    return out


@pytest.fixture(scope="module")
def transformer():
    return zoo_mod.ATTENTION_ZOO["transformer"]()


def check_against_maps(model, x, k=3, sink_tokens=2, block=3):
    maps = nv.get_attention(model, x)
    stats = nv.attention_stats(model, x, k=k, sink_tokens=sink_tokens, block=block)
    assert list(stats) == list(maps)  # same keys, same call order
    for key, full in maps.items():
        got, want = stats[key], numpy_stats(full.astype(np.float64), k, sink_tokens)
        n, h, tq, _ = full.shape
        for name in ("entropy", "distance", "sink"):
            assert got[name].shape == (n, h, tq) and got[name].dtype == np.float32
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=key)
        np.testing.assert_allclose(got["topk_weight"], want["topk_weight"], atol=1e-6)
        picked = np.take_along_axis(full, got["topk_index"].astype(np.int64), -1)
        np.testing.assert_allclose(picked, got["topk_weight"], atol=1e-6)  # indices match weights
        np.testing.assert_allclose(got["block"], numpy_blocks(full, block), atol=1e-5)
        np.testing.assert_allclose(got["block"].sum(-1), 1.0, atol=1e-5)  # still row-stochastic
    return maps, stats


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [256, 4])  # one chunk of query rows, or several
def test_stats_equal_numpy_on_a_keras_mha_model(chunk, monkeypatch, transformer):
    from keras_nnviz.attention import stats as stats_mod

    monkeypatch.setattr(stats_mod, "CHUNK", chunk)  # read when the pass is traced
    case = transformer
    nv.clear_cache(case.model)  # trace again with this chunk
    assert nv.get_attention(case.model, case.x)["mha_1"].shape[-1] > 2 * chunk or chunk > 8
    maps, _ = check_against_maps(case.model, case.x)
    # rollout on the block maps equals rollout on the pooled full maps
    pooled = [numpy_blocks(a, 3) for a in maps.values()]
    np.testing.assert_allclose(
        nv.attention_rollout(case.model, case.x, block=3),
        nv.attention.rollout(pooled),
        atol=1e-5,
    )
    one = nv.attention_stats(case.model, case.x, stats="entropy")
    assert all(set(v) == {"entropy"} for v in one.values())


@pytest.mark.slow
def test_stats_equal_numpy_on_a_tiny_keras_hub_llama():
    import keras_hub

    llama = keras_hub.models.LlamaBackbone(
        vocabulary_size=hub.VOCABULARY,
        num_layers=2,
        hidden_dim=32,
        intermediate_dim=64,
        num_query_heads=4,
        num_key_value_heads=2,
    )
    x = hub.inputs(llama, n=2, length=10)
    _, stats = check_against_maps(llama, x)
    first = next(iter(stats.values()))
    assert first["entropy"].shape == (2, 4, 10)  # query heads of a grouped-query layer
    # causal: the first query can only read the first key
    np.testing.assert_allclose(first["sink"][:, :, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(first["distance"][:, :, 0], 0.0, atol=1e-6)


def test_bad_options_name_what_works(transformer):
    case = transformer
    with pytest.raises(InvalidArgumentError, match="stats must name"):
        nv.attention_stats(case.model, case.x, stats=("entropy", "kurtosis"))
    with pytest.raises(InvalidArgumentError, match="stats must name"):
        nv.attention_stats(case.model, case.x, stats=())
    with pytest.raises(InvalidArgumentError, match="block"):
        nv.attention_stats(case.model, case.x, block=0)
