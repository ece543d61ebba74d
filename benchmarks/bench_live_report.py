"""What the live report costs a fit: the digits CNN with every callback, live Report or not.

Prints the fit time, the Report's own training-thread time per hook (median / max), each live
page's build time on the writer thread, and the final page. Run from the repository root:
``python benchmarks/bench_live_report.py`` (about a minute on two cores).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras_nnviz as nv  # noqa: E402
from tests.callbacks.conftest import every_callback  # noqa: E402


def run(live: bool) -> str:
    log = Path(tempfile.mkdtemp(prefix="nnviz-bench-live-"))
    data = nv.datasets.digits()
    model = nv.datasets.digits_cnn()
    report = nv.callbacks.Report(log, live=live)
    hooks: list[float] = []
    for name in ("on_epoch_begin", "on_epoch_end"):
        original = getattr(report, name)

        def timed(*args, _original=original, **kwargs):
            start = time.perf_counter()
            result = _original(*args, **kwargs)
            hooks.append(time.perf_counter() - start)
            return result

        setattr(report, name, timed)
    start = time.perf_counter()
    model.fit(
        data.train.x[:640],
        data.train.y[:640],
        epochs=8,
        batch_size=32,
        verbose=0,
        callbacks=[*every_callback(log, data), report],
    )
    fit = time.perf_counter() - start
    pages = ", ".join(f"{1e3 * s:.0f}" for s in report.live_seconds) or "-"
    return (
        f"live={live}: fit {fit:.1f} s; Report hooks median {1e3 * np.median(hooks):.2f} ms, "
        f"max {1e3 * max(hooks):.1f} ms; live pages [{pages}] ms; final page "
        f"{1e3 * report.build_seconds:.0f} ms, {report.path.stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    for live in (False, True):
        print(run(live), flush=True)
