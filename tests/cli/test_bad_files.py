"""Hostile and careless files on the command line: bounded reading, right captions, subclassed
models.

``ROWS`` follow ``CLI_ROWS`` of ``tests/test_bad_input.py``: ``nnviz ...`` through
:func:`keras_nnviz.cli.main`, expecting exit code 2 and one message line on stderr naming the
cause. The bombs are crafted (a PNG header claiming 100000×100000 pixels, a ``.npy`` header
claiming 2.75 TiB, a ``.npz`` of zeros that inflates 500×), so nothing here allocates what they
claim.
"""

from __future__ import annotations

import re
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from PIL import Image

from keras_nnviz import cli
from keras_nnviz.cli import data as cli_data
from tests.bad_input import assert_cli_exits_2

L = keras.layers
ROW = 12 * 12 * 3 * 4  # bytes of one (12, 12, 3) float32 sample


@keras.saving.register_keras_serializable("nnviz_test_bad_files")
class SubclassedCNN(keras.Model):
    """A subclassed image classifier: no ``model.inputs`` until it is called."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = L.Conv2D(4, 3, activation="relu")
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(3, activation="softmax")

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width × height`` RGB pixels, with one empty data chunk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def _npz_member(path: Path, shape: tuple, data_bytes: int, extra: dict | None = None) -> None:
    """A ``.npz`` whose ``x`` member has a float32 header claiming ``shape`` followed by
    ``data_bytes`` zero bytes, written in chunks (never held in memory)."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            chunk = bytes(ROW * 1000)
            left = data_bytes
            while left > 0:
                member.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
        for name, value in (extra or {}).items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, value)


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    """A saved tiny CNN, a saved subclassed CNN, and the hostile files."""
    root = tmp_path_factory.mktemp("bad_files")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    h = L.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    outputs = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(h))
    keras.Model(inputs, outputs, name="cnn").save(root / "cnn.keras")
    sub = SubclassedCNN(name="subclassed")
    sub(np.zeros((1, 12, 12, 3), np.float32))
    sub.save(root / "sub.keras")
    x = np.random.default_rng(0).random((6, 12, 12, 3)).astype(np.float32)
    np.savez(root / "good.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
    (root / "bomb_pillow.png").write_bytes(_png_header(100_000, 100_000))  # Pillow's error
    (root / "bomb_warn.png").write_bytes(_png_header(10_000, 10_000))  # Pillow only warns
    (root / "bomb_ours.png").write_bytes(_png_header(9_000, 9_000))  # under Pillow's limits
    with open(root / "huge.npy", "wb") as file:  # claims 2.75 TiB, holds 1 KB
        header = {"descr": "<f4", "fortran_order": False, "shape": (240_000, 1024, 1024, 3)}
        np.lib.format.write_array_header_1_0(file, header)
        file.write(bytes(1024))
    with open(root / "truncated.npy", "wb") as file:  # half of its 6 samples
        np.lib.format.write_array_header_1_0(
            file, {"descr": "<f4", "fortran_order": False, "shape": (6, 12, 12, 3)}
        )
        file.write(x.tobytes()[: 3 * ROW])
    _npz_member(root / "truncated.npz", (6, 12, 12, 3), 3 * ROW)
    # 40000 samples of zeros: 66 MiB inflated from ~70 KB on disk
    _npz_member(root / "bomb.npz", (40_000, 12, 12, 3), 40_000 * ROW, {"y": np.zeros(40_000, int)})
    np.savez(root / "no_x.npz", a=x, b=x)
    np.savez(root / "empty.npz")
    np.savez(root / "objects.npz", x=np.array([object(), 1], dtype=object))
    (root / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    (root / "empty_dir").mkdir()
    (root / "text_dir").mkdir()
    (root / "text_dir" / "notes.txt").write_text("hello")
    (root / "folder_named_png" / "x.png").mkdir(parents=True)
    np.savez(root / "names_2d.npz", x=x, class_names=np.zeros((3, 2)))
    (root / "fake_images").mkdir()
    (root / "fake_images" / "a.png").write_text("not an image")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(root / "big_enough.png")
    return SimpleNamespace(root=root, cnn=str(root / "cnn.keras"), sub=str(root / "sub.keras"), x=x)


def _report(f, data, *extra):
    out = str(f.root / "report")
    return ["report", f.cnn, "--data", str(f.root / data), "--out", out, *extra]


def _gradcam(f, *files, model=None):
    out = str(f.root / "gradcam")
    return ["gradcam", model or f.cnn, *(str(f.root / p) for p in files), "--out", out]


def r(name, argv, phrase, **caps):
    """A row: ``argv(f)``, a phrase of the message, and caps of ``cli.data`` set for the row."""
    return pytest.param(argv, phrase, caps, id=name)


ROWS = [
    r("png-bomb-pillow-error", lambda f: _gradcam(f, "bomb_pillow.png"), "too large to decode"),
    r("png-bomb-pillow-warning", lambda f: _gradcam(f, "bomb_warn.png"), "too large to decode"),
    r("png-bomb-under-pillow-limit", lambda f: _gradcam(f, "bomb_ours.png"), "9000×9000"),
    r(
        "png-over-a-lowered-cap",
        lambda f: _gradcam(f, "big_enough.png"),
        "40×40",
        MAX_IMAGE_PIXELS=1_000,
    ),
    r("report-png-bomb", lambda f: _report(f, "bomb_ours.png"), "decompression bomb"),
    r("npy-header-claims-2.75-TiB", lambda f: _report(f, "huge.npy"), "claims shape"),
    r("npy-truncated", lambda f: _report(f, "truncated.npy"), "truncated"),
    r("npz-member-truncated", lambda f: _report(f, "truncated.npz"), "truncated"),
    r(
        "npz-bomb-max-samples-over-the-cap",
        lambda f: _report(f, "bomb.npz", "--max-samples", "40000"),
        "--max-samples",
        MAX_ARRAY_BYTES=8 * 1024**2,
    ),
    r("npz-without-x", lambda f: _report(f, "no_x.npz"), "name the inputs 'x'"),
    r("npz-empty", lambda f: _report(f, "empty.npz"), "has arrays []"),
    r("npz-object-arrays", lambda f: _report(f, "objects.npz"), "object arrays"),
    r("npz-not-a-zip", lambda f: _report(f, "garbage.npz"), "cannot read"),
    r("report-max-samples-0", lambda f: _report(f, "good.npz", "--max-samples", "0"), "positive"),
    r(
        "report-max-samples-negative",
        lambda f: _report(f, "good.npz", "--max-samples", "-3"),
        "positive",
    ),
    r(
        "gradcam-max-samples-0",
        lambda f: [*_gradcam(f, "good.npz"), "--max-samples", "0"],
        "positive",
    ),
    r("report-empty-image-folder", lambda f: _report(f, "empty_dir"), "no images"),
    r("report-folder-of-non-images", lambda f: _report(f, "text_dir"), "no images"),
    r("report-folder-named-like-an-image", lambda f: _report(f, "folder_named_png"), "no images"),
    r("npz-class-names-2d", lambda f: _report(f, "names_2d.npz"), "class_names must be"),
    r("report-folder-of-fake-pngs", lambda f: _report(f, "fake_images"), "cannot read"),
    r(
        "gradcam-subclassed-on-image-files",
        lambda f: _gradcam(f, "big_enough.png", model=f.sub),
        "Pass a .npz file",
    ),
]


@pytest.mark.parametrize(("argv", "phrase", "caps"), ROWS)
def test_bad_file_exits_2_with_one_line(f, capsys, monkeypatch, argv, phrase, caps):
    for name, value in caps.items():
        monkeypatch.setattr(cli_data, name, value)
    assert_cli_exits_2(argv(f), capsys, phrase)


def _model(f, path=None):
    return cli.load_model(path or f.cnn)


def test_npz_bomb_inflates_only_max_samples_rows(f):
    """``--max-samples`` applies before decompression: 4 rows of a 66 MiB member are read."""
    model = _model(f)
    claimed = 40_000 * ROW
    tracemalloc.start()
    try:
        loaded = cli_data.load_data(str(f.root / "bomb.npz"), model, max_samples=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert loaded.x.shape == (4, 12, 12, 3) and loaded.y.shape == (4,)
    assert not loaded.x.any()
    assert peak < claimed / 20, f"peak {peak} bytes while reading 4 of {claimed} bytes"


@pytest.mark.parametrize("order", ["C", "F"])
def test_arrays_read_by_header_equal_numpys(f, tmp_path, order):
    """The bounded reader gives what ``np.load`` gives, for both memory orders and both files."""
    model = _model(f)
    x = f.x if order == "C" else np.asfortranarray(f.x)
    np.save(tmp_path / "x.npy", x)
    np.savez_compressed(tmp_path / "x.npz", x=x, y=np.arange(6) % 3, class_names=["a", "b", "c"])
    npy = cli_data.load_data(str(tmp_path / "x.npy"), model, max_samples=4)
    npz = cli_data.load_data(str(tmp_path / "x.npz"), model, max_samples=5)
    np.testing.assert_array_equal(npy.x, f.x[:4])
    np.testing.assert_array_equal(npz.x, f.x[:5])
    np.testing.assert_array_equal(npz.y, np.arange(5) % 3)
    assert npz.class_names == ["a", "b", "c"]
    assert npy.x.flags.writeable and npz.x.flags.writeable


@pytest.mark.slow
def test_subclassed_model_report_and_gradcam(f, tmp_path, capsys):
    """No ``model.inputs``: the data's shape stands in for it (was an internal IndexError)."""
    data = str(f.root / "good.npz")
    report = ["report", f.sub, "--data", data, "--out", str(tmp_path / "r"), "--steps", "4"]
    assert cli.main(report) == 0, capsys.readouterr().err
    assert (tmp_path / "r" / "report.html").is_file()
    assert cli.main(["gradcam", f.sub, data, "--out", str(tmp_path / "g")]) == 0
    out = capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "g").glob("*.png"))
    assert len(written) == 6, written
    expected = _model(f, f.sub).predict(f.x, verbose=0).argmax(axis=1)
    shown = [int(c) for c in re.findall(r"predicted class (\d+)", out)]
    assert shown == expected.tolist(), out


@pytest.mark.slow
def test_gradcam_caption_of_a_segmenter_is_a_class(tmp_path, capsys):
    """A (N, H, W, 3) output: the class of highest mean logit, not a flattened pixel index."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 3))
    h = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    head = L.Conv2D(3, 1, name="classes")  # logits: the scores the library explains
    segmenter = keras.Model(inputs, head(h))
    head.bias.assign([0.0, 0.0, 2.0])  # class 2 wins on average; flattened indices would not be 2
    segmenter.save(tmp_path / "seg.keras")
    x = np.random.default_rng(1).random((3, 16, 16, 3)).astype(np.float32)
    np.savez(tmp_path / "seg.npz", x=x)
    argv = ["gradcam", str(tmp_path / "seg.keras"), str(tmp_path / "seg.npz")]
    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    expected = segmenter.predict(x, verbose=0).mean(axis=(1, 2)).argmax(axis=1)
    caption = r"predicted class (\d+) \(score [-\d.]+, mean over 16×16 positions\)"
    shown = [int(c) for c in re.findall(caption, out)]
    assert shown == expected.tolist(), out
    assert all(c < 3 for c in shown)


@pytest.mark.slow
def test_gradcam_caption_of_a_language_model_is_the_next_token(tmp_path, capsys):
    """GPT-2 (ids in, (N, T, V) logits out): the token predicted after each sample's last
    non-padding position (sample 1 is padded from position 6)."""
    from tests import hub

    lm = hub.gpt2_lm()
    lm.save(tmp_path / "lm.keras")
    x = hub.inputs(lm, n=3)
    np.savez(tmp_path / "lm.npz", **x)
    argv = ["gradcam", str(tmp_path / "lm.keras"), str(tmp_path / "lm.npz")]
    assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    caption = r"predicted token (\d+) after position (\d+)"
    shown = [(int(token), int(where)) for token, where in re.findall(caption, out)]
    logits = np.asarray(lm.predict(x, verbose=0))
    last = x["padding_mask"].sum(axis=1) - 1
    expected = [(int(logits[i, p].argmax()), int(p)) for i, p in enumerate(last)]
    assert shown == expected, out
    assert [p for _, p in shown] == [7, 5, 7]
    assert "class" not in out
