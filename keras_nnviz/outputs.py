"""Moved to :mod:`keras_nnviz.core.sinks` (the one writer of per-batch results); this name stays
for code written against the old module."""

from __future__ import annotations

from .core.sinks import BatchOutput

__all__ = ["BatchOutput"]
