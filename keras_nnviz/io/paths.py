"""Every file we read or write stays inside the folder the user gave.

A manifest entry, a callback ``name`` or a tag comes from data we did not write ourselves (a
manifest copied from elsewhere, a name built from a layer path): ``../secret.txt``, an absolute
path or a symlink out of the folder must never be followed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from ..errors import InvalidArgumentError


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


def check_name(name: str, what: str = "name") -> str:
    """A folder or file name we create from user text: one plain path segment.

    Raises:
        InvalidArgumentError: empty, ``.``/``..``, a separator, a NUL or a control character —
            the name would write outside the folder or make an unreadable file name.
    """
    bad = (
        not isinstance(name, str)
        or not name.strip()
        or name in (".", "..")
        or any(c in name for c in "/\\\x00")
        or any(ord(c) < 32 for c in name)
    )
    if bad:
        raise InvalidArgumentError(
            f"{what} must be one plain folder name (no '/', '\\\\', '..' or control "
            f"characters), because it names a folder inside log_dir; received {name!r}. "
            "Example: name='gradcam_conv2'."
        )
    return name
