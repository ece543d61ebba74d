"""Layer labels keep what tells layers apart (the end of a path), and room is measured."""

from __future__ import annotations

import numpy as np

import keras_nnviz as nv
from keras_nnviz.plot import _base


def test_labels_keep_the_distinguishing_end():
    assert _base.short_label("mobilenetv2_1.00_64/block_13_expand_relu", 24) == (
        "…/block_13_expand_relu"
    )
    assert _base.short_label("conv", 24) == "conv"
    paths = [f"bert_backbone/transformer_layer_{i}/self_attention_layer/softmax" for i in (0, 1)]
    assert _base.short_labels(paths) == ["…/transformer_layer_0/…", "…/transformer_layer_1/…"]
    long = [f"model/{'x' * 60}_{i}" for i in range(3)]
    labels = _base.short_labels(long)
    assert all(len(s) <= 32 for s in labels) and len(set(labels)) == 3


def test_model_view_label_column_follows_the_text():
    att = {
        f"a_rather_long_backbone_name/transformer_layer_{i}/self_attention/probs": np.full(
            (1, 2, 4, 4), 0.25, "float32"
        )
        for i in range(2)
    }
    short = {f"l{i}": v for i, v in enumerate(att.values())}
    wide = nv.plot.attention_model_view(att).get_size_inches()[0]
    narrow = nv.plot.attention_model_view(short).get_size_inches()[0]
    # The long paths shrink to "…/transformer_layer_0/…" and the column grows by that text.
    grown = _base.text_width(["…/transformer_layer_0/…"], 8) - _base.text_width(["l0"], 8)
    assert abs((wide - narrow) - grown) < 0.01
    assert grown < _base.text_width(list(att), 8) / 2
