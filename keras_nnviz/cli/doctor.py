"""``nnviz doctor``: the findings of a finished run (``LOGDIR``, written by the ``Doctor``
callback) or of a saved model on some data (``MODEL DATA``), printed; exit 0 when nothing worse
than an info was found, 1 otherwise."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import CLIError

__all__ = ["EXIT_FOUND", "cmd_doctor", "logdir_diagnoses"]

#: Exit code when a warning or an error was found.
EXIT_FOUND = 1


def logdir_diagnoses(folder: Path) -> list[Any]:
    """The latest :class:`~keras_nnviz.diagnosis.Diagnosis` of every ``Doctor`` callback whose
    findings the manifest of ``folder`` holds (one per callback folder)."""
    from ..diagnosis import Diagnosis
    from ..io import load_manifest

    try:
        manifest = load_manifest(folder)
    except FileNotFoundError:
        raise CLIError(
            f"{folder} holds no keras_nnviz manifest; pass the log_dir given to the callbacks"
        ) from None
    found = []
    for name, section in (manifest.get("callbacks") or {}).items():
        params = section.get("params") or {}
        if section.get("class") == "Doctor" and isinstance(params.get("findings"), list):
            diagnosis = Diagnosis.from_dict(params)
            diagnosis.model = diagnosis.model or name
            found.append((name, params.get("epoch"), diagnosis))
    if not found:
        raise CLIError(
            f"{folder} holds no findings: add nv.callbacks.Doctor(log_dir, x=..., y=...) to the "
            "fit, or run nnviz doctor MODEL DATA.npz"
        )
    return found


def cmd_doctor(args: argparse.Namespace, load_model: Callable[..., Any]) -> int:
    """Print the findings of a run folder or of a model on data; 1 when any is a warning.

    ``load_model``: the command line's loader of saved models (``keras_nnviz.cli.load_model``).
    """
    target = Path(args.target)
    if not target.exists():
        raise CLIError(f"{args.target} not found: pass a run folder (LOGDIR) or a saved model")
    if target.is_dir():
        if args.data:
            raise CLIError(f"{target} is a log folder: pass no DATA with it")
        results = logdir_diagnoses(target)
    else:
        if not args.data:
            raise CLIError(
                f"nnviz doctor {args.target}: pass DATA (.npz with x and y) after a model file, "
                "or a log folder"
            )
        from ..diagnosis import diagnose
        from .data import load_data

        model = load_model(args.target, args.custom_objects)
        data = load_data(args.data, model, None, args.raw_pixels, args.max_samples)
        if data.y is None:
            print("note: DATA has no labels (y): gradient and label checks are skipped")
        diagnosis = diagnose(model, data.x, data.y, loss=args.loss, max_samples=args.max_samples)
        results = [(None, None, diagnosis)]
    worst = 0
    for name, epoch, diagnosis in results:
        if args.json:
            print(diagnosis.to_json())
        else:
            where = f" ({name}, epoch {epoch})" if name is not None else ""
            print(f"{diagnosis}{where}".rstrip())
        worst = max(worst, 0 if diagnosis.healthy else EXIT_FOUND)
    return worst
