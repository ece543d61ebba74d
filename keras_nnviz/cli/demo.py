"""``nnviz demo``: train two small models with the callbacks attached and write the report.

A CNN on scikit-learn's bundled digits (weights, activations, Grad-CAM, integrated gradients,
embedding, feature visualization) and a one-layer transformer on the synthetic flagged-value task
(attention maps, token saliency), both offline and small enough for a laptop CPU: about a minute
on two cores. Everything lands in one folder: ``report.html``, the frames, GIFs and TensorBoard
events, the trained models and their test data (to try ``nnviz report`` on).

TensorBoard: each model has its own runs under ``<out>/<model>/`` (``cnn``, ``transformer``):
Keras's ``train`` and ``validation`` (``keras.callbacks.TensorBoard``: loss and accuracy per
epoch) and ours, ``train/nnviz``, at the same steps (the picture after epoch e at Keras's step
for epoch e). The model's name is the run folder's first part rather than a ``log_dir`` of its own
because one ``log_dir`` keeps one manifest, hence one report listing both models.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CLIError

__all__ = [
    "cnn_stage",
    "MARKER",
    "model_sinks",
    "prepare_folder",
    "run",
    "STAGES",
    "transformer_stage",
]

MARKER = ".nnviz-demo"


def prepare_folder(out: Path) -> None:
    """Create ``out``; reuse it only when empty or written by an earlier demo."""
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file; pass a folder for the demo's output")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise CLIError(
                f"--out {out} is not empty and was not written by `nnviz demo`; pass a new folder"
            )
        shutil.rmtree(out)  # an earlier demo's files: start clean so no stale frame remains
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("written by nnviz demo; the next demo run replaces this folder\n")
    except OSError as exc:
        raise CLIError(f"cannot write to --out {out} ({exc.strerror or exc})") from None


def _progress_callback(label: str, epochs: int, say: Callable[[str], None]):
    import keras

    class Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            parts = [
                f"{k} {logs[k]:.3f}" for k in ("loss", "accuracy", "val_accuracy") if k in logs
            ]
            say(
                f"  {label} epoch {epoch + 1}/{epochs}  {'  '.join(parts)}  "
                f"({time.perf_counter() - self._start:.1f} s)"
            )

    return Progress()


def model_sinks(label: str) -> list:
    """Our sinks for one demo model, so that TensorBoard shows each model's runs apart.

    Args:
        label: the model's folder under ``out``; ``keras.callbacks.TensorBoard(out / label)``
            (in :func:`_fit_and_save`) writes ``<label>/train`` and ``<label>/validation``.

    Returns:
        ``sinks=`` for the model's callbacks: PNG, GIF and a TensorBoard sink writing the run
        ``<label>/train/nnviz`` beside Keras's.

    Example:
        >>> nv.callbacks.GradCAM(out, x=x[:8], sinks=model_sinks("cnn"))
    """
    from ..io.sinks import RUN, TensorBoardSink

    return ["png", TensorBoardSink(run=f"{label}/{RUN}"), "gif"]


@dataclass
class _Stage:
    """One model of the demo: what to say, fit and save."""

    label: str  # in the per-epoch progress lines; the model's TensorBoard folder (model_sinks)
    what: str  # the headline, before ": N epochs, K nnviz callbacks"
    model: Any
    train: tuple[Any, Any]
    test: dict[str, Any]  # x, y (validation) and what the saved .npz holds besides
    callbacks: list
    saved_as: tuple[str, str]  # models/<[0]>.keras, data/<[1]>.npz


def _fit_and_save(
    out: Path, stage: _Stage, headline: str, epochs: int, say: Callable[[str], None]
) -> None:
    """Announce, fit with the stage's callbacks plus the report and progress ones (validating on
    the test split), then save the model and the test split. Keras's own TensorBoard callback
    writes the loss and accuracy curves in the model's folder, beside our run (see
    :func:`model_sinks`)."""
    import keras

    import keras_nnviz as nv

    callbacks = [*stage.callbacks, nv.callbacks.Report(out)]
    say(f"{headline} {stage.what}: {epochs} epochs, {len(callbacks)} nnviz callbacks")
    # The demo's epochs take about a second: the default 5 % budget would draw only the first
    # and last ones; the demo shows every epoch (no limit on the callbacks' overhead).
    with nv.callbacks.budget(None):
        stage.model.fit(
            *stage.train,
            validation_data=(stage.test["x"], stage.test["y"]),
            epochs=epochs,
            batch_size=32,
            verbose=0,
            callbacks=[
                *callbacks,
                keras.callbacks.TensorBoard(out / stage.label),
                _progress_callback(stage.label, epochs, say),
            ],
        )
    (out / "models").mkdir(exist_ok=True)
    (out / "data").mkdir(exist_ok=True)
    stage.model.save(out / "models" / f"{stage.saved_as[0]}.keras")
    np.savez_compressed(out / "data" / f"{stage.saved_as[1]}.npz", **stage.test)


def cnn_stage(out: Path, epochs: int) -> _Stage:
    """The digits CNN with the image callbacks."""
    import keras

    import keras_nnviz as nv

    keras.utils.set_random_seed(0)
    data = nv.datasets.digits()
    x, y = data.test.x, data.test.y
    model = nv.datasets.digits_cnn()
    label = "cnn"
    tb = model_sinks(label)
    callbacks = [
        nv.callbacks.WeightHistograms(out, sinks=tb),
        nv.callbacks.WeightMatrices(out, layers=["conv1", "dense"], sinks=tb),
        nv.callbacks.ActivationMaps(out, x=x[:1], layers=["conv1", "conv2", "dense"], sinks=tb),
        nv.callbacks.GradCAM(out, x=x[:8], y=y[:8], class_names=data.class_names, sinks=tb),
        nv.callbacks.Attributions(
            out, x=x[:8], method="integrated_gradients", steps=16, signed=True, sinks=tb
        ),
        nv.callbacks.EmbeddingProjection(
            out,
            x=x[:300],
            labels=y[:300],
            layer="dense",
            class_names=data.class_names,
            every=1,
            sinks=tb,
        ),
        nv.callbacks.FeatureVisualization(
            out,
            objectives=[nv.objectives.class_logit(k) for k in range(10)],
            steps=64,
            every=max(1, epochs // 3),
            sinks=tb,
        ),
        nv.callbacks.GradientFlow(out, x=x[:64], y=y[:64], sinks=tb),
        nv.callbacks.DeadUnits(out, x=x[:128], sinks=tb),
    ]
    return _Stage(
        label,
        f"CNN on scikit-learn digits ({len(data.train.x)} train / {len(x)} test images, 8x8)",
        model,
        train=(data.train.x, data.train.y),
        test={"x": x, "y": y, "class_names": np.array(data.class_names)},
        callbacks=callbacks,
        saved_as=("digits_cnn", "digits_test"),
    )


def transformer_stage(out: Path, epochs: int) -> _Stage:
    """The flagged-value transformer with the attention callbacks."""
    import keras

    import keras_nnviz as nv

    keras.utils.set_random_seed(0)
    n_train = 1024
    data = nv.datasets.flagged_value(n_train + 256, seed=1)
    model = nv.datasets.flagged_value_transformer()
    # A slower learning rate than the builder's: attention visibly forms over a few epochs.
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    val = slice(n_train, None)
    label = "transformer"
    tb = model_sinks(label)
    callbacks = [
        nv.callbacks.AttentionMaps(out, x=data.x[val][:1], tokens=data.tokens[val][:1], sinks=tb),
        nv.callbacks.Attributions(
            out,
            x=data.x[val][:8],
            y=data.y[val][:8],
            tokens=data.tokens[val][:8],
            method="saliency",
            name="token_saliency",
            sinks=tb,
        ),
        nv.callbacks.WeightHistograms(out, name="transformer_weights", sinks=tb),
    ]
    return _Stage(
        label,
        "transformer on the flagged-value task (label = the value of the flagged token; "
        f"{n_train} sequences of 12 tokens)",
        model,
        train=(data.x[:n_train], data.y[:n_train]),
        test={
            "x": data.x[val],
            "y": data.y[val],
            "tokens": data.tokens[val],
            "class_names": np.array([str(v) for v in range(4)]),
        },
        callbacks=callbacks,
        saved_as=("flagged_transformer", "flagged_test"),
    )


# The demo's models, trained in this order (each stage is built when its turn comes).
STAGES = (cnn_stage, transformer_stage)


def run(out: Path, epochs: int, say: Callable[[str], None] = print) -> Path:
    """Train both models into ``out`` and return the report's path."""
    if epochs < 1:
        raise CLIError(f"--epochs must be at least 1; received {epochs}")
    start = time.perf_counter()
    prepare_folder(out)
    say(f"nnviz demo: writing to {out}/")
    labels = []
    for i, build in enumerate(STAGES, 1):
        stage = build(out, epochs)
        _fit_and_save(out, stage, f"[{i}/{len(STAGES)}]", epochs, say)
        labels.append(stage.label)
        del stage
    report = out / "report.html"
    if not report.exists():  # the Report callback warns instead of raising; say it plainly
        raise RuntimeError(f"the report was not written to {report}")
    size = report.stat().st_size / 1e6
    say(f"done in {time.perf_counter() - start:.0f} s")
    say(f"report: {report.resolve()} ({size:.1f} MB; open it in a browser, works offline)")
    say(
        f"also:   tensorboard --logdir {out}   (runs per model, {' and '.join(labels)}: Keras's "
        "loss and accuracy, train and validation, beside our pictures and histograms and the "
        "CNN's gradient-flow and dead-unit scalars, at the same epoch steps)"
    )
    say(
        f"next:   nnviz report {out / 'models' / 'digits_cnn.keras'} --data "
        f"{out / 'data' / 'digits_test.npz'} --out {out / 'cnn-report'}"
    )
    return report
