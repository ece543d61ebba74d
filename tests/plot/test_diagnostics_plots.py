"""Diagnostic plots render to non-blank PNGs."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from tests.conftest import png_is_not_blank

ROWS = [
    {
        "name": f"dense_{i}/kernel",
        "layer": f"dense_{i}",
        "shape": (8, 8),
        "grad_mean_abs": 10.0 ** (i - 6),
        "grad_max_abs": 10.0 ** (i - 5),
    }
    for i in range(6)
] + [
    {
        "name": "dense_0/bias",
        "layer": "dense_0",
        "shape": (8,),
        "grad_mean_abs": 1.0,
        "grad_max_abs": 1.0,
    }
]

CASES = {
    "gradient_flow": lambda: nv.plot.gradient_flow(ROWS),
    "layer_epoch_heatmap": lambda: nv.plot.layer_epoch_heatmap(
        {f"dense_{i}": list(np.logspace(-6 + i, -4 + i, 8)) for i in range(5)}, label="‖g‖"
    ),
    "dead_units": lambda: nv.plot.dead_units(
        {
            "dense_0": {"dead_fraction": 0.05, "dead": 1, "units": 20},
            "dense_1": {"dead_fraction": 0.95, "dead": 19, "units": 20},
        }
    ),
    "activation_stats": lambda: nv.plot.activation_stats(
        [
            {
                "layer": "a",
                "activation": "tanh",
                "mean": 0.1,
                "std": 0.8,
                "zeros": 0.0,
                "saturated": 0.4,
            },
            {
                "layer": "b",
                "activation": "relu",
                "mean": 0.5,
                "std": 0.3,
                "zeros": 0.6,
                "saturated": float("nan"),
            },
        ]
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_diagnostic_plot_renders(name):
    assert png_is_not_blank(nv.plot.to_png(CASES[name]()))


def test_gradient_flow_plot_skips_biases_and_uses_log_scale():
    fig = nv.plot.gradient_flow(ROWS)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"dense_{i}" for i in range(6)]
