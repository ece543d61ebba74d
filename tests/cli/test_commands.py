"""``nnviz report`` and ``nnviz gradcam`` on saved models, and their bad-input table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras_nnviz as nv
from keras_nnviz import cli

ROOT = Path(__file__).resolve().parents[2]


def run_nnviz(*argv: str) -> subprocess.CompletedProcess:
    """The console-script launcher in a fresh process (nothing registered by this test session)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "keras_nnviz", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved (briefly trained) digits CNN, its test data as .npz and as PNG files, and a saved
    transformer whose attention hides inside a custom layer (tests.zoo.TransformerBlock)."""
    import keras

    from tests.zoo import transformer_block

    root = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    cnn = nv.datasets.digits_cnn()
    cnn.fit(data.train.x, data.train.y, epochs=2, batch_size=64, verbose=0)
    paths = {"cnn": root / "cnn.keras", "digits": root / "digits.npz"}
    cnn.save(paths["cnn"])
    x, y = data.test.x[:64], data.test.y[:64]
    np.savez(paths["digits"], x=x, y=y, class_names=np.array(data.class_names))
    for i in range(3):
        paths[f"png{i}"] = root / f"digit{i}.png"
        Image.fromarray((x[i, ..., 0] * 255).astype(np.uint8)).resize((32, 32)).save(
            paths[f"png{i}"]
        )
    case = transformer_block()
    paths["transformer"] = root / "transformer.keras"
    case.model.save(paths["transformer"])
    paths["tokens"] = root / "tokens.npz"
    np.savez(paths["tokens"], x=case.x, y=np.arange(len(case.x)) % 3)
    paths["wrong_shape"] = root / "wrong.npz"
    np.savez(paths["wrong_shape"], x=np.zeros((4, 5, 5, 3), np.float32))
    paths["strings"] = root / "strings.npy"
    np.save(paths["strings"], np.array(["a", "b"]))
    paths["text"] = root / "notes.txt"
    paths["text"].write_text("hello")
    paths["fake_png"] = root / "fake.png"
    paths["fake_png"].write_text("not an image")
    paths["root"] = root
    return {k: str(v) for k, v in paths.items()}, x, y


def _sections(html: str) -> list[str]:
    return re.findall(r'<section class="nv-section" id="[^"]*"><h3>([^<]*)</h3>', html)


@pytest.mark.slow
def test_report_of_a_saved_cnn(files, tmp_path, capsys):
    paths, x, y = files
    code = cli.main(
        ["report", paths["cnn"], "--data", paths["digits"], "--out", str(tmp_path), "--steps", "8"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "report:" in out and "FAILED" not in out
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    sections = " | ".join(_sections(html))
    for title in ("Architecture", "Weights", "Activations", "Grad-CAM", "Feature visualization"):
        assert title in sections, sections
    assert "Embedding" in sections
    assert "Failed" not in html
    # accuracy printed in the architecture facts is the model's real accuracy on these samples
    model = cli.load_model(paths["cnn"])
    acc = float(np.mean(model.predict(x, verbose=0).argmax(1) == y))
    assert f"{acc:.3f}" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 6


@pytest.mark.slow
def test_report_of_a_saved_transformer_with_a_custom_layer(files, tmp_path):
    """In a fresh process: the custom layer comes from --custom-objects; without it, exit 2."""
    paths, _, _ = files
    argv = ["report", paths["transformer"], "--data", paths["tokens"], "--out", str(tmp_path)]
    missing = run_nnviz(*argv)
    assert missing.returncode == 2, missing.stderr
    assert missing.stderr.count("\n") == 1, missing.stderr
    assert "custom object 'TokenAndPositionEmbedding'" in missing.stderr
    done = run_nnviz(
        *argv,
        "--custom-objects",
        "tests.zoo:TransformerBlock",
        "--custom-objects",
        "tests.zoo:TokenAndPositionEmbedding",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FAILED" not in done.stdout, done.stdout
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    sections = " | ".join(_sections(html))
    assert "Attention" in sections, sections
    assert "Grad-CAM" not in sections and "Feature visualization" not in sections
    assert "encoder_1" in html and "Failed" not in html


@pytest.mark.slow
def test_gradcam_writes_one_png_per_image(files, tmp_path, capsys):
    paths, _, _ = files
    images = [paths["png0"], paths["png1"], paths["png2"]]
    assert cli.main(["gradcam", paths["cnn"], *images, "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all("predicted class" in line for line in lines)
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == ["digit0_gradcam.png", "digit1_gradcam.png", "digit2_gradcam.png"]
    with Image.open(tmp_path / "digit0_gradcam.png") as png:
        pixels = np.asarray(png.convert("RGB"), dtype=float)
    assert pixels.std() > 10  # a picture, not a blank canvas
    code = cli.main(
        [
            "gradcam",
            paths["cnn"],
            images[0],
            "--target",
            "3",
            "--layer",
            "conv1",
            "--labels",
            "zero,one,two,three,four,five,six,seven,eight,nine",
            "--out",
            str(tmp_path / "t"),
        ]
    )
    assert code == 0
    assert "target class three" in capsys.readouterr().out


BAD = [
    (["report", "{cnn}", "--data", "missing.npz"], "data not found"),
    (["report", "{cnn}", "--data", "{wrong_shape}"], "inputs have shape (N, 5, 5, 3)"),
    (["report", "{cnn}", "--data", "{strings}"], "inputs must be numbers"),
    (["report", "{cnn}", "--data", "{text}"], "expected a .npz/.npy file"),
    (["report", "{cnn}", "--data", "{digits}", "--sections", "nope"], "unknown ['nope']"),
    (["report", "{cnn}", "--data", "{digits}", "--labels", ",a"], "give class names"),
    (["report", "{cnn}", "--data", "{digits}", "--out", "{text}"], "is a file; pass a folder"),
    (["report", "{cnn}"], "required: --data"),
    (["gradcam", "{cnn}", "missing.png"], "image not found"),
    (["gradcam", "{cnn}", "{fake_png}"], "cannot read"),
    (
        ["gradcam", "{transformer}", "{png0}", "--custom-objects", "tests.zoo:TransformerBlock"],
        "needs a model with one image input",
    ),
    (["gradcam", "{cnn}", "{png0}", "--layer", "no_such_layer"], "no_such_layer"),
    (["gradcam", "{cnn}", "{png0}", "--target", "12"], "12"),
    (["demo", "--epochs", "0"], "expected a positive integer"),
    (["report", "{text}", "--data", "{digits}"], "not a Keras model file"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[m for _, m in BAD])
def test_bad_input_exits_2_with_one_line(files, capsys, argv, message):
    paths, _, _ = files
    argv = [a.format(**paths) for a in argv]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.slow
def test_report_from_an_image_folder_takes_labels_from_sub_folders(files, tmp_path, capsys):
    paths, x, y = files
    folder = tmp_path / "images"
    for i in range(12):
        (folder / str(int(y[i]))).mkdir(parents=True, exist_ok=True)
        Image.fromarray((x[i, ..., 0] * 255).astype(np.uint8)).save(folder / str(y[i]) / f"{i}.png")
    out = tmp_path / "out"
    code = cli.main(
        [
            "report",
            paths["cnn"],
            "--data",
            str(folder),
            "--out",
            str(out),
            "--sections",
            "architecture,attribution",
        ]
    )
    assert code == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<dt>samples</dt><dd>12</dd>" in html
    # labels came from the sub-folder names, so the report states the model's real accuracy
    pixels = np.round(x[:12] * 255) / 255  # what the PNG files hold
    predicted = cli.load_model(paths["cnn"]).predict(pixels, verbose=0).argmax(1)
    accuracy = float(np.mean(predicted == y[:12]))
    assert f"<dt>accuracy on these samples</dt><dd>{accuracy:.3f}</dd>" in html
    assert "Grad-CAM" in " | ".join(_sections(html))


@pytest.mark.slow
def test_gradcam_reaches_a_layer_inside_a_nested_base_model(tmp_path, capsys):
    """The transfer-learning case peers fail on: --layer names a layer inside the base model."""
    from tests.zoo import nested

    case = nested()
    model_path = tmp_path / "nested.keras"
    case.model.save(model_path)
    image = tmp_path / "photo.png"
    Image.fromarray((case.x[0] * 255).astype(np.uint8)).save(image)
    out = tmp_path / "out"
    code = cli.main(
        ["gradcam", str(model_path), str(image), "--layer", "base/block1_conv", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert (out / "photo_gradcam.png").is_file()
    assert "predicted class" in capsys.readouterr().out
