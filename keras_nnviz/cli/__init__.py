"""The ``nnviz`` command line (also ``python -m keras_nnviz``).

Commands: ``demo`` (train two small models with the callbacks, write an HTML report),
``doctor`` (what is wrong with a training: a run folder's findings, or a model on data),
``report`` (HTML report of a saved model on some data), ``gradcam`` (Grad-CAM of image files),
``layers`` (layer paths, shapes, parameter counts), ``graph`` (architecture graph), ``serve``
(watch training runs in a browser on 127.0.0.1).

Bad input (missing file, not a Keras model, data of the wrong shape, unreadable image) prints one
line on stderr and exits with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import CLIError
from .terminal import CleanStream, import_tensorflow_quietly

EXIT_USAGE = 2
__all__ = ["CLIError", "build_parser", "load_custom_objects", "load_model", "main"]


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
    import zipfile

    if file.suffix == ".keras" and not zipfile.is_zipfile(file):
        raise CLIError(f"{path} is not a Keras model file: a .keras file is a zip archive")
    objects = load_custom_objects(custom_objects)
    import keras

    try:
        return keras.saving.load_model(file, custom_objects=objects or None, compile=False)
    except Exception as exc:  # Keras raises many types for unreadable files
        raise CLIError(f"could not load {path} as a Keras model: {_load_failure(exc)}") from None


def _load_failure(exc: BaseException) -> str:
    """The one line of a Keras loading error that names the cause (and how to fix it)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    missing = re.search(r"Could not locate (?:class|function) '([^']+)'", str(exc))
    if missing:
        return (
            f"it uses the custom object {missing.group(1)!r}, which is not registered here; pass "
            f"--custom-objects module:{missing.group(1)} (the module that defines it)"
        )
    reason = lines[0] if lines else type(exc).__name__
    hint = ""
    if "custom" in reason.lower() or "unknown" in reason.lower():
        hint = " (a custom layer? pass --custom-objects module:attr)"
    return f"{reason[:300]}{hint}"


def cmd_layers(args: argparse.Namespace) -> int:
    """Print layer paths, types, output shapes and parameter counts."""
    from ..report import layer_rows

    model = load_model(args.model, args.custom_objects)
    rows = [["path", "type", "output shape", "params"], *layer_rows(model, args.all)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\n{model.name}: {model.count_params():,} parameters")
    return 0


def _out_dir(spec: str) -> Path:
    out = Path(spec)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {spec} is a file; pass a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create --out {spec} ({exc.strerror or exc})") from None
    return out


def _method_name(value: str) -> str:
    """``--method``: a name from the attribution registry, or a usage error listing them.

    A ``type=`` check, not ``choices=``: argparse reads it only for a value given, while
    formatting ``--help`` would list choices and import TensorFlow (the registry's modules do).

    Args:
        value: the name given on the command line.

    Returns:
        ``value``, a key of :data:`keras_nnviz.attribution.registry.METHODS`.

    Example:
        >>> _method_name("saliency")
        'saliency'
    """
    from ..attribution import registry

    if value not in registry.names():
        raise argparse.ArgumentTypeError(
            f"unknown method {value!r}; choose from {', '.join(registry.names())}"
        )
    return value


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {value!r}")
    return number


def cmd_demo(args: argparse.Namespace) -> int:
    """Train the demo models with the callbacks and write the report."""
    from . import demo

    demo.run(Path(args.out), args.epochs, say=lambda line: print(line, flush=True))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """HTML report of a saved model on the given data."""
    from ..report import SECTIONS, model_report
    from .data import load_data, parse_labels

    sections = None
    if args.sections:
        sections = [s.strip() for s in args.sections.split(",") if s.strip()]
        unknown = [s for s in sections if s not in SECTIONS]
        if unknown:
            raise CLIError(f"--sections: unknown {unknown}; choose from {', '.join(SECTIONS)}")
    labels = parse_labels(args.labels)
    model = load_model(args.model, args.custom_objects)
    data = load_data(args.data, model, labels, args.raw_pixels, args.max_samples)
    out = _out_dir(args.out)
    print(f"nnviz report: {model.name} on {data.n} samples from {args.data}", flush=True)
    path = model_report(
        model,
        data.x,
        data.y,
        out=out / "report.html",
        class_names=data.class_names,
        tokens=data.tokens,
        sections=sections,
        featureviz_steps=args.steps,
        max_samples=args.max_samples,
        progress=lambda line: print(f"  {line}", flush=True),
    )
    print(f"report: {path.resolve()}")
    return 0


def _output_arg(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def cmd_gradcam(args: argparse.Namespace) -> int:
    """Attribution maps of image files (or of the samples of a .npz file): one PNG per sample.

    The method applies to the model (``--method`` overrides it): Grad-CAM for CNNs, Grad-CAM
    on the patch grid of an image transformer, integrated gradients per token for text models.
    """
    import keras_nnviz as nv

    from ..attribution import registry
    from ..report.views import explain_view
    from .data import image_input, load_data, load_images, parse_labels
    from .explained import explained

    model = load_model(args.model, args.custom_objects)
    labels = parse_labels(args.labels)
    arrays = [p for p in args.images if Path(p).suffix.lower() in (".npz", ".npy")]
    tokens = None
    if arrays:
        if len(args.images) != 1:
            raise CLIError("pass one .npz/.npy file, or image files, not both")
        data = load_data(args.images[0], model, labels, args.raw_pixels, args.max_samples)
        x, tokens, labels = data.x, data.tokens, labels or data.class_names
        stem = Path(args.images[0]).stem
        names = [f"{stem}_{i}" for i in range(data.n)]
    else:
        image_input(model, "nnviz gradcam")
        x = load_images(args.images, model, args.raw_pixels)
        names = [Path(p).stem for p in args.images]
    layer = nv.core.graph.layer_path(model, args.layer) if args.layer else None
    target, output = args.target, _output_arg(args.output)
    view = explain_view(model, x, target, method=args.method, layer=layer, output=output)
    shown = explained(model, x, target, output)  # the class each map explains
    out = _out_dir(args.out)
    method, suffix = registry.get(view.method).title, registry.get(view.method).slug
    where = view.layer or "input"
    used: set[str] = set()
    # A subclassed model's input kind is unknown until called; maps shaped like the images
    # given are drawn on them all the same.
    on_images = view.kind == "image" or (
        not isinstance(x, list) and x.ndim == 4 and view.maps.shape == x.shape[:3]
    )
    for i, stem in enumerate(names):
        caption = shown.caption(i, labels)
        while stem in used:
            stem += "_"
        used.add(stem)
        if on_images:
            fig = nv.plot.attribution_grid(
                x[i : i + 1],
                view.maps[i : i + 1],
                titles=[caption],
                method=method,
                title=f"{method} · {stem} · {where}",
            )
        elif view.kind == "tokens" and tokens is not None and len(tokens[i]) == view.maps.shape[1]:
            fig = nv.plot.attention_text(
                view.maps[i], [str(t) for t in tokens[i]], title=f"{method} · {stem} · {caption}"
            )
        else:
            fig = nv.plot.sequence_attribution(
                view.maps[i].reshape(view.maps.shape[1], -1).sum(axis=-1),
                title=f"{method} · {stem} · {caption}",
            )
        saved = nv.plot.save(fig, out / f"{stem}_{suffix}.png")
        print(f"{stem}: {shown.caption(i, labels, digits=3)} -> {saved}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    """Interactive architecture graph of a saved model (HTML, or SVG by the file suffix)."""
    import keras_nnviz as nv

    model = load_model(args.model, args.custom_objects)
    out = Path(args.out)
    if out.suffix.lower() not in ("", ".html", ".htm", ".svg"):
        raise CLIError(f"--out {args.out}: write .html (interactive) or .svg (static)")
    if out.exists() and out.is_dir():
        out = out / "graph.html"
    saved = nv.plot.architecture(model).save(out)
    print(f"{model.name}: {len(nv.architecture(model)['nodes'])} layers -> {saved.resolve()}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a log folder on 127.0.0.1 until Ctrl-C."""
    from .. import validation
    from .serve import serve

    if not Path(validation.path_like("logdir", args.logdir)).is_dir():
        raise CLIError(f"{args.logdir} is not a folder; pass the log_dir given to the callbacks")
    try:
        serve(args.logdir, args.port, say=lambda line: print(line, flush=True))
    except OSError as exc:
        raise CLIError(f"cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc})") from None
    return 0


def _explore(args: argparse.Namespace) -> int:
    from .explore import cmd_explore

    return cmd_explore(args, load_model)


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import cmd_doctor

    return cmd_doctor(args, load_model)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), like every other bad input here."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# Arguments several commands take, declared once: (flags, add_argument keywords).
def _arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One argument, as ``add_argument(*flags, **options)`` takes it."""
    return flags, options


# Arguments several commands take, declared once.
_SHARED: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "model": _arg("model", help="saved model (.keras / .h5)"),
    "labels": _arg(
        "--labels",
        metavar="NAMES|FILE",
        help="class names: comma-separated (cat,dog) or a text file with one per line",
    ),
    "raw_pixels": _arg(
        "--raw-pixels",
        action="store_true",
        help="feed image pixels as 0-255 (default: scaled to [0, 1])",
    ),
    "custom_objects": _arg(
        "--custom-objects",
        action="append",
        default=[],  # argparse appends to a copy
        metavar="MODULE:ATTR",
        help="import custom layers/objects (a dict or a class); repeatable",
    ),
}


def _out(default: str, metavar: str = "DIR", help: str = "output folder") -> tuple:
    return _arg("--out", default=default, metavar=metavar, help=help)


def _max_samples(default: int) -> tuple:
    return _arg("--max-samples", type=_positive, default=default, metavar="N")


# Every subcommand: (name, handler, help, description, arguments in --help order); a string
# names an argument of _SHARED.
_COMMANDS: tuple[tuple[str, Callable[[argparse.Namespace], int], str, str | None, tuple], ...] = (
    (
        "demo",
        cmd_demo,
        "train a small CNN and a tiny transformer with the callbacks; write report.html",
        "Train a CNN on scikit-learn's digits and a one-layer transformer on a synthetic token "
        "task with keras_nnviz callbacks attached, then write DIR/report.html. Offline; about a "
        "minute on two CPU cores.",
        (
            _out("nnviz-demo"),
            _arg("--epochs", type=_positive, default=6, metavar="N", help="epochs per model"),
        ),
    ),
    (
        "report",
        cmd_report,
        "HTML report of a saved model on some data",
        "Architecture, weights, activations, Grad-CAM (CNNs), attention (transformers), feature "
        "visualization and embedding of a saved model, as one self-contained DIR/report.html.",
        (
            "model",
            _arg(
                "--data",
                required=True,
                metavar="FILE.npz|IMAGE_DIR",
                help=".npz with arrays x (and y, tokens, class_names), .npy, or a folder of "
                "images (sub-folder names become labels)",
            ),
            "labels",
            _out("nnviz-report"),
            _arg(
                "--sections",
                metavar="LIST",
                help="comma-separated subset of the sections (default: all)",
            ),
            _max_samples(512),
            _arg(
                "--steps",
                type=_positive,
                default=128,
                metavar="N",
                help="feature visualization steps",
            ),
            "raw_pixels",
            "custom_objects",
        ),
    ),
    (
        "gradcam",
        cmd_gradcam,
        "attribution maps (Grad-CAM ...) of image files or of a .npz of samples",
        "Where the model looks, for each sample's predicted class (or --target; a language "
        "model: the next token after the prompt; a segmenter: the class of highest mean score "
        "over the pixels), saved as DIR/<image>_gradcam.png (image, map, overlay), the caption "
        "naming what was explained. The method applies to the model unless "
        "--method names one: Grad-CAM for CNNs, Grad-CAM on the patch grid of an image "
        "transformer, integrated gradients per token for text models (a .npz with one array per "
        "model input and, optionally, 'tokens' strings for the pictures).",
        (
            "model",
            _arg(
                "images",
                nargs="+",
                metavar="IMAGE",
                help="image files, or one .npz/.npy of samples",
            ),
            _arg(
                "--layer",
                metavar="PATH",
                help="layer path (default: chosen for the model and method)",
            ),
            _arg(
                "--method",
                metavar="NAME",
                type=_method_name,
                help="attribution method, a function name of nv.attribution (grad_cam, "
                "saliency ...; a wrong name lists them; default: one that applies to the model)",
            ),
            _arg(
                "--output",
                metavar="NAME",
                help="output to explain (name or index; multi-output models)",
            ),
            _max_samples(16),
            _arg("--target", type=int, metavar="CLASS", help="class index to explain"),
            _out("nnviz-gradcam"),
            "labels",
            "raw_pixels",
            "custom_objects",
        ),
    ),
    (
        "graph",
        cmd_graph,
        "interactive architecture graph (offline HTML) or a static SVG",
        "The layer graph of a saved model with shapes and parameter counts; nested models open "
        "and close on a click. One self-contained page, no network.",
        (
            "model",
            _out("graph.html", metavar="FILE", help="graph.html (default) or graph.svg"),
            "custom_objects",
        ),
    ),
    (
        "serve",
        cmd_serve,
        "watch training runs in a browser (127.0.0.1 only)",
        "Serve LOGDIR on 127.0.0.1: a list of its runs and each run's report, following new "
        "epochs and fits as the callbacks write them. No network.",
        (
            _arg("logdir", metavar="LOGDIR", help="the callbacks' log folder"),
            _arg(
                "--port",
                type=_port,
                default=6007,
                metavar="N",
                help="port (default 6007; 0: any free)",
            ),
        ),
    ),
    (
        "explore",
        _explore,
        "explain any sample on demand in the browser (127.0.0.1 only)",
        "A local page where you pick a sample, a class, a method and a layer and get the map "
        "computed then (two methods side by side). No network.",
        (
            "model",
            _arg(
                "--data",
                required=True,
                metavar="FILE.npz|IMAGE_DIR",
                help=".npz with arrays x (and y, tokens, class_names), .npy, or a folder of images",
            ),
            "labels",
            _max_samples(128),
            _arg("--port", type=_port, default=6008, metavar="N", help="port (0: any free)"),
            "raw_pixels",
            "custom_objects",
        ),
    ),
    (
        "doctor",
        _doctor,
        "what is wrong with a training: findings of a run folder or of a model on data",
        "With LOGDIR: the findings the Doctor callback wrote during the fit. With MODEL DATA: "
        "diagnose the saved model on a .npz of x and y (gradients, dead and saturated units, "
        "input scale, label noise, class imbalance, attention). Exit code 0 when nothing worse "
        "than an info was found, 1 otherwise.",
        (
            _arg("target", metavar="LOGDIR|MODEL", help="a run folder, or a saved model"),
            _arg("data", nargs="?", metavar="DATA", help="with a model: .npz with x and y"),
            _arg("--loss", metavar="NAME", help="loss name (default: inferred from y)"),
            _arg("--json", action="store_true", help="print the findings as JSON"),
            _max_samples(1024),
            "raw_pixels",
            "custom_objects",
        ),
    ),
    (
        "layers",
        cmd_layers,
        "list layer paths, shapes and parameter counts",
        None,
        (
            "model",
            _arg("--all", action="store_true", help="include layers inside custom layers"),
            "custom_objects",
        ),
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (built from :data:`_COMMANDS`)."""
    parser = _Parser(
        prog="nnviz", description="See inside Keras 3 models: keras_nnviz on the command line."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, func, help, description, arguments in _COMMANDS:
        command = sub.add_parser(name, help=help, description=description)
        for argument in arguments:
            flags, options = _SHARED[argument] if isinstance(argument, str) else argument
            command.add_argument(*flags, **options)
        command.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nnviz`` console script; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)  # --help and usage errors end here, before TensorFlow loads
    import_tensorflow_quietly(debug=args.debug)
    func: Callable[[argparse.Namespace], int] = args.func
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = CleanStream(out), CleanStream(err)
    try:
        return func(args)
    except Exception as exc:
        from ..errors import NNVizError

        if args.debug:
            raise
        if isinstance(exc, CLIError | NNVizError | FileNotFoundError):
            # The whole message: its later lines say what would work.
            message = str(exc).strip() or repr(exc)
            print(f"nnviz {args.command}: error: {message}", file=sys.stderr)
            return EXIT_USAGE
        print(
            f"nnviz {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        sys.stdout, sys.stderr = out, err


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
