"""Every file we read or write stays inside the folder the user gave.

A manifest entry, a callback ``name`` or a tag comes from data we did not write ourselves (a
manifest copied from elsewhere, a name built from a layer path): ``../secret.txt``, an absolute
path or a symlink out of the folder must never be followed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..errors import InvalidArgumentError
from .locks import LOCK_DIR

__all__ = [
    "check_name",
    "check_output_path",
    "contained",
    "reserved",
    "RESERVED_NAMES",
    "RESERVED_PREFIXES",
]

#: What the library itself keeps at the top of a ``log_dir``: the manifest
#: (``nnviz_manifest.json``), its journal (``.jsonl``), their temporary and set-aside copies
#: (``.nnviz_manifest.json.*.tmp``, ``nnviz_manifest.json.unknown-*``), the lock folder
#: (``.nnviz``) and the TensorBoard projector's config. A page or folder of that name would
#: replace the run's index, so such names are refused (casefolded: on a case-insensitive file
#: system ``NNVIZ_MANIFEST.JSON`` is the same file).
RESERVED_PREFIXES = ("nnviz_manifest", ".nnviz_manifest")
RESERVED_NAMES = (LOCK_DIR, "projector_config.pbtxt")  # and keras_nnviz.projection's config


def contained(root: str | os.PathLike, relative: str) -> Path | None:
    """``root / relative`` when it names a place inside ``root``, else None.

    Absolute paths, drive letters, ``..`` segments and symlinks that lead out of ``root`` are
    refused (None); the caller treats the entry as missing.

    Example:
        >>> contained("/logs/run", "frames/e1.png")
        PosixPath('/logs/run/frames/e1.png')
        >>> contained("/logs/run", "../secret.txt") is None
        True
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        return None
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).anchor:
        return None
    if ".." in PurePosixPath(relative.replace("\\", "/")).parts:
        return None
    base = Path(root).resolve()
    target = (base / relative).resolve()
    return target if target == base or target.is_relative_to(base) else None


def reserved(name: str) -> bool:
    """Whether ``name`` (one path segment) is a file or folder the library writes in a
    ``log_dir`` itself (:data:`RESERVED_PREFIXES`, :data:`RESERVED_NAMES`), in any letter case.

    Example:
        >>> reserved("NNViz_Manifest.json"), reserved("report.html")
        (True, False)
    """
    folded = name.casefold()
    return folded.startswith(RESERVED_PREFIXES) or folded in RESERVED_NAMES


def _refuse_reserved(name: str, what: str) -> None:
    raise InvalidArgumentError(
        f"{what} {name!r} is a name keras_nnviz writes in log_dir itself (the manifest "
        f"'nnviz_manifest.json', its journal '.jsonl', the lock folder '{LOCK_DIR}' or "
        "'projector_config.pbtxt'); writing there would replace the run's index. Choose "
        "another name, e.g. 'report.html'."
    )


def check_name(name: str, what: str = "name", kind: str = "folder") -> str:
    """A folder or file name we create from user text: one plain path segment.

    Args:
        name: the name received.
        what: the argument's name, for the message.
        kind: ``"folder"`` or ``"file"``, for the message.

    Raises:
        InvalidArgumentError: empty, ``.``/``..``, a separator, a NUL or a control character —
            the name would write outside the folder or make an unreadable file name — or a
            name the library writes itself (:func:`reserved`).
    """
    bad = (
        not isinstance(name, str)
        or not name.strip()
        or name in (".", "..")
        or any(c in name for c in "/\\\x00")
        or any(ord(c) < 32 for c in name)
    )
    if bad:
        example = "name='gradcam_conv2'" if kind == "folder" else f"{what}='report.html'"
        raise InvalidArgumentError(
            f"{what} must be one plain {kind} name (no '/', '\\\\', '..' or control "
            f"characters), because it names a {kind} inside log_dir; received {name!r}. "
            f"Example: {example}."
        )
    if reserved(name):
        _refuse_reserved(name, what)
    return name


def check_output_path(out: str | os.PathLike, what: str = "out") -> Path:
    """A page we write at ``out``: refused when it would replace a file of the library's own
    (the manifest, its journal, a lock: :func:`reserved`, in any folder, any letter case).

    Raises:
        InvalidArgumentError: ``out``'s file name, or a folder on its way, is reserved.

    Example:
        >>> check_output_path("logs/nnviz_manifest.json")
        Traceback (most recent call last):
        InvalidArgumentError: out 'nnviz_manifest.json' is a name keras_nnviz writes ...
    """
    path = Path(out)
    if reserved(path.name):
        _refuse_reserved(path.name, what)
    if path.parent.name.casefold() == LOCK_DIR:  # a lock file would be replaced
        _refuse_reserved(f"{LOCK_DIR}/{path.name}", what)
    return path
