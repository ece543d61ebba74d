"""LiveView: one notebook output, updated in place each epoch (a fake IPython display here)."""

from __future__ import annotations

import copy
import html
import pickle
import re

import keras
import pytest

import keras_nnviz as nv


class FakeDisplay:
    """Records ``display(obj, display_id=True)`` and the handle's ``update(obj)`` calls."""

    def __init__(self):
        self.shown: list = []
        self.updates: list = []

    def __call__(self, obj, display_id=None):
        assert display_id is True  # one updatable output, not a new one per epoch
        self.shown.append(obj)
        return self

    def update(self, obj):
        self.updates.append(obj)


def page_of(obj) -> str:
    """The page inside the sandboxed iframe of one output."""
    frame = obj._repr_html_() if hasattr(obj, "_repr_html_") else obj.data
    assert 'sandbox="allow-scripts"' in frame
    return html.unescape(re.search(r'srcdoc="(.*?)"', frame, re.S).group(1))


@pytest.mark.slow
def test_one_cell_follows_the_epochs(tmp_path):
    data = nv.datasets.digits()
    fake = FakeDisplay()
    view = nv.callbacks.LiveView(tmp_path, display=fake)
    keras.utils.set_random_seed(0)
    nv.datasets.digits_cnn().fit(
        data.train.x[:64],
        data.train.y[:64],
        epochs=3,
        batch_size=32,
        verbose=0,
        callbacks=[
            nv.callbacks.ActivationMaps(tmp_path, x=data.test.x[:1], layers=["conv1"]),
            view,
        ],
    )
    assert len(fake.shown) == 1  # one output cell ...
    pages = [page_of(o) for o in fake.updates]
    assert len(pages) == 3 and view.updates == 4  # ... updated after epochs 1, 2 and at the end
    assert "training in progress — epoch 1 of 3" in pages[0]
    assert "training in progress — epoch 2 of 3" in pages[1]
    assert "training finished — 3 epoch(s)" in pages[2]
    for page in pages:
        assert "Content-Security-Policy" in page and "data:image/png;base64," in page
        assert "Activation maps · conv1" in page
    assert pages[0].count('class="nv-chart"') == 2  # loss and accuracy
    assert len(re.findall(r"<circle", pages[2])) == 2 * 3  # every epoch of both curves
    # The newest frame each time: epoch 1's picture differs from the final one.
    pic = re.compile(r'src="(data:image/png;base64,[^"]+)"')
    assert pic.search(pages[0]).group(1) != pic.search(pages[2]).group(1)


def test_outside_a_notebook_it_says_so_and_does_nothing(tmp_path):
    view = nv.callbacks.LiveView(tmp_path)
    with pytest.warns(nv.callbacks.VisualizationWarning, match="no notebook"):
        view.on_train_begin()
    view.on_epoch_end(0, {"loss": 1.0})
    view.on_epoch_begin(1)
    view.on_train_end()
    assert view.updates == 0


def test_copies_keep_the_configuration(tmp_path):
    view = nv.callbacks.LiveView(tmp_path, max_pictures=3)
    for twin in (copy.deepcopy(view), pickle.loads(pickle.dumps(view))):
        assert twin.max_pictures == 3 and twin.log_dir == view.log_dir and twin.updates == 0
    with pytest.raises(nv.InvalidArgumentError, match="max_pictures"):
        nv.callbacks.LiveView(tmp_path, max_pictures=-1)
