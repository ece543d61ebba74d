"""keras_nnviz.io: PNG files, GIFs, TensorBoard summaries, the manifest, the projector export."""

from __future__ import annotations

import glob
import json

import numpy as np
import pytest
from PIL import Image

from keras_nnviz import io as nvio
from keras_nnviz.errors import InvalidArgumentError, InvalidInputError
from keras_nnviz.projection import export_projector, sprite_image


def _frame(seed: int, shape=(30, 40, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, size=shape, dtype=np.uint8)


def _dest(tmp_path) -> nvio.Destination:
    return nvio.Destination(tmp_path, "my_callback")


def read_events(run_dir) -> list:
    """(tag, step, plugin, value) for every summary value in a TensorBoard run folder."""
    import tensorflow as tf

    out = []
    for path in sorted(glob.glob(str(run_dir / "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                out.append((value.tag, event.step, plugin, value))
    return out


def test_when_names_frames_by_completed_epochs_and_batches():
    assert nvio.When(3, None, 3).stem == "epoch_0003"
    assert nvio.When(1, 200, 200).stem == "epoch_0001_batch_000200"
    assert nvio.When(0).label == "before training"
    assert nvio.When(2, 40, 40).label == "epoch 2, batch 40"


def test_png_sink_writes_frames_and_records_them(tmp_path):
    dest, frame = _dest(tmp_path), _frame(0)
    item = nvio.ImageItem("base/conv1", pixels=frame, caption="c")
    [entry] = nvio.PNGSink().write(dest, item, nvio.When(3, None, 3))
    path = tmp_path / "my_callback" / "base" / "conv1" / "epoch_0003.png"
    assert entry["path"] == "my_callback/base/conv1/epoch_0003.png"
    assert (entry["width"], entry["height"], entry["epoch"], entry["kind"]) == (40, 30, 3, "frame")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), frame)  # lossless round trip


def test_tags_never_escape_the_log_dir(tmp_path):
    dest = _dest(tmp_path)
    item = nvio.ImageItem("../../etc/x:y", pixels=_frame(1))
    [entry] = nvio.PNGSink().write(dest, item, nvio.When(1, None, 1))
    assert not entry["path"].startswith("..")
    assert (tmp_path / entry["path"]).resolve().is_relative_to(tmp_path.resolve())


def test_gif_sink_animates_every_frame_in_order(tmp_path):
    dest, gif = _dest(tmp_path), nvio.GIFSink()
    frames = [np.full((20, 24, 3), v, dtype=np.uint8) for v in (0, 120, 250)]
    for i, f in enumerate(frames):
        gif.write(dest, nvio.ImageItem("t", pixels=f), nvio.When(i, None, i))
    gif.write(dest, nvio.ImageItem("t", png=nvio.encode_png(frames[0]), kind="summary"), None)
    [entry] = gif.finish(dest)
    assert entry["kind"] == "animation" and entry["frames"] == 3
    with Image.open(tmp_path / entry["path"]) as im:
        assert im.n_frames == 3
        means = []
        for k in range(3):
            im.seek(k)
            means.append(np.asarray(im.convert("L")).mean())
    assert means[0] < means[1] < means[2]


def test_gif_sink_thins_long_runs_but_keeps_first_frame(tmp_path):
    dest, gif = _dest(tmp_path), nvio.GIFSink(max_frames=8)
    for i in range(20):
        gif.write(dest, nvio.ImageItem("t", pixels=_frame(i, (8, 8, 3))), nvio.When(i, None, i))
    [entry] = gif.finish(dest)
    assert 4 <= entry["frames"] <= 8


def test_tensorboard_sink_writes_images_histograms_and_summaries(tmp_path):
    dest, tb, frame = _dest(tmp_path), nvio.TensorBoardSink(), _frame(2)
    values = np.random.default_rng(0).normal(size=1000)
    tb.write(dest, nvio.ImageItem("conv1", pixels=frame), nvio.When(2, None, 2))
    tb.write(dest, nvio.HistogramItem("conv1", values), nvio.When(2, None, 2))
    summary = nvio.ImageItem("conv1", png=nvio.encode_png(frame), kind="summary", name="ridge")
    tb.write(dest, summary, nvio.When(2, None, 2, final=True))
    tb.finish(dest)
    events = {
        (tag, plugin): (step, value)
        for tag, step, plugin, value in read_events(tmp_path / "train" / "nnviz")
    }
    step, image = events[("my_callback/conv1", "images")]
    w, h, png = image.tensor.string_val
    # After 2 epochs = Keras's epoch index 1, where keras.callbacks.TensorBoard logs epoch 2.
    assert step == 1 and (int(w), int(h)) == (40, 30)
    np.testing.assert_array_equal(nvio.decode_png(png), frame)
    step, hist = events[("my_callback/conv1/histogram", "histograms")]
    import tensorflow as tf

    buckets = tf.make_ndarray(hist.tensor)
    assert buckets.shape == (30, 3) and buckets[:, 2].sum() == 1000
    assert buckets[0, 0] == pytest.approx(values.min()) and buckets[-1, 1] == pytest.approx(
        values.max()
    )
    assert ("my_callback/conv1/ridge", "images") in events


def test_tensorboard_sink_writes_nothing_at_a_negative_step(tmp_path):
    """The state before training has no Keras step: it stays out of TensorBoard (its scalars stay
    in the manifest for the report); the state after epoch 1 is at step 0, Keras's first."""
    dest, tb = _dest(tmp_path), nvio.TensorBoardSink()
    before, after = nvio.When(0, None, 0), nvio.When(1, None, 1)
    entries = []
    for when, value in ((before, 0.25), (after, 0.5)):
        entries += tb.write(dest, nvio.ImageItem("conv1", pixels=_frame(3)), when)
        entries += tb.write(dest, nvio.HistogramItem("conv1", np.arange(10.0)), when)
        entries += tb.write(dest, nvio.ScalarItem("conv1/grad_norm", value), when)
    tb.finish(dest)
    written = {(tag, step) for tag, step, _, _ in read_events(tmp_path / "train" / "nnviz")}
    assert written == {
        ("my_callback/conv1", 0),
        ("my_callback/conv1/histogram", 0),
        ("my_callback/conv1/grad_norm/scalar", 0),
    }
    kept = [(e["epoch"], e["step"], e["media"], e.get("value")) for e in entries]
    assert kept == [
        (0, None, "tensorboard/scalar", 0.25),
        (1, 0, "tensorboard/image", None),
        (1, 0, "tensorboard/histogram", None),
        (1, 0, "tensorboard/scalar", 0.5),
    ]


def test_tensorboard_sink_run_folder_is_its_option(tmp_path):
    """Two models in one log_dir: each sink writes its own run, e.g. beside
    keras.callbacks.TensorBoard(log_dir / "cnn")."""
    dest = _dest(tmp_path)
    for model in ("cnn", "transformer"):
        tb = nvio.TensorBoardSink(run=f"{model}/train/nnviz")
        [entry] = tb.write(dest, nvio.ScalarItem(model, 1.0), nvio.When(1, None, 1))
        tb.finish(dest)
        assert entry["path"] == f"{model}/train/nnviz"
        tags = [tag for tag, _, _, _ in read_events(tmp_path / model / "train" / "nnviz")]
        assert tags == [f"my_callback/{model}/scalar"]
    assert not list((tmp_path / "train").glob("**/events.out.tfevents.*"))


def test_histogram_buckets_handle_constant_and_empty_values():
    const = nvio.histogram_buckets(np.zeros(10), 5)
    assert const[:, 2].sum() == 10 and const[0, 0] < 0 < const[-1, 1]
    assert nvio.histogram_buckets(np.array([np.nan]), 4).shape == (4, 3)


def test_manifest_is_shared_per_dir_and_continued_across_instances(tmp_path):
    m = nvio.Manifest.for_dir(tmp_path)
    assert nvio.Manifest.for_dir(tmp_path) is m
    m.add([{"callback": "a", "tag": "t", "kind": "frame", "path": "a/t/epoch_0001.png"}])
    m.save()
    data = nvio.load_manifest(tmp_path)
    assert data["format"] == "keras_nnviz.manifest" and data["version"] == 1
    assert data["callbacks"]["a"]["tags"] == ["t"]
    again = nvio.Manifest(tmp_path)  # a new process would read the files
    assert again.entries(callback="a")[0]["path"] == "a/t/epoch_0001.png"
    (tmp_path / nvio.MANIFEST_NAME).write_text("{not json")
    # A corrupt index: a writer starts over (never crashes) and keeps what the journal holds.
    assert [e["path"] for e in nvio.Manifest(tmp_path).data["entries"]] == ["a/t/epoch_0001.png"]
    with pytest.raises(ValueError):
        nvio.load_manifest(tmp_path)  # a reader says so
    assert not list(tmp_path.glob(".*.tmp"))


def test_manifest_appends_events_and_compacts_to_one_strict_json_file(tmp_path):
    m = nvio.Manifest(tmp_path)
    m.set_callback("cb", **{"class": "X", "params": {"models": {"a": 1}}})
    m.add_run("cb", {"fit": "f1", "ended": None, "model": "m"})
    m.add([{"callback": "cb", "tag": "t", "path": "cb/t/epoch_0001.png", "kind": "frame"}])
    m.update_fit("f1", model="m", epochs=1)
    m.add_metrics("f1", {"epoch": 1, "loss": float("nan"), "acc": float("inf")})
    m.save()
    journal = tmp_path / nvio.manifest.JOURNAL_NAME
    lines = journal.read_text().splitlines()
    assert len(lines) == 5  # one event a line, appended

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))

    for line in lines:
        strict(line)
    other = nvio.Manifest(tmp_path)  # another writer (process) adds to the same log_dir
    other.set_callback("cb", params={"models": {"b": 2}})
    other.update_run("cb", "f1", ended="t", epochs=1)
    other.add(
        [{"callback": "cb", "tag": "t", "path": "cb/t/epoch_0001.png", "kind": "frame", "x": 1}]
    )
    other.save()
    m.compact()
    assert not journal.exists()
    data = strict((tmp_path / nvio.MANIFEST_NAME).read_text())
    cb = data["callbacks"]["cb"]
    assert cb["params"]["models"] == {"a": 1, "b": 2}  # both writers' models kept
    assert cb["runs"] == [{"fit": "f1", "ended": "t", "model": "m", "epochs": 1}]
    assert [e.get("x") for e in data["entries"]] == [1]  # same file: replaced, not doubled
    assert data["fits"][0]["metrics"] == [{"epoch": 1, "loss": "NaN", "acc": "Infinity"}]
    loaded = nvio.load_manifest(tmp_path)["fits"][0]["metrics"][0]
    assert np.isnan(loaded["loss"]) and loaded["acc"] == np.inf  # floats again when read


def test_manifest_skips_a_line_cut_short_and_appends_after_it(tmp_path):
    m = nvio.Manifest(tmp_path)
    m.add([{"callback": "a", "tag": "t", "path": "a/1.png"}])
    m.save()
    with open(tmp_path / nvio.manifest.JOURNAL_NAME, "a") as f:
        f.write('{"op": "entry", "entry": {"callback": "a", "ta')  # a crash mid-line
    m.add([{"callback": "a", "tag": "t", "path": "a/2.png"}])
    m.save()
    assert [e["path"] for e in nvio.load_manifest(tmp_path)["entries"]] == ["a/1.png", "a/2.png"]


def test_manifest_write_failure_leaves_no_half_line_and_retries(tmp_path, monkeypatch):
    import errno
    import os

    m = nvio.Manifest(tmp_path)
    m.add([{"callback": "a", "tag": "t", "path": "a/1.png"}])
    m.save()
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data)[:7])  # part of it reaches the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    m.add([{"callback": "a", "tag": "t", "path": "a/2.png"}])
    with pytest.raises(OSError, match="No space"):
        m.save()
    with pytest.raises(OSError, match="No space"):
        m.compact()
    assert [e["path"] for e in nvio.load_manifest(tmp_path)["entries"]] == ["a/1.png"]
    assert not list(tmp_path.rglob("*.tmp"))
    monkeypatch.setattr(os, "write", real_write)
    m.compact()  # space again: the pending event was kept
    assert [e["path"] for e in nvio.load_manifest(tmp_path)["entries"]] == ["a/1.png", "a/2.png"]


def test_resolve_sinks_defaults_and_errors():
    names = [s.name for s in nvio.resolve_sinks(None)]
    assert names == ["png", "tensorboard", "gif"]
    assert [s.name for s in nvio.resolve_sinks("png")] == ["png"]
    custom = nvio.GIFSink(duration_ms=100)
    assert nvio.resolve_sinks([custom])[0] is custom
    with pytest.raises(InvalidArgumentError, match="Unknown sink 'html'"):
        nvio.resolve_sinks(["html"])


def test_projector_export_parses_with_tensorboard_proto(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    rng = np.random.default_rng(0)
    emb = {"layer a": rng.normal(size=(50, 7)), 'quote "b"': rng.normal(size=(50, 3, 2))}
    images = rng.uniform(size=(50, 8, 8, 1))
    config = export_projector(
        tmp_path, emb, labels=np.arange(50) % 3, images=images, class_names=["x", "y", "z"]
    )
    proto = text_format.Parse(config.read_text(), projector_config_pb2.ProjectorConfig())
    assert [e.tensor_name for e in proto.embeddings] == ["layer a", 'quote "b"']
    for e, dims in zip(proto.embeddings, (7, 6)):
        table = np.loadtxt(tmp_path / e.tensor_path, delimiter="\t", ndmin=2)
        assert table.shape == (50, dims) == tuple(e.tensor_shape)
        meta = (tmp_path / e.metadata_path).read_text().splitlines()
        assert len(meta) == 50 and meta[:4] == ["x", "y", "z", "x"]
        sprite = Image.open(tmp_path / e.sprite.image_path)
        side = e.sprite.single_image_dim[0]
        assert sprite.size[0] == sprite.size[1] >= side * 8 and sprite.size[0] % side == 0
    np.testing.assert_allclose(
        np.loadtxt(tmp_path / proto.embeddings[0].tensor_path, delimiter="\t"),
        emb["layer a"],
        rtol=1e-5,
    )
    with pytest.raises(InvalidInputError, match="one row per point"):
        export_projector(tmp_path, rng.normal(size=(5, 2)), labels=np.arange(4))


def test_sprite_puts_each_image_in_its_cell():
    imgs = np.zeros((5, 4, 4))
    imgs[3] = 1.0
    imgs[3, 0, 0] = 0.0  # min-max per image: keep one dark pixel so it is not constant
    sprite, thumb = sprite_image(imgs)
    assert thumb == 28 and sprite.shape == (3 * 28, 3 * 28, 3)
    r, c = divmod(3, 3)
    cell = sprite[r * 28 : (r + 1) * 28, c * 28 : (c + 1) * 28]
    assert cell.mean() > 200 and sprite[:28, :28].mean() == 0
    with pytest.raises(InvalidInputError):
        sprite_image(np.zeros((4, 10)))


def test_manifest_json_is_plain(tmp_path):
    m = nvio.Manifest.for_dir(tmp_path / "x")
    (tmp_path / "x").mkdir()
    m.add([{"callback": "a", "tag": "t", "value": np.float32(1.5), "shape": np.arange(2)}])
    data = json.loads(m.compact().read_text())
    assert data["entries"][0]["value"] == 1.5 and data["entries"][0]["shape"] == [0, 1]


def test_nv_io_is_reachable_but_star_import_keeps_stdlib_io():
    import io as stdlib_io

    import keras_nnviz as nv

    assert nv.io.load_manifest is nvio.manifest.load_manifest
    namespace: dict = {"io": stdlib_io}
    exec("from keras_nnviz import *", namespace)
    assert namespace["io"] is stdlib_io
