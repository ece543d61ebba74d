"""``nv.diagnose``: one pass over (a sample of) the data (gradients, activations, outputs, the
loss per sample) plus the fit's History, read into ranked findings.

Everything measured comes from the existing families: the gradient-flow pass
(:mod:`keras_nnviz.diagnostics.flow`), dead units and activation statistics
(:mod:`keras_nnviz.diagnostics.units`), a recording pass (:func:`~keras_nnviz.core.compiled.
layer_pass`) for outputs and features, and :func:`keras_nnviz.get_attention`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import diagnostics, validation
from ..core import graph
from ..core.compiled import layer_pass
from ..core.distribute import distribute, on_parts, replicas_for, resolve
from ..core.inputs import prepare
from ..core.loop import iterate
from ..core.model import feature_layer, input_info, nonlinear_layers
from ..core.targets import class_indices, predicted_classes
from ..errors import InvalidArgumentError, InvalidInputError, NNVizError
from . import rules
from .curves import curve_findings, history_dict
from .findings import Diagnosis, Finding
from .shortcut import SHORTCUT_LIMITS, shortcut_findings, shortcut_maps
from .stream import DatasetSource, measure

__all__ = ["diagnose", "infer_loss", "per_sample_losses"]

_NORMALIZING = (keras.layers.Rescaling, keras.layers.Normalization)


def infer_loss(model: keras.Model, y: np.ndarray) -> str:
    """The loss a one-output model was most likely trained with, from its output and labels:
    sparse / categorical / binary crossentropy for a classifier, else mean squared error."""
    units = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    y = np.asarray(y)
    integer = y.dtype.kind in "biu" or (y.size and np.all(y == np.round(y)))
    if units and units > 1 and y.ndim == 1 and integer:
        return "sparse_categorical_crossentropy"
    if units and units > 1 and y.ndim == 2 and y.shape[-1] == units and integer:
        return "categorical_crossentropy"
    if units == 1 and integer and set(np.unique(y).tolist()) <= {0, 1}:
        return "binary_crossentropy"
    return "mean_squared_error"


def _per_sample_loss(loss_fn: Any, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    fn = loss_fn.call if isinstance(loss_fn, keras.losses.Loss) else loss_fn
    values = np.asarray(fn(tf.convert_to_tensor(y), tf.convert_to_tensor(pred, tf.float32)))
    return values.reshape(values.shape[0], -1).mean(axis=1) if values.ndim > 1 else values


def _class_probs(loss_fn: Any, pred: np.ndarray) -> np.ndarray | None:
    """Class probabilities ``(N, K)`` of a classifier's output, else None."""
    if pred.ndim != 2:
        return None
    config = loss_fn.get_config() if hasattr(loss_fn, "get_config") else {}
    name = str(config.get("name") or getattr(loss_fn, "__name__", "")).lower()
    if "crossentropy" not in name:
        return None
    if pred.shape[1] == 1:
        p = 1 / (1 + np.exp(-pred[:, 0])) if config.get("from_logits") else pred[:, 0]
        return np.stack([1 - p, p], axis=1)
    if config.get("from_logits"):
        z = np.exp(pred - pred.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return pred


def _class_labels(y: np.ndarray, classes: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == classes and classes > 1:
        return class_indices(y)
    return np.asarray(y).reshape(-1).round().astype(int)


def _output_layers(model: keras.Model) -> set[str]:
    layers = getattr(model, "layers", None) or []
    return {layers[-1].name} if layers else set()


def _outputs(model: keras.Model, data: Any, batch_size: int, feature: str | None):
    """Model output (single-output models) and the features of ``feature`` for every sample
    (each batch split across the replicas of an enclosing ``nv.distribute`` block)."""
    probe = layer_pass(model, [feature] if feature else [])
    replicas = replicas_for()
    preds, feats = [], []
    for batch in iterate(data, batch_size):
        out = on_parts(replicas, probe, batch.inputs)
        preds.append(np.asarray(tf.nest.flatten(out["outputs"])[0], dtype=np.float32))
        if feature:
            feats.append(np.asarray(out["layers"][probe.paths[0]], dtype=np.float32))
    return np.concatenate(preds), (np.concatenate(feats) if feature else None)


def _subsample(data: Any, max_samples: int) -> tuple[Any, np.ndarray]:
    """At most ``max_samples`` rows, spread evenly over ``x`` (indices into ``x``)."""
    idx = np.arange(data.n)
    if data.n > max_samples:
        idx = np.unique(np.linspace(0, data.n - 1, max_samples).round().astype(int))
    arrays = [a[idx] for a in data.arrays]
    return dataclasses.replace(data, arrays=arrays, n=len(idx)), idx


def _as_x(data: Any) -> Any:
    """Prepared arrays as ``x`` again (one array, or a list in ``model.inputs`` order)."""
    return data.arrays[0] if len(data.arrays) == 1 else list(data.arrays)


def _labels_for(model: keras.Model, y: Any, n: int) -> np.ndarray:
    """The labels of a one-output model as one array with a row per sample."""
    labels = diagnostics.label_arrays(model, y)
    if isinstance(labels, list):
        if len(labels) != 1:
            raise InvalidInputError(
                f"diagnose reads the labels of one-output models; received {len(labels)} label "
                "arrays. Diagnose without y, or a one-output model."
            )
        labels = labels[0]
    if labels.shape[:1] != (n,):
        raise InvalidInputError(
            f"Labels have {labels.shape[0] if labels.ndim else 0} rows but x has {n} samples; "
            "pass one label per sample."
        )
    return labels


def _mean_losses(sample_losses: Any, n: int) -> np.ndarray:
    """Per-sample losses ``(epochs, n)`` (or ``(n,)``) averaged over epochs."""
    losses = np.asarray(sample_losses, dtype=np.float64)
    if losses.ndim not in (1, 2) or losses.shape[-1] != n or not np.isfinite(losses).all():
        raise InvalidArgumentError(
            f"sample_losses must be finite per-sample losses of shape (epochs, {n}) or ({n},) "
            f"(one per sample of x); received shape {losses.shape}."
        )
    return losses.reshape(-1, n).mean(axis=0)


def _classification(
    probs: np.ndarray, labels: np.ndarray, sample_losses: np.ndarray | None
) -> tuple[list[Finding], float, np.ndarray]:
    """Class imbalance and label noise of a classifier: (findings, accuracy, suspects)."""
    classes = probs.shape[1]
    cls = _class_labels(labels, classes)
    correct = predicted_classes(probs) == cls
    recall = np.array(
        [correct[cls == c].mean() if np.any(cls == c) else np.nan for c in range(classes)]
    )
    findings = rules.imbalance_findings(cls, classes, recall)
    noise, ranked = rules.label_noise(probs, cls, sample_losses)
    return findings + noise, float(correct.mean()), ranked


def _array_input(model: keras.Model, x: Any, batch_size: int, what: str = "x"):
    if isinstance(x, tf.data.Dataset):
        raise InvalidInputError(
            f"diagnose takes arrays for {what} (labels must line up with the samples); "
            "received a tf.data.Dataset. Take some batches: x, y = next(iter(dataset.unbatch()"
            ".batch(1024)))."
        )
    data = prepare(model, x, batch_size)
    if not data.n:
        raise InvalidInputError(f"diagnose needs at least one sample in {what}; received 0.")
    return data


def _attention(model: keras.Model, x: Any, n: int) -> dict[str, np.ndarray]:
    from ..attention.capture import attention_layers, get_attention

    if not attention_layers(model):
        return {}
    try:
        return get_attention(model, x, batch_size=min(n, 64))
    except NNVizError:
        return {}  # flash attention or an unreadable site: nothing to judge


def diagnose(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    history: Any = None,
    validation_data: tuple[Any, Any] | None = None,
    loss: Any = None,
    x_new: Any = None,
    sample_losses: Any = None,
    max_samples: int = 1024,
    batch_size: int = 128,
    strategy: tf.distribute.Strategy | None = None,
) -> Diagnosis:
    """Say in words what is wrong with a model and its training, where, and what to try.

    One pass over (a sample of) the training data measures the loss gradient of every layer,
    dead and saturated units, the input scale, the per-sample loss and the model's confidence;
    the fit's History adds the curves. Each check that finds something gives a
    :class:`~keras_nnviz.diagnosis.Finding`; thresholds were chosen on a zoo of sick and healthy
    trainings (see docs/diagnostics.md). The model is not changed.

    Args:
        model: a built Keras model (one output for the label checks).
        x: training inputs (numpy/tensors, list/dict for multi-input models), as given to
            ``fit``; at most ``max_samples`` are used, spread evenly. Or a ``tf.data.Dataset``
            of ``x`` or ``(x, y)`` elements (batched or not) of any length, read once: the
            input, unit and gradient checks summarise every sample in memory bounded by a
            batch (running sums, :mod:`keras_nnviz.diagnosis.stream`); the checks that need
            samples one by one (class balance, label noise, shortcuts, ``x_new``, attention)
            read its first ``max_samples``.
        y: their labels (as for ``fit``); None for a dataset (its ``(x, y)`` elements carry
            them). Without labels only the unit, input and attention checks run.
        history: what ``model.fit`` returned (or its ``.history`` dict): divergence, learning
            rate, over- and underfitting.
        validation_data: ``(x_val, y_val)``: a train/validation gap without a history.
        loss: the loss to differentiate; default the compiled loss, else one inferred from the
            output and the labels (:func:`infer_loss`).
        x_new: inputs to check against ``x`` for being out of distribution (``ood_inputs``).
        sample_losses: per-sample training losses recorded over epochs, ``(epochs, len(x))``;
            ranks ``suspect_samples`` by their mean instead of by one pass's margin.
        max_samples: samples of ``x`` used (of a dataset: kept for the per-sample checks).
        batch_size: samples per pass.
        strategy: a ``tf.distribute.Strategy`` whose replicas share each batch of every pass
            (the diagnosis runs in an ``nv.distribute`` block: per-sample results joined in
            input order, the gradient merged over the parts); None: the one of an enclosing
            ``nv.distribute`` block, else one device.

    Returns:
        A :class:`~keras_nnviz.diagnosis.Diagnosis`: ``findings`` most severe first,
        ``suspect_samples`` (indices into ``x``), printable, ``_repr_html_``, ``to_json()``.

    Raises:
        InvalidInputError: x empty, labels that do not match x, y given with a dataset.
        InvalidArgumentError: a bad ``history`` or ``max_samples``.

    Example:
        >>> history = model.fit(x, y, validation_split=0.2, epochs=10)
        >>> d = nv.diagnose(model, x, y, history=history)
        >>> print(d)
        >>> d.suspect_samples[:10]
        >>> nv.diagnose(model, train_ds.take(10_000))    # a dataset of (x, y) batches
    """
    strategy = resolve(strategy)
    block = distribute(strategy) if strategy is not None else contextlib.nullcontext()
    with block:  # every pass of the diagnosis runs under the strategy
        start = time.perf_counter()
        max_samples = validation.positive_int("max_samples", max_samples)
        batch_size = validation.batch_size(batch_size)
        replicas = replicas_for()  # the block diagnose opened
        curves = history_dict(history)
        if validation_data is not None and (
            not isinstance(validation_data, tuple | list) or len(validation_data) != 2
        ):
            raise InvalidInputError(
                "validation_data must be (x_val, y_val), as for model.fit; received "
                f"{type(validation_data).__name__}."
            )
        relu = nonlinear_layers(model, diagnostics.RELU_FAMILY)
        saturating = nonlinear_layers(model, diagnostics.SATURATING)
        # One pass over the data (a dataset is read once, its first max_samples samples kept for the
        # per-sample checks below); arrays: over max_samples of them, spread evenly.
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise InvalidInputError(
                    "diagnose reads the labels of a tf.data.Dataset from its (x, y) elements; "
                    "received y as well. Pass y=None, or arrays for x."
                )
            source = DatasetSource(model, x, batch_size, max_samples)
            labels = source.first_labels
            batches: Any = source
        else:
            full = _array_input(model, x, batch_size)
            data, idx = _subsample(full, max_samples)
            full_n = full.n
            labels = None if y is None else _labels_for(model, y, full_n)[idx]
            label_batches = (
                [None] * -(-data.n // batch_size)
                if labels is None
                else diagnostics.labels_batches(model, labels, data.n, batch_size)
            )
            batches = zip((b.inputs for b in iterate(data, batch_size)), label_batches)
        flow = loss_fn = None
        if labels is not None:
            if loss is None and getattr(model, "loss", None) is None:
                loss = infer_loss(model, labels)
            loss_fn = diagnostics.resolve_loss(model, loss)
            diagnostics.check_labels(model, loss_fn, labels)
            flow = diagnostics.gradient_flow_pass(model, loss, parts=replicas is not None)
            if isinstance(x, tf.data.Dataset):
                source.check_labels = lambda batch: diagnostics.check_labels(model, loss_fn, batch)
        measured = measure(model, batches, relu, saturating, flow, replicas)
        if isinstance(x, tf.data.Dataset):
            data, labels = source.kept()
            full_n, idx = source.samples, np.arange(data.n)
        findings: list[Finding] = []
        checked: list[str] = ["unscaled_inputs"]
        suspects: list[int] = []
        normalized = any(
            isinstance(e.layer, _NORMALIZING) for e in graph.walk(model, include_sublayers=True)
        )
        findings += rules.input_findings(measured.inputs, normalized)
        checked += ["dead_units"] * bool(relu) + ["saturated_units"] * bool(saturating)
        dead = measured.dead
        findings += rules.unit_findings(dead, measured.stats, _output_layers(model))

        train_accuracy = None
        if labels is not None:
            rows = measured.flow
            checked += ["divergence", "vanishing_gradients", "exploding_gradients", "frozen_layer"]
            weights_ok = all(np.isfinite(np.asarray(w)).all() for w in model.trainable_weights)
            if not weights_ok or not np.isfinite(rows[0]["loss"] if rows else 0.0):
                findings.append(_diverged(model, rows))
            else:
                all_dead = [p for p, r in dead.items() if r["dead_fraction"] >= 1.0]
                findings += rules.gradient_findings(rows, all_dead)
                probs = _class_probs(loss_fn, _outputs(model, data, batch_size, None)[0])
                if probs is not None:
                    checked += ["class_imbalance", "label_noise"]
                    if sample_losses is not None:
                        sample_losses = _mean_losses(sample_losses, full_n)[idx]
                    more, train_accuracy, ranked = _classification(probs, labels, sample_losses)
                    findings += more
                    suspects = idx[ranked].tolist()
                    if input_info(model).is_image:
                        checked.append("shortcut")
                        k = min(data.n, SHORTCUT_LIMITS["samples"])
                        maps = shortcut_maps(model, data.arrays[0][:k], batch_size)
                        cls = _class_labels(labels, probs.shape[1])[:k]
                        findings += shortcut_findings(maps, cls)
                if validation_data is not None and not curves.get("val_loss", np.zeros(0)).size:
                    findings += _gap(
                        model, loss_fn, data, labels, validation_data, batch_size, checked
                    )
        feature = feature_layer(model) if x_new is not None else None
        if feature is not None:
            checked.append("ood_inputs")
            new, _ = _subsample(_array_input(model, x_new, batch_size, "x_new"), max_samples)
            _, train_feats = _outputs(model, data, batch_size, feature)
            _, new_feats = _outputs(model, new, batch_size, feature)
            findings += rules.ood_findings(train_feats, new_feats, feature)[0]
        more, names = curve_findings(curves, train_accuracy)
        checked += [c for c in names if c not in checked]
        if any(f.code == "divergence" for f in findings):
            more = [f for f in more if f.code != "divergence"]
        findings += more

        attention = _attention(model, _as_x(data), data.n)
        if attention:
            checked.append("attention_collapse")
            findings += rules.attention_findings(attention)
        return Diagnosis(
            findings=_explained(findings),
            suspect_samples=suspects,
            checked=checked,
            seconds=time.perf_counter() - start,
            model=model.name,
        )


#: Findings that stop learning: a flat loss or an underfit beside them is their symptom.
_CAUSES = (
    "divergence",
    "exploding_gradients",
    "vanishing_gradients",
    "dead_units",
    "saturated_units",
    "attention_collapse",
)


_TRAINING_FAULTS = {
    *_CAUSES,
    "frozen_layer",
    "unscaled_inputs",
    "learning_rate_too_high",
    "learning_rate_too_low",
    "underfitting",
}


def _explained(findings: list[Finding]) -> list[Finding]:
    """Drop ``learning_rate_too_low`` / ``underfitting`` when a cause of a flat loss was found;
    the cause's evidence notes the symptom instead."""
    faults = {f.code for f in findings} & _TRAINING_FAULTS
    if faults:
        # Label noise is judged on a model that trains well: a badly trained model disagrees
        # confidently with many right labels (the suspects stay in suspect_samples).
        findings = [f for f in findings if f.code != "label_noise"]
    collapsed = [p for f in findings if f.code == "attention_collapse" for p in f.layers]
    for f in findings:
        if f.code == "frozen_layer" and collapsed:
            # Without queries the keys get no gradient: part of the collapse, not a second fault.
            f.layers = [p for p in f.layers if not any(p.startswith(c + "/") for c in collapsed)]
    findings = [f for f in findings if f.code != "frozen_layer" or f.layers]
    causes = [f for f in findings if f.code in _CAUSES]
    if not causes:
        return findings
    symptoms = [f.code for f in findings if f.code in ("learning_rate_too_low", "underfitting")]
    for f in causes:
        if symptoms:
            f.evidence["symptoms"] = symptoms
    return [f for f in findings if f.code not in symptoms]


def per_sample_losses(
    model: keras.Model, x: Any, y: Any, *, loss: Any = None, batch_size: int = 128
) -> np.ndarray:
    """The loss of every sample (inference mode), for ``diagnose(sample_losses=...)``: record it
    after each epoch and stack the rows, ``(epochs, N)``.

    Args:
        model: a built one-output Keras model.
        x: inputs (arrays).
        y: labels, one per sample.
        loss: the loss; default the compiled one, else inferred (:func:`infer_loss`).
        batch_size: samples per pass.

    Returns:
        ``(N,)`` float64 array.

    Example:
        >>> rows = [nv.diagnosis.per_sample_losses(model, x, y)]  # after each epoch
        >>> nv.diagnose(model, x, y, sample_losses=np.stack(rows))
    """
    data = _array_input(model, x, validation.batch_size(batch_size))
    labels = _labels_for(model, y, data.n)
    if loss is None and getattr(model, "loss", None) is None:
        loss = infer_loss(model, labels)
    loss_fn = diagnostics.resolve_loss(model, loss)
    diagnostics.check_labels(model, loss_fn, labels)
    pred, _ = _outputs(model, data, batch_size, None)
    return np.asarray(_per_sample_loss(loss_fn, labels, pred), dtype=np.float64)


def _diverged(model: keras.Model, rows: list[dict[str, Any]]) -> Finding:
    names = diagnostics.variable_names(model, model.trainable_weights)
    broken = [
        names.get(id(v), v.name).rsplit("/", 1)[0]
        for v in model.trainable_weights
        if not np.isfinite(np.asarray(v)).all()
    ]
    return Finding(
        "divergence",
        "error",
        "The loss on this data is not finite"
        + (f" and {len(set(broken))} layer(s) hold NaN/inf weights." if broken else "."),
        layers=list(dict.fromkeys(broken)),
        evidence={"loss": rows[0]["loss"] if rows else None, "nonfinite_weights": len(broken)},
        advice="Lower the learning rate (10x), add gradient clipping (clipnorm=1.0), check the "
        "inputs and labels for NaN/inf, and restart from the last good checkpoint.",
    )


def _gap(model, loss_fn, data, labels, validation_data, batch_size, checked) -> list[Finding]:
    """Overfitting from one pass: validation loss far above the training loss."""
    checked.append("overfitting")
    x_val, y_val = validation_data
    val = _array_input(model, x_val, batch_size, "validation_data")
    y_val = np.asarray(y_val)
    pred_train, _ = _outputs(model, data, batch_size, None)
    pred_val, _ = _outputs(model, val, batch_size, None)
    train = float(_per_sample_loss(loss_fn, labels, pred_train).mean())
    held = float(_per_sample_loss(loss_fn, y_val, pred_val).mean())
    if not (held > 3 * train and held - train > 0.3):
        return []
    return [
        Finding(
            "overfitting",
            "warning",
            f"Validation loss {held:.3g} is {held / max(train, 1e-12):.1f}× the training loss "
            f"{train:.3g}: the model memorises the training set.",
            evidence={"train_loss": train, "val_loss": held},
            advice="Use early stopping, data augmentation, dropout or weight decay, or more "
            "training data.",
        )
    ]
