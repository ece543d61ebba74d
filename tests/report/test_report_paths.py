"""A hostile manifest embeds nothing from outside its log_dir; callback names stay inside it."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.io.paths import check_name, contained


def _png() -> bytes:
    from keras_nnviz.io import encode_png

    return encode_png(np.zeros((4, 4, 3), "uint8"))


def _entry(path: str, tag: str) -> dict:
    return {
        "callback": "maps", "tag": tag, "kind": "frame", "sink": "png", "media": "image/png",
        "path": path, "epoch": 1, "batch": None, "step": 1, "final": False,
        "width": 4, "height": 4, "caption": tag, "time": "2026-01-01T00:00:00Z",
    }  # fmt: skip


def test_manifest_paths_outside_log_dir_are_never_embedded(tmp_path):
    log_dir = tmp_path / "run"
    (log_dir / "maps").mkdir(parents=True)
    (log_dir / "maps" / "ok.png").write_bytes(_png())
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    (log_dir / "maps" / "link.png").symlink_to(secret)
    hostile = [
        "../secret.txt",
        str(secret),
        "maps/../../secret.txt",
        "maps/link.png",
        "/etc/hostname",
    ]
    manifest = {
        "format": "keras_nnviz.manifest",
        "version": 1,
        "updated": "2026-01-01T00:00:00Z",
        "callbacks": {"maps": {"class": "ActivationMaps", "title": "maps", "tags": [], "runs": []}},
        "entries": [_entry("maps/ok.png", "good")]
        + [_entry(p, f"bad{i}") for i, p in enumerate(hostile)],
    }
    (log_dir / "nnviz_manifest.json").write_text(json.dumps(manifest))
    html = nv.build_report(log_dir).read_text(encoding="utf-8")
    leaked = base64.b64encode(b"TOP-SECRET-CONTENT").decode()[:16]
    assert "TOP-SECRET" not in html and leaked not in html
    assert base64.b64encode(_png()).decode()[:16] in html  # the good frame is there


@pytest.mark.parametrize(
    "relative", ["../x", "/etc/passwd", "a/../../x", "C:\\x", "a\x00b", "", "..\\..\\x"]
)
def test_contained_refuses_what_leaves_the_folder(tmp_path, relative):
    assert contained(tmp_path, relative) is None


def test_contained_keeps_what_stays_inside(tmp_path):
    assert contained(tmp_path, "a/b.png") == (tmp_path / "a" / "b.png").resolve()


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", " ", "a\\b", "x\x1b[2J"])
def test_callback_names_must_be_one_plain_folder(name):
    with pytest.raises(nv.InvalidArgumentError, match="plain folder name"):
        check_name(name)
