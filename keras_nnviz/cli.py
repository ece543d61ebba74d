"""The ``nnviz`` command line (also ``python -m keras_nnviz``).

Bad input (missing file, not a Keras model, data of the wrong shape) prints one line on stderr
and exits with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


class CLIError(Exception):
    """A user mistake on the command line: reported as one line, exit code 2."""


def load_custom_objects(specs: Sequence[str]) -> dict[str, Any]:
    """Import ``module:attr`` specs; a dict attr is merged, a class/function is added by name.

    Importing the module also runs its ``@keras.saving.register_keras_serializable`` decorators.
    """
    objects: dict[str, Any] = {}
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise CLIError(
                f"--custom-objects {spec!r}: cannot import {module_name!r} ({exc})"
            ) from None
        if not attr:
            continue
        if not hasattr(module, attr):
            raise CLIError(f"--custom-objects {spec!r}: module {module_name!r} has no {attr!r}")
        value = getattr(module, attr)
        if isinstance(value, dict):
            objects.update(value)
        else:
            objects[getattr(value, "__name__", attr)] = value
    return objects


def load_model(path: str, custom_objects: Sequence[str] = ()) -> Any:
    """Load a saved Keras model (``.keras``/``.h5``) or raise :class:`CLIError` saying why."""
    file = Path(path)
    if not file.exists():
        raise CLIError(f"model file not found: {path}")
    if file.is_dir():
        raise CLIError(f"{path} is a folder; pass a saved model file (.keras or .h5)")
    if file.suffix not in (".keras", ".h5", ".hdf5"):
        raise CLIError(f"{path} is not a Keras model file (expected .keras or .h5)")
    objects = load_custom_objects(custom_objects)
    import keras

    try:
        return keras.saving.load_model(file, custom_objects=objects or None, compile=False)
    except Exception as exc:  # Keras raises many types for unreadable files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = ""
        if "custom" in reason.lower() or "unknown" in reason.lower():
            hint = " (a custom layer? pass --custom-objects module:attr)"
        raise CLIError(f"could not load {path} as a Keras model: {reason[:300]}{hint}") from None


def cmd_layers(args: argparse.Namespace) -> int:
    """Print layer paths, types, output shapes and parameter counts."""
    import keras_nnviz as nv

    model = load_model(args.model, args.custom_objects)
    rows = [("path", "type", "output shape", "params")]
    for entry in nv.graph.walk(model, include_sublayers=args.all):
        shape = nv.graph.output_shape(entry.layer)
        rows.append(
            (
                entry.path,
                type(entry.layer).__name__,
                str(tuple(shape)) if shape else "?",
                f"{entry.layer.count_params():,}" if entry.layer.built else "?",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{model.name}: {model.count_params():,} parameters")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="nnviz", description="See inside Keras 3 models: keras_nnviz on the command line."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    layers = sub.add_parser("layers", help="list layer paths, shapes and parameter counts")
    layers.add_argument("model", help="saved model (.keras / .h5)")
    layers.add_argument("--all", action="store_true", help="include layers inside custom layers")
    _add_custom_objects(layers)
    layers.set_defaults(func=cmd_layers)
    return parser


def _add_custom_objects(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--custom-objects",
        action="append",
        default=[],
        metavar="MODULE:ATTR",
        help="import custom layers/objects (a dict or a class); repeatable",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnviz`` console script; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except Exception as exc:
        from .errors import NNVizError

        if args.debug:
            raise
        if isinstance(exc, CLIError | NNVizError | FileNotFoundError):
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            print(f"nnviz {args.command}: error: {message}", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"nnviz {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
