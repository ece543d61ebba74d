"""What the command line prints reaches a terminal: no control or bidi characters from names.

Layer and model names, file names and error messages come from files the user may not have
written. Printed raw, an ANSI/OSC escape sequence in a layer name can rewrite the terminal's title
or hide lines, and a right-to-left override can make ``evil.keras`` read as something else.
:func:`clean` replaces every such character with a visible ``\\xNN`` / ``\\uNNNN`` escape;
:class:`CleanStream` applies it to everything written while a command runs.
"""

from __future__ import annotations

import re
from typing import TextIO

__all__ = [
    "clean",
    "CleanStream",
    "import_tensorflow_quietly",
]

# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings, overrides and isolates,
# the direction marks; the line and paragraph separators.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """``text`` with control and bidi characters shown as escapes.

    Example:
        >>> clean("conv\\x1b[2J")
        'conv\\\\x1b[2J'
    """
    return _UNSAFE.sub(_escape, text)


class CleanStream:
    """A text stream that writes :func:`clean` text to ``stream``."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(clean(text))

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def import_tensorflow_quietly(debug: bool = False) -> None:
    """Import TensorFlow and Keras and probe devices with file descriptor 2 silenced.

    TensorFlow writes start-up chatter (oneDNN notices, absl pre-init warnings, cuInit) straight
    to fd 2 while it is imported, whatever TF_CPP_MIN_LOG_LEVEL says; a command line keeps
    stderr for its own one-line messages. Called after the arguments are parsed, so ``--help``
    and usage errors answer without loading TensorFlow. ``debug=True`` leaves stderr as it is.
    """
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if debug or "tensorflow" in sys.modules:
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # device probing logs (e.g. cuInit) go quiet too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
