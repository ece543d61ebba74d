"""Data for the command line: ``.npz``/``.npy`` files, image files and folders of images.

Every problem becomes a :class:`~keras_nnviz.cli.errors.CLIError` that names the file and what
would work, checked against the model's input shape before anything runs.

Files are untrusted, so reading them is bounded before anything is allocated or decoded: an
image's size is read from its header and checked against :data:`MAX_IMAGE_PIXELS` (Pillow's own
decompression-bomb checks count as errors too); a ``.npy`` array's header is read first, its
claimed size checked against the bytes actually stored, and only the first ``max_samples`` rows
are read (from the decompressed stream of a ``.npz`` member, so a zip bomb is never inflated),
within :data:`MAX_ARRAY_BYTES`.
"""

from __future__ import annotations

import functools
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import CLIError

__all__ = [
    "check_shapes",
    "Data",
    "image_input",
    "IMAGE_SUFFIXES",
    "load_array_file",
    "load_data",
    "load_image",
    "load_image_dir",
    "load_images",
    "MAX_ARRAY_BYTES",
    "MAX_IMAGE_PIXELS",
    "parse_labels",
    "X_KEYS",
    "Y_KEYS",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
X_KEYS = ("x", "inputs", "images", "data", "features")
Y_KEYS = ("y", "labels", "targets")

#: Largest image (width × height) decoded: 64 megapixels, far above any model input, far below
#: what a crafted header can claim (a 100000×100000 PNG is a few kilobytes on disk).
MAX_IMAGE_PIXELS = 64_000_000
#: Most bytes the arrays read from one ``.npz``/``.npy`` file may take in memory (after
#: ``--max-samples`` is applied).
MAX_ARRAY_BYTES = 2 * 1024**3


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


def _shape_text(shape: Sequence) -> str:
    return "(" + ", ".join("N" if i == 0 else str(d) for i, d in enumerate(shape)) + ")"


def image_input(model: Any, what: str) -> tuple[int | None, int | None, int]:
    """``(height, width, channels)`` of an image model's single input, or a CLIError."""
    from ..core.model import input_info

    shapes = input_info(model).shapes
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
    bombs = (Image.DecompressionBombError, Image.DecompressionBombWarning)
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit: a warning is a bomb here too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # lazy: reads the header, decodes nothing yet
                _check_image_size(path, img.size)
                img.load()
                mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
                img = img.convert(mode)
                h, w = size
                if h is not None and w is not None and img.size != (w, h):
                    img = img.resize((int(w), int(h)), Image.Resampling.BILINEAR)
                pixels = np.asarray(img, dtype=np.float32)
    except bombs as exc:
        raise CLIError(
            f"{path} is too large to decode safely ({_first_line(exc)}); resize it to at most "
            f"{MAX_IMAGE_PIXELS:,} pixels"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CLIError(f"cannot read {path} as an image ({_first_line(exc)})") from None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return pixels if raw else pixels / 255.0


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_image_size(path: Path, size: tuple[int, int]) -> None:
    """Refuse an image whose header claims more than :data:`MAX_IMAGE_PIXELS` (before decoding)."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise CLIError(
            f"{path} claims {width}×{height} pixels ({width * height:,}), more than the "
            f"{MAX_IMAGE_PIXELS:,} this command decodes (a decompression bomb?); resize it"
        )


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
    # A folder named like an image ("x.png/") is not one.
    return sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )


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


@dataclass
class _Member:
    """One array in a ``.npy`` file or ``.npz`` archive, not read yet.

    Attributes:
        open: opens a binary stream at the array's ``.npy`` header.
        stored: bytes stored for it (a zip member's declared uncompressed size).
        where: the file (and array) as error messages name it.
    """

    open: Callable[[], IO[bytes]]
    stored: int
    where: str


def _read_header(stream: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, header bytes)`` of a ``.npy`` stream, read before any
    data (numpy's own header parser; it never evaluates more than a literal)."""
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    shape, fortran, dtype = readers[version](stream)
    if dtype.hasobject:
        raise CLIError(
            f"cannot read {where}: it holds object arrays (they need pickle, which is never "
            "loaded); save numeric arrays (and class names as a string array)"
        )
    return tuple(int(d) for d in shape), bool(fortran), dtype, stream.tell()


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n / 1024**2:.1f} MiB"


def _read_member(member: _Member, rows: int | None, budget: int) -> np.ndarray:
    """The first ``rows`` rows (all when None) of one stored array, checked before reading:
    the header's claimed size must fit the bytes stored, what is read must fit ``budget``."""
    with member.open() as stream:
        shape, fortran, dtype, offset = _read_header(stream, member.where)
        claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if claimed > member.stored - offset:
            raise CLIError(
                f"cannot read {member.where}: its header claims shape {shape} {dtype} "
                f"({_gib(claimed)}) but the file holds {_gib(max(member.stored - offset, 0))} "
                "of data (truncated or forged)"
            )
        keep = shape if not shape or rows is None else (min(shape[0], rows), *shape[1:])
        if fortran and len(shape) > 1:
            keep = shape  # column-major rows are not contiguous: the whole array is read
        wanted = int(np.prod(keep, dtype=object)) * dtype.itemsize
        if wanted > budget:
            raise CLIError(
                f"{member.where}: {keep[0] if keep else 1} samples of shape {keep[1:]} "
                f"{dtype} would take {_gib(wanted)} in memory, more than the "
                f"{_gib(budget)} left of the {_gib(MAX_ARRAY_BYTES)} allowed; pass a smaller "
                "--max-samples"
            )
        raw = stream.read(wanted)  # only the rows kept are inflated from a compressed member
    if len(raw) != wanted:
        raise CLIError(f"cannot read {member.where}: the data ends early (truncated file)")
    array = np.frombuffer(raw, dtype=dtype).reshape(keep, order="F" if fortran else "C")
    if fortran and len(shape) > 1 and rows is not None:
        array = array[:rows]
    return array.copy()  # writable and owning its memory, like np.load's arrays


def _npz_members(path: Path, archive: zipfile.ZipFile) -> dict[str, _Member]:
    """The arrays of a ``.npz`` archive (its ``*.npy`` members, as ``np.load`` names them)."""
    members = {}
    for info in archive.infolist():
        if info.filename.endswith(".npy") and not info.is_dir():
            key = info.filename[: -len(".npy")]
            opener = functools.partial(archive.open, info)
            members[key] = _Member(opener, info.file_size, f"{path} (array {key!r})")
    return members


def load_array_file(path: Path, model: Any, max_samples: int) -> Data:
    """A ``.npz`` (arrays ``x``, optional ``y``, ``tokens``, ``class_names``) or ``.npy`` file.

    Only the arrays used are read, and of those only the first ``max_samples`` rows (see the
    module docstring for the checks made before reading).
    """
    try:
        if path.suffix.lower() == ".npy":
            size = path.stat().st_size
            members = {"x": _Member(functools.partial(path.open, "rb"), size, str(path))}
            return _load_arrays(path, members, model, max_samples)
        with zipfile.ZipFile(path) as archive:
            return _load_arrays(path, _npz_members(path, archive), model, max_samples)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CLIError(
            f"cannot read {path} as a numpy {path.suffix} file ({_first_line(exc)})"
        ) from None


def _load_arrays(path: Path, members: dict[str, _Member], model: Any, max_samples: int) -> Data:
    budget = [MAX_ARRAY_BYTES]

    def read(key: str, rows: int | None = max_samples) -> np.ndarray:
        array = _read_member(members[key], rows, budget[0])
        budget[0] -= array.nbytes
        return array

    names = [getattr(t, "name", None) for t in getattr(model, "inputs", None) or []]
    if len(names) > 1:
        missing = [n for n in names if n not in members]
        if missing:
            raise CLIError(
                f"{path} needs one array per model input named {names}; missing {missing} "
                f"(found {sorted(members)})"
            )
        x: Any = [read(n) for n in names]
    else:
        key = _pick(members, X_KEYS)
        if key is None:
            if len(members) != 1:
                raise CLIError(
                    f"{path} has arrays {sorted(members)}; name the inputs 'x' (and labels 'y')"
                )
            key = next(iter(members))
        x = read(key)
    y_key = _pick(members, Y_KEYS)
    y = read(y_key) if y_key else None
    tokens = read("tokens") if "tokens" in members else None
    class_names = None
    if "class_names" in members:
        names_array = read("class_names", None)
        if names_array.ndim != 1:
            raise CLIError(
                f"{path}: class_names must be one name per class (a 1-D array); found shape "
                f"{names_array.shape}"
            )
        class_names = [str(c) for c in names_array]
    return Data(x, y, tokens, class_names)


def check_shapes(data: Data, model: Any, source: str) -> Data:
    """Fit ``data.x`` to the model's inputs (adding a missing channel axis) or raise.

    A subclassed model has no symbolic inputs until it is called, so its inputs are taken as
    the data gives them (checked to be numbers and not empty; the model's call checks the rest).
    """
    from ..core.model import input_info

    info = input_info(model)
    arrays = data.x if isinstance(data.x, list) else [data.x]
    if not info.shapes:
        data.x = _unchecked_inputs(arrays, source)
        shapes: list[tuple] = []
    else:
        shapes = list(info.shapes)
    fixed = []
    for array, shape, dtype in zip(arrays, shapes, info.dtypes):
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
        integer = "int" in dtype
        if integer and a.dtype.kind in "iub":  # token ids, masks: keep them integers
            fixed.append(a.astype(np.int32))
        elif integer:
            raise CLIError(f"{source}: the model takes integer inputs (token ids); found {a.dtype}")
        else:
            fixed.append(a.astype(np.float32) if a.dtype.kind in "iub" else a)
    if fixed:
        data.x = fixed if len(fixed) > 1 else fixed[0]
    if data.y is not None:
        from ..core.targets import class_indices

        y = class_indices(data.y)  # one-hot labels: their classes
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


def _unchecked_inputs(arrays: list[Any], source: str) -> Any:
    """Inputs of a model whose input shapes are unknown: numbers, at least one sample; integer
    arrays stay integers (token ids), floats stay as they are."""
    checked = []
    for array in arrays:
        a = np.asarray(array)
        if a.dtype.kind not in "fiub":
            raise CLIError(f"{source}: inputs must be numbers; found dtype {a.dtype}")
        if a.ndim == 0 or len(a) == 0:
            raise CLIError(f"{source}: holds no samples (shape {a.shape})")
        checked.append(a.astype(np.int32) if a.dtype.kind in "iub" else a)
    return checked if len(checked) > 1 else checked[0]


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
