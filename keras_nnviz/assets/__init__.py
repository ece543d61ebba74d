"""The JavaScript and CSS of the pages we write, as package data files.

Kept as real ``.js`` / ``.css`` files so editors, linters and reviewers see them as what they are;
every page still inlines them (the pages are self-contained, load nothing from the network and
carry a Content-Security-Policy), so they are read here once and cached.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["text"]


@cache
def text(name: str) -> str:
    """The contents of asset ``name`` (e.g. ``"report.js"``).

    Example:
        >>> from keras_nnviz import assets
        >>> assets.text("report.css").startswith("/*")
        True
    """
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
