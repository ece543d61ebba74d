"""Report, CLI and callbacks pick the same default layers, predicted classes and token embedding
for one model (core.model and core.targets decide)."""

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


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sequential", "nested"])
def test_report_cli_and_callbacks_show_the_same_predicted_class(zoo, name, tmp_path):
    from keras_nnviz.cli.explained import explained

    case = zoo(name)
    model, x = case.model, case.x[:6]
    ctx = ReportContext(model, x, None, None, None, tmp_path, 8, True)
    cam = nv.callbacks.GradCAM(tmp_path / "g", x=x)
    cam.validate(model)
    _, callback_pred = cam.compute(model)  # the first compute runs now
    cli = explained(model, x)  # `nnviz gradcam` captions: the class each map explains
    assert ctx.pred.tolist() == callback_pred.tolist() == cli.classes.tolist()
    assert ctx.pred.tolist() == model.predict(x, verbose=0).argmax(axis=1).tolist()


@pytest.fixture(scope="module")
def text_case():
    from tests.zoo import transformer_functional

    return transformer_functional()


@pytest.mark.slow
def test_every_part_takes_token_attributions_at_the_one_embedding(text_case, tmp_path):
    from keras_nnviz.core.inputs import input_slots
    from keras_nnviz.report.views import explain_view

    model, x = text_case.model, text_case.x[:2]
    path = M.embedding_layer(model)
    assert path == "embedding" and M.token_input(model) == 0 and M.is_text_model(model)
    assert M.default_attribution(model) == ("integrated_gradients", path)
    assert input_slots(model)[0].vocabulary == (path, 20)  # the ids checked against it
    # The explainers' own default (token ids have no gradient), the report / CLI view and the
    # callbacks: the same layer.
    assert nv.Saliency(model).layer_path == path
    view = explain_view(model, x, method="saliency")
    assert (view.layer, view.kind) == (path, "tokens")
    cb = nv.callbacks.Attributions(tmp_path / "a", x=x, method="saliency")
    cb.validate(model)
    assert cb._explainer.layer_path == path
