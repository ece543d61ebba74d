"""``nnviz report`` and ``nnviz gradcam`` on saved KerasHub models: a ViT image classifier (no
2-D layer: Grad-CAM on its patch grid) and a BERT text classifier (three integer inputs, token
strings from the .npz in the pictures)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from keras_nnviz import cli
from tests import hub


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub_cli")
    rng = np.random.default_rng(0)
    vit, bert = folder / "vit.keras", folder / "bert.keras"
    hub.vit_classifier().save(vit)
    hub.bert_classifier().save(bert)
    images = folder / "images.npz"
    np.savez(images, x=rng.normal(size=(3, 32, 32, 3)).astype("float32"), y=np.array([0, 1, 2]))
    ids = rng.integers(5, len(hub.VOCAB), size=(3, 8)).astype("int32")
    words = np.array([[hub.VOCAB[i] for i in row] for row in ids])
    text = folder / "text.npz"
    np.savez(
        text,
        token_ids=ids,
        padding_mask=np.ones_like(ids),
        segment_ids=np.zeros_like(ids),
        y=np.array([0, 1, 0]),
        tokens=words,
    )
    return {"vit": vit, "bert": bert, "images": images, "text": text, "words": words}


def _png_ok(path):
    with Image.open(path) as png:
        assert png.size[0] > 200 and png.size[1] > 100


@pytest.mark.slow
def test_gradcam_on_a_saved_vit_uses_the_patch_grid(saved, tmp_path, capsys):
    argv = ["gradcam", str(saved["vit"]), str(saved["images"]), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["images_0_gradcam.png", "images_1_gradcam.png", "images_2_gradcam.png"]
    _png_ok(tmp_path / written[0])
    argv += ["--method", "saliency", "--max-samples", "1"]
    assert cli.main(argv) == 0
    assert (tmp_path / "images_0_saliency.png").is_file()


@pytest.mark.slow
def test_gradcam_on_a_saved_bert_explains_tokens(saved, tmp_path, capsys):
    argv = ["gradcam", str(saved["bert"]), str(saved["text"]), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    assert (tmp_path / "text_0_integrated_gradients.png").is_file()
    _png_ok(tmp_path / "text_0_integrated_gradients.png")
    # A CAM has no default layer on a text model: the error says what works.
    assert cli.main([*argv, "--method", "grad_cam"]) == 2
    assert "integrated_gradients" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name, data", [("vit", "images"), ("bert", "text")])
def test_report_on_saved_hub_models(saved, tmp_path, name, data, capsys):
    argv = ["report", str(saved[name]), "--data", str(saved[data]), "--out", str(tmp_path)]
    sections = ["--sections", "activations,attribution,attention", "--max-samples", "3"]
    assert cli.main([*argv, *sections]) == 0
    printed = capsys.readouterr().out
    assert "FAILED" not in printed
    assert "attribution   done" in printed and "attention     done" in printed
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert ("Grad-CAM" if name == "vit" else "integrated gradients") in page
    if name == "bert":  # the token strings reach the interactive attention view
        view = (tmp_path / "attention.html").read_text(encoding="utf-8")
        assert all(word in view for word in saved["words"][0])
