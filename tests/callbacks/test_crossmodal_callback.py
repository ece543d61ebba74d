"""ImageTextMaps: a short fit of a dual encoder writes the maps of fixed pairs, and the report
shows them."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from tests.test_crossmodal import colour_dual_encoder, scenes

NAMES = {1: "red", 2: "green", 3: "blue"}


@pytest.mark.slow
def test_a_short_fit_writes_frames_and_the_report_shows_them(tmp_path):
    keras.utils.set_random_seed(0)
    model = colour_dual_encoder()
    images, texts, others, *_ = scenes(32)
    # Matched pairs score 1, the other square's colour 0: the towers are fine-tuned on it.
    x = [np.concatenate([images, images]), np.concatenate([texts, others])]
    y = np.concatenate([np.ones(32), np.zeros(32)]).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    captions = [f"a {NAMES[int(t)]} square" for t in texts[:4, 0]]
    cb = nv.callbacks.ImageTextMaps(
        tmp_path, images=images[:4], texts=texts[:4], captions=captions, every=1
    )
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))

    manifest = json.loads((tmp_path / "nnviz_manifest.json").read_text())
    entries = [e for e in manifest["entries"] if e.get("callback") == "image_text_maps"]
    frames = [e for e in entries if e.get("tag") == "maps" and e.get("kind") == "frame"]
    assert [e["epoch"] for e in frames] == [0, 1, 2]  # before training + 2 epochs
    kinds = {e.get("kind") for e in entries}
    assert {"tensorboard", "animation", "summary"} <= kinds
    for e in frames:
        assert (tmp_path / e["path"]).is_file()
    assert manifest["callbacks"]["image_text_maps"]["params"]["pairs"] == 4

    path = nv.report.build_report(tmp_path, model=model)
    page = path.read_text(encoding="utf-8")
    assert "Image-text maps" in page and " · ".join(captions) in page
    assert page.count("data:image/png") >= 4  # the three frames and the end-of-training figure


def test_bad_configuration_is_named_at_construction_or_train_begin(tmp_path):
    with pytest.raises(nv.InvalidArgumentError, match="did you mean 'captions'"):
        nv.callbacks.ImageTextMaps(tmp_path, images=np.zeros((1, 8, 8, 3)), texts=[[1]], caption=1)
    model = colour_dual_encoder()
    images, texts, *_ = scenes(2)
    cb = nv.callbacks.ImageTextMaps(
        tmp_path, images=images, texts=texts, captions=["one"], on_error="raise"
    )
    with pytest.raises(nv.InvalidArgumentError, match="one caption per pair"):
        cb.set_model(model)
        cb.on_train_begin()


def test_the_callback_survives_deepcopy_and_pickle(tmp_path):
    import copy
    import pickle

    images, texts, *_ = scenes(2)
    cb = nv.callbacks.ImageTextMaps(tmp_path, images=images, texts=texts, method="saliency")
    for clone in (copy.deepcopy(cb), pickle.loads(pickle.dumps(cb))):
        assert clone.method == "saliency" and np.array_equal(clone.texts, texts)
