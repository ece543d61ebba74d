"""The architecture graph's drawing: every edge visible, skip connections routed around boxes."""

from __future__ import annotations

import importlib
import re

import keras
import pytest
from keras import layers as L

import keras_nnviz as nv

# The module: the name nv.plot.architecture is the drawing function.
graph_plot = importlib.import_module("keras_nnviz.plot.architecture")


def _residual(blocks: int, nested: bool) -> keras.Model:
    """A chain of residual blocks (x + f(x), three layers in f), optionally as a nested model."""
    inp = keras.Input((8, 8, 4))
    h = inp
    for b in range(blocks):
        f = L.Conv2D(4, 3, padding="same", name=f"b{b}_conv")(h)
        f = L.BatchNormalization(name=f"b{b}_bn")(f)
        f = L.ReLU(name=f"b{b}_relu")(f)
        h = L.Add(name=f"b{b}_add")([h, f])
    body = keras.Model(inp, h, name="body")
    if not nested:
        return keras.Model(inp, L.Dense(2, name="out")(L.GlobalAveragePooling2D()(h)))
    outer_in = keras.Input((8, 8, 4))
    out = L.Dense(2, name="out")(L.GlobalAveragePooling2D()(body(outer_in)))
    return keras.Model(outer_in, out)


@pytest.mark.parametrize("nested", [False, True], ids=["functional", "nested"])
def test_every_skip_connection_runs_in_a_lane_clear_of_the_boxes_it_passes(nested):
    model = _residual(3, nested)
    arch = nv.architecture(model)
    opened = [n["id"] for n in arch["nodes"] if n["is_group"]]
    svg = graph_plot.svg(arch, expanded=opened)
    boxes = graph_plot.layout(arch, expanded=opened)["boxes"]
    width = float(re.search(r'<svg [^>]*width="([\d.]+)"', svg).group(1))
    skips = re.findall(r'<path class="nv-edge nv-skip" d="([^"]+)"', svg)
    assert len(skips) == 3  # one per residual block: input -> add, past conv, bn, relu
    for d in skips:
        lane = float(re.search(r"L([\d.]+),", d).group(1))
        ys = [float(v) for v in re.findall(r"[ ,MCL][\d.]+,([\d.]+)", d)]
        top, bottom = min(ys), max(ys)
        passed = [
            (x, w)
            for nid, (x, y, w, h) in boxes.items()
            if y > top and y + h < bottom and nid not in opened
        ]
        assert len(passed) == 3  # conv, bn, relu lie between the ends of the skip edge
        assert all(lane > x + w for x, w in passed)  # and the lane is right of each of them
        assert lane < width  # inside the picture
    # The plain chain edges stay straight (no lane): 3 blocks x 3 edges into f and out of it.
    assert svg.count('class="nv-edge"') >= 9
