"""Text from users (class, layer and token names, titles) made safe to draw, in one place.

Names come from models, datasets and files the user may not have written, and three renderers
read characters as more than glyphs:

- matplotlib parses text between two ``$`` as mathtext: ``"$x_{$"`` fails to draw, and
  ``"$x^2$"`` is typeset instead of shown as written (:func:`plot_text`);
- Pillow's text layout (raqm) fails on ``\\r``, U+0085 and U+2029, so a callback would write no
  frame for a class named ``"cat\\r"``;
- XML 1.0 has no way to write most control characters, U+FFFE/U+FFFF or a lone surrogate, so an
  SVG with a layer named ``"a\\x01b"`` would not parse.

:func:`drawable` is the one normalisation behind all three: line and paragraph separators
become a space, any other control character, noncharacter or lone surrogate becomes U+FFFD (a
visible "unknown character" mark, so a name never silently reads as another).
"""

from __future__ import annotations

import re
from typing import Any

# Line breaks (CR LF counted once), tab, vertical tab, form feed, the information separators
# Python's str.splitlines() breaks at, NEL and the Unicode line/paragraph separators.
_BREAKS = re.compile("\r\n|[\t\n\x0b\x0c\r\x1c-\x1e\x85\u2028\u2029]")
# Other C0/C1 controls and DEL, lone surrogates, and the noncharacters (U+FDD0-U+FDEF and the
# last two code points of every plane), none of which XML 1.0 or a font can carry.
_UNDRAWABLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
    + "]"
)
REPLACEMENT = "\ufffd"
# The breaks XML 1.0 cannot carry (tab, LF, CR, NEL and U+2028/9 it can, and they are kept).
_XML_BREAKS = re.compile("[\x0b\x0c\x1c-\x1e]")


def drawable(text: Any, keep_newlines: bool = False) -> str:
    """``text`` as one drawable line: valid for Pillow, matplotlib and XML 1.0.

    Args:
        text: any value; drawn as ``str(text)``.
        keep_newlines: keep ``"\\n"`` (and turn ``"\\r\\n"``/``"\\r"`` into ``"\\n"``) for
            renderers that lay out several lines (matplotlib); other breaks still become spaces.

    Returns:
        The text with every line or paragraph separator replaced by a space (or ``"\\n"``) and
        every other control character, noncharacter or lone surrogate by U+FFFD.

    Example:
        >>> drawable("cat\\r\\ndog\\x00")
        'cat dog\\ufffd'
    """
    text = str(text)

    def space(match: re.Match) -> str:
        return "\n" if keep_newlines and match.group() in ("\r\n", "\r", "\n") else " "

    return _UNDRAWABLE.sub(REPLACEMENT, _BREAKS.sub(space, text))


def xml_safe(text: Any) -> str:
    """``text`` with only characters XML 1.0 allows (for SVG and HTML writers): the same
    replacements as :func:`drawable`, but tab, newline and carriage return kept as they are.

    Example:
        >>> xml_safe("a\\x01b\\nc")
        'a\ufffdb\\nc'
    """
    return _UNDRAWABLE.sub(REPLACEMENT, _XML_BREAKS.sub(" ", str(text)))


def plot_text(text: Any) -> str:
    """``text`` for matplotlib, drawn exactly as written: :func:`drawable` (newlines kept) with
    every ``$`` escaped, so no name or title is ever parsed as mathtext.

    Example:
        >>> plot_text("$x^2$")
        '\\\\$x^2\\\\$'
    """
    return drawable(text, keep_newlines=True).replace("$", r"\$")
