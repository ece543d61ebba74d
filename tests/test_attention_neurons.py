"""The attention neuron view: query/key vectors of Keras MultiHeadAttention heads reproduce the
captured attention, and the page (headless Chromium) redraws for a clicked query token."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attention.neurons import neuron_layers, query_key
from keras_nnviz.errors import IncompatibleLayerError, InvalidArgumentError
from keras_nnviz.plot.neuron_view import neuron_view
from tests.browser import chrome, console_errors, open_file  # noqa: F401


@pytest.fixture(scope="module")
def transformer():
    from tests.zoo import transformer_functional

    return transformer_functional()


@pytest.mark.slow
def test_query_and_key_give_the_layers_attention(transformer):
    case = transformer
    assert set(neuron_layers(case.model)) == {"mha_1", "mha_2"}
    qk = query_key(case.model, case.x[:3])
    att = nv.get_attention(case.model, case.x[:3])
    for path, v in qk.items():
        q, k = v["query"], v["key"]
        assert q.shape[:2] == (3, case.x.shape[1]) and q.shape == k.shape
        logits = np.einsum("nqhd,nkhd->nhqk", q, k) / np.sqrt(q.shape[-1])
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        np.testing.assert_allclose(weights, att[path], atol=1e-5)


def test_models_without_readable_projections_are_refused(transformer, zoo):
    with pytest.raises(IncompatibleLayerError, match="mha_1"):
        query_key(transformer.model, transformer.x[:1], "dense")
    with pytest.raises(IncompatibleLayerError, match="none"):
        query_key(zoo("functional").model, zoo("functional").x[:1])
    bad = {"mha": {"query": np.zeros((1, 4, 2, 3)), "key": np.zeros((1, 4, 3, 3))}}
    with pytest.raises(InvalidArgumentError, match="same heads"):
        neuron_view(bad)


@pytest.mark.browser
@pytest.mark.slow
def test_the_page_redraws_for_a_clicked_query(chrome, transformer, tmp_path):  # noqa: F811
    case = transformer
    words = [f"w{i}" for i in range(case.x.shape[1])]
    out = neuron_view(query_key(case.model, case.x[:1]), tokens=words).save(tmp_path / "n.html")
    open_file(chrome, out)
    rows = chrome.find_elements("css selector", ".nv-row[data-key]")
    assert [r.find_element("css selector", ".nv-key").text for r in rows] == words
    weights = [float(r.find_elements("css selector", ".nv-num")[-1].text) for r in rows]
    assert sum(weights) == pytest.approx(1.0, abs=0.01)
    chrome.find_element("css selector", '.nv-token[data-query="3"]').click()
    assert chrome.find_element("tag name", "body").get_attribute("data-query") == "3"
    assert chrome.find_element("css selector", ".nv-qrow").text == "q: w3"
    chrome.execute_script(
        "var s = document.querySelector('select[aria-label=head]'); s.value = '1';"
        "s.dispatchEvent(new Event('change'));"
    )
    assert len(chrome.find_elements("css selector", ".nv-row[data-key]")) == len(words)
    assert console_errors(chrome) == []
    assert chrome.execute_script("return performance.getEntriesByType('resource').length;") == 0
