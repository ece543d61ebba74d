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
