"""nv.diagnose on the sick/healthy zoo: every sick training is named in the top two findings,
no healthy one gets a warning, and label noise is found sample by sample.

Each training is built once per session (they take a few seconds each on two CPU cores).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import keras_nnviz as nv

from . import trainings

pytestmark = [
    pytest.mark.slow,
    # the frozen_layer training: Keras says the detached branch gets no gradient (our finding)
    pytest.mark.filterwarnings("ignore:Gradients do not exist:UserWarning"),
]


@functools.cache
def diagnosed(name: str):
    case = {**trainings.HEALTHY, **trainings.SICK}[name]()
    return case, nv.diagnose(case.model, case.x, case.y, **case.kwargs)


@pytest.mark.parametrize("name", list(trainings.HEALTHY))
def test_healthy_training_gets_no_warning(name):
    _, diagnosis = diagnosed(name)
    assert diagnosis.healthy, str(diagnosis)


@pytest.mark.parametrize("name", list(trainings.SICK))
def test_sick_training_is_named(name):
    case, diagnosis = diagnosed(name)
    top = diagnosis.codes[:2]
    for code in case.expect:
        assert code in top, str(diagnosis)
    assert diagnosis.findings[0].severity in ("warning", "error")
    assert code in diagnosis.checked


def test_label_noise_suspects_are_the_flipped_samples():
    case, diagnosis = diagnosed("label_noise")
    flipped = case.extra["flipped"]
    k = len(flipped) // 2
    top = diagnosis.suspect_samples[:k]
    assert len(top) == k
    precision = float(np.isin(top, flipped).mean())
    assert precision >= 0.8, precision


def test_suspects_ranked_by_recorded_losses():
    """Per-sample losses over epochs (sample_losses=) rank the suspects instead of one pass."""
    case, _ = diagnosed("label_noise")
    flipped = case.extra["flipped"]
    losses = nv.diagnosis.per_sample_losses(case.model, case.x, case.y)[None]
    diagnosis = nv.diagnose(case.model, case.x, case.y, sample_losses=losses)
    k = len(flipped) // 2
    assert np.isin(diagnosis.suspect_samples[:k], flipped).mean() >= 0.8
