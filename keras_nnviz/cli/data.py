"""Data for the command line: ``.npz``/``.npy`` files, image files and folders of images.

Every problem becomes a :class:`~keras_nnviz.cli.errors.CLIError` that names the file and what
would work, checked against the model's input shape before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CLIError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
X_KEYS = ("x", "inputs", "images", "data", "features")
Y_KEYS = ("y", "labels", "targets")


@dataclass
class Data:
    """Samples for a model: ``x`` (array, or list for multi-input models), optional extras."""

    x: Any
    y: np.ndarray | None = None
    tokens: np.ndarray | None = None
    class_names: list[str] | None = None
    files: list[str] | None = None

    @property
    def n(self) -> int:
        return len(self.x[0] if isinstance(self.x, list) else self.x)


def input_shapes(model: Any) -> list[tuple]:
    """Each model input's shape, batch axis included (None)."""
    return [tuple(t.shape) for t in getattr(model, "inputs", None) or []]


def _shape_text(shape: Sequence) -> str:
    return "(" + ", ".join("N" if i == 0 else str(d) for i, d in enumerate(shape)) + ")"


def image_input(model: Any, what: str) -> tuple[int | None, int | None, int]:
    """``(height, width, channels)`` of an image model's single input, or a CLIError."""
    shapes = input_shapes(model)
    if len(shapes) != 1 or len(shapes[0]) != 4 or shapes[0][-1] not in (1, 3, 4):
        got = ", ".join(_shape_text(s) for s in shapes) or "unknown"
        raise CLIError(
            f"{what} needs a model with one image input (N, height, width, 1|3|4 channels); "
            f"{getattr(model, 'name', 'the model')} takes {got}. Pass a .npz file with --data "
            "instead."
        )
    _, h, w, c = shapes[0]
    return h, w, int(c)


def load_image(
    path: str | Path, size: tuple[int | None, int | None], channels: int, raw: bool = False
) -> np.ndarray:
    """One image file as float32 ``(H, W, C)``: resized to ``size``, in [0, 1] (or 0–255)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise CLIError(f"image not found: {path}")
    if path.is_dir():
        raise CLIError(f"{path} is a folder; pass image files (or use `nnviz report --data DIR`)")
    try:
        with Image.open(path) as img:
            img.load()
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
            img = img.convert(mode)
            h, w = size
            if h is not None and w is not None and img.size != (w, h):
                img = img.resize((int(w), int(h)), Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CLIError(f"cannot read {path} as an image ({reason})") from None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return pixels if raw else pixels / 255.0


def load_images(paths: Sequence[str | Path], model: Any, raw: bool = False) -> np.ndarray:
    """Image files as one batch shaped for ``model`` (its size and channels)."""
    h, w, c = image_input(model, "this command")
    images = []
    for p in paths:
        image = load_image(p, (h, w), c, raw)
        if images and image.shape != images[0].shape:
            raise CLIError(
                f"{p} is {image.shape[1]}×{image.shape[0]} but earlier images are "
                f"{images[0].shape[1]}×{images[0].shape[0]}; the model takes any size, so give "
                "images of one size"
            )
        images.append(image)
    return np.stack(images)


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image_dir(
    folder: Path, model: Any, class_names: list[str] | None, raw: bool, max_samples: int
) -> Data:
    """A folder of images; images in sub-folders take the folder name as their label."""
    files = _image_files(folder)
    if not files:
        raise CLIError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; pass a folder of images or a "
            ".npz file"
        )
    files = files[:max_samples]
    x = load_images(files, model, raw)
    folders = [p.parent.relative_to(folder).as_posix() for p in files]
    y = None
    names = class_names
    if all(f != "." for f in folders):
        top = [f.split("/")[0] for f in folders]
        if names is not None and all(t in names for t in top):
            y = np.array([names.index(t) for t in top])
        elif all(t.isdigit() for t in top):
            y = np.array([int(t) for t in top])
        elif names is None:
            names = sorted(set(top))
            y = np.array([names.index(t) for t in top])
    return Data(x, y, None, names, [str(p) for p in files])


def _pick(arrays: dict[str, np.ndarray], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if k in arrays), None)


def load_array_file(path: Path, model: Any, max_samples: int) -> Data:
    """A ``.npz`` (arrays ``x``, optional ``y``, ``tokens``, ``class_names``) or ``.npy`` file."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CLIError(f"cannot read {path} as a numpy {path.suffix} file ({reason})") from None
    if isinstance(loaded, np.ndarray):
        arrays = {"x": loaded}
    else:
        with loaded:
            try:
                arrays = {k: loaded[k] for k in loaded.files}
            except ValueError as exc:  # object arrays need pickle, which we never load
                raise CLIError(
                    f"cannot read {path}: it holds object arrays ({str(exc).splitlines()[0]}); "
                    "save numeric arrays (and class names as a string array)"
                ) from None
    names = [getattr(t, "name", None) for t in getattr(model, "inputs", None) or []]
    if len(names) > 1:
        missing = [n for n in names if n not in arrays]
        if missing:
            raise CLIError(
                f"{path} needs one array per model input named {names}; missing {missing} "
                f"(found {sorted(arrays)})"
            )
        x: Any = [arrays[n][:max_samples] for n in names]
    else:
        key = _pick(arrays, X_KEYS)
        if key is None:
            if len(arrays) != 1:
                raise CLIError(
                    f"{path} has arrays {sorted(arrays)}; name the inputs 'x' (and labels 'y')"
                )
            key = next(iter(arrays))
        x = arrays[key][:max_samples]
    y_key = _pick(arrays, Y_KEYS)
    y = arrays[y_key][:max_samples] if y_key else None
    tokens = arrays["tokens"][:max_samples] if "tokens" in arrays else None
    class_names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    return Data(x, y, tokens, class_names)


def check_shapes(data: Data, model: Any, source: str) -> Data:
    """Fit ``data.x`` to the model's inputs (adding a missing channel axis) or raise."""
    shapes = input_shapes(model)
    arrays = data.x if isinstance(data.x, list) else [data.x]
    fixed = []
    for array, shape in zip(arrays, shapes):
        a = np.asarray(array)
        if a.dtype.kind not in "fiub":
            raise CLIError(f"{source}: inputs must be numbers; found dtype {a.dtype}")
        if a.ndim == len(shape) - 1 and shape[-1] == 1:
            a = a[..., None]  # grayscale images saved without their channel axis
        expected = shape[1:]
        ok = a.ndim == len(shape) and all(
            e is None or e == d for e, d in zip(expected, a.shape[1:])
        )
        if not ok:
            raise CLIError(
                f"{source}: inputs have shape {_shape_text(a.shape)} but the model takes "
                f"{_shape_text(shape)}"
            )
        if len(a) == 0:
            raise CLIError(f"{source}: holds no samples")
        integer = "int" in str(getattr(model.inputs[len(fixed)], "dtype", ""))
        if integer and a.dtype.kind in "iub":  # token ids, masks: keep them integers
            fixed.append(a.astype(np.int32))
        elif integer:
            raise CLIError(f"{source}: the model takes integer inputs (token ids); found {a.dtype}")
        else:
            fixed.append(a.astype(np.float32) if a.dtype.kind in "iub" else a)
    data.x = fixed if len(fixed) > 1 else fixed[0]
    if data.y is not None:
        y = np.asarray(data.y)
        if y.ndim == 2 and y.shape[1] > 1:
            y = y.argmax(axis=1)  # one-hot labels
        if y.ndim != 1 or len(y) != data.n or y.dtype.kind not in "iu":
            raise CLIError(
                f"{source}: labels y must be one integer class per sample ({data.n}); found "
                f"shape {y.shape}, dtype {y.dtype}"
            )
        units = _output_units(model)
        if units and len(y) and (y.min() < 0 or y.max() >= units):
            bad = int(y[(y < 0) | (y >= units)][0])
            raise CLIError(
                f"{source}: label {bad} is not a class of the model's output ({units} classes, "
                f"valid 0 ... {units - 1})"
            )
        data.y = y
    units = _output_units(model)
    if data.class_names is not None and units and units > 1 and len(data.class_names) != units:
        raise CLIError(
            f"{len(data.class_names)} class names ({', '.join(data.class_names[:5])}) for a model "
            f"with {units} output classes; give one label per class (--labels)"
        )
    return data


def _output_units(model: Any) -> int | None:
    """Width of a one-output model's last axis (its classes), else None."""
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        return None
    return outputs[0].shape[-1]


def load_data(
    spec: str,
    model: Any,
    class_names: list[str] | None = None,
    raw: bool = False,
    max_samples: int = 512,
) -> Data:
    """``--data``: a ``.npz``/``.npy`` file or a folder of images, checked against ``model``."""
    path = Path(spec)
    if not path.exists():
        raise CLIError(f"data not found: {spec}")
    if path.is_dir():
        data = load_image_dir(path, model, class_names, raw, max_samples)
    elif path.suffix.lower() in (".npz", ".npy"):
        data = load_array_file(path, model, max_samples)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        data = Data(load_images([path], model, raw), files=[str(path)])
    else:
        raise CLIError(f"--data {spec}: expected a .npz/.npy file, an image, or a folder of images")
    if class_names is not None:
        data.class_names = class_names
    return check_shapes(data, model, f"--data {spec}")


def parse_labels(spec: str | None) -> list[str] | None:
    """``--labels``: ``a,b,c`` or a text file with one class name per line."""
    if spec is None:
        return None
    path = Path(spec)
    if path.is_file():
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            raise CLIError(f"cannot read --labels file {spec} ({exc})") from None
        names = [n for n in names if n]
    else:
        names = [n.strip() for n in spec.split(",")]
    if not names or any(not n for n in names):
        raise CLIError(
            f"--labels {spec!r}: give class names separated by commas (cat,dog) or a text file "
            "with one name per line"
        )
    return names
