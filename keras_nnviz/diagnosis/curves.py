"""Checks on a fit's curves (its History): divergence, learning rate too high or too low,
overfitting, underfitting. Pure numpy on ``{"loss": [...], "val_loss": [...], ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from .findings import Finding

__all__ = ["CURVE_LIMITS", "curve_findings", "history_dict"]

#: Thresholds of the curve checks, measured on the sick/healthy zoo (tests/diagnosis).
CURVE_LIMITS = {
    # learning_rate_too_high: the share of epochs whose loss rose by more than `rose_by` ...
    "rose_by": 0.02,
    "rising_share": 0.3,
    # ... while the last loss is `above_best` × the lowest one and the training accuracy is
    # under `settled_accuracy` (a converged fit's small bumps are noise) ...
    "above_best": 1.1,
    "settled_accuracy": 0.9,
    # ... or the loss ends `went_up` × above where it started.
    "went_up": 1.15,
    # learning_rate_too_low: the loss fell by less than this share of its first value ...
    "flat": 0.1,
    # underfitting: the last `plateau_epochs` epochs moved the loss by less than `plateau`
    # (relative) each, while training accuracy stayed under `underfit_accuracy`.
    "plateau": 0.02,
    "plateau_epochs": 3,
    "underfit_accuracy": 0.8,
    # overfitting: validation loss `val_rise` above its minimum, `val_epochs` epochs after it,
    # while the training loss kept falling.
    "val_rise": 0.15,
    "val_epochs": 2,
}


def history_dict(history: Any) -> dict[str, np.ndarray]:
    """``History`` (``model.fit``'s return), its ``.history`` dict, or a dict of lists -> a dict
    of float arrays.

    Raises:
        InvalidArgumentError: anything else.
    """
    if history is None:
        return {}
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(
            "history must be what model.fit returns (a keras.callbacks.History), its .history "
            f"dict, or a dict of per-epoch lists like {{'loss': [...]}}; received "
            f"{type(history).__name__}."
        )
    out = {}
    for key, values in data.items():
        try:
            out[str(key)] = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            continue  # a non-numeric log (a learning-rate schedule's object): not a curve
    return out


def _accuracy(curves: dict[str, np.ndarray], prefix: str = "") -> np.ndarray | None:
    for key in ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy"):
        if prefix + key in curves:
            return curves[prefix + key]
    return None


def curve_findings(
    curves: dict[str, np.ndarray], train_accuracy: float | None = None
) -> tuple[list[Finding], list[str]]:
    """Findings from the curves; also the checks that could run.

    Args:
        curves: :func:`history_dict`.
        train_accuracy: accuracy on the diagnosed data when known (from the diagnosis pass);
            else the last ``accuracy`` of the curves is used.

    Returns:
        ``(findings, checked codes)``.
    """
    loss = curves.get("loss")
    if loss is None or loss.size == 0:
        return [], []
    lim = CURVE_LIMITS
    findings: list[Finding] = []
    checked = ["divergence"]
    bad = np.flatnonzero(~np.isfinite(loss))
    if bad.size:
        findings.append(
            Finding(
                "divergence",
                "error",
                f"The training loss became {loss[bad[0]]} at epoch {bad[0] + 1}: the fit diverged.",
                evidence={"epoch": int(bad[0] + 1), "loss": loss.tolist()},
                advice="Lower the learning rate (10x), add gradient clipping (clipnorm=1.0), "
                "and check the inputs and labels for NaN/inf.",
            )
        )
        return findings, checked
    if train_accuracy is None:
        acc = _accuracy(curves)
        train_accuracy = float(acc[-1]) if acc is not None and acc.size else None
    n = loss.size
    if n >= 3:
        checked += ["learning_rate_too_high", "learning_rate_too_low", "underfitting"]
        changes = np.diff(loss) / np.maximum(np.abs(loss[:-1]), 1e-12)
        rising = float(np.mean(changes > lim["rose_by"]))
        end_share = float(loss[-1] / loss[0]) if loss[0] > 0 else 1.0
        fell = float((loss[0] - loss.min()) / loss[0]) if loss[0] > 0 else 1.0
        evidence = {
            "first_loss": float(loss[0]),
            "last_loss": float(loss[-1]),
            "min_loss": float(loss.min()),
            "rising_epochs": rising,
            "train_accuracy": train_accuracy,
        }
        weak = train_accuracy is None or train_accuracy < lim["underfit_accuracy"]
        above_best = float(loss[-1] / loss.min()) if loss.min() > 0 else 1.0
        evidence["above_best"] = above_best
        unsettled = train_accuracy is None or train_accuracy < lim["settled_accuracy"]
        oscillating = rising >= lim["rising_share"] and above_best > lim["above_best"] and unsettled
        if oscillating or end_share > lim["went_up"]:
            findings.append(
                Finding(
                    "learning_rate_too_high",
                    "warning",
                    f"The training loss oscillates ({rising:.0%} of epochs went up) and ends at "
                    f"{end_share:.0%} of where it started.",
                    evidence=evidence,
                    advice="Divide the learning rate by 10 (or use a warm-up / decay schedule).",
                )
            )
        elif fell < lim["flat"] and weak:
            findings.append(
                Finding(
                    "learning_rate_too_low",
                    "warning",
                    f"The training loss barely moved: it fell by {fell:.1%} in {n} epochs"
                    + (
                        f" and training accuracy is {train_accuracy:.0%}."
                        if train_accuracy is not None
                        else "."
                    ),
                    evidence=evidence,
                    advice="Multiply the learning rate by 10 (Adam's default 1e-3 is a good "
                    "start), or run a learning-rate range test.",
                )
            )
        elif train_accuracy is not None and weak and n > lim["plateau_epochs"]:
            recent = np.abs(changes[-lim["plateau_epochs"] :])
            if np.all(recent < lim["plateau"]):
                findings.append(
                    Finding(
                        "underfitting",
                        "warning",
                        f"The training loss has plateaued at {loss[-1]:.3g} with training "
                        f"accuracy {train_accuracy:.0%}: the model cannot fit the training data.",
                        evidence={**evidence, "recent_changes": recent.tolist()},
                        advice="Give the model more capacity (wider/deeper layers), train "
                        "longer, or reduce regularization (dropout, weight decay).",
                    )
                )
    val = curves.get("val_loss")
    if val is not None and val.size >= lim["val_epochs"] + 2 and np.all(np.isfinite(val)):
        checked.append("overfitting")
        best = int(np.argmin(val))
        rise = float(val[-1] / val[best] - 1) if val[best] > 0 else 0.0
        after = val.size - 1 - best
        if after >= lim["val_epochs"] and rise > lim["val_rise"] and loss[-1] < loss[best]:
            findings.append(
                Finding(
                    "overfitting",
                    "warning",
                    f"Validation loss is {rise:.0%} above its minimum (epoch {best + 1}) while "
                    "the training loss keeps falling: the model memorises the training set.",
                    evidence={
                        "best_epoch": best + 1,
                        "val_loss": val.tolist(),
                        "loss": loss.tolist(),
                        "val_rise": rise,
                    },
                    advice=f"Stop at epoch {best + 1} (keras.callbacks.EarlyStopping("
                    "restore_best_weights=True)), add data augmentation, dropout or weight "
                    "decay.",
                )
            )
    return findings, checked
