"""Report, CLI and callbacks pick the same default layers for one model (core.model decides)."""

from __future__ import annotations

import pytest

import keras_nnviz as nv
from keras_nnviz.core import model as M
from keras_nnviz.report._context import ReportContext, activation_layers


@pytest.mark.parametrize("name", ["sequential", "nested", "conv1d", "custom_layer"])
def test_report_cli_and_callbacks_choose_the_same_layers(zoo, name, tmp_path):
    case = zoo(name)
    model, x = case.model, case.x
    ctx = ReportContext(model, x, None, None, None, tmp_path, 8, True)
    report_layers = activation_layers(ctx)

    maps = nv.callbacks.ActivationMaps(tmp_path / "a", x=x[:1])
    maps.validate(model)
    assert maps._order == report_layers == M.default_activation_layers(model)

    cam = nv.callbacks.GradCAM(tmp_path / "g", x=x[:2])
    cam.validate(model)
    # The CLI's `nnviz gradcam` and the report's Grad-CAM section ask core.model directly.
    assert cam._explainer.layer_path == M.default_cam_layer(model)
    assert nv.GradCAM(model).layer_path == M.default_cam_layer(model)
