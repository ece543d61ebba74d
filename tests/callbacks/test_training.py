"""A digits CNN trained 3 epochs with every callback: files, GIFs, events, manifest, projector."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import keras_nnviz as nv
from keras_nnviz import io as sinks
from tests.callbacks.conftest import EPOCHS, finite
from tests.conftest import png_is_not_blank
from tests.test_sinks import read_events

FRAMES = [f"epoch_{e:04d}.png" for e in range(EPOCHS + 1)]  # before training + each epoch

HISTOGRAMS = ["conv1/kernel", "conv1/bias", "conv2/kernel", "dense/kernel", "predictions/bias"]
EXPECTED_TAGS = {
    "weight_histograms": ["overview"],
    "weight_matrices": ["conv1/kernel", "dense/kernel"],
    "activation_maps": ["conv1", "conv2", "dense"],
    "embedding_projection": ["dense"],
    "grad_cam": ["maps"],
    "integrated_gradients": ["maps"],
    "gradient_flow": ["layers"],
    "dead_units": ["layers"],
}


def test_training_is_intact(run):
    assert len(run.history.history["loss"]) == EPOCHS and finite(run.history.history["loss"])
    assert run.history.history["loss"][-1] < run.history.history["loss"][0]
    for cb in run.callbacks:
        assert cb.stats.errors == 0, cb.name
        assert cb.stats.snapshots == EPOCHS + 1  # initial state + one per epoch
        assert len(cb.stats.blocking) == EPOCHS


def test_every_callback_writes_a_frame_per_epoch_and_a_gif_per_tag(run):
    for folder, tags in EXPECTED_TAGS.items():
        for tag in tags:
            d = run.log_dir / folder / tag
            written = sorted(p.name for p in d.glob("epoch_*.png"))
            assert written == FRAMES, (folder, tag, written)
            assert png_is_not_blank((d / FRAMES[-1]).read_bytes()), (folder, tag)
            with Image.open(d / "animation.gif") as gif:
                assert gif.n_frames == EPOCHS + 1, (folder, tag)


def test_frames_change_as_the_model_learns(run):
    for folder, tag in [("weight_matrices", "dense/kernel"), ("activation_maps", "conv2")]:
        d = run.log_dir / folder / tag
        first = np.asarray(Image.open(d / FRAMES[0]), dtype=float)
        last = np.asarray(Image.open(d / FRAMES[-1]), dtype=float)
        assert first.shape == last.shape and np.abs(first - last).mean() > 1.0, (folder, tag)


def test_summaries_are_written_at_train_end(run):
    ridgeline = run.log_dir / "weight_histograms" / "overview" / "ridgeline.png"
    scatter = run.log_dir / "embedding_projection" / "dense" / "summary.png"
    for path in (ridgeline, scatter):
        assert png_is_not_blank(path.read_bytes()), path


def test_events_hold_images_and_histograms_under_expected_tags(run):
    events = read_events(run.log_dir / "train" / "nnviz")
    kinds: dict[str, set] = {}
    steps: dict[str, list] = {}
    for tag, step, plugin, _ in events:
        kinds.setdefault(tag, set()).add(plugin)
        steps.setdefault(tag, []).append(step)
    for folder, tags in EXPECTED_TAGS.items():
        for tag in tags:
            assert kinds[f"{folder}/{tag}"] == {"images"}
            assert steps[f"{folder}/{tag}"] == list(range(EPOCHS))  # Keras's epoch index
    for tag in HISTOGRAMS:
        assert kinds[f"weight_histograms/{tag}/histogram"] == {"histograms"}
        assert steps[f"weight_histograms/{tag}/histogram"] == list(range(EPOCHS))
    assert kinds["weight_histograms/overview/ridgeline"] == {"images"}
    # keras.callbacks.TensorBoard wrote its own run beside ours, which it does not share.
    keras_tags = {tag for tag, _, _, _ in read_events(run.log_dir / "train")}
    assert any(t.startswith("epoch_") for t in keras_tags), sorted(keras_tags)[:5]
    assert not any(t.startswith("epoch_") for t in kinds)


def test_manifest_indexes_everything_written(run):
    m = sinks.load_manifest(run.log_dir)
    assert set(m["callbacks"]) == set(EXPECTED_TAGS)
    section = m["callbacks"]["activation_maps"]
    assert section["class"] == "ActivationMaps" and section["every"] == "auto"
    assert section["tags"] == EXPECTED_TAGS["activation_maps"]
    assert section["runs"][-1]["epochs"] == EPOCHS and section["runs"][-1]["ended"]
    files = [e for e in m["entries"] if e["sink"] in ("png", "gif", "projector")]
    assert all((run.log_dir / e["path"]).exists() for e in files)
    on_disk = {p.relative_to(run.log_dir).as_posix() for p in run.log_dir.rglob("*.png")}
    on_disk |= {p.relative_to(run.log_dir).as_posix() for p in run.log_dir.rglob("*.gif")}
    assert on_disk <= {e["path"] for e in files}
    frames = [
        e for e in m["entries"] if e["callback"] == "activation_maps" and e["kind"] == "frame"
    ]
    assert sorted({e["epoch"] for e in frames}) == list(range(EPOCHS + 1))
    assert [e["final"] for e in frames if e["epoch"] == EPOCHS] == [False] * 3


def test_projector_export_loads_with_tensorboard_proto(run):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    text = (run.log_dir / "projector_config.pbtxt").read_text()
    proto = text_format.Parse(text, projector_config_pb2.ProjectorConfig())
    [emb] = proto.embeddings
    assert emb.tensor_name == f"embedding_projection/dense @ epoch {EPOCHS}"
    table = np.loadtxt(run.log_dir / emb.tensor_path, delimiter="\t")
    assert table.shape == (120, 32) == tuple(emb.tensor_shape)
    expected = nv.get_activation(run.model, run.data.test.x[:120], "dense")
    np.testing.assert_allclose(table, expected, rtol=1e-4, atol=1e-5)
    labels = (run.log_dir / emb.metadata_path).read_text().splitlines()
    assert labels == [str(v) for v in run.data.test.y[:120]]
    assert (run.log_dir / emb.sprite.image_path).exists()


def test_compiled_functions_are_traced_once_across_epochs(run):
    maps = run.callback(nv.callbacks.ActivationMaps)
    emb = run.callback(nv.callbacks.EmbeddingProjection)
    assert maps._probe.trace_count == 1 and emb._probe.trace_count == 1


def test_callbacks_that_record_layers_share_one_pass_each_reading_its_own(run):
    maps = run.callback(nv.callbacks.ActivationMaps)
    emb = run.callback(nv.callbacks.EmbeddingProjection)
    dead = run.callback(nv.callbacks.DeadUnits)
    cam = run.callback(nv.callbacks.GradCAM)
    shared = maps._probe.compiled
    assert emb._probe.compiled is shared and dead._probe.compiled is shared
    assert cam._probe.compiled is shared and shared.trace_count == 1
    assert maps._probe.paths == ["conv1", "conv2", "dense"] and cam._probe.paths == []
    assert set(shared.paths) == {*maps._probe.paths, *emb._probe.paths, *dead._probe.paths}


def test_training_thread_is_held_briefly(run):
    # Generous bound (a loaded 2-core CI box); the real figures are in benchmarks/README.md.
    for cb in run.callbacks:
        assert max(cb.stats.blocking) < 1.0, (cb.name, cb.stats.blocking)
        assert cb.stats.background > 0


def test_tensorboards_projector_plugin_serves_the_export(run):
    """Not only a parseable config: TensorBoard's own projector plugin loads and serves it."""
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    apps = ProjectorPlugin(base_plugin.TBContext(logdir=str(run.log_dir))).get_plugin_apps()
    get = lambda route, **q: Client(apps[route], Response).get(route, query_string=q)
    [info] = json.loads(get("/info", run=".").get_data())["embeddings"]
    name = info["tensorName"]
    served = np.frombuffer(get("/tensor", run=".", name=name).get_data(), dtype=np.float32)
    expected = nv.get_activation(run.model, run.data.test.x[:120], "dense")
    np.testing.assert_allclose(served.reshape(120, 32), expected, rtol=1e-4, atol=1e-5)
    labels = get("/metadata", run=".", name=name).get_data().decode().split()
    assert labels == [str(v) for v in run.data.test.y[:120]]
    sprite = get("/sprite_image", run=".", name=name)
    assert sprite.status_code == 200 and sprite.get_data()[:4] == b"\x89PNG"


def test_manifest_records_the_training_curves_once(run):
    manifest = sinks.load_manifest(run.log_dir)
    [fit] = manifest["fits"]  # one fit, eight callbacks: the curves are stored once
    assert fit["model"] == run.model.name and fit["epochs"] == EPOCHS and fit["ended"]
    assert [m["epoch"] for m in fit["metrics"]] == list(range(1, EPOCHS + 1))
    np.testing.assert_allclose([m["loss"] for m in fit["metrics"]], run.history.history["loss"])
    for name, section in manifest["callbacks"].items():
        [record] = section["runs"]
        assert record["fit"] == fit["id"] and "metrics" not in record, name
